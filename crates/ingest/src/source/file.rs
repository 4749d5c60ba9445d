//! Data files a hospital hands over: CSV (UTF-8, GBK or GB 18030, detected), JSON lines and
//! Parquet, read in chunks as text like any table. A record that cannot be read as a row — a
//! CSV line with more or fewer fields than the header, a line that is not a JSON object — is
//! passed on as rejected with its line and the reason, never dropped.

use super::{Chunk, Column, Position, Rejected};
use crate::IngestError;
use encoding_rs::{Encoding, GB18030, UTF_8};
use hdos_lake::arrow::{
    array::{Array, AsArray},
    compute::cast,
    datatypes::DataType,
    record_batch::RecordBatch,
};
use std::{
    fs::File,
    io::{BufRead, BufReader, Read},
    path::{Path, PathBuf},
};

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum FileFormat {
    Csv,
    JsonLines,
    Parquet,
}

impl FileFormat {
    /// The format a file's extension names.
    pub fn of(path: &Path) -> Option<Self> {
        let ext = path.extension()?.to_str()?.to_ascii_lowercase();
        match ext.as_str() {
            "csv" | "txt" => Some(Self::Csv),
            "jsonl" | "ndjson" => Some(Self::JsonLines),
            "parquet" => Some(Self::Parquet),
            _ => None,
        }
    }
}

/// How many bytes are looked at to tell the encoding.
const SNIFF_BYTES: usize = 1 << 20;

/// UTF-8 when the start of the file is valid UTF-8 (a sequence cut at the end of the sample
/// allowed), else GB 18030, which reads GBK and GB 2312 too.
pub fn detect_encoding(head: &[u8]) -> &'static Encoding {
    match std::str::from_utf8(head) {
        Ok(_) => UTF_8,
        Err(e) if e.error_len().is_none() => UTF_8,
        Err(_) => GB18030,
    }
}

fn decode(encoding: &'static Encoding, bytes: &[u8]) -> String {
    let bytes = bytes.strip_prefix(b"\xef\xbb\xbf").unwrap_or(bytes);
    encoding.decode_without_bom_handling(bytes).0.into_owned()
}

/// A record read: a row and its size in bytes, or the reason it is not a row and its text.
type Record = Result<(Vec<Option<String>>, u64), (String, String)>;

enum Reader {
    Csv(csv::Reader<File>),
    Json(BufReader<File>),
    Parquet(
        Box<dyn Iterator<Item = Result<RecordBatch, hdos_lake::arrow::error::ArrowError>> + Send>,
    ),
}

/// A data file opened for reading.
pub struct FileSource {
    path: PathBuf,
    encoding: &'static Encoding,
    columns: Vec<String>,
    reader: Reader,
    /// Records read so far (data records, not counting a header).
    read: i64,
    /// Parquet rows of the current batch not yet returned.
    pending: Vec<Vec<Option<String>>>,
}

impl std::fmt::Debug for FileSource {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("FileSource")
            .field("path", &self.path)
            .field("encoding", &self.encoding.name())
            .finish_non_exhaustive()
    }
}

impl FileSource {
    pub fn open(path: &Path) -> Result<Self, IngestError> {
        let name = path.display().to_string();
        let unavailable = |reason: String| IngestError::SourceUnavailable {
            source_name: name.clone(),
            reason,
        };
        let format = FileFormat::of(path).ok_or_else(|| {
            unavailable("not a .csv, .txt, .jsonl, .ndjson or .parquet file".into())
        })?;
        let open = || File::open(path).map_err(|e| unavailable(e.to_string()));
        let mut head = Vec::new();
        open()?
            .take(SNIFF_BYTES as u64)
            .read_to_end(&mut head)
            .map_err(|e| unavailable(e.to_string()))?;
        let encoding = detect_encoding(&head);
        let (columns, reader) = match format {
            FileFormat::Csv => {
                let mut r = csv::ReaderBuilder::new()
                    .flexible(true)
                    .has_headers(true)
                    .from_reader(open()?);
                let header = r
                    .byte_headers()
                    .map_err(|e| unavailable(format!("the header line cannot be read: {e}")))?;
                let columns: Vec<String> = header
                    .iter()
                    .map(|h| decode(encoding, h).trim().to_owned())
                    .collect();
                (columns, Reader::Csv(r))
            }
            FileFormat::JsonLines => (
                json_columns(&head, encoding),
                Reader::Json(BufReader::new(open()?)),
            ),
            FileFormat::Parquet => {
                let builder =
                    hdos_lake::parquet::arrow::arrow_reader::ParquetRecordBatchReaderBuilder::try_new(open()?)
                        .map_err(|e| unavailable(e.to_string()))?;
                let columns = builder
                    .schema()
                    .fields()
                    .iter()
                    .map(|f| f.name().clone())
                    .collect();
                let reader = builder
                    .with_batch_size(8192)
                    .build()
                    .map_err(|e| unavailable(e.to_string()))?;
                (columns, Reader::Parquet(Box::new(reader)))
            }
        };
        if columns.is_empty() || columns.iter().any(String::is_empty) {
            return Err(unavailable("a column has no name".into()));
        }
        Ok(Self {
            path: path.to_owned(),
            encoding,
            columns,
            reader,
            read: 0,
            pending: Vec::new(),
        })
    }

