//! A MySQL or MariaDB HIS database, read without locking out its writers: keyset reads ordered
//! by the cursor and the table's integer key. MySQL exposes no physical row id, so a table is
//! read in a stable order only through a key: its single-column integer primary key (or a
//! unique, NOT NULL integer column). A table without one is refused with that reason. Values are
//! read as MySQL spells them as text.
//!
//! Like the PostgreSQL reader it drives its one connection with a small runtime of its own: use
//! it from a blocking thread, never from async code.

use super::{Chunk, Column, CursorValue, Position};
use crate::IngestError;
use sqlx::{
    Connection, MySqlConnection, Row,
    mysql::{MySqlConnectOptions, MySqlRow},
};
use std::{str::FromStr, sync::Mutex, time::Duration};

pub struct MysqlSource {
    name: String,
    database: String,
    runtime: tokio::runtime::Runtime,
    conn: Mutex<MySqlConnection>,
}

impl std::fmt::Debug for MysqlSource {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("MysqlSource")
            .field("name", &self.name)
            .finish()
    }
}

fn quote(ident: &str) -> String {
    format!("`{}`", ident.replace('`', "``"))
}

/// Binary types, read in hex (`\x…`) as the SQLite reader writes blobs.
const BINARY_TYPES: [&str; 6] = [
    "BINARY",
    "VARBINARY",
    "TINYBLOB",
    "BLOB",
    "MEDIUMBLOB",
    "LONGBLOB",
];

/// A column's value as text in the connection's character set, whatever its type.
fn as_text(column: &Column) -> String {
    let name = quote(&column.name);
    if BINARY_TYPES.contains(&column.declared_type.as_str()) {
        format!("CONCAT('\\\\x', LOWER(HEX({name})))")
    } else {
        format!("CAST({name} AS CHAR CHARACTER SET utf8mb4)")
    }
}

/// A value bound to a statement, typed so MySQL compares it as the column's type: an integer
/// key compared with text would be compared as a double, and lose precision past 2⁵³.
enum Arg {
    Int(i64),
    Text(String),
}

/// The URL with its password hidden, to name the source in messages.
pub fn display_name(url: &str) -> String {
    hdos_store::redact_url(url)
}

/// Integer types a row key may have.
const INTEGER_TYPES: [&str; 5] = ["TINYINT", "SMALLINT", "MEDIUMINT", "INT", "BIGINT"];

impl MysqlSource {
    /// Connects to `url` (mysql://user:password@host:port/database) to read its database.
    pub fn open(url: &str) -> Result<Self, IngestError> {
        let name = display_name(url);
        let unavailable = |reason: String| IngestError::SourceUnavailable {
            source_name: name.clone(),
            reason,
        };
        let runtime = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .map_err(|e| unavailable(e.to_string()))?;
        // The server's own time zone (the one the HIS writes in), not sqlx's default of UTC:
        // TIMESTAMP columns then read as the hospital's clock shows them.
        let options = MySqlConnectOptions::from_str(url)
            .map_err(|e| unavailable(e.to_string()))?
            .charset("utf8mb4")
            .timezone(None);
        let database = options
            .get_database()
            .map(str::to_owned)
            .ok_or_else(|| unavailable("the URL names no database".into()))?;
        let conn = runtime
            .block_on(async {
                tokio::time::timeout(
                    Duration::from_secs(15),
                    MySqlConnection::connect_with(&options),
                )
                .await
            })
            .map_err(|_| unavailable("no answer within 15 s".into()))?
            .map_err(|e| unavailable(e.to_string()))?;
        Ok(Self {
            name,
            database,
            runtime,
            conn: Mutex::new(conn),
        })
    }

    fn error(&self, e: impl std::fmt::Display) -> IngestError {
        IngestError::Source {
            source_name: self.name.clone(),
            reason: e.to_string(),
        }
    }

