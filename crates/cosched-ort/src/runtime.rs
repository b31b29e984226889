//! Finding and loading libonnxruntime, once per process.
//!
//! Lookup order:
//! 1. an explicit path ([`ExecutorConfig::ort_library`](crate::ExecutorConfig::ort_library)),
//! 2. the `ORT_DYLIB_PATH` environment variable,
//! 3. `third_party/onnxruntime/libonnxruntime.so*` under the current folder or any of its
//!    ancestors (cargo runs tests from the crate's folder, below the repository root),
//! 4. the same under each ancestor folder of the running executable (so `target/debug/...`
//!    binaries find the copy `scripts/fetch-onnxruntime.sh` put in the repository, even when
//!    started from elsewhere; a `CARGO_TARGET_DIR` outside the repository is covered by 3).
//!
//! Loading goes through `ort::init_from`, so a missing or broken library is an
//! [`ExecError::Library`], never a panic.

use crate::error::ExecError;
use std::path::{Path, PathBuf};
use std::sync::Mutex;

/// Folder, relative to a search root, where `scripts/fetch-onnxruntime.sh` puts the library.
pub const THIRD_PARTY_DIR: &str = "third_party/onnxruntime";

static ENV: Mutex<Option<(ort::environment::Environment, PathBuf)>> = Mutex::new(None);

/// Where the library would be loaded from, and every place that was looked at.
#[derive(Debug, Clone, PartialEq)]
pub struct Lookup {
    /// The library found, if any.
    pub found: Option<PathBuf>,
    /// Places looked at, in order.
    pub tried: Vec<String>,
}

fn lib_in(dir: &Path) -> Option<PathBuf> {
    let dir = dir.join(THIRD_PARTY_DIR);
    let plain = dir.join(format!(
        "{}onnxruntime{}",
        std::env::consts::DLL_PREFIX,
        std::env::consts::DLL_SUFFIX
    ));
    if plain.is_file() {
        return Some(plain);
    }
    // libonnxruntime.so.1.31.1 and the like, newest name last.
    let prefix = format!(
        "{}onnxruntime{}",
        std::env::consts::DLL_PREFIX,
        std::env::consts::DLL_SUFFIX
    );
    let mut found: Vec<PathBuf> = std::fs::read_dir(&dir)
        .ok()?
        .filter_map(|e| e.ok().map(|e| e.path()))
        .filter(|p| {
            p.is_file()
                && p.file_name()
                    .and_then(|n| n.to_str())
                    .is_some_and(|n| n.starts_with(&prefix) && !n.ends_with(".tmp"))
        })
        .collect();
    found.sort();
    found.pop()
}

/// Look the library up: `explicit`, else `env_value` (the value of `ORT_DYLIB_PATH`), else
/// `third_party/onnxruntime/` under `cwd` or its ancestors, else under each ancestor of `exe`.
///
/// An explicit path or `ORT_DYLIB_PATH` that does not exist is not skipped: it is reported as
/// not found, so that a typo is not hidden by another copy.
pub fn lookup_in(explicit: Option<&Path>, env_value: Option<&str>, cwd: Option<&Path>, exe: Option<&Path>) -> Lookup {
    let mut tried = Vec::new();
    for (what, p) in [
        ("explicit path", explicit.map(Path::to_path_buf)),
        ("ORT_DYLIB_PATH", env_value.filter(|s| !s.is_empty()).map(PathBuf::from)),
    ] {
        if let Some(p) = p {
            tried.push(format!("{what} {}", p.display()));
            return Lookup {
                found: p.is_file().then_some(p),
                tried,
            };
        }
    }
    if let Some(cwd) = cwd {
        for dir in cwd.ancestors() {
            tried.push(format!("{}", dir.join(THIRD_PARTY_DIR).display()));
            if let Some(p) = lib_in(dir) {
                return Lookup { found: Some(p), tried };
            }
        }
    }
    if let Some(exe) = exe {
        for dir in exe.ancestors().skip(1) {
            tried.push(format!("{}", dir.join(THIRD_PARTY_DIR).display()));
            if let Some(p) = lib_in(dir) {
                return Lookup { found: Some(p), tried };
            }
        }
    }
    Lookup { found: None, tried }
}

