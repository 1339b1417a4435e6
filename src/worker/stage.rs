//! Running one SQL stage task: decode the fragment, run its partition, keep the output.
//!
//! The fragment's shuffle readers get their input through [`StoreSource`]: a producer's
//! output held by this worker is read from the result store without a network hop; one
//! held elsewhere streams from that peer with a `DoGet` of the one bucket needed. A peer
//! that cannot serve it (it died, or dropped the output) is reported as a failed fetch, so
//! the scheduler recomputes the producer and runs this task again.
//!
//! A writer's buckets become a [`Value::Buckets`]; the final stage's batches become a
//! [`Value::Batches`], compacted so a small result never pins the large buffers it was
//! sliced or filtered from.

use std::collections::HashMap;
use std::sync::Arc;
use std::time::Instant;

use arrow::array::RecordBatch;
use arrow::compute::BatchCoalescer;
use datafusion::error::{DataFusionError, Result as DfResult};
use datafusion::execution::TaskContext;
use datafusion::prelude::{SessionConfig, SessionContext};
use dusk_flight::envelope::error_chain;
use dusk_flight::messages::{FailureKind, FetchFailed, StageSpec, TaskFailed};
use dusk_sql::{
    InputUnavailable, ShuffleInputs, ShuffleSource, ShuffleWriterExec, decode_plan, yield_between_batches,
};
use futures::stream::BoxStream;
use futures::{FutureExt, StreamExt};

use super::call::{Ran, panic_message};
use super::result_store::ResultStore;
use crate::data_client::DataClient;
use crate::graph::Value;
use crate::object_stores::Stores;

/// Batches fetched from a peer ahead of the operator reading them.
const FETCH_AHEAD_BATCHES: usize = 4;

/// Rows per batch of a final stage's result.
const RESULT_BATCH_ROWS: usize = 8192;

/// Why a stage task did not produce its output.
#[derive(Debug)]
pub(crate) enum StageFailure {
    /// The task failed: bad plan, a data error, a panic.
    Task(TaskFailed),
    /// An input could not be read from the peer that was said to hold it.
    Input(FetchFailed),
}

/// What every stage task on this worker shares.
pub(crate) struct StageRunner {
    session: SessionContext,
    store: Arc<ResultStore>,
    peers: Arc<DataClient>,
    worker: String,
    /// Object stores built for stage tasks so far.
    stores: Stores,
    /// The worker's I/O runtime: fetches from peers run there, not on the executor
    /// thread's own runtime, whose tasks stop when its job ends.
    io: tokio::runtime::Handle,
}

impl StageRunner {
    /// A runner for the worker's stage tasks; call it on the worker's I/O runtime.
    pub(crate) fn new(store: Arc<ResultStore>, peers: Arc<DataClient>, worker: String) -> Self {
        // One partition per task: parallelism comes from the stage's tasks, not from
        // threads inside one.
        let mut config = SessionConfig::new().with_target_partitions(1);
        // A task runs one partition of a scan in a process of its own: a partition
        // stealing its siblings' files would read files that other tasks read too.
        config.options_mut().execution.enable_file_stream_work_stealing = false;
        let io = tokio::runtime::Handle::current();
        let stores = Stores::default();
        Self { session: SessionContext::new_with_config(config), store, peers, worker, io, stores }
    }

    /// Runs `stage` of task `key`; `inputs` maps producer keys this worker does not hold
    /// to the peers that do.
    pub(crate) async fn run(
        &self,
        key: &str,
        stage: &StageSpec,
        inputs: HashMap<String, Vec<String>>,
    ) -> Result<Ran, StageFailure> {
        let start_unix_us = dusk_flight::clock::now_unix_us();
        let started = Instant::now();
        let outcome = std::panic::AssertUnwindSafe(self.execute(stage, inputs)).catch_unwind().await;
        let compute_us = started.elapsed().as_micros() as u64;
        let fail = |message: String| {
            StageFailure::Task(TaskFailed {
                key: key.to_string(),
                kind: FailureKind::Raised as i32,
                message,
                worker: self.worker.clone(),
                function: format!("stage of query {}", stage.query),
                cause_key: String::new(),
            })
        };
        match outcome {
            Ok(Ok(value)) => Ok(Ran { value, compute_us, start_unix_us }),
            Ok(Err(e)) => match InputUnavailable::find(&e) {
                Some(lost) => Err(StageFailure::Input(FetchFailed {
                    key: key.to_string(),
                    dep: lost.producer.clone(),
                    peer: lost.peer.clone(),
                    message: lost.message.clone(),
                })),
                None => Err(fail(e.to_string())),
            },
            Err(payload) => Err(fail(format!("panicked: {}", panic_message(&*payload)))),
        }
    }

