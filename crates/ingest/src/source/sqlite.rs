//! A SQLite HIS database, read without locking out its writers: keyset reads ordered by the
//! cursor and the rowid, which real SQLite tables always have.

use super::{Chunk, Column, CursorValue, Position, ScanStart};
use crate::IngestError;
use rusqlite::{Connection, OpenFlags, types::ValueRef};
use std::{fmt::Write as _, path::Path};

pub struct SqliteSource {
    name: String,
    conn: Connection,
}

impl std::fmt::Debug for SqliteSource {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SqliteSource")
            .field("name", &self.name)
            .finish()
    }
}

fn quote(ident: &str) -> String {
    format!("\"{}\"", ident.replace('"', "\"\""))
}

/// The text of a value as received: integers and reals in their shortest decimal spelling,
/// text as it is (invalid UTF-8 replaced, so mapping can reject it by its reason), blobs in hex.
fn as_text(v: ValueRef<'_>) -> Option<String> {
    match v {
        ValueRef::Null => None,
        ValueRef::Integer(i) => Some(i.to_string()),
        ValueRef::Real(x) => Some(x.to_string()),
        ValueRef::Text(b) => Some(String::from_utf8_lossy(b).into_owned()),
        ValueRef::Blob(b) => Some(b.iter().fold(String::from("\\x"), |mut s, byte| {
            let _ = write!(s, "{byte:02x}");
            s
        })),
    }
}

fn as_cursor(v: ValueRef<'_>) -> Option<CursorValue> {
    match v {
        ValueRef::Null => None,
        ValueRef::Integer(i) => Some(CursorValue::Int(i)),
        ValueRef::Real(x) => Some(CursorValue::Real(x)),
        ValueRef::Text(b) | ValueRef::Blob(b) => {
            Some(CursorValue::Text(String::from_utf8_lossy(b).into_owned()))
        }
    }
}

impl SqliteSource {
    /// Opens the database read-only.
    pub fn open(path: &Path) -> Result<Self, IngestError> {
        let name = path.display().to_string();
        let unavailable = |reason: String| IngestError::SourceUnavailable {
            source_name: name.clone(),
            reason,
        };
        if !path.is_file() {
            return Err(unavailable("no such file".into()));
        }
        let conn = Connection::open_with_flags(
            path,
            OpenFlags::SQLITE_OPEN_READ_ONLY | OpenFlags::SQLITE_OPEN_NO_MUTEX,
        )
        .map_err(|e| unavailable(e.to_string()))?;
        // A file that is not a database fails here rather than on the first read.
        conn.query_row("SELECT count(*) FROM sqlite_schema", [], |r| {
            r.get::<_, i64>(0)
        })
        .map_err(|e| unavailable(e.to_string()))?;
        Ok(Self { name, conn })
    }

    fn error(&self, e: impl std::fmt::Display) -> IngestError {
        IngestError::Source {
            source_name: self.name.clone(),
            reason: e.to_string(),
        }
    }

    /// The user tables, by name.
    pub fn tables(&self) -> Result<Vec<String>, IngestError> {
        let mut stmt = self
            .conn
            .prepare(
                "SELECT name FROM sqlite_schema WHERE type = 'table' \
                 AND name NOT LIKE 'sqlite_%' ORDER BY name",
            )
            .map_err(|e| self.error(e))?;
        let names = stmt
            .query_map([], |r| r.get(0))
            .and_then(Iterator::collect)
            .map_err(|e| self.error(e))?;
        Ok(names)
    }

    pub fn columns(&self, table: &str) -> Result<Vec<Column>, IngestError> {
        let mut stmt = self
            .conn
            .prepare("SELECT name, type FROM pragma_table_info(?1) ORDER BY cid")
            .map_err(|e| self.error(e))?;
        let cols: Vec<Column> = stmt
            .query_map([table], |r| {
                Ok(Column {
                    name: r.get(0)?,
                    declared_type: r.get(1)?,
                })
            })
            .and_then(Iterator::collect)
            .map_err(|e| self.error(e))?;
        super::found(cols, &self.name, table)
    }

    pub fn count(&self, table: &str) -> Result<u64, IngestError> {
        self.conn
            .query_row(&format!("SELECT count(*) FROM {}", quote(table)), [], |r| {
                r.get::<_, i64>(0)
            })
            .map(|n| n.max(0) as u64)
            .map_err(|e| self.error(e))
    }

