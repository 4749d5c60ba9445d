//! Whole-region generation: determinism, the ground-truth manifest against the clean twin,
//! resident IDs against the hdos-core validator, and the message files.
// A test-only crate: helpers fail the test by panicking, like the tests themselves.
#![allow(clippy::unwrap_used)]

use chrono::NaiveDate;
use hdos_core::validate::{Sex, parse_resident_id};
use hdos_synth::{
    Dataset, DefectKind, DefectProfile, InstitutionCounts, ManifestEntry, Options, RegionManifest,
    Row, Value, Vendor, generate, his::read_rows,
};
use std::{
    collections::{BTreeMap, BTreeSet},
    path::{Path, PathBuf},
};

fn options(out: &Path, seed: u64, defects: DefectProfile, messages: bool) -> Options {
    Options {
        seed,
        patients: 1_500,
        institutions: InstitutionCounts {
            tertiary: 1,
            secondary: 2,
            primary: 3,
        },
        years: 2,
        until: NaiveDate::from_ymd_opt(2026, 1, 1).unwrap(),
        defects,
        messages,
        out: out.to_owned(),
    }
}

fn files(dir: &Path) -> BTreeMap<PathBuf, Vec<u8>> {
    let mut out = BTreeMap::new();
    let mut stack = vec![dir.to_owned()];
    while let Some(d) = stack.pop() {
        for e in std::fs::read_dir(&d).unwrap() {
            let p = e.unwrap().path();
            if p.is_dir() {
                stack.push(p);
            } else {
                out.insert(
                    p.strip_prefix(dir).unwrap().to_owned(),
                    std::fs::read(&p).unwrap(),
                );
            }
        }
    }
    out
}

/// Every site's rows per dataset, read back into standard form.
fn region_rows(dir: &Path, m: &RegionManifest) -> BTreeMap<(String, Dataset), Vec<Row>> {
    let mut out = BTreeMap::new();
    for site in &m.institutions {
        let conn = rusqlite::Connection::open(dir.join(&site.his)).unwrap();
        let vendor = Vendor::from_name(&site.his_vendor).unwrap();
        for d in Dataset::ALL {
            out.insert((site.code.clone(), d), read_rows(&conn, vendor, d).unwrap());
        }
    }
    out
}

fn manifest(dir: &Path) -> Vec<ManifestEntry> {
    // Entries are written as JSON lines; read them back field by field.
    std::fs::read_to_string(dir.join("defects.jsonl"))
        .unwrap()
        .lines()
        .map(|l| {
            let v: serde_json::Value = serde_json::from_str(l).unwrap();
            let kind = DefectKind::ALL
                .into_iter()
                .find(|k| k.name() == v["kind"])
                .unwrap();
            let dataset = Dataset::from_name(v["dataset"].as_str().unwrap()).unwrap();
            let field = v["field"].as_str().map(|f| {
                dataset
                    .fields()
                    .iter()
                    .copied()
                    .chain(["updated_at"])
                    .find(|x| *x == f)
                    .unwrap()
            });
            ManifestEntry {
                dataset: dataset.name(),
                institution: v["institution"].as_str().unwrap().to_owned(),
                key: v["key"].as_str().unwrap().to_owned(),
                field,
                kind,
            }
        })
        .collect()
}

#[test]
fn the_same_seed_gives_byte_identical_output() {
    let dir = tempfile::tempdir().unwrap();
    let heavy: DefectProfile = "heavy".parse().unwrap();
    let a = dir.path().join("a");
    let b = dir.path().join("b");
    let c = dir.path().join("c");
    generate(&options(&a, 5, heavy, true), |_| {}).unwrap();
    generate(&options(&b, 5, heavy, true), |_| {}).unwrap();
    generate(&options(&c, 6, heavy, true), |_| {}).unwrap();
    let (fa, fb, fc) = (files(&a), files(&b), files(&c));
    assert!(fa.keys().any(|p| p.starts_with("hl7")));
    assert!(fa.keys().any(|p| p.starts_with("fhir")));
    assert!(fa.keys().all(|p| !p.to_string_lossy().contains("partial")));
    assert_eq!(fa.keys().collect::<Vec<_>>(), fb.keys().collect::<Vec<_>>());
    for (path, bytes) in &fa {
        assert!(
            bytes == &fb[path],
            "{} differs between runs",
            path.display()
        );
    }
    assert_ne!(
        fa[Path::new("defects.jsonl")],
        fc[Path::new("defects.jsonl")]
    );
}

