//! Parquet structure checked before the decoder trusts it: the footer decoded under a memory
//! bound, then every page header against its column chunk, so that a corrupt count cannot make
//! the decoder ask for an allocation no machine has.
//!
//! The decoder reserves what the file's counts claim (list lengths in the footer, a page's value
//! count cast to `usize`): a claim of 84 GB is an allocation failure, which aborts the process
//! and cannot be caught. Reading only the headers (a few dozen bytes per page, the pages
//! themselves skipped) costs one seek per page.

use std::io::{BufReader, Read, Seek, SeekFrom};

use polars_parquet_format::thrift::protocol::TCompactInputProtocol;
use polars_parquet_format::{FileMetaData, PageHeader, PageType};

/// What decoding a footer may claim beyond its own size: the Thrift reader charges each list
/// element 8 bytes and each struct 2, so a well-formed footer claims at most about 8 times its
/// size.
const FOOTER_CLAIM_PER_BYTE: usize = 16;
const FOOTER_CLAIM_BASE: usize = 1 << 20;

/// Decodes the footer with every list and string it declares charged against a bound that
/// follows from its size; a footer that claims more is refused before the decoder sees it.
pub fn check_footer<R: Read + Seek>(mut file: R, len: u64) -> Result<(), String> {
    let bad = |why: String| format!("bad Parquet file: {why}");
    if len < 12 {
        return Err(bad(format!("{len} bytes cannot hold a Parquet file")));
    }
    let mut tail = [0u8; 8];
    file.seek(SeekFrom::Start(len - 8))
        .and_then(|_| file.read_exact(&mut tail))
        .map_err(|e| bad(e.to_string()))?;
    if &tail[4..] != b"PAR1" {
        return Err(bad("the file does not end in PAR1".into()));
    }
    let footer = u64::from(u32::from_le_bytes([tail[0], tail[1], tail[2], tail[3]]));
    if footer + 12 > len {
        return Err(bad(format!(
            "a footer of {footer} bytes in a file of {len}"
        )));
    }
    let footer_len = usize::try_from(footer).map_err(|e| bad(e.to_string()))?;
    let mut bytes = vec![0u8; footer_len];
    file.seek(SeekFrom::Start(len - 8 - footer))
        .and_then(|_| file.read_exact(&mut bytes))
        .map_err(|e| bad(e.to_string()))?;
    let bound = footer_len
        .saturating_mul(FOOTER_CLAIM_PER_BYTE)
        .saturating_add(FOOTER_CLAIM_BASE);
    let mut prot = TCompactInputProtocol::new(bytes.as_slice(), bound);
    FileMetaData::read_from_in_protocol(&mut prot)
        .map_err(|e| bad(format!("unreadable footer: {e}")))?;
    Ok(())
}

/// The most bytes one page header may take: headers hold counts, sizes and optional statistics,
/// and writers cap statistics far below this.
const MAX_HEADER_BYTES: usize = 16 * 1024 * 1024;

/// One column chunk as the footer describes it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Chunk {
    pub column: String,
    pub row_group: usize,
    pub rows: usize,
    /// Repeated (nested) columns hold more values than rows.
    pub flat: bool,
    pub values: i64,
    pub start: u64,
    pub end: u64,
}

/// Checks every page header of every chunk; the error says which chunk and what is wrong.
pub fn check<R: Read + Seek>(file: R, len: u64, chunks: &[Chunk]) -> Result<(), String> {
    let mut file = BufReader::with_capacity(8 * 1024, file);
    for chunk in chunks {
        check_chunk(&mut file, len, chunk).map_err(|why| {
            format!(
                "bad Parquet file: row group {}, column {:?}: {why}",
                chunk.row_group, chunk.column
            )
        })?;
    }
    Ok(())
}

