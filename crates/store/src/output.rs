//! A run's output location: its tables as directories of part files, the run records, and
//! the commit that makes one run's parts the current rows.
//!
//! Invariants this module keeps:
//! - A part is one Parquet file written with a single `put` (atomic on every backend), so a
//!   reader never sees half a part.
//! - Every part file is named `part-<run_id>-<writer>.parquet` ([`PartName`]); the writer is
//!   `w<4 digits>`, `w<4 digits>-<5 digits>` or `post`. A run id is letters, digits, `-`,
//!   `_` and `.`, so a name is parsed from the right: the run a part belongs to is exact,
//!   never a substring match (`r1` does not own `r10`'s parts).
//! - The rows of one tile and metric are a *tile part* (`distances/`, and `errors/` and
//!   `msa_points/` when it has such rows) named by its identity and its place,
//!   `tile-<key>-<metric>-<group>-<block a>-<block b>.parquet` ([`TilePart`]). Its content
//!   is a function of its key, so a later run that wants the same identity keeps the part
//!   without reading it; the place lets a run that recomputes a changed tile find the rows
//!   of its unchanged pairs in the tile's earlier version.
//! - `repspace compact` packs tile parts into bundles ([`crate::bundle`]): one Parquet file,
//!   one tile per run of row groups, its members listed in its footer. A bundle's member is
//!   kept, read and retired like the tile part it replaced; a commit that no longer wants a
//!   member writes the bundle's other members back as tile parts and retires the bundle.
//! - After [`Output::commit`], each table holds exactly the current rows: this run's parts
//!   and the tiles it wants, each in one place. The run record (`_runs/<run_id>.json`,
//!   listing what was added and removed) is written first, then every other part is retired.

use std::collections::HashSet;
use std::fmt;

use crate::bundle::{RowSource, TileSources};
use crate::tables::Table;
use crate::{Location, Storage, StoreError};

/// Every table a run may write, in the order a reader meets them.
pub const TABLES: [&str; 13] = [
    "measures",
    "models",
    "distances",
    "errors",
    "paths",
    "path_summary",
    "path_distances",
    "embeddings",
    "embedding_summary",
    "geometry_points",
    "geometry_summary",
    "msa_points",
    "representations",
];

/// The tables whose pair rows live in tile parts.
pub const TILE_TABLES: [&str; 3] = ["distances", "errors", "msa_points"];

/// What committing a run does to the files of the output ([`Output::settle`]).
#[derive(Debug, Default)]
pub struct Commitment {
    /// Files the commit deletes.
    pub retired: Vec<Location>,
    /// Bundle members to write back as tile parts first: (table, member).
    pub unbundle: Vec<(&'static str, RowSource)>,
}

/// A tile part: the identity of its rows, and where the tile sits (the metric's
/// fingerprint, a hash of the group name, the two blocks).
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub struct TilePart {
    pub key: u128,
    pub metric: String,
    pub group: u64,
    pub block_a: u32,
    pub block_b: u32,
}

impl TilePart {
    /// The hash of a group name in tile part names (FNV-1a 64).
    pub fn group_hash(group: &str) -> u64 {
        group.bytes().fold(0xcbf29ce484222325u64, |h, b| (h ^ b as u64).wrapping_mul(0x100000001b3))
    }

    pub fn file_name(&self) -> String {
        format!("tile-{:032x}-{}-{:016x}-{}-{}.parquet", self.key, self.metric, self.group, self.block_a, self.block_b)
    }

