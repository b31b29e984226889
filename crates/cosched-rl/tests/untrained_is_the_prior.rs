//! With zero heads the deployed policy must be exactly its prior, also under overload where
//! observation features clip: the congestion-priced objective-greedy rule with least-slack-first
//! queues, with the objective's weights and with zero weights, checked against a reference
//! written out independently of the crate; and the earliest-finish prior, checked against the
//! `least-slack` baseline.

use burn::prelude::*;
use cosched_core::{DeviceProfile, Observation, Workload};
use cosched_rl::net::QNet;
use cosched_rl::{DrlPolicy, PriorForm};
use cosched_sim::{simulate, SimConfig};

/// Runs an untrained policy whose prior has `form` and `weights` and the policy `reference`
/// builds for each device on every built-in device and workload (arrival windows cut to
/// `max_duration_s`) at `loads`, and asserts both runs are the same.
fn assert_untrained_runs_as(
    form: PriorForm,
    weights: cosched_core::ObjectiveWeights,
    max_duration_s: f64,
    loads: &[f64],
    reference: impl Fn(&DeviceProfile) -> Box<dyn cosched_core::Policy>,
) {
    for dev in DeviceProfile::builtin_names() {
        let device = DeviceProfile::builtin(dev).unwrap();
        let n_proc = device.processors.len();
        let n_models = device.models.len();
        let mut plain = QNet::new(&Device::flex(), Observation::feature_len(n_proc, n_models), 8, n_proc).to_plain();
        plain.set_prior_weights(&weights);
        plain.set_prior_form(form);
        for name in Workload::builtin_names() {
            let mut w = Workload::builtin(name).unwrap();
            w.duration_s = w.duration_s.min(max_duration_s);
            for &load in loads {
                let r = w.resolve(&device, Some(load), name).unwrap();
                let cfg = SimConfig::with_seed(5);
                let mut drl = DrlPolicy::new("drl", plain.clone(), n_models);
                let a = simulate(&device, &r, &mut drl, &cfg);
                let b = simulate(&device, &r, reference(&device).as_mut(), &cfg);
                // Same decisions, so the same run: any difference means the policy is not its
                // prior somewhere (it was not, once, wherever every queue was longer than the
                // 10 deadlines the observation vector can express).
                assert!(
                    (a.objective - b.objective).abs() <= 1e-9 * b.objective.abs().max(1.0),
                    "{dev} {name} load {load}: untrained drl {} vs reference {}",
                    a.objective,
                    b.objective
                );
                assert_eq!(a.completed, b.completed, "{dev} {name} load {load}");
            }
        }
    }
}

fn assert_untrained_is_the_reference(weights: cosched_core::ObjectiveWeights, max_duration_s: f64, loads: &[f64]) {
    assert_untrained_runs_as(PriorForm::PricedObjective, weights, max_duration_s, loads, |_| {
        Box::new(Reference(weights))
    });
}

#[test]
fn an_untrained_policy_with_zero_prior_weights_is_the_latency_part_of_the_prior_at_every_load() {
    // Zero energy and violation weights: finish time plus the congestion price alone.
    let weights = cosched_core::ObjectiveWeights {
        latency: 1.0,
        violation: 0.0,
        energy: 0.0,
    };
    assert_untrained_is_the_reference(weights, 20.0, &[0.5, 1.0, 1.5, 2.5]);
}

/// The prior, written out independently of the crate: each valid processor's expected share of
/// the objective (finish in deadlines + energy weight x energy over reference + violation
/// weight x probability of missing the deadline + latency in deadlines x requests queued or
/// running there per slot); least-slack-first queues.
struct Reference(cosched_core::ObjectiveWeights);

impl cosched_core::Policy for Reference {
    fn name(&self) -> &str {
        "reference"
    }
    fn decide(&mut self, obs: &Observation) -> cosched_core::Action {
        let r = &obs.request;
        let w = self.0;
        let left = r.slo_ms - (obs.now_ms - r.arrival_ms);
        let mut choice = (f64::INFINITY, 0);
        for (a, v) in obs.processors.iter().enumerate() {
            let finish = v.est_finish_ms() / r.slo_ms;
            if !v.available {
                continue;
            }
            let miss = cosched_core::baselines::prob_exceeds(v.est_latency_ms, v.latency_cv, left - v.backlog_ms);
            let crowd = f64::from(v.queue_len + v.in_flight) / f64::from(v.slots.max(1));
            let cost = finish
                + w.energy / w.latency * v.est_energy_j / r.reference_energy_j
                + w.violation / w.latency * miss
                + v.est_latency_ms / r.slo_ms * crowd;
            if cost < choice.0 {
                choice = (cost, a);
            }
        }
        cosched_core::Action::to(cosched_core::ProcessorId(choice.1 as u16))
    }
    fn queue_order(&self) -> cosched_core::QueueOrder {
        cosched_core::QueueOrder::LeastSlackFirst
    }
}

#[test]
fn an_untrained_policy_with_objective_weights_is_the_congestion_priced_objective_greedy_rule() {
    assert_untrained_is_the_reference(cosched_core::ObjectiveWeights::BALANCED, 10.0, &[0.5, 0.95, 1.5]);
}

#[test]
fn an_untrained_policy_over_the_earliest_finish_prior_is_the_least_slack_baseline() {
    let weights = cosched_core::ObjectiveWeights::BALANCED;
    assert_untrained_runs_as(PriorForm::EarliestFinish, weights, 10.0, &[0.5, 0.95, 1.5], |device| {
        cosched_core::baseline("least-slack", device, weights).unwrap()
    });
}
