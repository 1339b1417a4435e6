//! The result store: every task result a worker holds, with byte accounting and LRU spill.
//!
//! Results stay in memory until the store's managed bytes pass `spill_fraction` of the
//! memory limit; then [`ResultStore::spill_if_needed`] writes least-recently-used values to
//! Arrow IPC files in the spill directory (see `spill`) until the managed bytes are back
//! under that threshold. A spilled value is read back, and put back in memory, the next time
//! someone [`get`](ResultStore::get)s it. Above `pause_fraction` the worker should stop
//! starting tasks ([`ResultStore::should_pause`]) until spilling catches up. Like Dask's
//! worker memory manager, with the default 60 % and 80 %.
//!
//! # States and accounting
//!
//! Each entry is in one of three states:
//!
//! - *in memory*: counted in `managed_bytes` and listed in the LRU index;
//! - *spilling*: still in memory and still served from there, counted in `managed_bytes`
//!   and in `spilling_bytes`, but out of the LRU index so no second spill picks it;
//! - *spilled*: on disk, its file size counted in `spilled_bytes`.
//!
//! An entry's `nbytes` is measured once, on insert, and kept across spill and read-back
//! (Arrow arrays read from IPC share one buffer per batch, so measuring them again would
//! count that buffer once per column). Spill file `n` is `<spill_dir>/<n>.arrow`, and `n` is
//! never reused within a store, so it also names one particular spill of one entry.
//!
//! # Concurrency
//!
//! The store is `Send + Sync` and shared behind an `Arc` by many tokio tasks. One
//! `std::sync::Mutex` guards all state; it is never held across an `.await` nor during file
//! I/O. A spill or read-back works in three steps: mark the entry under the lock, do the file
//! I/O in `spawn_blocking` without the lock, then lock again and finish *only if the entry is
//! still in the state it was marked in* (same spill file number). Otherwise the entry was
//! removed, replaced or cleared meanwhile, and the step undoes its own work: a spill deletes
//! the file it just wrote, a read-back looks again. The finishing step runs inside the
//! blocking closure, so dropping a `get` or `spill_if_needed` future midway leaves
//! no entry stuck and no file behind: both are cancel-safe.
//!
//! Deleting a file (on [`remove`](ResultStore::remove), [`insert`](ResultStore::insert) over
//! a spilled value, [`clear`](ResultStore::clear)) is one `unlink`, done in place after the
//! lock is released. The spill directory belongs to one store; [`ResultStore::clear`] on
//! worker shutdown deletes every file the store knows, and spills still running delete
//! theirs as they finish.

use std::collections::{BTreeMap, HashMap};
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex, MutexGuard, PoisonError};

use dusk_flight::messages::ValueKind;
use tracing::{debug, warn};

use super::error::WorkerError;
use super::spill;
use crate::blocking::blocking;
use crate::graph::{TaskKey, Value};

/// How much memory a [`ResultStore`] may use and where it spills.
#[derive(Clone, Debug)]
pub(crate) struct StoreConfig {
    /// The worker's memory limit for results, in bytes. No default: the worker derives it
    /// from its `--memory-limit`.
    pub(crate) memory_limit_bytes: u64,
    /// The directory spill files go to, created if missing. It must belong to this store
    /// alone: files are named `<n>.arrow` from 0 up. No default.
    pub(crate) spill_dir: PathBuf,
    /// Spill least-recently-used values while managed bytes exceed this fraction of the
    /// limit. Default [`StoreConfig::DEFAULT_SPILL_FRACTION`], 0.6.
    pub(crate) spill_fraction: f64,
    /// Pause new tasks while managed bytes exceed this fraction of the limit. Default
    /// [`StoreConfig::DEFAULT_PAUSE_FRACTION`], 0.8.
    pub(crate) pause_fraction: f64,
}

