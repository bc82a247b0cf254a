//! Kernel `verdict`: steps 1, 3 and 4 and the class, for one bucket of `session_id`: its
//! deliveries with their content found, its session rows, and every ownership row; the
//! verdicts written in the single-node run's order, for the driver to merge.

use std::io::{Read, Write};

use super::received::{files_of, Received};
use super::wire::{
    encode, whole, FoundRecord, Part, PartKind, PartWriter, VerdictRecord, PART_ROWS,
};
use crate::classify::verdict;
use crate::codes::UNKNOWN;
use crate::error::{Error, Result};
use crate::intervals::{build_from, CacheLog};
use crate::join::{resolve_found, Content, Contents, Found};
use crate::load::Config;
use crate::schema::Kind;

pub fn verdicts(config: &Config, input: impl Read, out: impl Write) -> Result<()> {
    let settings = &config.settings;
    let received = Received::read(input)?;
    let dedup = |t| {
        let files = files_of(&t);
        crate::dedup::dedup(t, files).0
    };
    let sessions = dedup(received.table(PartKind::Sessions, Kind::Sessions)?);
    let ownership = dedup(received.table(PartKind::Ownership, Kind::Ownership)?);
    let timeline = |e| Error::timeline("looking up recipients and subjects", e);
    let tl = build_from(
        &sessions,
        &ownership,
        CacheLog::default(),
        settings.session_ttl_ms,
        settings.ownership_snapshots,
    )
    .map_err(timeline)?;
    let mut found: Vec<FoundRecord> = received.records(PartKind::Found)?;
    found.sort_by_key(|r| (r.ts, r.digest));
    let codes = &tl.codes;
    let mut records = Vec::with_capacity(found.len());
    for r in found {
        let session = r
            .session
            .as_deref()
            .map_or(UNKNOWN, |s| codes.sessions.lookup(s));
        let found = r.found.clone().map(|f| {
            f.map(|(origin, capture_ts)| Found {
                origin: origin.map(|o| codes.streams.lookup(&o)),
                capture_ts,
                // Where the content came from is in the evidence; the look-ups need its origin.
                content: Content::Named { capture_ts },
            })
        });
        let at = Contents {
            found,
            cites: r.cites,
        };
        let resolved = resolve_found(&tl, r.ts, session, &at, settings.tolerance_ms);
        records.push(VerdictRecord {
            ts: r.ts,
            digest: r.digest,
            verdict: verdict(&resolved, r.evidence, codes).map_err(timeline)?,
        });
    }
    debug_assert!(records
        .windows(2)
        .all(|w| whole(w[0].digest) != whole(w[1].digest) || w[0].ts != w[1].ts));
    let failed = |e| Error::polars("writing the verdicts", e);
    let mut w = PartWriter::new(out).map_err(failed)?;
    for (seq, chunk) in records.chunks(PART_ROWS).enumerate() {
        w.write(&Part {
            file: 0,
            seq: u32::try_from(seq).unwrap_or(u32::MAX),
            kind: PartKind::Verdicts,
            bytes: encode(&chunk),
        })
        .map_err(failed)?;
    }
    w.finish().map_err(failed)
}
