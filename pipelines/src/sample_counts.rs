//! The sample-count check: within a comparison group every representation must have the
//! same number of samples (stimuli). Worker 0 sees every count, takes each group's most
//! common count, refuses the representations that disagree (`sample_count_mismatch`), and
//! broadcasts the refusals so every worker skips their pairs.
//!
//! Invariant: the verdict depends only on the counts and the plan's group order, never on
//! which worker loaded what or when (ties go to the count seen first in group order).

use std::collections::BTreeMap;
use std::sync::Arc;

use timely::dataflow::StreamVec;
use timely::dataflow::channels::pact::Exchange;
use timely::dataflow::operators::generic::Operator;
use timely::dataflow::operators::vec::Broadcast;

use crate::plan::Plan;

/// The most common sample count of a group; ties go to the count seen first in group order.
pub(crate) fn expected_samples(counts: &[(usize, usize)]) -> Option<usize> {
    let mut tally: BTreeMap<usize, (usize, usize)> = BTreeMap::new(); // m → (count, first position)
    for (pos, &(_, m)) in counts.iter().enumerate() {
        let e = tally.entry(m).or_insert((0, pos));
        e.0 += 1;
    }
    tally.into_iter().max_by(|a, b| a.1.0.cmp(&b.1.0).then(b.1.1.cmp(&a.1.1))).map(|(m, _)| m)
}

/// The refusals of a whole run from every (representation, sample count): (rep, message).
pub(crate) fn refusals(plan: &Plan, seen: &[(usize, usize)]) -> Vec<(usize, String)> {
    let mut by_group: BTreeMap<u32, Vec<(usize, usize)>> = BTreeMap::new();
    for &(rep, m) in seen {
        by_group.entry(plan.slot[rep].0).or_default().push((rep, m));
    }
    let mut out = Vec::new();
    for (group, mut members) in by_group {
        members.sort_by_key(|&(rep, _)| plan.slot[rep].1);
        let Some(expected) = expected_samples(&members) else { continue };
        let agree = members.iter().filter(|&&(_, m)| m == expected).count();
        for &(rep, m) in members.iter().filter(|&&(_, m)| m != expected) {
            let message = format!(
                "has {m} samples but {agree} of {} representations in comparison group {:?} have {expected}",
                members.len(),
                plan.group_name(group)
            );
            out.push((rep, message));
        }
    }
    out
}

/// The dataflow stage: (rep, n_samples) from every loader in, every refusal out on every
/// worker, once all counts are in.
pub(crate) fn refuse_mismatched_counts<'s>(
    counts: StreamVec<'s, u64, (usize, usize)>,
    plan: Arc<Plan>,
) -> StreamVec<'s, u64, (usize, String)> {
    counts
        .unary_frontier(Exchange::new(|_: &(usize, usize)| 0u64), "SampleCounts", move |cap, _| {
            let mut cap = Some(cap);
            let mut seen: Vec<(usize, usize)> = Vec::new();
            move |(input, frontier), output| {
                input.for_each_stamp(|_, data| {
                    for batch in data {
                        seen.append(batch);
                    }
                });
                if frontier.is_empty()
                    && let Some(cap) = cap.take()
                {
                    output.session(&cap).give_iterator(refusals(&plan, &seen).into_iter());
                }
            }
        })
        .broadcast()
}

#[cfg(test)]
mod tests {
    use std::cell::RefCell;
    use std::rc::Rc;

    use timely::dataflow::operators::vec::ToStream;
    use timely::dataflow::operators::{Inspect, Probe};

    use super::*;
    use crate::plan::PairScope;

    #[test]
    fn majority_sample_count_wins_and_ties_go_to_the_first() {
        assert_eq!(expected_samples(&[(0, 40), (1, 30), (2, 40)]), Some(40));
        assert_eq!(expected_samples(&[(0, 30), (1, 40)]), Some(30));
        assert_eq!(expected_samples(&[]), None);
    }

    /// The stage on a real timely worker: two groups, one odd count in one of them.
    #[test]
    fn the_stage_refuses_the_minority_of_its_group_only() {
        let keys: Vec<(String, String)> = [("m0", "a"), ("m1", "a"), ("m2", "a"), ("m0", "b"), ("m1", "b")]
            .iter()
            .map(|(m, l)| (m.to_string(), l.to_string()))
            .collect();
        let plan = Arc::new(Plan::new(&keys, PairScope::WithinLayer, 2));
        let got = timely::execute_directly(move |worker| {
            let got: Rc<RefCell<Vec<(usize, String)>>> = Rc::default();
            let sink = got.clone();
            let probe = timely::dataflow::ProbeHandle::new();
            worker.dataflow::<u64, _, _>(|scope| {
                // group "a": 40, 30, 40 → rep 1 refused; group "b": 30, 30 → fine
                let counts = vec![(0usize, 40usize), (1, 30), (2, 40), (3, 30), (4, 30)].to_stream(scope);
                refuse_mismatched_counts(counts, plan.clone())
                    .inspect(move |r| sink.borrow_mut().push(r.clone()))
                    .probe_with(&probe);
            });
            while !probe.done() {
                worker.step();
            }
            got.take()
        });
        assert_eq!(got.len(), 1, "{got:?}");
        assert_eq!(got[0].0, 1);
        assert!(got[0].1.contains("has 30 samples but 2 of 3") && got[0].1.contains("\"a\""), "{}", got[0].1);
    }
}
