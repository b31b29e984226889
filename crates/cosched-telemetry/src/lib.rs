//! Telemetry for cosched: CPU/GPU load and frequency, power and energy.
//!
//! Readers, each taking the file-system root (`/` on a real board, a fake tree in tests):
//!
//! - [`Ina3221`]: Jetson power rails (hwmon on JetPack 5+, iio on JetPack 4);
//! - [`Rapl`]: Linux RAPL energy counters of CPU packages (powercap);
//! - [`Nvml`]: NVIDIA GPUs through NVML, loaded at run time ([`Nvml::load`] fails cleanly where
//!   the driver is absent);
//! - [`Battery`]: Android `power_supply` current and voltage;
//! - [`Devfreq`] and [`GpuLoad`]: GPU (and other devfreq devices') frequency and load;
//! - [`cpufreq`] and [`CpuLoad`]: CPU frequency and utilisation.
//!
//! Power sensors implement [`PowerSource`]; an [`EnergyMeter`] samples a set of them on a
//! background thread and integrates their energy over a run. Where no sensor exists the reading
//! says [`EnergySource::Modelled`] and [`modelled_energy_j`] gives the energy from the device
//! profile, the same way the simulator computes it. The run report's `energy_source` is the
//! [`EnergySource`]'s `Display`: `measured:<sensors joined by +>` or `modelled`.
//!
//! ```no_run
//! use std::path::Path;
//! use cosched_telemetry::EnergyMeter;
//!
//! let meter = EnergyMeter::auto(Path::new("/")).start();
//! // ... run the workload ...
//! let reading = meter.stop();
//! println!("{} J from {}", reading.joules, reading.source);
//! ```

mod auto;
mod battery;
mod cpu;
mod devfreq;
mod error;
mod ina3221;
mod meter;
mod model;
mod nvml;
mod rapl;
mod sysfs;

pub use battery::Battery;
pub use cpu::{cpufreq, CoreFreq, CpuLoad, CpuSnapshot};
pub use devfreq::{Devfreq, DevfreqDevice, GpuLoad};
pub use error::TelemetryError;
pub use ina3221::{Ina3221, Ina3221Rail};
pub use meter::{
    counter_delta, EnergyIntegrator, EnergyMeter, EnergyReading, EnergySource, PowerSample, PowerSource, RunningMeter,
    SourceEnergy,
};
pub use model::{modelled_energy_j, modelled_processor_energy_j};
pub use nvml::{GpuUtilization, Nvml, NvmlGpu};
pub use rapl::{Rapl, RaplDomain};
