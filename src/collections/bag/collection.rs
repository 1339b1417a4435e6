//! [`Bag<T>`]: its partitions as chunk programs, how they are made and every operation
//! on them.

use std::collections::HashMap;
use std::marker::PhantomData;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use serde::Serialize;
use serde::de::DeserializeOwned;
use serde_json::Value as Json;

use crate::Client;
use crate::client::ArgSource;
use crate::collections::kernel_node;
use crate::graph::TaskKey;

use super::kernels::{self, Agg, CombineSpec, Op, PartialSpec, PipelineSpec, Source, SplitSpec, WriteSpec};
use super::{BagError, BagFunction, text};

/// Partials merged by one combine task.
const FAN_IN: usize = 8;

/// One partition as the client sees it: where its elements come from, and the steps
/// still to run on them.
#[derive(Debug, Clone)]
struct Part {
    input: Option<ArgSource>,
    source: Source,
    ops: Vec<Op>,
}

impl Part {
    fn pipeline(&self) -> (PipelineSpec, Vec<ArgSource>) {
        (
            PipelineSpec { source: self.source.clone(), ops: self.ops.clone() },
            self.input.iter().cloned().collect(),
        )
    }

    /// The task that computes this partition.
    fn materialize(&self) -> Result<ArgSource, BagError> {
        if let (Some(input), true) = (&self.input, self.ops.is_empty()) {
            return Ok(input.clone());
        }
        let (spec, inputs) = self.pipeline();
        let label = match self.ops.last() {
            Some(Op::Map(f) | Op::Filter(f) | Op::FlatMap(f) | Op::MapPartition(f)) => f.clone(),
            None => "from_sequence".into(),
        };
        Ok(ArgSource::Node(node(&label, kernels::PIPELINE, &spec, inputs)?))
    }

    fn then(&self, op: Op) -> Part {
        let mut ops = self.ops.clone();
        ops.push(op);
        Part { input: self.input.clone(), source: self.source.clone(), ops }
    }
}

fn node<S: Serialize>(
    label: &str,
    function: &'static str,
    spec: &S,
    inputs: Vec<ArgSource>,
) -> Result<Arc<crate::collections::delayed::Node>, BagError> {
    kernel_node(label, function, spec, inputs)
        .map_err(|e| BagError::Encode { what: format!("the {label} task"), message: e.to_string() })
}

fn json_text<T: Serialize>(value: &T, what: &str) -> Result<String, BagError> {
    serde_json::to_string(value)
        .map_err(|e| BagError::Encode { what: what.to_string(), message: e.to_string() })
}

/// A lazy collection of `T`s in partitions.
pub struct Bag<T> {
    parts: Arc<Vec<Part>>,
    _t: PhantomData<fn() -> T>,
}

impl<T> Clone for Bag<T> {
    fn clone(&self) -> Self {
        Bag { parts: self.parts.clone(), _t: PhantomData }
    }
}

impl<T> std::fmt::Debug for Bag<T> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Bag").field("npartitions", &self.parts.len()).finish_non_exhaustive()
    }
}

/// A bag of `items` cut in `npartitions` partitions of near-equal size. The items
/// travel inline with the tasks that read them.
pub fn from_sequence<T: Serialize>(items: &[T], npartitions: usize) -> Result<Bag<T>, BagError> {
    let n = npartitions.clamp(1, items.len().max(1));
    let size = items.len().div_ceil(n).max(1);
    let mut parts = Vec::with_capacity(n);
    for chunk in items.chunks(size) {
        parts.push(Part {
            input: None,
            source: Source::Literal(json_text(&chunk, "the items")?),
            ops: Vec::new(),
        });
    }
    if parts.is_empty() {
        parts.push(Part { input: None, source: Source::Literal("[]".into()), ops: Vec::new() });
    }
    Ok(Bag { parts: Arc::new(parts), _t: PhantomData })
}

/// A bag of the lines of text files: a path or a glob, one partition per file. Files
/// ending in `.gz` or `.zst` are decompressed. The workers read the files, so they must
/// be at the same path on each; for files in an object store, see [`read_text_store`].
pub fn read_text(pattern: impl AsRef<Path>) -> Result<Bag<String>, BagError> {
    Ok(text_bag(text::list_files(pattern.as_ref())?))
}

