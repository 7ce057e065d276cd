//! From event times and sampled traces to [conditions, units] responses: the window of each
//! presentation, the condition design, the per-condition means and the trial tensor.
//!
//! Invariants: a presentation's window is the half-open [start + w0, start + w1), the bounds
//! computed in f64 exactly as written (so a spike at start + w1 belongs to the next window
//! when presentations abut); conditions are sorted ascending by value; a condition's
//! presentations are in start_time order, and sums run in that order.

use crate::config::ConditionValue;

/// The presentations of one stimulus, in start_time order.
#[derive(Clone, Debug, PartialEq)]
pub struct Presentations {
    pub start: Vec<f64>,
    pub condition: Vec<ConditionValue>,
}

impl Presentations {
    /// Sort rows by start_time (stable: equal starts keep the table's order).
    pub fn new(start: Vec<f64>, condition: Vec<ConditionValue>) -> Presentations {
        let mut order: Vec<usize> = (0..start.len()).collect();
        order.sort_by(|&a, &b| start[a].total_cmp(&start[b]));
        Presentations {
            start: order.iter().map(|&i| start[i]).collect(),
            condition: order.iter().map(|&i| condition[i].clone()).collect(),
        }
    }
}

/// Which presentations make up each condition.
#[derive(Clone, Debug, PartialEq)]
pub struct Design {
    /// Distinct kept condition values, ascending.
    pub conditions: Vec<ConditionValue>,
    /// Per condition, its presentations' indices (into `Presentations`), in start_time order.
    pub members: Vec<Vec<usize>>,
}

impl Design {
    /// The conditions of `p` not in `exclude` (numbers compare by value: -1 equals -1.0).
    pub fn new(p: &Presentations, exclude: &[ConditionValue]) -> Design {
        // presentations sorted by (condition, start order), then cut into runs: n log n
        let mut order: Vec<usize> = (0..p.condition.len()).filter(|&i| !exclude.contains(&p.condition[i])).collect();
        order.sort_by(|&a, &b| p.condition[a].ordering(&p.condition[b]).then(a.cmp(&b)));
        let (mut conditions, mut members): (Vec<ConditionValue>, Vec<Vec<usize>>) = (Vec::new(), Vec::new());
        for i in order {
            match (conditions.last(), members.last_mut()) {
                (Some(c), Some(m)) if *c == p.condition[i] => m.push(i),
                _ => {
                    conditions.push(p.condition[i].clone());
                    members.push(vec![i]);
                }
            }
        }
        Design { conditions, members }
    }

    /// r, when every condition has r presentations.
    pub fn repeats(&self) -> Option<usize> {
        let r = self.members.first()?.len();
        self.members.iter().all(|m| m.len() == r).then_some(r)
    }

    /// The presentations any condition uses, ascending.
    pub fn used(&self) -> Vec<usize> {
        let mut all: Vec<usize> = self.members.iter().flatten().copied().collect();
        all.sort_unstable();
        all
    }
}

/// Per presentation, the number of `spikes` (ascending) in [start + w0, start + w1).
pub fn window_counts(spikes: &[f64], starts: &[f64], [w0, w1]: [f64; 2]) -> Vec<f64> {
    starts
        .iter()
        .map(|&s| {
            let (lo, hi) = (s + w0, s + w1);
            (spikes.partition_point(|&t| t < hi) - spikes.partition_point(|&t| t < lo)) as f64
        })
        .collect()
}

/// The samples (indices into ascending `timestamps`) in [start + w0, start + w1).
pub fn window_samples(timestamps: &[f64], start: f64, [w0, w1]: [f64; 2]) -> std::ops::Range<usize> {
    let (lo, hi) = (start + w0, start + w1);
    timestamps.partition_point(|&t| t < lo)..timestamps.partition_point(|&t| t < hi)
}

/// A row-major [rows × cols] matrix of f64.
#[derive(Clone, Debug, PartialEq)]
pub struct Table {
    pub rows: usize,
    pub cols: usize,
    pub data: Vec<f64>,
}

