//! With zero heads the deployed policy must be exactly its prior: least-slack (earliest-finish
//! placement, least-slack-first queues), also under overload where observation features clip.

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
