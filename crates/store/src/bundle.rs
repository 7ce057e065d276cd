//! Bundles: many tile parts of one table in one Parquet file, written by `repspace compact`,
//! so an output of thousands of tiles can be a few large files.
//!
//! Invariants this module keeps:
//! - A bundle is `bundle-<id>-<seq>.parquet` ([`BundleName`]), written with one `put`. Its
//!   footer's key-value metadata [`INDEX_KEY`] lists its members in order: each member's tile
//!   part name and its row groups. A member's row groups hold exactly the rows of the tile part
//!   it replaced, so its identity (the tile key) still says what the rows are, and a run that
//!   wants a bundled tile keeps it without reading it. The members are known from the footer
//!   alone (one range read per bundle), never from the rows.
//! - The table is still what `read_parquet('<table>/*.parquet')` reads: a bundle holds only
//!   current tiles once a commit has settled it ([`TileSources::settle`]). A bundle with a
//!   member that is no longer wanted is retired whole; its wanted members are first written
//!   back as tile parts ("unbundled"), which costs copying their rows, never recomputing them.
//! - A tile key is current in one place per table. A crash between writing a bundle and
//!   deleting the parts it replaced leaves a key in two places; [`TileSources::settle`]
//!   resolves it (the bundle wins over a tile part, the first bundle by name over a later
//!   one) and retires the rest, so any history converges to one copy of each row.

use std::collections::HashSet;
use std::ops::Range;
use std::sync::Arc;

use arrow_array::RecordBatch;
use bytes::Bytes;
use parquet::arrow::ArrowWriter;
use parquet::arrow::arrow_reader::ArrowReaderMetadata;
use parquet::file::metadata::KeyValue;
use serde::{Deserialize, Serialize};

use crate::output::{RunId, TilePart};
use crate::{Location, Storage, StoreError};

/// The footer key that holds a bundle's member index (JSON, [`Index`]).
pub const INDEX_KEY: &str = "repspace.bundle";

/// A bundle's file name: `bundle-<id>-<seq>.parquet`, `seq` five digits; the id is a run id
/// (the compaction's), so it is parsed from the right like a part name.
#[derive(Clone, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct BundleName {
    pub id: RunId,
    pub seq: u32,
}

impl BundleName {
    pub fn file_name(&self) -> String {
        format!("bundle-{}-{:05}.parquet", self.id, self.seq)
    }

    /// Parse a file name; `None` for anything that is not a bundle name.
    pub fn parse(file_name: &str) -> Option<BundleName> {
        let stem = file_name.strip_prefix("bundle-")?.strip_suffix(".parquet")?;
        let (id, seq) = stem.rsplit_once('-')?;
        let seq = seq.parse().ok().filter(|_| seq.len() == 5 && seq.bytes().all(|b| b.is_ascii_digit()))?;
        Some(BundleName { id: RunId::parse(id).ok()?, seq })
    }
}

/// The member index in a bundle's footer.
#[derive(Serialize, Deserialize, Debug, PartialEq)]
struct Index {
    version: u32,
    members: Vec<IndexEntry>,
}

#[derive(Serialize, Deserialize, Debug, PartialEq)]
struct IndexEntry {
    /// The tile part name the member replaced.
    tile: String,
    /// Its row groups, `[first, end)`; empty for a tile without rows.
    row_groups: [usize; 2],
    rows: u64,
}

/// One tile of a bundle.
#[derive(Clone, Debug, PartialEq)]
pub struct Member {
    pub tile: TilePart,
    pub row_groups: Range<usize>,
    pub rows: u64,
}

/// An opened bundle: where it is, its members, and its Parquet metadata (kept, so reading a
/// member costs only its row groups' bytes).
#[derive(Debug)]
pub struct Bundle {
    pub location: Location,
    pub table: String,
    pub members: Vec<Member>,
    metadata: ArrowReaderMetadata,
}

