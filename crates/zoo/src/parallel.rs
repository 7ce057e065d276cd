//! Training a zoo's networks on `jobs` threads: each thread takes the next network until all
//! are trained or one fails. The outcome does not depend on `jobs`: each network's training
//! is seeded by that network alone, and its rows are kept in network order.

use std::sync::Mutex;
use std::sync::atomic::{AtomicUsize, Ordering};

use crate::ZooError;

/// One trained network: its name, its test accuracy at the last checkpoint, and its
/// manifest rows.
pub(crate) struct Trained {
    pub name: String,
    pub test_accuracy: f64,
    pub rows: Vec<String>,
}

/// Train networks `0..count` with `train_one` on `jobs` threads, stopping at the first
/// failure. Returns every network's rows, in network order, and each (name, accuracy).
pub(crate) fn train_all(
    count: usize,
    jobs: usize,
    train_one: impl Fn(usize) -> Result<Trained, ZooError> + Sync,
) -> Result<(Vec<String>, Vec<(String, f64)>), ZooError> {
    let next = AtomicUsize::new(0);
    let trained: Mutex<Vec<Option<Trained>>> = Mutex::new((0..count).map(|_| None).collect());
    let failure: Mutex<Option<ZooError>> = Mutex::new(None);
    std::thread::scope(|scope| {
        for _ in 0..jobs.max(1) {
            scope.spawn(|| {
                loop {
                    let i = next.fetch_add(1, Ordering::Relaxed);
                    if i >= count || failure.lock().map(|f| f.is_some()).unwrap_or(true) {
                        break;
                    }
                    let started = std::time::Instant::now();
                    match train_one(i) {
                        Ok(t) => {
                            tracing::info!(
                                network = %t.name,
                                test_accuracy = t.test_accuracy,
                                seconds = started.elapsed().as_secs_f64(),
                                "trained"
                            );
                            if let Ok(mut all) = trained.lock() {
                                all[i] = Some(t);
                            }
                        }
                        Err(e) => {
                            if let Ok(mut f) = failure.lock() {
                                f.get_or_insert(e);
                            }
                        }
                    }
                }
            });
        }
    });
    if let Some(e) = failure.into_inner().ok().flatten() {
        return Err(e);
    }
    let trained = trained.into_inner().map_err(|_| ZooError::Train("a training thread panicked".into()))?;
    let (mut rows, mut accuracy) = (Vec::new(), Vec::with_capacity(count));
    for t in trained.into_iter().flatten() {
        rows.extend(t.rows);
        accuracy.push((t.name, t.test_accuracy));
    }
    Ok((rows, accuracy))
}
