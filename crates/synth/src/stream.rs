//! Change-stream mode: live traffic for one institution of a generated region, at a steady
//! rate. Each event is one HIS transaction: a new patient's visit (patient record, visit,
//! diagnoses, lab results, prescriptions, settlement), a patient's phone number changing, or a
//! visit being cancelled (deleted with its records). Events go to the institution's database
//! (for incremental and log-based collection) or as HL7 messages to an MLLP endpoint.

use crate::{
    SynthError,
    generate::RegionManifest,
    his::render,
    history::{Clinics, Encounter},
    message::hl7,
    patient::PersonGenerator,
    record::{Dataset, Row, Value},
    region::ZHEJIANG,
    vendor::{SqlValue, Vendor},
};
use chrono::{Duration, NaiveDateTime};
use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;
use std::{
    collections::VecDeque,
    io::{Read, Write},
    net::TcpStream,
    time::{Duration as StdDuration, Instant},
};

/// One HIS transaction.
#[derive(Debug, Clone)]
pub enum Event {
    Visit {
        patient: Row,
        encounter: Box<Encounter>,
    },
    PatientUpdate(Row),
    /// A visit cancelled (退号): the visit and its records are deleted.
    Cancel {
        visit: Row,
    },
}

/// Where events go.
pub trait EventSink {
    /// Applies one event atomically.
    fn apply(&mut self, event: &Event) -> Result<(), SynthError>;
}

/// Draws live events for one site of a region.
#[derive(Debug)]
pub struct EventSource {
    clinics: Clinics,
    site: usize,
    people: PersonGenerator,
    rng: ChaCha8Rng,
    /// Patients and visits created by this stream, which updates and cancellations target.
    patients: VecDeque<Row>,
    visits: VecDeque<Row>,
}

/// The share of events that are visits, updates and cancellations, in per cent.
const VISIT_SHARE: u32 = 80;
const UPDATE_SHARE: u32 = 15;
/// How far back a live visit starts, so its settlement is in the past when written.
const VISIT_LEAD_MINUTES: i64 = 120;

impl EventSource {
    /// A source for institution `code` of the region described by `region`. People continue
    /// the region's population (drawn after its last person), so their resident IDs are new.
    pub fn new(region: &RegionManifest, code: &str, seed: u64) -> Result<Self, SynthError> {
        let sites =
            crate::generate::sites(region.seed, crate::generate::counts_of(region), ZHEJIANG);
        let site = sites
            .iter()
            .position(|s| s.institution.code == code)
            .ok_or_else(|| {
                SynthError::InvalidArgument(format!("institution {code} is not in this region"))
            })?;
        let end = region.period_end + Duration::days(36_500);
        let period = crate::history::Period {
            start: region.period_start,
            end,
        };
        let mut people = PersonGenerator::new(region.seed, ZHEJIANG, region.period_end);
        for _ in 0..region.patients {
            people.next_person();
        }
        Ok(Self {
            clinics: Clinics::new(sites, region.seed, period),
            site,
            people,
            rng: ChaCha8Rng::seed_from_u64(seed),
            patients: VecDeque::new(),
            visits: VecDeque::new(),
        })
    }

    pub fn vendor(&self) -> Vendor {
        self.clinics.sites[self.site].vendor
    }

    pub fn site(&self) -> &crate::history::Site {
        &self.clinics.sites[self.site]
    }

    /// The next event, written at `now` (region-local time).
    pub fn next_event(&mut self, now: NaiveDateTime) -> Event {
        let roll = self.rng.gen_range(0..100);
        if roll >= VISIT_SHARE && !self.patients.is_empty() {
            if roll < VISIT_SHARE + UPDATE_SHARE {
                let i = self.rng.gen_range(0..self.patients.len());
                let row = &mut self.patients[i];
                let phone = format!(
                    "1{}{:09}",
                    self.rng.gen_range(3..10),
                    self.rng.gen_range(0..1_000_000_000u32)
                );
                row.set("phone", Value::text(phone));
                row.updated_at = now;
                return Event::PatientUpdate(row.clone());
            }
            if !self.visits.is_empty() {
                let i = self.rng.gen_range(0..self.visits.len());
                if let Some(mut visit) = self.visits.swap_remove_back(i) {
                    visit.updated_at = now;
                    return Event::Cancel { visit };
                }
            }
        }
        loop {
            let person = self.people.next_person();
            let at = now - Duration::minutes(VISIT_LEAD_MINUTES);
            if let Some((mut patient, mut encounter)) =
                self.clinics.live_visit(person, self.site, at)
            {
                patient.updated_at = now;
                encounter.patient.updated_at = now;
                for row in encounter.rows_mut() {
                    row.updated_at = now;
                }
                remember(&mut self.patients, patient.clone());
                remember(&mut self.visits, encounter.main.clone());
                return Event::Visit {
                    patient,
                    encounter: Box::new(encounter),
                };
            }
        }
    }
}

