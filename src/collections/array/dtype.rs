//! Element types, scalars and the in-memory n-dimensional array of any element type.

use std::fmt;

use ndarray::{ArrayD, IxDyn};
use serde::{Deserialize, Serialize};

/// The element type of an [`Array`](super::Array).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
pub enum DType {
    /// `bool`.
    Bool,
    /// `i64`.
    I64,
    /// `f32`.
    F32,
    /// `f64`.
    F64,
}

impl DType {
    /// Bytes per element as held in memory.
    pub fn size(self) -> usize {
        match self {
            DType::Bool => 1,
            DType::I64 | DType::F64 => 8,
            DType::F32 => 4,
        }
    }

    /// Whether the type is `f32` or `f64`.
    pub fn is_float(self) -> bool {
        matches!(self, DType::F32 | DType::F64)
    }

    /// The type two operands of an arithmetic operation are computed in.
    ///
    /// As NumPy: the wider wins, `i64` with `f32` is `f64`. Unlike NumPy, `bool` with
    /// `bool` is `i64`, so `+` counts rather than ors.
    pub fn promote(self, other: DType) -> DType {
        use DType::*;
        match (self, other) {
            (F64, _) | (_, F64) | (F32, I64) | (I64, F32) => F64,
            (F32, _) | (_, F32) => F32,
            _ => I64,
        }
    }

    /// The type a float-valued function (division, `sqrt`, `mean`) gives on this type.
    pub fn float(self) -> DType {
        if self == DType::F32 { DType::F32 } else { DType::F64 }
    }
}

impl fmt::Display for DType {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            DType::Bool => "bool",
            DType::I64 => "i64",
            DType::F32 => "f32",
            DType::F64 => "f64",
        })
    }
}

/// One value of any element type.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub enum Scalar {
    /// A `bool`.
    Bool(bool),
    /// An `i64`.
    I64(i64),
    /// An `f32`.
    F32(f32),
    /// An `f64`.
    F64(f64),
}

impl Scalar {
    /// Its element type.
    pub fn dtype(self) -> DType {
        match self {
            Scalar::Bool(_) => DType::Bool,
            Scalar::I64(_) => DType::I64,
            Scalar::F32(_) => DType::F32,
            Scalar::F64(_) => DType::F64,
        }
    }

    /// The value as an `f64`.
    pub fn as_f64(self) -> f64 {
        match self {
            Scalar::Bool(b) => f64::from(u8::from(b)),
            Scalar::I64(v) => v as f64,
            Scalar::F32(v) => f64::from(v),
            Scalar::F64(v) => v,
        }
    }

    /// The value converted to `dtype`, as NumPy's `astype` does.
    pub fn cast(self, dtype: DType) -> Scalar {
        match dtype {
            DType::Bool => Scalar::Bool(self.as_f64() != 0.0),
            DType::I64 => Scalar::I64(match self {
                Scalar::I64(v) => v,
                other => other.as_f64() as i64,
            }),
            DType::F32 => Scalar::F32(self.as_f64() as f32),
            DType::F64 => Scalar::F64(self.as_f64()),
        }
    }
}

impl From<f64> for Scalar {
    fn from(v: f64) -> Self {
        Scalar::F64(v)
    }
}

impl From<f32> for Scalar {
    fn from(v: f32) -> Self {
        Scalar::F32(v)
    }
}

impl From<i64> for Scalar {
    fn from(v: i64) -> Self {
        Scalar::I64(v)
    }
}

impl From<bool> for Scalar {
    fn from(v: bool) -> Self {
        Scalar::Bool(v)
    }
}

/// An in-memory n-dimensional array of any element type: one chunk, or a computed array.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub enum NdArray {
    /// `bool` elements.
    Bool(ArrayD<bool>),
    /// `i64` elements.
    I64(ArrayD<i64>),
    /// `f32` elements.
    F32(ArrayD<f32>),
    /// `f64` elements.
    F64(ArrayD<f64>),
}

/// Applies `$body` to the array inside any [`NdArray`], binding it to `$a`.
macro_rules! with_array {
    ($value:expr, $a:ident => $body:expr) => {
        match $value {
            NdArray::Bool($a) => $body,
            NdArray::I64($a) => $body,
            NdArray::F32($a) => $body,
            NdArray::F64($a) => $body,
        }
    };
}
pub(crate) use with_array;

impl NdArray {
    /// Its element type.
    pub fn dtype(&self) -> DType {
        match self {
            NdArray::Bool(_) => DType::Bool,
            NdArray::I64(_) => DType::I64,
            NdArray::F32(_) => DType::F32,
            NdArray::F64(_) => DType::F64,
        }
    }

    /// Its shape.
    pub fn shape(&self) -> &[usize] {
        with_array!(self, a => a.shape())
    }

    /// Number of elements.
    pub fn len(&self) -> usize {
        with_array!(self, a => a.len())
    }