impl StoreConfig {
    /// The default spill fraction, 0.6: spilling starts at 60 % of the memory limit, early
    /// enough that the disk keeps up before the pause threshold is reached.
    pub(crate) const DEFAULT_SPILL_FRACTION: f64 = 0.6;

    /// The default pause fraction, 0.8: at 80 % of the memory limit the worker stops
    /// starting tasks, keeping 20 % for the tasks already running.
    pub(crate) const DEFAULT_PAUSE_FRACTION: f64 = 0.8;

    /// A config with the given limit and directory and the default fractions.
    pub(crate) fn new(memory_limit_bytes: u64, spill_dir: impl Into<PathBuf>) -> Self {
        Self {
            memory_limit_bytes,
            spill_dir: spill_dir.into(),
            spill_fraction: Self::DEFAULT_SPILL_FRACTION,
            pause_fraction: Self::DEFAULT_PAUSE_FRACTION,
        }
    }
}

/// A snapshot of a [`ResultStore`]'s accounting, for heartbeats and `/metrics`.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub(crate) struct StoreMetrics {
    /// Bytes of the values held in memory (including values being spilled right now).
    pub(crate) managed_bytes: u64,
    /// Bytes of spill files on disk.
    pub(crate) spilled_bytes: u64,
    /// Number of values held, in memory or on disk.
    pub(crate) count: usize,
    /// Number of values on disk.
    pub(crate) spilled_count: usize,
    /// The configured memory limit, in bytes.
    pub(crate) memory_limit_bytes: u64,
}

/// The task results a worker holds, in memory or spilled to disk.
///
/// See the module docs for the states of an entry and the locking rules.
#[derive(Debug)]
pub(crate) struct ResultStore {
    /// State shared with the blocking spill and read-back closures.
    shared: Arc<Shared>,
}

/// What the store and its blocking closures share.
#[derive(Debug)]
struct Shared {
    /// The spill directory.
    spill_dir: PathBuf,
    /// The memory limit, in bytes.
    memory_limit_bytes: u64,
    /// Spill while managed bytes are above this many bytes.
    spill_threshold_bytes: u64,
    /// Pause while managed bytes are above this many bytes.
    pause_threshold_bytes: u64,
    /// Everything else; never locked across `.await` or file I/O.
    state: Mutex<State>,
}

/// The store's mutable state. Invariants (checked by `validate` in tests):
/// `managed_bytes` is the sum of `nbytes` over in-memory and spilling entries,
/// `spilling_bytes` over spilling ones, `spilled_bytes` the sum of spilled file sizes,
/// `spilled_count` the number of spilled entries, and `lru` holds exactly the in-memory
/// entries, keyed by their `last_used`.
#[derive(Debug, Default)]
struct State {
    /// Every entry, by task key.
    entries: HashMap<TaskKey, Entry>,
    /// In-memory entries by last use, oldest first: spill victims come from the front.
    lru: BTreeMap<u64, TaskKey>,
    /// The use counter; every use takes the next value.
    clock: u64,
    /// The number of the next spill file.
    next_file: u64,
    /// Bytes of in-memory and spilling values.
    managed_bytes: u64,
    /// Bytes of values being spilled right now (part of `managed_bytes`).
    spilling_bytes: u64,
    /// Bytes of spill files.
    spilled_bytes: u64,
    /// Number of spilled entries.
    spilled_count: usize,
}

/// One stored result.
#[derive(Debug)]
struct Entry {
    /// Bytes the value takes in memory, measured on insert.
    nbytes: u64,
    /// Its layout.
    kind: ValueKind,
    /// When it was last used (a `State::clock` value); its key in `State::lru` while in memory.
    last_used: u64,
    /// Where the value is.
    slot: Slot,
}

/// Where a stored value is.
#[derive(Debug)]
enum Slot {
    /// In memory.
    Memory(Value),
    /// In memory, and being written to spill file `file`.
    Spilling {
        /// The value, still served from memory.
        value: Value,
        /// The number of the file being written.
        file: u64,
    },
    /// On disk only.
    Spilled {
        /// The number of its spill file.
        file: u64,
        /// The size of that file.
        file_bytes: u64,
    },
}

