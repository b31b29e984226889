//! Battery power through `power_supply`: `/sys/class/power_supply/battery/current_now` (uA) and
//! `voltage_now` (uV), as on Android phones and boards.
//!
//! Phones disagree on the sign of the current while discharging (some negative, some positive),
//! so the magnitude is used. While the battery is charging its current is the charge current,
//! not the board's draw: such samples are errors (counted by the meter), not numbers.

use std::path::{Path, PathBuf};

use crate::sysfs::{entries_with_prefix, read_i64, read_trimmed, under};
use crate::{PowerSample, PowerSource, TelemetryError};

const POWER_SUPPLY: &str = "sys/class/power_supply";

/// A battery that reports current and voltage.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Battery {
    supply: String,
    dir: PathBuf,
}

impl Battery {
    /// `power_supply/battery` under `root` if it has `current_now` and `voltage_now`, else the
    /// first supply whose `type` is `Battery` and has both.
    pub fn discover(root: &Path) -> Option<Battery> {
        let base = under(root, POWER_SUPPLY);
        let usable = |dir: &Path| dir.join("current_now").is_file() && dir.join("voltage_now").is_file();
        let conventional = base.join("battery");
        if usable(&conventional) {
            return Some(Battery {
                supply: "battery".into(),
                dir: conventional,
            });
        }
        entries_with_prefix(&base, "")
            .into_iter()
            .find(|(_, dir)| usable(dir) && read_trimmed(&dir.join("type")).is_ok_and(|t| t == "Battery"))
            .map(|(supply, dir)| Battery { supply, dir })
    }

    /// The supply's directory name, e.g. `battery`.
    pub fn supply(&self) -> &str {
        &self.supply
    }

    /// `current_now`, microamperes, with the sign the driver gives.
    pub fn current_ua(&self) -> Result<i64, TelemetryError> {
        read_i64(&self.dir.join("current_now"), "an integer (uA)")
    }

    /// `voltage_now`, microvolts.
    pub fn voltage_uv(&self) -> Result<i64, TelemetryError> {
        read_i64(&self.dir.join("voltage_now"), "an integer (uV)")
    }

    /// True when the driver says the battery is charging, full or not charging (on external power).
    pub fn on_external_power(&self) -> bool {
        read_trimmed(&self.dir.join("status")).is_ok_and(|s| matches!(s.as_str(), "Charging" | "Full" | "Not charging"))
    }

    /// Power drawn from the battery now, watts: |current| x voltage.
    pub fn power_w(&self) -> Result<f64, TelemetryError> {
        if self.on_external_power() {
            return Err(TelemetryError::Implausible {
                sensor: self.source_name(),
                detail: "battery is charging or full: its current is not the board's draw".into(),
            });
        }
        let ua = self.current_ua()?.unsigned_abs() as f64;
        let uv = self.voltage_uv()?.unsigned_abs() as f64;
        Ok(ua * uv / 1e12)
    }

    fn source_name(&self) -> String {
        if self.supply == "battery" {
            "android:battery".to_string()
        } else {
            format!("power_supply:{}", self.supply)
        }
    }
}

impl PowerSource for Battery {
    fn name(&self) -> String {
        self.source_name()
    }

    fn sample(&mut self) -> Result<PowerSample, TelemetryError> {
        self.power_w().map(PowerSample::power)
    }
}