/// A bag of the lines of objects in a store: `location` is a URL such as
/// `s3://bucket/logs/*.jsonl.gz` (also `gs://`, `az://`), its path a glob, one partition
/// per object; `.gz` and `.zst` objects are decompressed. `options` configure the store
/// as SQL's `OPTIONS` do (`aws.endpoint`, `aws.access_key_id`, `aws.region`, …; the
/// environment fills in the rest). The client lists the objects; each worker fetches
/// the ones its partitions read.
pub async fn read_text_store(
    location: &str,
    options: &HashMap<String, String>,
) -> Result<Bag<String>, BagError> {
    Ok(text_bag(text::list_objects(location, options).await?))
}

fn text_bag(sources: Vec<text::TextSource>) -> Bag<String> {
    let parts = sources
        .into_iter()
        .map(|source| Part { input: None, source: Source::Text(source), ops: Vec::new() })
        .collect();
    Bag { parts: Arc::new(parts), _t: PhantomData }
}

impl<T: Serialize + DeserializeOwned> Bag<T> {
    /// Number of partitions.
    pub fn npartitions(&self) -> usize {
        self.parts.len()
    }

    fn with_op<U>(&self, op: impl Fn() -> Op) -> Bag<U> {
        Bag { parts: Arc::new(self.parts.iter().map(|p| p.then(op())).collect()), _t: PhantomData }
    }

    /// `f(x)` for every element.
    pub fn map<F: BagFunction<Args = (T,)>>(&self, _f: F) -> Bag<F::Output> {
        self.with_op(|| Op::Map(F::NAME.into()))
    }

    /// The elements for which `f(x)` is true.
    pub fn filter<F: BagFunction<Args = (T,), Output = bool>>(&self, _f: F) -> Bag<T> {
        self.with_op(|| Op::Filter(F::NAME.into()))
    }

    /// The elements of the lists `f(x)` returns.
    pub fn flat_map<U, F: BagFunction<Args = (T,), Output = Vec<U>>>(&self, _f: F) -> Bag<U> {
        self.with_op(|| Op::FlatMap(F::NAME.into()))
    }

    /// `f(partition)` for every partition, as a list.
    pub fn map_partitions<U, F: BagFunction<Args = (Vec<T>,), Output = Vec<U>>>(&self, _f: F) -> Bag<U> {
        self.with_op(|| Op::MapPartition(F::NAME.into()))
    }

    /// Runs an aggregation: a partial per partition, merged in a tree; the root's value.
    async fn aggregate(&self, client: &Client, agg: Agg, tree: bool) -> Result<Json, BagError> {
        let name = agg_name(&agg);
        let mut level = Vec::with_capacity(self.parts.len());
        for part in self.parts.iter() {
            let (pipeline, inputs) = part.pipeline();
            let spec = PartialSpec { pipeline, agg: agg.clone() };
            level.push(ArgSource::Node(node(&format!("{name}-partial"), kernels::PARTIAL, &spec, inputs)?));
        }
        loop {
            let fan_in = if tree { FAN_IN } else { level.len().max(1) };
            let last = level.len() <= fan_in;
            let mut next = Vec::with_capacity(level.len().div_ceil(fan_in));
            for group in level.chunks(fan_in) {
                let spec = CombineSpec { agg: agg.clone(), last };
                next.push(ArgSource::Node(node(
                    &format!("{name}-aggregate"),
                    kernels::COMBINE,
                    &spec,
                    group.to_vec(),
                )?));
            }
            level = next;
            if last {
                break;
            }
        }
        let mut values = fetch(client, &level).await?;
        values.pop().ok_or_else(|| BagError::Decode("the aggregation produced nothing".into()))
    }

    /// Number of elements.
    pub async fn count(&self, client: &Client) -> Result<u64, BagError> {
        decode(self.aggregate(client, Agg::Count, true).await?)
    }

    /// Folds each partition with `binop(acc, x)` from `initial`, then the partitions'
    /// results with `combine(a, b)`.
    pub async fn fold<A, F, C>(
        &self,
        client: &Client,
        _binop: F,
        initial: A,
        _combine: C,
    ) -> Result<A, BagError>
    where
        A: Serialize + DeserializeOwned,
        F: BagFunction<Args = (A, T), Output = A>,
        C: BagFunction<Args = (A, A), Output = A>,
    {
        let agg = Agg::Fold {
            binop: F::NAME.into(),
            combine: C::NAME.into(),
            initial: json_text(&initial, "fold's initial value")?,
        };
        decode(self.aggregate(client, agg, true).await?)
    }

