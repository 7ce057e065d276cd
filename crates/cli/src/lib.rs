//! The `repspace` command line: argument parsing, configuration, logging, progress,
//! run orchestration and exit codes. Libraries do the work; this crate wires them.
//!
//! Exit codes: 0 = success; 2 = the run finished but some representations or pairs were
//! rejected (see the `errors` table); 1 = the run could not be done (bad config, unreadable
//! manifest, output not writable).

pub mod cluster;
pub mod compact;
pub mod config;
pub mod demo_zoo;
pub mod ingest;
pub mod lock;
pub mod measures;
pub mod report;
pub mod reread;
pub mod resolve;
pub mod run;
pub mod summary;
pub mod zoo;

/// println! that ignores a closed stdout (`repspace run … | head`): the run is already
/// committed when the summary is printed.
#[macro_export]
macro_rules! say {
    ($($arg:tt)*) => {{
        use std::io::Write;
        let _ = writeln!(std::io::stdout(), $($arg)*);
    }};
}

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
    /// Pack an output's many small tile parts into a few large Parquet files (bundles);
    /// the tables keep exactly their rows.
    Compact(compact::CompactArgs),
    /// Turn recordings (NWB sessions: spike-sorted units or ROI responses) into a zoo: one
    /// .npy per (session, area) and a manifest.csv.
    Ingest(ingest::IngestArgs),
}

pub fn main() -> ExitCode {
    let cli = Cli::parse();
    init_logging();
    cluster::exit_on_lost_peer();
    let result = match cli.command {
        Command::Run(args) => run::run(&args),
        Command::DemoZoo(args) => demo_zoo::write_demo_zoo(&args).map(|()| run::Outcome::Clean),
        Command::Zoo(args) => zoo::run(&args).map(|()| run::Outcome::Clean),
        Command::Report(args) => report::run(&args).map(|()| run::Outcome::Clean),
        Command::Compact(args) => compact::run(&args).map(|()| run::Outcome::Clean),
        Command::Ingest(args) => ingest::run(&args),
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
    // colours only on a terminal: a log redirected to a file stays plain text
    let ansi = std::io::IsTerminal::is_terminal(&std::io::stderr());
    let _ = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr)
        .with_target(false)
        .with_ansi(ansi)
        .try_init();
}
