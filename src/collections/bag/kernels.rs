//! The registered functions bag tasks run on workers.
//!
//! A partition is a JSON array (a task value of bytes). Each kernel takes a postcard
//! spec first and partitions after it. Chains of `map`, `filter` and `flat_map` run in
//! one task per partition ([`PipelineSpec`]); aggregations run a partial per partition
//! fused with its pipeline, then merge partials in a tree.

use std::cmp::Ordering;
use std::collections::HashMap;
use std::hash::{DefaultHasher, Hash, Hasher};
use std::io::Write;

use serde::{Deserialize, Serialize};
use serde_json::Value as Json;

use super::functions::ElementFunctions;
use super::text::{TextSource, read_lines};
use crate::collections::{kernel_spec as spec, raised};
use crate::functions::{CallError, Registration};
use crate::graph::Value;

/// Runs a partition's pipeline.
pub(crate) const PIPELINE: &str = "bag_partition";
/// An aggregation's partial over one partition.
pub(crate) const PARTIAL: &str = "bag_partial";
/// Merges aggregation partials; the last merge finishes.
pub(crate) const COMBINE: &str = "bag_combine";
/// Splits a partition in buckets by key, for `groupby`.
pub(crate) const SPLIT: &str = "bag_split";
/// One bucket of a split.
pub(crate) const BUCKET: &str = "bag_bucket";
/// Groups the buckets of one output partition by key.
pub(crate) const GROUP: &str = "bag_group";
/// Writes a partition to a text file.
pub(crate) const WRITE: &str = "bag_write";

/// Where a partition's elements come from.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub(crate) enum Source {
    /// Task argument 1: another task's partition.
    Input,
    /// Elements given inline, as a JSON array.
    Literal(String),
    /// The lines of a text file or object (gzip or zstd by its extension).
    Text(TextSource),
}

/// One step of a pipeline, naming an element function.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub(crate) enum Op {
    /// `f(x)` for each element.
    Map(String),
    /// Elements for which `f(x)` is true.
    Filter(String),
    /// The elements of `f(x)` (a list) for each element.
    FlatMap(String),
    /// `f(partition)` (a list) for the whole partition.
    MapPartition(String),
}

/// A partition: its source and the steps after it.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub(crate) struct PipelineSpec {
    pub(crate) source: Source,
    pub(crate) ops: Vec<Op>,
}

/// An aggregation over the whole bag. JSON values in it are JSON text.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub(crate) enum Agg {
    /// Number of elements.
    Count,
    /// `binop(acc, x)` from `initial` per partition, partials merged with `combine`.
    Fold { binop: String, combine: String, initial: String },
    /// `perpartition(list)` per partition, then `aggregate(list of those)` once.
    Reduction { perpartition: String, aggregate: String },
    /// Each distinct element with its count.
    Frequencies,
    /// The `k` largest elements (by `key(x)` if given), largest first.
    TopK { k: usize, key: Option<String> },
    /// Each distinct element once.
    Distinct,
    /// Per `key(x)`: `binop(acc, x)` from `initial`, merged across partitions with `combine`.
    FoldBy { key: String, binop: String, initial: String, combine: String },
}

/// What [`PARTIAL`] runs.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub(crate) struct PartialSpec {
    pub(crate) pipeline: PipelineSpec,
    pub(crate) agg: Agg,
}

/// What [`COMBINE`] runs.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub(crate) struct CombineSpec {
    pub(crate) agg: Agg,
    pub(crate) last: bool,
}

/// What [`SPLIT`] runs.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub(crate) struct SplitSpec {
    pub(crate) pipeline: PipelineSpec,
    pub(crate) key: String,
    pub(crate) buckets: usize,
}

/// What [`WRITE`] runs.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub(crate) struct WriteSpec {
    pub(crate) pipeline: PipelineSpec,
    pub(crate) path: String,
}

