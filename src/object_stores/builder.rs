//! Building a store from its URL and the statement's options (and the environment).

use std::collections::HashMap;
use std::str::FromStr;
use std::sync::Arc;

use datafusion::error::{DataFusionError, Result};
use object_store::ObjectStore;
use object_store::aws::{AmazonS3Builder, AmazonS3ConfigKey};
use object_store::azure::{AzureConfigKey, MicrosoftAzureBuilder};
use object_store::gcp::{GoogleCloudStorageBuilder, GoogleConfigKey};
use object_store::http::HttpBuilder;
use url::Url;

use super::hint;

/// What a failure to reach S3 without credentials adds to its message.
const NO_AWS_CREDENTIALS: &str = "no AWS credentials were given, so the cloud's instance metadata \
    service was asked: set OPTIONS ('aws.access_key_id' '...', 'aws.secret_access_key' '...'), the \
    AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY variables, or OPTIONS ('aws.skip_signature' 'true') \
    for a public bucket";

/// True when `builder` was given credentials (or told to sign nothing), rather than
/// left to ask the instance metadata service.
fn has_aws_credentials(builder: &AmazonS3Builder) -> bool {
    use AmazonS3ConfigKey as Key;
    let set = |key: Key| builder.get_config_value(&key).is_some_and(|v| !v.is_empty());
    set(Key::AccessKeyId)
        || set(Key::ContainerCredentialsRelativeUri)
        || set(Key::ContainerCredentialsFullUri)
        || set(Key::WebIdentityTokenFile)
        || builder.get_config_value(&Key::SkipSignature).is_some_and(|v| v == "true")
}

/// The object store a location lives in, as the URL it is registered under
/// (`s3://bucket`), or `None` for local paths.
pub fn store_url(location: &str) -> Option<Url> {
    let url = Url::parse(location).ok()?;
    match url.scheme() {
        "s3" | "s3a" | "gs" | "gcs" | "az" | "abfs" | "abfss" | "azure" | "adl" | "http" | "https" => {
            Url::parse(&format!("{}://{}", url.scheme(), url.authority())).ok()
        }
        _ => None,
    }
}

/// The options among `options` that configure object stores (`aws.*`, `gcp.*`,
/// `azure.*`), for sending to workers.
pub fn store_options(options: &HashMap<String, String>) -> HashMap<String, String> {
    options
        .iter()
        .filter(|(k, _)| PREFIXES.iter().any(|p| k.starts_with(&format!("{p}."))))
        .map(|(k, v)| (k.clone(), v.clone()))
        .collect()
}

const PREFIXES: [&str; 3] = ["aws", "gcp", "azure"];

/// Builds the store for `url` (see [`store_url`]) from `options` and the environment.
pub fn build(url: &Url, options: &HashMap<String, String>) -> Result<Arc<dyn ObjectStore>> {
    let settings = |prefix: &str| -> Vec<(String, String)> {
        options
            .iter()
            .filter_map(|(k, v)| k.strip_prefix(prefix).map(|k| (k.to_string(), v.clone())))
            .collect()
    };
    let bad_option =
        |key: &str| DataFusionError::Configuration(format!("unknown object store option {key} for {url}"));
    let failed =
        |e: object_store::Error| DataFusionError::Configuration(format!("object store for {url}: {e}"));
    let store: Arc<dyn ObjectStore> = match url.scheme() {
        "s3" | "s3a" => {
            let mut builder = AmazonS3Builder::from_env().with_bucket_name(url.authority());
            for (key, value) in settings("aws.") {
                let config = AmazonS3ConfigKey::from_str(&key)
                    .or_else(|_| AmazonS3ConfigKey::from_str(&format!("aws_{key}")))
                    .map_err(|_| bad_option(&format!("aws.{key}")))?;
                if config == AmazonS3ConfigKey::Endpoint && value.starts_with("http://") {
                    builder = builder.with_allow_http(true);
                }
                builder = builder.with_config(config, value);
            }
            let store: Arc<dyn ObjectStore> = Arc::new(builder.clone().build().map_err(failed)?);
            if has_aws_credentials(&builder) {
                store
            } else {
                Arc::new(hint::Hinted::new(store, NO_AWS_CREDENTIALS))
            }
        }
        "gs" | "gcs" => {
            let mut builder = GoogleCloudStorageBuilder::from_env().with_bucket_name(url.authority());
            for (key, value) in settings("gcp.") {
                let config = GoogleConfigKey::from_str(&key)
                    .or_else(|_| GoogleConfigKey::from_str(&format!("google_{key}")))
                    .map_err(|_| bad_option(&format!("gcp.{key}")))?;
                builder = builder.with_config(config, value);
            }
            Arc::new(builder.build().map_err(failed)?)
        }
        "az" | "abfs" | "abfss" | "azure" | "adl" => {
            let mut builder = MicrosoftAzureBuilder::from_env().with_url(url.as_str());
            for (key, value) in settings("azure.") {
                let config = AzureConfigKey::from_str(&key)
                    .or_else(|_| AzureConfigKey::from_str(&format!("azure_{key}")))
                    .map_err(|_| bad_option(&format!("azure.{key}")))?;
                builder = builder.with_config(config, value);
            }
            Arc::new(builder.build().map_err(failed)?)
        }
        "http" | "https" => Arc::new(HttpBuilder::new().with_url(url.as_str()).build().map_err(failed)?),
        other => {
            return Err(DataFusionError::Configuration(format!("no object store for {other}:// locations")));
        }
    };
    Ok(store)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn locations_map_to_the_store_they_live_in() {
        assert_eq!(store_url("s3://bucket/a/b.parquet").map(|u| u.to_string()), Some("s3://bucket".into()));
        assert_eq!(store_url("gs://b/x/").map(|u| u.to_string()), Some("gs://b".into()));
        assert_eq!(store_url("/tmp/x.parquet"), None);
        assert_eq!(store_url("file:///tmp/x"), None);
    }

    #[test]
    fn unknown_options_are_named() {
        let url = Url::parse("s3://bucket").expect("url");
        let options = HashMap::from([("aws.acess_key".to_string(), "x".to_string())]);
        let err = build(&url, &options).err().map(|e| e.to_string()).unwrap_or_default();
        assert!(err.contains("aws.acess_key"), "{err}");
    }

    #[test]
    fn only_store_options_travel() {
        let options = HashMap::from([
            ("aws.region".to_string(), "r".to_string()),
            ("format.has_header".to_string(), "true".to_string()),
        ]);
        assert_eq!(store_options(&options).len(), 1);
    }

    #[test]
    fn stores_without_credentials_are_told_apart() {
        assert!(!has_aws_credentials(&AmazonS3Builder::new().with_bucket_name("b")));
        assert!(has_aws_credentials(
            &AmazonS3Builder::new().with_access_key_id("k").with_secret_access_key("s")
        ));
        assert!(has_aws_credentials(&AmazonS3Builder::new().with_skip_signature(true)));
    }
}
