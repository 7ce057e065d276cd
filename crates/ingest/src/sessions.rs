//! Session files named by paths, URLs or globs. A glob (`sessions/*.nwb`, `s3://b/**/*.nwb`)
//! lists the directory before its first wildcard and matches the listed names below it.

use globset::GlobBuilder;
use repspace_store::{Location, Storage};

use crate::IngestError;

fn has_wildcard(s: &str) -> bool {
    s.contains(['*', '?', '['])
}

/// The session files `entries` name, relative to `base`, sorted and without repeats.
pub fn resolve(storage: &Storage, entries: &[String], base: &Location) -> Result<Vec<Location>, IngestError> {
    let mut out = Vec::new();
    for entry in entries {
        if !has_wildcard(entry) {
            out.push(Location::parse(entry, Some(base))?);
            continue;
        }
        let cut = entry[..entry.find(['*', '?', '[']).unwrap_or(entry.len())].rfind('/').map_or(0, |i| i + 1);
        let (dir_text, pattern) = entry.split_at(cut);
        let dir = if dir_text.is_empty() { base.clone() } else { Location::parse(dir_text, Some(base))? };
        let glob = GlobBuilder::new(pattern).literal_separator(true).build().map_err(|e| IngestError::Config {
            key: "sessions".into(),
            reason: format!("{entry:?} is not a glob: {e}"),
        })?;
        let matcher = glob.compile_matcher();
        let root = dir.join("")?.to_string();
        let found: Vec<Location> = storage
            .list(&dir)?
            .into_iter()
            .filter(|loc| loc.to_string().strip_prefix(&root).is_some_and(|rel| matcher.is_match(rel)))
            .collect();
        if found.is_empty() {
            tracing::warn!("sessions: {entry:?} matches no file under {dir}");
        }
        out.extend(found);
    }
    out.sort();
    out.dedup();
    if out.is_empty() {
        return Err(IngestError::Config { key: "sessions".into(), reason: format!("{entries:?} name no file") });
    }
    Ok(out)
}
