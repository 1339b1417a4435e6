//! The datafusion-proto codec for logical plans that a client sends to the scheduler.
//!
//! A Rust client's `SessionContext` (see `Client::session` in the `dusk` crate) plans
//! queries into logical plans and sends them to the scheduler, which plans and runs them
//! on the cluster. DataFusion encodes most of a logical plan itself; [`DuskLogicalCodec`]
//! adds:
//!
//! - [`CatalogTable`]: a table of the cluster's catalog, sent by name and looked up on
//!   the scheduler (its files may not even be visible to the client);
//! - in-memory tables (`MemTable`), sent with their rows as Arrow IPC;
//! - [`ClusterCache`]: a `DataFrame::cache()` point whose result stays on the workers;
//! - the file formats of `COPY` / `write_parquet` and friends.

use std::fmt;
use std::hash::{Hash, Hasher};
use std::sync::Arc;

use arrow::array::RecordBatch;
use arrow::datatypes::SchemaRef;
use arrow::ipc::reader::StreamReader;
use arrow::ipc::writer::StreamWriter;
use async_trait::async_trait;
use bytes::Bytes;
use datafusion::catalog::{MemTable, Session, TableProvider};
use datafusion::common::{DFSchemaRef, TableReference};
use datafusion::datasource::TableType;
use datafusion::datasource::file_format::FileFormatFactory;
use datafusion::datasource::file_format::arrow::ArrowFormatFactory;
use datafusion::datasource::file_format::csv::CsvFormatFactory;
use datafusion::datasource::file_format::json::JsonFormatFactory;
use datafusion::datasource::file_format::parquet::ParquetFormatFactory;
use datafusion::error::{DataFusionError, Result};
use datafusion::execution::TaskContext;
use datafusion::logical_expr::{Expr, Extension, LogicalPlan, UserDefinedLogicalNodeCore};
use datafusion::physical_plan::ExecutionPlan;
use datafusion_proto::logical_plan::LogicalExtensionCodec;
use datafusion_proto::logical_plan::file_formats::{
    ArrowLogicalExtensionCodec, CsvLogicalExtensionCodec, JsonLogicalExtensionCodec,
    ParquetLogicalExtensionCodec,
};
use prost::Message;

/// One Dusk addition to a logical plan on the wire.
#[derive(Clone, PartialEq, prost::Message)]
pub struct LogicalNode {
    /// Which addition.
    #[prost(oneof = "logical_node::Node", tags = "1, 2, 3")]
    pub node: Option<logical_node::Node>,
}

/// The variants of [`LogicalNode`].
pub mod logical_node {
    /// What a [`super::LogicalNode`] holds.
    #[derive(Clone, PartialEq, prost::Oneof)]
    pub enum Node {
        /// A table of the cluster's catalog, by name.
        #[prost(string, tag = "1")]
        CatalogTable(String),
        /// An in-memory table: one Arrow IPC stream per partition.
        #[prost(message, tag = "2")]
        Memory(super::MemoryNode),
        /// A cache point, by id.
        #[prost(uint64, tag = "3")]
        Cache(u64),
    }
}

/// The rows of an in-memory table.
#[derive(Clone, PartialEq, prost::Message)]
pub struct MemoryNode {
    /// One Arrow IPC stream per partition.
    #[prost(bytes = "bytes", repeated, tag = "1")]
    pub partitions: Vec<Bytes>,
}

/// A file format on the wire: which one, then its options as DataFusion encodes them.
#[derive(Clone, PartialEq, prost::Message)]
pub struct FileFormatNode {
    /// Which format.
    #[prost(enumeration = "FileFormatKind", tag = "1")]
    pub kind: i32,
    /// Its options.
    #[prost(bytes = "bytes", tag = "2")]
    pub options: Bytes,
}

/// The file formats Dusk writes.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, prost::Enumeration)]
#[repr(i32)]
pub enum FileFormatKind {
    /// Apache Parquet.
    Parquet = 0,
    /// Comma-separated values.
    Csv = 1,
    /// Newline-delimited JSON.
    Json = 2,
    /// Arrow IPC files.
    Arrow = 3,
}

/// A table of the cluster's catalog as a client's session sees it: a name and a schema.
///
/// It cannot be scanned where it is seen: plans that read it run on the cluster, where
/// the scheduler puts the real table in its place (see [`resolve_catalog_tables`]).
#[derive(Debug)]
pub struct CatalogTable {
    name: TableReference,
    schema: SchemaRef,
}

impl CatalogTable {
    /// The table `name` of the cluster's catalog, with columns `schema`.
    pub fn new(name: TableReference, schema: SchemaRef) -> Self {
        Self { name, schema }
    }

