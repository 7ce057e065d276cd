//! The timely configuration of a run: one process (`-w` threads) or a cluster (`-n`, `-p`,
//! `-h hostfile`, the same `-w` in every process); the run id a cluster agrees on; and what
//! a process does when a peer disappears.

use std::cell::RefCell;
use std::rc::Rc;

use anyhow::{Context, Result, bail};
use repspace_store::RunId;
use timely::dataflow::operators::vec::Broadcast;
use timely::dataflow::operators::{Inspect, ToStream};

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

/// The run id every process of a cluster uses: `--run-id` when given; on one process a new
/// one; on a cluster, the one process 0 makes, which the others learn over a first, tiny
/// timely computation on the same addresses before anything is read or written (timely's
/// listeners set SO_REUSEADDR, so the run's own cluster binds the same ports right after).
pub fn agree_run_id(args: &RunArgs) -> Result<RunId> {
    if let Some(id) = &args.run_id {
        return RunId::parse(id).map_err(|e| anyhow::anyhow!("--run-id: {e}"));
    }
    if args.processes <= 1 {
        return Ok(RunId::new_from_clock());
    }
    let proposal = RunId::new_from_clock().to_string();
    let guards = timely::execute(timely_config(args)?, move |worker| {
        let learned: Rc<RefCell<Option<String>>> = Rc::default();
        let mine = (worker.index() == 0).then(|| proposal.clone());
        let sink = learned.clone();
        worker.dataflow::<u64, _, _>(|scope| {
            mine.into_iter().to_stream(scope).broadcast().inspect(move |id: &String| {
                *sink.borrow_mut() = Some(id.clone());
            });
        });
        while worker.step() {}
        learned.borrow().clone()
    })
    .map_err(|e| anyhow::anyhow!("forming the cluster to agree on a run id: {e}"))?;
    let learned = guards.join().into_iter().find_map(|r| r.ok().flatten());
    let id = learned.ok_or_else(|| anyhow::anyhow!("the cluster did not agree on a run id"))?;
    RunId::parse(&id).map_err(|e| anyhow::anyhow!("the run id from process 0: {e}"))
}

/// The number of worker threads when `-w` is not given: the CPUs Slurm allocated to the
/// task (`SLURM_CPUS_PER_TASK`), else the cores this process may use.
pub fn default_workers() -> usize {
    std::env::var("SLURM_CPUS_PER_TASK")
        .ok()
        .and_then(|v| v.trim().parse::<usize>().ok())
        .filter(|&n| n > 0)
        .unwrap_or_else(|| std::thread::available_parallelism().map_or(1, |n| n.get()))
}

/// A peer of a cluster that disappears makes timely's network threads (`timely:recv-<p>`,
/// `timely:send-<p>`) panic. Turn that into a clear error naming the peer and exit 1 at once,
/// instead of a backtrace (`Send thread panic`) or a hang. The parts already published are
/// whole files; rerunning the command completes the run.
pub fn exit_on_lost_peer() {
    let default = std::panic::take_hook();
    std::panic::set_hook(Box::new(move |info| {
        let thread = std::thread::current();
        let peer =
            thread.name().and_then(|n| n.strip_prefix("timely:recv-").or_else(|| n.strip_prefix("timely:send-")));
        if let Some(peer) = peer {
            let payload = info.payload();
            let message = payload
                .downcast_ref::<&str>()
                .map(|s| s.to_string())
                .or_else(|| payload.downcast_ref::<String>().cloned())
                .unwrap_or_default();
            eprintln!(
                "error: lost the connection to process {peer} of the cluster ({message}). The parts published so far \
                 are kept: run the same command again on every process to complete the run."
            );
            std::process::exit(1);
        }
        default(info)
    }));
}
