use super::{Db, on_pool};
use crate::{
    StoreError,
    model::{NewSourceConnection, Page, SourceConnection, now_millis},
};

#[derive(sqlx::FromRow)]
struct Row {
    id: i64,
    name: String,
    kind: String,
    institution: String,
    host: String,
    port: i64,
    database_name: String,
    username: String,
    sealed_password: Option<String>,
    schema_name: String,
    created_at: i64,
    updated_at: i64,
}

impl From<Row> for SourceConnection {
    fn from(r: Row) -> Self {
        Self {
            id: r.id,
            name: r.name,
            kind: r.kind,
            institution: r.institution,
            host: r.host,
            port: r.port,
            database: r.database_name,
            username: r.username,
            sealed_password: r.sealed_password,
            schema: r.schema_name,
            created_at: r.created_at,
            updated_at: r.updated_at,
        }
    }
}

// `port` is cast so both databases return a 64-bit integer.
const COLUMNS: &str = "id, name, kind, institution, host, CAST(port AS BIGINT) AS port, \
                       database_name, username, sealed_password, schema_name, created_at, updated_at";

/// Creates the connection, or replaces the definition of the one with the same name.
pub(super) async fn save(
    db: &Db,
    new: NewSourceConnection,
) -> Result<SourceConnection, StoreError> {
    let now = now_millis();
    let sql = format!(
        "INSERT INTO connections (name, kind, institution, host, port, database_name, username, \
         sealed_password, schema_name, created_at, updated_at) \
         VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $10) \
         ON CONFLICT (name) DO UPDATE SET kind = excluded.kind, institution = excluded.institution, \
         host = excluded.host, port = excluded.port, database_name = excluded.database_name, \
         username = excluded.username, sealed_password = excluded.sealed_password, \
         schema_name = excluded.schema_name, updated_at = excluded.updated_at \
         RETURNING {COLUMNS}"
    );
    let port = i32::try_from(new.port).map_err(|_| StoreError::InvalidInput {
        what: "connection port",
        reason: new.port.to_string(),
    })?;
    let row: Row = on_pool!(db, p => sqlx::query_as(&sql)
        .bind(&new.name).bind(&new.kind).bind(&new.institution).bind(&new.host).bind(port)
        .bind(&new.database).bind(&new.username).bind(&new.sealed_password).bind(&new.schema)
        .bind(now)
        .fetch_one(p).await)
    .map_err(|e| StoreError::from_sqlx("connection", &new.name, e))?;
    Ok(row.into())
}

pub(super) async fn by_name(db: &Db, name: &str) -> Result<Option<SourceConnection>, StoreError> {
    let sql = format!("SELECT {COLUMNS} FROM connections WHERE name = $1");
    let row: Option<Row> =
        on_pool!(db, p => sqlx::query_as(&sql).bind(name).fetch_optional(p).await)?;
    Ok(row.map(Into::into))
}

/// By name; one institution's only, when given.
pub(super) async fn list(
    db: &Db,
    institution: Option<&str>,
    page: Page,
) -> Result<Vec<SourceConnection>, StoreError> {
    let sql = format!(
        "SELECT {COLUMNS} FROM connections WHERE ($1 IS NULL OR institution = $1) \
         ORDER BY name LIMIT $2 OFFSET $3"
    );
    let rows: Vec<Row> = on_pool!(db, p => sqlx::query_as(&sql).bind(institution)
        .bind(page.limit).bind(page.offset).fetch_all(p).await)?;
    Ok(rows.into_iter().map(Into::into).collect())
}

pub(super) async fn delete(db: &Db, name: &str) -> Result<(), StoreError> {
    let n = on_pool!(db, p => sqlx::query("DELETE FROM connections WHERE name = $1")
        .bind(name).execute(p).await.map(|r| r.rows_affected()))?;
    if n == 0 {
        return Err(StoreError::NotFound {
            what: "connection",
            key: name.to_owned(),
        });
    }
    Ok(())
}