impl Table {
    pub fn zeros(rows: usize, cols: usize) -> Table {
        Table { rows, cols, data: vec![0.0; rows * cols] }
    }
    pub fn row(&self, i: usize) -> &[f64] {
        &self.data[i * self.cols..(i + 1) * self.cols]
    }
    pub fn row_mut(&mut self, i: usize) -> &mut [f64] {
        &mut self.data[i * self.cols..(i + 1) * self.cols]
    }
}

/// [conditions × units]: each condition's mean over its presentations of `per` (one row per
/// presentation), summed in start_time order then divided by the count (numpy's mean over axis 0).
pub fn condition_means(per: &Table, design: &Design) -> Table {
    let mut out = Table::zeros(design.conditions.len(), per.cols);
    for (c, members) in design.members.iter().enumerate() {
        let row = out.row_mut(c);
        for &p in members {
            for (acc, v) in row.iter_mut().zip(per.row(p)) {
                *acc += v;
            }
        }
        let n = members.len() as f64;
        row.iter_mut().for_each(|v| *v /= n);
    }
    out
}

/// [conditions, r, units]: each condition's presentations in start_time order, when every
/// condition has r of them (`None` otherwise).
pub fn trial_tensor(per: &Table, design: &Design) -> Option<(usize, Vec<f64>)> {
    let r = design.repeats()?;
    let mut out = Vec::with_capacity(design.conditions.len() * r * per.cols);
    for members in &design.members {
        for &p in members {
            out.extend_from_slice(per.row(p));
        }
    }
    Some((r, out))
}

#[cfg(test)]
mod tests {
    use super::*;
    use ConditionValue::{Number as N, Text as T};

    #[test]
    fn windows_are_half_open_and_abutting_windows_share_no_spike() {
        // presentations 0.25 s apart, window [0.05, 0.30): s + 0.30 == s_next + 0.05 exactly
        let starts = [1.0, 1.25, 1.5];
        let spikes = [1.05, 1.3, 1.3, 1.55, 1.8, 0.2];
        let mut sorted = spikes.to_vec();
        sorted.sort_by(f64::total_cmp);
        // 1.05 in the first; both 1.3 in the second (not the first); 1.55 in the second's end? no:
        // the second is [1.3, 1.55), so 1.55 goes to the third [1.55, 1.8); 1.8 is outside.
        assert_eq!(window_counts(&sorted, &starts, [0.05, 0.30]), vec![1.0, 2.0, 1.0]);
    }

    #[test]
    fn conditions_sort_by_value_and_exclusions_compare_numerically() {
        let p = Presentations::new(vec![3.0, 1.0, 2.0, 0.0, 4.0], vec![N(2.0), N(-1.0), N(10.0), N(2.0), N(10.0)]);
        assert_eq!(p.start, vec![0.0, 1.0, 2.0, 3.0, 4.0]);
        let d = Design::new(&p, &[N(-1.0)]);
        assert_eq!(d.conditions, vec![N(2.0), N(10.0)]);
        assert_eq!(d.members, vec![vec![0, 3], vec![2, 4]]);
        assert_eq!(d.repeats(), Some(2));
        let text = Presentations::new(vec![0.0, 1.0, 2.0], vec![T("b".into()), T("a".into()), T("b".into())]);
        let d = Design::new(&text, &[]);
        assert_eq!(d.conditions, vec![T("a".into()), T("b".into())]);
        assert_eq!(d.repeats(), None);
    }

    #[test]
    fn means_and_trials_follow_the_design() {
        let per = Table { rows: 4, cols: 2, data: vec![1.0, 2.0, 3.0, 4.0, 5.0, 6.0, 7.0, 9.0] };
        let design = Design { conditions: vec![N(0.0), N(1.0)], members: vec![vec![0, 2], vec![1, 3]] };
        assert_eq!(condition_means(&per, &design).data, vec![3.0, 4.0, 5.0, 6.5]);
        let (r, t) = trial_tensor(&per, &design).expect("equal repeats");
        assert_eq!(r, 2);
        assert_eq!(t, vec![1.0, 2.0, 5.0, 6.0, 3.0, 4.0, 7.0, 9.0]);
    }

    #[test]
    fn samples_in_a_window() {
        let ts: Vec<f64> = (0..10).map(|k| k as f64 / 4.0).collect();
        assert_eq!(window_samples(&ts, 0.5, [0.0, 0.5]), 2..4);
    }
}
