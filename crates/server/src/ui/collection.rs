//! 数据采集: the channels with their state and, for managers, run / cancel / enable / disable;
//! a form to upload data files into a folder channel; then the collection runs, newest first.
//! A provider sees only its own institution's.

use crate::{
    actions::{self, ChannelAction},
    auth::Principal,
    error::{ApiError, PageError, render},
    state::AppState,
    ui::{PageCtx, admin::Pager, fmt_ms},
};
use axum::{
    extract::{Path, Query, State},
    http::StatusCode,
    response::{IntoResponse, Response},
};
use hdos_core::Role;
use hdos_ingest::channel::ChannelSpec;
use hdos_store::{Channel, ChannelLease, IngestRun, Page, RunFilter, RunStatus, now_millis};
use serde::Deserialize;

pub const PATH: &str = "/integration/collection";
const PAGE_SIZE: i64 = 50;

#[derive(Debug, Deserialize)]
pub struct RunsQuery {
    offset: Option<i64>,
    /// After an upload: the files, their total bytes and the channel they went to.
    uploaded: Option<String>,
    bytes: Option<u64>,
    into: Option<String>,
}

pub struct RunRow {
    started: String,
    channel: String,
    table: String,
    institution: String,
    mode_key: &'static str,
    status_key: &'static str,
    status: &'static str,
    read: i64,
    written: i64,
    quarantined: i64,
    bytes: String,
    seconds: String,
    error: String,
}

impl From<IngestRun> for RunRow {
    fn from(r: IngestRun) -> Self {
        let (status, status_key) = match r.status {
            RunStatus::Running => ("running", "collection.running"),
            RunStatus::Succeeded => ("succeeded", "collection.succeeded"),
            RunStatus::Failed => ("failed", "collection.failed"),
            RunStatus::Cancelled => ("cancelled", "collection.cancelled"),
        };
        Self {
            started: fmt_ms(r.started_at),
            seconds: r
                .finished_at
                .map(|f| format!("{:.1}", (f - r.started_at) as f64 / 1000.0))
                .unwrap_or_default(),
            channel: r.channel,
            table: r.source_table,
            institution: r.institution,
            mode_key: match r.mode.as_str() {
                "full" => "collection.full",
                "initial" => "collection.initial",
                "stream" => "collection.stream",
                _ => "collection.incremental",
            },
            status_key,
            status,
            read: r.counts.rows_read,
            written: r.counts.rows_written,
            quarantined: r.counts.rows_quarantined,
            bytes: format!("{:.1}", r.counts.bytes as f64 / 1_048_576.0),
            error: r.error.unwrap_or_default(),
        }
    }
}

/// A channel as the page shows it.
pub struct ChannelRow {
    name: String,
    institution: String,
    kind: String,
    schedule: String,
    /// `running`, `waiting`, `retrying` or `disabled`, for the CSS class and the label.
    state: &'static str,
    state_key: &'static str,
    worker: String,
    next_run: String,
    requested: bool,
    batch: bool,
    /// Whether it has table mappings read from a database (SQL, CDC): the mapping page.
    mappable: bool,
    /// Whether files can be uploaded into it (a folder channel).
    takes_files: bool,
    enabled: bool,
    error: String,
}

impl ChannelRow {
    fn new(c: Channel, leases: &[ChannelLease]) -> Self {
        let worker = leases
            .iter()
            .find(|l| l.channel == c.name)
            .map(|l| l.worker.clone());
        let (state, state_key) = match (&worker, c.enabled, c.failures) {
            (Some(_), _, _) => ("running", "channels.running"),
            (None, false, _) => ("disabled", "channels.disabled"),
            (None, true, 0) => ("waiting", "channels.waiting"),
            (None, true, _) => ("retrying", "channels.retrying"),
        };
        // A spec that does not read is shown as a batch channel without a mapping page.
        let spec = ChannelSpec::of(&c).ok();
        Self {
            batch: !spec.as_ref().is_some_and(ChannelSpec::is_streaming),
            mappable: spec.as_ref().is_some_and(ChannelSpec::reads_database),
            takes_files: matches!(spec, Some(ChannelSpec::Folder { .. })),
            name: c.name,
            institution: c.institution,
            kind: c.kind,
            schedule: c.schedule.unwrap_or_default(),
            state,
            state_key,
            worker: worker.unwrap_or_default(),
            next_run: c.next_run_at.map(fmt_ms).unwrap_or_default(),
            requested: c.run_requested_at.is_some(),
            enabled: c.enabled,
            error: c.last_error.unwrap_or_default(),
        }
    }
}

#[derive(askama::Template)]
#[template(path = "collection.html")]
struct CollectionPage {
    ctx: PageCtx,
    channels: Vec<ChannelRow>,
    /// Whether the reader may run, cancel, enable and disable channels.
    manages: bool,
    rows: Vec<RunRow>,
    scoped_to: Option<String>,
    pager: Pager,
    /// The notice after an upload.
    uploaded: Option<String>,
}

impl CollectionPage {
    fn folder_channels(&self) -> impl Iterator<Item = &ChannelRow> {
        self.channels.iter().filter(|c| c.takes_files)
    }
}

pub async fn page(
    State(app): State<AppState>,
    ctx: PageCtx,
    p: Principal,
    Query(q): Query<RunsQuery>,
) -> Response {
    let t = ctx.t;
    let offset = q.offset.unwrap_or(0).max(0);
    let result: Result<_, ApiError> = async {
        let scoped_to = super::institution_scope(&app, &p, PATH).await?;
        let filter = RunFilter {
            channel: None,
            institution: scoped_to.clone(),
        };
        let rows = app
            .store
            .list_ingest_runs(&filter, Page::new(PAGE_SIZE, offset))
            .await?;
        let total = app.store.count_ingest_runs(&filter).await?;
        let channels = app
            .store
            .list_channels(scoped_to.as_deref(), Page::new(1_000, 0))
            .await?;
        let leases = app.store.live_channel_leases(now_millis()).await?;
        let channels = channels
            .into_iter()
            .map(|c| ChannelRow::new(c, &leases))
            .collect();
        Ok((scoped_to, channels, rows, total))
    }
    .await;
    match result {
        Ok((scoped_to, channels, rows, total)) => render(
            StatusCode::OK,
            &CollectionPage {
                uploaded: q.uploaded.as_deref().map(|files| {
                    t.fmt(
                        "upload.done",
                        &[
                            ("files", files),
                            (
                                "mib",
                                &format!("{:.1}", q.bytes.unwrap_or(0) as f64 / 1_048_576.0),
                            ),
                            ("channel", q.into.as_deref().unwrap_or_default()),
                        ],
                    )
                }),
                manages: p.roles().contains(&Role::Manager),
                ctx,
                channels,
                rows: rows.into_iter().map(Into::into).collect(),
                scoped_to,
                pager: Pager::new(t, total, offset, PAGE_SIZE),
            },
        ),
        Err(e) => PageError::new(t, e).into_response(),
    }
}

/// `POST /integration/collection/channels/{name}/{action}`: run, cancel, enable or disable.
pub async fn channel_action(
    State(app): State<AppState>,
    p: Principal,
    ctx: PageCtx,
    Path((name, action)): Path<(String, ChannelAction)>,
) -> Response {
    match actions::channel_action(&app, &p, &name, action).await {
        Ok(()) => super::admin::see_other(PATH),
        Err(e) => PageError::new(ctx.t, e).into_response(),
    }
}
