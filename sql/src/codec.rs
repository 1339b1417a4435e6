//! The datafusion-proto extension codec for the operators Dusk adds to plans.
//!
//! Stage fragments travel from the scheduler to workers as datafusion-proto bytes. The
//! operators DataFusion knows encode themselves; [`DuskCodec`] encodes the rest
//! ([`ShuffleWriterExec`], [`ShuffleReaderExec`]) as one [`DuskNode`] message.

use std::sync::Arc;

use arrow::datatypes::Schema;
use bytes::Bytes;
use datafusion::error::{DataFusionError, Result};
use datafusion::execution::TaskContext;
use datafusion::physical_plan::ExecutionPlan;
use datafusion_proto::physical_plan::from_proto::parse_protobuf_partitioning;
use datafusion_proto::physical_plan::to_proto::serialize_partitioning;
use datafusion_proto::physical_plan::{
    PhysicalExtensionCodec, PhysicalPlanDecodeContext, PhysicalProtoConverterExtension,
};
use datafusion_proto::protobuf;
use prost::Message;

use crate::shuffle_reader::{ReadMode, ShuffleReaderExec};
use crate::shuffle_writer::ShuffleWriterExec;

/// One Dusk operator on the wire.
#[derive(Clone, PartialEq, prost::Message)]
pub struct DuskNode {
    /// Which operator.
    #[prost(oneof = "dusk_node::Node", tags = "1, 2")]
    pub node: Option<dusk_node::Node>,
}

/// The variants of [`DuskNode`].
pub mod dusk_node {
    /// The operators.
    #[derive(Clone, PartialEq, prost::Oneof)]
    pub enum Node {
        /// A [`ShuffleWriterExec`](crate::ShuffleWriterExec).
        #[prost(message, tag = "1")]
        Writer(super::WriterNode),
        /// A [`ShuffleReaderExec`](crate::ShuffleReaderExec).
        #[prost(message, tag = "2")]
        Reader(super::ReaderNode),
    }
}

/// A shuffle writer; its input is the plan's one child.
#[derive(Clone, PartialEq, prost::Message)]
pub struct WriterNode {
    /// How rows are bucketed; absent for one bucket.
    #[prost(message, optional, tag = "1")]
    pub partitioning: Option<protobuf::Partitioning>,
}

/// A shuffle reader.
#[derive(Clone, PartialEq, prost::Message)]
pub struct ReaderNode {
    /// The stage it reads.
    #[prost(uint32, tag = "1")]
    pub stage: u32,
    /// Keys of the producer tasks, in partition order.
    #[prost(string, repeated, tag = "2")]
    pub producers: Vec<String>,
    /// True for [`ReadMode::PerProducer`].
    #[prost(bool, tag = "3")]
    pub per_producer: bool,
    /// Bucket count for [`ReadMode::Buckets`].
    #[prost(uint32, tag = "4")]
    pub partitions: u32,
    /// The schema of the rows read.
    #[prost(message, optional, tag = "5")]
    pub schema: Option<protobuf::Schema>,
}

/// Encodes and decodes Dusk's operators inside datafusion-proto plans.
#[derive(Debug, Default, Clone, Copy)]
pub struct DuskCodec;

fn malformed(what: &str) -> DataFusionError {
    DataFusionError::Internal(format!("malformed Dusk plan node: {what}"))
}

impl PhysicalExtensionCodec for DuskCodec {
    fn try_decode(
        &self,
        buf: &[u8],
        inputs: &[Arc<dyn ExecutionPlan>],
        ctx: &TaskContext,
        proto_converter: &dyn PhysicalProtoConverterExtension,
    ) -> Result<Arc<dyn ExecutionPlan>> {
        let node = DuskNode::decode(buf).map_err(|e| malformed(&e.to_string()))?;
        match node.node {
            Some(dusk_node::Node::Writer(w)) => {
                let [input] = inputs else { return Err(malformed("a shuffle writer needs one input")) };
                let decode_ctx = PhysicalPlanDecodeContext::new(ctx, self);
                let partitioning = parse_protobuf_partitioning(
                    w.partitioning.as_ref(),
                    &decode_ctx,
                    &input.schema(),
                    proto_converter,
                )?;
                Ok(Arc::new(ShuffleWriterExec::new(input.clone(), partitioning)))
            }
            Some(dusk_node::Node::Reader(r)) => {
                let schema = r.schema.as_ref().ok_or_else(|| malformed("a shuffle reader has no schema"))?;
                let schema = Schema::try_from(schema).map_err(|e| malformed(&e.to_string()))?;
                let mode = if r.per_producer { ReadMode::PerProducer } else { ReadMode::Buckets };
                Ok(Arc::new(ShuffleReaderExec::new(
                    r.stage as usize,
                    r.producers,
                    mode,
                    r.partitions as usize,
                    Arc::new(schema),
                )))
            }
            None => Err(malformed("no operator")),
        }
    }

    fn try_encode(
        &self,
        node: Arc<dyn ExecutionPlan>,
        buf: &mut Vec<u8>,
        proto_converter: &dyn PhysicalProtoConverterExtension,
    ) -> Result<()> {
        let message = if let Some(w) = node.downcast_ref::<ShuffleWriterExec>() {
            let partitioning =
                w.partitioning().map(|p| serialize_partitioning(p, self, proto_converter)).transpose()?;
            dusk_node::Node::Writer(WriterNode { partitioning })
        } else if let Some(r) = node.downcast_ref::<ShuffleReaderExec>() {
            let schema = protobuf::Schema::try_from(node.schema().as_ref())
                .map_err(|e| DataFusionError::Internal(format!("encoding a reader's schema: {e}")))?;
            dusk_node::Node::Reader(ReaderNode {
                stage: r.stage() as u32,
                producers: r.producers().to_vec(),
                per_producer: r.mode() == ReadMode::PerProducer,
                partitions: r.partitions() as u32,
                schema: Some(schema),
            })
        } else {
            return Err(DataFusionError::NotImplemented(format!("{UNSENDABLE} {}", node.name())));
        };
        DuskNode { node: Some(message) }.encode(buf).map_err(|e| DataFusionError::Internal(e.to_string()))
    }
}

/// How the codec's refusal of an operator begins.
const UNSENDABLE: &str = "Dusk cannot send to workers the operator";

/// Encodes a stage fragment for a worker. An operator that cannot travel is a
/// `NotImplemented` error (which datafusion-proto would otherwise report as internal).
pub fn encode_plan(plan: Arc<dyn ExecutionPlan>) -> Result<Bytes> {
    datafusion_proto::bytes::physical_plan_to_bytes_with_extension_codec(plan, &DuskCodec).map_err(|e| {
        let message = e.to_string();
        match message.find(UNSENDABLE) {
            Some(at) => {
                let refusal = &message[at..];
                DataFusionError::NotImplemented(
                    refusal[..refusal.find(']').unwrap_or(refusal.len())].to_string(),
                )
            }
            None => e,
        }
    })
}

/// Decodes a stage fragment; `ctx` supplies the functions and object stores it names.
pub fn decode_plan(bytes: &[u8], ctx: &TaskContext) -> Result<Arc<dyn ExecutionPlan>> {
    datafusion_proto::bytes::physical_plan_from_bytes_with_extension_codec(bytes, ctx, &DuskCodec)
}
