use super::{Db, on_pool};
use crate::{StoreError, model::now_millis};

pub(super) async fn put(db: &Db, key: &str, value: &str, secret: bool) -> Result<(), StoreError> {
    let sql = "INSERT INTO settings (key, value, secret, updated_at) VALUES ($1, $2, $3, $4) \
               ON CONFLICT (key) DO UPDATE SET value = excluded.value, secret = excluded.secret, \
               updated_at = excluded.updated_at";
    on_pool!(db, p => sqlx::query(sql).bind(key).bind(value).bind(i64::from(secret))
        .bind(now_millis()).execute(p).await.map(|r| r.rows_affected()))?;
    Ok(())
}

pub(super) async fn get(db: &Db, key: &str) -> Result<Option<String>, StoreError> {
    Ok(
        on_pool!(db, p => sqlx::query_scalar("SELECT value FROM settings WHERE key = $1")
        .bind(key).fetch_optional(p).await)?,
    )
}
