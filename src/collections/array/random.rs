//! Counter-based random numbers: value `i` is a hash of the seed and `i`.
//!
//! Because each value depends only on the seed and its global position, a chunk is
//! generated on the worker that needs it, in any order, and a seeded array holds the
//! same values however it is chunked. The hash is SplitMix64's finaliser, which passes
//! BigCrush as a counter-based generator and costs a few cycles per value.

use std::mem::MaybeUninit;

use ndarray::{ArrayD, IxDyn};

use super::program::Distribution;

const GOLDEN: u64 = 0x9E37_79B9_7F4A_7C15;

/// SplitMix64's output function.
#[inline]
fn mix(mut z: u64) -> u64 {
    z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
    z ^ (z >> 31)
}

/// A uniform value in `[0, 1)` from 64 random bits.
#[inline(always)]
fn unit(bits: u64) -> f64 {
    // Through i64: one conversion instruction, where u64 to f64 takes several.
    (bits >> 11) as i64 as f64 * (1.0 / (1u64 << 53) as f64)
}

/// Uniform values for counters `start, start + step, start + 2 step, …` into `out`:
/// the hot loop of `random`, written so the compiler vectorises it. A step other than 1
/// generates a transposed region in place.
#[inline(always)]
fn fill_uniform_portable(stream: Stream, start: u64, step: u64, out: &mut [MaybeUninit<f64>]) {
    // The hashed counter advances by addition: a 64-bit multiply per value to compute
    // it afresh would cost a third of the loop.
    let mut counter = stream.key.wrapping_add(start.wrapping_add(1).wrapping_mul(GOLDEN));
    let stride = step.wrapping_mul(GOLDEN);
    for o in out.iter_mut() {
        o.write(unit(mix(counter)));
        counter = counter.wrapping_add(stride);
    }
}

/// [`fill_uniform_portable`] compiled for AVX-512, which multiplies 64-bit lanes and
/// converts them to doubles in one instruction each.
#[cfg(target_arch = "x86_64")]
#[target_feature(enable = "avx512f,avx512dq")]
fn fill_uniform_avx512(stream: Stream, start: u64, step: u64, out: &mut [MaybeUninit<f64>]) {
    fill_uniform_portable(stream, start, step, out)
}

/// [`fill_uniform_portable`] compiled for AVX2.
#[cfg(target_arch = "x86_64")]
#[target_feature(enable = "avx2")]
fn fill_uniform_avx2(stream: Stream, start: u64, step: u64, out: &mut [MaybeUninit<f64>]) {
    fill_uniform_portable(stream, start, step, out)
}

/// Uniform values for counters `start, start + step, …`, with the widest vectors the
/// CPU has.
fn fill_uniform(stream: Stream, start: u64, step: u64, out: &mut [MaybeUninit<f64>]) {
    #[cfg(target_arch = "x86_64")]
    {
        if std::arch::is_x86_feature_detected!("avx512dq") && std::arch::is_x86_feature_detected!("avx512f") {
            // SAFETY: the CPU has the features the function is compiled for.
            return unsafe { fill_uniform_avx512(stream, start, step, out) };
        }
        if std::arch::is_x86_feature_detected!("avx2") {
            // SAFETY: as above.
            return unsafe { fill_uniform_avx2(stream, start, step, out) };
        }
    }
    fill_uniform_portable(stream, start, step, out)
}

/// The stream of one seed.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Stream {
    key: u64,
}

impl Stream {
    /// The stream for `seed`.
    pub(crate) fn new(seed: u64) -> Self {
        Stream { key: mix(seed ^ 0x6A09_E667_F3BC_C908) }
    }

    /// 64 random bits for counter `i`.
    #[inline(always)]
    pub(crate) fn bits(self, i: u64) -> u64 {
        mix(self.key.wrapping_add(i.wrapping_add(1).wrapping_mul(GOLDEN)))
    }

    /// The value at global flat position `i`.
    #[inline]
    pub(crate) fn value(self, dist: Distribution, i: u64) -> f64 {
        match dist {
            Distribution::Uniform => unit(self.bits(i)),
            Distribution::Normal => {
                // Box-Muller on two counters of a second lane; u1 is kept away from 0.
                let u1 = 1.0 - unit(self.bits(i.wrapping_mul(2) ^ (1 << 63)));
                let u2 = unit(self.bits(i.wrapping_mul(2).wrapping_add(1) ^ (1 << 63)));
                (-2.0 * u1.ln()).sqrt() * (std::f64::consts::TAU * u2).cos()
            }
        }
    }
}

/// The block `offset .. offset + shape` of the seeded array of `global_shape`.
pub(crate) fn block(
    seed: u64,
    dist: Distribution,
    global_shape: &[usize],
    offset: &[usize],
    shape: &[usize],
) -> Result<ArrayD<f64>, String> {
    let identity: Vec<usize> = (0..shape.len()).collect();
    permuted(seed, dist, global_shape, offset, shape, &identity)
}

