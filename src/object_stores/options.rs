//! Store options in statements: `OPTIONS ('aws.region' '…')` accepted by DataFusion's
//! option checks under the `aws.`, `gcp.` and `azure.` prefixes.

use std::any::Any;
use std::collections::HashMap;

use datafusion::common::config::{ConfigEntry, ConfigExtension, ExtensionOptions};
use datafusion::error::Result;
use datafusion::prelude::SessionContext;

/// Lets statements carry store options: DataFusion checks every option's prefix
/// against the extensions a session knows.
pub fn register_option_prefixes(ctx: &SessionContext) {
    ctx.register_table_options_extension(StoreOptions::<AwsPrefix>::default());
    ctx.register_table_options_extension(StoreOptions::<GcpPrefix>::default());
    ctx.register_table_options_extension(StoreOptions::<AzurePrefix>::default());
}

/// A store option prefix, as a type.
pub trait Prefix: Default + Clone + std::fmt::Debug + Send + Sync + 'static {
    /// The prefix, without the dot.
    const PREFIX: &'static str;
}

/// `aws.*` options.
#[derive(Debug, Default, Clone)]
pub struct AwsPrefix;
impl Prefix for AwsPrefix {
    const PREFIX: &'static str = "aws";
}

/// `gcp.*` options.
#[derive(Debug, Default, Clone)]
pub struct GcpPrefix;
impl Prefix for GcpPrefix {
    const PREFIX: &'static str = "gcp";
}

/// `azure.*` options.
#[derive(Debug, Default, Clone)]
pub struct AzurePrefix;
impl Prefix for AzurePrefix {
    const PREFIX: &'static str = "azure";
}

/// Any option under one prefix, kept as text; [`build`] checks the names.
#[derive(Debug, Default, Clone)]
pub struct StoreOptions<P: Prefix> {
    values: HashMap<String, String>,
    prefix: std::marker::PhantomData<P>,
}

impl<P: Prefix> ExtensionOptions for StoreOptions<P> {
    fn as_any(&self) -> &dyn Any {
        self
    }

    fn as_any_mut(&mut self) -> &mut dyn Any {
        self
    }

    fn cloned(&self) -> Box<dyn ExtensionOptions> {
        Box::new(self.clone())
    }

    fn set(&mut self, key: &str, value: &str) -> Result<()> {
        self.values.insert(key.to_string(), value.to_string());
        Ok(())
    }

    fn entries(&self) -> Vec<ConfigEntry> {
        self.values
            .iter()
            .map(|(k, v)| ConfigEntry {
                key: format!("{}.{k}", P::PREFIX),
                value: Some(v.clone()),
                description: "an object store option",
            })
            .collect()
    }
}

impl<P: Prefix> ConfigExtension for StoreOptions<P> {
    const PREFIX: &'static str = P::PREFIX;
}
