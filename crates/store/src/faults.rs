//! Injected storage faults, for tests that check a run survives them.
//!
//! `REPSPACE_INJECT_FAULTS="seed=7,put=0.05,get=0.05,list=0.05,delay_ms=2"` makes every store
//! of the process fail that fraction of its puts (conditional puts included), gets and lists,
//! each fault an `object_store` error naming the call (logged at `warn` as "injected fault"),
//! and, with `delay_ms`, wait that long before each call (object_store's `ThrottledStore`).
//! Deletes and copies are never faulted. Which calls fail is a function of the seed and the
//! call's order in the process, so a single-threaded sequence of calls fails the same way
//! every time. Never set outside tests.

use std::fmt;
use std::ops::Range;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use async_trait::async_trait;
use bytes::Bytes;
use futures::StreamExt;
use futures::stream::BoxStream;
use object_store::path::Path;
use object_store::throttle::{ThrottleConfig, ThrottledStore};
use object_store::{
    CopyOptions, GetOptions, GetResult, ListResult, MultipartUpload, ObjectMeta, ObjectStore, PutMultipartOptions,
    PutOptions, PutPayload, PutResult, Result,
};

use crate::StoreError;

/// The environment variable that turns fault injection on.
pub const FAULTS_ENV: &str = "REPSPACE_INJECT_FAULTS";

/// Which fraction of each kind of call fails, and the delay before each call.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct FaultPlan {
    pub seed: u64,
    pub put: f64,
    pub get: f64,
    pub list: f64,
    pub delay: Duration,
}

impl FaultPlan {
    /// The plan `REPSPACE_INJECT_FAULTS` describes, if it is set.
    pub fn from_env() -> Result<Option<FaultPlan>, StoreError> {
        match std::env::var(FAULTS_ENV) {
            Ok(text) if !text.trim().is_empty() => {
                FaultPlan::parse(&text).map(Some).map_err(|reason| StoreError::Other { uri: FAULTS_ENV.into(), reason })
            }
            _ => Ok(None),
        }
    }

    /// `key=value` pairs separated by commas: `seed`, `put`, `get`, `list` (fractions in
    /// [0, 1]), `delay_ms`.
    pub fn parse(text: &str) -> Result<FaultPlan, String> {
        let mut plan = FaultPlan::default();
        for item in text.split(',').map(str::trim).filter(|s| !s.is_empty()) {
            let (key, value) = item.split_once('=').ok_or_else(|| format!("{item:?} is not key=value"))?;
            let fraction = || {
                value
                    .parse::<f64>()
                    .ok()
                    .filter(|p| (0.0..=1.0).contains(p))
                    .ok_or_else(|| format!("{key} = {value:?}: a fraction in [0, 1]"))
            };
            match key {
                "seed" => plan.seed = value.parse().map_err(|_| format!("seed = {value:?}: an integer"))?,
                "put" => plan.put = fraction()?,
                "get" => plan.get = fraction()?,
                "list" => plan.list = fraction()?,
                "delay_ms" => {
                    plan.delay = Duration::from_millis(value.parse().map_err(|_| format!("delay_ms = {value:?}"))?)
                }
                other => return Err(format!("unknown key {other:?} (seed, put, get, list, delay_ms)")),
            }
        }
        Ok(plan)
    }

    /// `store` with this plan's faults and delay.
    pub fn wrap(&self, store: Arc<dyn ObjectStore>) -> Arc<dyn ObjectStore> {
        let store: Arc<dyn ObjectStore> = if self.delay.is_zero() {
            store
        } else {
            let d = self.delay;
            let config = ThrottleConfig {
                wait_get_per_call: d,
                wait_put_per_call: d,
                wait_list_per_call: d,
                wait_delete_per_call: d,
                ..ThrottleConfig::default()
            };
            Arc::new(ThrottledStore::new(store, config))
        };
        Arc::new(FaultyStore { inner: store, plan: self.clone(), calls: AtomicU64::new(0) })
    }
}

/// A store that fails a fraction of the calls to another.
#[derive(Debug)]
struct FaultyStore {
    inner: Arc<dyn ObjectStore>,
    plan: FaultPlan,
    calls: AtomicU64,
}

