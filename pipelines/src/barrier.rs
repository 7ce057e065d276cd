//! The barrier after publishing: each worker's report travels to worker 0 through a second
//! small dataflow, so worker 0 learns of a report only once that worker has published its
//! parts, in any process. Only worker 0's process goes on to the post-steps and the commit.

use std::cell::RefCell;
use std::rc::Rc;

use repspace_store::StoreError;
use timely::dataflow::ProbeHandle;
use timely::dataflow::operators::vec::ToStream;
use timely::dataflow::operators::{Exchange, Inspect, Probe};

use crate::report::{RunReport, WorkerReport};

type ReportMessage = Result<WorkerReport, String>;

/// Wait until every worker has published; worker 0 returns the summed report and every
/// wanted tile, the others `None`. A worker's publishing error becomes the run's error.
pub(crate) fn gather_reports(
    worker: &mut timely::worker::Worker,
    report: Result<WorkerReport, StoreError>,
) -> Result<Option<WorkerReport>, String> {
    let message: ReportMessage = report.map_err(|e| e.to_string());
    let received: Rc<RefCell<Vec<ReportMessage>>> = Rc::default();
    let probe = ProbeHandle::new();
    let sink = received.clone();
    worker.dataflow::<u64, _, _>(|scope| {
        vec![message]
            .to_stream(scope)
            .exchange(|_| 0)
            .inspect(move |m: &ReportMessage| sink.borrow_mut().push(m.clone()))
            .probe_with(&probe);
    });
    while !probe.done() {
        worker.step();
    }
    if worker.index() != 0 {
        return Ok(None);
    }
    let (mut total, mut tiles, mut records) = (RunReport::default(), Vec::new(), Vec::new());
    for m in received.borrow_mut().drain(..) {
        let (report, wanted, read) = m?;
        total.absorb(report);
        tiles.extend(wanted);
        records.extend(read);
    }
    Ok(Some((total, tiles, records)))
}
