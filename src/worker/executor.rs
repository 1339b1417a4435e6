//! The executor: a fixed set of CPU threads that run tasks, apart from the I/O reactor.
//!
//! Each thread owns a current-thread tokio runtime and runs one job at a time to
//! completion (`block_on`), so a job may be plain CPU work or an async computation such
//! as a DataFusion stream, and never blocks the reactor that serves the network.
//!
//! Ready jobs wait in one priority-ordered queue shared by the threads; a thread takes
//! the best job whose resources fit what is free. Handing a job over costs a lock and a
//! condition-variable wake-up, not a round trip through the worker's event loop, so tiny
//! tasks run at millions per second per thread.
//!
//! Invariants: `running` counts jobs taken and not yet finished; `available` is the
//! worker's resources minus those of running jobs. While `paused` (memory pressure) no
//! job starts; running ones finish. `shutdown` drains nothing: queued jobs are dropped.

use std::collections::BTreeMap;
use std::sync::{Arc, Condvar, Mutex, MutexGuard};
use std::thread::JoinHandle;

use futures::future::BoxFuture;

use crate::graph::{Priority, Resources, TaskKey};

/// Work for one executor thread: a future that reports its own outcome when done.
pub(crate) struct Job {
    pub(crate) resources: Resources,
    pub(crate) run: BoxFuture<'static, ()>,
}

impl std::fmt::Debug for Job {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Job").field("resources", &self.resources).finish_non_exhaustive()
    }
}

#[derive(Debug)]
struct Queue {
    ready: BTreeMap<(Priority, TaskKey), Job>,
    available: Resources,
    running: usize,
    paused: bool,
    shutdown: bool,
}

#[derive(Debug)]
struct Shared {
    queue: Mutex<Queue>,
    wake: Condvar,
}

impl Shared {
    fn lock(&self) -> MutexGuard<'_, Queue> {
        // A poisoned lock means a thread panicked outside a job: the data is still sound.
        self.queue.lock().unwrap_or_else(|p| p.into_inner())
    }
}

/// The worker's CPU threads.
#[derive(Debug)]
pub(crate) struct Executor {
    shared: Arc<Shared>,
    threads: Vec<JoinHandle<()>>,
}

impl Executor {
    /// Starts `threads` threads offering `resources` between them.
    pub(crate) fn start(threads: usize, resources: Resources) -> std::io::Result<Self> {
        let shared = Arc::new(Shared {
            queue: Mutex::new(Queue {
                ready: BTreeMap::new(),
                available: resources,
                running: 0,
                paused: false,
                shutdown: false,
            }),
            wake: Condvar::new(),
        });
        let handles = (0..threads.max(1))
            .map(|i| {
                let shared = shared.clone();
                std::thread::Builder::new().name(format!("dusk-cpu-{i}")).spawn(move || run_thread(&shared))
            })
            .collect::<std::io::Result<Vec<_>>>()?;
        Ok(Executor { shared, threads: handles })
    }

    /// Queues a job; it runs when a thread is free, before jobs of lower priority.
    pub(crate) fn submit(&self, priority: Priority, key: TaskKey, job: Job) {
        self.shared.lock().ready.insert((priority, key), job);
        self.shared.wake.notify_one();
    }

    /// Removes a job that has not started; false if it started (or was never queued).
    pub(crate) fn cancel(&self, priority: Priority, key: &TaskKey) -> bool {
        self.shared.lock().ready.remove(&(priority, key.clone())).is_some()
    }

    /// Stops or resumes starting jobs.
    pub(crate) fn set_paused(&self, paused: bool) {
        let mut q = self.shared.lock();
        if q.paused != paused {
            q.paused = paused;
            drop(q);
            self.shared.wake.notify_all();
        }
    }

    /// Jobs running and jobs queued.
    pub(crate) fn load(&self) -> (usize, usize) {
        let q = self.shared.lock();
        (q.running, q.ready.len())
    }
}

