//! Jetson INA3221 power monitors.
//!
//! JetPack 5 and later expose them through hwmon:
//! `/sys/bus/i2c/drivers/ina3221/<bus-addr>/hwmon/hwmon*/in<N>_label` (rail name),
//! `in<N>_input` (bus voltage, mV) and `curr<N>_input` (current, mA).
//! JetPack 4 used NVIDIA's iio driver:
//! `/sys/bus/i2c/drivers/ina3221x/<bus-addr>/iio:device*/rail_name_<N>` and
//! `in_power<N>_input` (mW).

use std::path::{Path, PathBuf};

use crate::sysfs::{entries_with_prefix, index_between, read_i64, read_trimmed, under};
use crate::{PowerSample, PowerSource, TelemetryError};

const HWMON_DRIVER: &str = "sys/bus/i2c/drivers/ina3221";
const IIO_DRIVER: &str = "sys/bus/i2c/drivers/ina3221x";

#[derive(Debug, Clone, PartialEq, Eq)]
enum Channel {
    Hwmon { voltage_mv: PathBuf, current_ma: PathBuf },
    Iio { power_mw: PathBuf },
}

/// One rail of an INA3221 monitor, e.g. `VDD_GPU_SOC` on a Jetson AGX Orin or `VDD_IN` on an
/// Orin Nano.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Ina3221Rail {
    label: String,
    channel: Channel,
}

/// Discovery of INA3221 rails.
#[derive(Debug, Clone, Copy)]
pub struct Ina3221;

impl Ina3221 {
    /// All labelled rails under `root` (`/` on a real board), hwmon layout first, then the older
    /// iio layout. Channels labelled `NC` (not connected) are left out.
    pub fn discover(root: &Path) -> Vec<Ina3221Rail> {
        let mut rails = discover_hwmon(root);
        rails.extend(discover_iio(root));
        tracing::debug!(rails = ?rails.iter().map(Ina3221Rail::label).collect::<Vec<_>>(), "INA3221 rails");
        rails
    }

    /// The rails to meter so that nothing is counted twice: the total-input rail alone when the
    /// board has one (Orin Nano/NX, Xavier NX, Nano, TX2), else all rails summed (AGX Orin and
    /// AGX Xavier monitor their supplies separately and have no total-input channel).
    pub fn select_for_total(rails: Vec<Ina3221Rail>) -> Vec<Ina3221Rail> {
        match rails.iter().position(Ina3221Rail::is_total_input) {
            Some(i) => vec![rails[i].clone()],
            None => rails,
        }
    }
}

fn discover_hwmon(root: &Path) -> Vec<Ina3221Rail> {
    let mut rails = Vec::new();
    for (_, dev) in entries_with_prefix(&under(root, HWMON_DRIVER), "") {
        for (_, hwmon) in entries_with_prefix(&dev.join("hwmon"), "hwmon") {
            for (file, label_path) in entries_with_prefix(&hwmon, "in") {
                let Some(n) = index_between(&file, "in", "_label") else {
                    continue;
                };
                let Ok(label) = read_trimmed(&label_path) else { continue };
                let current_ma = hwmon.join(format!("curr{n}_input"));
                // Shunt-voltage and "sum" channels have a label but no current: not a rail.
                if is_not_connected(&label) || !current_ma.exists() {
                    continue;
                }
                rails.push(Ina3221Rail {
                    label,
                    channel: Channel::Hwmon {
                        voltage_mv: hwmon.join(format!("in{n}_input")),
                        current_ma,
                    },
                });
            }
        }
    }
    rails
}

fn discover_iio(root: &Path) -> Vec<Ina3221Rail> {
    let mut rails = Vec::new();
    for (_, dev) in entries_with_prefix(&under(root, IIO_DRIVER), "") {
        for (_, iio) in entries_with_prefix(&dev, "iio:device") {
            for (file, name_path) in entries_with_prefix(&iio, "rail_name_") {
                let Some(n) = index_between(&file, "rail_name_", "") else {
                    continue;
                };
                let Ok(label) = read_trimmed(&name_path) else { continue };
                let power_mw = iio.join(format!("in_power{n}_input"));
                if is_not_connected(&label) || !power_mw.exists() {
                    continue;
                }
                rails.push(Ina3221Rail {
                    label,
                    channel: Channel::Iio { power_mw },
                });
            }
        }
    }
    rails
}

fn is_not_connected(label: &str) -> bool {
    label.is_empty() || label.eq_ignore_ascii_case("nc")
}

impl Ina3221Rail {
    /// The rail's label as the driver reports it, e.g. `VDD_GPU_SOC`.
    pub fn label(&self) -> &str {
        &self.label
    }

    /// True for a rail that measures the whole module's input (`VDD_IN`, `POM_5V_IN`).
    ///
    /// `VIN_SYS_5V0` on the AGX boards is not one: it is the 5 V system supply, one of the rails
    /// that add up to the module's power.
    pub fn is_total_input(&self) -> bool {
        let l = self.label.to_ascii_uppercase();
        l == "VDD_IN" || l == "VIN" || l.ends_with("5V_IN")
    }

    /// Power of the rail now, watts.
    pub fn power_w(&self) -> Result<f64, TelemetryError> {
        let mw = match &self.channel {
            Channel::Hwmon { voltage_mv, current_ma } => {
                let mv = read_i64(voltage_mv, "an integer (mV)")?;
                let ma = read_i64(current_ma, "an integer (mA)")?;
                (mv as f64) * (ma as f64) / 1000.0
            }
            Channel::Iio { power_mw } => read_i64(power_mw, "an integer (mW)")? as f64,
        };
        // The shunt amplifier reads a few mA either side of zero on an idle rail.
        Ok(mw.max(0.0) / 1000.0)
    }
}

impl PowerSource for Ina3221Rail {
    fn name(&self) -> String {
        format!("ina3221:{}", self.label)
    }

    fn sample(&mut self) -> Result<PowerSample, TelemetryError> {
        self.power_w().map(PowerSample::power)
    }
}
