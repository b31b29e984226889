//! Which weights a run keeps: the evaluation cases (a validation family the run never trains
//! on), the score against the best baseline of each case, and the weights kept so far, the
//! untrained prior first.

use super::config::TrainConfig;
use super::episode::random_workload;
use super::result::EvalCase;
use crate::error::RlError;
use crate::features::PriorForm;
use crate::plain::PlainMlp;
use crate::policy::DrlPolicy;
use cosched_core::DeviceProfile;
use cosched_sim::{simulate, SimConfig};
use rand::SeedableRng;
use rand_chacha::ChaCha8Rng;

/// The weights kept so far and how they scored.
#[derive(Debug, Clone)]
pub(super) struct Kept {
    /// Their deployed form.
    pub plain: PlainMlp,
    /// Their burnpack bytes.
    pub weights: Vec<u8>,
    /// The placement they were evaluated at (0: an untrained prior).
    pub step: u64,
    /// Mean objective ratio to the prior over the cases.
    pub ratio: f64,
    /// [`selection_score`] (lower is better).
    pub score: f64,
    /// Objective per case.
    pub objectives: Vec<f64>,
}

/// The evaluation cases of a run and what the weights are measured against on them.
pub(super) struct Selection {
    cases: EvalSet,
    /// The best baseline's objective per case: what weights are selected against.
    baselines: Vec<f64>,
    /// The untrained prior's objective per case (the form training corrects).
    prior: Vec<f64>,
    /// The weights kept so far.
    pub kept: Kept,
    /// Mean ratio to the prior at the last evaluation.
    pub last_ratio: Option<f64>,
}

impl Selection {
    /// The cases of `cfg`, their best baselines, and the untrained policy of each prior form
    /// as the first weights kept, so that training can only keep improvements. `untrained(f)`
    /// is the deployed form of the network with its heads at zero on prior form `f`, `weights`
    /// its bytes. Training learns corrections to `form`; the untrained policy of each other
    /// form of `cfg.prior_forms` is one more candidate, kept where it scores better (see
    /// `PriorForm`).
    pub fn new(
        cfg: &TrainConfig,
        form: PriorForm,
        untrained: impl Fn(PriorForm) -> PlainMlp,
        weights: Vec<u8>,
    ) -> Result<Selection, RlError> {
        let device = &cfg.device;
        let cases = eval_cases(cfg)?;
        let baselines = cases
            .iter()
            .map(|(_, _, w)| best_baseline_objective(device, w, cfg))
            .collect();
        let mut s = Selection {
            cases,
            baselines,
            prior: Vec::new(),
            kept: Kept {
                plain: untrained(form),
                weights,
                step: 0,
                ratio: 1.0,
                score: 0.0,
                objectives: Vec::new(),
            },
            last_ratio: None,
        };
        s.prior = s.objectives(cfg, &s.kept.plain);
        s.kept.objectives = s.prior.clone();
        s.kept.score = selection_score(&s.prior, &s.baselines);
        tracing::info!(prior = form.name(), score = s.kept.score, "untrained prior");
        for &other in &cfg.prior_forms[1..] {
            let plain = untrained(other);
            let objectives = s.objectives(cfg, &plain);
            let score = selection_score(&objectives, &s.baselines);
            tracing::info!(prior = other.name(), score, "untrained prior");
            if score < s.kept.score {
                s.kept.score = score;
                s.kept.ratio = mean_ratio(&objectives, &s.prior);
                s.kept.plain = plain;
                s.kept.objectives = objectives;
            }
        }
        Ok(s)
    }

    /// Number of evaluation cases.
    pub fn len(&self) -> usize {
        self.cases.len()
    }

    /// The objective of `plain` on every case.
    fn objectives(&self, cfg: &TrainConfig, plain: &PlainMlp) -> Vec<f64> {
        self.cases
            .iter()
            .map(|(_, _, w)| eval_objective(&cfg.device, w, plain, cfg))
            .collect()
    }

