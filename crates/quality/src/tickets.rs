//! Rectification tickets (整改工单): raised when an institution's failure rate for a rule exceeds
//! the rule's threshold, one open ticket per (institution, rule), updated by later runs; moved by
//! providers (acknowledge, start, resolve with a reason), verified or reopened by the next run,
//! reopened or closed by managers; overdue ones escalated.

use crate::{QualityError, rule::Severity, rules::ActiveRules};
use hdos_store::{MetaStore, Millis, QualityResult, Ticket, TicketEvent, now_millis};
use serde::Serialize;
use std::fmt;

const DAY_MS: i64 = 86_400_000;

/// Days to fix a hard rule's problem; soft ones get [`SOFT_DAYS`].
pub const HARD_DAYS: i64 = 3;
pub const SOFT_DAYS: i64 = 7;

/// Reasons a provider may give when resolving, unless configured otherwise
/// (setting `quality.resolve_reasons`, one per line).
pub const DEFAULT_REASONS: &[&str] = &[
    "源系统数据已更正",
    "接口或映射已修正",
    "录入规范已培训",
    "数据本身无误（规则需调整）",
    "其他",
];

/// The states of a ticket.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum State {
    New,
    Acknowledged,
    InProgress,
    Resolved,
    Verified,
    Closed,
}

impl State {
    pub const ALL: [State; 6] = [
        Self::New,
        Self::Acknowledged,
        Self::InProgress,
        Self::Resolved,
        Self::Verified,
        Self::Closed,
    ];

    pub fn name(self) -> &'static str {
        match self {
            Self::New => "new",
            Self::Acknowledged => "acknowledged",
            Self::InProgress => "in_progress",
            Self::Resolved => "resolved",
            Self::Verified => "verified",
            Self::Closed => "closed",
        }
    }

    pub fn parse(name: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|s| s.name() == name)
    }

    /// Still waiting for the institution to act.
    pub fn is_open(self) -> bool {
        matches!(self, Self::New | Self::Acknowledged | Self::InProgress)
    }
}

impl fmt::Display for State {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

/// What a person does to a ticket.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Action {
    /// The provider has seen it.
    Acknowledge,
    /// The provider is working on it.
    Start,
    /// The provider says it is fixed, with a reason from the list and a comment.
    Resolve { reason: String, comment: String },
    /// A manager sends a resolved or verified ticket back.
    Reopen { comment: String },
    /// A manager closes a verified (or resolved) ticket.
    Close,
}

impl Action {
    pub fn name(&self) -> &'static str {
        match self {
            Self::Acknowledge => "acknowledge",
            Self::Start => "start",
            Self::Resolve { .. } => "resolve",
            Self::Reopen { .. } => "reopen",
            Self::Close => "close",
        }
    }

    /// Whether the action is the provider's (else a manager's).
    pub fn by_provider(&self) -> bool {
        matches!(self, Self::Acknowledge | Self::Start | Self::Resolve { .. })
    }

    /// The state the action leads to from `from`, or `None` if it is not allowed there.
    pub fn next(&self, from: State) -> Option<State> {
        use State::*;
        match (self, from) {
            (Self::Acknowledge, New) => Some(Acknowledged),
            (Self::Start, New | Acknowledged) => Some(InProgress),
            (Self::Resolve { .. }, New | Acknowledged | InProgress) => Some(Resolved),
            (Self::Reopen { .. }, Resolved | Verified) => Some(InProgress),
            (Self::Close, Resolved | Verified) => Some(Closed),
            _ => None,
        }
    }
}

/// What a run or a person changed, for notifications.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct TicketChange {
    pub ticket: Ticket,
    pub kind: ChangeKind,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum ChangeKind {
    Opened,
    Reopened,
    Verified,
    Escalated,
    /// The provider resolved it (managers are told).
    Resolved,
    /// A manager closed it (the institution is told).
    Closed,
}

impl Action {
    /// What the action tells others, if anything (acknowledging and starting are the
    /// institution's own business).
    pub fn change(&self) -> Option<ChangeKind> {
        match self {
            Self::Resolve { .. } => Some(ChangeKind::Resolved),
            Self::Reopen { .. } => Some(ChangeKind::Reopened),
            Self::Close => Some(ChangeKind::Closed),
            Self::Acknowledge | Self::Start => None,
        }
    }
}

