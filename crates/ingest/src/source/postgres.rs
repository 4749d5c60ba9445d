//! A PostgreSQL HIS schema, read without locking out its writers: keyset reads ordered by the
//! cursor and the row's physical id (`ctid`), which every PostgreSQL table has whatever its
//! keys. Values are read as PostgreSQL spells them as text.
//!
//! The reader runs on a collection thread of its own, so it drives its one connection with a
//! small runtime of its own: use it from a blocking thread, never from async code.

use super::{Chunk, Column, Position};
use crate::IngestError;
use sqlx::{
    Connection, PgConnection, Row,
    postgres::{PgConnectOptions, PgRow},
};
use std::{str::FromStr, sync::Mutex, time::Duration};

pub struct PostgresSource {
    name: String,
    schema: String,
    runtime: tokio::runtime::Runtime,
    conn: Mutex<PgConnection>,
}

impl std::fmt::Debug for PostgresSource {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("PostgresSource")
            .field("name", &self.name)
            .finish()
    }
}

fn quote(ident: &str) -> String {
    format!("\"{}\"", ident.replace('"', "\"\""))
}

/// `(block,offset)` as one ordered integer, and back.
fn tid_number(text: &str) -> Option<i64> {
    let (block, offset) = text.trim_matches(['(', ')']).split_once(',')?;
    Some((block.parse::<i64>().ok()? << 16) | offset.parse::<i64>().ok()?)
}

fn tid_text(n: i64) -> String {
    format!("({},{})", n >> 16, n & 0xffff)
}

/// The URL with its password hidden, to name the source in messages.
pub fn display_name(url: &str, schema: &str) -> String {
    format!("{} schema {schema}", hdos_store::redact_url(url))
}

impl PostgresSource {
    /// Connects to `url` (postgres://user:password@host:port/database) to read `schema`.
    pub fn open(url: &str, schema: &str) -> Result<Self, IngestError> {
        let name = display_name(url, schema);
        let unavailable = |reason: String| IngestError::SourceUnavailable {
            source_name: name.clone(),
            reason,
        };
        let runtime = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .map_err(|e| unavailable(e.to_string()))?;
        let options = PgConnectOptions::from_str(url).map_err(|e| unavailable(e.to_string()))?;
        let conn = runtime
            .block_on(async {
                tokio::time::timeout(
                    Duration::from_secs(15),
                    PgConnection::connect_with(&options),
                )
                .await
            })
            .map_err(|_| unavailable("no answer within 15 s".into()))?
            .map_err(|e| unavailable(e.to_string()))?;
        let source = Self {
            name: name.clone(),
            schema: schema.to_owned(),
            runtime,
            conn: Mutex::new(conn),
        };
        let found: i64 = source
            .query(
                "SELECT count(*) FROM pg_namespace WHERE nspname = $1",
                &[schema],
            )?
            .first()
            .and_then(|r| r.try_get(0).ok())
            .unwrap_or(0);
        if found == 0 {
            return Err(IngestError::SourceUnavailable {
                source_name: name,
                reason: format!("there is no schema `{schema}`"),
            });
        }
        Ok(source)
    }

    fn error(&self, e: impl std::fmt::Display) -> IngestError {
        IngestError::Source {
            source_name: self.name.clone(),
            reason: e.to_string(),
        }
    }

    fn query(&self, sql: &str, args: &[&str]) -> Result<Vec<PgRow>, IngestError> {
        let mut conn = self
            .conn
            .lock()
            .map_err(|_| self.error("the connection was poisoned by a panic"))?;
        let mut q = sqlx::query(sql);
        for a in args {
            q = q.bind(*a);
        }
        self.runtime
            .block_on(q.fetch_all(&mut *conn))
            .map_err(|e| self.error(e))
    }

    fn table_ref(&self, table: &str) -> String {
        format!("{}.{}", quote(&self.schema), quote(table))
    }

    /// The schema's tables, by name.
    pub fn tables(&self) -> Result<Vec<String>, IngestError> {
        let rows = self.query(
            "SELECT table_name::text FROM information_schema.tables \
             WHERE table_schema = $1 AND table_type = 'BASE TABLE' ORDER BY 1",
            &[&self.schema],
        )?;
        rows.iter()
            .map(|r| r.try_get(0).map_err(|e| self.error(e)))
            .collect()
    }

