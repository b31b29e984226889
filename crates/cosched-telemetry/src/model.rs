//! Modelled energy for runs without a power sensor, computed exactly as the simulator does.

use cosched_core::{DeviceProfile, Processor};

/// Modelled energy of one processor over a run, joules.
///
/// The processor draws `idle_power_w` for the whole run and, for every millisecond that one of
/// its slots is busy, its per-slot share of the busy increment at `freq_scale`; this is the time
/// integral of [`Processor::power_w`] that the simulator accumulates, written in terms of
/// busy slot-time so that a real run can compute it from its own bookkeeping.
///
/// This is a model, not a measurement: report it with `energy_source = "modelled"`.
pub fn modelled_processor_energy_j(processor: &Processor, busy_slot_ms: f64, freq_scale: f64, run_ms: f64) -> f64 {
    let idle_w = processor.power_w(0, freq_scale);
    let per_slot_busy_w = (processor.power_w(processor.slots, freq_scale) - idle_w) / f64::from(processor.slots);
    (idle_w * run_ms.max(0.0) + per_slot_busy_w * busy_slot_ms.max(0.0)) / 1000.0
}

/// Modelled energy of the whole board over a run of `run_ms`, joules: the sum of
/// [`modelled_processor_energy_j`] over the profile's processors.
///
/// `busy_slot_ms[i]` is the slot-time processor `i` spent running inferences (two slots busy for
/// 1 ms count 2 ms) and `freq_scale[i]` its relative DVFS frequency (see
/// [`Processor::freq_scale`]). A missing `busy_slot_ms` entry counts as idle and a missing
/// `freq_scale` entry as the highest frequency.
///
/// This is a model, not a measurement: report it with `energy_source = "modelled"`
/// ([`crate::EnergySource::Modelled`]).
pub fn modelled_energy_j(device: &DeviceProfile, busy_slot_ms: &[f64], freq_scale: &[f64], run_ms: f64) -> f64 {
    device
        .processors
        .iter()
        .enumerate()
        .map(|(i, p)| {
            let busy = busy_slot_ms.get(i).copied().unwrap_or(0.0);
            let scale = freq_scale.get(i).copied().unwrap_or(1.0);
            modelled_processor_energy_j(p, busy, scale, run_ms)
        })
        .sum()
}
