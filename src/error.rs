//! The library's error type: every variant names the file (and where useful the row and column) at fault.

use std::path::{Path, PathBuf};

pub type Result<T, E = Error> = std::result::Result<T, E>;

#[derive(Debug, thiserror::Error)]
pub enum Error {
    #[error("{}: {source}", path.display())]
    Io {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
    #[error("{}: {reason}", path.display())]
    Settings { path: PathBuf, reason: String },
    #[error("mapping {}: {reason}", path.display())]
    Mapping { path: PathBuf, reason: String },
    #[error("{}: not a dataset folder: {reason}", path.display())]
    Dataset { path: PathBuf, reason: String },
    #[error("{}: cannot be read: {reason}", path.display())]
    UnreadableFile { path: PathBuf, reason: String },
    #[error("{context}: {source}")]
    Polars {
        context: String,
        #[source]
        source: polars::error::PolarsError,
    },
    #[error("{context}: {source}")]
    Timeline {
        context: String,
        #[source]
        source: crate::timeline::TimelineError,
    },
    #[error("{}: {reason}", path.display())]
    Output { path: PathBuf, reason: String },
    #[error("row accounting does not balance for {what}: {detail}")]
    Accounting { what: String, detail: String },
}

impl Error {
    pub fn io(path: &Path, source: std::io::Error) -> Error {
        Error::Io {
            path: path.to_path_buf(),
            source,
        }
    }

    pub fn polars(context: impl Into<String>, source: polars::error::PolarsError) -> Error {
        Error::Polars {
            context: context.into(),
            source,
        }
    }

    pub fn timeline(context: impl Into<String>, source: crate::timeline::TimelineError) -> Error {
        Error::Timeline {
            context: context.into(),
            source,
        }
    }

    pub fn output(path: &Path, reason: impl ToString) -> Error {
        Error::Output {
            path: path.to_path_buf(),
            reason: reason.to_string(),
        }
    }
}