impl Bundle {
    /// Read a bundle's footer and member index. An object store failure is returned as one;
    /// a file that is not a well-formed bundle is a `StoreError::Other` naming the reason.
    pub fn open(storage: &Storage, location: &Location, table: &str) -> Result<Bundle, StoreError> {
        let metadata = storage.parquet_metadata(location, table)?;
        let bad = |reason: String| StoreError::Other { uri: location.to_string(), reason };
        let file = metadata.metadata().file_metadata();
        let text = file
            .key_value_metadata()
            .and_then(|kv| kv.iter().find(|k| k.key == INDEX_KEY))
            .and_then(|k| k.value.clone())
            .ok_or_else(|| bad(format!("not a bundle: its footer has no {INDEX_KEY:?} index")))?;
        let index: Index = serde_json::from_str(&text).map_err(|e| bad(format!("bundle index: {e}")))?;
        if index.version != 1 {
            return Err(bad(format!("bundle index version {} (this version reads 1)", index.version)));
        }
        let groups = metadata.metadata().row_groups();
        let mut members = Vec::with_capacity(index.members.len());
        for entry in index.members {
            let tile =
                TilePart::parse(&entry.tile).ok_or_else(|| bad(format!("member {:?}: not a tile", entry.tile)))?;
            let [first, end] = entry.row_groups;
            let rows: i64 = groups.get(first..end).map(|g| g.iter().map(|g| g.num_rows()).sum()).unwrap_or(-1);
            if first > end || rows != entry.rows as i64 {
                return Err(bad(format!(
                    "member {}: row groups {first}..{end} of {} do not hold its {} rows",
                    entry.tile,
                    groups.len(),
                    entry.rows
                )));
            }
            members.push(Member { tile, row_groups: first..end, rows: entry.rows });
        }
        Ok(Bundle { location: location.clone(), table: table.to_string(), members, metadata })
    }

    /// The Arrow schema of every member's rows, without the file's key-value metadata (the
    /// reader copies the member index into the schema; a member written back must not carry it).
    pub fn schema(&self) -> arrow_schema::SchemaRef {
        Arc::new(self.metadata.schema().as_ref().clone().with_metadata(std::collections::HashMap::new()))
    }

    /// The rows of member `m`.
    pub fn read_member(&self, storage: &Storage, m: usize) -> Result<Vec<RecordBatch>, StoreError> {
        let groups = self.members.get(m).map(|m| m.row_groups.clone().collect()).unwrap_or_default();
        storage.parquet_row_groups(&self.location, &self.metadata, groups, &self.table)
    }
}

/// A bundle being written: tiles are added one at a time (only the encoded bundle and the
/// tile being added are held), then [`BundleWriter::finish`] gives the file's bytes.
pub struct BundleWriter {
    table: String,
    schema: arrow_schema::SchemaRef,
    writer: ArrowWriter<Vec<u8>>,
    members: Vec<IndexEntry>,
}

impl BundleWriter {
    /// A bundle of `table` tiles whose rows have `schema`'s columns.
    pub fn new(table: &str, schema: arrow_schema::SchemaRef) -> Result<BundleWriter, StoreError> {
        let props = crate::tables::writer_properties(table)?;
        let writer = ArrowWriter::try_new(Vec::new(), schema.clone(), Some(props))
            .map_err(|source| StoreError::Parquet { table: table.into(), source })?;
        Ok(BundleWriter { table: table.to_string(), schema, writer, members: Vec::new() })
    }

    /// Whether `batches` have the bundle's columns (a tile part of another version's schema
    /// does not belong in it).
    pub fn fits(&self, batches: &[RecordBatch]) -> bool {
        batches.iter().all(|b| b.schema().fields() == self.schema.fields())
    }