    /// The detected text encoding (`UTF-8` or `gb18030`).
    pub fn encoding(&self) -> &'static str {
        self.encoding.name()
    }

    /// The columns, all read as text.
    pub fn columns(&self) -> Vec<Column> {
        self.columns
            .iter()
            .map(|c| Column {
                name: c.clone(),
                declared_type: "TEXT".into(),
            })
            .collect()
    }

    /// The next up to `limit` records after record number `after` (records are numbered from 1
    /// in file order; a position's tie-breaker is its record number).
    pub fn read_chunk(
        &mut self,
        after: Option<&Position>,
        limit: usize,
    ) -> Result<Chunk, IngestError> {
        let skip_to = after.map_or(0, |p| p.tiebreak);
        let mut chunk = Chunk::default();
        while chunk.len() + chunk.rejected.len() < limit {
            let Some(record) = self.next_record()? else {
                break;
            };
            self.read += 1;
            if self.read <= skip_to {
                continue;
            }
            let position = Position {
                cursor: None,
                tiebreak: self.read,
                scan_from: None,
            };
            match record {
                Ok((row, bytes)) => {
                    chunk.bytes += bytes;
                    chunk.rows.push(row);
                    chunk.positions.push(position);
                }
                Err((reason, record)) => chunk.rejected.push(Rejected {
                    position,
                    reason,
                    record,
                }),
            }
        }
        Ok(chunk)
    }

    /// The next record: a row with its byte size, or why it is not one and its text.
    fn next_record(&mut self) -> Result<Option<Record>, IngestError> {
        let width = self.columns.len();
        let encoding = self.encoding;
        let path = &self.path;
        let err = |reason: String| IngestError::Source {
            source_name: path.display().to_string(),
            reason,
        };
        match &mut self.reader {
            Reader::Csv(r) => {
                let mut record = csv::ByteRecord::new();
                let more = r
                    .read_byte_record(&mut record)
                    .map_err(|e| err(e.to_string()))?;
                if !more {
                    return Ok(None);
                }
                let line = record.position().map_or(0, |p| p.line());
                let fields: Vec<String> = record.iter().map(|f| decode(encoding, f)).collect();
                if fields.len() != width {
                    return Ok(Some(Err((
                        format!(
                            "line {line} has {} fields; the header has {width}",
                            fields.len()
                        ),
                        serde_json::to_string(&fields).unwrap_or_default(),
                    ))));
                }
                let bytes = record.as_slice().len() as u64;
                let row = fields
                    .into_iter()
                    .map(|f| Some(f).filter(|f| !f.is_empty()))
                    .collect();
                Ok(Some(Ok((row, bytes))))
            }
            Reader::Json(r) => loop {
                let mut line = Vec::new();
                let n = r
                    .read_until(b'\n', &mut line)
                    .map_err(|e| err(e.to_string()))?;
                if n == 0 {
                    return Ok(None);
                }
                let text = decode(encoding, &line);
                if text.trim().is_empty() {
                    continue;
                }
                return Ok(Some(
                    json_row(&text, &self.columns).map(|row| (row, n as u64)),
                ));
            },
            Reader::Parquet(batches) => loop {
                if let Some(row) = self.pending.pop() {
                    let bytes = row.iter().flatten().map(|v| v.len() as u64).sum();
                    return Ok(Some(Ok((row, bytes))));
                }
                let Some(batch) = batches.next() else {
                    return Ok(None);
                };
                let batch = batch.map_err(|e| err(e.to_string()))?;
                let mut rows = parquet_rows(&batch).map_err(err)?;
                rows.reverse();
                self.pending = rows;
            },
        }
    }
}

/// The keys of the JSON objects in the first lines, each object's keys in name order.
fn json_columns(head: &[u8], encoding: &'static Encoding) -> Vec<String> {
    let text = decode(encoding, head);
    let mut columns: Vec<String> = Vec::new();
    for line in text.lines().take(1000) {
        if let Ok(serde_json::Value::Object(map)) = serde_json::from_str(line) {
            for k in map.keys() {
                if !columns.contains(k) {
                    columns.push(k.clone());
                }
            }
        }
    }
    columns
}

/// A JSON-lines record as text values in column order: strings as they are, numbers and
/// booleans as written, nested values as JSON text.
fn json_row(line: &str, columns: &[String]) -> Result<Vec<Option<String>>, (String, String)> {
    let value: serde_json::Value = serde_json::from_str(line)
        .map_err(|e| (format!("not valid JSON: {e}"), line.trim_end().to_owned()))?;
    let serde_json::Value::Object(map) = value else {
        return Err(("not a JSON object".into(), line.trim_end().to_owned()));
    };
    if let Some(extra) = map.keys().find(|k| !columns.contains(k)) {
        return Err((
            format!("key `{extra}` is not among the file's columns (seen in its first lines)"),
            line.trim_end().to_owned(),
        ));
    }
    Ok(columns
        .iter()
        .map(|c| match map.get(c) {
            None | Some(serde_json::Value::Null) => None,
            Some(serde_json::Value::String(s)) => Some(s.clone()),
            Some(other) => Some(other.to_string()),
        })
        .collect())
}