/// A value picked for spilling, handed to the blocking closure.
#[derive(Debug)]
struct Victim {
    /// Its task key.
    key: TaskKey,
    /// The value (a cheap clone of the one in the entry).
    value: Value,
    /// Its entry's `nbytes`.
    nbytes: u64,
    /// Its entry's `last_used`, to put it back where it was if it is not written.
    last_used: u64,
    /// The spill file number reserved for it.
    file: u64,
}

/// How a read-back of a spilled value ended.
#[derive(Debug)]
enum ReadBack {
    /// The value is back in memory.
    Done(Value),
    /// The entry changed while the file was read (removed, replaced, read back or spilled
    /// again by someone else): look again.
    Changed,
    /// The file could not be read; the entry stays spilled.
    Failed(WorkerError),
}

impl ResultStore {
    /// An empty store; creates the spill directory if it is missing.
    pub(crate) fn new(config: StoreConfig) -> Result<Self, WorkerError> {
        let StoreConfig { memory_limit_bytes, spill_dir, spill_fraction, pause_fraction } = config;
        let fractions_ok = spill_fraction.is_finite()
            && pause_fraction.is_finite()
            && spill_fraction > 0.0
            && spill_fraction <= pause_fraction;
        if !fractions_ok {
            return Err(WorkerError::StoreFractions { spill_fraction, pause_fraction });
        }
        std::fs::create_dir_all(&spill_dir)
            .map_err(|source| WorkerError::SpillDir { path: spill_dir.clone(), source })?;
        let limit = memory_limit_bytes as f64;
        Ok(Self {
            shared: Arc::new(Shared {
                spill_dir,
                memory_limit_bytes,
                spill_threshold_bytes: (limit * spill_fraction) as u64,
                pause_threshold_bytes: (limit * pause_fraction) as u64,
                state: Mutex::new(State::default()),
            }),
        })
    }

    /// Stores `value` as the result of `key`, most recently used.
    ///
    /// An old value of `key` is dropped, and its spill file deleted (a spill of it still
    /// running deletes its file when it finishes). Does not spill: call
    /// [`spill_if_needed`](Self::spill_if_needed) after.
    pub(crate) fn insert(&self, key: TaskKey, value: Value) {
        let nbytes = value.nbytes();
        let kind = value.kind();
        let old = {
            let mut state = self.shared.lock();
            let old = state.take(key.as_str());
            let last_used = state.tick();
            state.lru.insert(last_used, key.clone());
            state.managed_bytes += nbytes;
            state.entries.insert(key, Entry { nbytes, kind, last_used, slot: Slot::Memory(value) });
            old
        };
        if let Some(old) = old {
            self.shared.delete_spill_file_of(&old);
        }
    }

    /// The result of `key`, if the store holds it.
    ///
    /// A value in memory is a cheap clone and becomes most recently used. A spilled value
    /// is read back in `spawn_blocking`, put back in memory (its file deleted) and becomes
    /// most recently used; this may take managed bytes over the spill threshold, so the
    /// caller's next `spill_if_needed` evens it out. If the file cannot be read the error
    /// is returned and the entry stays spilled.
    ///
    /// Cancel-safe: if the future is dropped during a read-back, the read-back still
    /// finishes and the value is left in memory.
    pub(crate) async fn get(&self, key: &str) -> Result<Option<Value>, WorkerError> {
        loop {
            let (key, file) = {
                let mut state = self.shared.lock();
                let State { entries, lru, clock, .. } = &mut *state;
                let Some(entry) = entries.get_mut(key) else {
                    return Ok(None);
                };
                let file = match &entry.slot {
                    Slot::Memory(value) => {
                        let value = value.clone();
                        if let Some(lru_key) = lru.remove(&entry.last_used) {
                            *clock += 1;
                            entry.last_used = *clock;
                            lru.insert(*clock, lru_key);
                        }
                        return Ok(Some(value));
                    }
                    Slot::Spilling { value, .. } => return Ok(Some(value.clone())),
                    Slot::Spilled { file, .. } => *file,
                };
                match entries.get_key_value(key) {
                    Some((key, _)) => (key.clone(), file),
                    None => return Ok(None),
                }
            };
            let shared = self.shared.clone();
            match blocking("reading a spilled value back", move || shared.read_back(key, file)).await? {
                ReadBack::Done(value) => return Ok(Some(value)),
                ReadBack::Changed => continue,
                ReadBack::Failed(error) => return Err(error),
            }
        }
    }