    /// Add a tile's rows as its own row groups.
    pub fn add(&mut self, tile: &TilePart, batches: &[RecordBatch]) -> Result<(), StoreError> {
        let err = |source| StoreError::Parquet { table: self.table.clone(), source };
        if !self.fits(batches) {
            return Err(StoreError::Other {
                uri: tile.file_name(),
                reason: format!("its columns differ from the bundle's other {} tiles", self.table),
            });
        }
        let first = self.writer.flushed_row_groups().len();
        let mut rows = 0;
        for b in batches {
            let b = RecordBatch::try_new(self.schema.clone(), b.columns().to_vec())
                .map_err(|source| StoreError::Arrow { table: self.table.clone(), source })?;
            self.writer.write(&b).map_err(err)?;
            rows += b.num_rows() as u64;
        }
        self.writer.flush().map_err(err)?;
        let end = self.writer.flushed_row_groups().len();
        self.members.push(IndexEntry { tile: tile.file_name(), row_groups: [first, end], rows });
        Ok(())
    }

    /// Tiles added so far.
    pub fn len(&self) -> usize {
        self.members.len()
    }

    pub fn is_empty(&self) -> bool {
        self.members.is_empty()
    }

    /// Encoded bytes so far (what the bundle will about weigh).
    pub fn bytes_written(&self) -> usize {
        self.writer.bytes_written()
    }

    /// The bundle's bytes, its member index in the footer.
    pub fn finish(mut self) -> Result<Bytes, StoreError> {
        let index = serde_json::to_string(&Index { version: 1, members: std::mem::take(&mut self.members) })
            .map_err(|e| StoreError::Other { uri: self.table.clone(), reason: format!("bundle index: {e}") })?;
        self.writer.append_key_value_metadata(KeyValue::new(INDEX_KEY.to_string(), index));
        let table = self.table;
        let buf = self.writer.into_inner().map_err(|source| StoreError::Parquet { table, source })?;
        Ok(Bytes::from(buf))
    }
}

/// Where some rows of a table are: a whole file (a run part or a tile part), or a member of a
/// bundle.
#[derive(Clone, Debug)]
pub enum RowSource {
    File(Location),
    Member(Arc<Bundle>, usize),
}

impl RowSource {
    /// Its rows, as batches.
    pub fn read(&self, storage: &Storage, table: &str) -> Result<Vec<RecordBatch>, StoreError> {
        match self {
            RowSource::File(loc) => {
                let bytes = storage.get(loc).map_err(|e| match e {
                    crate::storage::GetError::NotFound => {
                        StoreError::Other { uri: loc.to_string(), reason: "vanished while reading".into() }
                    }
                    crate::storage::GetError::Other(e) => e,
                })?;
                crate::tables::decode_parquet(bytes)
                    .map_err(|source| StoreError::Parquet { table: table.into(), source })
            }
            RowSource::Member(bundle, m) => bundle.read_member(storage, *m),
        }
    }
}

impl std::fmt::Display for RowSource {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            RowSource::File(loc) => write!(f, "{loc}"),
            RowSource::Member(b, m) => match b.members.get(*m) {
                Some(member) => write!(f, "{} (member {})", b.location, member.tile.file_name()),
                None => write!(f, "{} (member {m})", b.location),
            },
        }
    }
}

/// The tiles a table's listing holds: its tile parts and its bundles' members.
#[derive(Debug, Default)]
pub struct TileSources {
    pub table: String,
    pub parts: Vec<(TilePart, Location)>,
    /// Bundles in name order.
    pub bundles: Vec<Arc<Bundle>>,
    /// Bundle files that could not be read as bundles, and why: their tiles are not
    /// committed (recomputed), and a commit retires them.
    pub damaged: Vec<(Location, String)>,
}

/// What a commit does to a table's tile files.
#[derive(Debug, Default, PartialEq)]
pub struct Settlement {
    /// Files to delete: unwanted tile parts, tile parts a bundle duplicates, bundles with an
    /// unwanted or duplicated member, damaged bundles.
    pub retired: Vec<Location>,
    /// Wanted members of retired bundles, held nowhere else: written back as tile parts
    /// before the bundles are deleted. (bundle index in `bundles`, member index)
    pub unbundle: Vec<(usize, usize)>,
}