/// A Parquet batch's rows as text, each column cast to UTF-8 by Arrow.
fn parquet_rows(batch: &RecordBatch) -> Result<Vec<Vec<Option<String>>>, String> {
    let columns = batch
        .columns()
        .iter()
        .map(|c| cast(c, &DataType::Utf8).map_err(|e| e.to_string()))
        .collect::<Result<Vec<_>, _>>()?;
    Ok((0..batch.num_rows())
        .map(|i| {
            columns
                .iter()
                .map(|c| {
                    let s = c.as_string::<i32>();
                    (!s.is_null(i)).then(|| s.value(i).to_owned())
                })
                .collect()
        })
        .collect())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn write(dir: &Path, name: &str, bytes: &[u8]) -> PathBuf {
        let p = dir.join(name);
        std::fs::write(&p, bytes).unwrap();
        p
    }

    #[test]
    fn gbk_and_utf8_csv_read_the_same_text() {
        let dir = tempfile::tempdir().unwrap();
        let text = "患者编号,姓名,性别\nP1,张三,男\nP2,\"李,四\",女\n";
        let (gbk, _, _) = encoding_rs::GBK.encode(text);
        for (name, bytes) in [
            ("u.csv", text.as_bytes().to_vec()),
            ("g.csv", gbk.into_owned()),
        ] {
            let mut s = FileSource::open(&write(dir.path(), name, &bytes)).unwrap();
            let names: Vec<String> = s.columns().into_iter().map(|c| c.name).collect();
            assert_eq!(names, ["患者编号", "姓名", "性别"], "{name}");
            let chunk = s.read_chunk(None, 10).unwrap();
            assert_eq!(chunk.rows[1][1].as_deref(), Some("李,四"), "{name}");
            assert_eq!(chunk.rows[0][2].as_deref(), Some("男"), "{name}");
        }
        let bom = [b"\xef\xbb\xbf".as_slice(), text.as_bytes()].concat();
        let s = FileSource::open(&write(dir.path(), "b.csv", &bom)).unwrap();
        assert_eq!(
            s.columns()[0].name,
            "患者编号",
            "a BOM is not part of the name"
        );
        assert_eq!(s.encoding(), "UTF-8");
    }

    #[test]
    fn a_ragged_line_is_rejected_with_its_line_and_the_rest_read() {
        let dir = tempfile::tempdir().unwrap();
        let p = write(
            dir.path(),
            "r.csv",
            b"a,b,c\n1,2,3\n4,5\n6,7,8,9\n10,11,12\n",
        );
        let mut s = FileSource::open(&p).unwrap();
        let chunk = s.read_chunk(None, 2).unwrap();
        assert_eq!(chunk.rows.len(), 1);
        assert_eq!(chunk.rejected.len(), 1);
        assert!(
            chunk.rejected[0].reason.contains("line 3 has 2 fields"),
            "{:?}",
            chunk.rejected
        );
        let rest = s.read_chunk(None, 10).unwrap();
        assert_eq!(rest.rows.len(), 1);
        assert_eq!(rest.rejected.len(), 1);
        assert_eq!(rest.positions[0].tiebreak, 4, "records keep their numbers");
        let mut again = FileSource::open(&p).unwrap();
        let resumed = again
            .read_chunk(
                Some(&Position {
                    cursor: None,
                    tiebreak: 3,
                    scan_from: None,
                }),
                10,
            )
            .unwrap();
        assert_eq!(resumed.rows.len(), 1, "resumes after record 3");
        assert_eq!(resumed.rows[0][0].as_deref(), Some("10"));
    }

    #[test]
    fn json_lines_become_rows_and_bad_lines_are_rejected() {
        let dir = tempfile::tempdir().unwrap();
        let p = write(
            dir.path(),
            "j.jsonl",
            "{\"id\":\"1\",\"fee\":12.5,\"ok\":true}\n\n{\"id\":\"2\",\"fee\":null}\nnot json\n[1]\n"
                .as_bytes(),
        );
        let mut s = FileSource::open(&p).unwrap();
        let names: Vec<String> = s.columns().into_iter().map(|c| c.name).collect();
        assert_eq!(names, ["fee", "id", "ok"]);
        let chunk = s.read_chunk(None, 10).unwrap();
        assert_eq!(
            chunk.rows[0],
            [Some("12.5".into()), Some("1".into()), Some("true".into())]
        );
        assert_eq!(chunk.rows[1], [None, Some("2".into()), None]);
        assert_eq!(chunk.rejected.len(), 2);
    }

    #[test]
    fn unknown_extensions_and_missing_files_are_clear() {
        let dir = tempfile::tempdir().unwrap();
        let e = FileSource::open(&dir.path().join("x.xlsx")).unwrap_err();
        assert!(e.to_string().contains(".csv"), "{e}");
        let e = FileSource::open(&dir.path().join("none.csv")).unwrap_err();
        assert!(e.to_string().contains("none.csv"), "{e}");
    }
}
