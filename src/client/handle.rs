//! [`Client`]: submit work to a Dusk cluster and bring results back.

use std::sync::Arc;

use bytes::Bytes;
use dusk_flight::actions;
use dusk_flight::messages::{
    ClientUpdate, ClusterInfo, DatasetKeys, DatasetList, DatasetName, PublishRequest, ScatterTargetRequest,
    ScatterTargets, Scattered, TaskHistory, TaskHistoryRequest, TaskRun, ValueKind,
};
use futures::Stream;
use futures::stream::FuturesUnordered;
use serde::Serialize;
use serde::de::DeserializeOwned;

use super::ArgSource;
use super::args::{IntoArg, IntoArgs};
use super::future::{Future, KeyRef};
use super::graph_builder::GraphBuilder;
use super::session::{self, Shared};
use super::{ClientError, SubmitOptions, gather};
use crate::collections::delayed::{Delayed, DelayedTuple, Node};
use crate::functions::TaskFunction;
use crate::graph::TaskKey;
use crate::security::Credentials;

/// Tasks per frame when submitting a large `map`.
const SUBMIT_CHUNK: usize = 4096;

/// A connection to a Dusk scheduler. Cheap to clone; every clone is the same session.
///
/// ```no_run
/// # async fn run() -> Result<(), dusk::ClientError> {
/// use dusk::builtins::{add, inc};
/// let client = dusk::Client::connect("grpc://127.0.0.1:8786").await?;
/// let xs = client.map(inc, 0..100i64)?;             // 100 tasks
/// let total = client.submit(add, (&xs[0], &xs[1]))?; // futures as arguments
/// assert_eq!(total.result().await?, 3);
/// # Ok(())
/// # }
/// ```
#[derive(Clone, Debug)]
pub struct Client {
    pub(super) shared: Arc<Shared>,
    /// Priority, retries and resources of the tasks arrays and bags submit through
    /// this handle.
    collection_options: SubmitOptions,
}

impl Client {
    /// Connects to the scheduler at `url` (`grpc://host:port`, or `grpc+tls://` for TLS)
    /// with the credentials of the environment: a cluster token when
    /// `DUSK_CLUSTER_SECRET` is set, the certificates of `DUSK_TLS_CA` (see
    /// [`Credentials::from_env`]).
    pub async fn connect(url: &str) -> Result<Client, ClientError> {
        Self::connect_with(url, Credentials::from_env()?).await
    }

    /// Connects to the scheduler at `url` showing `credentials`.
    pub async fn connect_with(url: &str, credentials: Credentials) -> Result<Client, ClientError> {
        let name = format!("client-{}", std::process::id());
        Ok(Client {
            shared: session::connect(url, &name, credentials).await?,
            collection_options: SubmitOptions::default(),
        })
    }

    /// A handle to the same session whose array and bag computations give every task
    /// they submit the priority, retries and resources of `options`, as Dask's
    /// `compute(priority=, retries=, resources=)` does. Keys stay the collection's own:
    /// `options.key` and `options.pure` are not used.
    ///
    /// ```no_run
    /// # async fn run(client: dusk::Client) -> Result<(), dusk::array::ArrayError> {
    /// use dusk::SubmitOptions;
    /// let x = dusk::array::random(&[4000, 4000], &[1000, 1000], 7)?;
    /// let urgent = client.with_task_options(SubmitOptions::default().priority(10).retries(2));
    /// let total = x.sum()?.compute(&urgent).await?;
    /// # Ok(())
    /// # }
    /// ```
    pub fn with_task_options(&self, options: SubmitOptions) -> Client {
        Client { shared: self.shared.clone(), collection_options: options }
    }

    /// The scheduler's URL.
    pub fn url(&self) -> &str {
        &self.shared.url
    }

    /// The scheduler's id for this client.
    pub fn id(&self) -> u64 {
        self.shared.id()
    }

    fn future<T>(&self, key: TaskKey) -> Future<T> {
        Future::new(KeyRef::new(key, self.shared.clone()))
    }

    /// Runs `f(args)` on the cluster. Arguments may be values, futures or delayed nodes.
    pub fn submit<F: TaskFunction, A: IntoArgs<F::Args>>(
        &self,
        f: F,
        args: A,
    ) -> Result<Future<F::Output>, ClientError> {
        self.submit_with(f, args, SubmitOptions::default())
    }

