//! Fuzzing on stable Rust (proptest): every parser that reads user bytes — `.npy`, `.npz`,
//! safetensors, the manifest (CSV and Parquet), the run config, the network spec with its
//! weights — gets arbitrary bytes and mutations of valid files, and must return a value or an
//! error: never a panic, an abort, or an allocation beyond a bound.
//!
//! The bound is checked by this binary's allocator, which counts the bytes live at once:
//! a parser may hold at most `max(64 MiB, k × input)` (k = 16; 4 × 1032 for `.npz`, whose
//! members may inflate up to deflate's ratio, and whose f16 arrays widen to f64).
//!
//! Cases per parser: `REPSPACE_FUZZ_CASES` (default 2,000 here;
//! `REPSPACE_FUZZ_CASES=200000 cargo test --release --test fuzz` for a longer run).
//! `REPSPACE_FUZZ_ONLY=hdf5,npz` runs only the parsers named.

use std::alloc::{GlobalAlloc, Layout, System};
use std::sync::Mutex;
use std::sync::atomic::{AtomicUsize, Ordering};

use proptest::prelude::*;
use proptest::test_runner::{Config, TestRunner};
use repspace_store::{Location, npy, safetensors};

/// The system allocator, counting the bytes live and the most live at once.
struct Counting;

static LIVE: AtomicUsize = AtomicUsize::new(0);
static PEAK: AtomicUsize = AtomicUsize::new(0);

// SAFETY: every call is forwarded to `System` unchanged; only counters are updated.
unsafe impl GlobalAlloc for Counting {
    unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
        let live = LIVE.fetch_add(layout.size(), Ordering::Relaxed) + layout.size();
        PEAK.fetch_max(live, Ordering::Relaxed);
        // SAFETY: the caller's contract for `alloc` is `System.alloc`'s.
        unsafe { System.alloc(layout) }
    }
    unsafe fn dealloc(&self, ptr: *mut u8, layout: Layout) {
        LIVE.fetch_sub(layout.size(), Ordering::Relaxed);
        // SAFETY: `ptr` came from `System.alloc` with `layout`.
        unsafe { System.dealloc(ptr, layout) }
    }
    unsafe fn realloc(&self, ptr: *mut u8, layout: Layout, new_size: usize) -> *mut u8 {
        if new_size > layout.size() {
            let live = LIVE.fetch_add(new_size - layout.size(), Ordering::Relaxed) + new_size - layout.size();
            PEAK.fetch_max(live, Ordering::Relaxed);
        } else {
            LIVE.fetch_sub(layout.size() - new_size, Ordering::Relaxed);
        }
        // SAFETY: forwarded unchanged.
        unsafe { System.realloc(ptr, layout, new_size) }
    }
}

#[global_allocator]
static ALLOCATOR: Counting = Counting;

/// The message of the last panic (the hook records it instead of printing it: a panic inside
/// a case is that case's failure, reported with its input).
static LAST_PANIC: Mutex<String> = Mutex::new(String::new());

/// Run `parse` on `input`, failing the case if it panics or if the bytes it held at once
/// exceeded `max(64 MiB, factor × input)`. (One test runs at a time: see `all_parsers`.)
fn bounded(name: &str, input: &[u8], factor: usize, parse: impl FnOnce(&[u8])) -> Result<(), TestCaseError> {
    let before = LIVE.load(Ordering::Relaxed);
    PEAK.store(before, Ordering::Relaxed);
    let outcome = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| parse(input)));
    let held = PEAK.load(Ordering::Relaxed).saturating_sub(before);
    if outcome.is_err() {
        let message = LAST_PANIC.lock().map(|m| m.clone()).unwrap_or_default();
        prop_assert!(
            false,
            "{name} panicked ({message}) on {} bytes: {:?}",
            input.len(),
            &input[..input.len().min(256)]
        );
    }
    let bound = (64usize << 20).max(factor.saturating_mul(input.len()));
    prop_assert!(held <= bound, "{name} held {held} bytes at once for {} input bytes", input.len());
    Ok(())
}

/// One edit of a file.
#[derive(Clone, Debug)]
enum Edit {
    Flip(usize, u8),
    Set(usize, u8),
    Insert(usize, Vec<u8>),
    Delete(usize, usize),
    Truncate(usize),
    /// Replace a run of ASCII digits with a large number (header shapes, offsets, lengths).
    BigNumber(usize, u64),
}

fn edit() -> impl Strategy<Value = Edit> {
    let interesting = prop_oneof![Just(0u8), Just(0xff), Just(b'9'), Just(b','), Just(b'"'), Just(b'\n'), any::<u8>()];
    prop_oneof![
        (any::<usize>(), 1u8..=255).prop_map(|(p, b)| Edit::Flip(p, b)),
        (any::<usize>(), interesting).prop_map(|(p, b)| Edit::Set(p, b)),
        (any::<usize>(), proptest::collection::vec(any::<u8>(), 1..16)).prop_map(|(p, v)| Edit::Insert(p, v)),
        (any::<usize>(), 1usize..64).prop_map(|(p, n)| Edit::Delete(p, n)),
        any::<usize>().prop_map(Edit::Truncate),
        (any::<usize>(), prop_oneof![Just(u64::MAX), Just(1u64 << 40), Just(4294967296), any::<u64>()])
            .prop_map(|(p, v)| Edit::BigNumber(p, v)),
    ]
}