fn due(severity: &str, from: Millis) -> Millis {
    let days = if severity == Severity::Hard.name() {
        HARD_DAYS
    } else {
        SOFT_DAYS
    };
    from + days * DAY_MS
}

fn event(
    ticket_id: i64,
    actor: &str,
    from: Option<State>,
    to: State,
    note: Option<String>,
) -> TicketEvent {
    TicketEvent {
        ticket_id,
        at: now_millis(),
        actor: actor.into(),
        from_state: from.map(|s| s.name().into()),
        to_state: to.name().into(),
        note,
    }
}

fn state_of(t: &Ticket) -> Result<State, QualityError> {
    State::parse(&t.state).ok_or_else(|| QualityError::Ticket {
        id: t.id,
        reason: format!("unknown state `{}`", t.state),
    })
}

/// Applies a run's results to the tickets: raises, updates, verifies and reopens; then escalates
/// overdue ones. Returns what changed.
pub async fn apply(
    store: &dyn MetaStore,
    rules: &ActiveRules,
    results: &[QualityResult],
    run_id: i64,
) -> Result<Vec<TicketChange>, QualityError> {
    let mut changes = Vec::new();
    for r in results {
        if rules.get(&r.rule_id).is_none() || r.checked == 0 {
            continue;
        }
        let failing = r.rate() > r.threshold;
        let existing = store.open_ticket(&r.institution, &r.rule_id).await?;
        let now = now_millis();
        match existing {
            None if failing => {
                let t = Ticket {
                    id: 0,
                    institution: r.institution.clone(),
                    rule_id: r.rule_id.clone(),
                    dataset: r.dataset.clone(),
                    severity: r.severity.clone(),
                    state: State::New.name().into(),
                    opened_at: now,
                    updated_at: now,
                    due_at: due(&r.severity, now),
                    last_run_id: run_id,
                    checked: r.checked,
                    failed: r.failed,
                    threshold: r.threshold,
                    reason: None,
                    comment: None,
                    resolved_at: None,
                    closed_at: None,
                    reopened: 0,
                    escalated_at: None,
                };
                let note = format!("质控运行 {run_id}：失败 {} / {}", r.failed, r.checked);
                match store
                    .insert_ticket(&t, &event(0, "quality", None, State::New, Some(note)))
                    .await
                {
                    Ok(t) => changes.push(TicketChange {
                        ticket: t,
                        kind: ChangeKind::Opened,
                    }),
                    // Another run raised it at the same moment: it exists, which is the point.
                    Err(hdos_store::StoreError::AlreadyExists { .. }) => {}
                    Err(e) => return Err(e.into()),
                }
            }
            None => {}
            Some(mut t) => {
                let from = state_of(&t)?;
                let next = match (from, failing) {
                    (State::Resolved | State::Verified, true) => Some(State::New),
                    (State::Resolved, false) => Some(State::Verified),
                    _ => None,
                };
                t.last_run_id = run_id;
                t.checked = r.checked;
                t.failed = r.failed;
                t.threshold = r.threshold;
                t.updated_at = now;
                let mut note = None;
                if let Some(to) = next {
                    t.state = to.name().into();
                    if to == State::New {
                        t.reopened += 1;
                        t.due_at = due(&t.severity, now);
                        t.escalated_at = None;
                        t.resolved_at = None;
                    }
                    note = Some(format!(
                        "质控运行 {run_id}：失败 {} / {}（阈值 {:.2}%）",
                        r.failed,
                        r.checked,
                        r.threshold * 100.0
                    ));
                }
                let e = next.map(|to| event(t.id, "quality", Some(from), to, note));
                if store.update_ticket(&t, from.name(), e.as_ref()).await? {
                    let kind = match next {
                        Some(State::New) => Some(ChangeKind::Reopened),
                        Some(State::Verified) => Some(ChangeKind::Verified),
                        _ => None,
                    };
                    if let Some(kind) = kind {
                        changes.push(TicketChange { ticket: t, kind });
                    }
                }
            }
        }
    }
    changes.extend(escalate(store).await?);
    Ok(changes)
}

