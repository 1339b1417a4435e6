//! Arrays on a real cluster, checked against the same operations done in-process with
//! ndarray on the whole array.

use dusk::array::{self, Array, ArrayError, DType, Idx, NdArray};
use dusk::testing::{LocalCluster, ProcessCluster};
use dusk::{Client, task};
use ndarray::{ArrayD, Axis, IxDyn};
use rand::rngs::SmallRng;
use rand::{Rng, SeedableRng};

use crate::support::{dusk_binary, eventually};

type Result<T = ()> = std::result::Result<T, Box<dyn std::error::Error>>;

fn data(shape: &[usize], seed: u64) -> ArrayD<f64> {
    let mut rng = SmallRng::seed_from_u64(seed);
    ArrayD::from_shape_fn(IxDyn(shape), |_| rng.random_range(-10.0..10.0))
}

/// Same shape, and every element equal up to rounding (NaN matches NaN).
fn assert_close(what: &str, got: &ArrayD<f64>, want: &ArrayD<f64>) {
    assert_eq!(got.shape(), want.shape(), "{what}: shape");
    for (g, w) in got.iter().zip(want.iter()) {
        let ok = (g.is_nan() && w.is_nan()) || (g - w).abs() <= 1e-9 * (1.0 + w.abs());
        assert!(ok, "{what}: got {g}, want {w}\n got {got:?}\nwant {want:?}");
    }
}

async fn f64s(client: &Client, a: &Array) -> std::result::Result<ArrayD<f64>, ArrayError> {
    a.astype(DType::F64).compute_typed::<f64>(client).await
}

fn fold(a: &ArrayD<f64>, axis: Option<usize>, f: fn(f64, f64) -> f64) -> ArrayD<f64> {
    match axis {
        Some(ax) => a.map_axis(Axis(ax), |lane| lane.iter().copied().reduce(f).unwrap_or(f64::NAN)),
        None => ArrayD::from_elem(IxDyn(&[]), a.iter().copied().reduce(f).unwrap_or(f64::NAN)),
    }
}

fn arg(a: &ArrayD<f64>, axis: Option<usize>, max: bool) -> ArrayD<f64> {
    let best = |it: &mut dyn Iterator<Item = f64>| {
        let mut best: Option<(usize, f64)> = None;
        for (i, v) in it.enumerate() {
            if best.is_none_or(|(_, b)| if max { v > b } else { v < b }) {
                best = Some((i, v));
            }
        }
        best.map_or(-1.0, |(i, _)| i as f64)
    };
    match axis {
        Some(ax) => a.map_axis(Axis(ax), |lane| best(&mut lane.iter().copied())),
        None => ArrayD::from_elem(IxDyn(&[]), best(&mut a.iter().copied())),
    }
}

