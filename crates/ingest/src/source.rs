//! Sources: the hospital systems collection reads from. Values arrive as text, as the source
//! spells them, so the raw zone keeps them as received and mapping decides what they mean.

pub mod file;
pub mod mysql;
pub mod postgres;
pub mod sqlite;

use crate::IngestError;
use serde::{Deserialize, Serialize};
use std::path::PathBuf;

/// Where a batch job reads a table from.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum BatchSource {
    /// A SQLite database; the job names the table.
    Sqlite(PathBuf),
    /// A data file, which is one table.
    File(PathBuf),
    /// A schema of a PostgreSQL database; the URL carries the credentials, so it never prints.
    Postgres {
        url: hdos_store::Secret,
        schema: String,
    },
    /// A MySQL or MariaDB database, named by its URL (which carries the credentials).
    Mysql { url: hdos_store::Secret },
}

/// A source opened to read one table in chunks.
#[derive(Debug)]
pub enum TableReader {
    Sqlite {
        source: sqlite::SqliteSource,
        table: String,
        cursor: Option<String>,
    },
    File(file::FileSource),
    Postgres {
        source: postgres::PostgresSource,
        table: String,
        cursor: Option<String>,
    },
    Mysql {
        source: mysql::MysqlSource,
        table: String,
        cursor: Option<String>,
    },
}

impl BatchSource {
    pub fn open(&self, table: &str, cursor: Option<&str>) -> Result<TableReader, IngestError> {
        Ok(match self {
            Self::Sqlite(path) => TableReader::Sqlite {
                source: sqlite::SqliteSource::open(path)?,
                table: table.to_owned(),
                cursor: cursor.map(str::to_owned),
            },
            Self::File(path) => TableReader::File(file::FileSource::open(path)?),
            Self::Postgres { url, schema } => TableReader::Postgres {
                source: postgres::PostgresSource::open(url.expose(), schema)?,
                table: table.to_owned(),
                cursor: cursor.map(str::to_owned),
            },
            Self::Mysql { url } => TableReader::Mysql {
                source: mysql::MysqlSource::open(url.expose())?,
                table: table.to_owned(),
                cursor: cursor.map(str::to_owned),
            },
        })
    }

    /// What to call the source in messages, without its credentials.
    pub fn display_name(&self) -> String {
        match self {
            Self::Sqlite(p) | Self::File(p) => p.display().to_string(),
            Self::Postgres { url, schema } => postgres::display_name(url.expose(), schema),
            Self::Mysql { url } => mysql::display_name(url.expose()),
        }
    }
}

/// A database source opened to list and sample its tables, for suggesting mappings.
#[derive(Debug)]
pub enum Catalog {
    Sqlite(sqlite::SqliteSource),
    Postgres(postgres::PostgresSource),
    Mysql(mysql::MysqlSource),
}

impl BatchSource {
    /// The source's catalogue; a data file is one table and has none.
    pub fn catalog(&self) -> Result<Catalog, IngestError> {
        match self {
            Self::Sqlite(path) => Ok(Catalog::Sqlite(sqlite::SqliteSource::open(path)?)),
            Self::Postgres { url, schema } => Ok(Catalog::Postgres(
                postgres::PostgresSource::open(url.expose(), schema)?,
            )),
            Self::Mysql { url } => Ok(Catalog::Mysql(mysql::MysqlSource::open(url.expose())?)),
            Self::File(path) => Err(IngestError::Source {
                source_name: path.display().to_string(),
                reason: "a data file has no tables to list".into(),
            }),
        }
    }
}

impl Catalog {
    pub fn tables(&self) -> Result<Vec<String>, IngestError> {
        match self {
            Self::Sqlite(s) => s.tables(),
            Self::Postgres(s) => s.tables(),
            Self::Mysql(s) => s.tables(),
        }
    }

    pub fn columns(&self, table: &str) -> Result<Vec<Column>, IngestError> {
        match self {
            Self::Sqlite(s) => s.columns(table),
            Self::Postgres(s) => s.columns(table),
            Self::Mysql(s) => s.columns(table),
        }
    }

    /// Up to `limit` rows spread over the table.
    pub fn sample(
        &self,
        table: &str,
        limit: usize,
    ) -> Result<Vec<Vec<Option<String>>>, IngestError> {
        match self {
            Self::Sqlite(s) => s.sample(table, limit),
            Self::Postgres(s) => s.sample(table, limit),
            Self::Mysql(s) => s.sample(table, limit),
        }
    }
}

impl TableReader {
    pub fn columns(&self) -> Result<Vec<Column>, IngestError> {
        match self {
            Self::Sqlite { source, table, .. } => source.columns(table),
            Self::File(f) => Ok(f.columns()),
            Self::Postgres { source, table, .. } => source.columns(table),
            Self::Mysql { source, table, .. } => source.columns(table),
        }
    }

