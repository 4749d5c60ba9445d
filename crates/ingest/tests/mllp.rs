//! The HL7 v2 over MLLP channel on real TCP, with a real Delta lake and a real SQLite metadata
//! store: a primary-care institution's message file replayed over several connections, every
//! message acknowledged and landed once; resent, malformed, oversized, truncated and wrongly
//! encoded messages; and a restart that lands again what a crash left between the commits.

use anyhow::{Context, Result, ensure};
use hdos_core::standard::Standard;
use hdos_ingest::{
    hl7::MessageMappings,
    mllp::{
        MllpChannel, MllpConfig,
        client::{Sender, send_all, split_messages},
        wrap,
    },
};
use hdos_lake::Lake;
use hdos_store::MetaStore;
use hdos_synth::DefectProfile;
use std::{path::Path, sync::Arc};

use crate::common;

struct Region {
    code: String,
    messages: Vec<u8>,
}

/// A small region; the message file of its institution of `grade` (三级 or 一级).
fn region(dir: &Path, grade: &str) -> Result<Region> {
    let manifest = common::region(dir, 5, 300, DefectProfile::clean(), true)?;
    let site = manifest
        .institutions
        .iter()
        .find(|s| s.grade == grade)
        .context("an institution of the grade")?;
    let messages = std::fs::read(dir.join("hl7").join(format!("{}.hl7", site.code)))?;
    Ok(Region {
        code: site.code.clone(),
        messages,
    })
}

async fn store(dir: &Path, name: &str) -> Result<Arc<dyn MetaStore>> {
    Ok(Arc::new(common::store(dir, name).await?))
}

async fn count(lake: &Lake, table: &str, filter: &str) -> Result<i64> {
    common::count(lake, table, filter).await
}

fn count_segments(messages: &[&[u8]], name: &str) -> usize {
    messages
        .iter()
        .map(|m| {
            m.split(|b| *b == b'\r')
                .filter(|s| s.starts_with(name.as_bytes()))
                .count()
        })
        .sum()
}

async fn start(
    store: Arc<dyn MetaStore>,
    lake: &Lake,
    code: &str,
    journal: &Path,
) -> Result<MllpChannel> {
    let mut config = MllpConfig::new("hl7_test", code, "127.0.0.1:0".parse()?, journal.to_owned());
    config.max_message_bytes = 64 * 1024;
    Ok(MllpChannel::start(
        store,
        lake.clone(),
        Standard::builtin()?,
        &MessageMappings::builtin()?,
        config,
    )
    .await?)
}

#[tokio::test]
async fn messages_are_acknowledged_after_storing_and_land_once() -> Result<()> {
    let dir = tempfile::tempdir()?;
    let region = region(&dir.path().join("region"), "三级")?;
    let messages = split_messages(&region.messages);
    ensure!(messages.len() > 100, "only {} messages", messages.len());
    let lake = Lake::open(dir.path().join("lake").to_str().context("path")?)?;
    let meta = store(dir.path(), "meta.db").await?;
    let journal = dir.path().join("journal");
    let channel = start(meta.clone(), &lake, &region.code, &journal).await?;
    let addr = channel.local_addr();

    let answers = send_all(addr, &messages, 4).await?;
    let refused: Vec<_> = answers.iter().filter(|a| a.code != "AA").collect();
    ensure!(
        refused.is_empty(),
        "refused: {:?}",
        &refused[..refused.len().min(3)]
    );

    // A resend after a lost ACK is acknowledged again and stored once.
    let again = send_all(addr, &messages[..10], 1).await?;
    ensure!(
        again
            .iter()
            .all(|a| a.code == "AA" && a.text.contains("duplicate"))
    );

    channel.caught_up().await;
    let report = channel.stop().await?;
    ensure!(report.duplicates == 10, "{report:?}");
    ensure!(
        report.counts.rows_read == messages.len() as i64,
        "{report:?}"
    );

    let raw = count(&lake, "raw/hl7_test/messages", "").await?;
    ensure!(
        raw == messages.len() as i64,
        "raw holds {raw} of {}",
        messages.len()
    );
    let labs = count(&lake, "std/lab_result", "").await?;
    let obx = count_segments(&messages, "OBX");
    ensure!(
        labs == obx as i64,
        "{labs} lab results for {obx} OBX segments"
    );
    let visits = count(&lake, "std/outpatient_visit", "").await?;
    let a04 = messages
        .iter()
        .filter(|m| String::from_utf8_lossy(m).contains("|ADT^A04^"))
        .count();
    ensure!(visits == a04 as i64, "{visits} visits for {a04} ADT^A04");
    let admissions = messages
        .iter()
        .filter(|m| String::from_utf8_lossy(m).contains("|ADT^A01^"))
        .count();
    let stays = count(&lake, "std/inpatient_stay", "").await?;
    ensure!(
        admissions > 0 && stays == admissions as i64,
        "{stays} stays for {admissions} ADT^A01"
    );
    let discharged = count(
        &lake,
        "std/inpatient_stay",
        "WHERE discharge_time IS NOT NULL",
    )
    .await?;
    ensure!(discharged > 0, "ADT^A03 fills the discharge time");
    let diagnoses = count(&lake, "std/diagnosis", "").await?;
    ensure!(
        diagnoses >= (a04 + admissions) as i64,
        "{diagnoses} diagnoses"
    );
    let patients = count(&lake, "std/patient", "").await?;
    ensure!(
        patients > 0 && patients <= (a04 + admissions) as i64,
        "{patients} patients"
    );
    let runs = meta
        .list_ingest_runs(&Default::default(), hdos_store::Page::new(10, 0))
        .await?;
    ensure!(
        runs[0].status == hdos_store::RunStatus::Succeeded
            && runs[0].counts.rows_read == messages.len() as i64,
        "{runs:?}"
    );
    Ok(())
}