    /// The table's columns with their PostgreSQL type names (`INT8`, `TIMESTAMP`, `TEXT`).
    pub fn columns(&self, table: &str) -> Result<Vec<Column>, IngestError> {
        let rows = self.query(
            "SELECT column_name::text, upper(udt_name::text) FROM information_schema.columns \
             WHERE table_schema = $1 AND table_name = $2 ORDER BY ordinal_position",
            &[&self.schema, table],
        )?;
        let cols = rows
            .iter()
            .map(|r| {
                Ok(Column {
                    name: r.try_get(0).map_err(|e| self.error(e))?,
                    declared_type: r.try_get(1).map_err(|e| self.error(e))?,
                })
            })
            .collect::<Result<Vec<_>, IngestError>>()?;
        super::found(cols, &self.name, table)
    }

    fn select_list(cols: &[Column]) -> String {
        cols.iter()
            .map(|c| format!("{}::text", quote(&c.name)))
            .collect::<Vec<_>>()
            .join(", ")
    }

    fn texts(
        &self,
        row: &PgRow,
        from: usize,
        n: usize,
    ) -> Result<Vec<Option<String>>, IngestError> {
        (from..from + n)
            .map(|i| {
                row.try_get::<Option<String>, _>(i)
                    .map_err(|e| self.error(e))
            })
            .collect()
    }

    /// Up to `limit` rows drawn evenly at random from the table, for suggesting mappings.
    pub fn sample(
        &self,
        table: &str,
        limit: usize,
    ) -> Result<Vec<Vec<Option<String>>>, IngestError> {
        let cols = self.columns(table)?;
        let sql = format!(
            "SELECT {} FROM {} ORDER BY random() LIMIT {limit}",
            Self::select_list(&cols),
            self.table_ref(table)
        );
        self.query(&sql, &[])?
            .iter()
            .map(|r| self.texts(r, 0, cols.len()))
            .collect()
    }

    /// Reads up to `limit` rows after `after`, in (cursor, ctid) order with NULL cursors first,
    /// or ctid order without a cursor column.
    pub fn read_chunk(
        &self,
        table: &str,
        cursor: Option<&str>,
        after: Option<&Position>,
        limit: usize,
    ) -> Result<Chunk, IngestError> {
        let cols = self.columns(table)?;
        let cursor_col =
            super::cursor_index(&cols, cursor, table, |e| self.error(e))?.map(|i| &cols[i]);
        let mut args: Vec<String> = Vec::new();
        let filter = match (cursor_col, after) {
            (_, None) => String::new(),
            (None, Some(p)) => {
                args.push(tid_text(p.tiebreak));
                "WHERE ctid > $1::tid".to_owned()
            }
            (
                Some(c),
                Some(Position {
                    cursor: None,
                    tiebreak,
                    ..
                }),
            ) => {
                args.push(tid_text(*tiebreak));
                format!(
                    "WHERE ({c} IS NULL AND ctid > $1::tid) OR {c} IS NOT NULL",
                    c = quote(&c.name)
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
                args.push(v.bind_text());
                args.push(tid_text(*tiebreak));
                format!(
                    "WHERE ({}, ctid) > (CAST($1 AS {}), $2::tid)",
                    quote(&c.name),
                    quote(&c.declared_type.to_lowercase())
                )
            }
        };
        // Qualified: a bare name in ORDER BY would sort by the output column of that name, the
        // value as text.
        let order = match cursor_col {
            Some(c) => format!("t.{} NULLS FIRST, t.ctid", quote(&c.name)),
            None => "t.ctid".to_owned(),
        };
        let cursor_select = cursor_col.map_or("NULL::text".to_owned(), |c| {
            format!("{}::text", quote(&c.name))
        });
        let sql = format!(
            "SELECT t.ctid::text, {cursor_select}, {} FROM {} AS t {filter} ORDER BY {order} LIMIT {limit}",
            Self::select_list(&cols),
            self.table_ref(table),
        );
        let arg_refs: Vec<&str> = args.iter().map(String::as_str).collect();
        let mut chunk = Chunk::default();
        for r in self.query(&sql, &arg_refs)? {
            let tid: String = r.try_get(0).map_err(|e| self.error(e))?;
            let tiebreak =
                tid_number(&tid).ok_or_else(|| self.error(format!("unreadable ctid `{tid}`")))?;
            let cursor: Option<String> = r.try_get(1).map_err(|e| self.error(e))?;
            let values = self.texts(&r, 2, cols.len())?;
            chunk.push_text_row(cursor, tiebreak, values);
        }
        Ok(chunk)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tuple_ids_keep_their_order_as_numbers() {
        let a = tid_number("(0,7)").unwrap();
        let b = tid_number("(1,1)").unwrap();
        assert!(a < b);
        assert_eq!(tid_text(b), "(1,1)");
        assert_eq!(tid_number(&tid_text(123_456_789)), Some(123_456_789));
        assert_eq!(tid_number("nonsense"), None);
    }
}
