//! Per-call options: key, priority, retries, resources, purity.

/// Options of a submitted call. `SubmitOptions::default()` is what `submit` uses.
///
/// ```
/// use dusk::SubmitOptions;
/// let opts = SubmitOptions::default().priority(10).retries(2).resource("gpu", 1.0);
/// assert_eq!(opts.retries, 2);
/// ```
#[derive(Clone, Debug, PartialEq)]
pub struct SubmitOptions {
    /// Explicit key; by default the key is the function name and a hash of the arguments.
    pub key: Option<String>,
    /// Higher runs first among ready tasks. Default 0.
    pub priority: i64,
    /// Failed runs retried before the task errs. Default 0.
    pub retries: u32,
    /// Resources one run holds, e.g. `("gpu", 1.0)`; only workers offering them run it.
    pub resources: Vec<(String, f64)>,
    /// Same function and arguments give the same key, so the work is shared and done
    /// once (Dask's `pure=True`). Default true; set false for calls with side effects.
    pub pure: bool,
}

impl Default for SubmitOptions {
    fn default() -> Self {
        SubmitOptions { key: None, priority: 0, retries: 0, resources: Vec::new(), pure: true }
    }
}

impl SubmitOptions {
    /// Sets an explicit key.
    pub fn key(mut self, key: impl Into<String>) -> Self {
        self.key = Some(key.into());
        self
    }

    /// Sets the priority.
    pub fn priority(mut self, priority: i64) -> Self {
        self.priority = priority;
        self
    }

    /// Sets the retries.
    pub fn retries(mut self, retries: u32) -> Self {
        self.retries = retries;
        self
    }

    /// Adds a resource requirement.
    pub fn resource(mut self, name: impl Into<String>, quantity: f64) -> Self {
        self.resources.push((name.into(), quantity));
        self
    }

    /// Sets purity.
    pub fn pure(mut self, pure: bool) -> Self {
        self.pure = pure;
        self
    }
}