/// A partition value's elements.
pub(crate) fn elements(value: &Value) -> Result<Vec<Json>, String> {
    let Value::Bytes(b) = value else { return Err("a bag partition is not a byte value".into()) };
    serde_json::from_slice(b).map_err(|e| format!("a bag partition is not a JSON array: {e}"))
}

fn json_value(json: &Json) -> Result<Value, CallError> {
    serde_json::to_vec(json).map(|v| Value::Bytes(v.into())).map_err(|e| CallError::Encode(e.to_string()))
}

fn parse(text: &str, what: &str) -> Result<Json, String> {
    serde_json::from_str(text).map_err(|e| format!("{what}: {e}"))
}

/// Runs a pipeline: its source's elements through its steps.
pub(crate) fn run_pipeline(
    spec: &PipelineSpec,
    inputs: &[Value],
    fns: &ElementFunctions,
) -> Result<Vec<Json>, String> {
    let mut items = match &spec.source {
        Source::Input => elements(inputs.first().ok_or("the partition's input is missing")?)?,
        Source::Literal(text) => match parse(text, "inline elements")? {
            Json::Array(items) => items,
            _ => return Err("inline elements are not a list".into()),
        },
        Source::Text(source) => read_lines(source)?,
    };
    for op in &spec.ops {
        items = match op {
            Op::Map(f) => {
                let f = fns.get(f)?;
                items.into_iter().map(|x| f(vec![x])).collect::<Result<_, _>>()?
            }
            Op::Filter(f) => {
                let f = fns.get(f)?;
                let mut kept = Vec::with_capacity(items.len());
                for x in items {
                    match f(vec![x.clone()])? {
                        Json::Bool(true) => kept.push(x),
                        Json::Bool(false) => {}
                        other => return Err(format!("a filter returned {other}, not a bool")),
                    }
                }
                kept
            }
            Op::FlatMap(f) => {
                let f = fns.get(f)?;
                let mut out = Vec::new();
                for x in items {
                    match f(vec![x])? {
                        Json::Array(more) => out.extend(more),
                        other => return Err(format!("flat_map's function returned {other}, not a list")),
                    }
                }
                out
            }
            Op::MapPartition(f) => match fns.get(f)?(vec![Json::Array(items)])? {
                Json::Array(out) => out,
                other => return Err(format!("map_partitions' function returned {other}, not a list")),
            },
        };
    }
    Ok(items)
}

/// A total order on JSON values: null, bools, numbers, strings, arrays, objects.
pub(crate) fn compare(a: &Json, b: &Json) -> Ordering {
    fn rank(v: &Json) -> u8 {
        match v {
            Json::Null => 0,
            Json::Bool(_) => 1,
            Json::Number(_) => 2,
            Json::String(_) => 3,
            Json::Array(_) => 4,
            Json::Object(_) => 5,
        }
    }
    match (a, b) {
        (Json::Bool(x), Json::Bool(y)) => x.cmp(y),
        (Json::Number(x), Json::Number(y)) => {
            let (x, y) = (x.as_f64().unwrap_or(f64::NAN), y.as_f64().unwrap_or(f64::NAN));
            x.total_cmp(&y)
        }
        (Json::String(x), Json::String(y)) => x.cmp(y),
        (Json::Array(x), Json::Array(y)) => {
            x.iter().zip(y).map(|(p, q)| compare(p, q)).find(|o| o.is_ne()).unwrap_or(x.len().cmp(&y.len()))
        }
        (Json::Object(_), Json::Object(_)) => a.to_string().cmp(&b.to_string()),
        _ => rank(a).cmp(&rank(b)),
    }
}

/// A key standing for a JSON value's identity (objects' keys are kept sorted).
fn identity(v: &Json) -> String {
    v.to_string()
}

fn pair(a: Json, b: Json) -> Json {
    Json::Array(vec![a, b])
}

