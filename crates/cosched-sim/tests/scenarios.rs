//! Every generated scenario simulates on every built-in device, with every arrival counted once.

use cosched_core::scenario::generate_set;
use cosched_core::{baseline, DeviceProfile, ObjectiveWeights};
use cosched_sim::{simulate, SimConfig};

#[test]
fn generated_scenarios_simulate_on_every_built_in_device() {
    for name in DeviceProfile::builtin_names() {
        let d = DeviceProfile::builtin(name).unwrap();
        for mut w in generate_set(&d, 2000, 24) {
            // A short window keeps the test quick; the shapes are what is tested.
            w.duration_s = 2.0;
            let r = w.resolve(&d, Some(0.8), &w.name).unwrap();
            for policy in ["least-slack", "objective-greedy"] {
                let mut p = baseline(policy, &d, ObjectiveWeights::BALANCED).unwrap();
                let rep = simulate(&d, &r, &mut *p, &SimConfig::with_seed(1));
                assert!(rep.arrived > 0, "{} on {name}: nothing arrived", w.name);
                assert_eq!(rep.arrived, rep.completed + rep.unfinished, "{} on {name}", w.name);
                assert!(rep.objective.is_finite(), "{} on {name}", w.name);
            }
        }
    }
}