#[test]
fn the_manifest_lists_exactly_the_differences_from_the_clean_twin() {
    let dir = tempfile::tempdir().unwrap();
    let (clean_dir, dirty_dir) = (dir.path().join("clean"), dir.path().join("dirty"));
    let clean_m = generate(
        &options(&clean_dir, 9, DefectProfile::clean(), false),
        |_| {},
    )
    .unwrap();
    let dirty_m = generate(
        &options(&dirty_dir, 9, "0.01".parse().unwrap(), false),
        |_| {},
    )
    .unwrap();
    assert_eq!(clean_m.defects_injected, 0);
    assert_eq!(std::fs::read(clean_dir.join("defects.jsonl")).unwrap(), b"");
    let entries = manifest(&dirty_dir);
    assert_eq!(entries.len() as u64, dirty_m.defects_injected);

    let clean = region_rows(&clean_dir, &clean_m);
    let dirty = region_rows(&dirty_dir, &dirty_m);
    let mut found = BTreeSet::new();
    for ((institution, dataset), clean_rows) in &clean {
        let mut by_key: BTreeMap<&str, Vec<&Row>> = BTreeMap::new();
        for r in &dirty[&(institution.clone(), *dataset)] {
            by_key.entry(r.key()).or_default().push(r);
        }
        assert_eq!(
            by_key.len(),
            clean_rows.len(),
            "{institution} {dataset}: keys differ"
        );
        for c in clean_rows {
            let d = &by_key[c.key()];
            let entry = |field: Option<&'static str>| {
                (
                    institution.clone(),
                    dataset.name(),
                    c.key().to_owned(),
                    field,
                )
            };
            if d.len() == 2 {
                assert_eq!(d[0], c, "the original of a duplicate is untouched");
                assert_eq!(d[1].values, c.values, "a duplicate repeats the record");
                found.insert(entry(None));
                continue;
            }
            assert_eq!(d.len(), 1);
            for (f, (a, b)) in dataset
                .fields()
                .iter()
                .zip(c.values.iter().zip(&d[0].values))
            {
                if a != b {
                    found.insert(entry(Some(f)));
                }
            }
            if c.updated_at != d[0].updated_at {
                found.insert(entry(Some("updated_at")));
            }
        }
    }
    let listed: BTreeSet<_> = entries
        .iter()
        .map(|e| (e.institution.clone(), e.dataset, e.key.clone(), e.field))
        .collect();
    assert_eq!(listed.len(), entries.len(), "one entry per defect");
    assert_eq!(found, listed);
    let kinds: BTreeSet<_> = entries.iter().map(|e| e.kind).collect();
    assert_eq!(
        kinds.len(),
        DefectKind::ALL.len(),
        "every kind occurs: {kinds:?}"
    );
}

#[test]
fn valid_ids_pass_the_validator_and_id_defects_fail_it() {
    let dir = tempfile::tempdir().unwrap();
    let out = dir.path().join("r");
    let m = generate(&options(&out, 21, "0.02".parse().unwrap(), false), |_| {}).unwrap();
    let defects: BTreeMap<(String, String), DefectKind> = manifest(&out)
        .into_iter()
        .filter(|e| e.dataset == "patient")
        .map(|e| ((e.institution, e.key), e.kind))
        .collect();
    let mut seen = BTreeSet::new();
    for ((institution, dataset), rows) in region_rows(&out, &m) {
        if dataset != Dataset::Patient {
            continue;
        }
        for r in rows {
            let kind = defects.get(&(institution.clone(), r.key().to_owned()));
            let Some(id) = r.get("id_no").as_str() else {
                assert_eq!(kind, Some(&DefectKind::MissingRequired));
                continue;
            };
            let parsed = parse_resident_id(id);
            match kind {
                Some(DefectKind::InvalidIdCheckDigit) => {
                    assert!(parsed.is_err(), "{id}");
                }
                Some(DefectKind::IdBirthDateMismatch) => {
                    assert_ne!(
                        Value::Date(parsed.unwrap().birth_date),
                        *r.get("birth_date")
                    );
                }
                Some(DefectKind::IdSexMismatch) => {
                    let sex = Sex::from_code(r.get("sex_code").as_str().unwrap()).unwrap();
                    assert_ne!(parsed.unwrap().sex, sex);
                }
                _ => {
                    let parsed = parsed.unwrap_or_else(|e| panic!("{id}: {e}"));
                    if kind.is_none() {
                        assert_eq!(Value::Date(parsed.birth_date), *r.get("birth_date"));
                        assert_eq!(Value::text(parsed.sex.code()), *r.get("sex_code"));
                    }
                }
            }
            if let Some(k) = kind {
                seen.insert(*k);
            }
        }
    }
    for k in [
        DefectKind::InvalidIdCheckDigit,
        DefectKind::IdBirthDateMismatch,
        DefectKind::IdSexMismatch,
    ] {
        assert!(seen.contains(&k), "{k} was injected");
    }
}

