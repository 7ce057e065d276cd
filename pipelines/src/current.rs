//! The current rows of a run's output, for the post-steps: this run's own parts and one copy
//! of each tile it wants (kept or computed; a tile part or a bundle member), never a retired
//! or uncommitted part.

use std::collections::HashSet;

use repspace_store::bundle::RowSource;
use repspace_store::tables::{DistanceRow, ErrorRow, Table};
use repspace_store::{Location, StoreError};

use crate::incremental::TileKey;
use crate::job::AllPairsJob;

/// The rows of `T` in `source`.
fn rows_of<T: Table>(job: &AllPairsJob, source: &RowSource) -> Result<Vec<T>, StoreError> {
    let batches = source.read(&job.output.storage, T::NAME).map_err(|e| StoreError::Other {
        uri: source.to_string(),
        reason: format!("current rows cannot be read back: {e}"),
    })?;
    let mut rows = Vec::new();
    for b in &batches {
        rows.extend(T::from_batch(b)?);
    }
    Ok(rows)
}

/// Visit every current `distances` row of the run, one source at a time (at most one part's
/// or one tile's rows are held).
pub fn visit_current_distances(
    job: &AllPairsJob,
    tiles: &HashSet<TileKey>,
    mut visit: impl FnMut(DistanceRow),
) -> Result<(), StoreError> {
    for source in job.output.current_sources(DistanceRow::NAME, &job.run_id, tiles)? {
        rows_of::<DistanceRow>(job, &source)?.into_iter().for_each(&mut visit);
    }
    Ok(())
}

/// The pair errors of wanted tiles that this run did not compute (kept tiles keep their
/// `errors` rows): how many rows they hold.
pub fn kept_tile_errors(
    job: &AllPairsJob,
    tiles: &HashSet<TileKey>,
    published: &[Location],
) -> Result<usize, StoreError> {
    let published: HashSet<&Location> = published.iter().collect();
    let sources = job.output.tile_sources(ErrorRow::NAME, None)?.wanted_sources(tiles);
    let mut count = 0;
    for source in sources {
        match &source {
            RowSource::File(loc) if published.contains(loc) => {}
            RowSource::Member(b, m) => count += b.members.get(*m).map_or(0, |m| m.rows as usize),
            _ => count += rows_of::<ErrorRow>(job, &source)?.len(),
        }
    }
    Ok(count)
}
