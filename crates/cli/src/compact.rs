//! `repspace compact OUT`: pack the tile parts of `distances`, `errors` and `msa_points` into
//! bundles ([`repspace_store::bundle`]), a few large Parquet files instead of thousands of
//! small ones. An explicit step, never a side effect of a run.
//!
//! Invariants:
//! - The tables hold the same rows before and after (each tile's rows are copied bit for bit
//!   into its row groups), so `read_parquet('OUT/distances/*.parquet')` reads the same table.
//! - It holds the output's lock, like a run. Bundles are written first, then the record
//!   `_compactions/<id>.json`, then the packed tile parts are deleted: a crash leaves a tile in
//!   a bundle and a tile part at once, which the next run or compaction settles (the bundle
//!   is kept, the part retired).
//! - Memory is one bundle's encoded bytes plus a few tiles' decoded rows.
//! - Existing bundles are left as they are; tile parts a bundle already holds are retired.

use std::collections::HashSet;

use anyhow::{Context, Result};
use repspace_store::bundle::{BundleName, BundleWriter};
use repspace_store::output::TILE_TABLES;
use repspace_store::tables;
use repspace_store::{Location, Output, RunId, Storage};
use serde::Serialize;

use crate::lock::RunLock;

#[derive(clap::Args, Debug)]
pub struct CompactArgs {
    /// The output location: a directory or an object store URL (s3://bucket/prefix).
    pub output: String,
    /// Close a bundle once its encoded rows reach this many MiB.
    #[arg(long = "bundle-mib", default_value_t = 128.0)]
    pub bundle_mib: f64,
    /// Leave a table alone when it has fewer tile parts than this.
    #[arg(long = "min-parts", default_value_t = 2)]
    pub min_parts: usize,
    /// No summary.
    #[arg(short, long)]
    pub quiet: bool,
}

/// What compaction did to one table.
#[derive(Serialize, Debug, Default)]
pub struct TableCompaction {
    pub table: String,
    /// Tile parts packed into new bundles, and their bytes.
    pub packed_parts: usize,
    pub packed_bytes: u64,
    /// New bundles and their bytes.
    pub bundles: Vec<Location>,
    pub bundle_bytes: u64,
    /// Tile parts an existing bundle already held (left by an interrupted compaction).
    pub redundant_parts: usize,
    /// Tile parts left as they are (unreadable, or of another schema), with the reason.
    pub left: Vec<(Location, String)>,
}

/// The record `_compactions/<id>.json`.
#[derive(Serialize, Debug)]
pub struct CompactionRecord {
    pub compaction_id: String,
    pub bundle_bytes_target: u64,
    pub tables: Vec<TableCompaction>,
    pub removed: Vec<Location>,
}

/// Tile parts read at a time (overlapped reads).
const READ_WINDOW: usize = 8;

pub fn run(args: &CompactArgs) -> Result<()> {
    let storage = Storage::new()?;
    let cwd = std::env::current_dir().context("current directory")?;
    let base = Location::from_path(&cwd.join(""))?;
    let root = Location::parse(&args.output, Some(&base)).context("output location")?;
    let bundle_bytes = (args.bundle_mib * (1u64 << 20) as f64).max(1.0) as u64;
    let record = compact(&storage, &root, bundle_bytes, args.min_parts)?;
    if !args.quiet {
        for t in &record.tables {
            crate::say!(
                "repspace compact {}: {}: {} tile parts ({:.1} MB) -> {} bundles ({:.1} MB); {} duplicate parts retired, {} left as they were",
                root,
                t.table,
                t.packed_parts,
                t.packed_bytes as f64 / 1e6,
                t.bundles.len(),
                t.bundle_bytes as f64 / 1e6,
                t.redundant_parts,
                t.left.len()
            );
        }
    }
    Ok(())
}

/// Compact the output at `root`; bundles close at `bundle_bytes` encoded bytes.
pub fn compact(storage: &Storage, root: &Location, bundle_bytes: u64, min_parts: usize) -> Result<CompactionRecord> {
    let id = RunId::new_from_clock();
    let _lock = RunLock::acquire(storage, root, &format!("compact-{id}"))?;
    let output = Output::new(storage.clone(), root.clone());
    let mut record = CompactionRecord {
        compaction_id: id.to_string(),
        bundle_bytes_target: bundle_bytes,
        tables: vec![],
        removed: vec![],
    };
    let mut seq = 0u32;
    for table in TILE_TABLES {
        let (done, removed) = compact_table(&output, table, &id, &mut seq, bundle_bytes, min_parts)
            .with_context(|| format!("compacting {table}"))?;
        record.removed.extend(removed);
        record.tables.push(done);
    }
    if record.removed.is_empty() {
        return Ok(record);
    }
    let mut json = serde_json::to_vec_pretty(&record)?;
    json.push(b'\n');
    storage.put(&root.join(&format!("_compactions/{id}.json"))?, json.into())?;
    for part in &record.removed {
        storage.delete(part)?;
    }
    Ok(record)
}