    async fn execute(&self, stage: &StageSpec, inputs: HashMap<String, Vec<String>>) -> DfResult<Value> {
        for spec in &stage.stores {
            self.stores.ensure(spec, &self.session.runtime_env())?;
        }
        let source =
            StoreSource { store: self.store.clone(), peers: self.peers.clone(), inputs, io: self.io.clone() };
        let config = self.session.copied_config().with_extension(Arc::new(ShuffleInputs(Arc::new(source))));
        let context = Arc::new(TaskContext::from(&self.session.state()).with_session_config(config));
        let plan = yield_between_batches(decode_plan(&stage.plan, &context)?)?;
        let partition = stage.partition as usize;
        if let Some(writer) = plan.downcast_ref::<ShuffleWriterExec>() {
            return Ok(Value::Buckets(writer.write_partition(partition, context).await?));
        }
        let mut coalescer = BatchCoalescer::new(plan.schema(), RESULT_BATCH_ROWS);
        let mut stream = plan.execute(partition, context)?;
        while let Some(batch) = stream.next().await {
            coalescer.push_batch(batch?)?;
        }
        coalescer.finish_buffered_batch()?;
        let mut batches = Vec::new();
        while let Some(batch) = coalescer.next_completed_batch() {
            batches.push(dusk_sql::shrink(batch)?);
        }
        Ok(Value::Batches(batches))
    }
}

impl std::fmt::Debug for StageRunner {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("StageRunner").field("worker", &self.worker).finish_non_exhaustive()
    }
}

/// Producer outputs for one stage task: from this worker's store, or from peers.
#[derive(Debug)]
struct StoreSource {
    store: Arc<ResultStore>,
    peers: Arc<DataClient>,
    inputs: HashMap<String, Vec<String>>,
    io: tokio::runtime::Handle,
}

fn unavailable(producer: &str, peer: &str, message: String) -> DataFusionError {
    DataFusionError::External(Box::new(InputUnavailable {
        producer: producer.to_string(),
        peer: peer.to_string(),
        message,
    }))
}

#[async_trait::async_trait]
impl ShuffleSource for StoreSource {
    async fn read(
        &self,
        producer: &str,
        bucket: usize,
    ) -> DfResult<BoxStream<'static, DfResult<RecordBatch>>> {
        match self.store.get(producer).await {
            Ok(Some(value)) => {
                let batches = value.into_bucket(bucket).map_err(|why| {
                    DataFusionError::Internal(format!("{producer} cannot be read as a stage input: {why}"))
                })?;
                return Ok(futures::stream::iter(batches.into_iter().map(Ok)).boxed());
            }
            Ok(None) => {}
            Err(e) => return Err(unavailable(producer, "this worker", error_chain(&e))),
        }
        let Some(peer) = self.inputs.get(producer).and_then(|addrs| pick(addrs, bucket)) else {
            return Err(unavailable(producer, "any worker", "no worker holds it".into()));
        };
        // The fetch runs on the I/O runtime; batches cross over through a short queue, so
        // the network keeps a few batches ahead of the operator reading them.
        let (tx, rx) = tokio::sync::mpsc::channel(FETCH_AHEAD_BATCHES);
        let (peers, peer, producer) = (self.peers.clone(), peer.clone(), producer.to_string());
        self.io.spawn(async move {
            let mut stream = match peers.fetch_bucket(&peer, &producer, bucket as u32).await {
                Ok(stream) => stream,
                Err(e) => {
                    peers.forget(&peer);
                    let _ = tx.send(Err(unavailable(&producer, &peer, error_chain(&e)))).await;
                    return;
                }
            };
            while let Some(item) = stream.next().await {
                let item = item.map_err(|e| unavailable(&producer, &peer, error_chain(&e)));
                let failed = item.is_err();
                if tx.send(item).await.is_err() || failed {
                    return;
                }
            }
        });
        Ok(tokio_stream::wrappers::ReceiverStream::new(rx).boxed())
    }
}

/// Spreads readers of one output over its copies.
fn pick(addrs: &[String], bucket: usize) -> Option<&String> {
    if addrs.is_empty() { None } else { addrs.get(bucket % addrs.len()) }
}
