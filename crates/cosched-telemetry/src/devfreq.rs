//! Frequencies of devfreq devices (GPUs, memory controllers, NPUs) and the Jetson GPU load.
//!
//! devfreq: `/sys/class/devfreq/<dev>/{cur_freq,min_freq,max_freq,available_frequencies}`, in Hz.
//! Jetson GPU load: `/sys/devices/gpu.0/load` or `/sys/devices/platform/gpu.0/load`, per mille.

use std::path::{Path, PathBuf};

use crate::sysfs::{entries_with_prefix, read_trimmed, read_u64, read_u64_list, under};
use crate::TelemetryError;

const DEVFREQ: &str = "sys/class/devfreq";

/// Devfreq names of GPUs: Jetson (gm20b/gp10b/gv11b/ga10b), Adreno (kgsl-3d0), Mali.
const GPU_NAME_HINTS: &[&str] = &["gpu", "ga10b", "gv11b", "gp10b", "gm20b", "gk20a", "kgsl-3d0", "mali"];

/// One devfreq device.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DevfreqDevice {
    name: String,
    dir: PathBuf,
}

/// Discovery of devfreq devices.
#[derive(Debug, Clone, Copy)]
pub struct Devfreq;

impl Devfreq {
    /// Every device under `root`'s `sys/class/devfreq` that reports a current frequency.
    pub fn discover(root: &Path) -> Vec<DevfreqDevice> {
        entries_with_prefix(&under(root, DEVFREQ), "")
            .into_iter()
            .filter(|(_, dir)| dir.join("cur_freq").exists())
            .map(|(name, dir)| DevfreqDevice { name, dir })
            .collect()
    }

    /// The first device that looks like a GPU, e.g. `17000000.ga10b` on a Jetson Orin.
    pub fn gpu(root: &Path) -> Option<DevfreqDevice> {
        Devfreq::discover(root).into_iter().find(DevfreqDevice::is_gpu)
    }
}

impl DevfreqDevice {
    /// The devfreq name, e.g. `17000000.ga10b`.
    pub fn name(&self) -> &str {
        &self.name
    }

    /// True when the name says it is a GPU.
    pub fn is_gpu(&self) -> bool {
        let n = self.name.to_ascii_lowercase();
        GPU_NAME_HINTS.iter().any(|h| n.contains(h))
    }

    /// Current frequency, Hz.
    pub fn cur_freq_hz(&self) -> Result<u64, TelemetryError> {
        read_u64(&self.dir.join("cur_freq"), "an integer (Hz)")
    }

    /// Highest allowed frequency now (it moves with power modes and thermal limits), Hz.
    pub fn max_freq_hz(&self) -> Result<u64, TelemetryError> {
        read_u64(&self.dir.join("max_freq"), "an integer (Hz)")
    }

    /// Lowest allowed frequency now, Hz.
    pub fn min_freq_hz(&self) -> Result<u64, TelemetryError> {
        read_u64(&self.dir.join("min_freq"), "an integer (Hz)")
    }

    /// The frequencies the device supports, Hz, ascending.
    pub fn available_frequencies_hz(&self) -> Result<Vec<u64>, TelemetryError> {
        let mut v = read_u64_list(&self.dir.join("available_frequencies"), "integers (Hz)")?;
        v.sort_unstable();
        Ok(v)
    }

    /// `cur_freq / max_freq`, the quantity the device profiles call the frequency scale.
    pub fn freq_scale(&self) -> Result<f64, TelemetryError> {
        let cur = self.cur_freq_hz()?;
        let max = self.max_freq_hz()?;
        if max == 0 {
            return Err(TelemetryError::Implausible {
                sensor: self.name.clone(),
                detail: "max_freq is 0".into(),
            });
        }
        Ok(cur as f64 / max as f64)
    }
}

/// Files that hold the Jetson GPU load in per mille, newest layouts last.
const JETSON_LOAD_FILES: &[&str] = &[
    "sys/devices/platform/gpu.0/load",
    "sys/devices/gpu.0/load",
    "sys/devices/platform/bus@0/17000000.gpu/load",
    "sys/devices/17000000.gv11b/load",
    "sys/devices/17000000.gp10b/load",
    "sys/devices/57000000.gpu/load",
];

/// Adreno (Qualcomm) busy percentage, e.g. `37 %`.
const ADRENO_BUSY: &str = "sys/class/kgsl/kgsl-3d0/gpu_busy_percentage";

/// The GPU's busy fraction.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct GpuLoad {
    path: PathBuf,
    per_mille: bool,
}

impl GpuLoad {
    /// Find the GPU load file under `root`: a Jetson `load` file (per mille) or Adreno's
    /// `gpu_busy_percentage`.
    pub fn discover(root: &Path) -> Option<GpuLoad> {
        JETSON_LOAD_FILES
            .iter()
            .map(|rel| (under(root, rel), true))
            .chain(std::iter::once((under(root, ADRENO_BUSY), false)))
            .find(|(p, _)| p.is_file())
            .map(|(path, per_mille)| GpuLoad { path, per_mille })
    }

    /// The file read.
    pub fn path(&self) -> &Path {
        &self.path
    }

    /// Busy fraction now, 0..=1.
    pub fn load(&self) -> Result<f64, TelemetryError> {
        let (value, full) = if self.per_mille {
            (read_u64(&self.path, "an integer (per mille)")?, 1000.0)
        } else {
            let text = read_trimmed(&self.path)?;
            let digits = text.trim_end_matches('%').trim();
            let v = digits.parse::<u64>().map_err(|_| TelemetryError::Parse {
                path: self.path.clone(),
                expected: "an integer percentage",
                found: text.chars().take(40).collect(),
            })?;
            (v, 100.0)
        };
        let load = value as f64 / full;
        if load > 1.0 {
            return Err(TelemetryError::Implausible {
                sensor: self.path.display().to_string(),
                detail: format!("load {value} exceeds {full}"),
            });
        }
        Ok(load)
    }
}