fn split_pair(v: Json) -> Result<(Json, Json), String> {
    match v {
        Json::Array(mut p) if p.len() == 2 => {
            let b = p.pop().unwrap_or(Json::Null);
            let a = p.pop().unwrap_or(Json::Null);
            Ok((a, b))
        }
        other => Err(format!("expected a pair, found {other}")),
    }
}

fn top(mut items: Vec<(Json, Json)>, k: usize) -> Vec<(Json, Json)> {
    items.sort_by(|a, b| compare(&b.0, &a.0));
    items.truncate(k);
    items
}

/// The partial of one partition's elements.
fn partial_of(agg: &Agg, items: Vec<Json>, fns: &ElementFunctions) -> Result<Json, String> {
    Ok(match agg {
        Agg::Count => Json::from(items.len() as u64),
        Agg::Fold { binop, initial, .. } => {
            let f = fns.get(binop)?;
            items.into_iter().try_fold(parse(initial, "fold's initial value")?, |acc, x| f(vec![acc, x]))?
        }
        Agg::Reduction { perpartition, .. } => fns.get(perpartition)?(vec![Json::Array(items)])?,
        Agg::Frequencies => {
            let mut counts: HashMap<String, (Json, u64)> = HashMap::new();
            for x in items {
                counts.entry(identity(&x)).or_insert((x, 0)).1 += 1;
            }
            Json::Array(counts.into_values().map(|(x, n)| pair(x, Json::from(n))).collect())
        }
        Agg::TopK { k, key } => {
            let keyed = match key {
                Some(f) => {
                    let f = fns.get(f)?;
                    items
                        .into_iter()
                        .map(|x| Ok((f(vec![x.clone()])?, x)))
                        .collect::<Result<Vec<_>, String>>()?
                }
                None => items.into_iter().map(|x| (x.clone(), x)).collect(),
            };
            Json::Array(top(keyed, *k).into_iter().map(|(k, x)| pair(k, x)).collect())
        }
        Agg::Distinct => {
            let mut seen = HashMap::new();
            for x in items {
                seen.entry(identity(&x)).or_insert(x);
            }
            Json::Array(seen.into_values().collect())
        }
        Agg::FoldBy { key, binop, initial, .. } => {
            let (key, binop) = (fns.get(key)?, fns.get(binop)?);
            let initial = parse(initial, "foldby's initial value")?;
            let mut groups: HashMap<String, (Json, Json)> = HashMap::new();
            for x in items {
                let k = key(vec![x.clone()])?;
                let entry = groups.entry(identity(&k)).or_insert_with(|| (k, initial.clone()));
                entry.1 = binop(vec![std::mem::take(&mut entry.1), x])?;
            }
            Json::Array(groups.into_values().map(|(k, acc)| pair(k, acc)).collect())
        }
    })
}

