//! The current rows of a run's output, for the post-steps: this run's own parts and the tile
//! parts it wants (kept or computed), never a retired or uncommitted part.

use std::collections::HashSet;

use repspace_store::tables::{self, DistanceRow, ErrorRow, Table};
use repspace_store::{Location, StoreError};

use crate::incremental::TileKey;
use crate::job::AllPairsJob;

/// The rows of `T` in `parts`.
fn rows_of<T: Table>(job: &AllPairsJob, parts: &[Location]) -> Result<Vec<T>, StoreError> {
    let mut rows = Vec::new();
    for part in parts {
        let bytes = job.output.storage.get(part).map_err(|e| StoreError::Other {
            uri: part.to_string(),
            reason: format!("a current part cannot be read back: {e:?}"),
        })?;
        let batches =
            tables::decode_parquet(bytes).map_err(|source| StoreError::Parquet { table: T::NAME.into(), source })?;
        for b in &batches {
            rows.extend(T::from_batch(b)?);
        }
    }
    Ok(rows)
}

/// Visit every current `distances` row of the run, one part at a time (at most one part's
/// rows are held).
pub fn visit_current_distances(
    job: &AllPairsJob,
    tiles: &HashSet<TileKey>,
    mut visit: impl FnMut(DistanceRow),
) -> Result<(), StoreError> {
    for part in job.output.current_parts("distances", &job.run_id, tiles)? {
        rows_of::<DistanceRow>(job, std::slice::from_ref(&part))?.into_iter().for_each(&mut visit);
    }
    Ok(())
}

/// The pair errors of wanted tiles that this run did not compute (kept tiles keep their
/// `errors` parts): how many rows they hold.
pub fn kept_tile_errors(
    job: &AllPairsJob,
    tiles: &HashSet<TileKey>,
    published: &[Location],
) -> Result<usize, StoreError> {
    let published: HashSet<&Location> = published.iter().collect();
    let kept: Vec<Location> = job
        .output
        .tile_parts("errors")?
        .into_iter()
        .filter(|(t, loc)| tiles.contains(&t.key) && !published.contains(loc))
        .map(|(_, loc)| loc)
        .collect();
    Ok(rows_of::<ErrorRow>(job, &kept)?.len())
}
