//! Operations that move elements between chunks or axes: transpose, slicing, rechunk,
//! concatenate and stack. Each output chunk is a program over the input chunks it
//! draws from, so these fuse with whatever comes before and after.

use std::ops::{Range, RangeFrom, RangeFull, RangeTo};

use super::program::{AxisSlice, Program};
use super::{Array, ArrayError, Block, check_chunks, grid_indices, normalize_chunks};

/// One axis of a slicing index, as NumPy's `x[2]`, `x[1:10:3]` or `x[:]`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Idx {
    /// One position (negative counts from the end); the axis is dropped.
    At(isize),
    /// `start..stop` by `step` (positive); negative bounds count from the end.
    Range {
        /// First position; `None` is the start of the axis.
        start: Option<isize>,
        /// One past the last position; `None` is the end of the axis.
        stop: Option<isize>,
        /// Distance between positions, at least 1.
        step: usize,
    },
}

impl Idx {
    /// The whole axis.
    pub fn all() -> Idx {
        Idx::Range { start: None, stop: None, step: 1 }
    }

    /// `start..stop`, with NumPy's negative positions.
    pub fn range(start: isize, stop: isize) -> Idx {
        Idx::Range { start: Some(start), stop: Some(stop), step: 1 }
    }

    /// This range taking every `step`-th position.
    pub fn step(self, step: usize) -> Idx {
        match self {
            Idx::Range { start, stop, .. } => Idx::Range { start, stop, step },
            at => at,
        }
    }
}

impl From<Range<usize>> for Idx {
    fn from(r: Range<usize>) -> Self {
        Idx::Range { start: Some(r.start as isize), stop: Some(r.end as isize), step: 1 }
    }
}

impl From<RangeFrom<usize>> for Idx {
    fn from(r: RangeFrom<usize>) -> Self {
        Idx::Range { start: Some(r.start as isize), stop: None, step: 1 }
    }
}

impl From<RangeTo<usize>> for Idx {
    fn from(r: RangeTo<usize>) -> Self {
        Idx::Range { start: None, stop: Some(r.end as isize), step: 1 }
    }
}

impl From<RangeFull> for Idx {
    fn from(_: RangeFull) -> Self {
        Idx::all()
    }
}

impl From<isize> for Idx {
    fn from(i: isize) -> Self {
        Idx::At(i)
    }
}

/// One input chunk's share of an output chunk along one axis.
#[derive(Debug, Clone, Copy)]
struct Piece {
    block: usize,
    slice: AxisSlice,
}

/// Start offsets of chunks.
fn starts(chunks: &[usize]) -> Vec<usize> {
    let mut out = Vec::with_capacity(chunks.len());
    let mut at = 0;
    for &c in chunks {
        out.push(at);
        at += c;
    }
    out
}

/// Output chunks built from pieces of input chunks, one list of pieces per axis per
/// output chunk: a slice (one piece per output chunk) or a rechunk (several).
fn gather(array: &Array, pieces: &[Vec<Vec<Piece>>], squeeze: &[usize]) -> Vec<Block> {
    let grid: Vec<usize> = pieces.iter().map(Vec::len).collect();
    grid_indices(&grid)
        .into_iter()
        .map(|index| {
            let per_axis: Vec<&Vec<Piece>> = index.iter().zip(pieces).map(|(&i, p)| &p[i]).collect();
            let part_grid: Vec<usize> = per_axis.iter().map(|p| p.len()).collect();
            let parts: Vec<Block> = grid_indices(&part_grid)
                .into_iter()
                .map(|part| {
                    let chosen: Vec<Piece> = part.iter().zip(&per_axis).map(|(&j, p)| p[j]).collect();
                    let in_index: Vec<usize> = chosen.iter().map(|p| p.block).collect();
                    let block = array.block(&in_index).clone();
                    let shape = array.block_shape(&in_index);
                    let whole = chosen
                        .iter()
                        .zip(&shape)
                        .all(|(p, &n)| p.slice.start == 0 && p.slice.stop == n && p.slice.step == 1);
                    if whole {
                        block
                    } else {
                        Program::Slice(chosen.iter().map(|p| p.slice).collect(), Box::new(block))
                    }
                })
                .collect();
            let block = if parts.len() == 1 {
                parts.into_iter().next().expect("one part")
            } else {
                Program::Assemble { grid: part_grid, parts }
            };
            if squeeze.is_empty() { block } else { Program::Squeeze(squeeze.to_vec(), Box::new(block)) }
        })
        .collect()
}

