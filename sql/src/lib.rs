//! Dusk's distributed planning: DataFusion physical plans cut into stage graphs.
//!
//! This crate will hold the stage splitter (physical plan → stages at hash repartitions,
//! coalesces and broadcast joins), the shuffle writer and reader operators and the
//! datafusion-proto extension codec that carries them. For now it fixes the DataFusion
//! version the whole workspace plans with, so the arrow family resolves to one copy.
#![warn(missing_docs, unreachable_pub, missing_debug_implementations)]
#![cfg_attr(not(test), warn(clippy::unwrap_used))]

pub use datafusion;

/// The DataFusion version Dusk plans with.
pub const DATAFUSION_VERSION: &str = datafusion::DATAFUSION_VERSION;

#[cfg(test)]
mod tests {
    #[test]
    fn plans_with_datafusion_55() {
        assert!(super::DATAFUSION_VERSION.starts_with("55."));
    }
}
