//! The output folder: checked against the dataset before any work, written as a staging folder beside it, swapped in whole when the run completes.
//!
//! A run killed at any point leaves `--out` as it was: the previous complete outputs, or nothing.
//! Outputs are never written inside the dataset (a second run would read them as logs), and a
//! folder is replaced only when it holds leakscope outputs: of the same dataset, or of another
//! with `force`.

use std::path::{Component, Path, PathBuf};

use crate::error::{Error, Result};

/// The marker a staging folder carries, so that only folders of ours are ever cleaned up.
const STAGING_MARKER: &str = ".leakscope-staging";

/// Outputs being written; [`Staging::commit`] puts them at `out`, dropping without it removes them.
#[derive(Debug)]
pub struct Staging {
    out: PathBuf,
    dir: PathBuf,
    committed: bool,
}

impl Staging {
    /// Checks `out` against `dataset` and what `out` holds, then makes the staging folder beside it.
    pub fn begin(dataset: &Path, out: &Path, force: bool) -> Result<Staging> {
        check_placement(dataset, out)?;
        check_replaceable(dataset, out, force)?;
        let parent = parent_of(out);
        std::fs::create_dir_all(&parent).map_err(|e| Error::io(&parent, e))?;
        let name = folder_name(out)?;
        remove_abandoned(&parent, &name);
        let dir = parent.join(format!(".{name}.partial-{}", std::process::id()));
        if dir.exists() {
            remove_staging(&dir)?;
        }
        std::fs::create_dir(&dir).map_err(|e| Error::io(&dir, e))?;
        let marker = dir.join(STAGING_MARKER);
        std::fs::write(&marker, b"").map_err(|e| Error::io(&marker, e))?;
        Ok(Staging {
            out: out.to_path_buf(),
            dir,
            committed: false,
        })
    }

    /// Where the run writes its outputs.
    pub fn path(&self) -> &Path {
        &self.dir
    }

    /// Puts the finished outputs at `out` in one step: a rename when `out` is absent, an atomic
    /// exchange when it exists (Linux), and only then is the previous outputs' folder removed.
    ///
    /// Every output is on disk before the swap (each file and folder synced), and the swap itself
    /// once it returns (the parent folder synced): a power cut leaves the previous outputs or the
    /// new ones, never a mix, and never a manifest whose files were still in the page cache.
    pub fn commit(mut self) -> Result<()> {
        // Synced while the marker still says the folder is a staging one: a run killed during
        // the (slow) sync leaves a folder the next run recognises and removes.
        sync_tree(&self.dir)?;
        let marker = self.dir.join(STAGING_MARKER);
        std::fs::remove_file(&marker).map_err(|e| Error::io(&marker, e))?;
        if self.out.exists() {
            exchange(&self.dir, &self.out)?;
            // `dir` now holds the previous outputs; they have been replaced, whatever happens next.
            self.committed = true;
            // Marked at once and the marker removed last, so that a run killed while the
            // previous outputs are deleted leaves a folder the next run recognises and removes.
            std::fs::write(&marker, b"").map_err(|e| Error::io(&marker, e))?;
            remove_marked(&self.dir)?;
        } else {
            std::fs::rename(&self.dir, &self.out).map_err(|e| Error::io(&self.out, e))?;
            self.committed = true;
        }
        // The marker's removal, then the swap, on disk.
        sync(&self.out)?;
        sync(&parent_of(&self.out))
    }
}

/// Flushes a file or a folder (its entries) to the disk.
fn sync(path: &Path) -> Result<()> {
    std::fs::File::open(path)
        .and_then(|f| f.sync_all())
        .map_err(|e| Error::io(path, e))
}

/// Flushes every file and folder under `dir`, and `dir` itself.
fn sync_tree(dir: &Path) -> Result<()> {
    for entry in std::fs::read_dir(dir).map_err(|e| Error::io(dir, e))? {
        let path = entry.map_err(|e| Error::io(dir, e))?.path();
        if path.is_dir() {
            sync_tree(&path)?;
        } else {
            sync(&path)?;
        }
    }
    sync(dir)
}