    /// Whether the store holds a result for `key`, in memory or on disk.
    pub(crate) fn contains(&self, key: &str) -> bool {
        self.shared.lock().entries.contains_key(key)
    }

    /// Drops the result of `key` and deletes its spill file; false if there was none.
    ///
    /// If the value is being spilled right now, that spill deletes the file it wrote when
    /// it finishes.
    pub(crate) fn remove(&self, key: &str) -> bool {
        let old = self.shared.lock().take(key);
        match old {
            Some(old) => {
                self.shared.delete_spill_file_of(&old);
                true
            }
            None => false,
        }
    }

    /// The size in memory and the layout of the result of `key`, wherever it is.
    pub(crate) fn describe(&self, key: &str) -> Option<(u64, ValueKind)> {
        self.shared.lock().entries.get(key).map(|entry| (entry.nbytes, entry.kind))
    }

    /// Every result held, in memory or on disk, with its size and layout.
    pub(crate) fn entries(&self) -> Vec<(TaskKey, u64, ValueKind)> {
        let state = self.shared.lock();
        state.entries.iter().map(|(key, entry)| (key.clone(), entry.nbytes, entry.kind)).collect()
    }

    /// The store's accounting right now.
    pub(crate) fn metrics(&self) -> StoreMetrics {
        let state = self.shared.lock();
        StoreMetrics {
            managed_bytes: state.managed_bytes,
            spilled_bytes: state.spilled_bytes,
            count: state.entries.len(),
            spilled_count: state.spilled_count,
            memory_limit_bytes: self.shared.memory_limit_bytes,
        }
    }

    /// Whether managed bytes are above `pause_fraction` of the limit, so the worker should
    /// start no new tasks.
    pub(crate) fn should_pause(&self) -> bool {
        self.shared.lock().managed_bytes > self.shared.pause_threshold_bytes
    }

    /// Spills least-recently-used values while managed bytes are above `spill_fraction` of
    /// the limit; returns the bytes it took out of memory.
    ///
    /// Values already being spilled by a concurrent call count as gone, so two calls never
    /// pick the same value nor spill more than needed between them. A value larger than the
    /// whole limit is spilled like any other. On a write error the value stays in memory as
    /// most recently used (so the next call tries others), the values picked with it are
    /// left in memory, and the error is returned.
    ///
    /// Cancel-safe: spills already started finish (or are undone) without the future.
    pub(crate) async fn spill_if_needed(&self) -> Result<u64, WorkerError> {
        let mut spilled = 0;
        loop {
            let victims = self.shared.lock().pick_victims(self.shared.spill_threshold_bytes);
            if victims.is_empty() {
                return Ok(spilled);
            }
            let shared = self.shared.clone();
            let (bytes, error) = blocking("spilling values to disk", move || shared.spill(victims)).await?;
            spilled += bytes;
            if let Some(error) = error {
                return Err(error);
            }
        }
    }