#[test]
fn messages_are_well_formed_and_cover_the_encounters() {
    let dir = tempfile::tempdir().unwrap();
    let out = dir.path().join("r");
    let m = generate(&options(&out, 4, DefectProfile::clean(), true), |_| {}).unwrap();
    let mut a04 = 0;
    let mut oru = 0;
    for site in &m.institutions {
        let hl7 =
            std::fs::read_to_string(out.join("hl7").join(format!("{}.hl7", site.code))).unwrap();
        // Segments end in \r and messages in \n.
        for message in hl7.split('\n').filter(|m| !m.is_empty()) {
            assert!(message.starts_with("MSH|^~\\&|HIS|"), "{message}");
            assert!(message.ends_with('\r'));
            let segments: Vec<&str> = message.trim_end_matches('\r').split('\r').collect();
            let kind = segments[0].split('|').nth(8).unwrap();
            match kind {
                "ADT^A04^ADT_A01" => a04 += 1,
                "ORU^R01^ORU_R01" => {
                    oru += 1;
                    assert!(segments.iter().any(|s| s.starts_with("OBX|1|")));
                }
                "ADT^A01^ADT_A01" | "ADT^A03^ADT_A03" | "ADT^A08^ADT_A01" => {}
                other => panic!("unexpected message type {other}"),
            }
            assert!(segments.iter().any(|s| s.starts_with("PID|1||")));
            // A message is sent once the diagnoses it carries are made, never before.
            let sent = segments[0].split('|').nth(6).unwrap();
            for dg1 in segments.iter().filter(|s| s.starts_with("DG1|")) {
                let diagnosed = dg1.split('|').nth(5).unwrap();
                assert!(diagnosed <= sent, "{diagnosed} after {sent}: {message}");
            }
        }
        let fhir = std::fs::read_to_string(out.join("fhir").join(format!("{}.ndjson", site.code)))
            .unwrap();
        assert_eq!(
            fhir.lines().count() as u64,
            site.rows["outpatient_visit"] + site.rows["inpatient_stay"]
        );
        for line in fhir.lines().take(200) {
            let b: serde_json::Value = serde_json::from_str(line).unwrap();
            assert_eq!(b["type"], "transaction");
            assert_eq!(b["entry"][0]["resource"]["resourceType"], "Patient");
            assert_eq!(b["entry"][1]["resource"]["resourceType"], "Encounter");
        }
    }
    assert_eq!(a04 as u64, m.rows["outpatient_visit"]);
    assert!(oru > 0);
}

#[test]
fn a_used_output_directory_is_refused() {
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(dir.path().join("keep.txt"), "mine").unwrap();
    let err = generate(
        &options(dir.path(), 1, DefectProfile::clean(), false),
        |_| {},
    )
    .unwrap_err();
    assert!(err.to_string().contains("not empty"), "{err}");
    assert_eq!(std::fs::read(dir.path().join("keep.txt")).unwrap(), b"mine");
}

fn region_for_stream(dir: &Path) -> (PathBuf, RegionManifest) {
    let out = dir.join("r");
    let m = generate(&options(&out, 31, DefectProfile::clean(), false), |_| {}).unwrap();
    (out, m)
}

fn count(conn: &rusqlite::Connection, vendor: Vendor, d: Dataset) -> i64 {
    conn.query_row(
        &format!("SELECT count(*) FROM {}", Vendor::quote(vendor.table(d))),
        [],
        |r| r.get(0),
    )
    .unwrap()
}