    /// Evaluates `candidate`, the network at placement `step`, and keeps it if it scores better
    /// than the weights kept and loses no case by more than `cfg.max_case_regression` against
    /// the prior. `weights` gives its bytes, asked for only if it is kept.
    pub fn consider(
        &mut self,
        cfg: &TrainConfig,
        step: u64,
        candidate: PlainMlp,
        weights: impl FnOnce() -> Result<Vec<u8>, RlError>,
    ) -> Result<(), RlError> {
        let objectives = self.objectives(cfg, &candidate);
        let ratio = mean_ratio(&objectives, &self.prior);
        let worst = max_ratio(&objectives, &self.prior);
        let score = selection_score(&objectives, &self.baselines);
        self.last_ratio = Some(ratio);
        tracing::info!(step, ratio, worst, score, best_score = self.kept.score, "evaluation");
        // Selected against the best baseline of each case, by the cases lost (see
        // `selection_score`). And no case may fall far behind the prior: weights that lose
        // badly on any one case would lose on unseen mixes of the same kind.
        if score < self.kept.score && worst <= 1.0 + cfg.max_case_regression {
            self.kept = Kept {
                plain: candidate,
                weights: weights()?,
                step,
                ratio,
                score,
                objectives,
            };
        }
        Ok(())
    }

    /// Replaces the weights kept by those of a checkpoint, with their objectives.
    pub fn restore(&mut self, plain: PlainMlp, weights: Vec<u8>, step: u64, ratio: f64, objectives: Vec<f64>) {
        let score = selection_score(&objectives, &self.baselines);
        self.kept = Kept {
            plain,
            weights,
            step,
            ratio,
            score,
            objectives,
        };
    }

    /// The kept weights' result on every case, beside the prior's and the best baseline's.
    pub fn report(&self) -> Vec<EvalCase> {
        self.cases
            .iter()
            .zip(self.kept.objectives.iter().zip(&self.prior).zip(&self.baselines))
            .map(|((name, load, _), ((o, p), b))| EvalCase {
                workload: name.clone(),
                load: *load,
                objective: *o,
                prior_objective: *p,
                best_baseline_objective: *b,
            })
            .collect()
    }
}

type EvalSet = Vec<(String, f64, cosched_core::ResolvedWorkload)>;

fn eval_cases(cfg: &TrainConfig) -> Result<EvalSet, RlError> {
    let mut out = Vec::new();
    if let Some((seed, count)) = cfg.validation {
        for mut w in cosched_core::scenario::generate_set(&cfg.device, seed, count) {
            w.duration_s = w.duration_s.min(cfg.eval_duration_s);
            for &load in &cfg.eval_loads {
                let r = w
                    .resolve(&cfg.device, Some(load), &w.name)
                    .map_err(|e| RlError::Config(e.to_string()))?;
                out.push((w.name.clone(), load, r));
            }
        }
        return Ok(out);
    }
    for (name, w) in &cfg.workloads {
        let mut w = w.clone();
        w.duration_s = cfg.eval_duration_s;
        for &load in &cfg.eval_loads {
            let r = w
                .resolve(&cfg.device, Some(load), name)
                .map_err(|e| RlError::Config(e.to_string()))?;
            let closed = r.load.is_none();
            out.push((name.clone(), load, r));
            if closed {
                // A closed-loop workload does not scale with load: one case is enough.
                break;
            }
        }
    }
    let mut rng = ChaCha8Rng::seed_from_u64(cfg.seed ^ 0x5eed_e7a1);
    for i in 0..cfg.eval_random_mixes {
        let mut w = random_workload(&cfg.device, &mut rng);
        w.duration_s = cfg.eval_duration_s;
        for load in [0.8, 1.0] {
            let name = format!("random-mix-{i}");
            let r = w
                .resolve(&cfg.device, Some(load), &name)
                .map_err(|e| RlError::Config(e.to_string()))?;
            out.push((name, load, r));
        }
    }
    Ok(out)
}

fn eval_objective(
    device: &DeviceProfile,
    w: &cosched_core::ResolvedWorkload,
    plain: &PlainMlp,
    cfg: &TrainConfig,
) -> f64 {
    let mut policy = DrlPolicy::new("eval", plain.clone(), device.models.len());
    let sim_cfg = SimConfig {
        weights: cfg.weights,
        ..SimConfig::with_seed(EVAL_SEED)
    };
    simulate(device, w, &mut policy, &sim_cfg).objective
}