/// Merges partials; `last` finishes (sorting, dropping sort keys).
fn combine_of(agg: &Agg, partials: Vec<Json>, last: bool, fns: &ElementFunctions) -> Result<Json, String> {
    let lists = |partials: Vec<Json>| -> Result<Vec<Json>, String> {
        let mut out = Vec::new();
        for p in partials {
            match p {
                Json::Array(items) => out.extend(items),
                other => return Err(format!("a partial is {other}, not a list")),
            }
        }
        Ok(out)
    };
    Ok(match agg {
        Agg::Count => Json::from(partials.iter().map(|p| p.as_u64().unwrap_or(0)).sum::<u64>()),
        Agg::Fold { combine, .. } => {
            let f = fns.get(combine)?;
            let mut it = partials.into_iter();
            let first = it.next().ok_or("no partials to combine")?;
            it.try_fold(first, |acc, p| f(vec![acc, p]))?
        }
        Agg::Reduction { aggregate, .. } => fns.get(aggregate)?(vec![Json::Array(partials)])?,
        Agg::Frequencies => {
            let mut counts: HashMap<String, (Json, u64)> = HashMap::new();
            for p in lists(partials)? {
                let (x, n) = split_pair(p)?;
                counts.entry(identity(&x)).or_insert((x, 0)).1 += n.as_u64().unwrap_or(0);
            }
            let mut out: Vec<(Json, u64)> = counts.into_values().collect();
            if last {
                out.sort_by(|a, b| b.1.cmp(&a.1).then_with(|| compare(&a.0, &b.0)));
            }
            Json::Array(out.into_iter().map(|(x, n)| pair(x, Json::from(n))).collect())
        }
        Agg::TopK { k, .. } => {
            let items = lists(partials)?.into_iter().map(split_pair).collect::<Result<Vec<_>, _>>()?;
            let best = top(items, *k);
            if last {
                Json::Array(best.into_iter().map(|(_, x)| x).collect())
            } else {
                Json::Array(best.into_iter().map(|(k, x)| pair(k, x)).collect())
            }
        }
        Agg::Distinct => {
            let mut seen = HashMap::new();
            for x in lists(partials)? {
                seen.entry(identity(&x)).or_insert(x);
            }
            let mut out: Vec<Json> = seen.into_values().collect();
            if last {
                out.sort_by(compare);
            }
            Json::Array(out)
        }
        Agg::FoldBy { combine, .. } => {
            let combine = fns.get(combine)?;
            let mut groups: HashMap<String, (Json, Json)> = HashMap::new();
            for p in lists(partials)? {
                let (k, acc) = split_pair(p)?;
                match groups.get_mut(&identity(&k)) {
                    Some(entry) => entry.1 = combine(vec![std::mem::take(&mut entry.1), acc])?,
                    None => {
                        groups.insert(identity(&k), (k, acc));
                    }
                }
            }
            let mut out: Vec<(Json, Json)> = groups.into_values().collect();
            if last {
                out.sort_by(|a, b| compare(&a.0, &b.0));
            }
            Json::Array(out.into_iter().map(|(k, acc)| pair(k, acc)).collect())
        }
    })
}

fn pipeline(args: &[Value]) -> Result<Value, CallError> {
    let (spec, inputs) = spec::<PipelineSpec>(args)?;
    let items = run_pipeline(&spec, inputs, ElementFunctions::linked()).map_err(raised)?;
    json_value(&Json::Array(items))
}

fn partial(args: &[Value]) -> Result<Value, CallError> {
    let (spec, inputs) = spec::<PartialSpec>(args)?;
    let fns = ElementFunctions::linked();
    let items = run_pipeline(&spec.pipeline, inputs, fns).map_err(raised)?;
    json_value(&partial_of(&spec.agg, items, fns).map_err(raised)?)
}

fn combine(args: &[Value]) -> Result<Value, CallError> {
    let (spec, inputs) = spec::<CombineSpec>(args)?;
    let fns = ElementFunctions::linked();
    let partials = inputs
        .iter()
        .map(|v| match v {
            Value::Bytes(b) => serde_json::from_slice(b).map_err(|e| raised(format!("a partial: {e}"))),
            _ => Err(raised("a partial is not a byte value")),
        })
        .collect::<Result<Vec<Json>, _>>()?;
    json_value(&combine_of(&spec.agg, partials, spec.last, fns).map_err(raised)?)
}

fn split(args: &[Value]) -> Result<Value, CallError> {
    let (spec, inputs) = spec::<SplitSpec>(args)?;
    let fns = ElementFunctions::linked();
    let items = run_pipeline(&spec.pipeline, inputs, fns).map_err(raised)?;
    let key = fns.get(&spec.key).map_err(raised)?;
    let mut buckets: Vec<Vec<Json>> = vec![Vec::new(); spec.buckets.max(1)];
    for x in items {
        let k = key(vec![x.clone()]).map_err(raised)?;
        let mut h = DefaultHasher::new();
        identity(&k).hash(&mut h);
        let n = buckets.len();
        buckets[(h.finish() % n as u64) as usize].push(pair(k, x));
    }
    json_value(&Json::Array(buckets.into_iter().map(Json::Array).collect()))
}