impl Array {
    /// Axes reordered: output axis `i` is input axis `axes[i]`.
    pub fn transpose(&self, axes: &[usize]) -> Result<Array, ArrayError> {
        let mut seen = vec![false; self.ndim()];
        if axes.len() != self.ndim()
            || axes.iter().any(|&a| a >= self.ndim() || std::mem::replace(&mut seen[a], true))
        {
            return Err(ArrayError::shape(
                "transpose",
                format!("{axes:?} is not a permutation of {} axes", self.ndim()),
            ));
        }
        let shape: Vec<usize> = axes.iter().map(|&a| self.shape[a]).collect();
        let chunks: Vec<Vec<usize>> = axes.iter().map(|&a| self.chunks[a].clone()).collect();
        let grid: Vec<usize> = chunks.iter().map(Vec::len).collect();
        let blocks = grid_indices(&grid)
            .into_iter()
            .map(|index| {
                let mut own = vec![0; self.ndim()];
                for (i, &a) in axes.iter().enumerate() {
                    own[a] = index[i];
                }
                Program::Transpose(axes.to_vec(), Box::new(self.block(&own).clone()))
            })
            .collect();
        Ok(Array::from_parts(self.dtype, shape, chunks, blocks))
    }

    /// The transpose: axes reversed.
    pub fn t(&self) -> Array {
        let axes: Vec<usize> = (0..self.ndim()).rev().collect();
        if self.ndim() < 2 {
            return self.clone();
        }
        // A reversal is always a permutation.
        self.transpose(&axes).unwrap_or_else(|_| self.clone())
    }

    /// A length-1 axis inserted at `axis`.
    pub fn expand_dims(&self, axis: usize) -> Result<Array, ArrayError> {
        if axis > self.ndim() {
            return Err(ArrayError::Axis { op: "expand_dims".into(), axis, ndim: self.ndim() });
        }
        let mut shape = self.shape.clone();
        shape.insert(axis, 1);
        let mut chunks = self.chunks.clone();
        chunks.insert(axis, vec![1]);
        let blocks = self.blocks.iter().map(|b| Program::ExpandDims(axis, Box::new(b.clone()))).collect();
        Ok(Array::from_parts(self.dtype, shape, chunks, blocks))
    }

    /// The length-1 axis `axis` removed.
    pub fn squeeze(&self, axis: usize) -> Result<Array, ArrayError> {
        self.check_axis("squeeze", axis)?;
        if self.shape[axis] != 1 {
            return Err(ArrayError::shape(
                "squeeze",
                format!("axis {axis} has length {}, not 1", self.shape[axis]),
            ));
        }
        let mut shape = self.shape.clone();
        shape.remove(axis);
        let mut chunks = self.chunks.clone();
        chunks.remove(axis);
        let blocks = self.blocks.iter().map(|b| Program::Squeeze(vec![axis], Box::new(b.clone()))).collect();
        Ok(Array::from_parts(self.dtype, shape, chunks, blocks))
    }

