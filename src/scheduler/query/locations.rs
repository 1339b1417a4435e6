//! The object stores statements name, known to the scheduler and handed to workers.
//!
//! See [`crate::object_stores`] for the options a location takes. A store is built here
//! when a statement first names it, and every stage task carries the specs of all known
//! stores (there are few), so a worker can read a table whose store it has never seen.

use std::collections::BTreeMap;
use std::sync::Mutex;

use datafusion::error::{DataFusionError, Result};
use datafusion::logical_expr::{DdlStatement, LogicalPlan};
use datafusion::prelude::SessionContext;
use dusk_flight::messages::StoreSpec;

use crate::object_stores::{Stores, store_options, store_url};

/// Known stores. See the module docs.
#[derive(Debug, Default)]
pub(crate) struct Locations {
    stores: Stores,
    specs: Mutex<BTreeMap<String, StoreSpec>>,
}

impl Locations {
    /// Builds and registers in `ctx` the store of the location `plan` names, if any.
    pub(crate) fn prepare(&self, ctx: &SessionContext, plan: &LogicalPlan) -> Result<()> {
        let (locations, options) = match plan {
            LogicalPlan::Ddl(DdlStatement::CreateExternalTable(create)) => {
                (create.locations.clone(), &create.options)
            }
            LogicalPlan::Copy(copy) => (vec![copy.output_url.clone()], &copy.options),
            _ => return Ok(()),
        };
        for url in locations.iter().filter_map(|l| store_url(l)) {
            let spec = StoreSpec { url: url.to_string(), options: store_options(options) };
            self.stores.ensure(&spec, &ctx.runtime_env())?;
            self.specs.lock().map_err(|_| poisoned())?.insert(spec.url.clone(), spec);
        }
        Ok(())
    }

    /// Every known store, for a stage task.
    pub(crate) fn specs(&self) -> Vec<StoreSpec> {
        self.specs.lock().map(|specs| specs.values().cloned().collect()).unwrap_or_default()
    }
}

fn poisoned() -> DataFusionError {
    DataFusionError::Internal("the object store table's lock is poisoned".into())
}
