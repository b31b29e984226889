//! Small helpers to read sysfs files and list directories under a (possibly fake) root.

use std::fs;
use std::path::{Path, PathBuf};

use crate::TelemetryError;

/// Resolve an absolute sysfs path such as `sys/class/powercap` against `root`.
pub(crate) fn under(root: &Path, rel: &str) -> PathBuf {
    root.join(rel.trim_start_matches('/'))
}

/// The contents of a sysfs file without surrounding white space.
pub(crate) fn read_trimmed(path: &Path) -> Result<String, TelemetryError> {
    fs::read_to_string(path)
        .map(|s| s.trim().to_string())
        .map_err(|source| TelemetryError::Io {
            path: path.to_path_buf(),
            source,
        })
}

fn parse_error(path: &Path, expected: &'static str, found: &str) -> TelemetryError {
    // Garbage can be long (a binary file, a misplaced log): keep the error message short.
    let found: String = found.chars().take(40).collect();
    TelemetryError::Parse {
        path: path.to_path_buf(),
        expected,
        found,
    }
}

/// A file holding one signed integer.
pub(crate) fn read_i64(path: &Path, expected: &'static str) -> Result<i64, TelemetryError> {
    let text = read_trimmed(path)?;
    text.parse::<i64>().map_err(|_| parse_error(path, expected, &text))
}

/// A file holding one unsigned integer.
pub(crate) fn read_u64(path: &Path, expected: &'static str) -> Result<u64, TelemetryError> {
    let text = read_trimmed(path)?;
    text.parse::<u64>().map_err(|_| parse_error(path, expected, &text))
}

/// A file holding white-space separated unsigned integers (e.g. `available_frequencies`).
pub(crate) fn read_u64_list(path: &Path, expected: &'static str) -> Result<Vec<u64>, TelemetryError> {
    let text = read_trimmed(path)?;
    text.split_whitespace()
        .map(|w| w.parse::<u64>().map_err(|_| parse_error(path, expected, &text)))
        .collect()
}

/// Entries of `dir` whose file name starts with `prefix`, sorted so that `cpu2` comes before
/// `cpu10`. A missing or unreadable directory gives an empty list: absent hardware is normal.
pub(crate) fn entries_with_prefix(dir: &Path, prefix: &str) -> Vec<(String, PathBuf)> {
    let Ok(rd) = fs::read_dir(dir) else {
        return Vec::new();
    };
    let mut out: Vec<(String, PathBuf)> = rd
        .filter_map(Result::ok)
        .filter_map(|e| {
            let name = e.file_name().into_string().ok()?;
            name.starts_with(prefix).then(|| (name, e.path()))
        })
        .collect();
    out.sort_by_key(|a| natural_key(&a.0));
    out
}

/// Sort key that orders the trailing number numerically (`in2` < `in10`).
fn natural_key(name: &str) -> (String, u64) {
    let digits = name.len() - name.trim_end_matches(|c: char| c.is_ascii_digit()).len();
    let (stem, num) = name.split_at(name.len() - digits);
    (stem.to_string(), num.parse().unwrap_or(0))
}

/// The number after `prefix` and before `suffix` in `name`, e.g. `in3_label` -> 3.
pub(crate) fn index_between(name: &str, prefix: &str, suffix: &str) -> Option<u32> {
    name.strip_prefix(prefix)?.strip_suffix(suffix)?.parse().ok()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn index_between_parses_channel_numbers() {
        assert_eq!(index_between("in3_label", "in", "_label"), Some(3));
        assert_eq!(index_between("in_power12_input", "in_power", "_input"), Some(12));
        assert_eq!(index_between("in_label", "in", "_label"), None);
        assert_eq!(index_between("curr1_input", "in", "_input"), None);
    }

    #[test]
    fn natural_order_puts_two_before_ten() {
        let mut v = vec!["cpu10", "cpu2", "cpu1"];
        v.sort_by_key(|s| natural_key(s));
        assert_eq!(v, ["cpu1", "cpu2", "cpu10"]);
    }

    #[test]
    fn under_joins_absolute_paths() {
        assert_eq!(
            under(Path::new("/tmp/x"), "/sys/class"),
            PathBuf::from("/tmp/x/sys/class")
        );
        assert_eq!(under(Path::new("/"), "sys/class"), PathBuf::from("/sys/class"));
    }
}