fn check_chunk<R: Read + Seek>(file: &mut R, len: u64, chunk: &Chunk) -> Result<(), String> {
    if chunk.values < 0 {
        return Err(format!("the footer claims {} values", chunk.values));
    }
    if chunk.flat && chunk.values as u64 > chunk.rows as u64 {
        return Err(format!(
            "the footer claims {} values in a row group of {} rows",
            chunk.values, chunk.rows
        ));
    }
    if chunk.start > chunk.end || chunk.end > len {
        return Err(format!(
            "the chunk's bytes {}..{} lie outside the file's {len}",
            chunk.start, chunk.end
        ));
    }
    file.seek(SeekFrom::Start(chunk.start))
        .map_err(|e| e.to_string())?;
    let mut at = chunk.start;
    let mut seen: i64 = 0;
    while seen < chunk.values {
        let remaining = chunk.end - at;
        let mut limited = Read::by_ref(file).take(remaining);
        let mut prot = TCompactInputProtocol::new(&mut limited, MAX_HEADER_BYTES);
        let header = PageHeader::read_from_in_protocol(&mut prot)
            .map_err(|e| format!("unreadable page header at byte {at}: {e}"))?;
        let header_len = remaining - limited.limit();
        at += header_len;
        let page = page_values(&header, chunk.values - seen)
            .map_err(|why| format!("the page header at byte {at}: {why}"))?;
        seen += page;
        let body = u64::try_from(header.compressed_page_size)
            .map_err(|_| format!("a page claims {} bytes", header.compressed_page_size))?;
        if header.uncompressed_page_size < 0 {
            return Err(format!(
                "a page claims {} uncompressed bytes",
                header.uncompressed_page_size
            ));
        }
        if body > chunk.end - at {
            return Err(format!(
                "a page of {body} bytes at byte {at} runs past the chunk's end at {}",
                chunk.end
            ));
        }
        at += body;
        file.seek(SeekFrom::Start(at)).map_err(|e| e.to_string())?;
    }
    Ok(())
}

