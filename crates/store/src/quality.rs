//! What the metadata store keeps for quality control: rules and their versions, runs, results
//! per run × rule × institution, and rectification tickets with their history.

use crate::model::Millis;
use serde::Serialize;

/// A stored quality rule: its definition is JSON the quality crate reads.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct QualityRuleRecord {
    pub id: String,
    pub dataset: String,
    /// Starts at 1; each saved change of the definition adds one.
    pub version: i64,
    pub definition: String,
    pub enabled: bool,
    /// Derived from the regional standard rather than written by a manager.
    pub builtin: bool,
    pub updated_at: Millis,
    pub updated_by: String,
}

/// A rule to save: a new id is inserted at version 1; a changed definition of an existing id
/// becomes its next version; an unchanged one changes nothing.
#[derive(Debug, Clone)]
pub struct SaveQualityRule {
    pub id: String,
    pub dataset: String,
    pub definition: String,
    pub enabled: bool,
    pub builtin: bool,
    pub actor: String,
}

/// One quality run.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct QualityRun {
    pub id: i64,
    /// `incremental` or `full`.
    pub mode: String,
    /// `running`, `succeeded` or `failed`.
    pub state: String,
    pub requested_by: String,
    pub started_at: Millis,
    pub finished_at: Option<Millis>,
    pub rows_checked: i64,
    pub failures: i64,
    pub error: Option<String>,
    /// Per dataset, the newest arrival time (µs) checked, as JSON.
    pub watermarks: String,
}

/// How a run ended.
#[derive(Debug, Clone)]
pub struct QualityRunEnd {
    pub succeeded: bool,
    pub rows_checked: i64,
    pub failures: i64,
    pub error: Option<String>,
    pub watermarks: String,
}

/// One rule's figures for one institution in one run.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct QualityResult {
    pub run_id: i64,
    pub rule_id: String,
    pub rule_version: i64,
    pub dataset: String,
    pub institution: String,
    pub dimension: String,
    pub severity: String,
    /// Acceptable failure rate, 0–1.
    pub threshold: f64,
    pub checked: i64,
    pub failed: i64,
    pub checked_at: Millis,
}

impl QualityResult {
    /// Failed over checked; 0 when nothing was checked.
    pub fn rate(&self) -> f64 {
        if self.checked == 0 {
            0.0
        } else {
            self.failed as f64 / self.checked as f64
        }
    }
}

/// Which results to read (only those of succeeded runs are ever returned).
#[derive(Debug, Clone, Default)]
pub struct QualityResultFilter {
    pub since: Option<Millis>,
    pub until: Option<Millis>,
    pub run_id: Option<i64>,
    pub institution: Option<String>,
    pub dataset: Option<String>,
    pub rule_id: Option<String>,
}

/// A rectification ticket (整改工单).
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Ticket {
    pub id: i64,
    pub institution: String,
    pub rule_id: String,
    pub dataset: String,
    pub severity: String,
    /// `new`, `acknowledged`, `in_progress`, `resolved`, `verified` or `closed`.
    pub state: String,
    pub opened_at: Millis,
    pub updated_at: Millis,
    pub due_at: Millis,
    pub last_run_id: i64,
    pub checked: i64,
    pub failed: i64,
    pub threshold: f64,
    /// The provider's reason when resolving, from the configured list.
    pub reason: Option<String>,
    pub comment: Option<String>,
    pub resolved_at: Option<Millis>,
    pub closed_at: Option<Millis>,
    /// How many times it was reopened.
    pub reopened: i64,
    /// When managers were told it is overdue.
    pub escalated_at: Option<Millis>,
}

/// One step in a ticket's history.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct TicketEvent {
    pub ticket_id: i64,
    pub at: Millis,
    pub actor: String,
    pub from_state: Option<String>,
    pub to_state: String,
    pub note: Option<String>,
}

/// Which tickets to list.
#[derive(Debug, Clone, Default)]
pub struct TicketFilter {
    pub institution: Option<String>,
    pub rule_id: Option<String>,
    /// Only these states (all when empty).
    pub states: Vec<String>,
}
