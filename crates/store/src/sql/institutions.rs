use super::{Db, on_pool};
use crate::{
    StoreError,
    model::{Institution, NewInstitution, Page, now_millis},
};
use hdos_core::InstitutionId;

#[derive(sqlx::FromRow)]
struct Row {
    id: i64,
    code: String,
    name: String,
    grade: String,
    kind: String,
    region_code: String,
    created_at: i64,
}

impl From<Row> for Institution {
    fn from(r: Row) -> Self {
        Self {
            id: InstitutionId(r.id),
            code: r.code,
            name: r.name,
            grade: r.grade,
            kind: r.kind,
            region_code: r.region_code,
            created_at: r.created_at,
        }
    }
}

const COLUMNS: &str = "id, code, name, grade, kind, region_code, created_at";

pub(super) async fn create(db: &Db, new: NewInstitution) -> Result<Institution, StoreError> {
    let now = now_millis();
    let sql = format!(
        "INSERT INTO institutions (code, name, grade, kind, region_code, created_at) \
         VALUES ($1, $2, $3, $4, $5, $6) RETURNING {COLUMNS}"
    );
    let row: Row = on_pool!(db, p => sqlx::query_as(&sql)
        .bind(&new.code).bind(&new.name).bind(&new.grade).bind(&new.kind)
        .bind(&new.region_code).bind(now)
        .fetch_one(p).await)
    .map_err(|e| StoreError::from_sqlx("institution", &new.code, e))?;
    Ok(row.into())
}

pub(super) async fn get(db: &Db, id: InstitutionId) -> Result<Institution, StoreError> {
    let sql = format!("SELECT {COLUMNS} FROM institutions WHERE id = $1");
    let row: Option<Row> =
        on_pool!(db, p => sqlx::query_as(&sql).bind(id.0).fetch_optional(p).await)?;
    row.map(Into::into).ok_or(StoreError::NotFound {
        what: "institution",
        key: id.to_string(),
    })
}

pub(super) async fn by_code(db: &Db, code: &str) -> Result<Option<Institution>, StoreError> {
    let sql = format!("SELECT {COLUMNS} FROM institutions WHERE code = $1");
    let row: Option<Row> =
        on_pool!(db, p => sqlx::query_as(&sql).bind(code).fetch_optional(p).await)?;
    Ok(row.map(Into::into))
}

pub(super) async fn list(db: &Db, page: Page) -> Result<Vec<Institution>, StoreError> {
    let sql = format!("SELECT {COLUMNS} FROM institutions ORDER BY code LIMIT $1 OFFSET $2");
    let rows: Vec<Row> = on_pool!(db, p => sqlx::query_as(&sql)
        .bind(page.limit).bind(page.offset).fetch_all(p).await)?;
    Ok(rows.into_iter().map(Into::into).collect())
}

pub(super) async fn count(db: &Db) -> Result<i64, StoreError> {
    Ok(
        on_pool!(db, p => sqlx::query_scalar("SELECT COUNT(*) FROM institutions").fetch_one(p).await)?,
    )
}
