//! The quality pages through the router: the report after a run, a provider limited to its own
//! institution and working its own tickets only, managers' rules refused with the reason, the
//! CSV export and the printable report.

use crate::common::{TestApp, body_text, form, get};
use anyhow::{Context, Result, ensure};
use axum::http::StatusCode;
use hdos_core::Role;
use hdos_lake::{
    TableName,
    arrow::{
        array::{ArrayRef, StringArray},
        compute::cast,
        record_batch::RecordBatch,
    },
};
use hdos_store::{Page, TicketFilter};
use std::sync::Arc;

const OWN: &str = "12330000TEST00001A";
const OTHER: &str = "12330000TEST00002B";

/// Patients of `institution` as collection writes them; `bad` of them with a wrong ID check
/// character.
async fn patients(app: &TestApp, institution: &str, good: usize, bad: usize) -> Result<()> {
    let std = hdos_core::standard::Standard::builtin()?;
    let schema = Arc::new(hdos_lake::standard::std_schema(
        std.dataset("patient").context("patient")?,
    ));
    let now = chrono::Utc::now()
        .format("%Y-%m-%dT%H:%M:%S%.6fZ")
        .to_string();
    let n = good + bad;
    let value = |field: &str, i: usize| -> Option<String> {
        Some(match field {
            "patient_id" => format!("{institution}-P{i}"),
            "institution_code" | "_hdos_institution" | "_hdos_source" => institution.to_owned(),
            "id_type" => "01".into(),
            "id_no" if i < good => "11010519491231002X".into(),
            "id_no" => "110105194912310021".into(),
            "name" => "张三".into(),
            "sex_code" => "2".into(),
            "birth_date" => "1949-12-31".into(),
            "updated_at" => "2025-01-01T08:00:00Z".into(),
            "_hdos_ingested_at" => now.clone(),
            _ => return None,
        })
    };
    let columns: Vec<ArrayRef> = schema
        .fields()
        .iter()
        .map(|f| {
            let text: StringArray = (0..n).map(|i| value(f.name(), i)).collect();
            cast(&text, f.data_type())
        })
        .collect::<Result<_, _>>()?;
    let table = TableName::new("std/patient")?;
    let lake = &app.state.lake;
    lake.create_table(&table, &schema).await?;
    lake.append(&table, vec![RecordBatch::try_new(schema, columns)?], None)
        .await?;
    Ok(())
}