    /// Drops every result and deletes every spill file: worker shutdown.
    ///
    /// Spills still running delete their files as they finish.
    pub(crate) fn clear(&self) {
        let old = {
            let mut state = self.shared.lock();
            // `clock` and `next_file` go on counting: a spill still running must not find a
            // new entry waiting for a file of the same number.
            state.lru.clear();
            state.managed_bytes = 0;
            state.spilling_bytes = 0;
            state.spilled_bytes = 0;
            state.spilled_count = 0;
            std::mem::take(&mut state.entries)
        };
        for entry in old.values() {
            self.shared.delete_spill_file_of(entry);
        }
    }
}

impl Shared {
    /// Locks the state. A panic while it was held (a bug: nothing in there panics) leaves
    /// the state as it was, so the store keeps serving rather than poisoning every caller.
    fn lock(&self) -> MutexGuard<'_, State> {
        self.state.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// The path of spill file `file`.
    fn path(&self, file: u64) -> PathBuf {
        spill::spill_path(&self.spill_dir, file)
    }

    /// Deletes the spill file of a removed entry, if it has one; logs if that fails.
    ///
    /// A spilling entry's file is left to its spill, which deletes it when it finishes.
    fn delete_spill_file_of(&self, entry: &Entry) {
        if let Slot::Spilled { file, .. } = entry.slot {
            delete_file(&self.path(file));
        }
    }

    /// Blocking: writes `victims` to their files, in order, and moves each entry that is
    /// still waiting for that spill to disk. Returns the bytes taken out of memory and the
    /// first write error; after an error the rest are put back in memory unwritten.
    fn spill(&self, victims: Vec<Victim>) -> (u64, Option<WorkerError>) {
        let mut spilled = 0;
        let mut error = None;
        for victim in victims {
            if error.is_some() {
                self.lock().unmark(&victim, false);
                continue;
            }
            let path = self.path(victim.file);
            let written = spill::write(&path, &victim.key, &victim.value);
            let mut state = self.lock();
            if !state.is_spilling(victim.key.as_str(), victim.file) {
                // Removed, replaced or cleared while we wrote: the file is ours to delete.
                drop(state);
                if written.is_ok() {
                    delete_file(&path);
                }
                continue;
            }
            match written {
                Ok(file_bytes) => {
                    state.mark_spilled(&victim, file_bytes);
                    drop(state);
                    spilled += victim.nbytes;
                    debug!(
                        task.key = %victim.key,
                        spill.bytes = victim.nbytes,
                        spill.file_bytes = file_bytes,
                        "spilled result"
                    );
                }
                Err(source) => {
                    state.unmark(&victim, true);
                    error = Some(WorkerError::SpillWrite { path, source });
                }
            }
        }
        (spilled, error)
    }

    /// Blocking: reads spill file `file` of `key` and, if the entry still waits for it, puts
    /// the value back in memory and deletes the file.
    fn read_back(&self, key: TaskKey, file: u64) -> ReadBack {
        let path = self.path(file);
        let read = spill::read(&path, &key);
        let mut state = self.lock();
        let State { entries, lru, clock, managed_bytes, spilled_bytes, spilled_count, .. } = &mut *state;
        let Some(entry) = entries.get_mut(&key) else {
            return ReadBack::Changed;
        };
        let file_bytes = match entry.slot {
            Slot::Spilled { file: current, file_bytes } if current == file => file_bytes,
            _ => return ReadBack::Changed,
        };
        let value = match read {
            Ok(value) => value,
            Err(source) => return ReadBack::Failed(WorkerError::SpillRead { key, path, source }),
        };
        entry.slot = Slot::Memory(value.clone());
        *clock += 1;
        entry.last_used = *clock;
        lru.insert(*clock, key.clone());
        *managed_bytes += entry.nbytes;
        *spilled_bytes -= file_bytes;
        *spilled_count -= 1;
        let nbytes = entry.nbytes;
        drop(state);
        delete_file(&path);
        debug!(task.key = %key, spill.bytes = nbytes, "read back spilled result");
        ReadBack::Done(value)
    }
}