impl TileSources {
    /// The tile parts and bundles among `listing` (the files of `table`); each bundle's
    /// footer is read.
    pub fn open(storage: &Storage, table: &str, listing: &[Location]) -> Result<TileSources, StoreError> {
        let mut sources = TileSources { table: table.to_string(), ..TileSources::default() };
        for loc in listing {
            let name = loc.file_name();
            if let Some(tile) = TilePart::parse(name) {
                sources.parts.push((tile, loc.clone()));
            } else if BundleName::parse(name).is_some() {
                match Bundle::open(storage, loc, table) {
                    Ok(b) => sources.bundles.push(Arc::new(b)),
                    Err(e @ StoreError::ObjectStore { .. }) => return Err(e),
                    Err(e) => {
                        tracing::warn!(bundle = %loc, "a bundle cannot be read; its tiles are recomputed and it is retired: {e}");
                        sources.damaged.push((loc.clone(), e.to_string()));
                    }
                }
            }
        }
        sources.bundles.sort_by(|a, b| a.location.cmp(&b.location));
        Ok(sources)
    }

    /// Every tile key held (in a tile part or a readable bundle).
    pub fn keys(&self) -> HashSet<u128> {
        let bundled = self.bundles.iter().flat_map(|b| b.members.iter().map(|m| m.tile.key));
        self.parts.iter().map(|(t, _)| t.key).chain(bundled).collect()
    }

    /// One source per tile key held (a bundle's member before a tile part, the first bundle
    /// by name first): every copy of a key holds the same rows.
    pub fn sources(&self) -> Vec<(TilePart, RowSource)> {
        let mut seen = HashSet::new();
        let mut out = Vec::new();
        for b in &self.bundles {
            for (m, member) in b.members.iter().enumerate() {
                if seen.insert(member.tile.key) {
                    out.push((member.tile.clone(), RowSource::Member(b.clone(), m)));
                }
            }
        }
        for (tile, loc) in &self.parts {
            if seen.insert(tile.key) {
                out.push((tile.clone(), RowSource::File(loc.clone())));
            }
        }
        out
    }

    /// The sources of the tiles in `wanted`, one per key.
    pub fn wanted_sources(&self, wanted: &HashSet<u128>) -> Vec<RowSource> {
        self.sources().into_iter().filter(|(t, _)| wanted.contains(&t.key)).map(|(_, s)| s).collect()
    }

