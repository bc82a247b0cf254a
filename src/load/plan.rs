//! Which files a dataset holds, in the order they are read and numbered, and what each is read
//! as: planned from the folder itself or from a listing made elsewhere (a cluster's storage).

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use super::read::{self, Compression, Format};
use super::Config;
use crate::error::{Error, Result};
use crate::mapping::Mapping;
use crate::schema::Kind;
use crate::settings::Settings;

/// One file the dataset holds in a contract or declared format: what it is and where it is read from.
#[derive(Debug, Clone)]
pub(crate) struct Found {
    pub(crate) kind: Kind,
    pub(crate) path: PathBuf,
    pub(crate) rel: String,
    pub(crate) format: Format,
    pub(crate) compression: Compression,
}

/// One entry of a dataset's listing, relative to the dataset with `/` separators.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Listed {
    pub rel: String,
    pub dir: bool,
}

/// The files to read, numbered in the order they are read, and the names left unread.
#[derive(Debug)]
pub struct Plan {
    pub(crate) found: Vec<Found>,
    pub skipped: Vec<String>,
}

impl Plan {
    /// The relative paths of the files to read, by their number.
    pub fn files(&self) -> impl Iterator<Item = &str> + '_ {
        self.found.iter().map(|f| f.rel.as_str())
    }

    /// Plans from a listing made elsewhere (a cluster's storage), as [`discover`] does from the
    /// folder itself: the same files, in the same order.
    pub fn of_listing(config: &Config, listing: &[Listed]) -> Result<Plan> {
        let mut kinds: BTreeMap<Kind, Vec<PathBuf>> = BTreeMap::new();
        for entry in listing {
            let (top, rest) = entry.rel.split_once('/').unwrap_or((&entry.rel, ""));
            let Some(kind) = Kind::from_name(top) else {
                continue;
            };
            let files = kinds.entry(kind).or_default();
            if !entry.dir && !rest.is_empty() {
                files.push(config.root.join(&entry.rel));
            }
        }
        plan(&config.root, &config.mapping, &config.settings, |kind| {
            Ok(kinds.remove(&kind))
        })
    }

    /// The file at `rel` as a plan reads it, but read from `path` (a copy of its bytes); `None`
    /// where a plan would not read it.
    pub(crate) fn file(config: &Config, rel: &str, path: &Path) -> Option<Found> {
        let kind = Kind::from_name(rel.split('/').next()?)?;
        let mut f = classify(&config.root, &config.mapping, kind, config.root.join(rel)).ok()?;
        f.path = path.to_path_buf();
        Some(f)
    }

    /// The record every file of the plan starts from, in plan order.
    pub(crate) fn found(&self) -> &[Found] {
        &self.found
    }
}

/// Plans from the dataset's folder itself.
pub(super) fn discover(config: &Config) -> Result<Plan> {
    plan(&config.root, &config.mapping, &config.settings, |kind| {
        let dir = config.root.join(kind.name());
        if !dir.is_dir() {
            return Ok(None);
        }
        let mut paths = Vec::new();
        walk(&dir, &mut paths)?;
        Ok(Some(paths))
    })
}

/// The files of each kind folder that `files_of` gives (`None`: no such folder), sorted by path
/// and numbered; files the contract does not cover are returned apart. A kind the mapping
/// declares a log format for reads every file of its folder in that format, except hidden ones.
/// The cache log may be absent where its content is inferred.
fn plan(
    root: &Path,
    mapping: &Mapping,
    settings: &Settings,
    mut files_of: impl FnMut(Kind) -> Result<Option<Vec<PathBuf>>>,
) -> Result<Plan> {
    let mut found = Vec::new();
    let mut skipped = Vec::new();
    for kind in Kind::ALL {
        let Some(mut paths) = files_of(kind)? else {
            let inferred = kind == Kind::Cache && settings.infer_cache;
            if kind.required() && !inferred {
                return Err(Error::Dataset {
                    path: root.to_path_buf(),
                    reason: match kind {
                        Kind::Cache => "the required folder cache/ is missing (without a cache log, set infer_cache = true in dataset.toml to infer it from the misses)".to_string(),
                        _ => format!("the required folder {}/ is missing", kind.name()),
                    },
                });
            }
            continue;
        };
        paths.sort();
        for path in paths {
            match classify(root, mapping, kind, path) {
                Ok(f) => found.push(f),
                Err(rel) => skipped.push(rel),
            }
        }
    }
    Ok(Plan { found, skipped })
}

/// What the file at `path` in `kind`'s folder is read as; its relative path if nothing.
fn classify(
    root: &Path,
    mapping: &Mapping,
    kind: Kind,
    path: PathBuf,
) -> std::result::Result<Found, String> {
    let rel = relative(root, &path);
    let hidden = path
        .file_name()
        .is_some_and(|n| n.to_string_lossy().starts_with('.'));
    let detected = match mapping.format_of(kind).map(|spec| spec.format) {
        Some(_) if hidden => None,
        Some(log) => Some((Format::Log(log), read::log_compression(&path))),
        None => read::detect(&path),
    };
    match detected {
        Some((format, compression)) => Ok(Found {
            kind,
            path,
            rel,
            format,
            compression,
        }),
        None => Err(rel),
    }
}

fn walk(dir: &Path, out: &mut Vec<PathBuf>) -> Result<()> {
    let entries = std::fs::read_dir(dir).map_err(|e| Error::io(dir, e))?;
    for entry in entries {
        let entry = entry.map_err(|e| Error::io(dir, e))?;
        let path = entry.path();
        if path.is_dir() {
            walk(&path, out)?;
        } else {
            out.push(path);
        }
    }
    Ok(())
}

fn relative(root: &Path, path: &Path) -> String {
    let rel = path.strip_prefix(root).unwrap_or(path);
    rel.components()
        .map(|c| c.as_os_str().to_string_lossy())
        .collect::<Vec<_>>()
        .join("/")
}