    /// Its name in the cluster's catalog.
    pub fn name(&self) -> &TableReference {
        &self.name
    }
}

#[async_trait]
impl TableProvider for CatalogTable {
    fn schema(&self) -> SchemaRef {
        self.schema.clone()
    }

    fn table_type(&self) -> TableType {
        TableType::Base
    }

    async fn scan(
        &self,
        _state: &dyn Session,
        _projection: Option<&Vec<usize>>,
        _filters: &[Expr],
        _limit: Option<usize>,
    ) -> Result<Arc<dyn ExecutionPlan>> {
        Err(DataFusionError::Plan(format!(
            "table {} lives in the cluster's catalog; plan queries that read it on the cluster",
            self.name
        )))
    }
}

/// A `DataFrame::cache()` point: the result of `input` is computed once on the cluster
/// and kept on the workers; later plans that hold the same `id` read it from there.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Hash)]
pub struct ClusterCache {
    /// Names this cached result across plans.
    pub id: u64,
    /// What is cached.
    pub input: LogicalPlan,
}

impl UserDefinedLogicalNodeCore for ClusterCache {
    fn name(&self) -> &str {
        "ClusterCache"
    }

    fn inputs(&self) -> Vec<&LogicalPlan> {
        vec![&self.input]
    }

    fn schema(&self) -> &DFSchemaRef {
        self.input.schema()
    }

    fn expressions(&self) -> Vec<Expr> {
        Vec::new()
    }

    fn fmt_for_explain(&self, f: &mut fmt::Formatter) -> fmt::Result {
        write!(f, "ClusterCache: id={:016x}", self.id)
    }

    fn with_exprs_and_inputs(&self, _exprs: Vec<Expr>, mut inputs: Vec<LogicalPlan>) -> Result<Self> {
        let input =
            inputs.pop().ok_or_else(|| DataFusionError::Internal("ClusterCache needs its input".into()))?;
        Ok(Self { id: self.id, input })
    }
}

/// The codec for logical plans between clients and the scheduler. See the module docs.
#[derive(Debug, Default)]
pub struct DuskLogicalCodec;

impl LogicalExtensionCodec for DuskLogicalCodec {
    fn try_decode(&self, buf: &[u8], inputs: &[LogicalPlan], _ctx: &TaskContext) -> Result<Extension> {
        match decode_node(buf)? {
            logical_node::Node::Cache(id) => {
                let input = inputs.first().cloned().ok_or_else(|| {
                    DataFusionError::Internal("a cache point arrived without its input".into())
                })?;
                Ok(Extension { node: Arc::new(ClusterCache { id, input }) })
            }
            _ => Err(DataFusionError::Internal("a table arrived where a plan node was expected".into())),
        }
    }

    fn try_encode(&self, node: &Extension, buf: &mut Vec<u8>) -> Result<()> {
        let Some(cache) = node.node.as_any().downcast_ref::<ClusterCache>() else {
            return Err(DataFusionError::NotImplemented(format!(
                "Dusk cannot send the plan node {} to the cluster",
                node.node.name()
            )));
        };
        encode_node(logical_node::Node::Cache(cache.id), buf)
    }

    fn try_decode_table_provider(
        &self,
        buf: &[u8],
        table_ref: &TableReference,
        schema: SchemaRef,
        _ctx: &TaskContext,
    ) -> Result<Arc<dyn TableProvider>> {
        match decode_node(buf)? {
            logical_node::Node::CatalogTable(_) => Ok(Arc::new(CatalogTable::new(table_ref.clone(), schema))),
            logical_node::Node::Memory(memory) => {
                let partitions = memory.partitions.iter().map(|p| read_ipc(p)).collect::<Result<Vec<_>>>()?;
                Ok(Arc::new(MemTable::try_new(schema, partitions)?))
            }
            logical_node::Node::Cache(_) => {
                Err(DataFusionError::Internal("a cache point arrived where a table was expected".into()))
            }
        }
    }

    fn try_encode_table_provider(
        &self,
        table_ref: &TableReference,
        node: Arc<dyn TableProvider>,
        buf: &mut Vec<u8>,
    ) -> Result<()> {
        if let Some(table) = node.downcast_ref::<CatalogTable>() {
            return encode_node(logical_node::Node::CatalogTable(table.name().to_string()), buf);
        }
        if let Some(memory) = node.downcast_ref::<MemTable>() {
            let schema = memory.schema();
            let mut partitions = Vec::with_capacity(memory.batches.len());
            for partition in &memory.batches {
                let batches = partition
                    .try_read()
                    .map_err(|_| DataFusionError::Execution(format!("table {table_ref} is being written")))?
                    .clone();
                partitions.push(write_ipc(&schema, &batches)?);
            }
            return encode_node(logical_node::Node::Memory(MemoryNode { partitions }), buf);
        }
        Err(DataFusionError::NotImplemented(format!(
            "Dusk cannot send table {table_ref} to the cluster: register it there with CREATE EXTERNAL TABLE"
        )))
    }

