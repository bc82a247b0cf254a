//! The driver's side of the distributed look-ups: the verdict kernels' outputs, each sorted,
//! merged into the order of the single-node run and handed to the pipeline block by block.

use std::cmp::Reverse;
use std::collections::{BinaryHeap, VecDeque};
use std::fs::File;
use std::ops::Range;
use std::path::{Path, PathBuf};

use super::wire::{decode, halves, PartKind, PartReader, VerdictRecord};
use crate::analyze::GivenVerdicts;
use crate::error::{Error, Result};
use crate::table::Table;
use crate::verdict::Verdict;

fn bad(what: String) -> Error {
    Error::internal("merging the verdicts of the kernels", what)
}

/// Where a verdict belongs: its delivery's time and digest (as halves).
type Place = (i64, (u64, u64));

/// One kernel's verdicts, read a part at a time.
struct Run {
    path: PathBuf,
    parts: PartReader<File>,
    pending: VecDeque<VerdictRecord>,
    /// The place of the last verdict taken, which the next must follow.
    last: Option<Place>,
}

impl Run {
    fn open(path: &Path) -> Result<Run> {
        let f = File::open(path).map_err(|e| Error::io(path, e))?;
        Ok(Run {
            path: path.to_path_buf(),
            parts: PartReader::new(f).map_err(|e| bad(format!("{}: {e}", path.display())))?,
            pending: VecDeque::new(),
            last: None,
        })
    }

    /// The place of the next verdict, reading a part when none is pending.
    fn peek(&mut self) -> Result<Option<Place>> {
        while self.pending.is_empty() {
            let Some(p) = self.parts.next_part().map_err(bad)? else {
                return Ok(None);
            };
            if p.kind != PartKind::Verdicts {
                return Err(bad(format!(
                    "{}: a part of {}",
                    self.path.display(),
                    p.kind.name()
                )));
            }
            let records: Vec<VerdictRecord> = decode(&p.bytes).map_err(bad)?;
            self.pending.extend(records);
        }
        Ok(self.pending.front().map(|r| (r.ts, r.digest)))
    }
}

/// The verdicts of every kernel, merged by time and digest.
pub struct Merged {
    runs: Vec<Run>,
    heads: BinaryHeap<Reverse<(Place, usize)>>,
}

impl Merged {
    /// The verdicts in the files a `<path>` line each of `list` names.
    pub fn open(list: &Path) -> Result<Merged> {
        let text = std::fs::read_to_string(list).map_err(|e| Error::io(list, e))?;
        let mut runs = Vec::new();
        for line in text.lines().filter(|l| !l.is_empty()) {
            runs.push(Run::open(Path::new(line))?);
        }
        let mut heads = BinaryHeap::new();
        for (i, r) in runs.iter_mut().enumerate() {
            if let Some(at) = r.peek()? {
                heads.push(Reverse((at, i)));
            }
        }
        Ok(Merged { runs, heads })
    }

    fn next(&mut self) -> Result<Option<VerdictRecord>> {
        let Some(Reverse((at, i))) = self.heads.pop() else {
            return Ok(None);
        };
        let run = &mut self.runs[i];
        if run.last.is_some_and(|last| last >= at) {
            return Err(bad(format!(
                "{}: verdicts out of order",
                run.path.display()
            )));
        }
        run.last = Some(at);
        let record = run.pending.pop_front();
        if let Some(next) = run.peek()? {
            self.heads.push(Reverse((next, i)));
        }
        Ok(record)
    }
}

impl GivenVerdicts for Merged {
    fn take(&mut self, d: &Table, rows: Range<usize>) -> Result<Vec<Verdict>> {
        let ts = d.time("ts");
        let mut verdicts = Vec::with_capacity(rows.len());
        for i in rows {
            let want = (ts[i].unwrap_or(i64::MIN), halves(d.digest[i]));
            let got = self.next()?;
            match got {
                Some(r) if (r.ts, r.digest) == want => verdicts.push(r.verdict),
                Some(r) => {
                    return Err(bad(format!(
                        "the delivery of {} (source {:?}) has no verdict; the next is of {}",
                        want.0, d.source[i], r.ts
                    )))
                }
                None => {
                    return Err(bad(format!(
                        "the delivery of {} (source {:?}) has no verdict; there are no more",
                        want.0, d.source[i]
                    )))
                }
            }
        }
        Ok(verdicts)
    }

    fn finish(&mut self) -> Result<()> {
        match self.next()? {
            None => Ok(()),
            Some(r) => Err(bad(format!(
                "a verdict of {} for no delivery the run holds",
                r.ts
            ))),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::kernel::wire::{encode, write_parts, Part};
    use crate::load::table_from_csv;
    use crate::schema::Kind;
    use crate::verdict::Class;

    fn verdict_file(dir: &Path, name: &str, records: &[VerdictRecord]) -> PathBuf {
        let path = dir.join(name);
        let part = Part {
            file: 0,
            seq: 0,
            kind: PartKind::Verdicts,
            bytes: encode(&records),
        };
        write_parts(&[part], File::create(&path).unwrap()).unwrap();
        path
    }

    fn record(d: &Table, i: usize, class: Class) -> VerdictRecord {
        VerdictRecord {
            ts: d.time("ts")[i].unwrap(),
            digest: halves(d.digest[i]),
            verdict: Verdict::without_evidence(class),
        }
    }

    /// Two kernels' verdicts merge into the deliveries' order; one missing, or one for no
    /// delivery, is a bug that names the delivery.
    #[test]
    fn verdicts_merge_in_order_and_a_missing_one_is_a_bug() {
        let dir = tempfile::tempdir().unwrap();
        let d = table_from_csv(
            Kind::Deliveries,
            "ts,request_id,session_id,requested_stream_id,cache_node,cache_key,cache_status\n\
             1,r1,s,cam,n,k,hit\n2,r2,s,cam,n,k,hit\n3,r3,s,cam,n,k,hit\n",
            0,
        );
        let a = verdict_file(
            dir.path(),
            "a",
            &[record(&d, 0, Class::Ok), record(&d, 2, Class::Leak)],
        );
        let b = verdict_file(dir.path(), "b", &[record(&d, 1, Class::Ambiguous)]);
        let list = dir.path().join("list");
        std::fs::write(&list, format!("{}\n{}\n", a.display(), b.display())).unwrap();
        let mut m = Merged::open(&list).unwrap();
        let mut classes: Vec<Class> = m.take(&d, 0..2).unwrap().iter().map(|v| v.class).collect();
        classes.extend(m.take(&d, 2..3).unwrap().iter().map(|v| v.class));
        assert_eq!(classes, [Class::Ok, Class::Ambiguous, Class::Leak]);
        m.finish().unwrap();

        std::fs::write(&list, format!("{}\n", a.display())).unwrap();
        let mut m = Merged::open(&list).unwrap();
        let e = m.take(&d, 0..3).unwrap_err();
        assert!(e.to_string().starts_with("bug in leakscope"), "{e}");
        assert!(format!("{e:?}").contains("has no verdict"), "{e:?}");

        let extra = verdict_file(
            dir.path(),
            "c",
            &[record(&d, 0, Class::Ok), record(&d, 1, Class::Ok)],
        );
        std::fs::write(&list, format!("{}\n", extra.display())).unwrap();
        let mut m = Merged::open(&list).unwrap();
        m.take(&d, 0..1).unwrap();
        let e = m.finish().unwrap_err();
        assert!(format!("{e:?}").contains("for no delivery"), "{e:?}");
    }
}
