//! Counting, in a started service's log, the write transactions that the
//! storage layer ran again after a conflict with a concurrent one, which
//! only PostgreSQL's SERIALIZABLE transactions have.

use std::io::{Read, Seek, SeekFrom};
use std::path::{Path, PathBuf};

/// The debug message of `storage::Database::write` for each rerun.
const RERUN_MESSAGE: &str = "write transaction conflicted with a concurrent one; running it again";
/// Its warning when the reruns are used up and the request fails.
const GAVE_UP_MESSAGE: &str = "write transaction still conflicts with concurrent transactions; giving up";

/// Reruns counted in part of a log.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct Reruns {
    /// Transactions run again after a conflict.
    pub reruns: u64,
    /// Transactions that still conflicted after the last rerun.
    pub gave_up: u64,
}

/// Counts the rerun and give-up lines of `text`.
pub fn count_reruns(text: &str) -> Reruns {
    let mut counted = Reruns::default();
    for line in text.lines() {
        if line.contains(RERUN_MESSAGE) {
            counted.reruns += 1;
        } else if line.contains(GAVE_UP_MESSAGE) {
            counted.gave_up += 1;
        }
    }
    counted
}

/// A service's log file and the length it had when counting started.
#[derive(Debug, Clone)]
pub struct LogMark {
    pub service: &'static str,
    path: PathBuf,
    start: u64,
}

impl LogMark {
    /// Marks the current end of `path`.
    pub fn new(service: &'static str, path: &Path) -> Self {
        let start = std::fs::metadata(path).map_or(0, |metadata| metadata.len());
        LogMark {
            service,
            path: path.to_path_buf(),
            start,
        }
    }

    /// Counts the reruns logged since the mark.
    pub fn reruns_since(&self) -> std::io::Result<Reruns> {
        let mut file = std::fs::File::open(&self.path)?;
        file.seek(SeekFrom::Start(self.start))?;
        let mut bytes = Vec::new();
        file.read_to_end(&mut bytes)?;
        Ok(count_reruns(&String::from_utf8_lossy(&bytes)))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reruns_and_give_ups_counted() {
        let text = format!(
            "2026-01-05T10:00:00Z DEBUG storage::database: {RERUN_MESSAGE} retry=1 delay_ms=3 code=\"40001\"\n\
             2026-01-05T10:00:00Z  INFO withdrawal_authorization::service::submit: withdrawal submitted\n\
             2026-01-05T10:00:01Z DEBUG storage::database: {RERUN_MESSAGE} retry=2 delay_ms=5 code=\"40001\"\n\
             2026-01-05T10:00:02Z  WARN storage::database: {GAVE_UP_MESSAGE} retries=20 code=\"40001\"\n"
        );
        assert_eq!(
            count_reruns(&text),
            Reruns {
                reruns: 2,
                gave_up: 1
            }
        );
    }

    #[test]
    fn mark_counts_only_later_lines() {
        let directory = tempfile::tempdir().unwrap();
        let path = directory.path().join("service.log");
        std::fs::write(&path, format!("{RERUN_MESSAGE}\n")).unwrap();
        let mark = LogMark::new("service", &path);
        let mut text = std::fs::read_to_string(&path).unwrap();
        text.push_str(&format!("{RERUN_MESSAGE}\n{RERUN_MESSAGE}\n"));
        std::fs::write(&path, text).unwrap();
        assert_eq!(mark.reruns_since().unwrap().reruns, 2);
    }
}