fn apply(mut bytes: Vec<u8>, edits: &[Edit]) -> Vec<u8> {
    for e in edits {
        let n = bytes.len().max(1);
        match e {
            Edit::Flip(p, b) => {
                if let Some(x) = bytes.get_mut(p % n) {
                    *x ^= b;
                }
            }
            Edit::Set(p, b) => {
                if let Some(x) = bytes.get_mut(p % n) {
                    *x = *b;
                }
            }
            Edit::Insert(p, v) => {
                let at = p % (bytes.len() + 1);
                bytes.splice(at..at, v.iter().copied());
            }
            Edit::Delete(p, k) => {
                let at = p % n;
                let end = (at + k).min(bytes.len());
                if at < end {
                    bytes.drain(at..end);
                }
            }
            Edit::Truncate(p) => bytes.truncate(p % n),
            Edit::BigNumber(p, v) => {
                let digits: Vec<usize> = (0..bytes.len()).filter(|&i| bytes[i].is_ascii_digit()).collect();
                if let Some(&start) = digits.get(p % digits.len().max(1)) {
                    let end = (start..bytes.len()).find(|&i| !bytes[i].is_ascii_digit()).unwrap_or(bytes.len());
                    bytes.splice(start..end, v.to_string().into_bytes());
                }
            }
        }
    }
    bytes
}

/// Inputs for a parser: arbitrary bytes, or one of `seeds` with a few edits.
fn inputs(seeds: Vec<Vec<u8>>) -> impl Strategy<Value = Vec<u8>> {
    let count = seeds.len();
    prop_oneof![
        1 => proptest::collection::vec(any::<u8>(), 0..512),
        4 => (0..count, proptest::collection::vec(edit(), 1..6))
            .prop_map(move |(i, edits)| apply(seeds[i].clone(), &edits)),
    ]
}

fn cases() -> u32 {
    std::env::var("REPSPACE_FUZZ_CASES").ok().and_then(|v| v.parse().ok()).unwrap_or(2000)
}

fn run(name: &str, seeds: Vec<Vec<u8>>, factor: usize, parse: impl Fn(&[u8])) {
    if std::env::var("REPSPACE_FUZZ_ONLY").is_ok_and(|only| !only.split(',').any(|p| p == name)) {
        return;
    }
    let mut runner = TestRunner::new(Config { cases: cases(), failure_persistence: None, ..Config::default() });
    for seed in &seeds {
        // the seeds themselves parse without trouble
        if let Err(e) = bounded(name, seed, factor, &parse) {
            eprintln!("seed of {name}: {e}");
            panic!("seed of {name}: {e}");
        }
    }
    let result = runner.run(&inputs(seeds), |input| bounded(name, &input, factor, &parse));
    if let Err(e) = result {
        eprintln!("{name}: {e}");
        panic!("{name}: {e}");
    }
    eprintln!("{name}: {} cases", cases());
}

fn matrix(rows: usize, cols: usize) -> Vec<f64> {
    (0..rows * cols).map(|i| ((i * 7919) % 101) as f64 / 13.0 - 3.0).collect()
}

fn npy_seeds() -> Vec<Vec<u8>> {
    let mut f16 = b"\x93NUMPY\x01\x00".to_vec();
    let text = format!("{{'descr': '<f2', 'fortran_order': True, 'shape': (3, 4), }}{}\n", " ".repeat(55));
    f16.extend_from_slice(&(text.len() as u16).to_le_bytes());
    f16.extend_from_slice(text.as_bytes());
    f16.extend((0..12).flat_map(|i| half::f16::from_f64(i as f64).to_le_bytes()));
    vec![npy::write_npy(&[6, 5], &matrix(6, 5), false), npy::write_npy(&[2, 3, 4], &matrix(6, 4), true), f16]
}