    /// Parse a file name; `None` for anything that is not a tile part name.
    pub fn parse(file_name: &str) -> Option<TilePart> {
        let stem = file_name.strip_prefix("tile-")?.strip_suffix(".parquet")?;
        let mut fields = stem.split('-');
        let hex = |s: &str, n: usize| s.len() == n && s.bytes().all(|b| b.is_ascii_hexdigit());
        let key = fields.next().filter(|s| hex(s, 32)).and_then(|s| u128::from_str_radix(s, 16).ok())?;
        let metric = fields.next().filter(|m| !m.is_empty() && m.bytes().all(|b| b.is_ascii_alphanumeric()))?;
        let group = fields.next().filter(|s| hex(s, 16)).and_then(|s| u64::from_str_radix(s, 16).ok())?;
        let block_a = fields.next()?.parse().ok()?;
        let block_b = fields.next()?.parse().ok()?;
        fields.next().is_none().then(|| TilePart { key, metric: metric.to_string(), group, block_a, block_b })
    }
}

/// The key of a tile part's file name.
pub fn parse_tile_part(file_name: &str) -> Option<u128> {
    TilePart::parse(file_name).map(|t| t.key)
}

/// A run's identity: non-empty, letters, digits, `-`, `_` and `.` only.
#[derive(Clone, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct RunId(String);

impl RunId {
    pub fn parse(text: &str) -> Result<RunId, String> {
        if text.is_empty() || !text.chars().all(|c| c.is_ascii_alphanumeric() || "-_.".contains(c)) {
            return Err(format!("run id {text:?}: use letters, digits, '-', '_' and '.'"));
        }
        Ok(RunId(text.to_string()))
    }

    /// `YYYYmmddTHHMMSSZ-xxxxxx`: sortable by time, unique across concurrent runs.
    pub fn new_from_clock() -> RunId {
        let now = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).unwrap_or_default();
        let secs = now.as_secs() as i64;
        let (days, rem) = (secs.div_euclid(86400), secs.rem_euclid(86400));
        // civil_from_days (Howard Hinnant, "chrono-compatible low-level date algorithms")
        let z = days + 719468;
        let era = z.div_euclid(146097);
        let doe = z - era * 146097;
        let yoe = (doe - doe / 1460 + doe / 36524 - doe / 146096) / 365;
        let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
        let mp = (5 * doy + 2) / 153;
        let d = doy - (153 * mp + 2) / 5 + 1;
        let m = if mp < 10 { mp + 3 } else { mp - 9 };
        let y = yoe + era * 400 + if m <= 2 { 1 } else { 0 };
        let nonce = (now.subsec_nanos() as u64 ^ (std::process::id() as u64) << 20) & 0xffffff;
        RunId(format!("{y:04}{m:02}{d:02}T{:02}{:02}{:02}Z-{nonce:06x}", rem / 3600, (rem / 60) % 60, rem % 60))
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl fmt::Display for RunId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

/// Who wrote a part within a run.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Writer {
    /// A worker's end-of-run part of a table: `w0003`.
    Worker(u32),
    /// One of a worker's flushes of `distances` while it computes: `w0003-00012`.
    Flush(u32, u32),
    /// The post-steps after the dataflow (embeddings, path distances): `post`.
    Post,
}

/// The name of a part file: `part-<run_id>-<writer>.parquet`.
#[derive(Clone, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct PartName {
    pub run_id: RunId,
    pub writer: Writer,
}

impl PartName {
    pub fn new(run_id: &RunId, writer: Writer) -> PartName {
        PartName { run_id: run_id.clone(), writer }
    }

    /// Parse a file name; `None` for anything that is not a part name.
    pub fn parse(file_name: &str) -> Option<PartName> {
        let stem = file_name.strip_prefix("part-")?.strip_suffix(".parquet")?;
        let digits = |s: &str, n: usize| s.len() == n && s.bytes().all(|b| b.is_ascii_digit());
        let worker = |s: &str| s.strip_prefix('w').filter(|d| digits(d, 4)).and_then(|d| d.parse().ok());
        // the longest writer form first: `-wNNNN-NNNNN`, then `-wNNNN`, then `-post`
        let (run, writer) = if let Some((rest, flush)) = stem.rsplit_once('-')
            && digits(flush, 5)
            && let Some((run, w)) = rest.rsplit_once('-')
            && let Some(w) = worker(w)
        {
            (run, Writer::Flush(w, flush.parse().ok()?))
        } else if let Some((run, w)) = stem.rsplit_once('-')
            && let Some(w) = worker(w)
        {
            (run, Writer::Worker(w))
        } else {
            (stem.strip_suffix("-post")?, Writer::Post)
        };
        Some(PartName { run_id: RunId::parse(run).ok()?, writer })
    }
}

impl fmt::Display for PartName {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self.writer {
            Writer::Worker(w) => write!(f, "part-{}-w{w:04}.parquet", self.run_id),
            Writer::Flush(w, i) => write!(f, "part-{}-w{w:04}-{i:05}.parquet", self.run_id),
            Writer::Post => write!(f, "part-{}-post.parquet", self.run_id),
        }
    }
}