/// The smallest objective of the baselines on one evaluation case (same seed as the policy's).
fn best_baseline_objective(device: &DeviceProfile, w: &cosched_core::ResolvedWorkload, cfg: &TrainConfig) -> f64 {
    cosched_core::BASELINE_NAMES
        .iter()
        .filter_map(|name| cosched_core::baseline(name, device, cfg.weights))
        .map(|mut b| {
            let sim_cfg = SimConfig {
                weights: cfg.weights,
                ..SimConfig::with_seed(EVAL_SEED)
            };
            simulate(device, w, b.as_mut(), &sim_cfg).objective
        })
        .fold(f64::INFINITY, f64::min)
}

/// How evaluation objectives stand against the best baseline of each case, lower is better,
/// ordered lexicographically: first the cases lost by more than [`CLEAR_LOSS`], then the cases
/// lost at all (by more than rounding), then the mean of `objective / best baseline - 1`.
///
/// The product's bar counts cases no worse than the best baseline, and a mean lets a big win
/// on one overloaded case pay for several small losses: with a mean score (shortfalls weighing
/// 3x gains) the shipped policies lost 18 of 105 cases; this order, with the same training,
/// kept weights that lose fewer on jetson-agx-orin, jetson-xavier-nx and android-flagship.
/// The second count makes a checkpoint that ties the prior nearly everywhere but trails it by
/// 0.1 % on a few easy cases (host-cpu `server`: two identical workers, where
/// earliest-finish is hard to beat) lose to it. The scalar is `clear + (any + m) / (n + 1)`
/// with `m` the mean mapped into (0, 1), so each term only breaks the ties of the one before.
fn selection_score(objectives: &[f64], baselines: &[f64]) -> f64 {
    let n = objectives.len() as f64;
    let (mut clear, mut any, mut sum) = (0.0, 0.0, 0.0);
    for (o, b) in objectives.iter().zip(baselines) {
        let r = o / b.max(1e-9) - 1.0;
        clear += f64::from(u8::from(r > CLEAR_LOSS));
        any += f64::from(u8::from(r > 1e-9));
        sum += r;
    }
    let mean = 0.5 + (sum / n.max(1.0)).clamp(-0.49, 0.49);
    clear + (any + mean) / (n + 1.0)
}

/// A loss to the best baseline larger than this fraction counts first in [`selection_score`]:
/// beyond the spread of one 20 s evaluation run.
const CLEAR_LOSS: f64 = 0.002;

/// Seed of every evaluation run during training.
const EVAL_SEED: u64 = 1_000_003;

fn max_ratio(objectives: &[f64], prior: &[f64]) -> f64 {
    objectives
        .iter()
        .zip(prior)
        .map(|(o, p)| o / p.max(1e-9))
        .fold(0.0, f64::max)
}

fn mean_ratio(objectives: &[f64], prior: &[f64]) -> f64 {
    let n = objectives.len().max(1) as f64;
    objectives.iter().zip(prior).map(|(o, p)| o / p.max(1e-9)).sum::<f64>() / n
}

#[cfg(test)]
mod tests {
    use super::selection_score;

    #[test]
    fn selection_orders_by_clear_losses_then_any_loss_then_the_mean() {
        let best = [1.0; 4];
        // One clear loss (+1 %) with big wins elsewhere ranks below no clear loss at all.
        let one_clear = selection_score(&[1.01, 0.5, 0.5, 0.5], &best);
        let none_clear = selection_score(&[1.001, 1.001, 1.001, 1.0], &best);
        assert!(none_clear < one_clear, "{none_clear} vs {one_clear}");
        // No clear loss either way: fewer small losses first, whatever the mean.
        let one_small = selection_score(&[1.001, 1.0, 1.0, 1.0], &best);
        assert!(one_small < none_clear);
        let one_small_big_win = selection_score(&[1.001, 0.6, 1.0, 1.0], &best);
        assert!(one_small_big_win < one_small);
        // Rounding is a tie, not a loss; then the mean decides.
        let ties = selection_score(&[1.0 + 1e-12, 1.0, 1.0, 1.0], &best);
        assert!(ties < one_small_big_win);
        assert!(selection_score(&[0.9, 1.0, 1.0, 1.0], &best) < ties);
        // The fraction never reaches the next whole loss.
        let worst_without_clear = selection_score(&[1.0019, 1.0019, 1.0019, 1.0019], &best);
        assert!(worst_without_clear < 1.0 && one_clear >= 1.0);
    }
}
