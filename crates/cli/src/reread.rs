//! Files a run need not read again. The registry (`representations`) records, per
//! representation, what the run read (content hash, shape, the metrics it prepared for),
//! where from (uri and key) and what the listing said of the file then (size, modification
//! time, e-tag). A later run lists the files' directories (no file is read) and trusts the
//! record only when all of it matches and the file was last modified more than one clock
//! tick of its store before that run started: a file written in the same tick as the read
//! could have changed unseen, so such files are read again, as git does. The tick is taken
//! as [`FINE_TICK_MILLIS`] when the recorded time has a sub-second part (the store keeps
//! fine times), else [`RACY_MILLIS`] (stores with whole-second times).
//!
//! Jobs with `[[paths]]`, rows given by weights and rows with held-out files always read.

use std::collections::{BTreeSet, HashMap};

use repspace_pipelines::{AllPairsJob, Cached, NamedMetric, Ordinals, RunOutcome};
use repspace_store::storage::FileMeta;
use repspace_store::tables::RepresentationRow;
use repspace_store::{Location, Manifest, ManifestRow, Storage, StoreError};

/// How much older than the run that read it a file must be for its record to be trusted,
/// on a store whose times are whole seconds (FAT has 2 s), and on one with finer times.
pub const RACY_MILLIS: i64 = 2_000;
pub const FINE_TICK_MILLIS: i64 = 10;

/// Whether a row's record may stand in for reading it.
fn eligible(row: &ManifestRow, has_paths: bool) -> bool {
    !has_paths && row.activations && row.weights_uri.is_none() && row.test_uri.is_none()
}

/// Where a row's representation comes from, as the registry records it.
fn source(row: &ManifestRow) -> String {
    format!("{}\t{}", row.uri, row.key.as_deref().unwrap_or(""))
}

/// What the listings say of the eligible rows' files (one listing per directory).
pub fn file_metas(
    storage: &Storage,
    manifest: &Manifest,
    has_paths: bool,
) -> Result<HashMap<Location, FileMeta>, StoreError> {
    let dirs: BTreeSet<Location> =
        manifest.rows.iter().filter(|r| eligible(r, has_paths)).map(|r| r.uri.parent()).collect();
    let mut metas = HashMap::new();
    for dir in dirs {
        metas.extend(storage.list_meta(&dir)?);
    }
    Ok(metas)
}

/// Per manifest row: the earlier record, when it can stand in for reading the file.
pub fn cached_reads(
    previous: &[RepresentationRow],
    manifest: &Manifest,
    metas: &HashMap<Location, FileMeta>,
    metrics: &[NamedMetric],
    has_paths: bool,
) -> Vec<Option<Cached>> {
    let by_key: HashMap<(&str, &str), &RepresentationRow> =
        previous.iter().map(|r| ((r.model_id.as_str(), r.layer.as_str()), r)).collect();
    let fingerprints: Vec<String> = metrics.iter().map(NamedMetric::fingerprint).collect();
    manifest
        .rows
        .iter()
        .map(|row| {
            if !eligible(row, has_paths) {
                return None;
            }
            let old = by_key.get(&(row.model_id.as_str(), row.layer.as_str()))?;
            let meta = metas.get(&row.uri)?;
            let started = old.run_started?;
            let fresh = old.source.as_deref() == Some(source(row).as_str())
                && old.file_size == Some(meta.size as i64)
                && old.file_modified == Some(meta.modified_ms)
                && old.file_etag == meta.e_tag
                && meta.modified_ms
                    < started - if meta.modified_ms % 1000 != 0 { FINE_TICK_MILLIS } else { RACY_MILLIS };
            let prepared: BTreeSet<&str> = old.prepared.as_deref()?.split(' ').collect();
            if !fresh || !fingerprints.iter().all(|f| prepared.contains(f.as_str())) {
                return None;
            }
            let shape = old.shape.as_deref()?.split('x').map(str::parse).collect::<Result<Vec<usize>, _>>().ok()?;
            Some(Cached { hash: old.content_hash.clone()?, shape })
        })
        .collect()
}