/// An output location and the storage that reaches it.
#[derive(Clone)]
pub struct Output {
    pub storage: Storage,
    pub root: Location,
}

impl Output {
    pub fn new(storage: Storage, root: Location) -> Output {
        Output { storage, root }
    }

    fn table_dir(&self, table: &str) -> Result<Location, StoreError> {
        self.root.join(&format!("{table}/"))
    }

    /// Publish `batch` as the part `name` of `table` (one atomic put).
    pub fn publish(
        &self,
        table: &str,
        name: &PartName,
        batch: &arrow_array::RecordBatch,
    ) -> Result<Location, StoreError> {
        crate::tables::publish_part(&self.storage, &self.root, table, &name.to_string(), batch)
    }

    /// Publish `rows` as the part `name` of their table (one atomic put).
    pub fn publish_rows<T: Table>(&self, name: &PartName, rows: &[T]) -> Result<Location, StoreError> {
        self.publish_rows_with(name, rows, &[])
    }

    /// [`Output::publish_rows`] for a table with dynamic columns named `dynamic`.
    pub fn publish_rows_with<T: Table>(
        &self,
        name: &PartName,
        rows: &[T],
        dynamic: &[String],
    ) -> Result<Location, StoreError> {
        self.publish(T::NAME, name, &T::to_batch_with(rows, dynamic)?)
    }

    /// Publish a tile's `rows` as the tile part of their table (one atomic put).
    pub fn publish_tile_rows<T: Table>(&self, tile: &TilePart, rows: &[T]) -> Result<Location, StoreError> {
        self.publish_tile(T::NAME, tile, &T::to_batch(rows)?)
    }

    /// Publish a tile's rows of `table` (one atomic put).
    pub fn publish_tile(
        &self,
        table: &str,
        tile: &TilePart,
        batch: &arrow_array::RecordBatch,
    ) -> Result<Location, StoreError> {
        crate::tables::publish_part(&self.storage, &self.root, table, &tile.file_name(), batch)
    }

    /// The tile parts of `table`.
    pub fn tile_parts(&self, table: &str) -> Result<Vec<(TilePart, Location)>, StoreError> {
        Ok(Self::tile_parts_of(self.list(table)?))
    }

    /// The tile parts among `parts`.
    pub fn tile_parts_of(parts: Vec<Location>) -> Vec<(TilePart, Location)> {
        parts.into_iter().filter_map(|p| TilePart::parse(p.file_name()).map(|t| (t, p))).collect()
    }

    /// Every file of `table`.
    pub fn list(&self, table: &str) -> Result<Vec<Location>, StoreError> {
        self.storage.list(&self.table_dir(table)?)
    }

    /// Every part file of `table` with its parsed name (`None`: a `.parquet` file that is
    /// not a part name, e.g. one a user copied in).
    pub fn parts(&self, table: &str) -> Result<Vec<(Location, Option<PartName>)>, StoreError> {
        Ok(self
            .storage
            .list(&self.table_dir(table)?)?
            .into_iter()
            .filter(|p| p.file_name().ends_with(".parquet"))
            .map(|p| {
                let name = PartName::parse(p.file_name());
                (p, name)
            })
            .collect())
    }

    /// The parts of `table` written by exactly run `run_id`.
    pub fn run_parts(&self, table: &str, run_id: &RunId) -> Result<Vec<Location>, StoreError> {
        Ok(self
            .parts(table)?
            .into_iter()
            .filter(|(_, name)| name.as_ref().is_some_and(|n| &n.run_id == run_id))
            .map(|(p, _)| p)
            .collect())
    }

    /// The tile parts and bundles of `table` ([`TileSources`]), from `listing` when given
    /// (a listing of the table taken earlier), listed now otherwise.
    pub fn tile_sources(&self, table: &str, listing: Option<&[Location]>) -> Result<TileSources, StoreError> {
        match listing {
            Some(listing) => TileSources::open(&self.storage, table, listing),
            None => TileSources::open(&self.storage, table, &self.list(table)?),
        }
    }

