//! Evaluating a block program one band of rows at a time.
//!
//! A reduction of a generated block, such as `(x + x.T).mean(axis=0)` over a random
//! `x`, need not hold the whole block. When every leaf of its program can make just
//! some of its rows (generators, joined by elementwise steps and transposes), the
//! partial task evaluates bands of rows small enough to stay in the core's cache and
//! reduces each as it goes: generation, arithmetic and reduction then touch each value
//! once, in cache, instead of streaming block-sized temporaries through memory.

use std::ops::Range;

use super::eval::broadcast_shape;
use super::program::Program;

/// Elements per band: a few operands of this size (128 KiB of `f64` each) stay in a
/// core's L2 cache.
const BAND_ELEMENTS: usize = 16 * 1024;

/// The bands of rows (first axis) to evaluate `program` by, each as its first row and
/// the program of just those rows; `None` when the program is evaluated whole: a leaf
/// that cannot make part of itself, or a block no larger than one band.
pub(crate) fn bands(program: &Program) -> Option<Vec<(usize, Program)>> {
    let shape = shape(program)?;
    let (&rows, rest) = shape.split_first()?;
    let band = (BAND_ELEMENTS / rest.iter().product::<usize>().max(1)).max(1);
    if rows <= band {
        return None;
    }
    (0..rows)
        .step_by(band)
        .map(|start| restrict(program, 0, &(start..(start + band).min(rows))).map(|p| (start, p)))
        .collect()
}

/// The output shape of a program that can be evaluated by bands; `None` for others.
fn shape(program: &Program) -> Option<Vec<usize>> {
    match program {
        Program::Random { shape, .. } | Program::Fill { shape, .. } => Some(shape.clone()),
        Program::Unary(_, a) | Program::Cast(_, a) => self::shape(a),
        Program::Binary(_, a, b) => broadcast_shape(&self::shape(a)?, &self::shape(b)?),
        Program::Where(c, a, b) => {
            broadcast_shape(&self::shape(c)?, &broadcast_shape(&self::shape(a)?, &self::shape(b)?)?)
        }
        Program::Transpose(perm, a) => {
            let inner = self::shape(a)?;
            (inner.len() == perm.len()).then_some(())?;
            perm.iter().map(|&p| inner.get(p).copied()).collect()
        }
        _ => None,
    }
}

/// `program` computing only `rows` of its output's `axis`.
fn restrict(program: &Program, axis: usize, rows: &Range<usize>) -> Option<Program> {
    let boxed = |p: &Program| restrict(p, axis, rows).map(Box::new);
    Some(match program {
        Program::Random { seed, dist, global_shape, offset, shape } => {
            let (mut offset, mut shape) = (offset.clone(), shape.clone());
            *offset.get_mut(axis)? += rows.start;
            *shape.get_mut(axis)? = rows.len();
            Program::Random { seed: *seed, dist: *dist, global_shape: global_shape.clone(), offset, shape }
        }
        Program::Fill { value, shape } => {
            let mut shape = shape.clone();
            *shape.get_mut(axis)? = rows.len();
            Program::Fill { value: *value, shape }
        }
        Program::Unary(op, a) => Program::Unary(*op, boxed(a)?),
        Program::Cast(dtype, a) => Program::Cast(*dtype, boxed(a)?),
        Program::Binary(op, a, b) => {
            let out = shape(program)?;
            Program::Binary(*op, operand(a, &out, axis, rows)?, operand(b, &out, axis, rows)?)
        }
        Program::Where(c, a, b) => {
            let out = shape(program)?;
            Program::Where(
                operand(c, &out, axis, rows)?,
                operand(a, &out, axis, rows)?,
                operand(b, &out, axis, rows)?,
            )
        }
        Program::Transpose(perm, a) => {
            Program::Transpose(perm.clone(), restrict(a, *perm.get(axis)?, rows)?.into())
        }
        _ => return None,
    })
}

/// An operand of a broadcasting step, restricted to what the output's `rows` read: all
/// of it when it is broadcast along `axis`.
fn operand(program: &Program, out: &[usize], axis: usize, rows: &Range<usize>) -> Option<Box<Program>> {
    let own = shape(program)?;
    let lead = out.len().checked_sub(own.len())?;
    if axis < lead || (own[axis - lead] == 1 && out[axis] != 1) {
        return Some(Box::new(program.clone()));
    }
    restrict(program, axis - lead, rows).map(Box::new)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::collections::array::NdArray;
    use crate::collections::array::eval::{assemble, eval};
    use crate::collections::array::program::{BinaryOp, Distribution, UnaryOp};

    fn random(offset: [usize; 2], shape: [usize; 2]) -> Box<Program> {
        Box::new(Program::Random {
            seed: 3,
            dist: Distribution::Uniform,
            global_shape: vec![400, 400],
            offset: offset.to_vec(),
            shape: shape.to_vec(),
        })
    }

    #[test]
    fn bands_joined_are_the_whole_block() {
        // (x + x.T) * 2 - sqrt(row), with a broadcast row and a transposed generator.
        let row = Box::new(Program::Fill { value: 4.0.into(), shape: vec![1, 300] });
        let sum = Program::Binary(
            BinaryOp::Add,
            random([100, 0], [300, 300]),
            Box::new(Program::Transpose(vec![1, 0], random([0, 100], [300, 300]))),
        );
        let program = Program::Binary(
            BinaryOp::Sub,
            Box::new(Program::Binary(
                BinaryOp::Mul,
                Box::new(sum),
                Box::new(Program::Fill { value: 2.0.into(), shape: vec![] }),
            )),
            Box::new(Program::Unary(UnaryOp::Sqrt, row)),
        );
        let whole = eval(&program, &[]).expect("whole");
        let bands = bands(&program).expect("bands");
        assert!(bands.len() > 1);
        let parts: Vec<NdArray> = bands.iter().map(|(_, p)| eval(p, &[]).expect("band")).collect();
        let joined = assemble(&[parts.len(), 1], parts).expect("joined");
        assert_eq!(joined, whole);
    }

    #[test]
    fn programs_with_other_leaves_or_one_band_are_whole() {
        assert!(bands(&Program::Input(0)).is_none());
        assert!(bands(&random([0, 0], [10, 10])).is_none());
        let sliced = Program::Slice(vec![], random([0, 0], [400, 400]));
        assert!(bands(&sliced).is_none());
    }
}