/// The block `offset .. offset + shape` with its axes reordered (output axis `i` is the
/// block's axis `perm[i]`), generated in that order: a transposed random block costs
/// what the block does, with no copy.
pub(crate) fn permuted(
    seed: u64,
    dist: Distribution,
    global_shape: &[usize],
    offset: &[usize],
    shape: &[usize],
    perm: &[usize],
) -> Result<ArrayD<f64>, String> {
    let ndim = global_shape.len();
    if offset.len() != ndim || shape.len() != ndim {
        return Err(format!("random block of rank {} in an array of rank {ndim}", shape.len()));
    }
    for axis in 0..ndim {
        if offset[axis] + shape[axis] > global_shape[axis] {
            return Err(format!("random block exceeds the array along axis {axis}"));
        }
    }
    let mut seen = vec![false; ndim];
    if perm.len() != ndim || perm.iter().any(|&p| p >= ndim || std::mem::replace(&mut seen[p], true)) {
        return Err(format!("{perm:?} is not an order of {ndim} axes"));
    }
    // Row-major strides of the whole array, and the counter of the block's first element.
    let mut global_strides = vec![1u64; ndim];
    for axis in (0..ndim.saturating_sub(1)).rev() {
        global_strides[axis] = global_strides[axis + 1] * global_shape[axis + 1] as u64;
    }
    let base: u64 = offset.iter().zip(&global_strides).map(|(&o, &s)| o as u64 * s).sum();
    let out_shape: Vec<usize> = perm.iter().map(|&p| shape[p]).collect();
    let strides: Vec<u64> = perm.iter().map(|&p| global_strides[p]).collect();
    let total: usize = out_shape.iter().product();
    // Written straight into fresh memory: zeroing it first cost a tenth of the time.
    let mut out: Vec<f64> = Vec::with_capacity(total);
    let row = if ndim == 0 { 1 } else { out_shape[ndim - 1] };
    let step = if ndim == 0 { 1 } else { strides[ndim - 1] };
    let outer = ndim.saturating_sub(1);
    let stream = Stream::new(seed);
    let mut index = vec![0usize; outer];
    if row > 0 {
        for chunk in out.spare_capacity_mut()[..total].chunks_exact_mut(row) {
            let start = base + index.iter().zip(&strides).map(|(&i, &s)| i as u64 * s).sum::<u64>();
            match dist {
                Distribution::Uniform => fill_uniform(stream, start, step, chunk),
                Distribution::Normal => {
                    for (j, o) in chunk.iter_mut().enumerate() {
                        o.write(stream.value(dist, start + j as u64 * step));
                    }
                }
            }
            // Next row: odometer over the outer axes.
            for axis in (0..outer).rev() {
                index[axis] += 1;
                if index[axis] < out_shape[axis] {
                    break;
                }
                index[axis] = 0;
            }
        }
    }
    // SAFETY: `total` is `row` times the outer extents, so the loop above visited (and
    // wrote) every one of the first `total` elements, in whole rows; with no rows
    // (`row == 0`) `total` is 0.
    unsafe { out.set_len(total) };
    ArrayD::from_shape_vec(IxDyn(&out_shape), out).map_err(|e| e.to_string())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_block_matches_the_same_region_of_the_whole() {
        let whole = block(7, Distribution::Uniform, &[5, 6, 7], &[0, 0, 0], &[5, 6, 7]).expect("whole");
        let part = block(7, Distribution::Uniform, &[5, 6, 7], &[1, 2, 3], &[3, 2, 4]).expect("part");
        let expected = whole.slice(ndarray::s![1..4, 2..4, 3..7]).to_owned().into_dyn();
        assert_eq!(part, expected);
    }

    #[test]
    fn uniform_values_look_uniform_and_normals_look_normal() {
        let n = 100_000;
        let u = block(1, Distribution::Uniform, &[n], &[0], &[n]).expect("uniform");
        let mean = u.sum() / n as f64;
        assert!((mean - 0.5).abs() < 0.01, "{mean}");
        assert!(u.iter().all(|v| (0.0..1.0).contains(v)));
        let z = block(1, Distribution::Normal, &[n], &[0], &[n]).expect("normal");
        let mean = z.sum() / n as f64;
        let var = z.iter().map(|v| (v - mean) * (v - mean)).sum::<f64>() / n as f64;
        assert!(mean.abs() < 0.02 && (var - 1.0).abs() < 0.03, "{mean} {var}");
        let other = block(2, Distribution::Uniform, &[n], &[0], &[n]).expect("uniform");
        assert_ne!(u, other, "seeds give different streams");
    }

    #[test]
    fn the_vectorised_loop_gives_the_defined_values() {
        let stream = Stream::new(9);
        let out = block(9, Distribution::Uniform, &[20_000], &[12_345], &[1003]).expect("block");
        for (j, v) in out.iter().enumerate() {
            assert_eq!(*v, unit(stream.bits(12_345 + j as u64)), "counter {j}");
        }
        // A column, transposed: counters 77, 1077, 2077, …
        let out =
            permuted(9, Distribution::Uniform, &[1003, 1000], &[0, 77], &[1003, 1], &[1, 0]).expect("column");
        assert_eq!(out.shape(), &[1, 1003]);
        for (j, v) in out.iter().enumerate() {
            assert_eq!(*v, unit(stream.bits(77 + 1000 * j as u64)), "counter {j} by 1000");
        }
    }

    #[test]
    fn a_permuted_block_is_the_transposed_block() {
        for dist in [Distribution::Uniform, Distribution::Normal] {
            let part = block(5, dist, &[6, 7, 8], &[1, 2, 3], &[4, 5, 3]).expect("part");
            let moved = permuted(5, dist, &[6, 7, 8], &[1, 2, 3], &[4, 5, 3], &[2, 0, 1]).expect("permuted");
            assert_eq!(moved, part.permuted_axes(IxDyn(&[2, 0, 1])).as_standard_layout().into_owned());
        }
        assert!(permuted(5, Distribution::Uniform, &[6, 7], &[0, 0], &[6, 7], &[0, 0]).is_err());
    }

    #[test]
    fn zero_dimensional_and_empty_blocks() {
        assert_eq!(block(3, Distribution::Uniform, &[], &[], &[]).expect("0-d").len(), 1);
        assert_eq!(block(3, Distribution::Uniform, &[4, 0], &[0, 0], &[4, 0]).expect("empty").len(), 0);
    }
}
