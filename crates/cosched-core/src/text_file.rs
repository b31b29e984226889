//! Reading an input file named by a user (profile, workload, trace) with a bound: a mistyped
//! path to `/dev/urandom` would otherwise be read forever, a FIFO would block at open, and a
//! huge file would be read whole into memory.

use crate::error::{one_line, ConfigError, FileProblem};
use std::path::Path;

/// Largest profile or workload file read (16 MiB, thousands of times the largest shipped one).
pub(crate) const MAX_CONFIG_BYTES: u64 = 16 << 20;

/// Why [`read_text`] gave no text.
#[derive(Debug)]
pub(crate) enum ReadRefusal {
    /// The file system said no (missing, permissions, not UTF-8...).
    Io(std::io::Error),
    /// Refused unread, or read no further than the limit.
    Refused(FileProblem),
}

impl ReadRefusal {
    /// As the error of the file at `path`: a trace's own variant when `trace`.
    pub(crate) fn into_config_error(self, path: &Path, trace: bool) -> ConfigError {
        match self {
            ReadRefusal::Io(e) => ConfigError::io(path, e),
            ReadRefusal::Refused(problem) => {
                let file = one_line(&path.display().to_string());
                if trace {
                    ConfigError::Trace { file, problem }
                } else {
                    ConfigError::File { file, problem }
                }
            }
        }
    }
}

/// The text of `path` when it is a regular file of at most `limit` bytes.
pub(crate) fn read_text(path: &Path, limit: u64) -> Result<String, ReadRefusal> {
    use std::io::Read as _;
    // Look before opening: opening a FIFO blocks until a writer comes.
    let meta = std::fs::metadata(path).map_err(ReadRefusal::Io)?;
    if !meta.is_file() {
        return Err(ReadRefusal::Refused(FileProblem::NotRegularFile {
            kind: file_kind(&meta.file_type()),
        }));
    }
    let too_large = |size| ReadRefusal::Refused(FileProblem::TooLarge { size, limit });
    if meta.len() > limit {
        return Err(too_large(meta.len()));
    }
    // The file may grow (or be swapped) after the look: never read more than the limit.
    let f = std::fs::File::open(path).map_err(ReadRefusal::Io)?;
    let mut text = String::new();
    f.take(limit + 1).read_to_string(&mut text).map_err(ReadRefusal::Io)?;
    if text.len() as u64 > limit {
        return Err(too_large(text.len() as u64));
    }
    Ok(text)
}

/// What a file that is not a regular one is, in words.
fn file_kind(t: &std::fs::FileType) -> &'static str {
    #[cfg(unix)]
    {
        use std::os::unix::fs::FileTypeExt as _;
        if t.is_char_device() {
            return "a character device";
        }
        if t.is_block_device() {
            return "a block device";
        }
        if t.is_fifo() {
            return "a FIFO";
        }
        if t.is_socket() {
            return "a socket";
        }
    }
    if t.is_dir() {
        "a folder"
    } else {
        "not a regular file"
    }
}
