//! The evidence manifest: every input file with its digest and row counts, the settings and the tool version.

use std::path::Path;

use serde_json::json;

use super::ReportOptions;
use crate::error::{Error, Result};
use crate::load::LoadedDataset;
use crate::schema::Kind;
use crate::stages::StageTiming;

/// The manifest as pretty JSON. Stage timings vary run to run, so they go to `timings.json`, and into the
/// manifest only when asked for (`--verbose`): a plain run's manifest is byte-identical across runs.
pub fn manifest_json(
    loaded: &LoadedDataset,
    timings: &[StageTiming],
    opts: &ReportOptions,
    out: &Path,
) -> Result<String> {
    let rows: serde_json::Map<String, serde_json::Value> = Kind::ALL
        .iter()
        .map(|&k| (k.name().to_string(), json!(loaded.counts(k))))
        .collect();
    let mut m = json!({
        "tool": {"name": "leakscope", "version": env!("CARGO_PKG_VERSION")},
        "command_line": opts.command_line,
        "dataset": crate::evidence::dataset_name(&loaded.root),
        "settings": loaded.settings,
        "settings_file": loaded.settings_file,
        "mapping": loaded.mapping,
        "rows": rows,
        "files": loaded.files.iter().map(|f| {
            let mut v = json!(f);
            v["kind"] = json!(f.kind.name());
            v
        }).collect::<Vec<_>>(),
        "skipped_files": loaded.skipped,
        "warnings": loaded.warnings,
    });
    if opts.timings_in_manifest {
        m["timings"] = json!(timings);
    }
    let timings_path = out.join("timings.json");
    let t = serde_json::to_string_pretty(timings).map_err(|e| Error::output(&timings_path, e))?;
    super::write(&timings_path, format!("{t}\n").as_bytes())?;
    serde_json::to_string_pretty(&m).map_err(|e| Error::output(out, e))
}