    fn try_decode_file_format(&self, buf: &[u8], ctx: &TaskContext) -> Result<Arc<dyn FileFormatFactory>> {
        let node = FileFormatNode::decode(buf).map_err(|e| DataFusionError::Internal(e.to_string()))?;
        let options = node.options.as_ref();
        match FileFormatKind::try_from(node.kind) {
            Ok(FileFormatKind::Parquet) => ParquetLogicalExtensionCodec.try_decode_file_format(options, ctx),
            Ok(FileFormatKind::Csv) => CsvLogicalExtensionCodec.try_decode_file_format(options, ctx),
            Ok(FileFormatKind::Json) => JsonLogicalExtensionCodec.try_decode_file_format(options, ctx),
            Ok(FileFormatKind::Arrow) => ArrowLogicalExtensionCodec.try_decode_file_format(options, ctx),
            Err(_) => Err(DataFusionError::Internal(format!("unknown file format {}", node.kind))),
        }
    }

    fn try_encode_file_format(&self, buf: &mut Vec<u8>, node: Arc<dyn FileFormatFactory>) -> Result<()> {
        let mut options = Vec::new();
        let kind = if node.downcast_ref::<ParquetFormatFactory>().is_some() {
            ParquetLogicalExtensionCodec.try_encode_file_format(&mut options, node)?;
            FileFormatKind::Parquet
        } else if node.downcast_ref::<CsvFormatFactory>().is_some() {
            CsvLogicalExtensionCodec.try_encode_file_format(&mut options, node)?;
            FileFormatKind::Csv
        } else if node.downcast_ref::<JsonFormatFactory>().is_some() {
            JsonLogicalExtensionCodec.try_encode_file_format(&mut options, node)?;
            FileFormatKind::Json
        } else if node.downcast_ref::<ArrowFormatFactory>().is_some() {
            ArrowLogicalExtensionCodec.try_encode_file_format(&mut options, node)?;
            FileFormatKind::Arrow
        } else {
            return Err(DataFusionError::NotImplemented(format!(
                "Dusk cannot write the file format {} on the cluster",
                node.get_ext()
            )));
        };
        FileFormatNode { kind: kind as i32, options: Bytes::from(options) }
            .encode(buf)
            .map_err(|e| DataFusionError::Internal(e.to_string()))
    }
}

fn encode_node(node: logical_node::Node, buf: &mut Vec<u8>) -> Result<()> {
    LogicalNode { node: Some(node) }.encode(buf).map_err(|e| DataFusionError::Internal(e.to_string()))
}

fn decode_node(buf: &[u8]) -> Result<logical_node::Node> {
    LogicalNode::decode(buf)
        .map_err(|e| DataFusionError::Internal(format!("a Dusk plan node does not decode: {e}")))?
        .node
        .ok_or_else(|| DataFusionError::Internal("an empty Dusk plan node".into()))
}

fn write_ipc(schema: &SchemaRef, batches: &[RecordBatch]) -> Result<Bytes> {
    let mut writer = StreamWriter::try_new(Vec::new(), schema)?;
    for batch in batches {
        writer.write(batch)?;
    }
    writer.finish()?;
    Ok(Bytes::from(writer.into_inner()?))
}

fn read_ipc(bytes: &[u8]) -> Result<Vec<RecordBatch>> {
    let reader = StreamReader::try_new(std::io::Cursor::new(bytes), None)?;
    Ok(reader.collect::<std::result::Result<Vec<_>, _>>()?)
}

/// Encodes a logical plan for the scheduler.
pub fn encode_logical_plan(plan: &LogicalPlan) -> Result<Bytes> {
    datafusion_proto::bytes::logical_plan_to_bytes_with_extension_codec(plan, &DuskLogicalCodec)
}

/// Decodes a logical plan from a client; its [`CatalogTable`]s still need resolving.
pub fn decode_logical_plan(bytes: &[u8], ctx: &TaskContext) -> Result<LogicalPlan> {
    datafusion_proto::bytes::logical_plan_from_bytes_with_extension_codec(bytes, ctx, &DuskLogicalCodec)
}

/// Hashes a plan node's identity for [`ClusterCache`] ids.
pub fn cache_id(plan: &LogicalPlan) -> u64 {
    let mut hasher = std::collections::hash_map::DefaultHasher::new();
    plan.hash(&mut hasher);
    std::time::SystemTime::now().hash(&mut hasher);
    hasher.finish()
}
