//! Configuration files as evidence: each one read once, with its path as the manifest shows it, size and SHA-256.

use std::path::Path;

use serde::Serialize;
use sha2::{Digest, Sha256};

use crate::error::{Error, Result};

/// A file that changed the result without being a log: `dataset.toml` or the mapping.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct ConfigFile {
    /// Relative to the dataset with `/` separators when inside it; otherwise its file name only,
    /// so that a manifest does not depend on where the dataset or the mapping lies.
    pub path: String,
    pub inside_dataset: bool,
    pub size: u64,
    pub sha256: String,
}

/// The dataset folder's own name, as the manifest records it: the same wherever it is copied.
pub fn dataset_name(root: &Path) -> String {
    let named = match root.file_name() {
        Some(_) => Some(root.to_path_buf()),
        None => root.canonicalize().ok(),
    };
    named
        .and_then(|p| p.file_name().map(|n| n.to_string_lossy().into_owned()))
        .unwrap_or_default()
}

/// Reads `path` as UTF-8 text; the digest is of exactly the bytes parsed.
pub fn read_config(dataset: &Path, path: &Path) -> Result<(String, ConfigFile)> {
    let bytes = std::fs::read(path).map_err(|e| Error::io(path, e))?;
    let inside = relative_to(dataset, path);
    let file = ConfigFile {
        inside_dataset: inside.is_some(),
        path: inside.unwrap_or_else(|| {
            path.file_name()
                .map(|n| n.to_string_lossy().into_owned())
                .unwrap_or_default()
        }),
        size: bytes.len() as u64,
        sha256: hex::encode(Sha256::digest(&bytes)),
    };
    let text = String::from_utf8(bytes).map_err(|e| Error::UnreadableFile {
        path: path.to_path_buf(),
        reason: format!("not UTF-8 text (byte {})", e.utf8_error().valid_up_to()),
    })?;
    Ok((text, file))
}

/// Parses a TOML configuration file; a syntax error says where in one line.
pub fn parse_toml(text: &str) -> std::result::Result<toml::Table, String> {
    text.parse().map_err(|e: toml::de::Error| {
        let message = crate::error::one_line(e.message());
        match e.span() {
            Some(span) => {
                let before = text.get(..span.start).unwrap_or(text);
                let line = before.matches('\n').count() + 1;
                let column = before.rsplit('\n').next().map_or(0, |l| l.chars().count()) + 1;
                format!("line {line}, column {column}: {message}")
            }
            None => message,
        }
    })
}

/// `path` relative to `dataset`, compared as canonical paths, when it lies inside it.
fn relative_to(dataset: &Path, path: &Path) -> Option<String> {
    let (root, file) = (dataset.canonicalize().ok()?, path.canonicalize().ok()?);
    let rel = file.strip_prefix(root).ok()?;
    let parts: Vec<String> = rel
        .components()
        .map(|c| c.as_os_str().to_string_lossy().into_owned())
        .collect();
    Some(parts.join("/"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn files_inside_the_dataset_are_named_relative_to_it_and_others_by_name() {
        let dir = tempfile::tempdir().unwrap();
        let ds = dir.path().join("ds");
        std::fs::create_dir_all(ds.join("conf")).unwrap();
        std::fs::write(ds.join("conf/mapping.toml"), "[columns]\n").unwrap();
        std::fs::write(dir.path().join("elsewhere.toml"), "abc").unwrap();
        let (text, inside) = read_config(&ds, &ds.join("conf/../conf/mapping.toml")).unwrap();
        assert_eq!(text, "[columns]\n");
        assert_eq!(
            (inside.path.as_str(), inside.inside_dataset, inside.size),
            ("conf/mapping.toml", true, 10)
        );
        let (_, outside) = read_config(&ds, &dir.path().join("elsewhere.toml")).unwrap();
        assert_eq!(
            outside,
            ConfigFile {
                path: "elsewhere.toml".into(),
                inside_dataset: false,
                size: 3,
                sha256: "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad".into(),
            }
        );
    }

    #[test]
    fn a_toml_syntax_error_is_one_line_with_its_place() {
        let e = parse_toml("tolerance = \"2s\"\nsession_ttl = \n").unwrap_err();
        assert!(e.starts_with("line 2, column 15: "), "{e}");
        assert_eq!(e.lines().count(), 1, "{e}");
    }

    #[test]
    fn a_file_that_is_not_text_names_the_byte() {
        let dir = tempfile::tempdir().unwrap();
        let p = dir.path().join("dataset.toml");
        std::fs::write(&p, b"tolerance = \"2s\"\xff").unwrap();
        let e = read_config(dir.path(), &p).unwrap_err().to_string();
        assert!(
            e.ends_with("dataset.toml: cannot be read: not UTF-8 text (byte 16)"),
            "{e}"
        );
    }
}