    /// Up to `limit` rows spread over the table (every k-th rowid), for suggesting mappings.
    pub fn sample(
        &self,
        table: &str,
        limit: usize,
    ) -> Result<Vec<Vec<Option<String>>>, IngestError> {
        let total = self.count(table)?;
        let step = (total / limit.max(1) as u64).max(1);
        let cols = self.columns(table)?;
        let sql = format!(
            "SELECT {} FROM {} WHERE rowid % ?1 = 0 LIMIT ?2",
            select_list(&cols),
            quote(table)
        );
        let mut stmt = self.conn.prepare(&sql).map_err(|e| self.error(e))?;
        let rows = stmt
            .query_map(rusqlite::params![step as i64, limit as i64], |r| {
                (0..cols.len())
                    .map(|i| r.get_ref(i).map(as_text))
                    .collect::<Result<Vec<_>, _>>()
            })
            .and_then(Iterator::collect)
            .map_err(|e| self.error(e))?;
        Ok(rows)
    }

    /// Reads up to `limit` rows after `after`, in (cursor, rowid) order, or rowid order
    /// without a cursor column. A read from the start with a cursor column first scans the
    /// table in storage order (see [`Position::scan_from`]): through the cursor's index every
    /// row is a random lookup, which made reading a large table several times slower.
    pub fn read_chunk(
        &self,
        table: &str,
        cursor: Option<&str>,
        after: Option<&Position>,
        limit: usize,
    ) -> Result<Chunk, IngestError> {
        let Some(c) = cursor else {
            return self.read_ordered(table, cursor, after, limit);
        };
        let (start, after_rowid) = match after {
            None => match self.last_in_cursor_order(table, c)? {
                Some(start) => (start, i64::MIN),
                // No row has a cursor value: the ordered read is the whole table.
                None => return self.read_ordered(table, cursor, after, limit),
            },
            Some(Position {
                scan_from: Some(start),
                tiebreak,
                ..
            }) => (start.clone(), *tiebreak),
            Some(_) => return self.read_ordered(table, cursor, after, limit),
        };
        let mut chunk = self.read_scan(table, c, (after_rowid, start.last_rowid), limit)?;
        if chunk.is_empty() {
            let from = Position {
                cursor: Some(start.cursor),
                tiebreak: start.rowid,
                scan_from: None,
            };
            return self.read_ordered(table, cursor, Some(&from), limit);
        }
        for p in &mut chunk.positions {
            p.scan_from = Some(start.clone());
        }
        Ok(chunk)
    }

    /// The last row in (cursor, rowid) order and the last rowid, if any row has a cursor value.
    fn last_in_cursor_order(
        &self,
        table: &str,
        cursor: &str,
    ) -> Result<Option<ScanStart>, IngestError> {
        let sql = format!(
            "SELECT {c}, rowid FROM {t} WHERE {c} IS NOT NULL ORDER BY {c} DESC, rowid DESC LIMIT 1",
            c = quote(cursor),
            t = quote(table)
        );
        let mut stmt = self.conn.prepare(&sql).map_err(|e| self.error(e))?;
        let mut rows = stmt.query([]).map_err(|e| self.error(e))?;
        let Some(r) = rows.next().map_err(|e| self.error(e))? else {
            return Ok(None);
        };
        let value = as_cursor(r.get_ref(0).map_err(|e| self.error(e))?);
        let rowid: i64 = r.get(1).map_err(|e| self.error(e))?;
        let last_rowid: i64 = self
            .conn
            .query_row(
                &format!("SELECT max(rowid) FROM {}", quote(table)),
                [],
                |r| r.get(0),
            )
            .map_err(|e| self.error(e))?;
        Ok(value.map(|cursor| ScanStart {
            cursor,
            rowid,
            last_rowid,
        }))
    }