    /// [`Client::submit`] with options.
    pub fn submit_with<F: TaskFunction, A: IntoArgs<F::Args>>(
        &self,
        _f: F,
        args: A,
        options: SubmitOptions,
    ) -> Result<Future<F::Output>, ClientError> {
        let mut graph = GraphBuilder::default();
        let key = graph.add_call(F::NAME, &args.into_args(), &options)?;
        let future = self.future(key.clone());
        self.shared.send(ClientUpdate {
            submit: graph.specs,
            want: vec![key.to_string()],
            ..Default::default()
        });
        Ok(future)
    }

    /// Runs `f` once per item, as one batch of tasks.
    pub fn map<F, A, I>(&self, f: F, items: I) -> Result<Vec<Future<F::Output>>, ClientError>
    where
        F: TaskFunction<Args = (A,)>,
        I: IntoIterator,
        I::Item: IntoArg<A>,
    {
        self.map_with(f, items, SubmitOptions::default())
    }

    /// [`Client::map`] with options (an explicit key gets `-<index>` appended).
    pub fn map_with<F, A, I>(
        &self,
        _f: F,
        items: I,
        options: SubmitOptions,
    ) -> Result<Vec<Future<F::Output>>, ClientError>
    where
        F: TaskFunction<Args = (A,)>,
        I: IntoIterator,
        I::Item: IntoArg<A>,
    {
        let mut futures = Vec::new();
        let mut graph = GraphBuilder::default();
        let mut want = Vec::new();
        for (i, item) in items.into_iter().enumerate() {
            let mut opts = options.clone();
            if let Some(k) = &options.key {
                opts.key = Some(format!("{k}-{i}"));
            }
            let key = graph.add_call(F::NAME, &[item.into_arg()], &opts)?;
            want.push(key.to_string());
            futures.push(self.future(key));
            if graph.specs.len() >= SUBMIT_CHUNK {
                let specs = std::mem::take(&mut graph.specs);
                self.shared.send(ClientUpdate {
                    submit: specs,
                    want: std::mem::take(&mut want),
                    ..Default::default()
                });
            }
        }
        self.shared.send(ClientUpdate { submit: graph.specs, want, ..Default::default() });
        Ok(futures)
    }

    /// Waits for the futures and brings their results here, in order.
    pub async fn gather<T: DeserializeOwned>(&self, futures: &[Future<T>]) -> Result<Vec<T>, ClientError> {
        gather::gather(&self.shared, futures).await
    }

    /// Places a value on a worker; the future can be passed to tasks like any other.
    pub async fn scatter<T: Serialize>(&self, value: &T) -> Result<Future<T>, ClientError> {
        let mut futures = self.scatter_many(std::slice::from_ref(value)).await?;
        futures.pop().ok_or(ClientError::Disconnected)
    }

    /// Places values on workers, spread round-robin over them.
    pub async fn scatter_many<T: Serialize>(&self, values: &[T]) -> Result<Vec<Future<T>>, ClientError> {
        let targets: ScatterTargets = self
            .shared
            .action(
                actions::SCATTER_TARGETS,
                &ScatterTargetRequest { count: values.len() as u32 },
                "scatter targets",
            )
            .await?;
        let mut by_addr: std::collections::HashMap<String, Vec<(String, Bytes)>> = Default::default();
        let mut keys = Vec::with_capacity(values.len());
        for (value, addr) in values.iter().zip(targets.addrs) {
            let bytes = postcard::to_stdvec(value)
                .map(Bytes::from)
                .map_err(|e| ClientError::Encode { function: "scatter".into(), message: e.to_string() })?;
            let options = SubmitOptions::default();
            let key =
                super::graph_builder::call_key("scatter", &[ArgSource::Literal(bytes.clone())], &options);
            keys.push(key.clone());
            by_addr.entry(addr).or_default().push((key.to_string(), bytes));
        }
        let mut scattered = Vec::new();
        for (addr, values) in by_addr {
            let records: Vec<Scattered> = values
                .iter()
                .map(|(k, b)| Scattered {
                    key: k.clone(),
                    worker_addr: addr.clone(),
                    nbytes: b.len() as u64,
                    kind: ValueKind::Bytes as i32,
                })
                .collect();
            self.shared
                .data
                .put_bytes(&addr, values)
                .await
                .map_err(|source| ClientError::Scatter { addr: addr.clone(), source })?;
            scattered.extend(records);
        }
        let futures = keys.into_iter().map(|k| self.future(k)).collect();
        self.shared.send(ClientUpdate { scattered, ..Default::default() });
        Ok(futures)
    }

