//! Quality rules, runs, results and tickets.

use super::{Db, on_pool};
use crate::{
    StoreError,
    model::{Millis, Page, now_millis},
    quality::{
        QualityResult, QualityResultFilter, QualityRuleRecord, QualityRun, QualityRunEnd,
        SaveQualityRule, Ticket, TicketEvent, TicketFilter,
    },
};

#[derive(sqlx::FromRow)]
struct RuleRow {
    id: String,
    dataset: String,
    version: i64,
    definition: String,
    enabled: i64,
    builtin: i64,
    updated_at: i64,
    updated_by: String,
}

impl From<RuleRow> for QualityRuleRecord {
    fn from(r: RuleRow) -> Self {
        Self {
            id: r.id,
            dataset: r.dataset,
            version: r.version,
            definition: r.definition,
            enabled: r.enabled != 0,
            builtin: r.builtin != 0,
            updated_at: r.updated_at,
            updated_by: r.updated_by,
        }
    }
}

const RULE_COLUMNS: &str =
    "id, dataset, version, definition, enabled, builtin, updated_at, updated_by";

pub(super) async fn quality_rules(db: &Db) -> Result<Vec<QualityRuleRecord>, StoreError> {
    let sql = format!("SELECT {RULE_COLUMNS} FROM quality_rules ORDER BY dataset, id");
    let rows: Vec<RuleRow> = on_pool!(db, p => sqlx::query_as(&sql).fetch_all(p).await)?;
    Ok(rows.into_iter().map(Into::into).collect())
}

pub(super) async fn quality_rule(
    db: &Db,
    id: &str,
) -> Result<Option<QualityRuleRecord>, StoreError> {
    let sql = format!("SELECT {RULE_COLUMNS} FROM quality_rules WHERE id = $1");
    let row: Option<RuleRow> =
        on_pool!(db, p => sqlx::query_as(&sql).bind(id).fetch_optional(p).await)?;
    Ok(row.map(Into::into))
}

/// Inserts, versions or leaves the rule, and records each new version.
pub(super) async fn save_quality_rule(
    db: &Db,
    rule: &SaveQualityRule,
) -> Result<QualityRuleRecord, StoreError> {
    let now = now_millis();
    let select = format!("SELECT {RULE_COLUMNS} FROM quality_rules WHERE id = $1");
    on_pool!(db, p => {
        let mut tx = p.begin_with(db.begin_write()).await?;
        let existing: Option<RuleRow> =
            sqlx::query_as(&select).bind(&rule.id).fetch_optional(&mut *tx).await?;
        let version = match &existing {
            Some(r) if r.definition == rule.definition => r.version,
            Some(r) => r.version + 1,
            None => 1,
        };
        if existing.as_ref().is_none_or(|r| r.version != version) {
            sqlx::query(
                "INSERT INTO quality_rule_versions (id, version, definition, created_at, created_by) \
                 VALUES ($1, $2, $3, $4, $5)",
            )
            .bind(&rule.id).bind(version).bind(&rule.definition).bind(now).bind(&rule.actor)
            .execute(&mut *tx).await?;
        }
        let unchanged = existing.as_ref().is_some_and(|r| {
            r.version == version && (r.enabled != 0) == rule.enabled
        });
        if !unchanged {
            sqlx::query(
                "INSERT INTO quality_rules (id, dataset, version, definition, enabled, builtin, \
                 updated_at, updated_by) VALUES ($1, $2, $3, $4, $5, $6, $7, $8) \
                 ON CONFLICT (id) DO UPDATE SET dataset = excluded.dataset, \
                 version = excluded.version, definition = excluded.definition, \
                 enabled = excluded.enabled, builtin = excluded.builtin, \
                 updated_at = excluded.updated_at, updated_by = excluded.updated_by",
            )
            .bind(&rule.id).bind(&rule.dataset).bind(version).bind(&rule.definition)
            .bind(i64::from(rule.enabled)).bind(i64::from(rule.builtin)).bind(now)
            .bind(&rule.actor)
            .execute(&mut *tx).await?;
        }
        tx.commit().await
    })?;
    quality_rule(db, &rule.id)
        .await?
        .ok_or_else(|| StoreError::NotFound {
            what: "quality rule",
            key: rule.id.clone(),
        })
}