fn all_parsers() {
    run("npy", npy_seeds(), 16, |b| {
        let _ = npy::parse_npy(b);
    });

    let npz: Vec<Vec<u8>> = npy_seeds()
        .into_iter()
        .map(|member| npy::write_npz(&[("x", member), ("y", npy::write_npy(&[2], &[1.0, 2.0], false))]).unwrap())
        .collect();
    run("npz", npz, 4 * 1032, |b| {
        let _ = npy::read_npz_member(b, "x");
        let _ = npy::npz_keys(b);
    });

    let weights = safetensors::write_safetensors(&[
        ("fc1.weight", &[3, 2], &matrix(3, 2)),
        ("fc1.bias", &[3], &[0.1, 0.2, 0.3]),
        ("out.weight", &[2, 3], &matrix(2, 3)),
    ]);
    run("safetensors", vec![weights.clone()], 16, |b| {
        let _ = safetensors::parse_safetensors(b);
    });

    // HDF5 (h5py's layout; the NWB reader and activation stores sit on it): open, then read
    // every kind of dataset the readers read
    let h5 = std::fs::read(std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/small.h5")).unwrap();
    let h5_loc = Location::parse("file:///fuzz/small.h5", None).unwrap();
    run("hdf5", vec![h5], 4 * 1032, |b| {
        if let Ok(f) = repspace_store::hdf5::H5File::from_bytes(&h5_loc, bytes::Bytes::copy_from_slice(b)) {
            let _ = f.read_f64("/blocks/0/out");
            let _ = f.read_f64("/b");
            let _ = f.read_strings("/s");
            let _ = f.read_i64("/i");
            let _ = f.member_names("/blocks");
        }
    });

    let spec = b"[[layers]]\nweight = \"fc1.weight\"\nbias = \"fc1.bias\"\nactivation = \"tanh\"\n\
        [readout]\nweight = \"out.weight\"\n"
        .to_vec();
    let spec_json =
        br#"{"layers": [{"weight": "fc1.weight", "bias": "fc1.bias", "activation": "relu"}], "feature_layer": 1}"#
            .to_vec();
    let (w, s, j) = (
        Location::parse("file:///fuzz/net.safetensors", None).unwrap(),
        Location::parse("file:///fuzz/net.toml", None).unwrap(),
        Location::parse("file:///fuzz/net.json", None).unwrap(),
    );
    run("network spec", vec![spec.clone(), spec_json.clone()], 16, |b| {
        let _ = repspace_pipelines::geometry::parse_network(&w, &weights, &s, b.to_vec());
        let _ = repspace_pipelines::geometry::parse_network(&w, &weights, &j, b.to_vec());
    });
    // the weights mutated under a valid spec
    run("network weights", vec![weights.clone()], 16, |b| {
        let _ = repspace_pipelines::geometry::parse_network(&w, b, &s, spec.clone());
    });

    let csv = "\u{feff}model_id,layer,uri,key,test_uri,layer_index,seed\r\n\
        a,fc,acts/a.npy,,,0,1\r\n\"b, 2\",fc,acts/b.npz,x,acts/t.npy,1,2\r\nc,conv,s3://bucket/c.npy,,,,3\r\n"
        .as_bytes()
        .to_vec();
    let parquet_manifest = {
        use arrow_array::{RecordBatch, StringArray};
        let col = |v: &[&str]| std::sync::Arc::new(StringArray::from(v.to_vec())) as arrow_array::ArrayRef;
        let batch = RecordBatch::try_from_iter([
            ("model_id", col(&["a", "b"])),
            ("layer", col(&["fc", "fc"])),
            ("uri", col(&["a.npy", "b.npy"])),
        ])
        .unwrap();
        repspace_store::tables::encode_parquet("manifest", &batch).unwrap().to_vec()
    };
    let (m_csv, m_pq) = (
        Location::parse("file:///fuzz/manifest.csv", None).unwrap(),
        Location::parse("file:///fuzz/manifest.parquet", None).unwrap(),
    );
    run("manifest csv", vec![csv], 64, |b| {
        let _ = repspace_store::Manifest::from_bytes(&m_csv, bytes::Bytes::copy_from_slice(b));
    });
    run("manifest parquet", vec![parquet_manifest], 64, |b| {
        let _ = repspace_store::Manifest::from_bytes(&m_pq, bytes::Bytes::copy_from_slice(b));
    });

    let configs: Vec<Vec<u8>> = ["configs/demo.toml", "configs/random_zoo.toml"]
        .iter()
        .map(|p| std::fs::read(std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join(p)).unwrap())
        .chain([b"[input]\nmanifest = \"m.csv\"\n[output]\nuri = \"out\"\n[execution]\nmemory_budget = \"2GB\"\n\
            tile_size = 8\n[[metrics]]\nname = \"c\"\nkind = \"cka\"\nkernel = \"rbf\"\nlength_scale = \"median\"\n\
            [[paths]]\nname = \"p\"\nkind = \"shape\"\nalpha = 0.5\n[embedding]\ndims = 3\nmethod = \"landmark\"\n\
            landmarks = 8\n"
            .to_vec()])
        .collect();
    run("config", configs, 64, |b| {
        if let Ok(text) = std::str::from_utf8(b)
            && let Ok(config) = repspace_cli::config::Config::parse(text)
        {
            let _ = config.metric_specs();
            let _ = config.path_specs();
            if let Some(e) = &config.embedding {
                let _ = repspace_cli::config::validate_embedding(e);
            }
        }
    });
}

/// All parsers in one test, one after another, so the allocator's counts are theirs alone.
#[test]
fn parsers_return_errors_never_panic_or_overallocate() {
    std::panic::set_hook(Box::new(|info| {
        if let Ok(mut last) = LAST_PANIC.lock() {
            *last = info.to_string();
        }
    }));
    all_parsers();
    let _ = std::panic::take_hook();
}