/// Marks open tickets past their due date as escalated (once each) and returns them.
pub async fn escalate(store: &dyn MetaStore) -> Result<Vec<TicketChange>, QualityError> {
    let now = now_millis();
    let open = hdos_store::TicketFilter {
        states: [State::New, State::Acknowledged, State::InProgress]
            .map(|s| s.name().to_owned())
            .to_vec(),
        ..Default::default()
    };
    let mut changes = Vec::new();
    let mut offset = 0;
    loop {
        let page = hdos_store::Page { limit: 500, offset };
        let tickets = store.tickets(&open, page).await?;
        let n = tickets.len() as i64;
        for mut t in tickets {
            if t.due_at >= now || t.escalated_at.is_some() {
                continue;
            }
            t.escalated_at = Some(now);
            let state = state_of(&t)?;
            let e = event(
                t.id,
                "quality",
                Some(state),
                state,
                Some("逾期，已上报管理方".into()),
            );
            if store.update_ticket(&t, state.name(), Some(&e)).await? {
                changes.push(TicketChange {
                    ticket: t,
                    kind: ChangeKind::Escalated,
                });
            }
        }
        if n < 500 {
            break;
        }
        offset += n;
    }
    Ok(changes)
}

/// Applies a person's action, if the ticket's state allows it; the caller has checked that the
/// person may act on this ticket.
pub async fn act(
    store: &dyn MetaStore,
    id: i64,
    action: &Action,
    actor: &str,
    reasons: &[String],
) -> Result<Ticket, QualityError> {
    let mut t = store.ticket(id).await?.ok_or(QualityError::Ticket {
        id,
        reason: "no such ticket".into(),
    })?;
    let from = state_of(&t)?;
    let to = action.next(from).ok_or_else(|| QualityError::Ticket {
        id,
        reason: format!("cannot {} a ticket that is {from}", action.name()),
    })?;
    let now = now_millis();
    let mut note = None;
    match action {
        Action::Resolve { reason, comment } => {
            if !reasons.iter().any(|r| r == reason) {
                return Err(QualityError::Ticket {
                    id,
                    reason: format!(
                        "`{reason}` is not one of the reasons: {}",
                        reasons.join("、")
                    ),
                });
            }
            t.reason = Some(reason.clone());
            t.comment = Some(comment.clone()).filter(|c| !c.trim().is_empty());
            t.resolved_at = Some(now);
            note = Some(format!(
                "{reason}{}",
                if comment.trim().is_empty() {
                    String::new()
                } else {
                    format!("：{comment}")
                }
            ));
        }
        Action::Reopen { comment } => {
            t.reopened += 1;
            t.resolved_at = None;
            t.due_at = due(&t.severity, now);
            t.escalated_at = None;
            note = Some(comment.clone()).filter(|c| !c.trim().is_empty());
        }
        Action::Close => t.closed_at = Some(now),
        Action::Acknowledge | Action::Start => {}
    }
    t.state = to.name().into();
    t.updated_at = now;
    let e = event(id, actor, Some(from), to, note);
    if !store.update_ticket(&t, from.name(), Some(&e)).await? {
        return Err(QualityError::Ticket {
            id,
            reason: "it changed meanwhile; reload and try again".into(),
        });
    }
    Ok(t)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_state_machine_allows_only_its_transitions() {
        use State::*;
        let resolve = Action::Resolve {
            reason: "x".into(),
            comment: String::new(),
        };
        let reopen = Action::Reopen {
            comment: String::new(),
        };
        let table = [
            (&Action::Acknowledge, New, Some(Acknowledged)),
            (&Action::Acknowledge, InProgress, None),
            (&Action::Start, Acknowledged, Some(InProgress)),
            (&resolve, InProgress, Some(Resolved)),
            (&resolve, New, Some(Resolved)),
            (&resolve, Verified, None),
            (&reopen, Resolved, Some(InProgress)),
            (&reopen, Verified, Some(InProgress)),
            (&reopen, New, None),
            (&Action::Close, Verified, Some(Closed)),
            (&Action::Close, InProgress, None),
            (&Action::Close, Closed, None),
        ];
        for (action, from, to) in table {
            assert_eq!(action.next(from), to, "{} from {from}", action.name());
        }
        assert!(resolve.by_provider() && !reopen.by_provider());
    }
}