/// The definition a rule had at `version`.
pub(super) async fn quality_rule_version(
    db: &Db,
    id: &str,
    version: i64,
) -> Result<Option<String>, StoreError> {
    let sql = "SELECT definition FROM quality_rule_versions WHERE id = $1 AND version = $2";
    Ok(on_pool!(db, p => sqlx::query_scalar(sql).bind(id).bind(version).fetch_optional(p).await)?)
}

#[derive(sqlx::FromRow)]
struct RunRow {
    id: i64,
    mode: String,
    state: String,
    requested_by: String,
    started_at: i64,
    finished_at: Option<i64>,
    rows_checked: i64,
    failures: i64,
    error: Option<String>,
    watermarks: String,
}

impl From<RunRow> for QualityRun {
    fn from(r: RunRow) -> Self {
        Self {
            id: r.id,
            mode: r.mode,
            state: r.state,
            requested_by: r.requested_by,
            started_at: r.started_at,
            finished_at: r.finished_at,
            rows_checked: r.rows_checked,
            failures: r.failures,
            error: r.error,
            watermarks: r.watermarks,
        }
    }
}

const RUN_COLUMNS: &str = "id, mode, state, requested_by, started_at, finished_at, rows_checked, \
                           failures, error, watermarks";

pub(super) async fn start_quality_run(
    db: &Db,
    mode: &str,
    requested_by: &str,
) -> Result<QualityRun, StoreError> {
    let sql = format!(
        "INSERT INTO quality_runs (mode, state, requested_by, started_at) \
         VALUES ($1, 'running', $2, $3) RETURNING {RUN_COLUMNS}"
    );
    let row: RunRow = on_pool!(db, p => sqlx::query_as(&sql)
        .bind(mode).bind(requested_by).bind(now_millis())
        .fetch_one(p).await)
    .map_err(|e| StoreError::from_sqlx("running quality run", "one at a time", e))?;
    Ok(row.into())
}

/// Ends a run and saves its results, in one transaction: a run's results are all there or none.
pub(super) async fn finish_quality_run(
    db: &Db,
    run_id: i64,
    end: &QualityRunEnd,
    results: &[QualityResult],
) -> Result<(), StoreError> {
    let insert = "INSERT INTO quality_results (run_id, rule_id, rule_version, dataset, \
                  institution, dimension, severity, threshold, checked, failed, checked_at) \
                  VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11)";
    let state = if end.succeeded { "succeeded" } else { "failed" };
    on_pool!(db, p => {
        let mut tx = p.begin_with(db.begin_write()).await?;
        if end.succeeded {
            for r in results {
                sqlx::query(insert)
                    .bind(run_id).bind(&r.rule_id).bind(r.rule_version).bind(&r.dataset)
                    .bind(&r.institution).bind(&r.dimension).bind(&r.severity)
                    .bind(r.threshold).bind(r.checked).bind(r.failed).bind(r.checked_at)
                    .execute(&mut *tx).await?;
            }
        }
        sqlx::query(
            "UPDATE quality_runs SET state = $2, finished_at = $3, rows_checked = $4, \
             failures = $5, error = $6, watermarks = $7 WHERE id = $1",
        )
        .bind(run_id).bind(state).bind(now_millis()).bind(end.rows_checked)
        .bind(end.failures).bind(&end.error).bind(&end.watermarks)
        .execute(&mut *tx).await?;
        tx.commit().await
    })?;
    Ok(())
}

