//! Object stores for locations beyond the local file system: `s3://`, `gs://`, `az://`
//! (also `abfs://`, `abfss://`, `azure://`) and `http(s)://`, through `object_store`.
//!
//! Credentials and settings come from the statement's options, under the store's prefix
//! (`aws.access_key_id`, `aws.secret_access_key`, `aws.region`, `aws.endpoint`, ...;
//! `gcp.service_account_path`, ...; `azure.account_name`, `azure.access_key`, ...), each
//! as `object_store` names it, and for anything not given from the environment, as each
//! cloud's own tools read it (`AWS_ACCESS_KEY_ID`, `GOOGLE_APPLICATION_CREDENTIALS`, ...).
//! An `aws.endpoint` that starts with `http://` (a local S3-compatible server) allows
//! plain HTTP.
//!
//! The scheduler builds a store when a statement names a location (`CREATE EXTERNAL
//! TABLE`, `COPY ... TO`) and sends its
//! [`StoreSpec`](dusk_flight::messages::StoreSpec) with every stage task, so each worker
//! builds the same store once ([`Stores`]) and reads and writes the same objects.

mod builder;
mod cache;
mod hint;
mod options;

pub use builder::{build, store_options, store_url};
pub use cache::Stores;
pub use options::{AwsPrefix, AzurePrefix, GcpPrefix, Prefix, StoreOptions, register_option_prefixes};