/// This run's registry: every representation's ordinal, and what was read of it.
pub fn registry_rows(
    job: &AllPairsJob,
    ordinals: &Ordinals,
    outcome: &RunOutcome,
    metas: &HashMap<Location, FileMeta>,
    run_started: i64,
) -> Vec<RepresentationRow> {
    let keys: Vec<(String, String)> = job.manifest.rows.iter().map(|r| (r.model_id.clone(), r.layer.clone())).collect();
    let records: HashMap<usize, &(usize, String, Vec<usize>, Vec<bool>)> =
        outcome.records.iter().map(|r| (r.0, r)).collect();
    let fingerprints: Vec<String> = job.metrics.iter().map(NamedMetric::fingerprint).collect();
    let has_paths = !job.paths.is_empty();
    let mut rows: Vec<RepresentationRow> = (0..keys.len())
        .map(|r| {
            let row = &job.manifest.rows[r];
            let (group, ordinal) = &ordinals.of[r];
            let record = records.get(&r);
            let meta = eligible(row, has_paths).then(|| metas.get(&row.uri)).flatten();
            RepresentationRow {
                group: group.clone(),
                ordinal: *ordinal as i64,
                model_id: row.model_id.clone(),
                layer: row.layer.clone(),
                tile_size: ordinals.tile_size[group] as i64,
                content_hash: record.map(|x| x.1.clone()),
                shape: record.map(|x| x.2.iter().map(|s| s.to_string()).collect::<Vec<_>>().join("x")),
                prepared: record.map(|x| {
                    fingerprints
                        .iter()
                        .zip(&x.3)
                        .filter(|(_, ok)| **ok)
                        .map(|(f, _)| f.as_str())
                        .collect::<Vec<_>>()
                        .join(" ")
                }),
                source: Some(source(row)),
                file_size: meta.map(|m| m.size as i64),
                file_modified: meta.map(|m| m.modified_ms),
                file_etag: meta.and_then(|m| m.e_tag.clone()),
                run_started: Some(run_started),
                run_id: job.run_id.to_string(),
            }
        })
        .collect();
    rows.sort_by(|a, b| (&a.group, a.ordinal).cmp(&(&b.group, b.ordinal)));
    rows
}

#[cfg(test)]
mod tests {
    use super::*;
    use repspace_metrics::{MetricSpec, Precision, Score};

    fn manifest(dir: &std::path::Path) -> Manifest {
        std::fs::write(
            dir.join("a.npy"),
            repspace_store::npy::write_npy(&[3, 2], &[1.0, 2.0, 3.0, 4.0, 5.0, 7.0], false),
        )
        .unwrap();
        std::fs::write(dir.join("m.csv"), "model_id,layer,uri\nm0,fc,a.npy\n").unwrap();
        let loc = Location::from_path(&dir.join("m.csv")).unwrap();
        Manifest::load(&Storage::new().unwrap(), &loc).unwrap()
    }

    #[test]
    fn a_record_stands_in_only_while_everything_matches_and_the_file_is_not_racy() {
        let dir = tempfile::tempdir().unwrap();
        let m = manifest(dir.path());
        let storage = Storage::new().unwrap();
        let metas = file_metas(&storage, &m, false).unwrap();
        let meta = metas[&m.rows[0].uri].clone();
        let metric =
            NamedMetric { name: "p".into(), spec: MetricSpec::shape(1.0, Score::Angular), precision: Precision::F64 };
        let record = RepresentationRow {
            group: "fc".into(),
            ordinal: 0,
            model_id: "m0".into(),
            layer: "fc".into(),
            tile_size: 4,
            content_hash: Some("h".into()),
            shape: Some("3x2".into()),
            prepared: Some(metric.fingerprint()),
            source: Some(source(&m.rows[0])),
            file_size: Some(meta.size as i64),
            file_modified: Some(meta.modified_ms),
            file_etag: meta.e_tag.clone(),
            run_started: Some(meta.modified_ms + RACY_MILLIS + 1),
            run_id: "r".into(),
        };
        let check = |r: &RepresentationRow, has_paths: bool| {
            cached_reads(std::slice::from_ref(r), &m, &metas, std::slice::from_ref(&metric), has_paths)[0].clone()
        };
        assert_eq!(check(&record, false), Some(Cached { hash: "h".into(), shape: vec![3, 2] }));
        assert_eq!(check(&record, true), None, "jobs with paths read every layer");
        let racy = RepresentationRow { run_started: Some(meta.modified_ms + 5), ..record.clone() };
        assert_eq!(check(&racy, false), None, "written in the same tick as the read");
        // a whole-second time: the store may only keep seconds, so the tick is 2 s
        let whole = FileMeta { modified_ms: 1_600_000_000_000, ..meta.clone() };
        let metas_whole: HashMap<Location, FileMeta> = [(m.rows[0].uri.clone(), whole.clone())].into_iter().collect();
        let at = |started: i64| RepresentationRow {
            file_modified: Some(whole.modified_ms),
            run_started: Some(started),
            ..record.clone()
        };
        let check_whole = |r: &RepresentationRow| {
            cached_reads(std::slice::from_ref(r), &m, &metas_whole, std::slice::from_ref(&metric), false)[0].is_some()
        };
        assert!(!check_whole(&at(whole.modified_ms + 1_500)));
        assert!(check_whole(&at(whole.modified_ms + 2_001)));
        let resized = RepresentationRow { file_size: Some(meta.size as i64 + 8), ..record.clone() };
        assert_eq!(check(&resized, false), None);
        let touched = RepresentationRow { file_modified: Some(meta.modified_ms - 1), ..record.clone() };
        assert_eq!(check(&touched, false), None);
        let moved = RepresentationRow { source: Some("elsewhere\t".into()), ..record.clone() };
        assert_eq!(check(&moved, false), None);
        let other_metric = RepresentationRow { prepared: Some("0000000000000000".into()), ..record.clone() };
        assert_eq!(check(&other_metric, false), None, "a metric it was never prepared for");
    }
}