/// Marks runs still `running` that started before `before` as failed (their process died).
pub(super) async fn fail_stale_quality_runs(db: &Db, before: Millis) -> Result<u64, StoreError> {
    let sql = "UPDATE quality_runs SET state = 'failed', finished_at = $2, \
               error = 'interrupted: the process running it stopped' \
               WHERE state = 'running' AND started_at < $1";
    let done = on_pool!(db, p => sqlx::query(sql).bind(before).bind(now_millis())
        .execute(p).await.map(|r| r.rows_affected()))?;
    Ok(done)
}

pub(super) async fn quality_runs(db: &Db, page: Page) -> Result<Vec<QualityRun>, StoreError> {
    let sql = format!("SELECT {RUN_COLUMNS} FROM quality_runs ORDER BY id DESC LIMIT $1 OFFSET $2");
    let rows: Vec<RunRow> = on_pool!(db, p => sqlx::query_as(&sql)
        .bind(page.limit).bind(page.offset).fetch_all(p).await)?;
    Ok(rows.into_iter().map(Into::into).collect())
}

pub(super) async fn last_succeeded_quality_run(db: &Db) -> Result<Option<QualityRun>, StoreError> {
    let sql = format!(
        "SELECT {RUN_COLUMNS} FROM quality_runs WHERE state = 'succeeded' ORDER BY id DESC LIMIT 1"
    );
    let row: Option<RunRow> = on_pool!(db, p => sqlx::query_as(&sql).fetch_optional(p).await)?;
    Ok(row.map(Into::into))
}

#[derive(sqlx::FromRow)]
struct ResultRow {
    run_id: i64,
    rule_id: String,
    rule_version: i64,
    dataset: String,
    institution: String,
    dimension: String,
    severity: String,
    threshold: f64,
    checked: i64,
    failed: i64,
    checked_at: i64,
}

impl From<ResultRow> for QualityResult {
    fn from(r: ResultRow) -> Self {
        Self {
            run_id: r.run_id,
            rule_id: r.rule_id,
            rule_version: r.rule_version,
            dataset: r.dataset,
            institution: r.institution,
            dimension: r.dimension,
            severity: r.severity,
            threshold: r.threshold,
            checked: r.checked,
            failed: r.failed,
            checked_at: r.checked_at,
        }
    }
}

pub(super) async fn quality_results(
    db: &Db,
    filter: &QualityResultFilter,
) -> Result<Vec<QualityResult>, StoreError> {
    let sql = "SELECT r.run_id, r.rule_id, r.rule_version, r.dataset, r.institution, \
               r.dimension, r.severity, r.threshold, r.checked, r.failed, r.checked_at \
               FROM quality_results r JOIN quality_runs q ON q.id = r.run_id \
               WHERE q.state = 'succeeded' \
               AND ($1 IS NULL OR r.checked_at >= $1) AND ($2 IS NULL OR r.checked_at < $2) \
               AND ($3 IS NULL OR r.run_id = $3) AND ($4 IS NULL OR r.institution = $4) \
               AND ($5 IS NULL OR r.dataset = $5) AND ($6 IS NULL OR r.rule_id = $6) \
               ORDER BY r.run_id, r.dataset, r.rule_id, r.institution";
    let rows: Vec<ResultRow> = on_pool!(db, p => sqlx::query_as(sql)
        .bind(filter.since).bind(filter.until).bind(filter.run_id)
        .bind(&filter.institution).bind(&filter.dataset).bind(&filter.rule_id)
        .fetch_all(p).await)?;
    Ok(rows.into_iter().map(Into::into).collect())
}

#[derive(sqlx::FromRow)]
struct TicketRow {
    id: i64,
    institution: String,
    rule_id: String,
    dataset: String,
    severity: String,
    state: String,
    opened_at: i64,
    updated_at: i64,
    due_at: i64,
    last_run_id: i64,
    checked: i64,
    failed: i64,
    threshold: f64,
    reason: Option<String>,
    comment: Option<String>,
    resolved_at: Option<i64>,
    closed_at: Option<i64>,
    reopened: i64,
    escalated_at: Option<i64>,
}

