//! Kernel `plan`: which files of a dataset's listing are read, numbered in the order the
//! single-node loader reads them.

use std::io::BufRead;

use crate::error::{Error, Result};
use crate::load::{Config, Listed, Plan};

/// Reads a listing, one entry per line: `d <path>` for a folder, `f <path>` for a file, paths
/// relative to the dataset with `/` separators.
pub fn read_listing(input: impl BufRead) -> Result<Vec<Listed>> {
    let mut listing = Vec::new();
    for (i, line) in input.lines().enumerate() {
        let line = line.map_err(|e| Error::internal("reading the listing", e.to_string()))?;
        if line.is_empty() {
            continue;
        }
        let entry = match line.split_once(' ') {
            Some(("d", rel)) => Listed {
                rel: rel.to_string(),
                dir: true,
            },
            Some(("f", rel)) => Listed {
                rel: rel.to_string(),
                dir: false,
            },
            _ => {
                return Err(Error::internal(
                    "reading the listing",
                    format!(
                        "line {}: {line:?} is neither `d <path>` nor `f <path>`",
                        i + 1
                    ),
                ))
            }
        };
        listing.push(entry);
    }
    Ok(listing)
}

/// The plan of a listing, as `<number>\t<path>` lines.
pub fn plan_lines(config: &Config, listing: &[Listed]) -> Result<String> {
    let plan = Plan::of_listing(config, listing)?;
    Ok(plan
        .files()
        .enumerate()
        .map(|(i, rel)| format!("{i}\t{rel}\n"))
        .collect())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::load::LoadOptions;

    #[test]
    fn a_listing_plans_as_the_folder_does() {
        let dir = tempfile::tempdir().expect("tempdir");
        let root = dir.path().join("ds");
        for rel in [
            "deliveries/b.csv",
            "deliveries/a-b/x.csv",
            "deliveries/a/x.csv",
            "deliveries/.hidden.csv",
            "deliveries/notes.txt",
            "cache/c.jsonl",
            "sessions/s.csv",
            "ownership/o.csv",
        ] {
            let path = root.join(rel);
            std::fs::create_dir_all(path.parent().expect("parent")).expect("mkdir");
            std::fs::write(&path, "").expect("write");
        }
        std::fs::create_dir_all(root.join("changes")).expect("mkdir");
        let config = Config::read(&root, &LoadOptions::default()).expect("config");
        let listing = read_listing(
            "f deliveries/b.csv\nf deliveries/a-b/x.csv\nd deliveries/a\nf deliveries/a/x.csv\n\
             f deliveries/.hidden.csv\nf deliveries/notes.txt\nf cache/c.jsonl\nf sessions/s.csv\n\
             f ownership/o.csv\nd changes\n"
                .as_bytes(),
        )
        .expect("listing");
        let lines = plan_lines(&config, &listing).expect("plan");
        assert_eq!(
            lines,
            "0\tdeliveries/.hidden.csv\n1\tdeliveries/a/x.csv\n2\tdeliveries/a-b/x.csv\n\
             3\tdeliveries/b.csv\n4\tcache/c.jsonl\n5\tsessions/s.csv\n6\townership/o.csv\n"
        );
        let without_sessions: Vec<Listed> = listing
            .into_iter()
            .filter(|l| !l.rel.starts_with("sessions"))
            .collect();
        let err = plan_lines(&config, &without_sessions)
            .unwrap_err()
            .to_string();
        assert!(
            err.contains("the required folder sessions/ is missing"),
            "{err}"
        );
        assert!(read_listing("x y\n".as_bytes()).is_err());
    }
}
