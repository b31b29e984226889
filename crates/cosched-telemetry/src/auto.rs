//! Choosing the best available power sensors.

use std::path::Path;

use crate::{Battery, EnergyMeter, Ina3221, Nvml, PowerSource, Rapl};

impl EnergyMeter {
    /// A meter over the best sensors found under `root` (`/` on a real machine), sampled every
    /// [`EnergyMeter::DEFAULT_PERIOD`]:
    ///
    /// 1. Jetson INA3221: the total-input rail, or the sum of all rails where there is none;
    /// 2. NVML GPUs plus RAPL CPU packages (a GPU server; CPU package and GPU board, not the wall);
    /// 3. RAPL alone, then NVML alone;
    /// 4. the Android battery (when not on external power);
    /// 5. nothing: the reading will be [`crate::EnergySource::Modelled`].
    ///
    /// NVML is a library, not a file under `root`, so it is only tried when `root` is `/`; tests
    /// that point `root` at a fake tree are not affected by the GPUs of the machine they run on.
    pub fn auto(root: &Path) -> EnergyMeter {
        let nvml = if root == Path::new("/") {
            Nvml::load().map_err(|e| tracing::debug!(error = %e, "no NVML")).ok()
        } else {
            None
        };
        EnergyMeter::auto_with(root, nvml.as_ref())
    }

    /// [`EnergyMeter::auto`] with an explicit NVML (or none).
    pub fn auto_with(root: &Path, nvml: Option<&Nvml>) -> EnergyMeter {
        let sources = best_sources(root, nvml);
        let meter = EnergyMeter::new(sources, EnergyMeter::DEFAULT_PERIOD);
        tracing::info!(source = %meter.source(), "energy meter");
        meter
    }
}

fn boxed<S: PowerSource + 'static>(v: Vec<S>) -> Vec<Box<dyn PowerSource>> {
    v.into_iter().map(|s| Box::new(s) as Box<dyn PowerSource>).collect()
}

fn best_sources(root: &Path, nvml: Option<&Nvml>) -> Vec<Box<dyn PowerSource>> {
    let rails = Ina3221::discover(root);
    if !rails.is_empty() {
        return boxed(Ina3221::select_for_total(rails));
    }
    let gpus = nvml.map(Nvml::devices).unwrap_or_default();
    let mut sources = boxed(gpus);
    sources.extend(boxed(Rapl::discover(root)));
    if !sources.is_empty() {
        return sources;
    }
    if let Some(battery) = Battery::discover(root) {
        if battery.on_external_power() {
            tracing::info!("battery is on external power: it cannot measure the board, energy will be modelled");
        } else {
            return vec![Box::new(battery)];
        }
    }
    Vec::new()
}
