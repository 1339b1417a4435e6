//! Text sources: the files or objects a bag of lines reads, listed where the bag is
//! built and read on the worker that runs each partition.
//!
//! Local paths are globbed on the client. Object store locations (`s3://bucket/logs/*.gz`,
//! `gs://…`, `az://…`) are listed through `object_store` with the same options SQL
//! takes (`aws.endpoint`, `aws.access_key_id`, …, see [`crate::object_stores`]); the
//! options travel with each partition's task so the worker builds the same store.

use std::collections::HashMap;
use std::io::{BufRead, BufReader, Read};
use std::path::PathBuf;

use futures::TryStreamExt;
use object_store::path::Path as ObjectPath;
use object_store::{ObjectStore, ObjectStoreExt};
use serde::{Deserialize, Serialize};
use serde_json::Value as Json;
use url::Url;

use super::BagError;
use crate::object_stores;

/// Where one partition's lines live.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub(crate) enum TextSource {
    /// A local file, at the same path on every worker.
    File(String),
    /// An object in a store.
    Object {
        /// The store's URL (`s3://bucket`).
        store: String,
        /// The store's options, in name order.
        options: Vec<(String, String)>,
        /// The object's path inside the store.
        path: String,
    },
}

/// The local files `pattern` matches, in name order.
pub(crate) fn list_files(pattern: &std::path::Path) -> Result<Vec<TextSource>, BagError> {
    let text = pattern.to_string_lossy();
    let fail = |message: String| BagError::File { path: pattern.to_path_buf(), message };
    let mut paths: Vec<PathBuf> =
        glob::glob(&text).map_err(|e| fail(format!("bad pattern: {e}")))?.filter_map(Result::ok).collect();
    paths.sort();
    if paths.is_empty() {
        return Err(fail("no file matches".into()));
    }
    Ok(paths.into_iter().map(|p| TextSource::File(p.to_string_lossy().into_owned())).collect())
}

/// The objects `location` (a store URL whose path may hold a `*` or `[...]` glob; `?`
/// starts a URL's query) names, in name order.
pub(crate) async fn list_objects(
    location: &str,
    options: &HashMap<String, String>,
) -> Result<Vec<TextSource>, BagError> {
    let fail = |message: String| BagError::File { path: PathBuf::from(location), message };
    let store_url = object_stores::store_url(location)
        .ok_or_else(|| fail("not an object store location (s3://, gs://, az://, ...)".into()))?;
    let url = Url::parse(location).map_err(|e| fail(e.to_string()))?;
    let path = ObjectPath::from_url_path(url.path()).map_err(|e| fail(e.to_string()))?.to_string();
    let pattern = glob::Pattern::new(&path).map_err(|e| fail(format!("bad pattern: {e}")))?;
    let literal = path.find(['*', '?', '[']).map_or(path.as_str(), |i| &path[..i]);
    let prefix = literal.rsplit_once('/').map_or("", |(dir, _)| dir);
    let store = object_stores::build(&store_url, options).map_err(|e| fail(e.to_string()))?;
    let separator = glob::MatchOptions { require_literal_separator: true, ..Default::default() };
    let prefix = (!prefix.is_empty()).then(|| ObjectPath::from(prefix));
    let mut paths: Vec<String> = store
        .list(prefix.as_ref())
        .map_ok(|meta| meta.location.to_string())
        .try_filter(|p| std::future::ready(pattern.matches_with(p, separator)))
        .try_collect()
        .await
        .map_err(|e| fail(format!("listing: {e}")))?;
    paths.sort();
    if paths.is_empty() {
        return Err(fail("no object matches".into()));
    }
    let mut options: Vec<(String, String)> = options.iter().map(|(k, v)| (k.clone(), v.clone())).collect();
    options.sort();
    Ok(paths
        .into_iter()
        .map(|path| TextSource::Object { store: store_url.to_string(), options: options.clone(), path })
        .collect())
}

/// The lines of `source`, decompressed by its name's extension (`.gz`, `.zst`).
pub(crate) fn read_lines(source: &TextSource) -> Result<Vec<Json>, String> {
    match source {
        TextSource::File(path) => {
            let file = std::fs::File::open(path).map_err(|e| format!("{path}: {e}"))?;
            lines(file, path)
        }
        TextSource::Object { store, options, path } => {
            let bytes = read_object(store, options, path)?;
            lines(std::io::Cursor::new(bytes), &format!("{store}/{path}"))
        }
    }
}

fn lines(raw: impl Read + 'static, name: &str) -> Result<Vec<Json>, String> {
    let reader: Box<dyn Read> = if name.ends_with(".gz") {
        Box::new(flate2::read::MultiGzDecoder::new(raw))
    } else if name.ends_with(".zst") {
        Box::new(zstd::stream::read::Decoder::new(raw).map_err(|e| format!("{name}: {e}"))?)
    } else {
        Box::new(raw)
    };
    BufReader::new(reader).lines().map(|l| l.map(Json::String).map_err(|e| format!("{name}: {e}"))).collect()
}

/// Fetches an object's bytes. Task kernels run inside their executor thread's runtime,
/// which cannot be blocked on from within, so the fetch runs on a thread and runtime of
/// its own while this one waits.
fn read_object(store: &str, options: &[(String, String)], path: &str) -> Result<bytes::Bytes, String> {
    let name = format!("{store}/{path}");
    let url = Url::parse(store).map_err(|e| format!("{name}: {e}"))?;
    let options: HashMap<String, String> = options.iter().cloned().collect();
    let store = object_stores::build(&url, &options).map_err(|e| format!("{name}: {e}"))?;
    let location = ObjectPath::from(path);
    let fetch = || -> Result<bytes::Bytes, String> {
        let runtime = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .map_err(|e| format!("starting a runtime: {e}"))?;
        runtime.block_on(async { store.get(&location).await?.bytes().await }).map_err(|e| e.to_string())
    };
    std::thread::scope(|scope| scope.spawn(fetch).join())
        .map_err(|_| "the fetch panicked".to_string())
        .and_then(|fetched| fetched)
        .map_err(|e| format!("{name}: {e}"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn compressed_lines_are_read_by_extension() {
        let text = "a\nb\n";
        let mut gz = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::fast());
        std::io::Write::write_all(&mut gz, text.as_bytes()).expect("gzip");
        let gz = gz.finish().expect("gzip");
        let zst = zstd::encode_all(text.as_bytes(), 1).expect("zstd");
        let want = vec![Json::from("a"), Json::from("b")];
        assert_eq!(lines(std::io::Cursor::new(gz), "x.gz"), Ok(want.clone()));
        assert_eq!(lines(std::io::Cursor::new(zst), "x.zst"), Ok(want.clone()));
        assert_eq!(lines(std::io::Cursor::new(text.as_bytes().to_vec()), "x.txt"), Ok(want));
        assert!(lines(std::io::Cursor::new(b"nope".to_vec()), "x.gz").is_err());
    }

    #[test]
    fn local_and_store_locations_are_told_apart() {
        let err = futures::executor::block_on(list_objects("/tmp/x/*.txt", &HashMap::new()));
        assert!(matches!(err, Err(BagError::File { .. })));
        let err = futures::executor::block_on(list_objects(
            "s3://bucket/x/*.txt",
            &HashMap::from([("aws.acess_key_id".to_string(), "x".to_string())]),
        ))
        .err()
        .map(|e| e.to_string())
        .unwrap_or_default();
        assert!(err.contains("aws.acess_key_id"), "{err}");
    }
}
