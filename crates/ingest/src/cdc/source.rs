//! What hdos sets up and watches on the source database: the publication of the channel's
//! tables, their replica identity, the logical replication slot, the heartbeat that keeps the
//! slot advancing on quiet tables, and the slot's lag.

use crate::IngestError;
use sqlx::{Connection, PgConnection, Row, postgres::PgConnectOptions};
use std::{str::FromStr, time::Duration};

/// The source database of a CDC channel, over an ordinary (non-replication) connection.
#[derive(Debug)]
pub struct SourceDb {
    name: String,
    conn: PgConnection,
}

/// The slot after setup: where it stands, and whether it was just made (so nothing before now
/// is in it and the tables must be read whole).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SlotState {
    pub created: bool,
    pub confirmed_lsn: Option<String>,
}

fn quote(ident: &str) -> String {
    format!("\"{}\"", ident.replace('"', "\"\""))
}

impl SourceDb {
    pub async fn connect(url: &str, name: &str) -> Result<Self, IngestError> {
        let unavailable = |reason: String| IngestError::SourceUnavailable {
            source_name: name.to_owned(),
            reason,
        };
        let options = PgConnectOptions::from_str(url).map_err(|e| unavailable(e.to_string()))?;
        let conn = tokio::time::timeout(
            Duration::from_secs(15),
            PgConnection::connect_with(&options),
        )
        .await
        .map_err(|_| unavailable("no answer within 15 s".into()))?
        .map_err(|e| unavailable(e.to_string()))?;
        Ok(Self {
            name: name.to_owned(),
            conn,
        })
    }

    fn error(&self, e: impl std::fmt::Display) -> IngestError {
        IngestError::Source {
            source_name: self.name.clone(),
            reason: e.to_string(),
        }
    }

    /// Checks that logical decoding is on and the tables exist; gives tables with neither a
    /// primary key nor another replica identity `REPLICA IDENTITY FULL`, so their updates and
    /// deletes carry the old row; and makes the publication list exactly these tables.
    /// Returns the tables whose replica identity was changed.
    pub async fn prepare(
        &mut self,
        publication: &str,
        schema: &str,
        tables: &[String],
    ) -> Result<Vec<String>, IngestError> {
        let level: String = sqlx::query_scalar("SHOW wal_level")
            .fetch_one(&mut self.conn)
            .await
            .map_err(|e| self.error(e))?;
        if level != "logical" {
            return Err(self.error(format!(
                "wal_level is `{level}`; log-based collection needs `wal_level = logical` on the source"
            )));
        }
        let mut changed = Vec::new();
        for table in tables {
            let row = sqlx::query(
                "SELECT c.relreplident::text, EXISTS (SELECT 1 FROM pg_index i \
                 WHERE i.indrelid = c.oid AND i.indisprimary) \
                 FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace \
                 WHERE n.nspname = $1 AND c.relname = $2 AND c.relkind = 'r'",
            )
            .bind(schema)
            .bind(table)
            .fetch_optional(&mut self.conn)
            .await
            .map_err(|e| self.error(e))?
            .ok_or_else(|| IngestError::TableNotFound {
                source_name: self.name.clone(),
                table: table.clone(),
            })?;
            let identity: String = row.try_get(0).map_err(|e| self.error(e))?;
            let has_key: bool = row.try_get(1).map_err(|e| self.error(e))?;
            if identity == "n" || (identity == "d" && !has_key) {
                let sql = format!(
                    "ALTER TABLE {}.{} REPLICA IDENTITY FULL",
                    quote(schema),
                    quote(table)
                );
                sqlx::query(&sql)
                    .execute(&mut self.conn)
                    .await
                    .map_err(|e| self.error(e))?;
                changed.push(table.clone());
            }
        }
        let list = tables
            .iter()
            .map(|t| format!("{}.{}", quote(schema), quote(t)))
            .collect::<Vec<_>>()
            .join(", ");
        let exists: bool =
            sqlx::query_scalar("SELECT EXISTS (SELECT 1 FROM pg_publication WHERE pubname = $1)")
                .bind(publication)
                .fetch_one(&mut self.conn)
                .await
                .map_err(|e| self.error(e))?;
        let sql = if exists {
            format!("ALTER PUBLICATION {} SET TABLE {list}", quote(publication))
        } else {
            format!("CREATE PUBLICATION {} FOR TABLE {list}", quote(publication))
        };
        sqlx::query(&sql)
            .execute(&mut self.conn)
            .await
            .map_err(|e| self.error(e))?;
        Ok(changed)
    }

    /// The slot's confirmed position (`None` inside when it has none yet), or `None` when
    /// there is no such slot.
    pub async fn slot(&mut self, slot: &str) -> Result<Option<Option<String>>, IngestError> {
        sqlx::query_scalar(
            "SELECT confirmed_flush_lsn::text FROM pg_replication_slots WHERE slot_name = $1",
        )
        .bind(slot)
        .fetch_optional(&mut self.conn)
        .await
        .map_err(|e| self.error(e))
    }

    /// Creates the slot unless it exists.
    pub async fn ensure_slot(&mut self, slot: &str) -> Result<SlotState, IngestError> {
        if let Some(confirmed_lsn) = self.slot(slot).await? {
            return Ok(SlotState {
                created: false,
                confirmed_lsn,
            });
        }
        let lsn: String = sqlx::query_scalar(
            "SELECT lsn::text FROM pg_create_logical_replication_slot($1, 'pgoutput')",
        )
        .bind(slot)
        .fetch_one(&mut self.conn)
        .await
        .map_err(|e| self.error(e))?;
        Ok(SlotState {
            created: true,
            confirmed_lsn: Some(lsn),
        })
    }

    /// Writes a small non-transactional message into the WAL: the stream then has something to
    /// confirm past even when the channel's tables are quiet, so the slot never holds WAL back.
    pub async fn heartbeat(&mut self) -> Result<(), IngestError> {
        sqlx::query("SELECT pg_logical_emit_message(false, 'hdos.heartbeat', '')")
            .execute(&mut self.conn)
            .await
            .map_err(|e| self.error(e))?;
        Ok(())
    }

    /// Bytes of WAL the slot holds beyond what hdos confirmed.
    pub async fn lag_bytes(&mut self, slot: &str) -> Result<Option<i64>, IngestError> {
        let lag: Option<Option<i64>> = sqlx::query_scalar(
            "SELECT pg_wal_lsn_diff(pg_current_wal_lsn(), confirmed_flush_lsn)::bigint \
             FROM pg_replication_slots WHERE slot_name = $1",
        )
        .bind(slot)
        .fetch_optional(&mut self.conn)
        .await
        .map_err(|e| self.error(e))?;
        Ok(lag.flatten())
    }

    pub async fn close(self) {
        let _ = self.conn.close().await;
    }
}

/// `16/B374D848` → its 64-bit position.
pub fn parse_lsn(text: &str) -> Option<u64> {
    let (hi, lo) = text.split_once('/')?;
    Some((u64::from_str_radix(hi, 16).ok()? << 32) | u64::from_str_radix(lo, 16).ok()?)
}

pub fn format_lsn(lsn: u64) -> String {
    format!("{:X}/{:X}", lsn >> 32, lsn & 0xffff_ffff)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn lsns_read_and_print_as_postgresql_writes_them() {
        assert_eq!(parse_lsn("16/B374D848"), Some(0x16_B374_D848));
        assert_eq!(format_lsn(0x16_B374_D848), "16/B374D848");
        assert_eq!(parse_lsn("0/0"), Some(0));
        assert_eq!(parse_lsn("x"), None);
    }
}