impl Drop for Executor {
    fn drop(&mut self) {
        {
            let mut q = self.shared.lock();
            q.shutdown = true;
            q.ready.clear();
        }
        self.shared.wake.notify_all();
        for handle in self.threads.drain(..) {
            // A job still running is left to finish on its own; do not wait for it here.
            drop(handle);
        }
    }
}

fn run_thread(shared: &Shared) {
    let runtime = match tokio::runtime::Builder::new_current_thread().enable_all().build() {
        Ok(rt) => rt,
        Err(e) => {
            tracing::error!(error = %e, "executor thread could not start its runtime");
            return;
        }
    };
    while let Some(job) = next_job(shared) {
        let resources = job.resources;
        runtime.block_on(job.run);
        let mut q = shared.lock();
        q.running -= 1;
        if !resources.is_empty() {
            q.available.add(&resources);
            drop(q);
            shared.wake.notify_all();
        }
    }
}

/// Waits for the best job that may start now; `None` on shutdown.
fn next_job(shared: &Shared) -> Option<Job> {
    let mut q = shared.lock();
    loop {
        if q.shutdown {
            return None;
        }
        if !q.paused {
            let available = &q.available;
            let pick =
                q.ready.iter().find(|(_, job)| job.resources.fits_in(available)).map(|(k, _)| k.clone());
            if let Some(k) = pick
                && let Some(job) = q.ready.remove(&k)
            {
                q.available.subtract(&job.resources);
                q.running += 1;
                return Some(job);
            }
        }
        q = shared.wake.wait(q).unwrap_or_else(|p| p.into_inner());
    }
}

#[cfg(test)]
mod tests {
    use std::sync::mpsc;
    use std::time::Duration;

    use super::*;

    fn job(tx: mpsc::Sender<u64>, id: u64, resources: Resources) -> Job {
        Job {
            resources,
            run: Box::pin(async move {
                tx.send(id).ok();
            }),
        }
    }

    fn prio(order: u64) -> Priority {
        Priority { user: 0, generation: 0, order }
    }

    #[test]
    fn jobs_run_in_priority_order_on_one_thread() {
        let ex = Executor::start(1, Resources::none()).expect("threads start");
        ex.set_paused(true);
        let (tx, rx) = mpsc::channel();
        for order in [3, 1, 2] {
            ex.submit(
                prio(order),
                TaskKey::from(format!("t-{order}")),
                job(tx.clone(), order, Resources::none()),
            );
        }
        assert!(ex.cancel(prio(2), &TaskKey::from("t-2")));
        ex.set_paused(false);
        let got: Vec<u64> = (0..2).filter_map(|_| rx.recv_timeout(Duration::from_secs(10)).ok()).collect();
        assert_eq!(got, vec![1, 3]);
    }

    #[test]
    fn job_waits_for_resources_it_needs() {
        let offer: Resources = [("gpu", 1.0)].into_iter().collect();
        let ex = Executor::start(2, offer.clone()).expect("threads start");
        let (tx, rx) = mpsc::channel();
        let (gate_tx, gate_rx) = std::sync::mpsc::channel::<()>();
        let gate_rx = Arc::new(Mutex::new(gate_rx));
        let blocker = Job {
            resources: offer.clone(),
            run: Box::pin({
                let tx = tx.clone();
                async move {
                    let _ = gate_rx.lock().map(|r| r.recv_timeout(Duration::from_secs(10)));
                    tx.send(1).ok();
                }
            }),
        };
        ex.submit(prio(1), TaskKey::from("a-1"), blocker);
        ex.submit(prio(2), TaskKey::from("b-2"), job(tx.clone(), 2, offer.clone()));
        ex.submit(prio(3), TaskKey::from("c-3"), job(tx.clone(), 3, Resources::none()));
        // The job without resources runs on the second thread while the gpu is taken.
        assert_eq!(rx.recv_timeout(Duration::from_secs(10)).ok(), Some(3));
        gate_tx.send(()).ok();
        let rest: Vec<u64> = (0..2).filter_map(|_| rx.recv_timeout(Duration::from_secs(10)).ok()).collect();
        assert_eq!(rest, vec![1, 2]);
    }
}