    /// Where the current rows of `table` are for run `run_id` with the tiles `tiles`: the
    /// run's own parts and one source of each wanted tile (a tile part or a bundle member).
    pub fn current_sources(
        &self,
        table: &str,
        run_id: &RunId,
        tiles: &HashSet<u128>,
    ) -> Result<Vec<RowSource>, StoreError> {
        let listing = self.list(table)?;
        let own = listing
            .iter()
            .filter(|p| PartName::parse(p.file_name()).is_some_and(|n| &n.run_id == run_id))
            .map(|p| RowSource::File(p.clone()));
        let mut sources: Vec<RowSource> = own.collect();
        sources.extend(TileSources::open(&self.storage, table, &listing)?.wanted_sources(tiles));
        Ok(sources)
    }

    /// What a commit of `run_id` with the tiles `tiles` does ([`Commitment`]): it retires
    /// every part another run wrote and every tile file not wanted or held twice
    /// ([`TileSources::settle`]), after writing back the wanted members of the bundles it
    /// retires. Files that are neither parts, tile parts nor bundles are left alone.
    /// `distances_before` is the `distances` listing taken when the run started, with its
    /// tile sources (the lock kept every other writer out since; the run's own parts are never
    /// retired), so the largest directory is not listed, nor its bundles' footers read, twice.
    pub fn settle(
        &self,
        run_id: &RunId,
        tiles: &HashSet<u128>,
        distances_before: Option<(&[Location], &TileSources)>,
    ) -> Result<Commitment, StoreError> {
        let mut commitment = Commitment::default();
        for table in TABLES {
            let (listing, known) = match (table, distances_before) {
                ("distances", Some((before, sources))) => (before.to_vec(), Some(sources)),
                _ => (self.list(table)?, None),
            };
            let foreign = listing.iter().filter(|p| {
                let name = p.file_name();
                name.starts_with("part-") && PartName::parse(name).is_none_or(|n| &n.run_id != run_id)
            });
            commitment.retired.extend(foreign.cloned());
            if TILE_TABLES.contains(&table) {
                let opened;
                let sources = match known {
                    Some(sources) => sources,
                    None => {
                        opened = TileSources::open(&self.storage, table, &listing)?;
                        &opened
                    }
                };
                let settlement = sources.settle(tiles);
                commitment.retired.extend(settlement.retired);
                for (b, m) in settlement.unbundle {
                    commitment.unbundle.push((table, RowSource::Member(sources.bundles[b].clone(), m)));
                }
            }
        }
        Ok(commitment)
    }

    /// Write the members `commitment.unbundle` back as tile parts (their rows, copied), before
    /// the bundles that hold them are retired; returns the parts written.
    pub fn unbundle(&self, commitment: &Commitment) -> Result<Vec<Location>, StoreError> {
        let mut written = Vec::with_capacity(commitment.unbundle.len());
        for (table, source) in &commitment.unbundle {
            let RowSource::Member(bundle, m) = source else { continue };
            let Some(member) = bundle.members.get(*m) else { continue };
            let schema = bundle.schema();
            let batches = bundle
                .read_member(&self.storage, *m)?
                .into_iter()
                .map(|b| arrow_array::RecordBatch::try_new(schema.clone(), b.columns().to_vec()))
                .collect::<Result<Vec<_>, _>>()
                .map_err(|source| StoreError::Arrow { table: table.to_string(), source })?;
            let bytes = crate::tables::encode_batches(table, schema, &batches)?;
            let loc = self.table_dir(table)?.join(&member.tile.file_name())?;
            self.storage.put(&loc, bytes)?;
            written.push(loc);
        }
        Ok(written)
    }

