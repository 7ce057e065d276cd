//! The timely configuration of a run: one process (`-w` threads) or a cluster (`-n`, `-p`,
//! `-h hostfile`, the same `-w` in every process).

use anyhow::{Context, Result, bail};

use crate::run::RunArgs;

pub fn timely_config(args: &RunArgs) -> Result<timely::Config> {
    if args.processes <= 1 {
        if args.process != 0 {
            bail!("-p {} needs -n > {}", args.process, args.process);
        }
        return Ok(timely::Config::process(args.workers));
    }
    if args.process >= args.processes {
        bail!("-p {} must be below -n {}", args.process, args.processes);
    }
    let Some(hostfile) = &args.hostfile else { bail!("a cluster run (-n {}) needs -h HOSTFILE", args.processes) };
    let text = std::fs::read_to_string(hostfile).with_context(|| format!("reading hostfile {hostfile}"))?;
    let addresses: Vec<String> =
        text.lines().map(str::trim).filter(|l| !l.is_empty() && !l.starts_with('#')).map(String::from).collect();
    if addresses.len() != args.processes {
        bail!("hostfile {hostfile} lists {} addresses but -n is {}", addresses.len(), args.processes);
    }
    Ok(timely::Config {
        communication: timely::CommunicationConfig::Cluster {
            threads: args.workers,
            process: args.process,
            addresses,
            report: false,
            zerocopy: false,
        },
        worker: timely::WorkerConfig::default(),
    })
}
