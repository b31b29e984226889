//! Linux RAPL (Running Average Power Limit) through powercap:
//! `/sys/class/powercap/intel-rapl:<N>/{name,energy_uj,max_energy_range_uj}`.
//!
//! The same files exist on AMD CPUs (the kernel drives them with the `intel-rapl` code).
//! Since Linux 5.10 `energy_uj` is readable by root only; domains that cannot be read are left
//! out at discovery with a log line saying why.

use std::path::{Path, PathBuf};

use crate::sysfs::{entries_with_prefix, read_trimmed, read_u64, under};
use crate::{PowerSample, PowerSource, TelemetryError};

const POWERCAP: &str = "sys/class/powercap";

/// One top-level RAPL domain (a CPU package).
#[derive(Debug, Clone, PartialEq)]
pub struct RaplDomain {
    name: String,
    energy_uj: PathBuf,
    range_j: Option<f64>,
}

/// Discovery of RAPL domains.
#[derive(Debug, Clone, Copy)]
pub struct Rapl;

impl Rapl {
    /// The readable package domains under `root` (`/` on a real machine).
    ///
    /// Only top-level domains (`intel-rapl:0`, not `intel-rapl:0:0`) are returned, because the
    /// sub-domains (core, uncore, dram) are parts of their package and would be counted twice;
    /// `psys` (the whole platform on some laptops) is left out for the same reason.
    pub fn discover(root: &Path) -> Vec<RaplDomain> {
        let mut out = Vec::new();
        for (dir_name, dir) in entries_with_prefix(&under(root, POWERCAP), "intel-rapl:") {
            if dir_name.matches(':').count() != 1 {
                continue;
            }
            let name = read_trimmed(&dir.join("name")).unwrap_or_else(|_| dir_name.clone());
            if name == "psys" {
                continue;
            }
            let energy_uj = dir.join("energy_uj");
            if let Err(e) = read_u64(&energy_uj, "an integer (uJ)") {
                tracing::info!(domain = %name, error = %e, "RAPL domain not readable (root needed since Linux 5.10?)");
                continue;
            }
            let range_j = read_u64(&dir.join("max_energy_range_uj"), "an integer (uJ)")
                .ok()
                .map(|uj| uj as f64 / 1e6);
            out.push(RaplDomain {
                name,
                energy_uj,
                range_j,
            });
        }
        out
    }
}

impl RaplDomain {
    /// The domain's name, e.g. `package-0`.
    pub fn domain(&self) -> &str {
        &self.name
    }

    /// The counter's current value, joules (it wraps to zero at [`RaplDomain::range_j`]).
    pub fn energy_j(&self) -> Result<f64, TelemetryError> {
        Ok(read_u64(&self.energy_uj, "an integer (uJ)")? as f64 / 1e6)
    }

    /// The value at which the counter wraps, joules, if the kernel says.
    pub fn range_j(&self) -> Option<f64> {
        self.range_j
    }
}

impl PowerSource for RaplDomain {
    fn name(&self) -> String {
        format!("rapl:{}", self.name)
    }

    fn sample(&mut self) -> Result<PowerSample, TelemetryError> {
        Ok(PowerSample::energy(self.energy_j()?, self.range_j))
    }
}
