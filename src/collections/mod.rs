//! Collections built on tasks: lazy [`delayed`] graphs (arrays and bags follow).

pub mod delayed;