/// Records stream mode may update or cancel later; the oldest are forgotten past this many, so a
/// long run keeps bounded memory.
const REMEMBERED: usize = 50_000;

fn remember(rows: &mut VecDeque<Row>, row: Row) {
    if rows.len() >= REMEMBERED {
        rows.pop_front();
    }
    rows.push_back(row);
}

/// Applies events to a SQLite HIS database (WAL mode, so collectors can read meanwhile).
#[derive(Debug)]
pub struct SqliteSink {
    conn: rusqlite::Connection,
    vendor: Vendor,
}

impl SqliteSink {
    pub fn open(path: &std::path::Path, vendor: Vendor) -> Result<Self, SynthError> {
        let conn = rusqlite::Connection::open(path)?;
        conn.pragma_update(None, "journal_mode", "WAL")?;
        conn.busy_timeout(StdDuration::from_secs(10))?;
        Ok(Self { conn, vendor })
    }
}

/// A statement parameter and the SQL type of its column (a NULL needs one in PostgreSQL).
pub type Param = (SqlValue, &'static str);

/// The SQL statements of an event in a vendor's schema (`$n` placeholders, which SQLite and
/// PostgreSQL both accept), with their parameters.
pub fn statements(vendor: Vendor, event: &Event) -> Vec<(String, Vec<Param>)> {
    let q = Vendor::quote;
    let insert = |row: &Row| {
        let types = vendor.column_types(row.dataset);
        let params = render(vendor, row).into_iter().zip(types).collect();
        (vendor.insert_sql(row.dataset), params)
    };
    match event {
        Event::Visit { patient, encounter } => std::iter::once(insert(patient))
            .chain(encounter.rows().map(insert))
            .collect(),
        Event::PatientUpdate(row) => {
            let d = Dataset::Patient;
            let cols = vendor.columns(d);
            let phone = d.field_index("phone").unwrap_or(0);
            let sql = format!(
                "UPDATE {} SET {} = $1, {} = $2 WHERE {} = $3",
                q(vendor.table(d)),
                q(cols[phone]),
                q(vendor.updated_column(d)),
                q(cols[0])
            );
            let params = vec![
                (vendor.render("phone", row.get("phone")), "TEXT"),
                (
                    vendor.timestamp(row.updated_at),
                    vendor.sql_type("updated_at"),
                ),
                (vendor.render("patient_id", &row.values[0]), "TEXT"),
            ];
            vec![(sql, params)]
        }
        Event::Cancel { visit } => {
            let key = (vendor.render("visit_id", &visit.values[0]), "TEXT");
            let mut out = Vec::new();
            for d in [
                Dataset::Diagnosis,
                Dataset::LabResult,
                Dataset::Prescription,
                Dataset::Settlement,
            ] {
                if let Some(i) = d.field_index("encounter_id") {
                    out.push((
                        format!(
                            "DELETE FROM {} WHERE {} = $1",
                            q(vendor.table(d)),
                            q(vendor.columns(d)[i])
                        ),
                        vec![key.clone()],
                    ));
                }
            }
            let d = Dataset::OutpatientVisit;
            out.push((
                format!(
                    "DELETE FROM {} WHERE {} = $1",
                    q(vendor.table(d)),
                    q(vendor.columns(d)[0])
                ),
                vec![key],
            ));
            out
        }
    }
}

impl EventSink for SqliteSink {
    fn apply(&mut self, event: &Event) -> Result<(), SynthError> {
        let tx = self.conn.transaction()?;
        for (sql, params) in statements(self.vendor, event) {
            tx.prepare_cached(&sql)?
                .execute(rusqlite::params_from_iter(params.iter().map(|p| &p.0)))?;
        }
        tx.commit()?;
        Ok(())
    }
}

/// Sends events as HL7 v2 messages over MLLP and waits for each acknowledgement.
#[derive(Debug)]
pub struct MllpSink {
    stream: TcpStream,
    site: crate::history::Site,
}

const START_BLOCK: u8 = 0x0b;
const END_BLOCK: [u8; 2] = [0x1c, 0x0d];

impl MllpSink {
    pub fn connect(addr: &str, site: crate::history::Site) -> Result<Self, SynthError> {
        let stream = TcpStream::connect(addr)?;
        stream.set_read_timeout(Some(StdDuration::from_secs(30)))?;
        stream.set_nodelay(true)?;
        Ok(Self { stream, site })
    }

    fn send(&mut self, message: &[u8]) -> Result<(), SynthError> {
        let mut frame = Vec::with_capacity(message.len() + 3);
        frame.push(START_BLOCK);
        frame.extend_from_slice(message);
        frame.extend_from_slice(&END_BLOCK);
        self.stream.write_all(&frame)?;
        let mut ack = Vec::new();
        let mut byte = [0u8; 1];
        while !ack.ends_with(&END_BLOCK) {
            if self.stream.read(&mut byte)? == 0 {
                return Err(SynthError::Target(
                    "the MLLP endpoint closed the connection before acknowledging".into(),
                ));
            }
            ack.push(byte[0]);
        }
        let text = String::from_utf8_lossy(&ack);
        if text.contains("MSA|AA") || text.contains("MSA|CA") {
            Ok(())
        } else {
            Err(SynthError::Target(format!(
                "the MLLP endpoint rejected a message: {}",
                text.trim_matches(|c: char| c.is_control())
            )))
        }
    }
}

impl EventSink for MllpSink {
    fn apply(&mut self, event: &Event) -> Result<(), SynthError> {
        let messages = match event {
            Event::Visit { encounter, .. } => hl7::encounter_messages(encounter, &self.site),
            Event::PatientUpdate(row) => vec![hl7::patient_update(row, &self.site)],
            Event::Cancel { visit } => vec![hl7::visit_cancel(visit, &self.site)],
        };
        for m in messages {
            self.send(&m)?;
        }
        Ok(())
    }
}

/// What a stream run did.
#[derive(Debug, Clone, Copy, Default)]
pub struct StreamStats {
    pub events: u64,
    pub visits: u64,
    pub updates: u64,
    pub cancels: u64,
}

/// Applies events at `rate` per second until `limit` events or `stop()` says so. `now` gives
/// the region-local time of each event; `progress` is called after each event.
pub fn run(
    source: &mut EventSource,
    sink: &mut dyn EventSink,
    rate: f64,
    limit: Option<u64>,
    now: impl Fn() -> NaiveDateTime,
    stop: impl Fn() -> bool,
    mut progress: impl FnMut(&StreamStats),
) -> Result<StreamStats, SynthError> {
    if !(rate > 0.0 && rate.is_finite()) {
        return Err(SynthError::InvalidArgument(format!(
            "the rate must be a positive number of events per second, not {rate}"
        )));
    }
    let interval = StdDuration::from_secs_f64(1.0 / rate);
    let start = Instant::now();
    let mut stats = StreamStats::default();
    while limit.is_none_or(|l| stats.events < l) && !stop() {
        // Paced against the start, so a slow event does not lower the average rate.
        let due = start + interval.mul_f64(stats.events as f64);
        if let Some(wait) = due.checked_duration_since(Instant::now()) {
            std::thread::sleep(wait);
        }
        let event = source.next_event(now());
        sink.apply(&event)?;
        stats.events += 1;
        match event {
            Event::Visit { .. } => stats.visits += 1,
            Event::PatientUpdate(_) => stats.updates += 1,
            Event::Cancel { .. } => stats.cancels += 1,
        }
        progress(&stats);
    }
    Ok(stats)
}
