//! Every read and write goes through `object_store`. Locations are URLs; plain paths become
//! `file://` URLs, relative paths resolve against a base directory (the config's or the
//! manifest's). The API is synchronous: it blocks on a small private tokio runtime, so
//! callers (timely workers) need no async.

use std::collections::HashMap;
use std::fmt;
use std::sync::{Arc, Mutex};

use bytes::Bytes;
use futures::future::BoxFuture;
use futures::{FutureExt, TryFutureExt, TryStreamExt};
use object_store::path::Path;
use object_store::{ObjectStore, ObjectStoreExt, PutPayload};
use parquet::arrow::ParquetRecordBatchStreamBuilder;
use parquet::arrow::arrow_reader::{ArrowReaderMetadata, ArrowReaderOptions};
use parquet::arrow::async_reader::{AsyncFileReader, MetadataSuffixFetch};
use parquet::file::metadata::{ParquetMetaData, ParquetMetaDataReader};
use url::Url;

use crate::StoreError;

/// A file or directory location: a URL (`file://`, `s3://`, ...).
#[derive(Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct Location(Url);

/// A location travels (between workers, into run records) as its URL.
impl serde::Serialize for Location {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(self.0.as_str())
    }
}

impl<'de> serde::Deserialize<'de> for Location {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let text = String::deserialize(d)?;
        Url::parse(&text).map(Location).map_err(serde::de::Error::custom)
    }
}

impl Location {
    /// Parse `text` as a URL if it has a scheme, else as a filesystem path. Relative paths
    /// resolve against `base` (a directory), or the current directory without one.
    pub fn parse(text: &str, base: Option<&Location>) -> Result<Location, StoreError> {
        let bad = |reason: String| StoreError::BadLocation { uri: text.to_string(), reason };
        if text.trim().is_empty() {
            return Err(bad("empty location".into()));
        }
        if let Some((scheme, _)) = text.split_once("://")
            && scheme.chars().all(|c| c.is_ascii_alphanumeric() || c == '+')
            && scheme.len() > 1
        {
            return Url::parse(text).map(Location).map_err(|e| bad(e.to_string()));
        }
        let path = std::path::Path::new(text);
        if path.is_absolute() {
            return Location::from_path(path).map_err(|e| bad(e.to_string()));
        }
        match base {
            Some(b) => b.join(text),
            None => {
                let cwd = std::env::current_dir().map_err(|e| bad(e.to_string()))?;
                Location::from_path(&cwd.join(path)).map_err(|e| bad(e.to_string()))
            }
        }
    }

    /// An absolute filesystem path as a `file://` location (normalising `.` and `..`).
    pub fn from_path(path: &std::path::Path) -> Result<Location, StoreError> {
        let abs = std::path::absolute(path)
            .map_err(|e| StoreError::BadLocation { uri: path.display().to_string(), reason: e.to_string() })?;
        let mut clean = std::path::PathBuf::new();
        for c in abs.components() {
            match c {
                std::path::Component::ParentDir => {
                    clean.pop();
                }
                std::path::Component::CurDir => {}
                other => clean.push(other),
            }
        }
        Url::from_file_path(&clean).map(Location).map_err(|_| StoreError::BadLocation {
            uri: path.display().to_string(),
            reason: "not an absolute path".into(),
        })
    }

    /// `rel` resolved against this location taken as a directory.
    pub fn join(&self, rel: &str) -> Result<Location, StoreError> {
        let mut dir = self.0.clone();
        if !dir.path().ends_with('/') {
            dir.set_path(&format!("{}/", dir.path()));
        }
        dir.join(rel).map(Location).map_err(|e| StoreError::BadLocation { uri: rel.to_string(), reason: e.to_string() })
    }

    /// The directory holding this location.
    pub fn parent(&self) -> Location {
        let mut u = self.0.clone();
        let p = u.path().trim_end_matches('/').to_string();
        let cut = p.rfind('/').map(|i| &p[..=i]).unwrap_or("/");
        u.set_path(cut);
        Location(u)
    }

    /// The last path segment (file name).
    pub fn file_name(&self) -> &str {
        self.0.path().trim_end_matches('/').rsplit('/').next().unwrap_or("")
    }