impl fmt::Display for FaultyStore {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "FaultyStore({})", self.inner)
    }
}

impl FaultyStore {
    /// Whether this call fails: the next draw of SplitMix64 over (seed, call number) < `p`.
    fn fails(&self, p: f64, call: &str, path: &Path) -> Result<()> {
        if p <= 0.0 {
            return Ok(());
        }
        let n = self.calls.fetch_add(1, Ordering::Relaxed);
        let mut z = self.plan.seed.wrapping_add(n.wrapping_add(1).wrapping_mul(0x9e3779b97f4a7c15));
        z = (z ^ (z >> 30)).wrapping_mul(0xbf58476d1ce4e5b9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94d049bb133111eb);
        z ^= z >> 31;
        if ((z >> 11) as f64) / ((1u64 << 53) as f64) >= p {
            return Ok(());
        }
        tracing::warn!(call, path = %path, "injected fault");
        Err(object_store::Error::Generic {
            store: "injected",
            source: format!("injected {call} fault on {path}").into(),
        })
    }
}

#[async_trait]
impl ObjectStore for FaultyStore {
    async fn put_opts(&self, location: &Path, payload: PutPayload, opts: PutOptions) -> Result<PutResult> {
        self.fails(self.plan.put, "put", location)?;
        self.inner.put_opts(location, payload, opts).await
    }

    async fn put_multipart_opts(&self, location: &Path, opts: PutMultipartOptions) -> Result<Box<dyn MultipartUpload>> {
        self.fails(self.plan.put, "put", location)?;
        self.inner.put_multipart_opts(location, opts).await
    }

    async fn get_opts(&self, location: &Path, options: GetOptions) -> Result<GetResult> {
        self.fails(self.plan.get, "get", location)?;
        self.inner.get_opts(location, options).await
    }

    async fn get_ranges(&self, location: &Path, ranges: &[Range<u64>]) -> Result<Vec<Bytes>> {
        self.fails(self.plan.get, "get", location)?;
        self.inner.get_ranges(location, ranges).await
    }

    fn delete_stream(&self, locations: BoxStream<'static, Result<Path>>) -> BoxStream<'static, Result<Path>> {
        self.inner.delete_stream(locations)
    }

    fn list(&self, prefix: Option<&Path>) -> BoxStream<'static, Result<ObjectMeta>> {
        let at = prefix.cloned().unwrap_or_default();
        match self.fails(self.plan.list, "list", &at) {
            Ok(()) => self.inner.list(prefix),
            Err(e) => futures::stream::once(async move { Err(e) }).boxed(),
        }
    }

    async fn list_with_delimiter(&self, prefix: Option<&Path>) -> Result<ListResult> {
        self.fails(self.plan.list, "list", &prefix.cloned().unwrap_or_default())?;
        self.inner.list_with_delimiter(prefix).await
    }

    async fn copy_opts(&self, from: &Path, to: &Path, options: CopyOptions) -> Result<()> {
        self.inner.copy_opts(from, to, options).await
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn plans_parse_and_refuse_nonsense() {
        let plan = FaultPlan::parse("seed=7, put=0.25,get=0,list=1,delay_ms=3").unwrap();
        assert_eq!(plan, FaultPlan { seed: 7, put: 0.25, get: 0.0, list: 1.0, delay: Duration::from_millis(3) });
        for bad in ["put=2", "get=x", "seed", "colour=red"] {
            assert!(FaultPlan::parse(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn the_fraction_of_failed_calls_is_the_plans() {
        let inner: Arc<dyn ObjectStore> = Arc::new(object_store::memory::InMemory::new());
        let store =
            FaultyStore { inner, plan: FaultPlan { seed: 3, get: 0.2, ..FaultPlan::default() }, calls: 0.into() };
        let path = Path::from("x");
        let failed = (0..10_000).filter(|_| store.fails(0.2, "get", &path).is_err()).count();
        assert!((1_800..2_200).contains(&failed), "{failed} of 10000");
        assert!((0..100).all(|_| store.fails(0.0, "get", &path).is_ok()));
    }
}
