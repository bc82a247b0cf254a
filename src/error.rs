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
    Timeline {
        context: String,
        #[source]
        source: crate::timeline::TimelineError,
    },
    #[error("{}: {reason}", path.display())]
    Output { path: PathBuf, reason: String },
    /// An explanation that cannot be given from a run's outputs: the delivery is not there, or
    /// an input file no longer matches the manifest.
    #[error("{}: {reason}", path.display())]
    Explain { path: PathBuf, reason: String },
    /// A broken invariant of ours. It says so in one line, naming what we were doing; the
    /// dependency's own text (a query plan, say) is kept in `detail` for `--verbose`, never shown.
    #[error("bug in leakscope: {what}; please report it with the command that showed it")]
    Internal { what: String, detail: String },
}

impl Error {
    pub fn io(path: &Path, source: std::io::Error) -> Error {
        Error::Io {
            path: path.to_path_buf(),
            source,
        }
    }

    /// A polars error while `context`: our bug, since every input was checked before polars
    /// saw it; an I/O failure underneath (a full disk) is reported as one, at `path`.
    pub fn polars(context: impl Into<String>, source: polars::error::PolarsError) -> Error {
        Error::polars_at(None, context, source)
    }

    /// [`Error::polars`] while writing `path`.
    pub fn polars_at(
        path: Option<&Path>,
        context: impl Into<String>,
        source: polars::error::PolarsError,
    ) -> Error {
        use polars::error::PolarsError;
        let context = context.into();
        match (&source, path) {
            (PolarsError::IO { error, .. }, Some(path)) => Error::Output {
                path: path.to_path_buf(),
                reason: error.to_string(),
            },
            (PolarsError::IO { error, .. }, None) => Error::Output {
                path: PathBuf::from(&context),
                reason: error.to_string(),
            },
            _ => match (os_error_within(&source.to_string()), path) {
                // The Parquet writer reports a failed write as a compute error naming the OS error.
                (Some(io), Some(path)) => Error::Output {
                    path: path.to_path_buf(),
                    reason: io.to_string(),
                },
                _ => Error::internal(
                    format!("{context} failed ({})", polars_kind(&source)),
                    source.to_string(),
                ),
            },
        }
    }

    pub fn internal(what: impl Into<String>, detail: impl Into<String>) -> Error {
        Error::Internal {
            what: what.into(),
            detail: detail.into(),
        }
    }

    /// A timeline error: the limits stay as they are, a broken invariant becomes [`Error::Internal`].
    pub fn timeline(context: impl Into<String>, source: crate::timeline::TimelineError) -> Error {
        let context = context.into();
        if source.is_bug() {
            return Error::internal(format!("{context}: {source}"), String::new());
        }
        Error::Timeline { context, source }
    }

    /// What `--verbose` adds below the one line: a dependency's text behind an internal error.
    pub fn detail(&self) -> Option<&str> {
        match self {
            Error::Internal { detail, .. } if !detail.is_empty() => Some(detail),
            _ => None,
        }
    }

    /// Writing `path` failed for `reason` (an I/O or encoding error, or a refusal of ours).
    pub fn output(path: &Path, reason: impl ToString) -> Error {
        Error::Output {
            path: path.to_path_buf(),
            reason: reason.to_string(),
        }
    }
}

/// A dependency's message folded onto one line: runs of white space, line breaks included,
/// become one space (the regex and TOML crates draw their input over several lines).
pub fn one_line(text: &str) -> String {
    text.split_whitespace().collect::<Vec<_>>().join(" ")
}

/// The OS error a dependency's message names as `(os error N)`, if any.
fn os_error_within(text: &str) -> Option<std::io::Error> {
    let (_, rest) = text.rsplit_once("(os error ")?;
    let code: i32 = rest.split(')').next()?.parse().ok()?;
    Some(std::io::Error::from_raw_os_error(code))
}

/// The name of a polars error's kind (`ComputeError`, `SchemaMismatch`, ...), without its text.
fn polars_kind(e: &polars::error::PolarsError) -> String {
    let debug = format!("{e:?}");
    debug
        .split(|c: char| !c.is_ascii_alphanumeric())
        .next()
        .unwrap_or_default()
        .to_string()
}

#[cfg(test)]
mod tests {
    use super::*;
    use polars::error::PolarsError;

    #[test]
    fn a_polars_failure_is_one_line_that_calls_it_ours() {
        let plan = "'union'/'concat' inputs should all have the same schema\n".repeat(300);
        let e = Error::polars(
            "building the verdict table",
            PolarsError::SchemaMismatch(plan.into()),
        );
        assert_eq!(
            e.to_string(),
            "bug in leakscope: building the verdict table failed (SchemaMismatch); please report it with the command that showed it"
        );
        assert!(e.detail().is_some_and(|d| d.contains("'union'/'concat'")));
    }

    #[test]
    fn a_full_disk_under_polars_is_an_output_error_at_the_file() {
        let io = std::io::Error::from_raw_os_error(28);
        let e = Error::polars_at(
            Some(Path::new("out/verdicts.parquet")),
            "writing a row group",
            PolarsError::from(io),
        );
        let text = e.to_string();
        assert!(
            text.starts_with("out/verdicts.parquet: No space left on device"),
            "{text}"
        );
        assert!(e.detail().is_none());
    }
}