    pub fn url(&self) -> &Url {
        &self.0
    }

    /// The filesystem path for `file://` locations.
    pub fn to_file_path(&self) -> Option<std::path::PathBuf> {
        (self.0.scheme() == "file").then(|| self.0.to_file_path().ok()).flatten()
    }
}

impl fmt::Display for Location {
    /// Local files print as plain paths (what users typed); everything else as its URL.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self.to_file_path() {
            Some(p) => write!(f, "{}", p.display()),
            None => write!(f, "{}", self.0),
        }
    }
}

impl fmt::Debug for Location {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "Location({self})")
    }
}

/// Options for the object store of `url`. For `s3://` every `AWS_*` environment variable
/// (AWS_ENDPOINT, AWS_REGION, AWS_ACCESS_KEY_ID, AWS_SECRET_ACCESS_KEY, AWS_ALLOW_HTTP, …)
/// is passed as object_store reads them; transient errors are retried with backoff by
/// object_store's client (its default retry policy).
fn store_options(url: &Url, overrides: &[(String, String)]) -> Vec<(String, String)> {
    if url.scheme() != "s3" {
        return Vec::new();
    }
    let mut opts: Vec<(String, String)> = std::env::vars()
        .filter(|(k, _)| k.starts_with("AWS_"))
        .map(|(k, v)| (k.to_ascii_lowercase(), v))
        .filter(|(k, _)| !overrides.iter().any(|(o, _)| o == k))
        .collect();
    opts.extend(overrides.iter().cloned());
    if !opts.iter().any(|(k, _)| k == "aws_region") {
        opts.push(("aws_region".into(), "us-east-1".into()));
    }
    let plain_http =
        opts.iter().any(|(k, v)| (k == "aws_endpoint" || k == "aws_endpoint_url") && v.starts_with("http://"));
    if plain_http && !opts.iter().any(|(k, _)| k == "aws_allow_http") {
        opts.push(("aws_allow_http".into(), "true".into()));
    }
    opts
}

/// Outcome of a read that may legitimately find nothing.
#[derive(Debug)]
pub enum GetError {
    NotFound,
    Other(StoreError),
}

impl std::fmt::Display for GetError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            GetError::NotFound => f.write_str("not found"),
            GetError::Other(e) => write!(f, "{e}"),
        }
    }
}

impl std::error::Error for GetError {}

/// What a listing says of an object (no byte of it read).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct FileMeta {
    pub size: u64,
    /// Milliseconds since the Unix epoch.
    pub modified_ms: i64,
    pub e_tag: Option<String>,
}

/// Blocking access to object stores, one store per scheme and authority, shared by all
/// threads of a process.
#[derive(Clone)]
pub struct Storage {
    runtime: Arc<tokio::runtime::Runtime>,
    stores: Arc<Mutex<HashMap<String, Arc<dyn ObjectStore>>>>,
    /// `AWS_*` settings that take precedence over the environment's.
    overrides: Arc<Vec<(String, String)>>,
    /// Faults to inject into every store (tests only: [`crate::faults`]).
    faults: Option<Arc<crate::faults::FaultPlan>>,
}

impl Storage {
    pub fn new() -> Result<Storage, StoreError> {
        let runtime = tokio::runtime::Builder::new_multi_thread()
            .worker_threads(1)
            .enable_all()
            .thread_name("repspace-io")
            .build()
            .map_err(|e| StoreError::Other { uri: String::new(), reason: format!("cannot start I/O runtime: {e}") })?;
        let faults = crate::faults::FaultPlan::from_env()?.map(Arc::new);
        Ok(Storage { runtime: Arc::new(runtime), stores: Arc::default(), overrides: Arc::default(), faults })
    }

    /// Storage whose `s3://` stores also use these `AWS_*` settings (over the environment's).
    pub fn with_s3_settings(settings: &[(&str, &str)]) -> Result<Storage, StoreError> {
        let mut s = Storage::new()?;
        s.overrides = Arc::new(settings.iter().map(|(k, v)| (k.to_ascii_lowercase(), v.to_string())).collect());
        Ok(s)
    }