    /// Basic slicing, as NumPy's `x[i, a:b:s, ...]`: one [`Idx`] per leading axis; the
    /// axes not named are taken whole. Integer positions drop their axis.
    pub fn slice(&self, index: &[Idx]) -> Result<Array, ArrayError> {
        if index.len() > self.ndim() {
            return Err(ArrayError::shape(
                "slice",
                format!("{} indices for {} axes", index.len(), self.ndim()),
            ));
        }
        let mut pieces: Vec<Vec<Vec<Piece>>> = Vec::with_capacity(self.ndim());
        let mut squeeze = Vec::new();
        let mut shape = Vec::new();
        let mut chunks = Vec::new();
        for axis in 0..self.ndim() {
            let n = self.shape[axis];
            let sizes = &self.chunks[axis];
            let offsets = starts(sizes);
            match index.get(axis).copied().unwrap_or_else(Idx::all) {
                Idx::At(i) => {
                    let at = if i < 0 { i + n as isize } else { i };
                    if at < 0 || at >= n as isize {
                        return Err(ArrayError::Index { index: i, axis, len: n });
                    }
                    let at = at as usize;
                    let block = offsets.iter().rposition(|&o| o <= at).unwrap_or(0);
                    let local = at - offsets[block];
                    pieces.push(vec![vec![Piece {
                        block,
                        slice: AxisSlice { start: local, stop: local + 1, step: 1 },
                    }]]);
                    squeeze.push(axis);
                }
                Idx::Range { start, stop, step } => {
                    if step == 0 {
                        return Err(ArrayError::shape("slice", format!("step 0 on axis {axis}")));
                    }
                    let clamp = |v: Option<isize>, default: usize| match v {
                        None => default,
                        Some(v) if v < 0 => (v + n as isize).max(0) as usize,
                        Some(v) => (v as usize).min(n),
                    };
                    let (start, stop) = (clamp(start, 0), clamp(stop, n));
                    let mut axis_pieces = Vec::new();
                    let mut axis_chunks = Vec::new();
                    for (block, (&b0, &len)) in offsets.iter().zip(sizes).enumerate() {
                        let b1 = b0 + len;
                        let first =
                            if start >= b0 { start } else { start + (b0 - start).div_ceil(step) * step };
                        let end = b1.min(stop);
                        if first < end {
                            axis_pieces.push(vec![Piece {
                                block,
                                slice: AxisSlice { start: first - b0, stop: end - b0, step },
                            }]);
                            axis_chunks.push((end - first).div_ceil(step));
                        }
                    }
                    if axis_pieces.is_empty() {
                        axis_pieces
                            .push(vec![Piece { block: 0, slice: AxisSlice { start: 0, stop: 0, step: 1 } }]);
                        axis_chunks.push(0);
                    }
                    shape.push(axis_chunks.iter().sum());
                    chunks.push(axis_chunks);
                    pieces.push(axis_pieces);
                }
            }
        }
        let blocks = gather(self, &pieces, &squeeze);
        Ok(Array::from_parts(self.dtype, shape, chunks, blocks))
    }

    /// The same array cut in chunks of at most `sizes` per axis.
    pub fn rechunk(&self, sizes: &[usize]) -> Result<Array, ArrayError> {
        self.rechunk_to(normalize_chunks(&self.shape, sizes)?)
    }

    /// The same array cut in the given chunk extents per axis.
    pub fn rechunk_to(&self, chunks: Vec<Vec<usize>>) -> Result<Array, ArrayError> {
        check_chunks(&self.shape, &chunks)?;
        if chunks == self.chunks {
            return Ok(self.clone());
        }
        let mut pieces: Vec<Vec<Vec<Piece>>> = Vec::with_capacity(self.ndim());
        for (axis, wanted) in chunks.iter().enumerate() {
            let have = &self.chunks[axis];
            let have_starts = starts(have);
            let mut axis_pieces = Vec::with_capacity(wanted.len());
            for (&o0, &len) in starts(wanted).iter().zip(wanted) {
                let o1 = o0 + len;
                let mut out = Vec::new();
                for (block, (&b0, &blen)) in have_starts.iter().zip(have).enumerate() {
                    let (lo, hi) = (o0.max(b0), o1.min(b0 + blen));
                    if lo < hi {
                        out.push(Piece {
                            block,
                            slice: AxisSlice { start: lo - b0, stop: hi - b0, step: 1 },
                        });
                    }
                }
                if out.is_empty() {
                    out.push(Piece { block: 0, slice: AxisSlice { start: 0, stop: 0, step: 1 } });
                }
                axis_pieces.push(out);
            }
            pieces.push(axis_pieces);
        }
        let blocks = gather(self, &pieces, &[]);
        Ok(Array::from_parts(self.dtype, self.shape.clone(), chunks, blocks))
    }
}

