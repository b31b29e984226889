//! CPU utilisation (through sysinfo) and per-core frequency (through cpufreq).

use std::path::Path;
use std::time::{Duration, Instant};

use sysinfo::{CpuRefreshKind, RefreshKind, System};

use crate::sysfs::{entries_with_prefix, read_u64, under};

const CPU_DIR: &str = "sys/devices/system/cpu";

/// Frequency of one core from cpufreq.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct CoreFreq {
    /// Logical CPU number (`cpu<N>`).
    pub cpu: u32,
    /// `scaling_cur_freq`, kHz.
    pub cur_khz: u64,
    /// `scaling_max_freq` (the governor's current ceiling), kHz, if readable.
    pub max_khz: Option<u64>,
}

/// Per-core frequencies from `root`'s `sys/devices/system/cpu/cpu<N>/cpufreq/scaling_cur_freq`.
///
/// Cores without cpufreq (offline, or a VM without a driver) are left out, so the list may be
/// empty or shorter than the number of cores.
pub fn cpufreq(root: &Path) -> Vec<CoreFreq> {
    entries_with_prefix(&under(root, CPU_DIR), "cpu")
        .into_iter()
        .filter_map(|(name, dir)| {
            let cpu = name.strip_prefix("cpu")?.parse::<u32>().ok()?;
            let freq = dir.join("cpufreq");
            let cur_khz = match read_u64(&freq.join("scaling_cur_freq"), "an integer (kHz)") {
                Ok(v) => v,
                Err(e) => {
                    tracing::debug!(cpu, error = %e, "no cpufreq");
                    return None;
                }
            };
            let max_khz = read_u64(&freq.join("scaling_max_freq"), "an integer (kHz)").ok();
            Some(CoreFreq { cpu, cur_khz, max_khz })
        })
        .collect()
}

/// CPU utilisation and frequency at one moment.
#[derive(Debug, Clone, PartialEq)]
pub struct CpuSnapshot {
    /// Busy fraction of all cores together, 0..=1.
    pub global: f64,
    /// Busy fraction per logical core, 0..=1.
    pub per_core: Vec<f64>,
    /// Frequency per logical core, MHz (0 where the platform does not say).
    pub freq_mhz: Vec<u64>,
}

/// CPU utilisation through sysinfo.
///
/// Utilisation is the busy time between two refreshes, so the first [`CpuLoad::sample`] after
/// [`CpuLoad::new`] waits out sysinfo's minimum interval (about 200 ms) once.
pub struct CpuLoad {
    sys: System,
    last: Instant,
}

impl std::fmt::Debug for CpuLoad {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("CpuLoad").field("cpus", &self.sys.cpus().len()).finish()
    }
}

impl Default for CpuLoad {
    fn default() -> Self {
        CpuLoad::new()
    }
}

impl CpuLoad {
    /// Start measuring.
    pub fn new() -> CpuLoad {
        let kind = CpuRefreshKind::nothing().with_cpu_usage().with_frequency();
        let sys = System::new_with_specifics(RefreshKind::nothing().with_cpu(kind));
        CpuLoad {
            sys,
            last: Instant::now(),
        }
    }

    /// Number of logical cores.
    pub fn cores(&self) -> usize {
        self.sys.cpus().len()
    }

    /// Utilisation since the previous sample (or since [`CpuLoad::new`]) and frequencies now.
    pub fn sample(&mut self) -> CpuSnapshot {
        // Closer refreshes than this give sysinfo too few ticks to divide by: 0 % or 100 %.
        let wait = sysinfo::MINIMUM_CPU_UPDATE_INTERVAL.saturating_sub(self.last.elapsed());
        if wait > Duration::ZERO {
            std::thread::sleep(wait);
        }
        self.sys
            .refresh_cpu_specifics(CpuRefreshKind::nothing().with_cpu_usage().with_frequency());
        self.last = Instant::now();
        let frac = |pct: f32| (f64::from(pct) / 100.0).clamp(0.0, 1.0);
        CpuSnapshot {
            global: frac(self.sys.global_cpu_usage()),
            per_core: self.sys.cpus().iter().map(|c| frac(c.cpu_usage())).collect(),
            freq_mhz: self.sys.cpus().iter().map(|c| c.frequency()).collect(),
        }
    }
}