    fn resolve(&self, loc: &Location) -> Result<(Arc<dyn ObjectStore>, Path), StoreError> {
        let url = loc.url();
        let key = format!("{}://{}", url.scheme(), url.authority());
        let mut stores = self.stores.lock().unwrap_or_else(|p| p.into_inner());
        if let Some(store) = stores.get(&key) {
            let path = Path::from_url_path(url.path())
                .map_err(|e| StoreError::BadLocation { uri: loc.to_string(), reason: e.to_string() })?;
            return Ok((store.clone(), path));
        }
        let (store, path) = object_store::parse_url_opts(url, store_options(url, &self.overrides))
            .map_err(|source| StoreError::ObjectStore { uri: loc.to_string(), source })?;
        let store: Arc<dyn ObjectStore> = Arc::from(store);
        let store = match &self.faults {
            Some(plan) => plan.wrap(store),
            None => store,
        };
        stores.insert(key, store.clone());
        Ok((store, path))
    }

    /// A read's result: a missing object is [`GetError::NotFound`], any other failure names `loc`.
    fn read_outcome<T>(loc: &Location, result: object_store::Result<T>) -> Result<T, GetError> {
        result.map_err(|e| match e {
            object_store::Error::NotFound { .. } => GetError::NotFound,
            e => GetError::Other(Self::wrap(loc, e)),
        })
    }

    fn wrap(loc: &Location, source: object_store::Error) -> StoreError {
        StoreError::ObjectStore { uri: loc.to_string(), source }
    }

    /// The whole object.
    /// Read many objects, up to `concurrency` at a time (a local store reads each on a
    /// blocking thread: overlapping them hides the hand-off latency); results in order.
    pub fn get_many(&self, locs: &[Location], concurrency: usize) -> Vec<Result<Bytes, GetError>> {
        use futures::StreamExt;
        let fetch = |loc: &Location| {
            let resolved = self.resolve(loc);
            let loc = loc.clone();
            async move {
                let (store, path) = resolved.map_err(GetError::Other)?;
                Self::read_outcome(&loc, retried(|| async { store.get(&path).await?.bytes().await }).await)
            }
        };
        self.runtime.block_on(futures::stream::iter(locs.iter().map(fetch)).buffered(concurrency.max(1)).collect())
    }

    pub fn get(&self, loc: &Location) -> Result<Bytes, GetError> {
        let (store, path) = self.resolve(loc).map_err(GetError::Other)?;
        self.runtime.block_on(async {
            Self::read_outcome(loc, retried(|| async { store.get(&path).await?.bytes().await }).await)
        })
    }

    /// The object's size in bytes (a HEAD request; no byte read).
    pub fn size(&self, loc: &Location) -> Result<u64, GetError> {
        let (store, path) = self.resolve(loc).map_err(GetError::Other)?;
        self.runtime
            .block_on(async { Self::read_outcome(loc, retried(|| store.head(&path)).await).map(|meta| meta.size) })
    }

    /// The bytes `start..start + len` of the object (a range read).
    pub fn get_range(&self, loc: &Location, start: u64, len: u64) -> Result<Bytes, GetError> {
        let (store, path) = self.resolve(loc).map_err(GetError::Other)?;
        let range = start..start.saturating_add(len);
        self.runtime
            .block_on(async { Self::read_outcome(loc, retried(|| store.get_range(&path, range.clone())).await) })
    }

    /// The object store that holds `loc` and the path of `loc` inside it, for readers of
    /// formats spread over many objects (a Zarr store); run their futures with [`Storage::block_on`].
    pub fn store_for(&self, loc: &Location) -> Result<(Arc<dyn ObjectStore>, Path), StoreError> {
        self.resolve(loc)
    }

    /// Run a future on this storage's I/O runtime, blocking the calling thread (never call it
    /// from inside that runtime).
    pub fn block_on<F: std::future::Future>(&self, fut: F) -> F::Output {
        self.runtime.block_on(fut)
    }

    /// Write the whole object atomically: readers see all of it or none of it.
    pub fn put(&self, loc: &Location, bytes: Bytes) -> Result<(), StoreError> {
        let (store, path) = self.resolve(loc)?;
        let payload = PutPayload::from(bytes);
        self.runtime.block_on(retried(|| store.put(&path, payload.clone()))).map(|_| ()).map_err(|e| Self::wrap(loc, e))
    }

