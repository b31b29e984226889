//! Finding stalls in measured latencies: the rare run that takes several times its model's
//! usual time on a processor (a preempted thread, a time-sliced GPU, a clock dropped), which a
//! lognormal spread does not describe and which tail hedging is aimed at (`cosched_core::Stall`).
//!
//! A run is taken to have stalled when it took more than [`THRESHOLD`] times the median of its
//! model's runs on that processor. The median, not the mean: the stalls themselves pull the mean
//! up. The runs of every model on a processor are pooled, since a stall belongs to the processor
//! (the profile format has one per processor), and a stall is written only when at least
//! [`MIN_STALLS`] were seen: one or two slow runs in a hundred give no usable probability.

use cosched_core::Stall;

/// A run over this many times its model's median latency is a stall. A lognormal body with a cv
/// of 0.4 (more than this project's profiles measure for batch-1 runs) exceeds it once in
/// several thousand runs.
pub const THRESHOLD: f64 = 3.0;

/// Fewer stalls than this are not written: the probability would rest on one or two runs.
pub const MIN_STALLS: usize = 3;

/// What the timed runs of one processor say about its stalls.
#[derive(Debug, Clone, PartialEq)]
pub struct StallFit {
    /// Runs looked at, every model together.
    pub runs: usize,
    /// Runs over [`THRESHOLD`] times their model's median.
    pub stalled: usize,
    /// The stall to write, when at least [`MIN_STALLS`] were seen: the share of runs that
    /// stalled, and their mean latency over the mean of the runs that did not (both relative to
    /// their model's median).
    pub stall: Option<Stall>,
}

impl StallFit {
    /// One line for the profile's source and the console.
    pub fn describe(&self) -> String {
        match self.stall {
            Some(s) => format!(
                "stalls measured: {} of {} timed batch-1 runs over {THRESHOLD}x their model's median ({:.1} % at {:.1}x)",
                self.stalled,
                self.runs,
                s.probability * 100.0,
                s.factor
            ),
            None => format!(
                "no stall written: {} of {} timed batch-1 runs over {THRESHOLD}x their model's median (fewer than {MIN_STALLS})",
                self.stalled, self.runs
            ),
        }
    }
}

fn median(xs: &[f64]) -> Option<f64> {
    let mut v: Vec<f64> = xs.iter().copied().filter(|x| x.is_finite() && *x > 0.0).collect();
    if v.is_empty() {
        return None;
    }
    v.sort_by(f64::total_cmp);
    Some(v[v.len() / 2])
}

/// Whether `ms` stalled among runs whose median is `median_ms`.
fn stalled(ms: f64, median_ms: f64) -> bool {
    ms > THRESHOLD * median_ms
}

/// Fit a processor's stall from the timed batch-1 runs of each of its models.
pub fn fit(per_model: &[&[f64]]) -> StallFit {
    let (mut body, mut tail) = (Vec::new(), Vec::new());
    for runs in per_model {
        let Some(m) = median(runs) else { continue };
        for &x in runs.iter().filter(|x| x.is_finite() && **x > 0.0) {
            if stalled(x, m) {
                tail.push(x / m);
            } else {
                body.push(x / m);
            }
        }
    }
    let runs = body.len() + tail.len();
    let mean = |v: &[f64]| v.iter().sum::<f64>() / v.len().max(1) as f64;
    let stall = (tail.len() >= MIN_STALLS && !body.is_empty()).then(|| Stall {
        probability: tail.len() as f64 / runs as f64,
        factor: (mean(&tail) / mean(&body)).max(1.0),
    });
    StallFit {
        runs,
        stalled: tail.len(),
        stall,
    }
}

/// The runs of `runs` that did not stall (by the same test as [`fit`]): the body whose spread
/// the profile's `latency_cv` describes when the processor has a stall.
pub fn body(runs: &[f64]) -> Vec<f64> {
    match median(runs) {
        Some(m) => runs.iter().copied().filter(|&x| !stalled(x, m)).collect(),
        None => runs.to_vec(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use rand::{rngs::StdRng, Rng, SeedableRng};
    use rand_distr::{Distribution, LogNormal};

    /// `n` runs around `mean_ms` with a lognormal spread `cv`, each stalling at `factor` with
    /// probability `p`.
    fn runs(rng: &mut StdRng, n: usize, mean_ms: f64, cv: f64, p: f64, factor: f64) -> Vec<f64> {
        let sigma = (1.0 + cv * cv).ln().sqrt();
        let d = LogNormal::new(mean_ms.ln() - sigma * sigma / 2.0, sigma).unwrap();
        (0..n)
            .map(|_| {
                let x = d.sample(rng);
                if rng.random::<f64>() < p {
                    x * factor
                } else {
                    x
                }
            })
            .collect()
    }

    #[test]
    fn recovers_a_stall_pooled_over_models() {
        let mut rng = StdRng::seed_from_u64(1);
        let a = runs(&mut rng, 2000, 10.0, 0.15, 0.05, 8.0);
        let b = runs(&mut rng, 2000, 0.5, 0.15, 0.05, 8.0);
        let f = fit(&[&a, &b]);
        let s = f.stall.expect("a 5 % stall is found");
        assert_eq!(f.runs, 4000);
        assert!((s.probability - 0.05).abs() < 0.01, "{s:?}");
        assert!((s.factor - 8.0).abs() < 0.5, "{s:?}");
    }

    #[test]
    fn a_spread_without_stalls_writes_none() {
        let mut rng = StdRng::seed_from_u64(2);
        let a = runs(&mut rng, 2000, 10.0, 0.3, 0.0, 1.0);
        let f = fit(&[&a]);
        assert_eq!(f.stall, None, "{}", f.describe());
        assert!(f.describe().starts_with("no stall written"));
    }

    #[test]
    fn two_slow_runs_are_too_few() {
        let mut a = vec![1.0; 100];
        a[10] = 9.0;
        a[50] = 7.0;
        let f = fit(&[&a]);
        assert_eq!((f.runs, f.stalled, f.stall), (100, 2, None));
        a[70] = 8.0;
        let s = fit(&[&a]).stall.expect("three are enough");
        assert!((s.probability - 0.03).abs() < 1e-12);
        assert!((s.factor - 8.0).abs() < 1e-12);
        assert_eq!(body(&a).len(), 97);
    }

    #[test]
    fn junk_samples_are_ignored() {
        let f = fit(&[&[], &[f64::NAN, -1.0, 0.0]]);
        assert_eq!((f.runs, f.stall), (0, None));
    }
}
