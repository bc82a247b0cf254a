//! Report: writes the contract outputs (summary, leak tables, verdicts, quarantine, manifest) and the validation text.

mod manifest;
mod tables;

use std::fmt::Write as _;
use std::path::Path;

use crate::analyze::{AnalyzeOptions, Analysis};
use crate::error::{Error, Result};
use crate::load::LoadedDataset;
use crate::schema::Kind;

pub use manifest::manifest_json;

/// Writes every output file of a run.
pub fn write_all(a: &Analysis, out: &Path, opts: &AnalyzeOptions) -> Result<()> {
    std::fs::create_dir_all(out).map_err(|e| Error::io(out, e))?;
    let summary = serde_json::to_string_pretty(&a.summary).map_err(|e| Error::output(out, e))?;
    write(&out.join("summary.json"), format!("{summary}\n").as_bytes())?;
    tables::write_quarantine(&a.loaded, &out.join("quarantine"))?;
    let evidence = tables::evidence(a).map_err(|e| Error::polars("building the verdict table", e))?;
    tables::write_leaks(a, &evidence, out)?;
    tables::write_unresolved(a, &evidence, &out.join("unresolved.csv"))?;
    tables::write_verdicts(&evidence, &out.join("verdicts.parquet"))?;
    let manifest = manifest_json(&a.loaded, &a.timings, opts, out)?;
    write(&out.join("manifest.json"), format!("{manifest}\n").as_bytes())
}

pub(crate) fn write(path: &Path, bytes: &[u8]) -> Result<()> {
    std::fs::write(path, bytes).map_err(|e| Error::io(path, e))
}

/// The text of `leakscope validate`: row accounting per kind and file, and the first rejected rows of each file.
pub fn validation_text(loaded: &LoadedDataset, errors_per_file: usize) -> String {
    let mut s = String::new();
    let _ = writeln!(s, "{:<12} {:>10} {:>10} {:>10} {:>10}", "kind", "read", "accepted", "rejected", "duplicates");
    for kind in Kind::ALL {
        let c = loaded.counts(kind);
        let _ = writeln!(s, "{:<12} {:>10} {:>10} {:>10} {:>10}", kind.name(), c.read, c.accepted, c.rejected, c.duplicates);
    }
    let _ = writeln!(s);
    for f in &loaded.files {
        let c = f.rows;
        let _ = writeln!(
            s,
            "{}  read {}  accepted {}  rejected {}  duplicates {}",
            f.path, c.read, c.accepted, c.rejected, c.duplicates
        );
        if let Some(e) = &f.error {
            let _ = writeln!(s, "    UNREADABLE: {e}");
        }
        for r in loaded.rejections[&f.kind].iter().filter(|r| r.file == f.path).take(errors_per_file) {
            let col = if r.column.is_empty() { String::new() } else { format!(" [{}]", r.column) };
            let _ = writeln!(s, "    line {}{col}: {}", r.line, r.reason);
        }
    }
    for p in &loaded.skipped {
        let _ = writeln!(s, "{p}  SKIPPED: not a .csv, .jsonl, .ndjson or .parquet file (optionally .gz/.zst)");
    }
    for w in &loaded.warnings {
        let _ = writeln!(s, "WARNING: {w}");
    }
    s
}