/// Every reduction over all axes and over each axis, against ndarray.
async fn check_reductions(client: &Client, name: &str, x: &Array, a: &ArrayD<f64>) -> Result {
    let axes: Vec<Option<usize>> = std::iter::once(None).chain((0..a.ndim()).map(Some)).collect();
    for axis in axes {
        let what = |op: &str| format!("{name}.{op}({axis:?})");
        let on = |r: std::result::Result<Array, ArrayError>| r;
        let run = |op: dusk::array::Reduction| on(x.reduce(op, axis));
        let count = axis.map_or(a.len(), |ax| a.shape()[ax]) as f64;
        let sum = match axis {
            Some(ax) => a.sum_axis(Axis(ax)),
            None => ArrayD::from_elem(IxDyn(&[]), a.sum()),
        };
        assert_close(&what("sum"), &f64s(client, &run(dusk::array::Reduction::Sum)?).await?, &sum);
        let mean = sum.mapv(|s| s / count);
        assert_close(&what("mean"), &f64s(client, &run(dusk::array::Reduction::Mean)?).await?, &mean);
        let var = |ddof: f64| -> ArrayD<f64> {
            let dev =
                |lane: &mut dyn Iterator<Item = f64>, m: f64| lane.map(|v| (v - m) * (v - m)).sum::<f64>();
            match axis {
                Some(ax) => {
                    let m = a.mean_axis(Axis(ax));
                    let mut out = a.map_axis(Axis(ax), |_| 0.0);
                    for (o, (lane, m)) in
                        out.iter_mut().zip(a.lanes(Axis(ax)).into_iter().zip(m.iter().flat_map(|m| m.iter())))
                    {
                        *o = dev(&mut lane.iter().copied(), *m) / (count - ddof);
                    }
                    out
                }
                None => {
                    let m = a.sum() / count;
                    ArrayD::from_elem(IxDyn(&[]), dev(&mut a.iter().copied(), m) / (count - ddof))
                }
            }
        };
        if count > 1.0 {
            let v = var(1.0);
            let got = f64s(client, &run(dusk::array::Reduction::Var { ddof: 1 })?).await?;
            assert_close(&what("var"), &got, &v);
            let got = f64s(client, &run(dusk::array::Reduction::Std { ddof: 0 })?).await?;
            assert_close(&what("std"), &got, &var(0.0).mapv(f64::sqrt));
        }
        if a.is_empty() {
            let err = x.reduce(dusk::array::Reduction::Min, axis);
            if count == 0.0 {
                assert!(matches!(err, Err(ArrayError::EmptyReduction { .. })), "{}", what("min"));
            }
            continue;
        }
        let min = fold(a, axis, f64::min);
        assert_close(&what("min"), &f64s(client, &run(dusk::array::Reduction::Min)?).await?, &min);
        let max = fold(a, axis, f64::max);
        assert_close(&what("max"), &f64s(client, &run(dusk::array::Reduction::Max)?).await?, &max);
        assert_close(
            &what("argmax"),
            &f64s(client, &run(dusk::array::Reduction::ArgMax)?).await?,
            &arg(a, axis, true),
        );
        assert_close(
            &what("argmin"),
            &f64s(client, &run(dusk::array::Reduction::ArgMin)?).await?,
            &arg(a, axis, false),
        );
        let positive = x.gt(&array::full(&[], &[], 0.0)?)?;
        let any = fold(&a.mapv(|v| f64::from(u8::from(v > 0.0))), axis, f64::max);
        assert_close(
            &what("any"),
            &f64s(client, &positive.reduce(dusk::array::Reduction::Any, axis)?).await?,
            &any,
        );
        let all = fold(&a.mapv(|v| f64::from(u8::from(v > 0.0))), axis, f64::min);
        assert_close(
            &what("all"),
            &f64s(client, &positive.reduce(dusk::array::Reduction::All, axis)?).await?,
            &all,
        );
    }
    Ok(())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn operations_match_ndarray_on_uneven_0d_1d_3d_and_empty_arrays() -> Result {
    let cluster = LocalCluster::start(2, 1).await?;
    let client = cluster.client().await?;
    let cases: Vec<(Vec<usize>, Vec<usize>)> = vec![
        (vec![7, 5], vec![3, 2]),
        (vec![], vec![]),
        (vec![10], vec![4]),
        (vec![4, 3, 5], vec![3, 2, 2]),
        (vec![0, 3], vec![2, 2]),
    ];
    for (n, (shape, chunks)) in cases.iter().enumerate() {
        let name = format!("{shape:?}/{chunks:?}");
        let a = data(shape, n as u64);
        let b = data(shape, 100 + n as u64);
        let x = array::from_ndarray(&a, chunks)?;
        // The second operand is chunked differently: it is rechunked to match.
        let other: Vec<usize> = chunks.iter().map(|c| c + 1).collect();
        let y = array::from_ndarray(&b, &other)?;
        assert_close(&format!("{name} roundtrip"), &f64s(&client, &x).await?, &a);

        let fused = (&(&(&x * 2.0)? - &y)? / 4.0)?;
        assert_close(
            &format!("{name} (2x - y) / 4"),
            &f64s(&client, &fused).await?,
            &((&a * 2.0 - &b) / 4.0),
        );
        let sq = x.abs()?.sqrt()?.exp()?;
        assert_close(
            &format!("{name} exp(sqrt(|x|))"),
            &f64s(&client, &sq).await?,
            &a.mapv(|v| v.abs().sqrt().exp()),
        );
        let gt = x.gt(&y)?;
        assert_eq!(gt.dtype(), DType::Bool);
        let want = ndarray::Zip::from(&a).and(&b).map_collect(|p, q| p > q);
        assert_eq!(gt.compute_typed::<bool>(&client).await?, want, "{name} x > y");
        let picked = gt.where_(&x, &y)?;
        let want = ndarray::Zip::from(&a).and(&b).map_collect(|p, q| if p > q { *p } else { *q });
        assert_close(&format!("{name} where"), &f64s(&client, &picked).await?, &want);
        assert_close(&format!("{name} t"), &f64s(&client, &x.t()).await?, &a.t().to_owned());
        let rechunked = x.rechunk(&shape.iter().map(|&s| s.max(1)).collect::<Vec<_>>())?;
        assert_close(&format!("{name} rechunk"), &f64s(&client, &rechunked).await?, &a);
        let as_int = x.astype(DType::I64).compute_typed::<i64>(&client).await?;
        assert_eq!(as_int, a.mapv(|v| v as i64), "{name} astype(i64)");
        if !shape.is_empty() {
            // Broadcasting a 1-d row (chunked its own way) against the last axis.
            let last = shape[shape.len() - 1];
            let row = data(&[last], 7);
            let r = array::from_ndarray(&row, &[2])?;
            let sum = (&x + &r)?;
            assert_close(&format!("{name} + row"), &f64s(&client, &sum).await?, &(&a + &row));
            // Slices with steps, negative bounds and a dropped axis.
            let idx = [Idx::range(1, -1).step(2)];
            let want = a.slice_each_axis(|ax| {
                if ax.axis.index() == 0 {
                    let n = ax.len as isize;
                    ndarray::Slice::new(1.min(n), Some((n - 1).max(1.min(n))), 2)
                } else {
                    ndarray::Slice::from(..)
                }
            });
            assert_close(
                &format!("{name} [1:-1:2]"),
                &f64s(&client, &x.slice(&idx)?).await?,
                &want.to_owned(),
            );
            if shape[0] > 0 {
                let want = a.index_axis(Axis(0), shape[0] - 1).to_owned();
                assert_close(
                    &format!("{name} [-1]"),
                    &f64s(&client, &x.slice(&[Idx::At(-1)])?).await?,
                    &want,
                );
            }
            let joined = array::concatenate(&[x.clone(), y.clone(), x.clone()], 0)?;
            let want = ndarray::concatenate(Axis(0), &[a.view(), b.view(), a.view()])?;
            assert_close(&format!("{name} concatenate"), &f64s(&client, &joined).await?, &want);
            let stacked = array::stack(&[x.clone(), y.clone()], 1)?;
            let want = ndarray::stack(Axis(1), &[a.view(), b.view()])?;
            assert_close(&format!("{name} stack"), &f64s(&client, &stacked).await?, &want);
        }
        // Boolean-mask selection: x[x > y].
        let picked = x.select(&gt, &client).await?;
        let want: Vec<f64> = a.iter().zip(b.iter()).filter(|(p, q)| p > q).map(|(p, _)| *p).collect();
        assert_close(
            &format!("{name} x[x > y]"),
            &f64s(&client, &picked).await?,
            &ArrayD::from_shape_vec(IxDyn(&[want.len()]), want)?,
        );
        check_reductions(&client, &name, &x, &a).await?;
    }
    cluster.shutdown().await;
    Ok(())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn seeded_random_is_the_same_for_any_chunking_and_fuses_per_chunk() -> Result {
    let cluster = LocalCluster::start(2, 1).await?;
    let client = cluster.client().await?;
    let shape = [9, 7, 5];
    let whole = array::random(&shape, &shape, 11)?.compute_typed::<f64>(&client).await?;
    for chunks in [[2, 3, 4], [9, 1, 5], [4, 7, 2]] {
        let x = array::random(&shape, &chunks, 11)?;
        assert_eq!(x.compute_typed::<f64>(&client).await?, whole, "chunks {chunks:?}");
    }
    assert!(whole.iter().all(|v| (0.0..1.0).contains(v)));
    let other = array::random(&shape, &shape, 12)?.compute_typed::<f64>(&client).await?;
    assert_ne!(other, whole, "another seed gives other values");
    let normal = array::random_normal(&[20_000], &[3_000], 5)?;
    let stats = (
        normal.mean()?.compute_typed::<f64>(&client).await?,
        normal.std(0)?.compute_typed::<f64>(&client).await?,
    );
    assert!(stats.0.sum().abs() < 0.05 && (stats.1.sum() - 1.0).abs() < 0.05, "normal mean/std {stats:?}");

    // (x + 1) * 2 over 6 chunks runs as 6 tasks: generation and both operations fused.
    let before = client.task_history("").await?.len();
    let x = array::random(&[6, 4], &[1, 4], 3)?;
    let y = (&(&x + 1.0)? * 2.0)?;
    let got = y.compute_typed::<f64>(&client).await?;
    let want = x.compute_typed::<f64>(&client).await?.mapv(|v| (v + 1.0) * 2.0);
    assert_close("(x + 1) * 2", &got, &want);
    let runs = client.task_history("").await?;
    assert_eq!(runs.len() - before, 12, "6 fused tasks for y, then 6 for x: {runs:?}");
    assert!(runs.iter().any(|r| r.key.starts_with("mul-")), "tasks are named for their last step");

    // Reductions of generated blocks run band by band of rows inside each task; every
    // reduction over every axis must still match the whole array's.
    let x = array::random(&[300, 300], &[200, 200], 8)?;
    let y = (&(&(&x + &x.t())? * 2.0)? - 1.0)?;
    let a = x.compute_typed::<f64>(&client).await?.into_dimensionality::<ndarray::Ix2>()?;
    let b = ((&a + &a.t()) * 2.0 - 1.0).into_dyn();
    check_reductions(&client, "(x + x.T) * 2 - 1", &y, &b).await?;

    // arange and linspace.
    let r = array::arange(0.5, 10.0, 1.5, 3)?.compute_typed::<f64>(&client).await?;
    assert_eq!(r.into_raw_vec_and_offset().0, vec![0.5, 2.0, 3.5, 5.0, 6.5, 8.0, 9.5]);
    let l = array::linspace(0.0, 1.0, 5, 2)?.compute_typed::<f64>(&client).await?;
    assert_eq!(l.into_raw_vec_and_offset().0, vec![0.0, 0.25, 0.5, 0.75, 1.0]);
    let z = array::zeros(&[3, 2], &[2, 2])?.sum()?.compute_typed::<f64>(&client).await?;
    assert_eq!(z.sum(), 0.0);
    let o = array::full(&[3, 2], &[2, 1], 7i64)?.sum()?.compute_typed::<i64>(&client).await?;
    assert_eq!(o.sum(), 42);
    cluster.shutdown().await;
    Ok(())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn matmul_of_non_square_chunked_matrices() -> Result {
    let cluster = LocalCluster::start(2, 1).await?;
    let client = cluster.client().await?;
    let (a, b) = (data(&[37, 23], 1), data(&[23, 11], 2));
    // Inner chunks differ (7 against 5): the right operand is rechunked to match.
    let x = array::from_ndarray(&a, &[10, 7])?;
    let y = array::from_ndarray(&b, &[5, 4])?;
    let want = a
        .clone()
        .into_dimensionality::<ndarray::Ix2>()?
        .dot(&b.clone().into_dimensionality::<ndarray::Ix2>()?);
    assert_close("x @ y", &x.matmul(&y)?.compute_typed::<f64>(&client).await?, &want.into_dyn());
    // Twenty inner chunks, one product per task: twenty partial sums, a two-level tree.
    let (c, d) = (data(&[5, 200], 3), data(&[200, 6], 4));
    let p =
        array::from_ndarray(&c, &[3, 10])?.matmul_grouped(&array::from_ndarray(&d, &[10, 4])?, Some(1))?;
    let want = c
        .clone()
        .into_dimensionality::<ndarray::Ix2>()?
        .dot(&d.clone().into_dimensionality::<ndarray::Ix2>()?);
    assert_close("wide @ tall", &p.compute_typed::<f64>(&client).await?, &want.into_dyn());
    // 1-d operands, f32 and i64.
    let v = data(&[23], 5);
    let xv = x.matmul(&array::from_ndarray(&v, &[6])?)?;
    let want = a
        .clone()
        .into_dimensionality::<ndarray::Ix2>()?
        .dot(&v.clone().into_dimensionality::<ndarray::Ix1>()?);
    assert_close("x @ v", &xv.compute_typed::<f64>(&client).await?, &want.into_dyn());
    let ints = ArrayD::from_shape_fn(IxDyn(&[4, 6]), |i| (i[0] * 6 + i[1]) as i64 - 7);
    let m = array::from_ndarray(&ints, &[3, 4])?;
    let got = m.matmul(&m.t())?.compute_typed::<i64>(&client).await?;
    let i2 = ints.clone().into_dimensionality::<ndarray::Ix2>()?;
    assert_eq!(got, i2.dot(&i2.t()).into_dyn());
    let f = x.astype(DType::F32).matmul(&y.astype(DType::F32))?;
    assert_eq!(f.dtype(), DType::F32);
    let got = f.compute_typed::<f32>(&client).await?.mapv(f64::from);
    let want = a.into_dimensionality::<ndarray::Ix2>()?.dot(&b.into_dimensionality::<ndarray::Ix2>()?);
    for (g, w) in got.iter().zip(want.iter()) {
        assert!((g - w).abs() < 1e-3 * (1.0 + w.abs()), "f32 matmul {g} vs {w}");
    }
    cluster.shutdown().await;
    Ok(())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn mismatches_are_errors_at_the_call() -> Result {
    let x = array::ones(&[4, 6], &[2, 3])?;
    let y = array::ones(&[5], &[5])?;
    assert!(matches!(&x + &y, Err(ArrayError::Broadcast { .. })));
    assert!(matches!(x.matmul(&x), Err(ArrayError::Shape { .. })));
    assert!(matches!(x.sum_axis(2), Err(ArrayError::Axis { axis: 2, ndim: 2, .. })));
    assert!(matches!(array::ones(&[4], &[0]), Err(ArrayError::Chunks { .. })));
    assert!(matches!(array::ones(&[4, 4], &[2]), Err(ArrayError::Chunks { .. })));
    assert!(matches!(x.slice(&[Idx::At(4)]), Err(ArrayError::Index { index: 4, axis: 0, len: 4 })));
    assert!(matches!(array::ones(&[0], &[1])?.max(), Err(ArrayError::EmptyReduction { .. })));
    assert!(matches!(array::concatenate(&[x.clone(), x.t()], 0), Err(ArrayError::Shape { .. })));
    assert!(matches!(x.and(&x), Err(ArrayError::Type { .. })));
    assert!(matches!(x.transpose(&[0, 0]), Err(ArrayError::Shape { .. })));
    assert!(matches!(array::from_npy("/nonexistent/*.npy"), Err(ArrayError::File { .. })));
    let message = (&x + &y).err().map(|e| e.to_string()).unwrap_or_default();
    assert!(message.contains("[4, 6]") && message.contains("[5]"), "{message}");

    let cluster = LocalCluster::start(1, 1).await?;
    let client = cluster.client().await?;
    assert!(matches!(x.compute_typed::<i64>(&client).await, Err(ArrayError::WrongType { .. })));
    cluster.shutdown().await;
    Ok(())
}

task! {
    /// A block function for `map_blocks`: doubles every element.
    fn double_block(block: NdArray) -> NdArray {
        match block {
            NdArray::F64(a) => NdArray::F64(a * 2.0),
            other => other,
        }
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn map_blocks_persist_and_files() -> Result {
    let cluster = LocalCluster::start(2, 1).await?;
    let client = cluster.client().await?;
    let a = data(&[9, 4], 9);
    let x = array::from_ndarray(&a, &[4, 3])?;
    let doubled = x.map_blocks(double_block, DType::F64)?;
    assert_close("map_blocks", &doubled.compute_typed::<f64>(&client).await?, &(&a * 2.0));

    let kept = (&x + 1.0)?.persist(&client)?;
    eventually("persisted chunks to be in memory", || async {
        client
            .cluster_info()
            .await
            .map(|i| i.tasks_by_state.get("memory").copied().unwrap_or(0) >= 6)
            .unwrap_or(false)
    })
    .await;
    let sum = kept.sum()?.compute_typed::<f64>(&client).await?;
    assert!((sum.sum() - (a.sum() + 36.0)).abs() < 1e-9);

    let dir = tempfile::tempdir()?;
    for (i, rows) in [(0, 0..3), (1, 3..7), (2, 7..9)] {
        let part = array::from_ndarray(&a.slice(ndarray::s![rows, ..]).to_owned().into_dyn(), &[2, 2])?;
        part.to_npy(&client, dir.path().join(format!("part-{i}.npy"))).await?;
    }
    let pattern = format!("{}/part-*.npy", dir.path().display());
    let stacked = array::from_npy(&pattern)?;
    assert_eq!(stacked.chunks()[0], vec![3, 4, 2]);
    assert_close("from_npy", &stacked.compute_typed::<f64>(&client).await?, &a);

    let parquet = dir.path().join("col.parquet");
    {
        use arrow::array::{Float64Array, RecordBatch};
        use datafusion::parquet::arrow::ArrowWriter;
        use datafusion::parquet::file::properties::WriterProperties;
        let schema = std::sync::Arc::new(arrow::datatypes::Schema::new(vec![arrow::datatypes::Field::new(
            "v",
            arrow::datatypes::DataType::Float64,
            false,
        )]));
        let props = WriterProperties::builder().set_max_row_group_row_count(Some(4)).build();
        let mut writer = ArrowWriter::try_new(std::fs::File::create(&parquet)?, schema.clone(), Some(props))?;
        let values: Vec<f64> = (0..10).map(f64::from).collect();
        writer
            .write(&RecordBatch::try_new(schema, vec![std::sync::Arc::new(Float64Array::from(values))])?)?;
        writer.close()?;
    }
    let col = array::from_parquet(&parquet, "v")?;
    assert_eq!(col.chunks()[0], vec![4, 4, 2]);
    assert_eq!(col.sum()?.compute_typed::<f64>(&client).await?.sum(), 45.0);
    assert!(matches!(array::from_parquet(&parquet, "nope"), Err(ArrayError::File { .. })));
    cluster.shutdown().await;
    Ok(())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_worker_killed_during_an_array_reduction_still_gives_the_answer() -> Result {
    let cluster = ProcessCluster::start(dusk_binary(), 2, 1).await?;
    let client = Client::connect(cluster.url()).await?;
    let shape = [6000, 6000];
    // The reference runs first, chunked another way: seeded values do not depend on it.
    let want =
        array::random(&shape, &[3000, 6000], 21)?.std_axis(0, 1)?.compute_typed::<f64>(&client).await?;
    let x = array::random(&shape, &[500, 500], 21)?;
    let running = {
        let client = client.clone();
        let y = x.std_axis(0, 1)?;
        tokio::spawn(async move { y.compute_typed::<f64>(&client).await })
    };
    eventually("array partials to finish", || async {
        client.task_history("std-partial").await.map(|h| h.len() >= 10).unwrap_or(false)
    })
    .await;
    assert!(!running.is_finished(), "the reduction must still run when the worker dies");
    cluster.kill_worker(&client, 0).await?;
    let got = tokio::time::timeout(std::time::Duration::from_secs(300), running).await???;
    assert_close("std after a kill", &got, &want);
    cluster.terminate().await?;
    Ok(())
}
