//! The one-screen summary a run prints after its commit.

use repspace_pipelines::{AllPairsJob, RunReport};
use repspace_store::tables::EmbeddingSummaryRow;

pub fn print_summary(
    embeds: bool,
    job: &AllPairsJob,
    report: &RunReport,
    rejected_rows: usize,
    elapsed: std::time::Duration,
    (workers, processes): (usize, usize),
) {
    let (run_id, output) = (&job.run_id, &job.output.root);
    let secs = elapsed.as_secs_f64();
    let table = |t: &str| output.join(t).map(|l| l.to_string()).unwrap_or_default();
    crate::say!("repspace run {run_id}");
    crate::say!(
        "  workers          {workers} thread(s){}",
        if processes > 1 { format!(" in each of {processes} processes") } else { String::new() }
    );
    crate::say!("  manifest         {}", job.manifest.location);
    crate::say!(
        "  representations  {} loaded ({} unchanged files not read again), {} rejected by the manifest",
        report.representations,
        report.unread,
        rejected_rows
    );
    crate::say!(
        "  pairs            {} computed, {} reused from earlier runs (same metric parameters and content hashes), \
         {} copied from equal contents; tiles: {} computed, {} kept",
        report.computed,
        report.reused,
        report.deduplicated,
        report.computed_tiles,
        report.kept_tiles
    );
    crate::say!(
        "  distances        {} rows ({} metric(s): {})",
        report.pairs,
        job.metrics.len(),
        job.metrics.iter().map(|m| m.name.as_str()).collect::<Vec<_>>().join(", ")
    );
    if !job.paths.is_empty() {
        crate::say!(
            "  paths            {} (model × path metric: {})",
            report.paths,
            job.paths.iter().map(|p| p.name.as_str()).collect::<Vec<_>>().join(", ")
        );
    }
    if report.test_underdetermined > 0 {
        crate::say!(
            "  note             {} pair(s) have an underdetermined distance_test (rank-deficient fitted \
             cross-covariance): scored with the average completion, test_underdetermined = true",
            report.test_underdetermined
        );
    }
    crate::say!(
        "  errors           {}{}",
        report.errors,
        if report.errors > 0 { format!("  (see {})", table("errors")) } else { String::new() }
    );
    crate::say!("  tables           {}", output);
    crate::say!(
        "                   {}",
        repspace_store::output::TABLES
            .iter()
            .filter(|t| !t.starts_with("path") || !job.paths.is_empty())
            .filter(|t| !t.starts_with("embedding") || embeds)
            .filter(|t| !(t.starts_with("geometry") || t.starts_with("msa")) || job.geometry.is_some())
            .copied()
            .collect::<Vec<_>>()
            .join(", ")
    );
    crate::say!(
        "  time             {secs:.2} s ({:.0} distance rows/s); pair phase {:.2} s on the busiest worker",
        report.pairs as f64 / secs.max(1e-9),
        report.pair_seconds
    );
    if let Some(peak) = peak_rss_bytes() {
        crate::say!("  peak memory      {:.0} MB resident (this process)", peak as f64 / 1e6);
    }
}

/// The process's peak resident set (VmHWM), where the OS reports it (Linux).
pub fn peak_rss_bytes() -> Option<u64> {
    let status = std::fs::read_to_string("/proc/self/status").ok()?;
    let line = status.lines().find(|l| l.starts_with("VmHWM:"))?;
    let kb: u64 = line.split_whitespace().nth(1)?.parse().ok()?;
    Some(kb * 1024)
}

/// One line per embedded (metric, group).
pub fn print_embeddings(embedded: &[EmbeddingSummaryRow]) {
    for e in embedded {
        crate::say!(
            "  embedding        {} / {}: {} points, {}, negative mass {:.3}, stress-1 {:.3}",
            e.metric,
            e.group,
            e.n_points,
            e.method,
            e.negative_mass,
            e.stress_1
        );
    }
}
