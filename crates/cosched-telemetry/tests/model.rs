//! The modelled energy agrees with the simulator's power model.

use cosched_core::{baseline, DeviceProfile, ObjectiveWeights, Workload};
use cosched_sim::{simulate, SimConfig};
use cosched_telemetry::{modelled_energy_j, modelled_processor_energy_j};

#[test]
fn hand_computed_processor_energy() {
    let device = DeviceProfile::builtin("jetson-agx-orin").unwrap();
    // A multi-slot processor, so the per-slot share of the busy increment matters.
    let p = device
        .processors
        .iter()
        .find(|p| p.slots > 1)
        .expect("a processor with several slots");
    let idle = p.idle_power_w;
    let busy = p.busy_power_w;
    let slots = f64::from(p.slots);
    // 2 s run, one slot busy for 1 s, full frequency: idle for 2 s plus one slot's share for 1 s.
    let expected = idle * 2.0 + (busy - idle) / slots * 1.0;
    assert!((modelled_processor_energy_j(p, 1000.0, 1.0, 2000.0) - expected).abs() < 1e-9);
    // Half frequency: the busy increment scales with f^2.
    let expected = idle * 2.0 + (busy - idle) * 0.25 / slots * 1.0;
    assert!((modelled_processor_energy_j(p, 1000.0, 0.5, 2000.0) - expected).abs() < 1e-9);
    // Missing entries: idle at full frequency.
    let idle_total: f64 = device.processors.iter().map(|p| p.idle_power_w).sum();
    assert!((modelled_energy_j(&device, &[], &[], 1000.0) - idle_total).abs() < 1e-9);
}

#[test]
fn modelled_energy_matches_a_simulated_run() {
    for name in ["jetson-agx-orin", "jetson-orin-nano"] {
        let device = DeviceProfile::builtin(name).unwrap();
        let workload = Workload::builtin("multi-stream")
            .unwrap()
            .resolve(&device, Some(0.6), "multi-stream")
            .unwrap();
        let mut policy = baseline("least-loaded", &device, ObjectiveWeights::BALANCED).unwrap();
        let mut config = SimConfig::with_seed(7);
        // A lower DVFS level where the profile has a table, so the f^2 scaling is exercised.
        config.dvfs_levels = device
            .processors
            .iter()
            .map(|p| p.dvfs_mhz.len().saturating_sub(2))
            .collect();
        let report = simulate(&device, &workload, policy.as_mut(), &config);

        let run_ms = report.duration_s * 1000.0;
        let scales: Vec<f64> = device
            .processors
            .iter()
            .zip(&config.dvfs_levels)
            .map(|(p, &l)| p.freq_scale(l))
            .collect();
        assert!(
            scales.iter().any(|&s| s < 1.0),
            "{name}: no processor below full frequency"
        );
        let busy: Vec<f64> = device
            .processors
            .iter()
            .zip(&report.per_processor)
            .map(|(p, r)| r.utilization * f64::from(p.slots) * run_ms)
            .collect();
        assert!(busy.iter().any(|&b| b > 0.0));
        for (i, p) in device.processors.iter().enumerate() {
            let modelled = modelled_processor_energy_j(p, busy[i], scales[i], run_ms);
            let simulated = report.per_processor[i].energy_j;
            assert!(
                (modelled - simulated).abs() <= 1e-6 * simulated.max(1.0),
                "{name}/{}: {modelled} vs {simulated}",
                p.id
            );
        }
        let total = modelled_energy_j(&device, &busy, &scales, run_ms);
        assert!(
            (total - report.energy_j).abs() <= 1e-6 * report.energy_j,
            "{name}: {total} vs {}",
            report.energy_j
        );
    }
}