/// [`lookup_in`] with this process's `ORT_DYLIB_PATH`, current folder and executable.
pub fn lookup(explicit: Option<&Path>) -> Lookup {
    let env_value = std::env::var("ORT_DYLIB_PATH").ok();
    let cwd = std::env::current_dir().ok();
    let exe = std::env::current_exe().ok();
    lookup_in(explicit, env_value.as_deref(), cwd.as_deref(), exe.as_deref())
}

fn library_error(message: String) -> ExecError {
    ExecError::Library {
        message,
        min_minor: ort::MINOR_VERSION,
    }
}

/// The process-wide ONNX Runtime environment, loading the library on first use (see the module
/// docs for the lookup order). Later calls return the same environment, whatever `explicit` says.
pub fn environment(explicit: Option<&Path>) -> Result<ort::environment::Environment, ExecError> {
    let mut guard = ENV.lock().unwrap_or_else(|e| e.into_inner());
    if let Some((env, path)) = guard.as_ref() {
        if let Some(p) = explicit.filter(|p| *p != path.as_path()) {
            tracing::warn!(
                "ONNX Runtime is already loaded from {}; ignoring {}",
                path.display(),
                p.display()
            );
        }
        return Ok(env.clone());
    }
    let found = lookup(explicit);
    let Some(path) = found.found else {
        return Err(library_error(format!(
            "libonnxruntime not found (looked at: {})",
            found.tried.join("; ")
        )));
    };
    let builder = ort::init_from(&path).map_err(|e| library_error(e.to_string()))?;
    let env = builder
        .with_name("cosched")
        .build()
        .map_err(|e| ExecError::Environment(e.to_string()))?;
    tracing::info!("ONNX Runtime loaded from {}", path.display());
    *guard = Some((env.clone(), path));
    Ok(env)
}

/// Path of the loaded library, if it is loaded.
pub fn loaded_library() -> Option<PathBuf> {
    ENV.lock()
        .unwrap_or_else(|e| e.into_inner())
        .as_ref()
        .map(|(_, p)| p.clone())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn explicit_path_wins_and_is_not_skipped_when_missing() {
        let l = lookup_in(
            Some(Path::new("/nonexistent/libonnxruntime.so")),
            Some("/also/missing"),
            None,
            None,
        );
        assert_eq!(l.found, None);
        assert_eq!(l.tried.len(), 1);
        assert!(l.tried[0].contains("/nonexistent/libonnxruntime.so"));
    }

    #[test]
    fn env_var_then_third_party_under_ancestors() {
        let dir = std::env::temp_dir().join(format!("cosched-ort-lookup-{}", std::process::id()));
        let lib_dir = dir.join(THIRD_PARTY_DIR);
        std::fs::create_dir_all(&lib_dir).unwrap();
        std::fs::write(lib_dir.join("libonnxruntime.so.1.31.1"), b"").unwrap();
        let exe = dir.join("target/debug/deps/some-test");
        let l = lookup_in(None, Some(""), Some(Path::new("/nonexistent-cwd")), Some(&exe));
        assert_eq!(l.found, Some(lib_dir.join("libonnxruntime.so.1.31.1")));
        let l = lookup_in(None, Some("/missing/lib.so"), None, Some(&exe));
        assert_eq!(l.found, None);
        // Tests run from a crate folder below the repository root.
        let l = lookup_in(None, None, Some(&dir.join("crates/some-crate")), None);
        assert_eq!(l.found, Some(lib_dir.join("libonnxruntime.so.1.31.1")));
        std::fs::remove_dir_all(&dir).unwrap();
    }
}