    fn query(&self, sql: &str, args: &[Arg]) -> Result<Vec<MySqlRow>, IngestError> {
        let mut conn = self
            .conn
            .lock()
            .map_err(|_| self.error("the connection was poisoned by a panic"))?;
        let mut q = sqlx::query(sql);
        for a in args {
            q = match a {
                Arg::Int(i) => q.bind(*i),
                Arg::Text(t) => q.bind(t.as_str()),
            };
        }
        self.runtime
            .block_on(q.fetch_all(&mut *conn))
            .map_err(|e| self.error(e))
    }

    fn text(&self, row: &MySqlRow, i: usize) -> Result<Option<String>, IngestError> {
        row.try_get::<Option<String>, _>(i)
            .map_err(|e| self.error(e))
    }

    fn table_ref(&self, table: &str) -> String {
        format!("{}.{}", quote(&self.database), quote(table))
    }

    /// The database's tables, by name.
    pub fn tables(&self) -> Result<Vec<String>, IngestError> {
        let rows = self.query(
            "SELECT CAST(table_name AS CHAR) FROM information_schema.tables \
             WHERE table_schema = ? AND table_type = 'BASE TABLE' ORDER BY 1",
            &[Arg::Text(self.database.clone())],
        )?;
        rows.iter()
            .map(|r| Ok(self.text(r, 0)?.unwrap_or_default()))
            .collect()
    }

    /// The table's columns with their MySQL type names (`BIGINT`, `DATETIME`, `VARCHAR`).
    pub fn columns(&self, table: &str) -> Result<Vec<Column>, IngestError> {
        let rows = self.query(
            "SELECT CAST(column_name AS CHAR), CAST(upper(data_type) AS CHAR) \
             FROM information_schema.columns \
             WHERE table_schema = ? AND table_name = ? ORDER BY ordinal_position",
            &[
                Arg::Text(self.database.clone()),
                Arg::Text(table.to_owned()),
            ],
        )?;
        let cols = rows
            .iter()
            .map(|r| {
                Ok(Column {
                    name: self.text(r, 0)?.unwrap_or_default(),
                    declared_type: self.text(r, 1)?.unwrap_or_default(),
                })
            })
            .collect::<Result<Vec<_>, IngestError>>()?;
        super::found(cols, &self.name, table)
    }

    /// The column that orders rows with equal cursor values: a single-column primary key or
    /// unique index on a NOT NULL integer column, the primary key first.
    pub fn row_key(&self, table: &str) -> Result<String, IngestError> {
        let rows = self.query(
            "SELECT CAST(s.column_name AS CHAR), CAST(upper(c.data_type) AS CHAR) \
             FROM information_schema.statistics s \
             JOIN information_schema.columns c ON c.table_schema = s.table_schema \
               AND c.table_name = s.table_name AND c.column_name = s.column_name \
             WHERE s.table_schema = ? AND s.table_name = ? AND s.non_unique = 0 \
               AND c.is_nullable = 'NO' \
               AND (SELECT count(*) FROM information_schema.statistics t \
                    WHERE t.table_schema = s.table_schema AND t.table_name = s.table_name \
                      AND t.index_name = s.index_name) = 1 \
             ORDER BY s.index_name <> 'PRIMARY', s.index_name",
            &[
                Arg::Text(self.database.clone()),
                Arg::Text(table.to_owned()),
            ],
        )?;
        for r in &rows {
            let (Some(column), Some(ty)) = (self.text(r, 0)?, self.text(r, 1)?) else {
                continue;
            };
            if INTEGER_TYPES.contains(&ty.as_str()) {
                return Ok(column);
            }
        }
        // Distinguish a missing table from one without a key.
        self.columns(table)?;
        Err(self.error(format!(
            "table `{table}` has no single-column integer primary key or unique NOT NULL \
             integer column, which MySQL collection needs to read rows in a stable order; \
             add one (for example `id BIGINT AUTO_INCREMENT PRIMARY KEY`)"
        )))
    }