#[tokio::test]
async fn bad_messages_are_refused_with_the_reason_and_quarantined() -> Result<()> {
    let dir = tempfile::tempdir()?;
    let region = region(&dir.path().join("region"), "一级")?;
    let messages = split_messages(&region.messages);
    let good = messages
        .iter()
        .map(|m| String::from_utf8_lossy(m).into_owned())
        .find(|m| m.contains("|ADT^A04^"))
        .context("an ADT^A04")?;
    let others: Vec<&[u8]> = messages
        .iter()
        .copied()
        .filter(|m| *m != good.as_bytes())
        .collect();
    let lake = Lake::open(dir.path().join("lake").to_str().context("path")?)?;
    let meta = store(dir.path(), "meta.db").await?;
    let channel = start(meta, &lake, &region.code, &dir.path().join("journal")).await?;
    let mut sender = Sender::connect(channel.local_addr()).await?;

    let with = |from: &str, to: &str| good.replacen(from, to, 1).into_bytes();
    let pid_birth = good
        .split('\r')
        .find(|s| s.starts_with("PID"))
        .and_then(|pid| pid.split('|').nth(7))
        .context("PID-7")?
        .to_owned();
    let cases: Vec<(&str, Vec<u8>, &str, &str)> = vec![
        ("no MSH", b"PID|1||X".to_vec(), "AE", "MSH"),
        (
            "bad segment",
            format!("{good}P I|x\r").into_bytes(),
            "AE",
            "segment name",
        ),
        (
            "unknown type",
            with("ADT^A04^ADT_A01", "ADT^A99^ADT_A01"),
            "AR",
            "ADT^A99",
        ),
        (
            "other sender",
            with(&region.code, "OTHER"),
            "AR",
            "sending facility",
        ),
        (
            "bad birth date",
            with(&format!("||{pid_birth}|"), "||20261399|"),
            "AE",
            "birth_date",
        ),
        (
            "GBK declared UTF-8",
            {
                let mut b = good.clone().into_bytes();
                let at = b.len() - 1;
                b.splice(at..at, [0xc4u8, 0xda]);
                b
            },
            "AE",
            "not valid UTF-8",
        ),
        // Refused messages are not remembered: the corrected one with the same id is taken.
        (
            "corrected, same control id",
            good.clone().into_bytes(),
            "AA",
            "",
        ),
    ];
    for (what, bytes, code, says) in &cases {
        let a = sender.send(bytes).await?;
        ensure!(&a.code == code, "{what}: {a:?}");
        ensure!(a.text.contains(says), "{what}: {a:?}");
    }
    // Oversized: refused once its end arrives; the connection stays usable.
    let mut big = good.clone().into_bytes();
    big.extend(std::iter::repeat_n(b'X', 70 * 1024));
    let a = sender.send(&big).await?;
    ensure!(a.code == "AR" && a.text.contains("limit"), "{a:?}");
    ensure!(sender.send(others[0]).await?.code == "AA");
    // Truncated: the connection closes mid-message; nothing to acknowledge, but it is kept.
    let mut cut = Sender::connect(channel.local_addr()).await?;
    let framed = wrap(others[1]);
    cut.send_raw(&framed[..framed.len() / 2]).await?;
    drop(cut);
    tokio::time::sleep(std::time::Duration::from_millis(300)).await;

    channel.caught_up().await;
    channel.stop().await?;
    let quarantined = count(&lake, "quarantine/messages", "").await?;
    ensure!(quarantined >= 8, "{quarantined} quarantined");
    for reason in [
        "segment name",
        "ADT^A99",
        "birth_date",
        "UTF-8",
        "limit",
        "truncated",
    ] {
        let n = count(
            &lake,
            "quarantine/messages",
            &format!("WHERE reason LIKE '%{reason}%'"),
        )
        .await?;
        ensure!(n >= 1, "no quarantined message says `{reason}`");
    }
    let raw = count(&lake, "raw/hl7_test/messages", "").await?;
    ensure!(raw as usize == cases.len() + 3, "raw holds {raw}");
    Ok(())
}