fn bucket(args: &[Value]) -> Result<Value, CallError> {
    let (index, inputs) = spec::<usize>(args)?;
    let split = inputs.first().ok_or_else(|| raised("the split is missing"))?;
    let mut buckets = elements(split).map_err(raised)?;
    if index >= buckets.len() {
        return Err(raised(format!("bucket {index} of {}", buckets.len())));
    }
    json_value(&buckets.swap_remove(index))
}

fn group(args: &[Value]) -> Result<Value, CallError> {
    let (_, inputs) = spec::<()>(args)?;
    let mut order: Vec<String> = Vec::new();
    let mut groups: HashMap<String, (Json, Vec<Json>)> = HashMap::new();
    for input in inputs {
        for p in elements(input).map_err(raised)? {
            let (k, x) = split_pair(p).map_err(raised)?;
            let id = identity(&k);
            match groups.get_mut(&id) {
                Some(g) => g.1.push(x),
                None => {
                    order.push(id.clone());
                    groups.insert(id, (k, vec![x]));
                }
            }
        }
    }
    let out: Vec<Json> = order
        .into_iter()
        .filter_map(|id| groups.remove(&id))
        .map(|(k, xs)| pair(k, Json::Array(xs)))
        .collect();
    json_value(&Json::Array(out))
}

fn write(args: &[Value]) -> Result<Value, CallError> {
    let (spec, inputs) = spec::<WriteSpec>(args)?;
    let items = run_pipeline(&spec.pipeline, inputs, ElementFunctions::linked()).map_err(raised)?;
    let fail = |e: std::io::Error| raised(format!("{}: {e}", spec.path));
    let file = std::fs::File::create(&spec.path).map_err(fail)?;
    let mut out: Box<dyn Write> = if spec.path.ends_with(".gz") {
        Box::new(flate2::write::GzEncoder::new(file, flate2::Compression::default()))
    } else {
        Box::new(std::io::BufWriter::new(file))
    };
    for x in items {
        match x {
            Json::String(s) => writeln!(out, "{s}").map_err(fail)?,
            other => writeln!(out, "{other}").map_err(fail)?,
        }
    }
    out.flush().map_err(fail)?;
    drop(out);
    json_value(&Json::String(spec.path))
}

inventory::submit! { Registration::values(PIPELINE, pipeline) }
inventory::submit! { Registration::values(PARTIAL, partial) }
inventory::submit! { Registration::values(COMBINE, combine) }
inventory::submit! { Registration::values(SPLIT, split) }
inventory::submit! { Registration::values(BUCKET, bucket) }
inventory::submit! { Registration::values(GROUP, group) }
inventory::submit! { Registration::values(WRITE, write) }

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn json_order_is_total_and_numeric() {
        let mut v: Vec<Json> =
            serde_json::from_str(r#"[3, "b", null, 1.5, true, "a", [1, 2], [1]]"#).expect("json");
        v.sort_by(compare);
        assert_eq!(serde_json::to_string(&v).expect("json"), r#"[null,true,1.5,3,"a","b",[1],[1,2]]"#);
    }

    #[test]
    fn gzip_gz_write_encoder_closes_with_a_valid_stream() {
        let dir = tempfile::tempdir().expect("temp dir");
        let path = dir.path().join("x.txt.gz");
        let spec = WriteSpec {
            pipeline: PipelineSpec { source: Source::Literal(r#"["a", 1]"#.into()), ops: vec![] },
            path: path.to_string_lossy().into_owned(),
        };
        let args = vec![Value::Bytes(postcard::to_stdvec(&spec).expect("spec").into())];
        write(&args).expect("writes");
        let lines = read_lines(&TextSource::File(path.to_string_lossy().into_owned())).expect("reads");
        assert_eq!(lines, vec![Json::from("a"), Json::from("1")]);
    }
}
