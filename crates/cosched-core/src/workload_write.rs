//! Writing a workload back to the TOML format it is read from, so that generated scenarios
//! are ordinary files anyone can read, edit and pass to `--workload`.

use crate::error::WriteError;
use crate::workload::{Arrival, Slo, Workload};
use std::fmt::Write as _;
use std::path::{Path, PathBuf};

impl Workload {
    /// The workload as a TOML file; trace streams name their CSV by its file name alone, to
    /// be found beside the TOML file (see [`Workload::write_to_dir`]).
    pub fn to_toml(&self) -> String {
        let mut s = String::new();
        let _ = writeln!(s, "name = {}", quote(&self.name));
        if !self.description.is_empty() {
            let _ = writeln!(s, "description = {}", quote(&self.description));
        }
        let _ = writeln!(s, "duration_s = {}", float(self.duration_s));
        if let Some(load) = self.load {
            let _ = writeln!(s, "load = {}", float(load));
        }
        for st in &self.streams {
            let _ = writeln!(s, "\n[[stream]]\nname = {}", quote(&st.name));
            if let Some(m) = &st.model {
                let _ = writeln!(s, "model = {}", quote(m));
            }
            match &st.arrival {
                Arrival::Poisson { rate_hz } => {
                    let _ = writeln!(s, "arrival = \"poisson\"\nrate_hz = {}", float(*rate_hz));
                }
                Arrival::Periodic { rate_hz } => {
                    let _ = writeln!(s, "arrival = \"periodic\"\nrate_hz = {}", float(*rate_hz));
                }
                Arrival::Mmpp { rates_hz, dwell_s } => {
                    let _ = writeln!(
                        s,
                        "arrival = \"mmpp\"\nrates_hz = [{}, {}]\ndwell_s = [{}, {}]",
                        float(rates_hz[0]),
                        float(rates_hz[1]),
                        float(dwell_s[0]),
                        float(dwell_s[1])
                    );
                }
                Arrival::Closed { concurrency } => {
                    let _ = writeln!(s, "arrival = \"closed\"\nconcurrency = {concurrency}");
                }
                Arrival::Trace { file, .. } => {
                    let _ = writeln!(s, "arrival = \"trace\"\nfile = {}", quote(&trace_file_name(file)));
                }
            }
            let _ = match st.slo {
                Slo::Ms(ms) => writeln!(s, "slo_ms = {}", float(ms)),
                Slo::Factor(x) => writeln!(s, "slo_factor = {}", float(x)),
            };
        }
        s
    }

    /// Write the workload to `dir/<name>.toml` and each trace to its CSV beside it; returns the
    /// TOML file's path. [`Workload::from_file`] reads it back equal, but for trace streams'
    /// `file`, which then names the written CSV.
    pub fn write_to_dir(&self, dir: &Path) -> Result<PathBuf, WriteError> {
        std::fs::create_dir_all(dir).map_err(|e| WriteError::new(dir, e))?;
        for st in &self.streams {
            if let Arrival::Trace { file, events } = &st.arrival {
                let path = dir.join(trace_file_name(file));
                let mut csv = String::with_capacity(events.len() * 24 + 20);
                csv.push_str("timestamp_ms,model\n");
                for (t, m) in events.iter() {
                    // `Display` of f64 is the shortest text that parses back to the same value.
                    let _ = writeln!(csv, "{t},{m}");
                }
                std::fs::write(&path, csv).map_err(|e| WriteError::new(&path, e))?;
            }
        }
        let path = dir.join(format!("{}.toml", file_stem(&self.name)));
        std::fs::write(&path, self.to_toml()).map_err(|e| WriteError::new(&path, e))?;
        Ok(path)
    }
}

/// A trace's CSV file name, kept inside the folder it is written to whatever path it had.
fn trace_file_name(file: &Path) -> String {
    file_stem(
        &file
            .file_name()
            .map_or_else(|| "trace.csv".into(), |n| n.to_string_lossy()),
    )
}

/// A file name made of the name's safe characters, so a workload name cannot escape the folder.
fn file_stem(name: &str) -> String {
    let s: String = name
        .chars()
        .map(|c| {
            if c.is_ascii_alphanumeric() || "._-".contains(c) {
                c
            } else {
                '_'
            }
        })
        .collect();
    if s.is_empty() || s.chars().all(|c| c == '.') {
        "workload".to_string()
    } else {
        s
    }
}

fn quote(s: &str) -> String {
    toml::Value::String(s.to_string()).to_string()
}

/// `Debug` of f64 always has a `.` or an exponent (a TOML float, never an integer) and is the
/// shortest text that reads back to the same value.
fn float(x: f64) -> String {
    format!("{x:?}")
}