#[tokio::test]
async fn a_restart_lands_again_what_a_crash_left_between_commits() -> Result<()> {
    let dir = tempfile::tempdir()?;
    let region = region(&dir.path().join("region"), "一级")?;
    let messages = split_messages(&region.messages);
    let lake = Lake::open(dir.path().join("lake").to_str().context("path")?)?;
    let journal = dir.path().join("journal");
    let first = store(dir.path(), "first.db").await?;
    let channel = start(first, &lake, &region.code, &journal).await?;
    send_all(channel.local_addr(), &messages, 2).await?;
    channel.caught_up().await;
    channel.stop().await?;
    let raw = count(&lake, "raw/hl7_test/messages", "").await?;
    let labs = count(&lake, "std/lab_result", "").await?;

    // A metadata store without the checkpoint: as if the process died after the lake commits
    // and before the checkpoint. The journal replays; the lake's transactions refuse repeats.
    let second = store(dir.path(), "second.db").await?;
    let channel = start(second, &lake, &region.code, &journal).await?;
    channel.caught_up().await;
    // Every message is still remembered: a resend is a duplicate, not a new row.
    let again = send_all(channel.local_addr(), &messages[..5], 1).await?;
    ensure!(
        again.iter().all(|a| a.text.contains("duplicate")),
        "{again:?}"
    );
    let report = channel.stop().await?;
    ensure!(report.duplicates == 5, "{report:?}");
    ensure!(count(&lake, "raw/hl7_test/messages", "").await? == raw);
    ensure!(count(&lake, "std/lab_result", "").await? == labs);
    Ok(())
}

#[tokio::test]
async fn a_cancelled_visit_is_deleted_from_the_std_zone() -> Result<()> {
    let dir = tempfile::tempdir()?;
    let region = region(&dir.path().join("region"), "一级")?;
    let messages = split_messages(&region.messages);
    let visit = messages
        .iter()
        .map(|m| String::from_utf8_lossy(m).into_owned())
        .find(|m| m.contains("|ADT^A04^") && m.contains("\rPV1|1|O|"))
        .context("an outpatient ADT^A04")?;
    let field = |segment: &str, n: usize| {
        visit
            .split('\r')
            .find(|s| s.starts_with(segment))
            .and_then(|s| s.split('|').nth(n))
            .map(|f| f.split('^').next().unwrap_or_default().to_owned())
            .context("field")
    };
    let visit_id = field("PV1", 19)?;
    let msh = visit.split('\r').next().context("MSH")?;
    let cancel = format!(
        "{}\rEVN|A11\rPID|1||{}^^^{}^PI\rPV1|1|O{}{visit_id}\r",
        msh.replacen("ADT^A04^ADT_A01", "ADT^A11^ADT_A09", 1)
            .replacen(&field("MSH", 9)?, "CANCEL-1", 1),
        field("PID", 3)?,
        region.code,
        "|".repeat(17),
    );
    let lake = Lake::open(dir.path().join("lake").to_str().context("path")?)?;
    let channel = start(
        store(dir.path(), "meta.db").await?,
        &lake,
        &region.code,
        &dir.path().join("journal"),
    )
    .await?;
    let mut sender = Sender::connect(channel.local_addr()).await?;
    let this_visit = format!("WHERE visit_id = '{visit_id}'");
    ensure!(sender.send(visit.as_bytes()).await?.code == "AA");
    channel.caught_up().await;
    ensure!(count(&lake, "std/outpatient_visit", &this_visit).await? == 1);
    let answer = sender.send(cancel.as_bytes()).await?;
    ensure!(answer.code == "AA", "{answer:?}");
    channel.caught_up().await;
    ensure!(
        count(&lake, "std/outpatient_visit", &this_visit).await? == 0,
        "the cancelled visit is gone"
    );
    ensure!(count(&lake, "std/outpatient_visit", "").await? == 0);
    ensure!(
        count(
            &lake,
            "raw/hl7_test/messages",
            "WHERE message_type = 'ADT^A11'"
        )
        .await?
            == 1
    );
    channel.stop().await?;
    Ok(())
}