    fn select_list(cols: &[Column]) -> String {
        cols.iter().map(as_text).collect::<Vec<_>>().join(", ")
    }

    fn texts(
        &self,
        row: &MySqlRow,
        from: usize,
        n: usize,
    ) -> Result<Vec<Option<String>>, IngestError> {
        (from..from + n).map(|i| self.text(row, i)).collect()
    }

    /// Up to `limit` rows drawn at random from the table, for suggesting mappings.
    pub fn sample(
        &self,
        table: &str,
        limit: usize,
    ) -> Result<Vec<Vec<Option<String>>>, IngestError> {
        let cols = self.columns(table)?;
        let sql = format!(
            "SELECT {} FROM {} ORDER BY rand() LIMIT {limit}",
            Self::select_list(&cols),
            self.table_ref(table)
        );
        self.query(&sql, &[])?
            .iter()
            .map(|r| self.texts(r, 0, cols.len()))
            .collect()
    }

    /// Reads up to `limit` rows after `after`, in (cursor, key) order with NULL cursors first
    /// (MySQL's ascending order), or key order without a cursor column.
    pub fn read_chunk(
        &self,
        table: &str,
        cursor: Option<&str>,
        after: Option<&Position>,
        limit: usize,
    ) -> Result<Chunk, IngestError> {
        let cols = self.columns(table)?;
        let key = quote(&self.row_key(table)?);
        let cursor_index = super::cursor_index(&cols, cursor, table, |e| self.error(e))?;
        let cursor_col = cursor_index.map(|i| quote(&cols[i].name));
        // An integer cursor is bound as an integer; anything else as text, which MySQL converts
        // to the column's type (dates and times) or compares by its collation (text).
        let integer_cursor =
            cursor_index.is_some_and(|i| INTEGER_TYPES.contains(&cols[i].declared_type.as_str()));
        let cursor_arg = |v: &CursorValue| match (integer_cursor, v.bind_text().parse::<i64>()) {
            (true, Ok(i)) => Arg::Int(i),
            _ => Arg::Text(v.bind_text()),
        };
        let mut args: Vec<Arg> = Vec::new();
        // Spelled out rather than as a row comparison, so the indexes on cursor and key serve.
        let filter = match (&cursor_col, after) {
            (_, None) => String::new(),
            (None, Some(p)) => {
                args.push(Arg::Int(p.tiebreak));
                format!("WHERE {key} > ?")
            }
            (
                Some(c),
                Some(Position {
                    cursor: None,
                    tiebreak,
                    ..
                }),
            ) => {
                args.push(Arg::Int(*tiebreak));
                format!("WHERE ({c} IS NULL AND {key} > ?) OR {c} IS NOT NULL")
            }
            (
                Some(c),
                Some(Position {
                    cursor: Some(v),
                    tiebreak,
                    ..
                }),
            ) => {
                args.extend([cursor_arg(v), cursor_arg(v), Arg::Int(*tiebreak)]);
                format!("WHERE {c} > ? OR ({c} = ? AND {key} > ?)")
            }
        };
        let order = match &cursor_col {
            Some(c) => format!("{c}, {key}"),
            None => key.clone(),
        };
        let cursor_select = cursor_col.as_ref().map_or("NULL".to_owned(), |c| {
            format!("CAST({c} AS CHAR CHARACTER SET utf8mb4)")
        });
        let sql = format!(
            "SELECT CAST({key} AS SIGNED), {cursor_select}, {} FROM {} {filter} ORDER BY {order} LIMIT {limit}",
            Self::select_list(&cols),
            self.table_ref(table),
        );
        let mut chunk = Chunk::default();
        for r in self.query(&sql, &args)? {
            let tiebreak: i64 = r.try_get(0).map_err(|e| self.error(e))?;
            let cursor = self.text(&r, 1)?;
            let values = self.texts(&r, 2, cols.len())?;
            chunk.push_text_row(cursor, tiebreak, values);
        }
        Ok(chunk)
    }
}
