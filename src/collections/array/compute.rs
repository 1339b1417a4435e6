//! From chunk programs to tasks, and from tasks back to an in-memory array.

use std::sync::Arc;

use bytes::Bytes;
use ndarray::ArrayD;
use serde::Serialize;

use super::dtype::{Element, NdArray};
use super::program::Program;
use super::{Array, ArrayError, Block, codec, eval, kernels};
use crate::Client;
use crate::client::ArgSource;
use crate::collections::delayed::Node;

/// A block program with its inputs numbered, and the task arguments they name.
pub(crate) fn lower(block: &Block) -> (Program, Vec<ArgSource>) {
    let mut inputs = Vec::new();
    (number_inputs(block, &mut inputs), inputs)
}

/// Several block programs for one task, numbering their inputs jointly: a chunk read by
/// two of them is one argument.
pub(crate) fn lower_many(blocks: &[&Block]) -> (Vec<Program>, Vec<ArgSource>) {
    let mut inputs = Vec::new();
    let programs = blocks.iter().map(|block| number_inputs(block, &mut inputs)).collect();
    (programs, inputs)
}

/// `block` with each input replaced by its position in `inputs`, added there if new.
fn number_inputs(block: &Block, inputs: &mut Vec<ArgSource>) -> Program {
    block.map_inputs(&mut |source, _serde| {
        let found = source.key().and_then(|k| inputs.iter().position(|i| i.key() == Some(k)));
        found.unwrap_or_else(|| {
            inputs.push(source.clone());
            inputs.len() - 1
        }) as u32
    })
}

/// A task calling array kernel `function` with `spec` and `inputs`, its key named `label`.
pub(crate) fn node<S: Serialize>(
    label: &str,
    function: &'static str,
    spec: &S,
    inputs: Vec<ArgSource>,
) -> Result<Arc<Node>, ArrayError> {
    crate::collections::kernel_node(label, function, spec, inputs)
        .map_err(|e| ArrayError::shape(label, format!("encoding the task: {e}")))
}

/// The task that computes `block`: the task itself when the block is one task's result
/// unchanged, a fused [`kernels::BLOCK`] task otherwise.
pub(crate) fn materialize(block: &Block) -> Result<ArgSource, ArrayError> {
    if let Program::Input(source) = block {
        return Ok(source.clone());
    }
    let (program, inputs) = lower(block);
    Ok(ArgSource::Node(node(&block.label(), kernels::BLOCK, &program, inputs)?))
}

impl Array {
    /// Computes the array on the cluster and brings it here.
    pub async fn compute(&self, client: &Client) -> Result<NdArray, ArrayError> {
        let sources: Vec<ArgSource> = self.blocks.iter().map(materialize).collect::<Result<_, _>>()?;
        let mut nodes = Vec::new();
        let mut refs = Vec::new();
        let mut keys = Vec::with_capacity(sources.len());
        for source in &sources {
            match source {
                ArgSource::Node(n) => {
                    keys.push(n.key.clone());
                    nodes.push(n.clone());
                }
                ArgSource::Future(r) => {
                    keys.push(r.key().clone());
                    refs.push(r.clone());
                }
                ArgSource::Literal(_) | ArgSource::Invalid(_) => {}
            }
        }
        let held = client.submit_nodes(&nodes)?;
        let fetched = client.gather_batches(&keys).await?;
        drop(held);
        drop(refs);
        let mut parts = Vec::with_capacity(sources.len());
        for (source, block) in sources.iter().zip(self.blocks.iter()) {
            let part = match source.key() {
                Some(key) => {
                    let batches = fetched.get(key).ok_or_else(|| ArrayError::Decode {
                        key: key.to_string(),
                        message: "missing from the fetched results".into(),
                    })?;
                    codec::from_batches(batches)
                        .map_err(|message| ArrayError::Decode { key: key.to_string(), message })?
                }
                // An inline chunk: evaluate it here.
                None => {
                    let (program, inputs) = lower(block);
                    let values: Vec<crate::graph::Value> = inputs
                        .iter()
                        .map(|i| match i {
                            ArgSource::Literal(b) => crate::graph::Value::Bytes(b.clone()),
                            _ => crate::graph::Value::Bytes(Bytes::new()),
                        })
                        .collect();
                    eval::eval(&program, &values)
                        .map_err(|message| ArrayError::Decode { key: "inline".into(), message })?
                }
            };
            parts.push(part.cast(self.dtype));
        }
        let whole = eval::assemble(&self.numblocks(), parts)
            .map_err(|message| ArrayError::Decode { key: "assembly".into(), message })?;
        if whole.shape() != self.shape.as_slice() {
            return Err(ArrayError::Decode {
                key: "assembly".into(),
                message: format!("computed shape {:?}, expected {:?}", whole.shape(), self.shape),
            });
        }
        Ok(whole)
    }

    /// Computes the array and returns it as an `ndarray` array of element type `T`.
    pub async fn compute_typed<T: Element>(&self, client: &Client) -> Result<ArrayD<T>, ArrayError> {
        let found = self.dtype;
        self.compute(client).await?.into_typed::<T>().ok_or(ArrayError::WrongType { wanted: T::DTYPE, found })
    }

    /// Computes every chunk and keeps it on the workers; the returned array reads the
    /// kept chunks, so later operations do not recompute them. They are released when
    /// the returned array (and its clones and derived arrays) are dropped.
    pub fn persist(&self, client: &Client) -> Result<Array, ArrayError> {
        let sources: Vec<ArgSource> = self.blocks.iter().map(materialize).collect::<Result<_, _>>()?;
        let nodes: Vec<Arc<Node>> = sources
            .iter()
            .filter_map(|s| match s {
                ArgSource::Node(n) => Some(n.clone()),
                _ => None,
            })
            .collect();
        let mut refs = client.submit_nodes(&nodes)?.into_iter();
        let blocks = sources
            .into_iter()
            .map(|s| match s {
                ArgSource::Node(_) => {
                    refs.next().map_or(Program::Input(s.clone()), |r| Program::Input(ArgSource::Future(r)))
                }
                other => Program::Input(other),
            })
            .collect();
        Ok(Array::from_parts(self.dtype, self.shape.clone(), self.chunks.clone(), blocks))
    }
}