/// Arrays joined along an existing axis; the other axes must match.
pub fn concatenate(arrays: &[Array], axis: usize) -> Result<Array, ArrayError> {
    let first = arrays.first().ok_or_else(|| ArrayError::shape("concatenate", "no arrays"))?;
    first.check_axis("concatenate", axis)?;
    let dtype =
        arrays.iter().skip(1).fold(first.dtype, |d, a| if d == a.dtype { d } else { d.promote(a.dtype) });
    let mut parts: Vec<Array> = Vec::with_capacity(arrays.len());
    for (n, a) in arrays.iter().enumerate() {
        let same = a.ndim() == first.ndim()
            && a.shape.iter().zip(&first.shape).enumerate().all(|(i, (x, y))| i == axis || x == y);
        if !same {
            return Err(ArrayError::shape(
                "concatenate",
                format!(
                    "array {n} has shape {:?}, the first {:?}; only axis {axis} may differ",
                    a.shape, first.shape
                ),
            ));
        }
        let mut want = first.chunks.clone();
        want[axis] = a.chunks[axis].clone();
        parts.push(a.rechunk_to(want)?.astype(dtype));
    }
    let mut chunks = first.chunks.clone();
    let mut sources: Vec<(usize, usize)> = Vec::new();
    let mut along = Vec::new();
    for (n, a) in parts.iter().enumerate() {
        for (b, &len) in a.chunks[axis].iter().enumerate() {
            if len > 0 {
                sources.push((n, b));
                along.push(len);
            }
        }
    }
    if sources.is_empty() {
        sources.push((0, 0));
        along.push(0);
    }
    chunks[axis] = along;
    let mut shape = first.shape.clone();
    shape[axis] = chunks[axis].iter().sum();
    let grid: Vec<usize> = chunks.iter().map(Vec::len).collect();
    let blocks = grid_indices(&grid)
        .into_iter()
        .map(|mut index| {
            let (n, b) = sources[index[axis]];
            index[axis] = b;
            parts[n].block(&index).clone()
        })
        .collect();
    Ok(Array::from_parts(dtype, shape, chunks, blocks))
}

/// Arrays of one shape stacked along a new axis at `axis`.
pub fn stack(arrays: &[Array], axis: usize) -> Result<Array, ArrayError> {
    let first = arrays.first().ok_or_else(|| ArrayError::shape("stack", "no arrays"))?;
    if let Some((n, a)) = arrays.iter().enumerate().find(|(_, a)| a.shape != first.shape) {
        return Err(ArrayError::shape(
            "stack",
            format!("array {n} has shape {:?}, the first {:?}", a.shape, first.shape),
        ));
    }
    let expanded = arrays.iter().map(|a| a.expand_dims(axis)).collect::<Result<Vec<_>, _>>()?;
    concatenate(&expanded, axis)
}

impl Array {
    /// The elements where `mask` (a bool array of this shape) is true, in row-major
    /// order, as a 1-d array: NumPy's `x[mask]`.
    ///
    /// How many elements each chunk keeps decides the result's chunks, so the mask's
    /// per-chunk counts are computed first (one small task per chunk); the selection
    /// itself stays lazy. Chunks are joined along every axis but the first, so that
    /// chunk order is row-major order.
    pub async fn select(&self, mask: &Array, client: &crate::Client) -> Result<Array, ArrayError> {
        if mask.dtype != super::DType::Bool {
            return Err(ArrayError::dtype("a selection mask", mask.dtype));
        }
        if mask.shape != self.shape {
            return Err(ArrayError::shape(
                "select",
                format!("mask of shape {:?} for an array of shape {:?}", mask.shape, self.shape),
            ));
        }
        // Row-major order across chunks needs chunks split along the first axis only.
        let rows: Vec<Vec<usize>> = self
            .chunks
            .iter()
            .enumerate()
            .map(|(axis, c)| if axis == 0 { c.clone() } else { vec![self.shape[axis]] })
            .collect();
        let data = self.rechunk_to(rows.clone())?;
        let mask = mask.rechunk_to(rows)?;
        // Per-chunk counts: each mask chunk summed on its own (a 0-d result per chunk).
        let sums = grid_indices(&data.numblocks())
            .into_iter()
            .map(|index| {
                let shape = mask.block_shape(&index);
                let chunk = Array::from_parts(
                    super::DType::Bool,
                    shape.clone(),
                    shape.iter().map(|&n| vec![n]).collect(),
                    vec![mask.block(&index).clone()],
                );
                chunk.sum()
            })
            .collect::<Result<Vec<_>, _>>()?;
        let counts = stack(&sums, 0)?.compute_typed::<i64>(client).await?;
        let mut chunks = Vec::new();
        let mut blocks = Vec::new();
        for ((n, part), keep) in counts.iter().zip(data.blocks.iter()).zip(mask.blocks.iter()) {
            if *n > 0 {
                chunks.push(*n as usize);
                blocks.push(Program::Select(Box::new(part.clone()), Box::new(keep.clone())));
            }
        }
        if blocks.is_empty() {
            chunks.push(0);
            blocks.push(Program::Fill { value: super::Scalar::Bool(false).cast(self.dtype), shape: vec![0] });
        }
        let len = chunks.iter().sum();
        Ok(Array::from_parts(self.dtype, vec![len], vec![chunks], blocks))
    }
}