impl From<TicketRow> for Ticket {
    fn from(r: TicketRow) -> Self {
        Self {
            id: r.id,
            institution: r.institution,
            rule_id: r.rule_id,
            dataset: r.dataset,
            severity: r.severity,
            state: r.state,
            opened_at: r.opened_at,
            updated_at: r.updated_at,
            due_at: r.due_at,
            last_run_id: r.last_run_id,
            checked: r.checked,
            failed: r.failed,
            threshold: r.threshold,
            reason: r.reason,
            comment: r.comment,
            resolved_at: r.resolved_at,
            closed_at: r.closed_at,
            reopened: r.reopened,
            escalated_at: r.escalated_at,
        }
    }
}

const TICKET_COLUMNS: &str = "id, institution, rule_id, dataset, severity, state, opened_at, \
     updated_at, due_at, last_run_id, checked, failed, threshold, reason, comment, resolved_at, \
     closed_at, reopened, escalated_at";

const INSERT_EVENT: &str = "INSERT INTO quality_ticket_events (ticket_id, at, actor, from_state, \
                            to_state, note) VALUES ($1, $2, $3, $4, $5, $6)";

/// Inserts a ticket (its id is assigned) with its first event. A second open ticket for the
/// same institution and rule is refused by the database (`AlreadyExists`).
pub(super) async fn insert_ticket(
    db: &Db,
    t: &Ticket,
    event: &TicketEvent,
) -> Result<Ticket, StoreError> {
    let sql = format!(
        "INSERT INTO quality_tickets (institution, rule_id, dataset, severity, state, opened_at, \
         updated_at, due_at, last_run_id, checked, failed, threshold, reason, comment, \
         resolved_at, closed_at, reopened, escalated_at) VALUES ($1, $2, $3, $4, $5, $6, $7, \
         $8, $9, $10, $11, $12, $13, $14, $15, $16, $17, $18) RETURNING {TICKET_COLUMNS}"
    );
    let key = format!("{}/{}", t.institution, t.rule_id);
    let row: TicketRow = on_pool!(db, p => {
        let mut tx = p.begin_with(db.begin_write()).await?;
        let row: TicketRow = sqlx::query_as(&sql)
            .bind(&t.institution).bind(&t.rule_id).bind(&t.dataset).bind(&t.severity)
            .bind(&t.state).bind(t.opened_at).bind(t.updated_at).bind(t.due_at)
            .bind(t.last_run_id).bind(t.checked).bind(t.failed).bind(t.threshold)
            .bind(&t.reason).bind(&t.comment).bind(t.resolved_at).bind(t.closed_at)
            .bind(t.reopened).bind(t.escalated_at)
            .fetch_one(&mut *tx).await
            .map_err(|e| StoreError::from_sqlx("open ticket", key.clone(), e))?;
        sqlx::query(INSERT_EVENT)
            .bind(row.id).bind(event.at).bind(&event.actor).bind(&event.from_state)
            .bind(&event.to_state).bind(&event.note)
            .execute(&mut *tx).await?;
        tx.commit().await?;
        Ok::<_, StoreError>(row)
    })?;
    Ok(row.into())
}