    /// `aggregate` of the list of `perpartition(partition)` results.
    pub async fn reduction<A, R, P, G>(
        &self,
        client: &Client,
        _perpartition: P,
        _aggregate: G,
    ) -> Result<R, BagError>
    where
        R: DeserializeOwned,
        P: BagFunction<Args = (Vec<T>,), Output = A>,
        G: BagFunction<Args = (Vec<A>,), Output = R>,
    {
        let agg = Agg::Reduction { perpartition: P::NAME.into(), aggregate: G::NAME.into() };
        decode(self.aggregate(client, agg, false).await?)
    }

    /// Each distinct element with how often it occurs, most frequent first.
    pub async fn frequencies(&self, client: &Client) -> Result<Vec<(T, u64)>, BagError> {
        decode(self.aggregate(client, Agg::Frequencies, true).await?)
    }

    /// The `k` largest elements, largest first (numbers by value, strings by bytes).
    pub async fn topk(&self, client: &Client, k: usize) -> Result<Vec<T>, BagError> {
        decode(self.aggregate(client, Agg::TopK { k, key: None }, true).await?)
    }

    /// The `k` elements with the largest `key(x)`, largest first.
    pub async fn topk_by<F: BagFunction<Args = (T,)>>(
        &self,
        client: &Client,
        k: usize,
        _key: F,
    ) -> Result<Vec<T>, BagError> {
        decode(self.aggregate(client, Agg::TopK { k, key: Some(F::NAME.into()) }, true).await?)
    }

    /// Each distinct element once, in ascending order.
    pub async fn distinct(&self, client: &Client) -> Result<Vec<T>, BagError> {
        decode(self.aggregate(client, Agg::Distinct, true).await?)
    }

    /// Per key `key(x)`: the elements folded with `binop(acc, x)` from `initial`, the
    /// partitions' accumulators merged with `combine`. Sorted by key.
    pub async fn foldby<K, A, KF, F, C>(
        &self,
        client: &Client,
        _key: KF,
        _binop: F,
        initial: A,
        _combine: C,
    ) -> Result<Vec<(K, A)>, BagError>
    where
        K: DeserializeOwned,
        A: Serialize + DeserializeOwned,
        KF: BagFunction<Args = (T,), Output = K>,
        F: BagFunction<Args = (A, T), Output = A>,
        C: BagFunction<Args = (A, A), Output = A>,
    {
        let agg = Agg::FoldBy {
            key: KF::NAME.into(),
            binop: F::NAME.into(),
            initial: json_text(&initial, "foldby's initial value")?,
            combine: C::NAME.into(),
        };
        decode(self.aggregate(client, agg, true).await?)
    }

    /// Groups the elements by `key(x)` into `npartitions` partitions of `(key, elements)`,
    /// shuffling through the workers: each partition is split by key hash where it is,
    /// and each output partition gathers its share of every split.
    pub fn groupby<K, F>(&self, _key: F, npartitions: usize) -> Result<Bag<(K, Vec<T>)>, BagError>
    where
        F: BagFunction<Args = (T,), Output = K>,
    {
        let n = npartitions.max(1);
        let mut splits = Vec::with_capacity(self.parts.len());
        for part in self.parts.iter() {
            let (pipeline, inputs) = part.pipeline();
            let spec = SplitSpec { pipeline, key: F::NAME.into(), buckets: n };
            splits.push(ArgSource::Node(node("groupby-split", kernels::SPLIT, &spec, inputs)?));
        }
        let mut parts = Vec::with_capacity(n);
        for j in 0..n {
            let buckets = splits
                .iter()
                .map(|s| node("groupby-bucket", kernels::BUCKET, &j, vec![s.clone()]).map(ArgSource::Node))
                .collect::<Result<Vec<_>, _>>()?;
            let group = node("groupby", kernels::GROUP, &(), buckets)?;
            parts.push(Part { input: Some(ArgSource::Node(group)), source: Source::Input, ops: Vec::new() });
        }
        Ok(Bag { parts: Arc::new(parts), _t: PhantomData })
    }

    /// All elements, partition by partition.
    pub async fn compute(&self, client: &Client) -> Result<Vec<T>, BagError> {
        let sources = self.parts.iter().map(Part::materialize).collect::<Result<Vec<_>, _>>()?;
        let mut out = Vec::new();
        for value in fetch(client, &sources).await? {
            out.extend(decode::<Vec<T>>(value)?);
        }
        Ok(out)
    }