    /// What a commit that wants the tiles `wanted` does to this table's tile files, so that
    /// each wanted key is held exactly once and nothing else is.
    ///
    /// A bundle is kept whole when every member is wanted and no earlier kept bundle holds
    /// any of its keys; it is retired otherwise. A tile part is kept when its key is wanted
    /// and no kept bundle holds it (of two parts with one key, which a listing cannot show,
    /// the first). A wanted key held only by retired bundles is unbundled from the first.
    pub fn settle(&self, wanted: &HashSet<u128>) -> Settlement {
        let mut settlement = Settlement::default();
        let mut held: HashSet<u128> = HashSet::new();
        let mut retired_bundles = Vec::new();
        for (i, b) in self.bundles.iter().enumerate() {
            let intact = {
                let mut keys = HashSet::new();
                b.members
                    .iter()
                    .all(|m| wanted.contains(&m.tile.key) && !held.contains(&m.tile.key) && keys.insert(m.tile.key))
            };
            if intact {
                held.extend(b.members.iter().map(|m| m.tile.key));
            } else {
                settlement.retired.push(b.location.clone());
                retired_bundles.push(i);
            }
        }
        for (tile, loc) in &self.parts {
            if wanted.contains(&tile.key) && held.insert(tile.key) {
                continue;
            }
            settlement.retired.push(loc.clone());
        }
        for i in retired_bundles {
            for (m, member) in self.bundles[i].members.iter().enumerate() {
                if wanted.contains(&member.tile.key) && held.insert(member.tile.key) {
                    settlement.unbundle.push((i, m));
                }
            }
        }
        settlement.retired.extend(self.damaged.iter().map(|(loc, _)| loc.clone()));
        settlement
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::tables::{DistanceRow, Table};

    fn tile(key: u128, a: u32, b: u32) -> TilePart {
        TilePart { key, metric: "00ff".into(), group: TilePart::group_hash("fc"), block_a: a, block_b: b }
    }

    fn rows(key: u128, n: usize) -> Vec<DistanceRow> {
        (0..n)
            .map(|i| DistanceRow {
                metric: "procrustes".into(),
                metric_spec: "00ff".into(),
                model_a: format!("a{key}-{i}"),
                layer_a: "fc".into(),
                model_b: "b".into(),
                layer_b: "fc".into(),
                distance: i as f64 / 7.0,
                similarity: None,
                distance_test: None,
                test_underdetermined: None,
                shift_y: None,
                shift_x: None,
                hash_a: "x".into(),
                hash_b: "y".into(),
                run_id: "r".into(),
            })
            .collect()
    }

    fn setup() -> (tempfile::TempDir, Storage, Location) {
        let dir = tempfile::tempdir().unwrap();
        let root = Location::from_path(dir.path()).unwrap();
        (dir, Storage::new().unwrap(), root)
    }

    fn write_bundle(storage: &Storage, root: &Location, name: &str, tiles: &[(TilePart, usize)]) -> Location {
        let mut writer = BundleWriter::new("distances", DistanceRow::schema_with(&[])).unwrap();
        for (t, n) in tiles {
            writer.add(t, &[DistanceRow::to_batch(&rows(t.key, *n)).unwrap()]).unwrap();
        }
        let loc = root.join(&format!("distances/{name}")).unwrap();
        storage.put(&loc, writer.finish().unwrap()).unwrap();
        loc
    }

    fn open(storage: &Storage, root: &Location) -> TileSources {
        let listing = storage.list(&root.join("distances/").unwrap()).unwrap();
        TileSources::open(storage, "distances", &listing).unwrap()
    }

    #[test]
    fn bundle_names_round_trip_and_refuse_others() {
        let name = BundleName { id: RunId::parse("20261201T010000Z-00ab12").unwrap(), seq: 7 };
        assert_eq!(BundleName::parse(&name.file_name()), Some(name));
        for bad in ["bundle-x.parquet", "bundle-x-7.parquet", "bundle--00001.parquet", "tile-1.parquet"] {
            assert_eq!(BundleName::parse(bad), None, "{bad}");
        }
    }

    #[test]
    fn a_member_reads_back_exactly_its_tiles_rows() {
        let (_dir, storage, root) = setup();
        write_bundle(
            &storage,
            &root,
            "bundle-c1-00000.parquet",
            &[(tile(1, 0, 0), 3), (tile(2, 0, 1), 0), (tile(3, 1, 1), 5)],
        );
        let sources = open(&storage, &root);
        assert_eq!(sources.bundles.len(), 1);
        let b = &sources.bundles[0];
        assert_eq!(b.members.iter().map(|m| (m.tile.key, m.rows)).collect::<Vec<_>>(), vec![(1, 3), (2, 0), (3, 5)]);
        for (m, key, n) in [(0, 1, 3), (1, 2, 0), (2, 3, 5)] {
            let batches = b.read_member(&storage, m).unwrap();
            let got: Vec<DistanceRow> = batches.iter().flat_map(|b| DistanceRow::from_batch(b).unwrap()).collect();
            assert_eq!(got, rows(key, n), "member {m}");
        }
        assert!(b.schema().metadata().is_empty(), "the member index stays in the bundle's footer");
        // the whole file is the members' rows, in order, for a reader of the directory
        let all = crate::tables::read_distances(&storage, &root).unwrap();
        assert_eq!(all, [rows(1, 3), rows(3, 5)].concat());
    }

    #[test]
    fn a_file_that_is_not_a_bundle_is_damaged_not_fatal() {
        let (_dir, storage, root) = setup();
        storage.put(&root.join("distances/bundle-c1-00000.parquet").unwrap(), Bytes::from_static(b"PAR1 no")).unwrap();
        crate::tables::publish_part(
            &storage,
            &root,
            "distances",
            "bundle-c2-00000.parquet",
            &DistanceRow::to_batch(&rows(1, 2)).unwrap(),
        )
        .unwrap();
        let sources = open(&storage, &root);
        assert_eq!(sources.damaged.len(), 2, "{:?}", sources.damaged);
        assert!(sources.damaged[1].1.contains("no \"repspace.bundle\" index"), "{:?}", sources.damaged);
        assert_eq!(sources.settle(&HashSet::new()).retired.len(), 2);
    }

    #[test]
    fn settling_keeps_each_wanted_key_once_and_nothing_else() {
        let (_dir, storage, root) = setup();
        let b1 = write_bundle(&storage, &root, "bundle-c1-00000.parquet", &[(tile(1, 0, 0), 1), (tile(2, 0, 1), 1)]);
        let b2 = write_bundle(&storage, &root, "bundle-c1-00001.parquet", &[(tile(3, 1, 1), 1), (tile(4, 0, 2), 1)]);
        let part = |t: TilePart| {
            crate::tables::publish_part(
                &storage,
                &root,
                "distances",
                &t.file_name(),
                &DistanceRow::to_batch(&rows(t.key, 1)).unwrap(),
            )
            .unwrap()
        };
        let p2 = part(tile(2, 0, 1)); // left by a crash after b1 was written
        let p5 = part(tile(5, 2, 2));
        let p6 = part(tile(6, 1, 2));
        let sources = open(&storage, &root);
        assert_eq!(sources.keys(), (1..=6).collect());
        assert_eq!(sources.sources().len(), 6);

        // everything wanted: the duplicate part goes, the bundles stay
        let all: HashSet<u128> = (1..=6).collect();
        assert_eq!(sources.settle(&all), Settlement { retired: vec![p2.clone()], unbundle: vec![] });

        // 4 is no longer wanted: b2 goes, 3 is written back; 6 goes
        let wanted: HashSet<u128> = [1, 2, 3, 5].into_iter().collect();
        let s = sources.settle(&wanted);
        assert_eq!(s.retired, vec![b2.clone(), p2.clone(), p6.clone()]);
        assert_eq!(s.unbundle, vec![(1, 0)]);

        // 1 unwanted: b1 goes, and 2 has a tile part already, so nothing is unbundled
        let wanted: HashSet<u128> = [2, 3, 4, 5].into_iter().collect();
        let s = sources.settle(&wanted);
        assert_eq!(s.retired, vec![b1.clone(), p6.clone()]);
        assert!(s.unbundle.is_empty());
        let _ = p5;

        // a later bundle with a key the first holds is retired, its other members unbundled
        let b3 = write_bundle(&storage, &root, "bundle-c2-00000.parquet", &[(tile(2, 0, 1), 1), (tile(7, 3, 3), 1)]);
        let sources = open(&storage, &root);
        let wanted: HashSet<u128> = [1, 2, 3, 4, 5, 6, 7].into_iter().collect();
        let s = sources.settle(&wanted);
        assert_eq!(s.retired, vec![b3, p2]);
        assert_eq!(s.unbundle, vec![(2, 1)]);
        assert_eq!(sources.bundles[2].members[1].tile.key, 7);
    }
}