    /// Commit run `run_id`: write its record `_runs/<run_id>.json`, then delete `retired`
    /// (from [`Output::settle`]), so each table holds exactly the current rows.
    pub fn commit(&self, run_id: &RunId, record_json: Vec<u8>, retired: &[Location]) -> Result<(), StoreError> {
        self.storage.put(&self.root.join(&format!("_runs/{run_id}.json"))?, record_json.into())?;
        for part in retired {
            self.storage.delete(part)?;
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn part_names_round_trip_and_parse_from_the_right() {
        let cases = [
            ("r1", Writer::Worker(0)),
            ("r10", Writer::Flush(3, 12)),
            ("20261130T221500Z-0a1b2c", Writer::Post),
            // run ids that look like writers stay whole
            ("a-w0000", Writer::Worker(1)),
            ("a-w0000-00001", Writer::Flush(2, 7)),
            ("x-post", Writer::Post),
            ("v1.2_b", Writer::Worker(9999)),
        ];
        for (run, writer) in cases {
            let name = PartName::new(&RunId::parse(run).unwrap(), writer);
            let text = name.to_string();
            assert_eq!(PartName::parse(&text), Some(name), "{text}");
        }
        assert_eq!(PartName::parse("part-r1-w0000.parquet").unwrap().run_id.as_str(), "r1");
        assert_eq!(PartName::parse("part-r10-w0000.parquet").unwrap().run_id.as_str(), "r10");
        for bad in ["part-.parquet", "part-w0000.parquet", "data.parquet", "part-r1-w0000.csv", "part-r 1-post.parquet"]
        {
            assert_eq!(PartName::parse(bad), None, "{bad}");
        }
    }

    #[test]
    fn run_ids_refuse_separators_and_spaces() {
        for bad in ["", "a/b", "a b", "ü", "a@b"] {
            assert!(RunId::parse(bad).is_err(), "{bad:?}");
        }
        assert!(RunId::parse(RunId::new_from_clock().as_str()).is_ok());
    }

    #[test]
    fn a_commit_keeps_exactly_the_committed_run_and_no_prefix_of_it() {
        let dir = tempfile::tempdir().unwrap();
        let out = Output::new(Storage::new().unwrap(), Location::from_path(dir.path()).unwrap());
        let batch = crate::tables::ErrorRow::to_batch(&[]).unwrap();
        let (r1, r10) = (RunId::parse("r1").unwrap(), RunId::parse("r10").unwrap());
        out.publish("errors", &PartName::new(&r10, Writer::Worker(0)), &batch).unwrap();
        out.publish("errors", &PartName::new(&r1, Writer::Worker(0)), &batch).unwrap();
        out.publish("errors", &PartName::new(&r1, Writer::Flush(0, 1)), &batch).unwrap();
        std::fs::write(dir.path().join("errors/notes.txt"), b"kept").unwrap();
        assert_eq!(out.run_parts("errors", &r1).unwrap().len(), 2);
        assert_eq!(out.run_parts("errors", &r10).unwrap().len(), 1);
        let keep = crate::tables::ErrorRow::to_batch(&[]).unwrap();
        let tile =
            |key| TilePart { key, metric: "00ff".into(), group: TilePart::group_hash("fc"), block_a: 0, block_b: 2 };
        out.publish_tile("errors", &tile(7), &keep).unwrap();
        out.publish_tile("errors", &tile(8), &keep).unwrap();
        let wanted: std::collections::HashSet<u128> = [7].into_iter().collect();
        let retired = out.settle(&r1, &wanted, None).unwrap().retired;
        assert_eq!(retired.len(), 2, "r10's part and the unwanted tile: {retired:?}");
        assert_eq!(out.current_sources("errors", &r1, &wanted).unwrap().len(), 3);
        out.commit(&r1, b"{}".to_vec(), &retired).unwrap();
        assert_eq!(out.tile_parts("errors").unwrap().iter().map(|(t, _)| t.clone()).collect::<Vec<_>>(), vec![tile(7)]);
        let left: Vec<String> = out.parts("errors").unwrap().iter().map(|(p, _)| p.file_name().to_string()).collect();
        assert_eq!(left.len(), 3, "{left:?}");
        assert!(left.iter().all(|n| n.starts_with("tile-") || PartName::parse(n).unwrap().run_id == r1), "{left:?}");
        let t = TilePart { key: u128::MAX, metric: "cbf29ce484222325".into(), group: 1, block_a: 3, block_b: 40 };
        assert_eq!(TilePart::parse(&t.file_name()), Some(t));
        for bad in [
            "tile-12.parquet",
            "tile-00000000000000000000000000000007-ab-0000000000000001-1.parquet",
            "part-r1-w0000.parquet",
        ] {
            assert_eq!(TilePart::parse(bad), None, "{bad}");
        }
        assert!(dir.path().join("errors/notes.txt").exists());
        assert!(dir.path().join("_runs/r1.json").exists());
    }
}
