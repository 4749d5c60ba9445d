//! An institution's HIS database: one SQLite file in its vendor's schema. The file is written
//! under a temporary name and renamed when complete, so a crash never leaves a half-written
//! database that looks finished.

use crate::{
    SynthError,
    record::{Dataset, Row},
    vendor::{Cell, SqlValue, Vendor},
};
use rusqlite::{
    Connection,
    types::{ToSqlOutput, ValueRef},
};
use std::path::{Path, PathBuf};

impl rusqlite::ToSql for SqlValue {
    fn to_sql(&self) -> rusqlite::Result<ToSqlOutput<'_>> {
        Ok(match self {
            SqlValue::Null => ToSqlOutput::Borrowed(ValueRef::Null),
            SqlValue::Int(i) => ToSqlOutput::Borrowed(ValueRef::Integer(*i)),
            SqlValue::Real(x) => ToSqlOutput::Borrowed(ValueRef::Real(*x)),
            SqlValue::Text(s) => ToSqlOutput::Borrowed(ValueRef::Text(s.as_bytes())),
            // Stored with TEXT type but not valid UTF-8, as a GBK client leaves it.
            SqlValue::RawText(b) => ToSqlOutput::Borrowed(ValueRef::Text(b)),
        })
    }
}

/// Rows of one dataset rendered in a vendor's formats into one shared buffer: two growing
/// allocations per batch instead of a string per value.
#[derive(Debug, Default)]
pub struct RenderedRows {
    width: usize,
    bytes: Vec<u8>,
    cells: Vec<Cell>,
}

impl RenderedRows {
    pub fn push(&mut self, vendor: Vendor, row: &Row) {
        let fields = row.dataset.fields();
        self.width = fields.len() + 1;
        for (f, v) in fields.iter().zip(&row.values) {
            let cell = vendor.render_into(f, v, &mut self.bytes);
            self.cells.push(cell);
        }
        let cell = vendor.timestamp_into(row.updated_at, &mut self.bytes);
        self.cells.push(cell);
    }

    pub fn len(&self) -> usize {
        self.cells.len().checked_div(self.width).unwrap_or(0)
    }

    pub fn is_empty(&self) -> bool {
        self.cells.is_empty()
    }
}

/// A cell bound with the buffer its text lives in.
struct CellRef<'a>(Cell, &'a [u8]);

impl rusqlite::ToSql for CellRef<'_> {
    fn to_sql(&self) -> rusqlite::Result<ToSqlOutput<'_>> {
        Ok(ToSqlOutput::Borrowed(match self.0 {
            Cell::Null => ValueRef::Null,
            Cell::Int(i) => ValueRef::Integer(i),
            Cell::Real(x) => ValueRef::Real(x),
            // TEXT even when not UTF-8, as a GBK client leaves it.
            Cell::Text(start, end) => ValueRef::Text(&self.1[start..end]),
        }))
    }
}

/// Writes one institution's HIS database.
pub struct HisWriter {
    conn: Connection,
    vendor: Vendor,
    inserts: Vec<String>,
    partial: PathBuf,
    path: PathBuf,
}

impl std::fmt::Debug for HisWriter {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("HisWriter")
            .field("path", &self.path)
            .finish()
    }
}

impl HisWriter {
    /// Creates the database with the vendor's tables, replacing a previous partial file.
    pub fn create(path: &Path, vendor: Vendor) -> Result<Self, SynthError> {
        let partial = path.with_extension("sqlite.partial");
        if partial.exists() {
            std::fs::remove_file(&partial)?;
        }
        let conn = Connection::open(&partial)?;
        // The file is renamed into place only when complete, so no journal is needed while
        // writing; the finished file uses SQLite's default rollback journal.
        conn.execute_batch("PRAGMA journal_mode = OFF; PRAGMA synchronous = OFF;")?;
        // Indexes are built once the rows are in (see `finish`): faster than maintaining them.
        for d in Dataset::ALL {
            conn.execute(&vendor.create_table(d, false), [])?;
        }
        conn.execute_batch("BEGIN")?;
        let inserts = Dataset::ALL.iter().map(|d| vendor.insert_sql(*d)).collect();
        Ok(Self {
            conn,
            vendor,
            inserts,
            partial,
            path: path.to_owned(),
        })
    }

