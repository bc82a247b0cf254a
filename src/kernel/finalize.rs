//! Kernel `finalize`, on the driver: the parts of every file gathered into the dataset the
//! single-node loader would have loaded, which the single-node pipeline then analyses and writes.

use std::path::Path;

use super::wire::{decode, read_parts, FileRecord, Part, PartKind, TableRecord};
use crate::error::{Error, Result};
use crate::load::{
    assemble, Config, FileResult, InputFile, LoadOptions, LoadedDataset, Plan, Sinks,
};
use crate::table::Table;

fn bad(what: String) -> Error {
    Error::internal("gathering the kernels' parts", what)
}

/// Every part of `files` files, in any order, split by file.
pub fn by_file(mut parts: Vec<Part>, files: usize) -> Result<Vec<Vec<Part>>> {
    parts.sort_by_key(|p| (p.file, p.seq));
    let mut split: Vec<Vec<Part>> = (0..files).map(|_| Vec::new()).collect();
    for p in parts {
        let file = p.file;
        split
            .get_mut(file as usize)
            .ok_or_else(|| {
                bad(format!(
                    "a part of file {file}, which the plan does not hold"
                ))
            })?
            .push(p);
    }
    Ok(split)
}

/// The dataset that the parts of every file of `plan` make; `parts_of(i)` gives file i's, in
/// any order, and is asked once per file, in plan order, so that one file's parts are held at a
/// time.
pub fn gather(
    config: Config,
    plan: Plan,
    mut parts_of: impl FnMut(u32) -> Result<Vec<Part>>,
    opts: &LoadOptions,
) -> Result<LoadedDataset> {
    let sinks = Sinks::new(opts, 0);
    let mut results: Vec<FileResult> = Vec::with_capacity(plan.found().len());
    for (i, found) in plan.found().iter().enumerate() {
        let index = u32::try_from(i).map_err(|_| bad("too many files".into()))?;
        let mut parts = parts_of(index)?;
        parts.sort_by_key(|p| p.seq);
        if let Some(p) = parts.iter().find(|p| p.file != index) {
            return Err(bad(format!(
                "a part of file {} given as file {index}",
                p.file
            )));
        }
        let mut parts = parts.into_iter().peekable();
        let mut table = Table::new(found.kind);
        let mut seq = 0;
        // A file's rows come first, numbered from 0, and its record last.
        let record: FileRecord = loop {
            let p = parts
                .next_if(|p| p.file == index)
                .ok_or_else(|| bad(format!("no record of file {index} ({})", found.rel)))?;
            if p.seq != seq {
                return Err(bad(format!("file {index}: part {} out of place", p.seq)));
            }
            seq += 1;
            if p.kind == PartKind::File {
                break decode(&p.bytes).map_err(bad)?;
            }
            let rows = decode::<TableRecord>(&p.bytes)
                .and_then(|r| r.into_table(found.kind))
                .map_err(|e| bad(format!("file {index}, part {}: {e}", p.seq)))?;
            match (p.kind, sinks.of(found.kind)) {
                (PartKind::Rows, Some(sink)) => sink.push(rows),
                (PartKind::Table, _) => table.append(rows),
                _ => return Err(bad(format!("file {index}: rows of a kind without a sink"))),
            }
        };
        let mut file = InputFile::of(found);
        file.size = record.size;
        file.sha256 = record.sha256;
        file.rows = record.rows;
        file.time_forms = record.time_forms;
        file.error = record.error;
        if let Some(p) = parts.next() {
            return Err(bad(format!(
                "file {index}: part {} after its record",
                p.seq
            )));
        }
        let validated = record.validated.map(|v| v.into_validated(table));
        results.push((file, validated));
    }
    assemble(config, plan, results, sinks, opts.strict)
}

/// Where `finalize` finds the parts.
#[derive(Debug, Clone, Copy)]
pub enum Parts<'a> {
    /// A `<number>\t<path>` line per file: where that file's parts are, one Arrow IPC stream each.
    Listed(&'a Path),
    /// Every part on stdin, as one stream.
    Stdin,
}

/// The dataset of `listing` (the file the plan was made from) that the kernels' parts make.
pub fn load(
    config: Config,
    listing: &Path,
    parts: Parts<'_>,
    opts: &LoadOptions,
) -> Result<LoadedDataset> {
    let text = std::fs::read(listing).map_err(|e| Error::io(listing, e))?;
    let listing = super::plan::read_listing(text.as_slice())?;
    let plan = Plan::of_listing(&config, &listing)?;
    let unreadable = |e: String| Error::internal("reading the parts", e);
    match parts {
        Parts::Listed(list) => {
            let text = std::fs::read_to_string(list).map_err(|e| Error::io(list, e))?;
            let paths = parts_paths(&text, plan.found().len())?;
            let read = |i: u32| {
                let path = &paths[i as usize];
                let f = std::fs::File::open(path).map_err(|e| Error::io(path, e))?;
                read_parts(f).map_err(unreadable)
            };
            gather(config, plan, read, opts)
        }
        Parts::Stdin => {
            let parts = read_parts(std::io::stdin().lock()).map_err(unreadable)?;
            let mut split = by_file(parts, plan.found().len())?.into_iter();
            gather(config, plan, |_| Ok(split.next().unwrap_or_default()), opts)
        }
    }
}

/// The path of each file's parts, from `<number>\t<path>` lines naming each of `files` once.
pub fn parts_paths(list: &str, files: usize) -> Result<Vec<std::path::PathBuf>> {
    let mut paths: Vec<Option<std::path::PathBuf>> = vec![None; files];
    for (i, line) in list.lines().enumerate().filter(|(_, l)| !l.is_empty()) {
        let (n, path) = line
            .split_once('\t')
            .and_then(|(n, p)| Some((n.parse::<usize>().ok()?, p)))
            .ok_or_else(|| bad(format!("line {} of the parts list: {line:?}", i + 1)))?;
        let slot = paths
            .get_mut(n)
            .ok_or_else(|| bad(format!("parts of file {n}, which the plan does not hold")))?;
        *slot = Some(path.into());
    }
    paths
        .into_iter()
        .enumerate()
        .map(|(n, p)| p.ok_or_else(|| bad(format!("no parts of file {n}"))))
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn part(file: u32, seq: u32) -> Part {
        Part {
            file,
            seq,
            kind: PartKind::Rows,
            bytes: Vec::new(),
        }
    }

    #[test]
    fn parts_split_by_file_in_sequence_and_a_stray_one_is_a_bug() {
        let split = by_file(vec![part(1, 1), part(0, 0), part(1, 0)], 2).expect("split");
        let seqs: Vec<Vec<(u32, u32)>> = split
            .iter()
            .map(|f| f.iter().map(|p| (p.file, p.seq)).collect())
            .collect();
        assert_eq!(seqs, vec![vec![(0, 0)], vec![(1, 0), (1, 1)]]);
        let err = by_file(vec![part(2, 0)], 2).unwrap_err().to_string();
        assert!(
            err.starts_with("bug in leakscope: gathering the kernels' parts"),
            "{err}"
        );
    }

    #[test]
    fn every_file_needs_its_parts_once() {
        let paths = parts_paths("1\tb.arrows\n0\ta.arrows\n", 2).expect("paths");
        assert_eq!(
            paths,
            vec![std::path::PathBuf::from("a.arrows"), "b.arrows".into()]
        );
        assert!(parts_paths("0\ta.arrows\n", 2).is_err());
        assert!(parts_paths("0 a.arrows\n1\tb\n", 2).is_err());
        assert!(parts_paths("0\ta\n1\tb\n2\tc\n", 2).is_err());
    }
}
