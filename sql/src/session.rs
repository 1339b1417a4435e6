//! The DataFusion session settings a distributed query is planned with.

use datafusion::prelude::SessionConfig;

/// The session settings every distributed query starts from: DataFusion's, with the
/// optimizations that assume one process turned off.
pub fn base_config() -> SessionConfig {
    let mut config = SessionConfig::new().with_information_schema(true);
    let options = config.options_mut();
    // Round-robin repartitions only spread batches between threads of one process; the
    // splitter drops them, so do not plan them.
    options.optimizer.enable_round_robin_repartition = false;
    // Dynamic filters link operators in different stages through shared memory, which
    // stages on different workers do not have.
    options.optimizer.enable_dynamic_filter_pushdown = false;
    options.optimizer.enable_join_dynamic_filter_pushdown = false;
    options.optimizer.enable_topk_dynamic_filter_pushdown = false;
    options.optimizer.enable_aggregate_dynamic_filter_pushdown = false;
    // Scalar subqueries as joins: the operator that runs them apart links to its
    // expressions through memory, which stages on different workers do not share.
    options.optimizer.enable_physical_uncorrelated_scalar_subquery = false;
    // Plans the scheduler runs itself behave as on workers (see the worker's stages).
    options.execution.enable_file_stream_work_stealing = false;
    // Files Dusk writes carry Parquet's own types, not an embedded Arrow schema: a table
    // read with string views would otherwise write files whose embedded `Utf8View`
    // clashes with its older `Utf8` files when the table's schema is inferred again.
    options.execution.parquet.skip_arrow_metadata = true;
    config
}
