//! The closed loop: a failing rule raises one ticket per institution and rule, later runs update
//! it; the provider acknowledges, starts and resolves it; the next run verifies it or reopens it;
//! a manager closes it; overdue ones are escalated once.

use crate::common;
use anyhow::{Context, Result, ensure};
use hdos_core::standard::Standard;
use hdos_lake::Lake;
use hdos_quality::{
    run::run,
    tickets::{self, Action, DEFAULT_REASONS},
};
use hdos_store::{MetaStore, Page, SqlStore, Ticket, TicketFilter};

const RULE: &str = "patient.id_no.id_number";

async fn the_ticket(store: &SqlStore) -> Result<Vec<Ticket>> {
    let filter = TicketFilter {
        rule_id: Some(RULE.into()),
        ..Default::default()
    };
    Ok(store.tickets(&filter, Page::new(10, 0)).await?)
}

#[tokio::test]
async fn a_ticket_is_raised_worked_verified_reopened_and_closed() -> Result<()> {
    let dir = tempfile::tempdir()?;
    let store = common::store(dir.path()).await?;
    let lake = Lake::open(&dir.path().join("lake").display().to_string())?;
    let std = Standard::builtin()?;
    let reasons: Vec<String> = DEFAULT_REASONS.iter().map(|r| (*r).to_owned()).collect();
    let good = "11010519491231002X";
    let bad = "110105194912310021";
    let step = |n: u64| async move {
        // Each row arrives a little later than the last run's window.
        tokio::time::sleep(std::time::Duration::from_millis(5 * n)).await;
    };

    common::std_rows(
        &lake,
        "patient",
        "H1",
        &[&common::patient("P1", good), &common::patient("P2", bad)],
    )
    .await?;
    let first = run(&store, &lake, std, &common::options(false)).await?;
    ensure!(
        first.tickets.iter().any(|c| c.ticket.rule_id == RULE),
        "raised"
    );
    let t = the_ticket(&store).await?;
    ensure!(
        t.len() == 1 && t[0].state == "new" && t[0].failed == 1 && t[0].checked == 2,
        "{t:?}"
    );
    let id = t[0].id;
    ensure!(
        t[0].due_at - t[0].opened_at == 7 * 86_400_000,
        "soft rules get a week"
    );

    // A later failing run updates the same ticket.
    step(1).await;
    common::std_rows(&lake, "patient", "H1", &[&common::patient("P3", bad)]).await?;
    run(&store, &lake, std, &common::options(false)).await?;
    let t = the_ticket(&store).await?;
    ensure!(
        t.len() == 1 && t[0].id == id && (t[0].failed, t[0].checked) == (1, 1),
        "{t:?}"
    );

    // The provider works it; a reason outside the list is refused.
    tickets::act(&store, id, &Action::Acknowledge, "provider", &reasons).await?;
    tickets::act(&store, id, &Action::Start, "provider", &reasons).await?;
    let wrong = Action::Resolve {
        reason: "不想改".into(),
        comment: String::new(),
    };
    ensure!(
        tickets::act(&store, id, &wrong, "provider", &reasons)
            .await
            .is_err()
    );
    let resolve = Action::Resolve {
        reason: reasons[0].clone(),
        comment: "HIS 已修正".into(),
    };
    let resolved = tickets::act(&store, id, &resolve, "provider", &reasons).await?;
    ensure!(resolved.state == "resolved" && resolved.comment.as_deref() == Some("HIS 已修正"));
    ensure!(
        tickets::act(&store, id, &Action::Start, "provider", &reasons)
            .await
            .is_err(),
        "no start once resolved"
    );

    // It fails again: reopened automatically.
    step(2).await;
    common::std_rows(&lake, "patient", "H1", &[&common::patient("P4", bad)]).await?;
    let again = run(&store, &lake, std, &common::options(false)).await?;
    ensure!(
        again
            .tickets
            .iter()
            .any(|c| c.ticket.id == id && c.kind == tickets::ChangeKind::Reopened)
    );
    let t = the_ticket(&store).await?;
    ensure!(
        t.len() == 1 && t[0].state == "new" && t[0].reopened == 1,
        "{t:?}"
    );

    // Resolved again, and the next run passes: verified; a manager closes it.
    tickets::act(&store, id, &resolve, "provider", &reasons).await?;
    step(3).await;
    common::std_rows(&lake, "patient", "H1", &[&common::patient("P5", good)]).await?;
    let passing = run(&store, &lake, std, &common::options(false)).await?;
    ensure!(
        passing
            .tickets
            .iter()
            .any(|c| c.ticket.id == id && c.kind == tickets::ChangeKind::Verified)
    );
    let closed = tickets::act(&store, id, &Action::Close, "manager", &reasons).await?;
    ensure!(closed.state == "closed" && closed.closed_at.is_some());
    let history: Vec<String> = store
        .ticket_events(id)
        .await?
        .into_iter()
        .map(|e| e.to_state)
        .collect();
    ensure!(
        history
            == [
                "new",
                "acknowledged",
                "in_progress",
                "resolved",
                "new",
                "resolved",
                "verified",
                "closed"
            ],
        "{history:?}"
    );

    // A new failure after closing opens a new ticket.
    step(4).await;
    common::std_rows(&lake, "patient", "H1", &[&common::patient("P6", bad)]).await?;
    run(&store, &lake, std, &common::options(false)).await?;
    let t = the_ticket(&store).await?;
    ensure!(
        t.len() == 2 && t.iter().filter(|x| x.state == "new").count() == 1,
        "{t:?}"
    );

    // Overdue: escalated once.
    let mut open = t.into_iter().find(|x| x.state == "new").context("open")?;
    open.due_at = hdos_store::now_millis() - 1;
    ensure!(store.update_ticket(&open, "new", None).await?);
    let first = tickets::escalate(&store).await?;
    ensure!(first.len() == 1 && first[0].ticket.escalated_at.is_some());
    ensure!(
        tickets::escalate(&store).await?.is_empty(),
        "escalated once"
    );
    Ok(())
}