/// The values a page adds to its chunk's count, after checking its counts are coherent:
/// non-negative, within what the chunk has left, nulls and rows within values.
fn page_values(header: &PageHeader, left: i64) -> Result<i64, String> {
    let within = |what: &str, n: i32, most: i64| {
        if n < 0 || i64::from(n) > most {
            Err(format!("{what} is {n}, outside 0 to {most}"))
        } else {
            Ok(i64::from(n))
        }
    };
    match header.type_ {
        PageType::DATA_PAGE => {
            let h = header
                .data_page_header
                .as_ref()
                .ok_or("a data page without its header")?;
            within("the value count", h.num_values, left)
        }
        PageType::DATA_PAGE_V2 => {
            let h = header
                .data_page_header_v2
                .as_ref()
                .ok_or("a data page without its header")?;
            let n = within("the value count", h.num_values, left)?;
            within("the null count", h.num_nulls, n)?;
            within("the row count", h.num_rows, n)?;
            Ok(n)
        }
        PageType::DICTIONARY_PAGE => {
            let h = header
                .dictionary_page_header
                .as_ref()
                .ok_or("a dictionary page without its header")?;
            // Every dictionary entry takes at least one byte of the page.
            within(
                "the dictionary's entry count",
                h.num_values,
                i64::from(header.uncompressed_page_size.max(0)),
            )?;
            Ok(0)
        }
        PageType::INDEX_PAGE => Ok(0),
        other => Err(format!("unknown page type {}", other.0)),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use polars::prelude::*;
    use std::io::Cursor;

    fn written(rows: usize) -> Vec<u8> {
        let ids: Vec<String> = (0..rows).map(|i| format!("r{i}")).collect();
        let mut df =
            df!("request_id" => ids, "n" => (0..rows as i64).collect::<Vec<_>>()).expect("frame");
        let mut buf = Vec::new();
        ParquetWriter::new(&mut buf)
            .with_row_group_size(Some(1000))
            .finish(&mut df)
            .expect("write");
        buf
    }

    fn chunks(bytes: &[u8]) -> Vec<Chunk> {
        let mut reader = ParquetReader::new(Cursor::new(bytes.to_vec()));
        let meta = reader.get_metadata().expect("metadata").clone();
        super::super::parquet::chunks_of(&meta)
    }

    #[test]
    fn a_well_formed_file_passes() {
        let bytes = written(2500);
        let chunks = chunks(&bytes);
        let rows: usize = chunks
            .iter()
            .filter(|c| c.column == "n")
            .map(|c| c.rows)
            .sum();
        assert_eq!(rows, 2500);
        assert!(chunks.len() >= 4, "{} chunks", chunks.len());
        assert!(chunks.iter().all(|c| c.flat && c.values == c.rows as i64));
        check(Cursor::new(&bytes), bytes.len() as u64, &chunks).expect("clean file");
    }

    #[test]
    fn a_chunk_claiming_more_values_than_rows_is_named() {
        let bytes = written(10);
        let mut chunks = chunks(&bytes);
        chunks[1].values = 11;
        let err = check(Cursor::new(&bytes), bytes.len() as u64, &chunks).unwrap_err();
        assert_eq!(
            err,
            "bad Parquet file: row group 0, column \"n\": the footer claims 11 values in a row \
             group of 10 rows"
        );
    }

    #[test]
    fn a_page_with_a_negative_count_is_refused() {
        let mut header = PageHeader {
            type_: PageType::DATA_PAGE,
            uncompressed_page_size: 10,
            compressed_page_size: 10,
            crc: None,
            data_page_header: Some(polars_parquet_format::DataPageHeader {
                num_values: -8,
                encoding: polars_parquet_format::Encoding::PLAIN,
                definition_level_encoding: polars_parquet_format::Encoding::RLE,
                repetition_level_encoding: polars_parquet_format::Encoding::RLE,
                statistics: None,
            }),
            index_page_header: None,
            dictionary_page_header: None,
            data_page_header_v2: None,
        };
        assert_eq!(
            page_values(&header, 100).unwrap_err(),
            "the value count is -8, outside 0 to 100"
        );
        if let Some(h) = header.data_page_header.as_mut() {
            h.num_values = 100;
        }
        assert_eq!(page_values(&header, 100), Ok(100));
        assert_eq!(
            page_values(&header, 99).unwrap_err(),
            "the value count is 100, outside 0 to 99"
        );
    }

    #[test]
    fn a_footer_is_checked_before_the_decoder_reads_it() {
        let bytes = written(100);
        check_footer(Cursor::new(&bytes), bytes.len() as u64).expect("clean footer");
        let mut cut = bytes.clone();
        cut.truncate(bytes.len() - 1);
        assert_eq!(
            check_footer(Cursor::new(&cut), cut.len() as u64).unwrap_err(),
            "bad Parquet file: the file does not end in PAR1"
        );
        // A footer claiming a list of 2^31 row groups in a few bytes.
        let n = bytes.len();
        let footer = u32::from_le_bytes([bytes[n - 8], bytes[n - 7], bytes[n - 6], bytes[n - 5]]);
        let start = n - 8 - footer as usize;
        let mut claim = bytes[..start].to_vec();
        // Field 1 (version, i32 = 1), then field 4 (row_groups) as a list header of structs with
        // a varint count of 2^31 - 1.
        let forged: &[u8] = &[0x15, 0x02, 0x39, 0xfc, 0xff, 0xff, 0xff, 0x07, 0x00];
        claim.extend_from_slice(forged);
        claim.extend_from_slice(&(forged.len() as u32).to_le_bytes());
        claim.extend_from_slice(b"PAR1");
        let err = check_footer(Cursor::new(&claim), claim.len() as u64).unwrap_err();
        assert!(
            err.starts_with("bad Parquet file: unreadable footer"),
            "{err}"
        );
    }

    #[test]
    fn a_chunk_running_past_the_file_is_refused() {
        let bytes = written(10);
        let mut chunks = chunks(&bytes);
        chunks[0].end = bytes.len() as u64 + 1;
        let err = check(Cursor::new(&bytes), bytes.len() as u64, &chunks).unwrap_err();
        assert!(err.contains("lie outside the file's"), "{err}");
    }
}