/// Writes a ticket's new figures and state if it is still in `expected_state`, with the event;
/// `false` when someone else changed its state first.
pub(super) async fn update_ticket(
    db: &Db,
    t: &Ticket,
    expected_state: &str,
    event: Option<&TicketEvent>,
) -> Result<bool, StoreError> {
    let sql = "UPDATE quality_tickets SET state = $3, updated_at = $4, due_at = $5, \
               last_run_id = $6, checked = $7, failed = $8, threshold = $9, reason = $10, \
               comment = $11, resolved_at = $12, closed_at = $13, reopened = $14, \
               escalated_at = $15, severity = $16 WHERE id = $1 AND state = $2";
    let changed = on_pool!(db, p => {
        let mut tx = p.begin_with(db.begin_write()).await?;
        let n = sqlx::query(sql)
            .bind(t.id).bind(expected_state).bind(&t.state).bind(t.updated_at).bind(t.due_at)
            .bind(t.last_run_id).bind(t.checked).bind(t.failed).bind(t.threshold)
            .bind(&t.reason).bind(&t.comment).bind(t.resolved_at).bind(t.closed_at)
            .bind(t.reopened).bind(t.escalated_at).bind(&t.severity)
            .execute(&mut *tx).await?.rows_affected();
        if n == 1 && let Some(e) = event {
            sqlx::query(INSERT_EVENT)
                .bind(t.id).bind(e.at).bind(&e.actor).bind(&e.from_state)
                .bind(&e.to_state).bind(&e.note)
                .execute(&mut *tx).await?;
        }
        tx.commit().await?;
        Ok::<_, StoreError>(n == 1)
    })?;
    Ok(changed)
}

pub(super) async fn ticket(db: &Db, id: i64) -> Result<Option<Ticket>, StoreError> {
    let sql = format!("SELECT {TICKET_COLUMNS} FROM quality_tickets WHERE id = $1");
    let row: Option<TicketRow> =
        on_pool!(db, p => sqlx::query_as(&sql).bind(id).fetch_optional(p).await)?;
    Ok(row.map(Into::into))
}

/// The ticket of an institution and rule that is not closed, if any.
pub(super) async fn open_ticket(
    db: &Db,
    institution: &str,
    rule_id: &str,
) -> Result<Option<Ticket>, StoreError> {
    let sql = format!(
        "SELECT {TICKET_COLUMNS} FROM quality_tickets \
         WHERE institution = $1 AND rule_id = $2 AND state <> 'closed'"
    );
    let row: Option<TicketRow> = on_pool!(db, p => sqlx::query_as(&sql)
        .bind(institution).bind(rule_id).fetch_optional(p).await)?;
    Ok(row.map(Into::into))
}

pub(super) async fn tickets(
    db: &Db,
    filter: &TicketFilter,
    page: Page,
) -> Result<Vec<Ticket>, StoreError> {
    let states = filter.states.join(",");
    let sql = format!(
        "SELECT {TICKET_COLUMNS} FROM quality_tickets \
         WHERE ($1 IS NULL OR institution = $1) AND ($2 IS NULL OR rule_id = $2) \
         AND ($3 = '' OR ',' || $3 || ',' LIKE '%,' || state || ',%') \
         ORDER BY due_at, id LIMIT $4 OFFSET $5"
    );
    let rows: Vec<TicketRow> = on_pool!(db, p => sqlx::query_as(&sql)
        .bind(&filter.institution).bind(&filter.rule_id).bind(&states)
        .bind(page.limit).bind(page.offset).fetch_all(p).await)?;
    Ok(rows.into_iter().map(Into::into).collect())
}

pub(super) async fn ticket_events(db: &Db, id: i64) -> Result<Vec<TicketEvent>, StoreError> {
    #[derive(sqlx::FromRow)]
    struct EventRow {
        ticket_id: i64,
        at: i64,
        actor: String,
        from_state: Option<String>,
        to_state: String,
        note: Option<String>,
    }
    let sql = "SELECT ticket_id, at, actor, from_state, to_state, note \
               FROM quality_ticket_events WHERE ticket_id = $1 ORDER BY at, to_state";
    let rows: Vec<EventRow> = on_pool!(db, p => sqlx::query_as(sql).bind(id).fetch_all(p).await)?;
    Ok(rows
        .into_iter()
        .map(|r| TicketEvent {
            ticket_id: r.ticket_id,
            at: r.at,
            actor: r.actor,
            from_state: r.from_state,
            to_state: r.to_state,
            note: r.note,
        })
        .collect())
}