    /// Create the object only if nothing is there yet (atomic on every backend:
    /// `O_EXCL` locally, a conditional put on S3). Ok(false) when it already exists.
    pub fn put_if_absent(&self, loc: &Location, bytes: Bytes) -> Result<bool, StoreError> {
        let (store, path) = self.resolve(loc)?;
        let opts = object_store::PutOptions { mode: object_store::PutMode::Create, ..Default::default() };
        let payload = PutPayload::from(bytes);
        match self.runtime.block_on(retried(|| store.put_opts(&path, payload.clone(), opts.clone()))) {
            Ok(_) => Ok(true),
            Err(object_store::Error::AlreadyExists { .. }) => Ok(false),
            Err(e) => Err(Self::wrap(loc, e)),
        }
    }

    /// Every object under the directory `dir`, recursively, sorted.
    /// The objects directly under `dir` (not in sub-directories), with what the listing says
    /// of each: size, modification time and e-tag. No object is read.
    pub fn list_meta(&self, dir: &Location) -> Result<Vec<(Location, FileMeta)>, StoreError> {
        let (store, path) = self.resolve(dir)?;
        let listed = match self.runtime.block_on(retried(|| store.list_with_delimiter(Some(&path)))) {
            Ok(l) => l.objects,
            Err(object_store::Error::NotFound { .. }) => Vec::new(),
            Err(e) => return Err(Self::wrap(dir, e)),
        };
        let root = dir.join("")?;
        let prefix = path.as_ref().to_string();
        let mut out = Vec::with_capacity(listed.len());
        for m in listed {
            let full = m.location.as_ref();
            let rel = full.strip_prefix(&prefix).unwrap_or(full).trim_start_matches('/');
            let meta = FileMeta { size: m.size, modified_ms: m.last_modified.timestamp_millis(), e_tag: m.e_tag };
            out.push((root.join(rel)?, meta));
        }
        Ok(out)
    }

    pub fn list(&self, dir: &Location) -> Result<Vec<Location>, StoreError> {
        let (store, path) = self.resolve(dir)?;
        let metas: Vec<_> = self
            .runtime
            .block_on(retried(|| store.list(Some(&path)).try_collect::<Vec<_>>()))
            .or_else(|e| match e {
                object_store::Error::NotFound { .. } => Ok(Vec::new()),
                e => Err(Self::wrap(dir, e)),
            })?;
        let mut out = Vec::with_capacity(metas.len());
        let root = dir.join("")?;
        let prefix = path.as_ref().to_string();
        for m in metas {
            let full = m.location.as_ref();
            let rel = full.strip_prefix(&prefix).unwrap_or(full).trim_start_matches('/');
            out.push(root.join(rel)?);
        }
        out.sort();
        Ok(out)
    }

    /// The Parquet metadata of the object at `loc`: its footer only, read by a suffix range.
    /// The table named in errors is `table`.
    pub fn parquet_metadata(&self, loc: &Location, table: &str) -> Result<ArrowReaderMetadata, StoreError> {
        let (store, path) = self.resolve(loc)?;
        let mut reader = RangeReader { store, path };
        crate::tables::guarded(|| {
            self.runtime.block_on(ArrowReaderMetadata::load_async(&mut reader, ArrowReaderOptions::new()))
        })
        .map_err(|e| Self::parquet_error(loc, table, e))
    }

    /// The rows of `row_groups` of the Parquet object at `loc` whose metadata is `metadata`:
    /// only those row groups' bytes are read.
    pub fn parquet_row_groups(
        &self,
        loc: &Location,
        metadata: &ArrowReaderMetadata,
        row_groups: Vec<usize>,
        table: &str,
    ) -> Result<Vec<arrow_array::RecordBatch>, StoreError> {
        if row_groups.is_empty() {
            return Ok(Vec::new());
        }
        let (store, path) = self.resolve(loc)?;
        let reader = RangeReader { store, path };
        crate::tables::guarded(|| {
            self.runtime.block_on(async {
                ParquetRecordBatchStreamBuilder::new_with_metadata(reader, metadata.clone())
                    .with_row_groups(row_groups)
                    .build()?
                    .try_collect::<Vec<_>>()
                    .await
            })
        })
        .map_err(|e| Self::parquet_error(loc, table, e))
    }