#[test]
fn stream_mode_applies_visits_updates_and_cancellations_to_the_his() {
    use hdos_synth::stream::{EventSource, SqliteSink, run};
    let dir = tempfile::tempdir().unwrap();
    let (out, m) = region_for_stream(dir.path());
    let site = &m.institutions[0];
    let vendor = Vendor::from_name(&site.his_vendor).unwrap();
    let path = out.join(&site.his);
    let before = {
        let c = rusqlite::Connection::open(&path).unwrap();
        (
            count(&c, vendor, Dataset::Patient),
            count(&c, vendor, Dataset::OutpatientVisit),
        )
    };
    let mut source = EventSource::new(&m, &site.code, 7).unwrap();
    let mut sink = SqliteSink::open(&path, vendor).unwrap();
    let now = NaiveDate::from_ymd_opt(2026, 11, 29)
        .unwrap()
        .and_hms_opt(10, 0, 0)
        .unwrap();
    let stats = run(
        &mut source,
        &mut sink,
        10_000.0,
        Some(300),
        || now,
        || false,
        |_| {},
    )
    .unwrap();
    assert_eq!(stats.events, 300);
    assert!(
        stats.visits > 0 && stats.updates > 0 && stats.cancels > 0,
        "{stats:?}"
    );
    let c = rusqlite::Connection::open(&path).unwrap();
    assert_eq!(
        count(&c, vendor, Dataset::Patient),
        before.0 + stats.visits as i64
    );
    assert_eq!(
        count(&c, vendor, Dataset::OutpatientVisit),
        before.1 + stats.visits as i64 - stats.cancels as i64
    );
    // Every streamed change carries the time it was written, for incremental collection.
    let changed = read_rows(&c, vendor, Dataset::Patient)
        .unwrap()
        .into_iter()
        .filter(|r| r.updated_at == now)
        .count();
    assert_eq!(changed as u64, stats.visits);
    let (cancelled_children, ids): (i64, i64) = {
        let visits = read_rows(&c, vendor, Dataset::OutpatientVisit).unwrap();
        let keys: BTreeSet<_> = visits.iter().map(|v| v.key().to_owned()).collect();
        let orphans = read_rows(&c, vendor, Dataset::Diagnosis)
            .unwrap()
            .iter()
            .filter(|d| d.get("encounter_type") == &Value::text("O"))
            .filter(|d| !keys.contains(d.get("encounter_id").as_str().unwrap()))
            .count();
        (orphans as i64, keys.len() as i64)
    };
    assert_eq!(
        cancelled_children, 0,
        "a cancellation removes the visit's records"
    );
    assert!(ids > 0);
}

#[test]
fn stream_mode_sends_hl7_over_mllp_and_waits_for_acks() {
    use hdos_synth::stream::{EventSource, MllpSink, run};
    use std::io::{Read, Write};
    let dir = tempfile::tempdir().unwrap();
    let (_, m) = region_for_stream(dir.path());
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let addr = listener.local_addr().unwrap().to_string();
    let receiver = std::thread::spawn(move || {
        let (mut s, _) = listener.accept().unwrap();
        let mut buf = Vec::new();
        let mut messages = Vec::new();
        let mut byte = [0u8; 1];
        while s.read(&mut byte).unwrap() == 1 {
            buf.push(byte[0]);
            if buf.ends_with(&[0x1c, 0x0d]) {
                let msg = String::from_utf8(buf[1..buf.len() - 2].to_vec()).unwrap();
                let control = msg.split('|').nth(9).unwrap().to_owned();
                let ack = format!(
                    "\x0bMSH|^~\\&|HDOS|REGION|||||ACK|{control}|P|2.5\rMSA|AA|{control}\r\x1c\x0d"
                );
                s.write_all(ack.as_bytes()).unwrap();
                messages.push(msg);
                buf.clear();
            }
        }
        messages
    });
    let code = &m.institutions[0].code;
    let mut source = EventSource::new(&m, code, 3).unwrap();
    let mut sink = MllpSink::connect(&addr, source.site().clone()).unwrap();
    let now = NaiveDate::from_ymd_opt(2026, 11, 29)
        .unwrap()
        .and_hms_opt(9, 0, 0)
        .unwrap();
    let stats = run(
        &mut source,
        &mut sink,
        10_000.0,
        Some(100),
        || now,
        || false,
        |_| {},
    )
    .unwrap();
    drop(sink);
    let messages = receiver.join().unwrap();
    let kind = |k: &str| messages.iter().filter(|m| m.contains(k)).count() as u64;
    assert_eq!(kind("|ADT^A04^ADT_A01|"), stats.visits);
    assert_eq!(kind("|ADT^A08^ADT_A01|"), stats.updates);
    assert_eq!(kind("|ADT^A11^ADT_A09|"), stats.cancels);
    assert!(
        messages
            .iter()
            .all(|m| m.contains(&format!("|HIS|{code}|")))
    );
}
