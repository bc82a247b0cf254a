//! Decoding under a row-size limit: a line longer than the limit is set aside as its length, SHA-256 and first bytes while the file streams through, so memory is bounded by the limit, not by the line.

use std::io::Read;

use sha2::{Digest, Sha256};

/// The row-size limit unless `dataset.toml` sets `max_row_bytes`: 1 MiB.
pub const DEFAULT_MAX_ROW_BYTES: u64 = 1 << 20;

/// What the quarantine keeps of a row beyond the limit.
pub const KEPT_PREFIX_BYTES: usize = 1024;

/// Bytes read from the decoder at a time.
const CHUNK: u64 = 1 << 18;

/// A decompressed file inflating more than this many times its size on disk is reported:
/// logs compress 5 to 30 times, and a crafted archive (a decompression bomb) far more.
pub const SUSPICIOUS_INFLATION: u64 = 200;

/// The warning for a compressed file of `on_disk` bytes that decoded to `decoded` bytes, more
/// than [`SUSPICIOUS_INFLATION`] times as many.
pub fn inflation_warning(rel_path: &str, decoded: u64, on_disk: u64) -> Option<String> {
    let times = decoded.checked_div(on_disk)?;
    (times > SUSPICIOUS_INFLATION).then(|| format!(
        "{rel_path}: decompresses {times} times over ({on_disk} bytes to {decoded}), beyond the {SUSPICIOUS_INFLATION} times logs reach; a crafted archive (a decompression bomb) looks like this"
    ))
}

/// A line longer than the limit, as the quarantine records it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Oversized {
    /// 1-based line number in the decoded text.
    pub line: u64,
    /// The line's length in bytes, line break excluded.
    pub bytes: u64,
    pub sha256: String,
    /// Its first [`KEPT_PREFIX_BYTES`] bytes.
    pub prefix: Vec<u8>,
}

impl Oversized {
    /// The quarantine's reason (see `validate::oversized_rejection`).
    pub fn reason(&self, limit: u64) -> String {
        format!(
            "row of {} bytes is beyond the row-size limit of {limit} bytes (max_row_bytes); its SHA-256 is {} and its first {} bytes are kept",
            self.bytes,
            self.sha256,
            self.prefix.len()
        )
    }

    /// A row already in memory (a CSV record over many lines, a Parquet row) beyond the limit.
    pub fn of_row(line: u64, quoted: &[u8]) -> Oversized {
        Oversized {
            line,
            bytes: quoted.len() as u64,
            sha256: hex::encode(Sha256::digest(quoted)),
            prefix: quoted[..KEPT_PREFIX_BYTES.min(quoted.len())].to_vec(),
        }
    }

    /// Whether the line begins a JSON array: a file of one array, whose elements are its rows.
    pub fn opens_array(&self) -> bool {
        self.prefix.trim_ascii_start().first() == Some(&b'[')
    }

    /// The quarantine's raw text: the kept prefix.
    pub fn quote(&self) -> String {
        String::from_utf8_lossy(&self.prefix).into_owned()
    }
}

/// A decoded text file: every line within the limit in place, each longer one left as an empty
/// line (so that line numbers stand) and described in `set_aside`.
#[derive(Debug, Default)]
pub struct Decoded {
    pub text: Vec<u8>,
    pub set_aside: SetAside,
}

/// What decoding set aside from a file, and how far the file inflated.
#[derive(Debug, Default)]
pub struct SetAside {
    /// The lines beyond the limit, in line order.
    pub oversized: Vec<Oversized>,
    /// Bytes the decoder gave, the set-aside lines included.
    pub decoded_bytes: u64,
}

/// The line being set aside.
struct Overflow {
    hash: Sha256,
    prefix: Vec<u8>,
    bytes: u64,
}

impl Overflow {
    fn add(&mut self, bytes: &[u8]) {
        self.hash.update(bytes);
        let room = KEPT_PREFIX_BYTES.saturating_sub(self.prefix.len());
        self.prefix
            .extend_from_slice(&bytes[..room.min(bytes.len())]);
        self.bytes += bytes.len() as u64;
    }

    fn finish(self, line: u64) -> Oversized {
        Oversized {
            line,
            bytes: self.bytes,
            sha256: hex::encode(self.hash.finalize()),
            prefix: self.prefix,
        }
    }
}

/// Reads `reader` to its end, setting aside every line longer than `limit` bytes.
pub fn read_bounded(reader: impl Read, limit: u64) -> std::io::Result<Decoded> {
    read_bounded_sized(reader, limit, 0)
}

