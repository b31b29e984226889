//! With zero heads the deployed policy must be exactly its prior, also under overload where
//! observation features clip: least-slack (earliest-finish placement, least-slack-first queues)
//! when the prior's weights are zero, and the objective-greedy rule inside the trust region with
//! the objective's weights.

use burn::prelude::*;
use cosched_core::{baseline, DeviceProfile, Observation, Workload};
use cosched_rl::net::QNet;
use cosched_rl::DrlPolicy;
use cosched_sim::{simulate, SimConfig};

#[test]
fn an_untrained_policy_scores_like_least_slack_at_every_load() {
    for dev in DeviceProfile::builtin_names() {
        let device = DeviceProfile::builtin(dev).unwrap();
        let n_proc = device.processors.len();
        let n_models = device.models.len();
        let net = QNet::new(&Device::flex(), Observation::feature_len(n_proc, n_models), 8, n_proc);
        for name in Workload::builtin_names() {
            let mut w = Workload::builtin(name).unwrap();
            w.duration_s = w.duration_s.min(20.0);
            for load in [0.5, 1.0, 1.5, 2.5] {
                let r = w.resolve(&device, Some(load), name).unwrap();
                let cfg = SimConfig::with_seed(5);
                let mut drl = DrlPolicy::new("drl", net.to_plain(), n_models);
                let mut ls = baseline("least-slack", &device, Default::default()).unwrap();
                let a = simulate(&device, &r, &mut drl, &cfg);
                let b = simulate(&device, &r, ls.as_mut(), &cfg);
                // Same decisions, so the same run: any difference means the prior is not
                // earliest-finish somewhere (it was, before, wherever every queue was longer
                // than the 10 deadlines the observation vector can express).
                assert!(
                    (a.objective - b.objective).abs() <= 1e-9 * b.objective.abs().max(1.0),
                    "{dev} {name} load {load}: untrained drl {} vs least-slack {}",
                    a.objective,
                    b.objective
                );
                assert_eq!(a.completed, b.completed, "{dev} {name} load {load}");
            }
        }
    }
}

/// The objective-greedy rule inside the trust region, written out independently of the crate:
/// each valid processor's expected share of the objective (finish in deadlines + energy weight x
/// energy over reference + violation weight x probability of missing the deadline), only among
/// processors finishing within one deadline of the earliest; least-slack-first queues.
struct Reference(cosched_core::ObjectiveWeights);

impl cosched_core::Policy for Reference {
    fn name(&self) -> &str {
        "reference"
    }
    fn decide(&mut self, obs: &Observation) -> cosched_core::Action {
        let r = &obs.request;
        let w = self.0;
        let best = obs
            .processors
            .iter()
            .filter(|v| v.available)
            .map(|v| v.est_finish_ms() / r.slo_ms)
            .fold(f64::INFINITY, f64::min);
        let left = r.slo_ms - (obs.now_ms - r.arrival_ms);
        let mut choice = (f64::INFINITY, 0);
        for (a, v) in obs.processors.iter().enumerate() {
            let finish = v.est_finish_ms() / r.slo_ms;
            if !v.available || finish > best + 1.0 {
                continue;
            }
            let miss = cosched_core::baselines::prob_exceeds(v.est_latency_ms, v.latency_cv, left - v.backlog_ms);
            let cost =
                finish + w.energy / w.latency * v.est_energy_j / r.reference_energy_j + w.violation / w.latency * miss;
            if cost < choice.0 {
                choice = (cost, a);
            }
        }
        cosched_core::Action {
            processor: cosched_core::ProcessorId(choice.1 as u16),
        }
    }
    fn queue_order(&self) -> cosched_core::QueueOrder {
        cosched_core::QueueOrder::LeastSlackFirst
    }
}

#[test]
fn an_untrained_policy_with_objective_weights_is_objective_greedy_in_the_trust_region() {
    let weights = cosched_core::ObjectiveWeights::BALANCED;
    for dev in DeviceProfile::builtin_names() {
        let device = DeviceProfile::builtin(dev).unwrap();
        let n_proc = device.processors.len();
        let n_models = device.models.len();
        let mut plain = QNet::new(&Device::flex(), Observation::feature_len(n_proc, n_models), 8, n_proc).to_plain();
        plain.set_prior_weights(&weights);
        for name in Workload::builtin_names() {
            let mut w = Workload::builtin(name).unwrap();
            w.duration_s = w.duration_s.min(10.0);
            for load in [0.5, 0.95, 1.5] {
                let r = w.resolve(&device, Some(load), name).unwrap();
                let cfg = SimConfig::with_seed(5);
                let mut drl = DrlPolicy::new("drl", plain.clone(), n_models);
                let a = simulate(&device, &r, &mut drl, &cfg);
                let b = simulate(&device, &r, &mut Reference(weights), &cfg);
                assert!(
                    (a.objective - b.objective).abs() <= 1e-9 * b.objective.abs().max(1.0),
                    "{dev} {name} load {load}: untrained drl {} vs reference {}",
                    a.objective,
                    b.objective
                );
            }
        }
    }
}