    /// Waits until every future is done (finished, failed or cancelled).
    pub async fn wait<T>(&self, futures: &[Future<T>]) {
        for f in futures {
            gather::wait_done(&self.shared, f.key()).await;
        }
    }

    /// The futures, in the order they finish (or fail, or are cancelled).
    pub fn as_completed<T>(&self, futures: Vec<Future<T>>) -> impl Stream<Item = Future<T>> + use<T> {
        let shared = self.shared.clone();
        futures
            .into_iter()
            .map(|f| {
                let shared = shared.clone();
                async move {
                    gather::wait_done(&shared, f.key()).await;
                    f
                }
            })
            .collect::<FuturesUnordered<_>>()
    }

    /// Cancels the tasks and every task that depends on them; their futures error with
    /// [`ClientError::Cancelled`].
    pub fn cancel<T>(&self, futures: &[Future<T>]) {
        let keys: Vec<String> = futures.iter().map(|f| f.key().to_string()).collect();
        for f in futures {
            self.shared.keys.set_if_pending(f.key(), super::key_table::KeyStatus::Cancelled);
        }
        self.shared.send(ClientUpdate { cancel: keys, ..Default::default() });
    }

    /// Lets the task run to completion even though nobody holds its future.
    pub fn fire_and_forget<T>(&self, future: Future<T>) {
        self.shared
            .send(ClientUpdate { fire_and_forget: vec![future.key().to_string()], ..Default::default() });
    }

    /// Publishes futures under a name, so other clients can get them; they stay on the
    /// cluster until unpublished.
    pub async fn publish<T>(&self, name: &str, futures: &[Future<T>]) -> Result<(), ClientError> {
        let request = PublishRequest {
            name: name.to_string(),
            keys: futures.iter().map(|f| f.key().to_string()).collect(),
            overwrite: false,
        };
        self.shared.action::<()>(actions::PUBLISH, &request, "publish answer").await
    }

    /// Futures of a dataset another client (or this one) published.
    pub async fn get_dataset<T>(&self, name: &str) -> Result<Vec<Future<T>>, ClientError> {
        let request = DatasetName { name: name.to_string(), client_id: self.shared.id() };
        let keys: DatasetKeys = self.shared.action(actions::GET_DATASET, &request, "dataset keys").await?;
        let futures: Vec<Future<T>> =
            keys.keys.iter().map(|k| self.future(TaskKey::from(k.as_str()))).collect();
        self.shared.send(ClientUpdate { want: keys.keys, ..Default::default() });
        Ok(futures)
    }

    /// Removes a dataset.
    pub async fn unpublish(&self, name: &str) -> Result<(), ClientError> {
        let request = DatasetName { name: name.to_string(), client_id: self.shared.id() };
        self.shared.action::<()>(actions::UNPUBLISH, &request, "unpublish answer").await
    }

    /// Names of published datasets.
    pub async fn list_datasets(&self) -> Result<Vec<String>, ClientError> {
        let list: DatasetList = self.shared.action(actions::LIST_DATASETS, &(), "dataset list").await?;
        Ok(list.names)
    }

    /// Submits a delayed graph and returns a future of its result.
    pub fn persist<T>(&self, delayed: &Delayed<T>) -> Result<Future<T>, ClientError> {
        let mut graph = GraphBuilder::default();
        graph.add_node(delayed.node())?;
        let future = self.future(delayed.key().clone());
        self.shared.send(ClientUpdate {
            submit: graph.specs,
            want: vec![delayed.key().to_string()],
            ..Default::default()
        });
        Ok(future)
    }

