//! From chunk programs to tasks, and from tasks back to an in-memory array.

use std::sync::Arc;

use bytes::Bytes;
use ndarray::ArrayD;
use serde::Serialize;

use super::dtype::{Element, NdArray, Scalar};
use super::program::Program;
use super::{Array, ArrayError, Block, codec, eval, grid_indices, kernels};
use crate::Client;
use crate::client::ArgSource;
use crate::collections::delayed::Node;
use crate::graph::TaskKey;

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

fn decode(key: &str, message: String) -> ArrayError {
    ArrayError::Decode { key: key.to_string(), message }
}

/// Writes `part` (converted to `whole`'s element type) into the region of `whole`
/// that starts at `start`; `extent` is the shape the part must have.
fn put(whole: &mut NdArray, start: &[usize], extent: &[usize], part: NdArray) -> Result<(), String> {
    if part.shape() != extent {
        return Err(format!("a chunk of shape {:?} where {extent:?} was expected", part.shape()));
    }
    fn region<'a, T>(
        whole: &'a mut ArrayD<T>,
        start: &[usize],
        shape: &[usize],
    ) -> Result<ndarray::ArrayViewMutD<'a, T>, String> {
        let mut view = whole.view_mut();
        if start.len() != shape.len() || start.len() != view.ndim() {
            return Err(format!("a part of shape {shape:?} at {start:?} does not fit"));
        }
        for (axis, (&s, &n)) in start.iter().zip(shape).enumerate() {
            if s + n > view.len_of(ndarray::Axis(axis)) {
                return Err(format!("a part of shape {shape:?} at {start:?} does not fit"));
            }
            view.slice_axis_inplace(ndarray::Axis(axis), ndarray::Slice::from(s..s + n));
        }
        Ok(view)
    }
    let dtype = whole.dtype();
    match (whole, part.cast(dtype)) {
        (NdArray::Bool(w), NdArray::Bool(p)) => region(w, start, p.shape())?.assign(&p),
        (NdArray::I64(w), NdArray::I64(p)) => region(w, start, p.shape())?.assign(&p),
        (NdArray::F32(w), NdArray::F32(p)) => region(w, start, p.shape())?.assign(&p),
        (NdArray::F64(w), NdArray::F64(p)) => region(w, start, p.shape())?.assign(&p),
        _ => return Err("a part of another element type".into()),
    }
    Ok(())
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
        // `sources` holds the futures among them until the results are here.
        let keys: Vec<TaskKey> = sources.iter().filter_map(|s| s.key().cloned()).collect();
        let held = client.submit_sources(&sources)?;
        let fetched = client.gather_batches(&keys).await?;
        drop(held);
        // Each chunk is copied once, into its place in the result.
        let mut whole = NdArray::full(&self.shape, Scalar::from(false).cast(self.dtype));
        for ((source, block), index) in
            sources.iter().zip(self.blocks.iter()).zip(grid_indices(&self.numblocks()))
        {
            let start = self.block_offset(&index);
            let extent: Vec<usize> = index.iter().zip(&self.chunks).map(|(&i, c)| c[i]).collect();
            match source.key() {
                Some(key) => {
                    let batches = fetched.get(key).ok_or_else(|| ArrayError::Decode {
                        key: key.to_string(),
                        message: "missing from the fetched results".into(),
                    })?;
                    if !codec::copy_into(batches, &mut whole, &start, &extent)
                        .map_err(|message| decode(key.as_str(), message))?
                    {
                        let part =
                            codec::from_batches(batches).map_err(|message| decode(key.as_str(), message))?;
                        put(&mut whole, &start, &extent, part)
                            .map_err(|message| decode(key.as_str(), message))?;
                    }
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
                    let part = eval::eval(&program, &values).map_err(|message| decode("inline", message))?;
                    put(&mut whole, &start, &extent, part).map_err(|message| decode("inline", message))?;
                }
            }
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
        let mut refs = client.submit_sources(&sources)?.into_iter();
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