    /// Up to `limit` rows with rowids in `(after, last]`, in storage (rowid) order, with their
    /// cursor values.
    fn read_scan(
        &self,
        table: &str,
        cursor: &str,
        (after, last): (i64, i64),
        limit: usize,
    ) -> Result<Chunk, IngestError> {
        let cols = self.columns(table)?;
        let cursor_index = super::cursor_index(&cols, Some(cursor), table, |e| self.error(e))?;
        let sql = format!(
            "SELECT rowid, {} FROM {} WHERE rowid > ?1 AND rowid <= ?2 ORDER BY rowid LIMIT ?3",
            select_list(&cols),
            quote(table)
        );
        self.read_rows(
            &sql,
            vec![after.into(), last.into(), (limit as i64).into()],
            cols.len(),
            cursor_index,
        )
    }

    fn read_ordered(
        &self,
        table: &str,
        cursor: Option<&str>,
        after: Option<&Position>,
        limit: usize,
    ) -> Result<Chunk, IngestError> {
        let cols = self.columns(table)?;
        let cursor_index = super::cursor_index(&cols, cursor, table, |e| self.error(e))?;
        let order = match cursor {
            Some(c) => format!("{}, rowid", quote(c)),
            None => "rowid".to_owned(),
        };
        let mut args: Vec<rusqlite::types::Value> = Vec::new();
        let filter = match (cursor, after) {
            (_, None) => String::new(),
            (None, Some(p)) => {
                args.push(p.tiebreak.into());
                "WHERE rowid > ?1".to_owned()
            }
            // NULL sorts first in SQLite: after a NULL cursor come the other NULL rows by
            // rowid, then every non-NULL value.
            (
                Some(c),
                Some(Position {
                    cursor: None,
                    tiebreak,
                    ..
                }),
            ) => {
                args.push((*tiebreak).into());
                format!(
                    "WHERE ({c} IS NULL AND rowid > ?1) OR {c} IS NOT NULL",
                    c = quote(c)
                )
            }
            (
                Some(c),
                Some(Position {
                    cursor: Some(v),
                    tiebreak,
                    ..
                }),
            ) => {
                args.push(match v {
                    CursorValue::Int(i) => (*i).into(),
                    CursorValue::Real(x) => (*x).into(),
                    CursorValue::Text(t) => t.clone().into(),
                });
                args.push((*tiebreak).into());
                format!("WHERE ({}, rowid) > (?1, ?2)", quote(c))
            }
        };
        args.push((limit as i64).into());
        let sql = format!(
            "SELECT rowid, {} FROM {} {filter} ORDER BY {order} LIMIT ?{}",
            select_list(&cols),
            quote(table),
            args.len()
        );
        self.read_rows(&sql, args, cols.len(), cursor_index)
    }

    /// Runs a read whose first column is the rowid, then `width` columns.
    fn read_rows(
        &self,
        sql: &str,
        args: Vec<rusqlite::types::Value>,
        width: usize,
        cursor_index: Option<usize>,
    ) -> Result<Chunk, IngestError> {
        let mut stmt = self.conn.prepare(sql).map_err(|e| self.error(e))?;
        let mut rows = stmt
            .query(rusqlite::params_from_iter(args))
            .map_err(|e| self.error(e))?;
        let mut chunk = Chunk::default();
        while let Some(r) = rows.next().map_err(|e| self.error(e))? {
            let rowid: i64 = r.get(0).map_err(|e| self.error(e))?;
            let mut values = Vec::with_capacity(width);
            for i in 0..width {
                let v = as_text(r.get_ref(i + 1).map_err(|e| self.error(e))?);
                chunk.bytes += v.as_ref().map_or(0, |s| s.len() as u64);
                values.push(v);
            }
            let cursor = match cursor_index {
                Some(i) => as_cursor(r.get_ref(i + 1).map_err(|e| self.error(e))?),
                None => None,
            };
            chunk.positions.push(Position {
                cursor,
                tiebreak: rowid,
                scan_from: None,
            });
            chunk.rows.push(values);
        }
        Ok(chunk)
    }
}

fn select_list(cols: &[Column]) -> String {
    cols.iter()
        .map(|c| quote(&c.name))
        .collect::<Vec<_>>()
        .join(", ")
}

#[cfg(test)]
mod tests {
    use super::*;

