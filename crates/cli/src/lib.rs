//! The `repspace` command line: argument parsing, configuration, logging, progress,
//! run orchestration and exit codes. Libraries do the work; this crate wires them.
//!
//! Exit codes: 0 = success; 2 = the run finished but some representations or pairs were
//! rejected (see the `errors` table); 1 = the run could not be done (bad config, unreadable
//! manifest, output not writable).

// `!(x > 0.0)` is deliberate throughout: NaN must fail these checks.
#![allow(clippy::neg_cmp_op_on_partial_ord)]
// Results of parsing and dataflow stages carry several values; aliases would hide them.
#![allow(clippy::type_complexity)]

pub mod config;
pub mod demo_zoo;
pub mod lock;
pub mod post;
pub mod report;
pub mod run;
pub mod zoo;

use std::process::ExitCode;

use clap::{Parser, Subcommand};

#[derive(Parser, Debug)]
#[command(name = "repspace", version, about = "All-pairs representational geometry of model zoos, as Parquet tables")]
pub struct Cli {
    #[command(subcommand)]
    pub command: Command,
}

#[derive(Subcommand, Debug)]
pub enum Command {
    /// Run the job a TOML config describes (see configs/demo.toml).
    Run(run::RunArgs),
    /// Write the embedded demo zoo (forward passes of small random MLPs) to a directory.
    DemoZoo(demo_zoo::DemoZooArgs),
    /// Train the digits zoo a [zoo] config describes (see configs/zoo_digits.toml).
    Zoo(zoo::ZooArgs),
    /// Draw the figures and index.html of a run's output (the config's [report] section).
    Report(report::ReportArgs),
}

pub fn main() -> ExitCode {
    let cli = Cli::parse();
    init_logging();
    let result = match cli.command {
        Command::Run(args) => run::run(&args),
        Command::DemoZoo(args) => demo_zoo::write_demo_zoo(&args).map(|()| run::Outcome::Clean),
        Command::Zoo(args) => zoo::run(&args).map(|()| run::Outcome::Clean),
        Command::Report(args) => report::run(&args).map(|()| run::Outcome::Clean),
    };
    match result {
        Ok(run::Outcome::Clean) => ExitCode::SUCCESS,
        Ok(run::Outcome::WithErrors) => ExitCode::from(2),
        Err(e) => {
            eprintln!("error: {e:#}");
            ExitCode::from(1)
        }
    }
}

fn init_logging() {
    use tracing_subscriber::EnvFilter;
    let filter = EnvFilter::try_from_default_env().unwrap_or_else(|_| EnvFilter::new("warn"));
    let _ =
        tracing_subscriber::fmt().with_env_filter(filter).with_writer(std::io::stderr).with_target(false).try_init();
}