    /// The next up to `limit` records after `after`.
    pub fn read_chunk(
        &mut self,
        after: Option<&Position>,
        limit: usize,
    ) -> Result<Chunk, IngestError> {
        match self {
            Self::Sqlite {
                source,
                table,
                cursor,
            } => source.read_chunk(table, cursor.as_deref(), after, limit),
            Self::File(f) => f.read_chunk(after, limit),
            Self::Postgres {
                source,
                table,
                cursor,
            } => source.read_chunk(table, cursor.as_deref(), after, limit),
            Self::Mysql {
                source,
                table,
                cursor,
            } => source.read_chunk(table, cursor.as_deref(), after, limit),
        }
    }
}

/// A source column: its name and the type the source declares.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Column {
    pub name: String,
    pub declared_type: String,
}

/// A table's columns as a catalogue listed them; none means there is no such table.
fn found(cols: Vec<Column>, source_name: &str, table: &str) -> Result<Vec<Column>, IngestError> {
    if cols.is_empty() {
        return Err(IngestError::TableNotFound {
            source_name: source_name.to_owned(),
            table: table.to_owned(),
        });
    }
    Ok(cols)
}

/// The position of the cursor column `cursor` among `cols`, or the error that it is missing.
fn cursor_index(
    cols: &[Column],
    cursor: Option<&str>,
    table: &str,
    error: impl Fn(String) -> IngestError,
) -> Result<Option<usize>, IngestError> {
    cursor
        .map(|c| {
            cols.iter()
                .position(|col| col.name == c)
                .ok_or_else(|| error(format!("cursor column `{c}` not in table `{table}`")))
        })
        .transpose()
}

/// A cursor value as the source stores it, so the next read compares like with like.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(untagged)]
pub enum CursorValue {
    Int(i64),
    Real(f64),
    Text(String),
}

impl CursorValue {
    /// The value as text, to bind where the source converts it back to the column's type.
    fn bind_text(&self) -> String {
        match self {
            Self::Int(i) => i.to_string(),
            Self::Real(x) => x.to_string(),
            Self::Text(t) => t.clone(),
        }
    }
}

/// Where a read stopped: the last row's cursor value (`None` for a NULL cursor) and its
/// tie-breaker, so rows with equal cursor values are neither skipped nor read twice.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Position {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub cursor: Option<CursorValue>,
    pub tiebreak: i64,
    /// Set while a read from the start scans a SQLite table in storage order (`tiebreak` is the
    /// rowid): where reading in cursor order goes on once the scan ends.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub scan_from: Option<ScanStart>,
}

/// What a storage-order scan reads and where it hands over: it reads the rows up to `last_rowid`,
/// the table's last when it began; then reading goes on in cursor order after (`cursor`,
/// `rowid`), the last row in that order then. Rows changed or added since sort after it, like the
/// rows an ordered read finds after its position.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ScanStart {
    pub cursor: CursorValue,
    pub rowid: i64,
    pub last_rowid: i64,
}

impl Position {
    pub fn encode(&self) -> String {
        serde_json::to_string(self).unwrap_or_default()
    }

    pub fn decode(text: &str) -> Result<Self, String> {
        serde_json::from_str(text).map_err(|e| e.to_string())
    }
}

/// A record the source holds but that cannot be read as a row (a CSV line with the wrong number
/// of fields): where it is, why, and its text.
#[derive(Debug, Clone, PartialEq)]
pub struct Rejected {
    pub position: Position,
    pub reason: String,
    pub record: String,
}

/// Rows read in one chunk, with the position of each (the last is where the next read starts).
#[derive(Debug, Clone, Default)]
pub struct Chunk {
    pub rows: Vec<Vec<Option<String>>>,
    pub positions: Vec<Position>,
    /// Records that are not rows, in source order among them.
    pub rejected: Vec<Rejected>,
    /// Bytes of text read, for run statistics.
    pub bytes: u64,
}

impl Chunk {
    pub fn len(&self) -> usize {
        self.rows.len()
    }

    /// Adds a row a database read as text, with its cursor value (as text) and tie-breaker.
    fn push_text_row(
        &mut self,
        cursor: Option<String>,
        tiebreak: i64,
        values: Vec<Option<String>>,
    ) {
        self.bytes += values.iter().flatten().map(|v| v.len() as u64).sum::<u64>();
        self.positions.push(Position {
            cursor: cursor.map(CursorValue::Text),
            tiebreak,
            scan_from: None,
        });
        self.rows.push(values);
    }

    /// No rows and no rejected records: the source has nothing more.
    pub fn is_empty(&self) -> bool {
        self.rows.is_empty() && self.rejected.is_empty()
    }

    /// Where the next read starts: after the last row or rejected record.
    pub fn last_position(&self) -> Option<&Position> {
        match (self.positions.last(), self.rejected.last()) {
            (Some(p), Some(r)) if r.position.tiebreak > p.tiebreak => Some(&r.position),
            (Some(p), _) => Some(p),
            (None, r) => r.map(|r| &r.position),
        }
    }
}