    /// Inserts rendered rows of one dataset.
    pub fn write(&mut self, dataset: Dataset, rows: &RenderedRows) -> Result<(), SynthError> {
        if rows.is_empty() {
            return Ok(());
        }
        let mut stmt = self.conn.prepare_cached(&self.inserts[dataset.index()])?;
        for cells in rows.cells.chunks(rows.width) {
            stmt.execute(rusqlite::params_from_iter(
                cells.iter().map(|c| CellRef(*c, &rows.bytes)),
            ))?;
        }
        Ok(())
    }

    /// Commits what was written so far.
    pub fn checkpoint(&mut self) -> Result<(), SynthError> {
        self.conn.execute_batch("COMMIT; BEGIN")?;
        Ok(())
    }

    /// Builds the indexes, commits, closes and moves the file into place.
    pub fn finish(self) -> Result<PathBuf, SynthError> {
        // A larger page cache lets the index sorts run in memory (32 MiB, per file in turn).
        self.conn.execute_batch("PRAGMA cache_size = -32768")?;
        for d in Dataset::ALL {
            for stmt in self.vendor.create_indexes(d) {
                self.conn.execute(&stmt, [])?;
            }
        }
        self.conn.execute_batch("COMMIT")?;
        self.conn.close().map_err(|(_, e)| SynthError::from(e))?;
        std::fs::rename(&self.partial, &self.path)?;
        Ok(self.path)
    }
}

/// A row's values in the vendor's formats, in column order (the update time last).
pub fn render(vendor: Vendor, row: &Row) -> Vec<SqlValue> {
    let mut values: Vec<SqlValue> = row
        .dataset
        .fields()
        .iter()
        .zip(&row.values)
        .map(|(f, v)| vendor.render(f, v))
        .collect();
    values.push(vendor.timestamp(row.updated_at));
    values
}

/// A stored value as the vendor wrote it; TEXT that is not UTF-8 comes back as raw bytes.
fn stored(v: ValueRef<'_>) -> SqlValue {
    match v {
        ValueRef::Null => SqlValue::Null,
        ValueRef::Integer(i) => SqlValue::Int(i),
        ValueRef::Real(x) => SqlValue::Real(x),
        ValueRef::Text(b) | ValueRef::Blob(b) => match std::str::from_utf8(b) {
            Ok(s) => SqlValue::Text(s.to_owned()),
            Err(_) => SqlValue::RawText(b.to_vec()),
        },
    }
}

/// Reads a dataset's rows back into standard form, in storage order.
pub fn read_rows(
    conn: &Connection,
    vendor: Vendor,
    dataset: Dataset,
) -> Result<Vec<Row>, SynthError> {
    let cols = vendor.columns(dataset);
    let sql = format!(
        "SELECT {} FROM {} ORDER BY rowid",
        cols.iter()
            .map(|c| Vendor::quote(c))
            .collect::<Vec<_>>()
            .join(", "),
        Vendor::quote(vendor.table(dataset))
    );
    let mut stmt = conn.prepare(&sql)?;
    let fields = dataset.fields();
    let rows = stmt.query_map([], |r| {
        let mut values = Vec::with_capacity(fields.len());
        for (i, f) in fields.iter().enumerate() {
            values.push(vendor.parse(f, &stored(r.get_ref(i)?)));
        }
        let updated = vendor.parse_timestamp(&stored(r.get_ref(fields.len())?));
        Ok((values, updated))
    })?;
    let mut out = Vec::new();
    for row in rows {
        let (values, updated) = row?;
        out.push(Row {
            dataset,
            values,
            updated_at: updated.unwrap_or_default(),
        });
    }
    Ok(out)
}