/// Pack `table`'s tile parts into bundles; returns what was done and the parts to delete
/// once the record is written.
fn compact_table(
    output: &Output,
    table: &'static str,
    id: &RunId,
    seq: &mut u32,
    bundle_bytes: u64,
    min_parts: usize,
) -> Result<(TableCompaction, Vec<Location>)> {
    let mut done = TableCompaction { table: table.to_string(), ..TableCompaction::default() };
    let schema = tables::tile_table_schema(table).with_context(|| format!("{table} is not a tile table"))?;
    // one listing: the files with their sizes
    let metas = output.storage.list_meta(&output.root.join(&format!("{table}/"))?)?;
    let listing: Vec<Location> = metas.iter().map(|(l, _)| l.clone()).collect();
    let sizes: std::collections::HashMap<Location, u64> = metas.into_iter().map(|(l, m)| (l, m.size)).collect();
    let sources = output.tile_sources(table, Some(&listing))?;
    let bundled: HashSet<u128> = sources.bundles.iter().flat_map(|b| b.members.iter().map(|m| m.tile.key)).collect();
    let (redundant, mut loose): (Vec<_>, Vec<_>) =
        sources.parts.into_iter().partition(|(t, _)| bundled.contains(&t.key));
    done.redundant_parts = redundant.len();
    let mut removed: Vec<Location> = redundant.into_iter().map(|(_, l)| l).collect();
    if loose.len() < min_parts {
        return Ok((done, removed));
    }
    // members in tile order, so a bundle holds neighbouring tiles of one metric and group
    loose.sort_by(|(x, _), (y, _)| {
        (&x.metric, x.group, x.block_a, x.block_b, x.key).cmp(&(&y.metric, y.group, y.block_a, y.block_b, y.key))
    });
    let mut writer: Option<(BundleWriter, Vec<(Location, u64)>)> = None;
    for window in loose.chunks(READ_WINDOW) {
        let locations: Vec<Location> = window.iter().map(|(_, l)| l.clone()).collect();
        let bytes = output.storage.get_many(&locations, READ_WINDOW);
        for ((tile, loc), got) in window.iter().zip(bytes) {
            let batches = match got.map(tables::decode_parquet) {
                Ok(Ok(batches)) => batches,
                Ok(Err(e)) => {
                    tracing::warn!(part = %loc, "a tile part cannot be decoded; left as it is: {e}");
                    done.left.push((loc.clone(), format!("cannot be decoded: {e}")));
                    continue;
                }
                Err(e) => {
                    tracing::warn!(part = %loc, "a tile part cannot be read; left as it is: {e:?}");
                    done.left.push((loc.clone(), format!("cannot be read: {e:?}")));
                    continue;
                }
            };
            let (w, members) = match &mut writer {
                Some(w) => w,
                None => writer.insert((BundleWriter::new(table, schema.clone())?, Vec::new())),
            };
            if !w.fits(&batches) {
                done.left.push((loc.clone(), "its columns are not this version's".into()));
                continue;
            }
            w.add(tile, &batches)?;
            members.push((loc.clone(), sizes.get(loc).copied().unwrap_or(0)));
            if w.bytes_written() as u64 >= bundle_bytes
                && let Some(full) = writer.take()
            {
                close_bundle(output, table, id, seq, full, &mut done, &mut removed)?;
            }
        }
    }
    if let Some(last) = writer.take() {
        close_bundle(output, table, id, seq, last, &mut done, &mut removed)?;
    }
    Ok((done, removed))
}

/// Write a bundle (one atomic put); its tile parts join `removed`.
fn close_bundle(
    output: &Output,
    table: &str,
    id: &RunId,
    seq: &mut u32,
    (writer, members): (BundleWriter, Vec<(Location, u64)>),
    done: &mut TableCompaction,
    removed: &mut Vec<Location>,
) -> Result<()> {
    if writer.is_empty() {
        return Ok(());
    }
    let name = BundleName { id: id.clone(), seq: *seq };
    *seq += 1;
    let bytes = writer.finish()?;
    let loc = output.root.join(&format!("{table}/{}", name.file_name()))?;
    done.bundle_bytes += bytes.len() as u64;
    output.storage.put(&loc, bytes)?;
    done.bundles.push(loc);
    done.packed_parts += members.len();
    done.packed_bytes += members.iter().map(|(_, b)| b).sum::<u64>();
    removed.extend(members.into_iter().map(|(l, _)| l));
    Ok(())
}