    /// Whether it has no elements.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// An array of `shape` filled with `value`.
    pub fn full(shape: &[usize], value: Scalar) -> NdArray {
        let shape = IxDyn(shape);
        match value {
            Scalar::Bool(v) => NdArray::Bool(ArrayD::from_elem(shape, v)),
            Scalar::I64(v) => NdArray::I64(ArrayD::from_elem(shape, v)),
            Scalar::F32(v) => NdArray::F32(ArrayD::from_elem(shape, v)),
            Scalar::F64(v) => NdArray::F64(ArrayD::from_elem(shape, v)),
        }
    }

    /// The array converted to `dtype` (a no-op when it already is).
    pub fn cast(self, dtype: DType) -> NdArray {
        if self.dtype() == dtype {
            return self;
        }
        match dtype {
            DType::Bool => NdArray::Bool(with_array!(self, a => a.mapv(|v| v.to_f64() != 0.0))),
            DType::I64 => NdArray::I64(match self {
                NdArray::Bool(a) => a.mapv(i64::from),
                NdArray::F32(a) => a.mapv(|v| v as i64),
                NdArray::F64(a) => a.mapv(|v| v as i64),
                NdArray::I64(a) => a,
            }),
            DType::F32 => NdArray::F32(with_array!(self, a => a.mapv(|v| v.to_f64() as f32))),
            DType::F64 => NdArray::F64(with_array!(self, a => a.mapv(|v| v.to_f64()))),
        }
    }

    /// The element at flat (row-major) position `index`, if there is one.
    pub fn get_flat(&self, index: usize) -> Option<Scalar> {
        match self {
            NdArray::Bool(a) => a.iter().nth(index).map(|v| Scalar::Bool(*v)),
            NdArray::I64(a) => a.iter().nth(index).map(|v| Scalar::I64(*v)),
            NdArray::F32(a) => a.iter().nth(index).map(|v| Scalar::F32(*v)),
            NdArray::F64(a) => a.iter().nth(index).map(|v| Scalar::F64(*v)),
        }
    }

    /// The typed array inside, if its element type is `T`.
    pub fn into_typed<T: Element>(self) -> Option<ArrayD<T>> {
        T::from_nd(self)
    }
}

/// A Rust type an [`Array`](super::Array) can hold: `bool`, `i64`, `f32`, `f64`.
pub trait Element: Copy + Send + Sync + fmt::Debug + PartialOrd + 'static {
    /// Its [`DType`].
    const DTYPE: DType;
    /// The value as an `f64`.
    fn to_f64(self) -> f64;
    /// Wraps a typed array.
    fn into_nd(a: ArrayD<Self>) -> NdArray;
    /// Unwraps a typed array of this type.
    fn from_nd(a: NdArray) -> Option<ArrayD<Self>>;
    /// The value as a [`Scalar`].
    fn scalar(self) -> Scalar;
}

macro_rules! element {
    ($t:ty, $variant:ident, $to_f64:expr) => {
        impl Element for $t {
            const DTYPE: DType = DType::$variant;
            fn to_f64(self) -> f64 {
                let f: fn($t) -> f64 = $to_f64;
                f(self)
            }
            fn into_nd(a: ArrayD<Self>) -> NdArray {
                NdArray::$variant(a)
            }
            fn from_nd(a: NdArray) -> Option<ArrayD<Self>> {
                match a {
                    NdArray::$variant(a) => Some(a),
                    _ => None,
                }
            }
            fn scalar(self) -> Scalar {
                Scalar::$variant(self)
            }
        }
    };
}

element!(bool, Bool, |v| f64::from(u8::from(v)));
element!(i64, I64, |v| v as f64);
element!(f32, F32, f64::from);
element!(f64, F64, |v| v);

impl<T: Element> From<ArrayD<T>> for NdArray {
    fn from(a: ArrayD<T>) -> Self {
        T::into_nd(a)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn promotion_follows_numpy_except_bool_arithmetic() {
        assert_eq!(DType::I64.promote(DType::F32), DType::F64);
        assert_eq!(DType::F32.promote(DType::Bool), DType::F32);
        assert_eq!(DType::Bool.promote(DType::Bool), DType::I64);
        assert_eq!(DType::I64.float(), DType::F64);
    }

    #[test]
    fn casts_convert_every_element() {
        let a = NdArray::F64(ArrayD::from_shape_vec(IxDyn(&[3]), vec![0.0, 1.5, -2.5]).expect("shape"));
        assert_eq!(
            a.clone().cast(DType::I64).into_typed::<i64>().expect("i64").into_raw_vec_and_offset().0,
            vec![0, 1, -2]
        );
        assert_eq!(
            a.cast(DType::Bool).into_typed::<bool>().expect("bool").into_raw_vec_and_offset().0,
            vec![false, true, true]
        );
    }
}