/// [`read_bounded`] for a reader expected to give about `size_hint` bytes (a plain file's size).
/// Room for them is taken at once where the allocator grants it: grown by doubling, the text
/// would be copied and its fresh pages zeroed again at every step, a sixth of reading a large log.
pub fn read_bounded_sized(
    mut reader: impl Read,
    limit: u64,
    size_hint: u64,
) -> std::io::Result<Decoded> {
    let mut out = Decoded::default();
    if let Ok(room) = usize::try_from(size_hint.saturating_add(1)) {
        // Refused room only means the text grows as it comes.
        let _ = out.text.try_reserve_exact(room);
    }
    let text = &mut out.text;
    // Where the current line starts in `text`, its number, and from where `text` is unscanned.
    let (mut start, mut line, mut scanned) = (0usize, 1u64, 0usize);
    let mut overflow: Option<Overflow> = None;
    loop {
        let n = reader.by_ref().take(CHUNK).read_to_end(text)?;
        out.set_aside.decoded_bytes += n as u64;
        let mut at = scanned;
        while let Some(k) = memchr::memchr(b'\n', &text[at..]) {
            let end = at + k;
            let long = (end - start) as u64 > limit;
            if overflow.is_some() || long {
                let mut o = overflow.take().unwrap_or_else(|| Overflow {
                    hash: Sha256::new(),
                    prefix: Vec::new(),
                    bytes: 0,
                });
                o.add(&text[start..end]);
                out.set_aside.oversized.push(o.finish(line));
                // The line's bytes go; its break stays, so later lines keep their numbers.
                text.drain(start..end);
                at = start + 1;
            } else {
                at = end + 1;
            }
            line += 1;
            start = at;
        }
        scanned = text.len();
        let pending = (text.len() - start) as u64;
        if overflow.is_some() || pending > limit {
            let o = overflow.get_or_insert_with(|| Overflow {
                hash: Sha256::new(),
                prefix: Vec::new(),
                bytes: 0,
            });
            o.add(&text[start..]);
            text.truncate(start);
            scanned = start;
        }
        if n == 0 {
            break;
        }
    }
    if let Some(o) = overflow {
        out.set_aside.oversized.push(o.finish(line));
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn sha(b: &[u8]) -> String {
        hex::encode(Sha256::digest(b))
    }

    /// A reader that hands out at most `step` bytes a call, to cross chunk edges everywhere.
    struct Trickle<'a> {
        data: &'a [u8],
        step: usize,
    }

    impl Read for Trickle<'_> {
        fn read(&mut self, buf: &mut [u8]) -> std::io::Result<usize> {
            let n = self.step.min(buf.len()).min(self.data.len());
            buf[..n].copy_from_slice(&self.data[..n]);
            self.data = &self.data[n..];
            Ok(n)
        }
    }

    #[test]
    fn long_lines_are_set_aside_and_the_others_keep_their_numbers() {
        let long = "x".repeat(5000);
        let data = format!("a,b\n{long}\n1,2\n{long}y");
        // With the file's size given or not: the room taken ahead changes nothing read.
        for (step, hint) in [1, 7, 4096, 1 << 20]
            .into_iter()
            .flat_map(|s| [(s, 0), (s, data.len() as u64)])
        {
            let d = read_bounded_sized(
                Trickle {
                    data: data.as_bytes(),
                    step,
                },
                4000,
                hint,
            )
            .unwrap();
            assert_eq!(d.text, b"a,b\n\n1,2\n", "step {step}, hint {hint}");
            assert_eq!(d.set_aside.decoded_bytes, data.len() as u64);
            let want = |line, text: &str| Oversized {
                line,
                bytes: text.len() as u64,
                sha256: sha(text.as_bytes()),
                prefix: text.as_bytes()[..KEPT_PREFIX_BYTES].to_vec(),
            };
            assert_eq!(
                d.set_aside.oversized,
                [want(2, &long), want(4, &format!("{long}y"))],
                "step {step}, hint {hint}"
            );
        }
    }

    #[test]
    fn a_line_at_the_limit_is_kept() {
        let d = read_bounded("abcd\nabcde\n".as_bytes(), 4).unwrap();
        assert_eq!(d.text, b"abcd\n\n");
        let o = &d.set_aside.oversized;
        assert_eq!(o.len(), 1);
        assert_eq!((o[0].line, o[0].bytes), (2, 5));
    }

    #[test]
    fn memory_stays_near_the_limit_for_a_line_of_any_length() {
        struct Endless(u64);
        impl Read for Endless {
            fn read(&mut self, buf: &mut [u8]) -> std::io::Result<usize> {
                let n = (buf.len() as u64).min(self.0) as usize;
                buf[..n].fill(b'z');
                self.0 -= n as u64;
                Ok(n)
            }
        }
        let d = read_bounded(Endless(200 << 20), 1 << 20).unwrap();
        assert!(d.text.capacity() < 4 << 20, "{}", d.text.capacity());
        assert_eq!(d.set_aside.oversized[0].bytes, 200 << 20);
        // A size the allocator cannot grant (a hostile or unknown size) is no error.
        let d = read_bounded_sized("a\nb\n".as_bytes(), 4, u64::MAX - 1).unwrap();
        assert_eq!(d.text, b"a\nb\n");
    }
}