    /// An object store failure stays one (the file may be fine); anything else is the file's.
    fn parquet_error(loc: &Location, table: &str, e: parquet::errors::ParquetError) -> StoreError {
        match e {
            parquet::errors::ParquetError::External(source) => match source.downcast::<object_store::Error>() {
                Ok(source) => Self::wrap(loc, *source),
                Err(other) => {
                    StoreError::Parquet { table: table.into(), source: parquet::errors::ParquetError::External(other) }
                }
            },
            source => StoreError::Parquet { table: table.into(), source },
        }
    }

    pub fn delete(&self, loc: &Location) -> Result<(), StoreError> {
        let (store, path) = self.resolve(loc)?;
        match self.runtime.block_on(store.delete(&path)) {
            Ok(()) | Err(object_store::Error::NotFound { .. }) => Ok(()),
            Err(e) => Err(Self::wrap(loc, e)),
        }
    }
}

/// Parquet's view of one object: byte ranges and the footer by suffix, so a reader fetches
/// only the footer and the row groups it decodes (the pattern of parquet's
/// `examples/object_store.rs`).
struct RangeReader {
    store: Arc<dyn ObjectStore>,
    path: Path,
}

fn to_parquet_error(e: object_store::Error) -> parquet::errors::ParquetError {
    parquet::errors::ParquetError::External(Box::new(e))
}

impl AsyncFileReader for RangeReader {
    fn get_bytes(&mut self, range: std::ops::Range<u64>) -> BoxFuture<'_, parquet::errors::Result<Bytes>> {
        self.store.get_range(&self.path, range).map_err(to_parquet_error).boxed()
    }

    fn get_byte_ranges(
        &mut self,
        ranges: Vec<std::ops::Range<u64>>,
    ) -> BoxFuture<'_, parquet::errors::Result<Vec<Bytes>>> {
        async move { self.store.get_ranges(&self.path, &ranges).await.map_err(to_parquet_error) }.boxed()
    }

    fn get_metadata<'a>(
        &'a mut self,
        options: Option<&'a ArrowReaderOptions>,
    ) -> BoxFuture<'a, parquet::errors::Result<Arc<ParquetMetaData>>> {
        async move {
            let metadata = ParquetMetaDataReader::new()
                .with_arrow_reader_options(options)
                .load_via_suffix_and_finish(self)
                .await?;
            Ok(Arc::new(metadata))
        }
        .boxed()
    }
}

impl MetadataSuffixFetch for &mut RangeReader {
    fn fetch_suffix(&mut self, suffix: usize) -> BoxFuture<'_, parquet::errors::Result<Bytes>> {
        let options = object_store::GetOptions {
            range: Some(object_store::GetRange::Suffix(suffix as u64)),
            ..Default::default()
        };
        async move {
            let got = self.store.get_opts(&self.path, options).await.map_err(to_parquet_error)?;
            got.bytes().await.map_err(to_parquet_error)
        }
        .boxed()
    }
}

/// Attempts of a call that fails with a transient error.
const ATTEMPTS: u32 = 4;

/// `call`, again (after 20 ms, 80 ms, 320 ms) while it fails with a transient error: a
/// generic store error (an I/O error, a dropped connection, an injected fault). Answers
/// (not found, already exists, a precondition, permissions) are returned at once. Every call
/// retried is idempotent: reads, lists, and puts of a whole object (a conditional put that
/// failed did not create it).
async fn retried<T, F, Fut>(mut call: F) -> object_store::Result<T>
where
    F: FnMut() -> Fut,
    Fut: std::future::Future<Output = object_store::Result<T>>,
{
    let mut wait = std::time::Duration::from_millis(20);
    let mut attempt = 1;
    loop {
        match call().await {
            Err(e @ object_store::Error::Generic { .. }) if attempt < ATTEMPTS => {
                tracing::debug!(attempt, "storage call failed, retrying: {e}");
                tokio::time::sleep(wait).await;
                wait *= 4;
                attempt += 1;
            }
            result => return result,
        }
    }
}
