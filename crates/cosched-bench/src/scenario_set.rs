//! `--scenarios`: a set of workloads to evaluate on, from a folder of files or generated from
//! a seed, so that an evaluation can run on workloads nobody picked by hand.

use crate::inputs::BadInput;
use cosched_core::{scenario, DeviceProfile, Workload};
use std::path::PathBuf;

/// Most scenarios `random:N:SEED` may ask for (far beyond any practical evaluation).
const MAX_RANDOM: u64 = 100_000;

/// A parsed `--scenarios` value.
pub enum ScenarioSet {
    /// Every `*.toml` of a folder, read once, sorted by file name: `(file, workload)`.
    Files(Vec<(String, Workload)>),
    /// Scenarios `0..count` of `seed`, generated for each device.
    Random { count: u64, seed: u64 },
}

impl ScenarioSet {
    /// Parse `DIR` or `random:N:SEED`; every problem is one line naming the value.
    pub fn parse(spec: &str) -> Result<ScenarioSet, BadInput> {
        if let Some(rest) = spec.strip_prefix("random:") {
            let bad = |why: &str| BadInput(format!("--scenarios {spec}: {why} (expected random:N:SEED)"));
            let (n, seed) = rest.split_once(':').ok_or_else(|| bad("no seed"))?;
            let count: u64 = n.parse().map_err(|_| bad("N is not a whole number"))?;
            if count == 0 || count > MAX_RANDOM {
                return Err(bad(&format!("N must be from 1 to {MAX_RANDOM}")));
            }
            let seed: u64 = seed.parse().map_err(|_| bad("SEED is not a whole number"))?;
            return Ok(ScenarioSet::Random { count, seed });
        }
        let dir = PathBuf::from(spec);
        if !dir.is_dir() {
            return Err(BadInput(format!(
                "--scenarios {spec}: not a folder (give a folder of workload files or random:N:SEED)"
            )));
        }
        let entries = std::fs::read_dir(&dir).map_err(|e| BadInput(format!("--scenarios {spec}: {e}")))?;
        let mut files: Vec<PathBuf> = entries
            .filter_map(|e| e.ok().map(|e| e.path()))
            .filter(|p| p.is_file() && p.extension().is_some_and(|x| x == "toml"))
            .collect();
        if files.is_empty() {
            return Err(BadInput(format!("--scenarios {spec}: no *.toml file in the folder")));
        }
        files.sort();
        let set = files
            .into_iter()
            .map(|p| Ok((p.display().to_string(), Workload::from_file(&p)?)))
            .collect::<Result<Vec<_>, cosched_core::ConfigError>>()?;
        Ok(ScenarioSet::Files(set))
    }

    /// The set's workloads for `device`: `(name for errors, workload)`.
    pub fn workloads(&self, device: &DeviceProfile) -> Vec<(String, Workload)> {
        match self {
            ScenarioSet::Files(set) => set.clone(),
            ScenarioSet::Random { count, seed } => scenario::generate_set(device, *seed, *count)
                .into_iter()
                .map(|w| (w.name.clone(), w))
                .collect(),
        }
    }
}