impl State {
    /// The next use-counter value.
    fn tick(&mut self) -> u64 {
        self.clock += 1;
        self.clock
    }

    /// Removes the entry of `key` and takes it out of the accounting.
    fn take(&mut self, key: &str) -> Option<Entry> {
        let entry = self.entries.remove(key)?;
        match &entry.slot {
            Slot::Memory(_) => {
                self.lru.remove(&entry.last_used);
                self.managed_bytes -= entry.nbytes;
            }
            Slot::Spilling { .. } => {
                self.managed_bytes -= entry.nbytes;
                self.spilling_bytes -= entry.nbytes;
            }
            Slot::Spilled { file_bytes, .. } => {
                self.spilled_bytes -= file_bytes;
                self.spilled_count -= 1;
            }
        }
        Some(entry)
    }

    /// Picks least-recently-used in-memory values until spilling them (and those being
    /// spilled already) brings managed bytes down to `threshold`, and marks them spilling.
    fn pick_victims(&mut self, threshold: u64) -> Vec<Victim> {
        let staying = self.managed_bytes - self.spilling_bytes;
        let mut excess = staying.saturating_sub(threshold);
        let mut victims = Vec::new();
        while excess > 0 {
            let Some((last_used, key)) = self.lru.pop_first() else {
                break;
            };
            let Some(entry) = self.entries.get_mut(&key) else {
                debug_assert!(false, "lru lists {key}, which has no entry");
                continue;
            };
            let Slot::Memory(value) = &entry.slot else {
                debug_assert!(false, "lru lists {key}, which is not in memory");
                continue;
            };
            let value = value.clone();
            let file = self.next_file;
            self.next_file += 1;
            entry.slot = Slot::Spilling { value: value.clone(), file };
            self.spilling_bytes += entry.nbytes;
            excess = excess.saturating_sub(entry.nbytes);
            victims.push(Victim { key, value, nbytes: entry.nbytes, last_used, file });
        }
        victims
    }

    /// Whether the entry of `key` is being spilled to file `file`.
    fn is_spilling(&self, key: &str, file: u64) -> bool {
        let slot = self.entries.get(key).map(|entry| &entry.slot);
        matches!(slot, Some(Slot::Spilling { file: f, .. }) if *f == file)
    }

    /// Moves a spilling entry (checked by `is_spilling`) to disk.
    fn mark_spilled(&mut self, victim: &Victim, file_bytes: u64) {
        if let Some(entry) = self.entries.get_mut(&victim.key) {
            entry.slot = Slot::Spilled { file: victim.file, file_bytes };
            self.managed_bytes -= victim.nbytes;
            self.spilling_bytes -= victim.nbytes;
            self.spilled_bytes += file_bytes;
            self.spilled_count += 1;
        }
    }

    /// Puts a victim whose spill did not happen back in memory, if its entry still waits for
    /// that spill: at its old place in the LRU order, or as most recently used if `failed`
    /// (so the next spill tries other values first).
    fn unmark(&mut self, victim: &Victim, failed: bool) {
        if !self.is_spilling(victim.key.as_str(), victim.file) {
            return;
        }
        let last_used = if failed { self.tick() } else { victim.last_used };
        if let Some(entry) = self.entries.get_mut(&victim.key) {
            entry.slot = Slot::Memory(victim.value.clone());
            entry.last_used = last_used;
            self.spilling_bytes -= victim.nbytes;
            self.lru.insert(last_used, victim.key.clone());
        }
    }
}

/// Deletes a spill file, logging (not failing) if it cannot be deleted: the value is gone
/// either way, and only disk space is lost.
fn delete_file(path: &Path) {
    if let Err(error) = spill::delete(path) {
        warn!(spill.path = %path.display(), error = %error, "could not delete spill file");
    }
}

#[cfg(test)]
#[path = "result_store_tests.rs"]
mod tests;
