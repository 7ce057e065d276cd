//! `repspace report CONFIG`: figures and index.html for the output a run config names.

use anyhow::{Context, Result};
use repspace_store::{Location, Storage};

use crate::config::ReportConfig;

#[derive(clap::Args, Debug)]
pub struct ReportArgs {
    /// The run configuration whose output to draw (its [report] section, or defaults).
    pub config: String,
}

/// Draw the report of `output`; print where it is unless quiet.
pub fn write(storage: &Storage, output: &Location, config: Option<&ReportConfig>, quiet: bool) -> Result<()> {
    let spec = config.cloned().unwrap_or_default();
    let summary =
        repspace_report::write_report(storage, output, &spec).with_context(|| format!("report of {output}"))?;
    if !quiet {
        let place =
            summary.index.to_file_path().map(|p| p.display().to_string()).unwrap_or_else(|| summary.index.to_string());
        println!(
            "  report           {place} ({} figures{})",
            summary.figures.len(),
            match summary.skipped.len() {
                0 => String::new(),
                n => format!(", {n} not drawn: see the page"),
            }
        );
    }
    Ok(())
}

pub fn run(args: &ReportArgs) -> Result<()> {
    let storage = Storage::new()?;
    let config_loc = Location::parse(&args.config, None)?;
    let (config, _) = crate::resolve::read_config(&storage, &config_loc)?;
    let output = Location::parse(&config.output.uri, Some(&config_loc.parent())).context("output.uri")?;
    println!("repspace report {output}");
    write(&storage, &output, config.report.as_ref(), false)
}
