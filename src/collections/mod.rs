//! Collections built on tasks: lazy [`delayed`] graphs and chunked [`array`]s.

pub mod array;
pub mod delayed;