    fn source(rows: &[(i64, Option<&str>)]) -> (tempfile::TempDir, SqliteSource) {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("his.sqlite");
        let conn = Connection::open(&path).unwrap();
        conn.execute_batch("CREATE TABLE t (id INTEGER, GXSJ TEXT); CREATE INDEX ix ON t (GXSJ)")
            .unwrap();
        for (id, t) in rows {
            conn.execute("INSERT INTO t VALUES (?1, ?2)", rusqlite::params![id, t])
                .unwrap();
        }
        drop(conn);
        let s = SqliteSource::open(&path).unwrap();
        (dir, s)
    }

    fn read_all(s: &SqliteSource, limit: usize) -> Vec<String> {
        let mut after = None;
        let mut ids = Vec::new();
        loop {
            let chunk = s
                .read_chunk("t", Some("GXSJ"), after.as_ref(), limit)
                .unwrap();
            if chunk.is_empty() {
                return ids;
            }
            ids.extend(chunk.rows.iter().map(|r| r[0].clone().unwrap()));
            after = chunk.last_position().cloned();
        }
    }

    #[test]
    fn equal_cursor_values_across_chunk_boundaries_are_read_once() {
        let mut rows: Vec<(i64, Option<&str>)> = (0..50).map(|i| (i, Some("20260101"))).collect();
        rows.extend((50..60).map(|i| (i, None)));
        rows.extend((60..75).map(|i| (i, Some("20250101"))));
        let (_dir, s) = source(&rows);
        for limit in [1, 3, 7, 50, 100] {
            let mut ids = read_all(&s, limit);
            assert_eq!(ids.len(), 75, "limit {limit}");
            ids.sort_by_key(|i| i.parse::<i64>().unwrap());
            ids.dedup();
            assert_eq!(ids.len(), 75, "limit {limit}");
        }
    }

    #[test]
    fn a_read_from_the_start_scans_in_storage_order_then_reads_rows_changed_meanwhile() {
        let (dir, s) = source(&[(1, Some("b")), (2, Some("a")), (3, Some("c")), (4, None)]);
        let ids =
            |c: &Chunk| -> Vec<String> { c.rows.iter().map(|r| r[0].clone().unwrap()).collect() };
        let first = s.read_chunk("t", Some("GXSJ"), None, 2).unwrap();
        assert_eq!(ids(&first), ["1", "2"], "storage order, not the cursor's");
        // While the scan goes on, a row it passed changes and a row is added: both later than
        // every update time when the scan began, as update times are.
        let conn = Connection::open(dir.path().join("his.sqlite")).unwrap();
        conn.execute_batch("UPDATE t SET GXSJ = 'd' WHERE id = 1; INSERT INTO t VALUES (5, 'e')")
            .unwrap();
        let mut after = Position::decode(&first.last_position().unwrap().encode()).unwrap();
        let mut rest = Vec::new();
        loop {
            let chunk = s.read_chunk("t", Some("GXSJ"), Some(&after), 2).unwrap();
            if chunk.is_empty() {
                break;
            }
            rest.extend(ids(&chunk));
            after = chunk.last_position().cloned().unwrap();
        }
        assert_eq!(
            rest,
            ["3", "4", "1", "5"],
            "the scan up to the last row it began with, then the changed and the added row once"
        );
        assert!(after.scan_from.is_none(), "reading goes on in cursor order");
    }

    #[test]
    fn reading_resumes_from_a_stored_position() {
        let (_dir, s) = source(&[(1, Some("a")), (2, Some("b")), (3, Some("c"))]);
        let first = s.read_chunk("t", Some("GXSJ"), None, 2).unwrap();
        let pos = Position::decode(&first.last_position().unwrap().encode()).unwrap();
        let rest = s.read_chunk("t", Some("GXSJ"), Some(&pos), 10).unwrap();
        assert_eq!(rest.rows, vec![vec![Some("3".into()), Some("c".into())]]);
    }

    #[test]
    fn missing_files_tables_and_columns_are_clear_errors() {
        let e = SqliteSource::open(Path::new("/nonexistent/his.sqlite")).unwrap_err();
        assert!(e.to_string().contains("no such file"), "{e}");
        let (_dir, s) = source(&[]);
        assert!(matches!(
            s.columns("nope"),
            Err(IngestError::TableNotFound { .. })
        ));
        let e = s.read_chunk("t", Some("NOPE"), None, 1).unwrap_err();
        assert!(e.to_string().contains("NOPE"), "{e}");
    }
}