impl Drop for Staging {
    fn drop(&mut self) {
        if !self.committed {
            // An error is already on its way to the user; a folder left behind is removed by
            // the next run into the same place.
            let _ = std::fs::remove_dir_all(&self.dir);
        }
    }
}

/// Refuses an output folder inside the dataset, and a dataset inside the output folder.
pub fn check_placement(dataset: &Path, out: &Path) -> Result<()> {
    let (ds, o) = (resolved(dataset), resolved(out));
    let refuse = |reason: &str| Error::Output {
        path: out.to_path_buf(),
        reason: format!("{reason}; choose --out outside {}", dataset.display()),
    };
    if o == ds {
        return Err(refuse("is the dataset folder itself"));
    }
    if o.starts_with(&ds) {
        return Err(refuse(
            "lies inside the dataset, whose next run would read the outputs as logs",
        ));
    }
    if ds.starts_with(&o) {
        return Err(refuse(
            "holds the dataset, which replacing the outputs would remove",
        ));
    }
    Ok(())
}

/// An existing `out` is replaced only when it is empty or holds leakscope outputs: of this
/// dataset (by folder name, as the manifest records it), or of another one with `force`.
fn check_replaceable(dataset: &Path, out: &Path, force: bool) -> Result<()> {
    let refuse = |reason: String| Err(Error::output(out, reason));
    if !out.exists() {
        return Ok(());
    }
    if !out.is_dir() {
        return refuse("exists and is not a folder".into());
    }
    let mut entries = std::fs::read_dir(out).map_err(|e| Error::io(out, e))?;
    if entries.next().is_none() {
        return Ok(());
    }
    let manifest = out.join("manifest.json");
    let previous = std::fs::read(&manifest)
        .ok()
        .and_then(|b| serde_json::from_slice::<serde_json::Value>(&b).ok())
        .filter(|m| m["tool"]["name"] == "leakscope");
    let Some(previous) = previous else {
        return refuse(
            "is not empty and holds no leakscope outputs (no manifest.json of ours); \
             choose an empty or new folder"
                .into(),
        );
    };
    // Manifests before the name alone recorded the dataset's path as given.
    let theirs =
        crate::evidence::dataset_name(Path::new(previous["dataset"].as_str().unwrap_or_default()));
    let ours = crate::evidence::dataset_name(dataset);
    if theirs != ours && !force {
        return refuse(format!(
            "holds the outputs of dataset {theirs:?}, not {ours:?}; pass --force to replace them"
        ));
    }
    Ok(())
}

/// Removes staging folders beside `out` left by runs that were killed (their process is gone).
fn remove_abandoned(parent: &Path, name: &str) {
    let prefix = format!(".{name}.partial-");
    let Ok(entries) = std::fs::read_dir(parent) else {
        return;
    };
    for e in entries.flatten() {
        let file_name = e.file_name().to_string_lossy().into_owned();
        let Some(pid) = file_name.strip_prefix(&prefix) else {
            continue;
        };
        if pid.parse::<u32>().is_ok_and(|p| !process_alive(p)) {
            // Best effort: a folder that cannot be removed now is tried again next time.
            let _ = remove_staging(&e.path());
        }
    }
}

/// Removes a marked folder's contents, then its marker and the folder.
fn remove_marked(dir: &Path) -> Result<()> {
    for entry in std::fs::read_dir(dir).map_err(|e| Error::io(dir, e))? {
        let path = entry.map_err(|e| Error::io(dir, e))?.path();
        if path.file_name() == Some(std::ffi::OsStr::new(STAGING_MARKER)) {
            continue;
        }
        match path.is_dir() {
            true => std::fs::remove_dir_all(&path),
            false => std::fs::remove_file(&path),
        }
        .map_err(|e| Error::io(&path, e))?;
    }
    std::fs::remove_dir_all(dir).map_err(|e| Error::io(dir, e))
}

