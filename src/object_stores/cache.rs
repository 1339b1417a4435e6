//! Stores built so far in this process, registered with each query's runtime.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};

use datafusion::error::{DataFusionError, Result};
use datafusion::execution::runtime_env::RuntimeEnv;
use dusk_flight::messages::StoreSpec;
use object_store::ObjectStore;
use url::Url;

use super::builder::build;

/// A store's URL and its options in name order: what makes two specs the same store.
type SpecKey = (String, Vec<(String, String)>);

/// Stores built so far, by spec, so each is built once per process.
#[derive(Debug, Default)]
pub struct Stores {
    built: Mutex<HashMap<SpecKey, Arc<dyn ObjectStore>>>,
}

impl Stores {
    /// Makes `spec`'s store available in `runtime`, building it if this process has not.
    pub fn ensure(&self, spec: &StoreSpec, runtime: &RuntimeEnv) -> Result<()> {
        let url = Url::parse(&spec.url)
            .map_err(|e| DataFusionError::Configuration(format!("object store {}: {e}", spec.url)))?;
        let mut options: Vec<(String, String)> =
            spec.options.iter().map(|(k, v)| (k.clone(), v.clone())).collect();
        options.sort();
        let key = (spec.url.clone(), options);
        let mut built =
            self.built.lock().map_err(|_| DataFusionError::Internal("object store cache".into()))?;
        let store = match built.get(&key) {
            Some(store) => store.clone(),
            None => {
                let store = build(&url, &spec.options)?;
                built.insert(key, store.clone());
                store
            }
        };
        runtime.register_object_store(&url, store);
        Ok(())
    }
}