    /// Submits the delayed nodes among a collection's `sources` (and what they read) in
    /// one submission and keeps their results on the cluster while the returned
    /// references (one per node, in order) live. Futures and literals need no submitting.
    pub(crate) fn submit_sources(&self, sources: &[ArgSource]) -> Result<Vec<KeyRef>, ClientError> {
        let nodes: Vec<&Arc<Node>> = sources
            .iter()
            .filter_map(|s| match s {
                ArgSource::Node(n) => Some(n),
                _ => None,
            })
            .collect();
        let mut graph = GraphBuilder::for_collection(&self.collection_options);
        for node in &nodes {
            graph.add_node(node)?;
        }
        let refs: Vec<KeyRef> =
            nodes.iter().map(|n| KeyRef::new(n.key.clone(), self.shared.clone())).collect();
        let want = nodes.iter().map(|n| n.key.to_string()).collect();
        self.shared.send(ClientUpdate { submit: graph.specs, want, ..Default::default() });
        drop(graph.holds);
        Ok(refs)
    }

    /// Creates (or replaces) cluster table `table` with the rows of `batches`, as a
    /// Flight SQL client's bulk ingest does; SQL can query it at once. Returns the rows
    /// written.
    pub async fn ingest(
        &self,
        table: &str,
        batches: Vec<arrow::array::RecordBatch>,
    ) -> Result<u64, ClientError> {
        self.shared.ingest(table, batches).await
    }

    /// Fetches serde-encoded results as bytes, waiting until they are ready.
    pub(crate) async fn gather_raw(
        &self,
        keys: &[TaskKey],
    ) -> Result<crate::graph::KeyMap<Bytes>, ClientError> {
        gather::gather_bytes(&self.shared, keys).await
    }

    /// Fetches results that are Arrow data (array chunks), waiting until they are ready.
    pub(crate) async fn gather_batches(
        &self,
        keys: &[TaskKey],
    ) -> Result<crate::graph::KeyMap<Vec<arrow::array::RecordBatch>>, ClientError> {
        gather::gather_batches(&self.shared, keys).await
    }

    /// Computes a delayed graph and brings its result here.
    pub async fn compute<T: DeserializeOwned>(&self, delayed: &Delayed<T>) -> Result<T, ClientError> {
        self.persist(delayed)?.result().await
    }

    /// Computes several delayed values in one submission; shared sub-graphs run once.
    pub async fn compute_many<D: DelayedTuple>(&self, outputs: D) -> Result<D::Output, ClientError> {
        let nodes = outputs.nodes();
        let mut graph = GraphBuilder::default();
        for node in &nodes {
            graph.add_node(node)?;
        }
        let keys: Vec<TaskKey> = nodes.iter().map(|n| n.key.clone()).collect();
        let refs: Vec<KeyRef> = keys.iter().map(|k| KeyRef::new(k.clone(), self.shared.clone())).collect();
        let want = keys.iter().map(|k| k.to_string()).collect();
        self.shared.send(ClientUpdate { submit: graph.specs, want, ..Default::default() });
        let raw = gather::gather_bytes(&self.shared, &keys).await?;
        drop(refs);
        let ordered: Vec<Bytes> = keys.iter().map(|k| raw.get(k).cloned().unwrap_or_default()).collect();
        D::decode(ordered).map_err(|source| ClientError::Decode { key: keys[0].to_string(), source })
    }

    /// Retires a worker, named by its name or data address, as Dask's `retire_workers`:
    /// it takes no new tasks, gives back those not started, copies the results still
    /// wanted to peers, then leaves. Returns once it has left; nothing is recomputed.
    pub async fn retire_worker(&self, name: &str) -> Result<(), ClientError> {
        let request = DatasetName { name: name.to_string(), client_id: self.shared.id() };
        self.shared.action(actions::RETIRE_WORKER, &request, "retire worker").await
    }

    /// Workers and task counts as the scheduler sees them now.
    pub async fn cluster_info(&self) -> Result<ClusterInfo, ClientError> {
        self.shared.action(actions::CLUSTER_INFO, &(), "cluster info").await
    }

    /// The scheduler's record of recent finished runs of tasks whose keys start with
    /// `prefix` (all tasks for `""`): where each ran, when, for how long, and what it made.
    pub async fn task_history(&self, prefix: &str) -> Result<Vec<TaskRun>, ClientError> {
        let request = TaskHistoryRequest { prefix: prefix.to_string() };
        let history: TaskHistory =
            self.shared.action(actions::TASK_HISTORY, &request, "task history").await?;
        Ok(history.runs)
    }
}