/// Removes a staging folder, but only one that carries our marker.
fn remove_staging(dir: &Path) -> Result<()> {
    if !dir.join(STAGING_MARKER).exists() {
        return Err(Error::output(
            dir,
            "is in the way of the staging folder and is not one of ours",
        ));
    }
    remove_marked(dir)
}

#[cfg(target_os = "linux")]
fn process_alive(pid: u32) -> bool {
    Path::new("/proc").join(pid.to_string()).exists()
}

#[cfg(not(target_os = "linux"))]
fn process_alive(_pid: u32) -> bool {
    // Without a cheap way to tell, a staging folder is kept rather than risk one in use.
    true
}

#[cfg(target_os = "linux")]
fn exchange(staged: &Path, out: &Path) -> Result<()> {
    use rustix::fs::{renameat_with, RenameFlags, CWD};
    renameat_with(CWD, staged, CWD, out, RenameFlags::EXCHANGE)
        .map_err(|e| Error::io(out, std::io::Error::from(e)))
}

/// Without an atomic exchange: the previous outputs step aside, then the new ones take their
/// place. A run killed between the two renames leaves the previous outputs beside `out`.
#[cfg(not(target_os = "linux"))]
fn exchange(staged: &Path, out: &Path) -> Result<()> {
    let aside = staged.with_extension("previous");
    std::fs::rename(out, &aside).map_err(|e| Error::io(out, e))?;
    std::fs::rename(staged, out).map_err(|e| Error::io(out, e))?;
    std::fs::rename(&aside, staged).map_err(|e| Error::io(staged, e))
}

/// The folder `out` lies in (the current one for a bare name).
fn parent_of(out: &Path) -> PathBuf {
    match out.parent() {
        Some(p) if !p.as_os_str().is_empty() => p.to_path_buf(),
        _ => PathBuf::from("."),
    }
}

fn folder_name(out: &Path) -> Result<String> {
    match out.components().next_back() {
        Some(Component::Normal(n)) => Ok(n.to_string_lossy().into_owned()),
        _ => Err(Error::output(
            out,
            "names no folder (give a path that ends in a folder name)",
        )),
    }
}