#[tokio::test]
async fn the_report_tickets_rules_and_exports_work_for_each_role() -> Result<()> {
    let app = TestApp::new().await?;
    patients(&app, OWN, 8, 2).await?;
    patients(&app, OTHER, 10, 0).await?;
    let manager = app.session(Role::Manager).await?;
    let provider = app.session(Role::Provider).await?;

    // A manager runs the check from the page.
    let r = app
        .send(form(
            "/integration/quality/run",
            Some(&manager),
            Some(&manager.csrf),
            &[("full", "1")],
        ))
        .await?;
    ensure!(r.status() == StatusCode::SEE_OTHER, "{}", r.status());
    let page = body_text(
        app.send(get("/integration/quality", Some(&manager)))
            .await?,
    )
    .await?;
    ensure!(
        page.contains("质控运行已完成") || page.contains("id=\"ranking\""),
        "report shown"
    );
    ensure!(
        page.contains(OWN) && page.contains(OTHER),
        "both institutions ranked"
    );
    ensure!(
        page.contains("patient.id_no.id_number"),
        "the failing rule is listed"
    );

    // The provider sees its own institution only, and its masked failing records.
    let page = body_text(
        app.send(get("/integration/quality", Some(&provider)))
            .await?,
    )
    .await?;
    ensure!(
        page.contains(OWN) && !page.contains(OTHER),
        "scoped to its institution"
    );
    let details = body_text(
        app.send(get(
            &format!(
                "/integration/quality/failures?institution={OTHER}&rule=patient.id_no.id_number"
            ),
            Some(&provider),
        ))
        .await?,
    )
    .await?;
    ensure!(details.contains(&format!("{OWN}-P8")), "its own failures");
    ensure!(!details.contains("110105194912310021"), "ID numbers masked");
    ensure!(details.contains("110*************21"), "{details}");

    // Tickets: one for the provider's institution; it acts on it, managers may not resolve it.
    let tickets = app
        .state
        .store
        .tickets(&TicketFilter::default(), Page::new(100, 0))
        .await?;
    let own = tickets
        .iter()
        .find(|t| t.institution == OWN && t.rule_id == "patient.id_no.id_number")
        .context("a ticket for the failing institution")?;
    ensure!(
        !tickets
            .iter()
            .any(|t| t.institution == OTHER && t.rule_id == "patient.id_no.id_number")
    );
    let act = |who: &crate::common::Login, action: &str, fields: &[(&str, &str)]| {
        form(
            &format!("/integration/quality/tickets/{}/{action}", own.id),
            Some(who),
            Some(&who.csrf),
            fields,
        )
    };
    let r = app.send(act(&manager, "acknowledge", &[])).await?;
    ensure!(
        r.status() == StatusCode::FORBIDDEN,
        "a manager does not work a hospital's ticket: {}",
        r.status()
    );
    let r = app.send(act(&provider, "acknowledge", &[])).await?;
    ensure!(r.status() == StatusCode::SEE_OTHER, "{}", r.status());
    let r = app
        .send(act(
            &provider,
            "resolve",
            &[("reason", "源系统数据已更正"), ("comment", "已修正")],
        ))
        .await?;
    ensure!(r.status() == StatusCode::SEE_OTHER, "{}", r.status());
    let told = app
        .state
        .store
        .notifications_for(true, None, Page::new(50, 0))
        .await?;
    ensure!(
        told.iter()
            .any(|n| n.kind == "ticket.resolved" && n.institution == OWN),
        "managers are told of the resolution"
    );
    let page = body_text(
        app.send(get(
            "/integration/quality/tickets?show=all",
            Some(&provider),
        ))
        .await?,
    )
    .await?;
    ensure!(
        page.contains("已整改") && page.contains("已修正"),
        "resolved with its comment"
    );
    let other_ticket = app
        .state
        .store
        .tickets(
            &TicketFilter {
                institution: Some(OTHER.into()),
                ..Default::default()
            },
            Page::new(1, 0),
        )
        .await?;
    if let Some(t) = other_ticket.first() {
        let r = app
            .send(form(
                &format!("/integration/quality/tickets/{}/acknowledge", t.id),
                Some(&provider),
                Some(&provider.csrf),
                &[],
            ))
            .await?;
        ensure!(
            r.status() == StatusCode::FORBIDDEN,
            "another institution's ticket: {}",
            r.status()
        );
    }
    let r = app
        .send(act(&manager, "reopen", &[("comment", "仍有问题")]))
        .await?;
    ensure!(
        r.status() == StatusCode::SEE_OTHER,
        "a manager reopens: {}",
        r.status()
    );

    // Rules: a bad pattern is refused with the reason and the form kept.
    let r = app
        .send(form(
            "/integration/quality/rules",
            Some(&manager),
            Some(&manager.csrf),
            &[
                ("id", "patient.name_format"),
                ("dataset", "patient"),
                ("kind", "format"),
                ("field", "name"),
                ("arg1", "([a-z"),
                ("dimension", "validity"),
                ("severity", "soft"),
                ("threshold", "1"),
            ],
        ))
        .await?;
    ensure!(r.status() == StatusCode::BAD_REQUEST, "{}", r.status());
    let text = body_text(r).await?;
    ensure!(
        text.contains("not a regular expression") && text.contains("value=\"([a-z\""),
        "{text}"
    );
    let r = app
        .send(form(
            "/integration/quality/rules",
            Some(&manager),
            Some(&manager.csrf),
            &[
                ("id", "patient.name_short"),
                ("dataset", "patient"),
                ("kind", "sql"),
                ("arg1", "length(name) <= 10"),
                ("dimension", "validity"),
                ("severity", "soft"),
                ("threshold", "1"),
            ],
        ))
        .await?;
    ensure!(r.status() == StatusCode::SEE_OTHER, "{}", r.status());
    ensure!(
        app.state
            .store
            .quality_rule("patient.name_short")
            .await?
            .is_some()
    );
    // A daily volume: a count that is not a number is refused; a good one is kept.
    let volume = |min: &'static str| {
        form(
            "/integration/quality/rules",
            Some(&manager),
            Some(&manager.csrf),
            &[
                ("id", "outpatient_visit.daily"),
                ("dataset", "outpatient_visit"),
                ("kind", "volume"),
                ("field", "visit_time"),
                ("arg1", min),
                ("arg2", ""),
                ("dimension", "completeness"),
                ("severity", "soft"),
                ("threshold", "0"),
            ],
        )
    };
    let r = app.send(volume("很多")).await?;
    ensure!(r.status() == StatusCode::BAD_REQUEST, "{}", r.status());
    let text = body_text(r).await?;
    ensure!(text.contains("is not a number of rows"), "{text}");
    let r = app.send(volume("200")).await?;
    ensure!(r.status() == StatusCode::SEE_OTHER, "{}", r.status());
    let saved = app
        .state
        .store
        .quality_rule("outpatient_visit.daily")
        .await?
        .context("the volume rule")?;
    ensure!(
        saved.definition.contains("\"min\":200"),
        "{}",
        saved.definition
    );

    // Exports.
    let csv = app
        .send(get(
            "/integration/quality/report.csv?period=week",
            Some(&provider),
        ))
        .await?;
    ensure!(csv.status() == StatusCode::OK);
    let csv = body_text(csv).await?;
    ensure!(
        csv.starts_with('\u{feff}') && csv.contains("summary,") && csv.contains("anomaly,"),
        "{csv}"
    );
    ensure!(!csv.contains(OTHER), "the provider's export is its own");
    let xlsx = app
        .send(get(
            "/integration/quality/report.xlsx?period=week",
            Some(&manager),
        ))
        .await?;
    ensure!(xlsx.status() == StatusCode::OK);
    let bytes = axum::body::to_bytes(xlsx.into_body(), usize::MAX).await?;
    ensure!(bytes.starts_with(b"PK\x03\x04"), "a ZIP package");
    let text = String::from_utf8_lossy(&bytes);
    ensure!(text.contains("patient.id_no.id_number") && text.contains(OWN) && text.contains(OTHER));
    let print = body_text(
        app.send(get(
            "/integration/quality/report/print?period=day",
            Some(&manager),
        ))
        .await?,
    )
    .await?;
    ensure!(print.contains("数据质控报告") && print.contains("id=\"datasets\""));
    let audit = crate::common::audited(&app, "quality.ticket.resolve").await?;
    ensure!(!audit.is_empty(), "ticket actions are audited");
    Ok(())
}