    /// The first `n` elements, computing partitions in order only until there are enough.
    pub async fn take(&self, client: &Client, n: usize) -> Result<Vec<T>, BagError> {
        let mut out = Vec::with_capacity(n);
        for part in self.parts.iter() {
            if out.len() >= n {
                break;
            }
            let mut values = fetch(client, &[part.materialize()?]).await?;
            let items: Vec<T> = decode(values.pop().unwrap_or(Json::Array(Vec::new())))?;
            out.extend(items.into_iter().take(n - out.len()));
        }
        Ok(out)
    }

    /// Writes each partition to a text file in `dir` (`part-00000.txt`, …; `.txt.gz` with
    /// `gzip`), one element per line: strings as they are, other values as JSON. The
    /// workers write the files. Returns their paths.
    pub async fn to_textfiles(
        &self,
        client: &Client,
        dir: impl AsRef<Path>,
        gzip: bool,
    ) -> Result<Vec<PathBuf>, BagError> {
        let dir = dir.as_ref();
        let mut writes = Vec::with_capacity(self.parts.len());
        for (i, part) in self.parts.iter().enumerate() {
            let (pipeline, inputs) = part.pipeline();
            let name = format!("part-{i:05}.txt{}", if gzip { ".gz" } else { "" });
            let spec = WriteSpec { pipeline, path: dir.join(name).to_string_lossy().into_owned() };
            writes.push(ArgSource::Node(node("to_textfiles", kernels::WRITE, &spec, inputs)?));
        }
        fetch(client, &writes).await?.into_iter().map(decode).collect()
    }

    /// Computes the bag (its elements must be JSON objects: records), infers an Arrow
    /// schema from them and makes them cluster table `table` (created or replaced), so
    /// SQL can query it. Returns the rows written.
    pub async fn to_dataframe(&self, client: &Client, table: &str) -> Result<u64, BagError> {
        let records: Vec<Json> = self.map_json().compute(client).await?;
        if records.is_empty() {
            return Err(BagError::Table("the bag is empty: there is no schema to infer".into()));
        }
        if let Some(bad) = records.iter().find(|r| !r.is_object()) {
            return Err(BagError::Table(format!("elements must be records (JSON objects), found {bad}")));
        }
        let batch = records_to_batch(&records)?;
        Ok(client.ingest(table, vec![batch]).await?)
    }

    fn map_json(&self) -> Bag<Json> {
        Bag { parts: self.parts.clone(), _t: PhantomData }
    }
}

fn agg_name(agg: &Agg) -> &'static str {
    match agg {
        Agg::Count => "count",
        Agg::Fold { .. } => "fold",
        Agg::Reduction { .. } => "reduction",
        Agg::Frequencies => "frequencies",
        Agg::TopK { .. } => "topk",
        Agg::Distinct => "distinct",
        Agg::FoldBy { .. } => "foldby",
    }
}

fn decode<T: DeserializeOwned>(value: Json) -> Result<T, BagError> {
    serde_json::from_value(value).map_err(|e| BagError::Decode(e.to_string()))
}

/// Computes `sources` and brings their JSON values here, in order.
async fn fetch(client: &Client, sources: &[ArgSource]) -> Result<Vec<Json>, BagError> {
    let keys: Vec<TaskKey> = sources.iter().filter_map(|s| s.key().cloned()).collect();
    let held = client.submit_sources(sources)?;
    let raw = client.gather_raw(&keys).await?;
    drop(held);
    keys.iter()
        .map(|k| {
            let bytes =
                raw.get(k).ok_or_else(|| BagError::Decode(format!("{k} is missing from the results")))?;
            serde_json::from_slice(bytes).map_err(|e| BagError::Decode(format!("{k}: {e}")))
        })
        .collect()
}

/// JSON records as one Arrow batch, with a schema inferred from all of them.
fn records_to_batch(records: &[Json]) -> Result<arrow::array::RecordBatch, BagError> {
    let table = |e: arrow::error::ArrowError| BagError::Table(e.to_string());
    let schema =
        arrow::json::reader::infer_json_schema_from_iterator(records.iter().map(Ok)).map_err(table)?;
    let mut decoder = arrow::json::ReaderBuilder::new(Arc::new(schema)).build_decoder().map_err(table)?;
    decoder.serialize(records).map_err(table)?;
    decoder.flush().map_err(table)?.ok_or_else(|| BagError::Table("no rows".into()))
}