/// `path` made absolute and canonical as far as it exists, its missing tail appended as written,
/// so that a folder yet to be made compares with the dataset as it will be.
fn resolved(path: &Path) -> PathBuf {
    let absolute = match std::path::absolute(path) {
        Ok(p) => p,
        Err(_) => path.to_path_buf(),
    };
    let mut tail = Vec::new();
    let mut head = absolute.as_path();
    loop {
        if let Ok(c) = head.canonicalize() {
            return tail.iter().rev().fold(c, |p: PathBuf, t| p.join(t));
        }
        match (head.parent(), head.file_name()) {
            (Some(parent), Some(name)) => {
                tail.push(name.to_os_string());
                head = parent;
            }
            _ => return absolute,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn dataset(root: &Path) -> PathBuf {
        let ds = root.join("ds");
        std::fs::create_dir_all(ds.join("deliveries")).unwrap();
        ds
    }

    #[test]
    fn syncing_reaches_every_file_and_names_what_it_could_not_sync() {
        let dir = tempfile::tempdir().unwrap();
        let tree = dir.path().join("out");
        std::fs::create_dir_all(tree.join("quarantine")).unwrap();
        std::fs::write(tree.join("summary.json"), "{}").unwrap();
        std::fs::write(tree.join("quarantine/deliveries.csv"), "").unwrap();
        sync_tree(&tree).expect("synced");
        let gone = tree.join("missing");
        let err = sync_tree(&gone).unwrap_err().to_string();
        assert!(err.contains(&gone.display().to_string()), "{err}");
    }

    #[test]
    fn outputs_inside_the_dataset_or_around_it_are_refused() {
        let dir = tempfile::tempdir().unwrap();
        let ds = dataset(dir.path());
        let e = check_placement(&ds, &ds.join("deliveries/out")).unwrap_err();
        assert!(e.to_string().contains("lies inside the dataset"), "{e}");
        let e = check_placement(&ds, &ds.join("deliveries/../")).unwrap_err();
        assert!(
            e.to_string().contains("is the dataset folder itself"),
            "{e}"
        );
        let e = check_placement(&ds.join("deliveries"), &ds).unwrap_err();
        assert!(e.to_string().contains("holds the dataset"), "{e}");
        check_placement(&ds, &dir.path().join("out/new")).unwrap();
        check_placement(&ds, &dir.path().join("ds-out")).unwrap();
    }

    #[test]
    fn a_symlinked_way_into_the_dataset_is_still_inside_it() {
        let dir = tempfile::tempdir().unwrap();
        let ds = dataset(dir.path());
        std::os::unix::fs::symlink(&ds, dir.path().join("link")).unwrap();
        assert!(check_placement(&ds, &dir.path().join("link/out")).is_err());
    }

    #[test]
    fn a_commit_replaces_the_previous_outputs_whole() {
        let dir = tempfile::tempdir().unwrap();
        let ds = dataset(dir.path());
        let out = dir.path().join("out");
        for run in ["first", "second"] {
            let s = Staging::begin(&ds, &out, false).unwrap();
            std::fs::write(
                s.path().join("manifest.json"),
                r#"{"tool": {"name": "leakscope"}, "dataset": "ds"}"#,
            )
            .unwrap();
            std::fs::write(s.path().join(run), run).unwrap();
            s.commit().unwrap();
        }
        let mut names: Vec<_> = std::fs::read_dir(&out)
            .unwrap()
            .map(|e| e.unwrap().file_name().into_string().unwrap())
            .collect();
        names.sort();
        assert_eq!(names, ["manifest.json", "second"]);
        let beside: Vec<_> = std::fs::read_dir(dir.path())
            .unwrap()
            .map(|e| e.unwrap().file_name().into_string().unwrap())
            .collect();
        assert_eq!(beside.len(), 2, "{beside:?}");
    }

    #[test]
    fn a_failed_run_leaves_nothing_and_the_previous_outputs_stand() {
        let dir = tempfile::tempdir().unwrap();
        let ds = dataset(dir.path());
        let out = dir.path().join("out");
        let s = Staging::begin(&ds, &out, false).unwrap();
        std::fs::write(s.path().join("summary.json"), "{").unwrap();
        let staged = s.path().to_path_buf();
        drop(s);
        assert!(!staged.exists() && !out.exists());
    }

    #[test]
    fn only_leakscope_outputs_are_replaced_and_another_datasets_with_force() {
        let dir = tempfile::tempdir().unwrap();
        let ds = dataset(dir.path());
        let out = dir.path().join("out");
        std::fs::create_dir_all(&out).unwrap();
        std::fs::write(out.join("notes.txt"), "mine").unwrap();
        let e = Staging::begin(&ds, &out, true).unwrap_err().to_string();
        assert!(e.contains("holds no leakscope outputs"), "{e}");
        std::fs::write(
            out.join("manifest.json"),
            r#"{"tool": {"name": "leakscope"}, "dataset": "other"}"#,
        )
        .unwrap();
        let e = Staging::begin(&ds, &out, false).unwrap_err().to_string();
        assert!(
            e.ends_with(
                "holds the outputs of dataset \"other\", not \"ds\"; pass --force to replace them"
            ),
            "{e}"
        );
        Staging::begin(&ds, &out, true).unwrap();
    }

    #[test]
    fn staging_left_by_a_killed_run_is_removed_and_nothing_else() {
        let dir = tempfile::tempdir().unwrap();
        let ds = dataset(dir.path());
        let out = dir.path().join("out");
        // No process has a pid this large (the kernel's limit is 2^22).
        let abandoned = dir.path().join(".out.partial-4294967295");
        std::fs::create_dir_all(&abandoned).unwrap();
        std::fs::write(abandoned.join(STAGING_MARKER), "").unwrap();
        let foreign = dir.path().join(".out.partial-4294967294");
        std::fs::create_dir_all(&foreign).unwrap();
        let s = Staging::begin(&ds, &out, false).unwrap();
        assert!(!abandoned.exists());
        assert!(foreign.exists());
        drop(s);
    }
}
