//! A person's medical history in the region: where they are registered, each visit and stay
//! with its diagnoses, lab results, prescriptions and settlement, and the infectious-disease
//! reports a notifiable diagnosis triggers. Each person's history is drawn from its own random
//! stream, so histories can be drawn in any order, in parallel, with the same result.

use crate::{
    clinical::{self, CONDITIONS, Condition, DRUGS, LabItem},
    draw::{chance, lognormal_with_mean, normal, poisson},
    institution::Institution,
    patient::Person,
    record::{Dataset, Row, Value},
    vendor::Vendor,
};
use chrono::{Datelike, Duration, NaiveDate, NaiveDateTime, NaiveTime};
use hdos_core::validate::Sex;
use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;

/// An institution of the region with the HIS it runs.
#[derive(Debug, Clone)]
pub struct Site {
    pub institution: Institution,
    pub vendor: Vendor,
    /// Codes diagnoses in the national clinical 2.0 form rather than WHO's.
    pub clinical_codes: bool,
}

impl Site {
    fn is_primary_care(&self) -> bool {
        self.institution.grade == "一级"
    }
}

/// The generated period: `[start, end)`, in region-local dates.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Period {
    pub start: NaiveDate,
    pub end: NaiveDate,
}

impl Period {
    pub fn end_time(&self) -> NaiveDateTime {
        self.end.and_time(NaiveTime::MIN)
    }
}

/// One visit or stay at a site, with everything recorded during it.
#[derive(Debug, Clone)]
pub struct Encounter {
    pub site: usize,
    /// The patient's record at the site as it stood at the encounter.
    pub patient: Row,
    /// An `outpatient_visit` or `inpatient_stay` row.
    pub main: Row,
    pub diagnoses: Vec<Row>,
    pub labs: Vec<Row>,
    pub prescriptions: Vec<Row>,
    /// Absent while a stay is still open at the end of the period.
    pub settlement: Option<Row>,
    pub report: Option<Row>,
}

impl Encounter {
    pub fn is_inpatient(&self) -> bool {
        self.main.dataset == Dataset::InpatientStay
    }

    /// Every row of the encounter except the patient's, in write order.
    pub fn rows_mut(&mut self) -> impl Iterator<Item = &mut Row> {
        std::iter::once(&mut self.main)
            .chain(self.diagnoses.iter_mut())
            .chain(self.labs.iter_mut())
            .chain(self.prescriptions.iter_mut())
            .chain(self.settlement.iter_mut())
            .chain(self.report.iter_mut())
    }

    pub fn rows(&self) -> impl Iterator<Item = &Row> {
        std::iter::once(&self.main)
            .chain(self.diagnoses.iter())
            .chain(self.labs.iter())
            .chain(self.prescriptions.iter())
            .chain(self.settlement.iter())
            .chain(self.report.iter())
    }
}

/// A person's records across the region.
#[derive(Debug, Clone)]
pub struct History {
    pub person: Person,
    /// The person's patient record at each site that knows them, as it stands at the end.
    pub registrations: Vec<(usize, Row)>,
    /// Demographic updates after registration (ADT^A08): the site and the updated record.
    pub updates: Vec<(usize, Row)>,
    pub encounters: Vec<Encounter>,
}

/// The region's sites and the diagnosis tables prepared for drawing.
#[derive(Debug)]
pub struct Clinics {
    pub sites: Vec<Site>,
    primary: Vec<usize>,
    secondary: Vec<usize>,
    tertiary: Vec<usize>,
    /// Cumulative outpatient weights by [age][sex][winter][primary care].
    outpatient: Vec<[[[Cumulative; 2]; 2]; 2]>,
    /// Cumulative inpatient weights by [age][sex].
    inpatient: Vec<[Cumulative; 2]>,
    seed: u64,
    period: Period,
}

/// Ages above this share the tables of this age.
const MAX_TABLE_AGE: u32 = 100;

#[derive(Debug, Clone, Default)]
struct Cumulative {
    conditions: Vec<u16>,
    bounds: Vec<u32>,
}

impl Cumulative {
    fn new(weight: impl Fn(&Condition) -> u32) -> Self {
        let mut c = Self::default();
        let mut total = 0;
        for (i, cond) in CONDITIONS.iter().enumerate() {
            let w = weight(cond);
            if w > 0 {
                total += w;
                c.conditions.push(i as u16);
                c.bounds.push(total);
            }
        }
        c
    }

    fn total(&self) -> u32 {
        self.bounds.last().copied().unwrap_or(0)
    }

    fn draw<R: Rng>(&self, rng: &mut R) -> Option<&'static Condition> {
        let total = self.total();
        if total == 0 {
            return None;
        }
        let x = rng.gen_range(0..total);
        let i = self.bounds.partition_point(|b| *b <= x);
        Some(&CONDITIONS[usize::from(self.conditions[i])])
    }

    fn share(&self, condition: usize) -> f64 {
        let total = self.total();
        self.conditions
            .iter()
            .position(|c| usize::from(*c) == condition)
            .map_or(0.0, |i| {
                let lower = if i == 0 { 0 } else { self.bounds[i - 1] };
                f64::from(self.bounds[i] - lower) / f64::from(total)
            })
    }
}

/// What primary care treats: no special diseases, no cancers, no obstetrics.
fn primary_care_treats(c: &Condition) -> bool {
    c.notifiable != Some("乙") && !matches!(&c.who[..1], "C" | "F" | "O") && c.dept != "产科"
}

fn is_winter(month: u32) -> bool {
    matches!(month, 12 | 1 | 2 | 3)
}

fn sex_index(sex: Sex) -> usize {
    usize::from(sex == Sex::Female)
}

/// Stream salts keep the histories apart from the people and from the defects.
const HISTORY_SALT: u64 = 0x6869_7374_6f72_7921;

impl Clinics {
    pub fn new(sites: Vec<Site>, seed: u64, period: Period) -> Self {
        let by_grade = |g: &str| -> Vec<usize> {
            sites
                .iter()
                .enumerate()
                .filter(|(_, s)| s.institution.grade == g)
                .map(|(i, _)| i)
                .collect()
        };
        let outpatient = (0..=MAX_TABLE_AGE)
            .map(|age| {
                [Sex::Male, Sex::Female].map(|sex| {
                    [false, true].map(|winter| {
                        [false, true].map(|primary| {
                            Cumulative::new(|c| {
                                let base = c.outpatient[clinical::age_group(age)];
                                let fits = c.fits(sex, age) && (!primary || primary_care_treats(c));
                                let factor = if winter && c.seasonal { 2 } else { 1 };
                                if fits { base * factor } else { 0 }
                            })
                        })
                    })
                })
            })
            .collect();
        let inpatient = (0..=MAX_TABLE_AGE)
            .map(|age| {
                [Sex::Male, Sex::Female]
                    .map(|sex| Cumulative::new(|c| if c.fits(sex, age) { c.inpatient } else { 0 }))
            })
            .collect();
        Self {
            primary: by_grade("一级"),
            secondary: by_grade("二级"),
            tertiary: by_grade("三级"),
            sites,
            outpatient,
            inpatient,
            seed,
            period,
        }
    }

    pub fn period(&self) -> Period {
        self.period
    }

    /// The probability that an outpatient visit of this kind carries `condition` (an index into
    /// [`CONDITIONS`]); statistics tests compare the data against it.
    pub fn outpatient_share(
        &self,
        condition: usize,
        age: u32,
        sex: Sex,
        winter: bool,
        primary_care: bool,
    ) -> f64 {
        self.outpatient[age.min(MAX_TABLE_AGE) as usize][sex_index(sex)][usize::from(winter)]
            [usize::from(primary_care)]
        .share(condition)
    }

    /// Draws the history of one person.
    pub fn history(&self, person: Person) -> History {
        let mut rng = ChaCha8Rng::seed_from_u64(self.seed ^ HISTORY_SALT);
        rng.set_stream(person.index);
        HistoryBuilder::new(self, person, rng).build()
    }

    /// An outpatient visit at `site` at time `at`, by a person new to the site: their patient
    /// record and the encounter (stream mode's live traffic).
    pub fn live_visit(
        &self,
        person: Person,
        site: usize,
        at: NaiveDateTime,
    ) -> Option<(Row, Encounter)> {
        let mut rng = ChaCha8Rng::seed_from_u64(self.seed ^ HISTORY_SALT ^ 0x6c69_7665); // "live"
        rng.set_stream(person.index);
        let mut b = HistoryBuilder::new(self, person, rng);
        let encounter = b.visit_at(site, at)?;
        let patient = b.registered.first()?.row.clone();
        Some((patient, encounter))
    }
}

/// The events of a history before they are realised, in time order.
#[derive(Debug, Clone, Copy)]
enum Planned {
    Visit(NaiveDateTime),
    Stay(NaiveDateTime),
}

impl Planned {
    fn time(&self) -> NaiveDateTime {
        match self {
            Self::Visit(t) | Self::Stay(t) => *t,
        }
    }
}

/// The person's record at one site and how many visits and stays they have had there.
struct Registration {
    site: usize,
    row: Row,
    visits: u32,
    stays: u32,
}

struct HistoryBuilder<'a> {
    clinics: &'a Clinics,
    person: Person,
    rng: ChaCha8Rng,
    /// Home primary-care centre, nearby secondary and tertiary hospitals.
    affiliations: [Option<usize>; 3],
    registered: Vec<Registration>,
    phone_change: Option<(NaiveDateTime, String)>,
    reported: Vec<&'static str>,
}

impl<'a> HistoryBuilder<'a> {
    fn new(clinics: &'a Clinics, person: Person, mut rng: ChaCha8Rng) -> Self {
        let city = &person.region_code[..4];
        let mut near = |pool: &[usize]| -> Option<usize> {
            let local: Vec<usize> = pool
                .iter()
                .copied()
                .filter(|s| clinics.sites[*s].institution.region_code.starts_with(city))
                .collect();
            let pool = if local.is_empty() { pool } else { &local[..] };
            (!pool.is_empty()).then(|| pool[rng.gen_range(0..pool.len())])
        };
        let affiliations = [
            near(&clinics.primary),
            near(&clinics.secondary),
            near(&clinics.tertiary),
        ];
        Self {
            clinics,
            person,
            rng,
            affiliations,
            registered: Vec::new(),
            phone_change: None,
            reported: Vec::new(),
        }
    }

    fn build(mut self) -> History {
        let period = self.clinics.period;
        let plan = self.plan();
        // One in twelve people changes mobile number during the period.
        if chance(&mut self.rng, 1.0 / 12.0) {
            let at = self.random_time(period.start.max(self.person.birth_date), period.end);
            let phone = format!(
                "1{}{:09}",
                self.rng.gen_range(3..10),
                self.rng.gen_range(0..1_000_000_000u32)
            );
            self.phone_change = at.map(|t| (t, phone));
        }
        // Everyone is signed up with a family doctor at the home centre.
        if let Some(home) = self.affiliations[0] {
            let at = self
                .random_time(period.start.max(self.person.birth_date), period.end)
                .unwrap_or(period.start.and_time(NaiveTime::MIN));
            self.register(home, at);
        }
        let mut encounters = Vec::new();
        for planned in plan {
            let encounter = match planned {
                Planned::Visit(t) => self.visit(t),
                Planned::Stay(t) => self.stay(t),
            };
            // An encounter whose records would be written after the period is left out, as a
            // real extract taken at the period's end would not have them yet.
            let Some(encounter) = encounter.filter(|e| within(e, period.end_time())) else {
                continue;
            };
            let died = encounter.main.get("discharge_status") == &Value::text("4");
            encounters.push(encounter);
            if died {
                break;
            }
        }
        let updates = self.updates();
        let registrations = self
            .registered
            .into_iter()
            .map(|r| (r.site, r.row))
            .collect();
        History {
            person: self.person,
            registrations,
            updates,
            encounters,
        }
    }

    /// Visits and admissions per year of the period, by age.
    fn plan(&mut self) -> Vec<Planned> {
        let period = self.clinics.period;
        let mut plan = Vec::new();
        let mut from = period.start;
        while from < period.end {
            let to = (from + Duration::days(365)).min(period.end);
            let alive_from = from.max(self.person.birth_date + Duration::days(1));
            if alive_from < to {
                let fraction = (to - alive_from).num_days() as f64 / 365.0;
                let age = self.age_at(alive_from + (to - alive_from) / 2);
                let visits = poisson(
                    &mut self.rng,
                    clinical::rate_for_age(clinical::VISITS_PER_YEAR, age) * fraction,
                );
                for _ in 0..visits {
                    if let Some(t) = self.visit_time(alive_from, to) {
                        plan.push(Planned::Visit(t));
                    }
                }
                let stays = poisson(
                    &mut self.rng,
                    clinical::rate_for_age(clinical::ADMISSIONS_PER_YEAR, age) * fraction,
                );
                for _ in 0..stays {
                    if let Some(t) = self.random_time(alive_from, to) {
                        plan.push(Planned::Stay(t));
                    }
                }
            }
            from = to;
        }
        plan.sort_by_key(Planned::time);
        plan
    }

    fn age_at(&self, date: NaiveDate) -> u32 {
        let b = self.person.birth_date;
        let mut age = date.year() - b.year();
        if (date.month(), date.day()) < (b.month(), b.day()) {
            age -= 1;
        }
        age.max(0) as u32
    }

    /// A clinic time: month and weekday weighted days, office hours.
    fn visit_time(&mut self, from: NaiveDate, to: NaiveDate) -> Option<NaiveDateTime> {
        let days = (to - from).num_days();
        if days <= 0 {
            return None;
        }
        let max = 110 * 130;
        let day = loop {
            let d = from + Duration::days(self.rng.gen_range(0..days));
            let w = clinical::MONTH_WEIGHTS[d.month0() as usize]
                * clinical::WEEKDAY_WEIGHTS[d.weekday().num_days_from_monday() as usize];
            if self.rng.gen_range(0..max) < w {
                break d;
            }
        };
        const HOURS: &[(u32, u32)] = &[
            (8, 16),
            (9, 20),
            (10, 17),
            (11, 8),
            (13, 9),
            (14, 12),
            (15, 9),
            (16, 5),
            (19, 2),
            (21, 1),
            (2, 1),
        ];
        let hour = *crate::weighted::pick(&mut self.rng, HOURS);
        day.and_hms_opt(hour, self.rng.gen_range(0..60), self.rng.gen_range(0..60))
    }

    /// Any time in `[from, to)`.
    fn random_time(&mut self, from: NaiveDate, to: NaiveDate) -> Option<NaiveDateTime> {
        let seconds = (to - from).num_seconds();
        (seconds > 0).then(|| {
            from.and_time(NaiveTime::MIN) + Duration::seconds(self.rng.gen_range(0..seconds))
        })
    }

    fn minutes(&mut self, range: std::ops::Range<i64>) -> Duration {
        Duration::seconds(self.rng.gen_range(range.start * 60..range.end * 60))
    }

    fn site(&self, i: usize) -> &'a Site {
        &self.clinics.sites[i]
    }

    /// The person's record at a site, creating it at `at` on first contact; returns the index
    /// into `registered`.
    fn register(&mut self, site: usize, at: NaiveDateTime) -> usize {
        if let Some(i) = self.registered.iter().position(|r| r.site == site) {
            return i;
        }
        let p = &self.person;
        let vendor = self.site(site).vendor;
        let phone = match &self.phone_change {
            Some((changed, new)) if *changed <= at => new.clone(),
            _ => p.phone.clone(),
        };
        let values = vec![
            Value::text(vendor.patient_id(p.index, site)),
            Value::text("01"),
            Value::text(p.id_no.clone()),
            Value::text(p.name.clone()),
            Value::text(p.sex.code()),
            Value::Date(p.birth_date),
            Value::text(p.ethnicity_code.clone()),
            Value::text(phone),
            Value::text(p.address.clone()),
            Value::text(p.region_code.clone()),
            Value::text(p.marital_code.clone()),
            p.occupation.map_or(Value::Null, Value::text),
        ];
        let row = Row {
            dataset: Dataset::Patient,
            values,
            updated_at: at,
        };
        self.registered.push(Registration {
            site,
            row,
            visits: 0,
            stays: 0,
        });
        self.registered.len() - 1
    }

    /// The record as it stood at `at`.
    fn patient_at(&self, reg: usize, at: NaiveDateTime) -> Row {
        let mut row = self.registered[reg].row.clone();
        if let Some((changed, new)) = &self.phone_change
            && *changed <= at
            && row.updated_at < *changed
        {
            row.set("phone", Value::text(new.clone()));
            row.updated_at = *changed;
        }
        row
    }

    /// Applies the phone change to records registered before it; one A08 per site.
    fn updates(&mut self) -> Vec<(usize, Row)> {
        let Some((changed, _)) = self.phone_change.clone() else {
            return Vec::new();
        };
        let mut updates = Vec::new();
        for i in 0..self.registered.len() {
            if self.registered[i].row.updated_at < changed {
                let row = self.patient_at(i, changed);
                self.registered[i].row = row.clone();
                updates.push((self.registered[i].site, row));
            }
        }
        updates
    }

    fn choose_outpatient_site(&mut self, age: u32) -> Option<usize> {
        // Children are taken to hospitals more; the elderly to their community centre.
        let weights: [u32; 3] = match age {
            0..=14 => [30, 40, 30],
            15..=64 => [40, 33, 27],
            _ => [55, 27, 18],
        };
        let options: Vec<(usize, u32)> = self
            .affiliations
            .iter()
            .zip(weights)
            .filter_map(|(s, w)| s.map(|s| (s, w)))
            .collect();
        (!options.is_empty()).then(|| *crate::weighted::pick(&mut self.rng, &options))
    }

    fn diagnosis_code(&self, site: usize, c: &Condition) -> &'static str {
        if self.site(site).clinical_codes {
            c.clinical
        } else {
            c.who
        }
    }

    fn dept(&self, site: usize, c: &Condition, age: u32) -> &'static str {
        if self.site(site).is_primary_care() {
            "全科医疗科"
        } else if age < 15 && matches!(c.dept, "呼吸内科" | "消化内科" | "内科" | "神经内科")
        {
            "儿科"
        } else {
            c.dept
        }
    }

    /// Registers the person at the site shortly before `at` if new there, and numbers the
    /// encounter: returns the patient record as of `at`, the encounter id and its number.
    fn start_encounter(
        &mut self,
        site: usize,
        at: NaiveDateTime,
        inpatient: bool,
    ) -> (Row, String, u32) {
        let lead = if inpatient { 5..60 } else { 2..30 };
        let registered_at = at - self.minutes(lead);
        let reg = self.register(site, registered_at);
        let r = &mut self.registered[reg];
        let k = if inpatient {
            &mut r.stays
        } else {
            &mut r.visits
        };
        *k += 1;
        let k = *k;
        let patient = self.patient_at(reg, at);
        let id = self
            .site(site)
            .vendor
            .encounter_id(patient.key(), inpatient, k);
        (patient, id, k)
    }

    fn visit(&mut self, t: NaiveDateTime) -> Option<Encounter> {
        let age = self.age_at(t.date());
        let site = self.choose_outpatient_site(age)?;
        self.visit_at(site, t)
    }

    fn visit_at(&mut self, site: usize, t: NaiveDateTime) -> Option<Encounter> {
        let age = self.age_at(t.date());
        let primary = self.site(site).is_primary_care();
        let table = &self.clinics.outpatient[age.min(MAX_TABLE_AGE) as usize]
            [sex_index(self.person.sex)][usize::from(is_winter(t.month()))][usize::from(primary)];
        let condition = table.draw(&mut self.rng)?;
        let (patient, visit_id, _) = self.start_encounter(site, t, false);
        let pid = patient.key().to_owned();
        let code = self.diagnosis_code(site, condition);
        let dept = self.dept(site, condition, age);
        let doctor = format!("{:04}", self.rng.gen_range(1..400));
        let mut enc = Encounter {
            site,
            patient,
            main: Row {
                dataset: Dataset::OutpatientVisit,
                values: vec![
                    Value::text(visit_id.clone()),
                    Value::text(pid.clone()),
                    Value::text(dept),
                    Value::Ts(t),
                    Value::text(doctor),
                    Value::text(self.complaint(condition)),
                    Value::text(code),
                    Value::text(condition.name),
                    Value::Null,
                ],
                updated_at: t,
            },
            diagnoses: Vec::new(),
            labs: Vec::new(),
            prescriptions: Vec::new(),
            settlement: None,
            report: None,
        };
        let diagnosed = t + self.minutes(3..20);
        self.diagnoses(&mut enc, condition, age, diagnosed);
        let lab_chance = if primary { 0.3 } else { 0.6 };
        let mut fee = registration_fee(self.site(site).institution.grade);
        if !condition.labs.is_empty() && chance(&mut self.rng, lab_chance) {
            fee += self.labs(&mut enc, condition, condition.labs, diagnosed);
        }
        let prescribed = diagnosed + self.minutes(1..15);
        let drugs = if condition.drugs.len() > 1 && chance(&mut self.rng, 0.5) {
            2
        } else {
            condition.drugs.len().min(1)
        };
        fee += self.prescriptions(&mut enc, condition, drugs, prescribed, 1);
        let settled = prescribed.max(
            enc.labs
                .iter()
                .filter_map(|r| r.get("reported_at").as_ts())
                .max()
                .unwrap_or(prescribed),
        ) + self.minutes(2..40);
        self.settle(&mut enc, fee, settled, false, primary);
        enc.main.set("fee_total", Value::Money(fee));
        enc.main.updated_at = settled;
        self.report(&mut enc, condition, t);
        Some(enc)
    }

    fn stay(&mut self, admit: NaiveDateTime) -> Option<Encounter> {
        let age = self.age_at(admit.date());
        let table =
            &self.clinics.inpatient[age.min(MAX_TABLE_AGE) as usize][sex_index(self.person.sex)];
        let condition = table.draw(&mut self.rng)?;
        // Serious cases go to the tertiary hospital more often.
        let site = if chance(&mut self.rng, 0.45) {
            self.affiliations[2].or(self.affiliations[1])
        } else {
            self.affiliations[1].or(self.affiliations[2])
        }?;
        let (patient, stay_id, k) = self.start_encounter(site, admit, true);
        let pid = patient.key().to_owned();
        let admission_no = format!("{}{k:02}", pid.trim_start_matches(char::is_alphabetic));
        let los = lognormal_with_mean(&mut self.rng, condition.los_days, 0.45)
            .round()
            .max(1.0) as i64;
        let discharge = (admit.date() + Duration::days(los)).and_hms_opt(
            self.rng.gen_range(9..12),
            self.rng.gen_range(0..60),
            0,
        )?;
        let open = discharge >= self.clinics.period.end_time();
        let code = self.diagnosis_code(site, condition);
        let dept = self.dept(site, condition, age);
        let mut enc = Encounter {
            site,
            patient,
            main: Row {
                dataset: Dataset::InpatientStay,
                values: vec![
                    Value::text(stay_id),
                    Value::text(admission_no),
                    Value::text(pid),
                    Value::text(dept),
                    Value::Ts(admit),
                    Value::Null,
                    Value::text(code),
                    Value::Null,
                    Value::Null,
                ],
                updated_at: admit,
            },
            diagnoses: Vec::new(),
            labs: Vec::new(),
            prescriptions: Vec::new(),
            settlement: None,
            report: None,
        };
        let diagnosed = admit + self.minutes(30..240);
        self.diagnoses(&mut enc, condition, age, diagnosed);
        let mut panel: Vec<(&str, f64)> = clinical::ADMISSION_PANEL.to_vec();
        for (key, factor) in condition.labs {
            match panel.iter_mut().find(|(k, _)| k == key) {
                Some(item) => item.1 = *factor,
                None => panel.push((key, *factor)),
            }
        }
        let sampled = admit + self.minutes(20..180);
        let mut fee = self.labs(&mut enc, condition, &panel, sampled);
        let prescribed = diagnosed + self.minutes(5..60);
        fee += self.prescriptions(
            &mut enc,
            condition,
            condition.drugs.len(),
            prescribed,
            los.max(1) as u32,
        );
        self.report(&mut enc, condition, admit);
        if open {
            return Some(enc);
        }
        // Bed and nursing per day, the procedure, and sundries.
        fee += los * (60 + 40) * 100 + i64::from(condition.procedure_fee) * 100;
        fee += self.rng.gen_range(200..2_000) * 100;
        let status = self.discharge_status(condition, age);
        enc.main.set("discharge_time", Value::Ts(discharge));
        enc.main.set("discharge_status", Value::text(status));
        enc.main.set("total_cost", Value::Money(fee));
        let settled = discharge + self.minutes(10..180);
        self.settle(&mut enc, fee, settled, true, false);
        enc.main.updated_at = settled;
        Some(enc)
    }

    fn discharge_status(&mut self, c: &Condition, age: u32) -> &'static str {
        let severe = matches!(&c.who[..1], "C") || matches!(c.who, "I50.9" | "I63.9" | "J18.9");
        let death = if severe && age >= 65 { 40 } else { 3 };
        let table: &[(&str, u32)] = &[("1", 300), ("2", 620), ("3", 50), ("4", death), ("9", 27)];
        crate::weighted::pick::<&str, _>(&mut self.rng, table)
    }

    fn complaint(&mut self, c: &Condition) -> String {
        let symptoms: &[&str] = match c.dept {
            "呼吸内科" | "耳鼻喉科" => &["咳嗽", "发热", "咽痛", "流涕", "鼻塞"],
            "心血管内科" => &["头晕", "胸闷", "心悸"],
            "内分泌科" => &["口干多饮", "乏力"],
            "消化内科" | "感染科" => &["腹痛", "腹泻", "反酸", "恶心"],
            "骨科" => &["腰痛", "关节痛", "外伤后疼痛"],
            "神经内科" => &["头痛", "肢体麻木"],
            "皮肤科" => &["皮疹", "瘙痒"],
            "眼科" => &["眼红", "眼痒"],
            "口腔科" => &["牙痛"],
            _ => &["不适"],
        };
        if c.drugs.len() == 1 && chance(&mut self.rng, 0.3) || c.who == "Z00.0" {
            return if c.who == "Z00.0" {
                "健康体检".into()
            } else {
                "复诊配药".into()
            };
        }
        let s = symptoms[self.rng.gen_range(0..symptoms.len())];
        if chance(&mut self.rng, 0.7) {
            format!("{s}{}天", self.rng.gen_range(1..8))
        } else {
            format!("{s}{}月", self.rng.gen_range(1..13))
        }
    }

    fn diagnoses(
        &mut self,
        enc: &mut Encounter,
        c: &'static Condition,
        age: u32,
        at: NaiveDateTime,
    ) {
        let site = enc.site;
        let encounter_id = enc.main.key().to_owned();
        let pid = enc.patient.key().to_owned();
        let kind = if enc.is_inpatient() { "I" } else { "O" };
        let mut conditions = vec![c];
        // Older patients often carry a chronic secondary diagnosis.
        if age >= 50 && chance(&mut self.rng, 0.3) {
            let extra = if chance(&mut self.rng, 0.6) {
                "I10"
            } else {
                "E11.9"
            };
            if let Some(x) = CONDITIONS.iter().find(|x| x.who == extra && x.who != c.who) {
                conditions.push(x);
            }
        }
        for (i, cond) in conditions.into_iter().enumerate() {
            let row = Row {
                dataset: Dataset::Diagnosis,
                values: vec![
                    Value::text(format!("{encounter_id}-D{}", i + 1)),
                    Value::text(encounter_id.clone()),
                    Value::text(kind),
                    Value::text(pid.clone()),
                    Value::Bool(i == 0),
                    Value::text(self.diagnosis_code(site, cond)),
                    Value::text(cond.name),
                    Value::Ts(at),
                ],
                updated_at: at + self.minutes(0..5),
            };
            enc.diagnoses.push(row);
        }
    }

    /// Draws one report of results; returns its fee in fen.
    fn labs(
        &mut self,
        enc: &mut Encounter,
        c: &Condition,
        items: &[(&str, f64)],
        sampled: NaiveDateTime,
    ) -> i64 {
        let encounter_id = enc.main.key().to_owned();
        let pid = enc.patient.key().to_owned();
        let report_no = format!("{encounter_id}-L");
        let reported = sampled + self.minutes(30..240);
        let mut fee = 0;
        let mut cbc = false;
        for (n, (key, factor)) in items.iter().enumerate() {
            let Some(item) = clinical::lab_item(key) else {
                continue;
            };
            if matches!(item.key, "WBC" | "NEUT" | "HGB" | "PLT") {
                cbc = true;
            } else {
                fee += i64::from(item.price) * 100;
            }
            let (value_num, value_text, flag) = self.lab_value(item, *factor, c);
            enc.labs.push(Row {
                dataset: Dataset::LabResult,
                values: vec![
                    Value::text(format!("{report_no}{:02}", n + 1)),
                    Value::text(report_no.clone()),
                    Value::text(pid.clone()),
                    Value::text(encounter_id.clone()),
                    Value::text(format!("L{}", item.key)),
                    Value::text(item.loinc),
                    Value::text(item.name),
                    value_num,
                    value_text,
                    if item.unit.is_empty() {
                        Value::Null
                    } else {
                        Value::text(item.unit)
                    },
                    Value::text(flag),
                    Value::Ts(sampled),
                    Value::Ts(reported),
                ],
                updated_at: reported + self.minutes(0..3),
            });
        }
        if cbc {
            fee += i64::from(clinical::CBC_PRICE) * 100;
        }
        fee
    }

    fn lab_value(
        &mut self,
        item: &LabItem,
        factor: f64,
        c: &Condition,
    ) -> (Value, Value, &'static str) {
        if item.key == "HBSAG" {
            let positive = c.who == "B18.1" || chance(&mut self.rng, 0.07);
            return if positive {
                (Value::Null, Value::text("阳性"), "A")
            } else {
                (Value::Null, Value::text("阴性"), "N")
            };
        }
        // A disease shifts the mean and widens the spread; a healthy draw keeps the table's.
        let mean = item.mean * factor;
        let sd = item.sd * factor.max(1.0).sqrt();
        let scale = 10f64.powi(item.decimals as i32);
        let x = (normal(&mut self.rng, mean, sd).max(item.mean * 0.1) * scale).round() / scale;
        let flag = if x > item.high {
            "H"
        } else if x < item.low {
            "L"
        } else {
            "N"
        };
        (Value::Num(x), Value::Null, flag)
    }

    /// Writes up to `count` drugs of the condition; returns their cost in fen.
    fn prescriptions(
        &mut self,
        enc: &mut Encounter,
        c: &Condition,
        count: usize,
        at: NaiveDateTime,
        stay_days: u32,
    ) -> i64 {
        let encounter_id = enc.main.key().to_owned();
        let pid = enc.patient.key().to_owned();
        let mut total = 0;
        for (n, d) in c.drugs.iter().take(count).enumerate() {
            let drug = &DRUGS[*d];
            let days = if enc.is_inpatient() {
                drug.days.min(stay_days)
            } else {
                drug.days
            };
            // Price of the course, scaled to the days given, ± 10 %.
            let cents = i64::from(drug.price) * 100 * i64::from(days.max(1)) / i64::from(drug.days);
            let amount = cents * self.rng.gen_range(90..111) / 100;
            total += amount;
            enc.prescriptions.push(Row {
                dataset: Dataset::Prescription,
                values: vec![
                    Value::text(format!("{encounter_id}-R{}", n + 1)),
                    Value::text(encounter_id.clone()),
                    Value::text(pid.clone()),
                    Value::text(drug.code),
                    Value::text(drug.name),
                    Value::text(drug.dose),
                    Value::text(drug.frequency),
                    Value::text(drug.route),
                    Value::Int(i64::from(days)),
                    Value::Money(amount),
                    Value::Ts(at),
                ],
                updated_at: at,
            });
        }
        total
    }

    fn settle(
        &mut self,
        enc: &mut Encounter,
        total: i64,
        at: NaiveDateTime,
        inpatient: bool,
        primary: bool,
    ) {
        let insurance = self.person.insurance;
        // Share of the bill the scheme pays; primary care is reimbursed more to steer patients.
        let mut ratio: f64 = match (insurance, inpatient) {
            ("职工医保", false) => 0.6,
            ("职工医保", true) => 0.8,
            ("居民医保", false) => 0.5,
            ("居民医保", true) => 0.65,
            ("新农合", _) => 0.5,
            ("商业保险", _) => 0.3,
            ("自费", _) => 0.0,
            _ => 0.2,
        };
        if primary && ratio > 0.0 {
            ratio += 0.1;
        }
        let paid = (total as f64 * ratio).round() as i64;
        let encounter_id = enc.main.key().to_owned();
        enc.settlement = Some(Row {
            dataset: Dataset::Settlement,
            values: vec![
                Value::text(format!("{encounter_id}-S")),
                Value::text(encounter_id),
                Value::text(enc.patient.key().to_owned()),
                Value::text(insurance),
                Value::Money(total),
                Value::Money(paid),
                Value::Money(total - paid),
                Value::Ts(at),
            ],
            updated_at: at,
        });
    }

    /// Reports a notifiable disease the first time it is diagnosed in this person.
    fn report(&mut self, enc: &mut Encounter, c: &'static Condition, seen: NaiveDateTime) {
        let Some(class) = c.notifiable else { return };
        if self.reported.contains(&c.who) {
            return;
        }
        self.reported.push(c.who);
        let diagnosed = enc.diagnoses[0].get("diagnosed_at").as_ts().unwrap_or(seen);
        let onset = seen.date() - Duration::days(self.rng.gen_range(0..8));
        let reported = diagnosed + self.minutes(10..1_200);
        let encounter_id = enc.main.key().to_owned();
        enc.report = Some(Row {
            dataset: Dataset::InfectiousReport,
            values: vec![
                Value::text(format!("{encounter_id}-C")),
                Value::text(enc.patient.key().to_owned()),
                Value::text(self.diagnosis_code(enc.site, c)),
                Value::text(class),
                Value::Date(onset),
                Value::Date(diagnosed.date()),
                Value::Ts(reported),
                Value::text(self.person.region_code.clone()),
            ],
            updated_at: reported,
        });
    }
}

/// Whether every time and write time of an encounter is before `end`.
fn within(e: &Encounter, end: NaiveDateTime) -> bool {
    e.rows().all(|r| {
        r.updated_at < end
            && r.values.iter().all(|v| match v {
                Value::Ts(t) => *t < end,
                _ => true,
            })
    })
}

/// The consultation fee by grade, in fen.
fn registration_fee(grade: &str) -> i64 {
    match grade {
        "三级" => 2_500,
        "二级" => 1_500,
        _ => 1_000,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::{
        generate::{period, sites},
        institution::InstitutionCounts,
        patient::PersonGenerator,
        region::ZHEJIANG,
    };
    use hdos_core::validate::parse_icd10;
    use std::collections::{HashMap, HashSet};

    fn until() -> NaiveDate {
        NaiveDate::from_ymd_opt(2026, 1, 1).unwrap()
    }

    fn region(n: u64) -> (Clinics, Vec<History>) {
        let clinics = Clinics::new(
            sites(11, InstitutionCounts::default(), ZHEJIANG),
            11,
            period(2, until()),
        );
        let mut people = PersonGenerator::new(11, ZHEJIANG, until());
        let histories = (0..n)
            .map(|_| clinics.history(people.next_person()))
            .collect();
        (clinics, histories)
    }

    fn condition_index(code: &str) -> Option<usize> {
        CONDITIONS
            .iter()
            .position(|c| c.who == code || c.clinical == code)
    }

    #[test]
    fn the_same_person_gets_the_same_history_in_any_order() {
        let clinics = Clinics::new(
            sites(3, InstitutionCounts::default(), ZHEJIANG),
            3,
            period(2, until()),
        );
        let mut people = PersonGenerator::new(3, ZHEJIANG, until());
        let persons: Vec<_> = (0..50).map(|_| people.next_person()).collect();
        let forward: Vec<_> = persons.iter().map(|p| clinics.history(p.clone())).collect();
        let backward: Vec<_> = persons
            .iter()
            .rev()
            .map(|p| clinics.history(p.clone()))
            .collect();
        for (a, b) in forward.iter().zip(backward.iter().rev()) {
            assert_eq!(a.registrations, b.registrations);
            assert_eq!(a.encounters.len(), b.encounters.len());
        }
    }

    #[test]
    fn visits_per_person_and_year_follow_the_table() {
        let (clinics, histories) = region(20_000);
        let p = clinics.period();
        let (mut expected, mut observed) = (0.0, 0usize);
        for h in &histories {
            // People who died stop visiting; the table's rate is for the living.
            if h.encounters
                .iter()
                .any(|e| e.main.get("discharge_status") == &Value::text("4"))
            {
                continue;
            }
            let mut from = p.start;
            while from < p.end {
                let to = (from + Duration::days(365)).min(p.end);
                let alive = from.max(h.person.birth_date + Duration::days(1));
                if alive < to {
                    let b = h.person.birth_date;
                    let mid = alive + (to - alive) / 2;
                    let mut age = mid.year() - b.year();
                    if (mid.month(), mid.day()) < (b.month(), b.day()) {
                        age -= 1;
                    }
                    expected += clinical::rate_for_age(clinical::VISITS_PER_YEAR, age as u32)
                        * (to - alive).num_days() as f64
                        / 365.0;
                }
                from = to;
            }
            observed += h.encounters.iter().filter(|e| !e.is_inpatient()).count();
        }
        let ratio = observed as f64 / expected;
        assert!(
            (ratio - 1.0).abs() < 0.02,
            "{observed} visits, {expected:.0} expected"
        );
    }

    #[test]
    fn diagnoses_follow_the_frequency_table() {
        let (clinics, histories) = region(20_000);
        let mut expected = vec![0.0; CONDITIONS.len()];
        let mut observed = vec![0usize; CONDITIONS.len()];
        let mut visits = 0usize;
        for h in &histories {
            for e in h.encounters.iter().filter(|e| !e.is_inpatient()) {
                let t = e.main.get("visit_time").as_ts().unwrap();
                let b = h.person.birth_date;
                let mut age = t.year() - b.year();
                if (t.month(), t.day()) < (b.month(), b.day()) {
                    age -= 1;
                }
                let primary = clinics.sites[e.site].is_primary_care();
                for (i, x) in expected.iter_mut().enumerate() {
                    *x += clinics.outpatient_share(
                        i,
                        age as u32,
                        h.person.sex,
                        is_winter(t.month()),
                        primary,
                    );
                }
                let code = e.main.get("diagnosis_code").as_str().unwrap();
                observed[condition_index(code).unwrap()] += 1;
                visits += 1;
            }
        }
        assert!(visits > 50_000, "{visits}");
        for (i, c) in CONDITIONS.iter().enumerate() {
            let (e, o) = (expected[i], observed[i] as f64);
            // Five standard deviations of a binomial count.
            let tolerance = 5.0 * e.sqrt() + 2.0;
            assert!(
                (o - e).abs() < tolerance,
                "{} {}: {o} vs {e:.1}",
                c.who,
                c.name
            );
        }
        let top = observed
            .iter()
            .enumerate()
            .max_by_key(|(_, n)| **n)
            .unwrap()
            .0;
        assert!(
            matches!(CONDITIONS[top].who, "J06.9" | "I10"),
            "{}",
            CONDITIONS[top].who
        );
        let special = ["F", "A15", "B18", "B24", "A53", "C"];
        let rare: usize = observed
            .iter()
            .enumerate()
            .filter(|(i, _)| special.iter().any(|s| CONDITIONS[*i].who.starts_with(s)))
            .map(|(_, n)| n)
            .sum();
        assert!(
            (rare as f64) < visits as f64 * 0.03,
            "{rare} special of {visits}"
        );
    }

    #[test]
    fn clean_records_are_internally_consistent() {
        let (clinics, histories) = region(5_000);
        let end = clinics.period().end_time();
        let mut reports = 0;
        let mut forms = HashSet::new();
        for h in &histories {
            let mut ids: HashMap<usize, &str> = HashMap::new();
            for (site, row) in &h.registrations {
                assert!(ids.insert(*site, row.key()).is_none(), "registered twice");
            }
            for e in &h.encounters {
                let pid = ids[&e.site];
                let inpatient = e.is_inpatient();
                for row in e.rows() {
                    assert_eq!(
                        row.get("patient_id"),
                        &Value::text(pid.to_owned()),
                        "{row:?}"
                    );
                    assert!(row.updated_at < end + Duration::days(1), "{row:?}");
                    for (f, v) in row.dataset.fields().iter().zip(&row.values) {
                        if let Value::Ts(t) = v {
                            assert!(*t < end, "{f} {t}");
                        }
                    }
                }
                let codes = std::iter::once(e.main.get(if inpatient {
                    "main_diagnosis_code"
                } else {
                    "diagnosis_code"
                }))
                .chain(e.diagnoses.iter().map(|d| d.get("icd10_code")));
                for code in codes {
                    let parsed = parse_icd10(code.as_str().unwrap()).unwrap();
                    forms.insert(parsed.form());
                }
                assert_eq!(
                    e.diagnoses
                        .iter()
                        .filter(|d| d.get("is_primary") == &Value::Bool(true))
                        .count(),
                    1
                );
                if let Some(discharge) = e.main.get("discharge_time").as_ts() {
                    assert!(discharge >= e.main.get("admit_time").as_ts().unwrap());
                }
                for lab in &e.labs {
                    assert!(lab.get("sampled_at").as_ts() <= lab.get("reported_at").as_ts());
                    if let Value::Num(x) = lab.get("value_num") {
                        let item = clinical::lab_item(&lab.get("item_code").as_str().unwrap()[1..])
                            .unwrap();
                        let flag = lab.get("abnormal_flag").as_str().unwrap();
                        let want = if *x > item.high {
                            "H"
                        } else if *x < item.low {
                            "L"
                        } else {
                            "N"
                        };
                        assert_eq!(flag, want, "{x} {}", item.key);
                    }
                }
                let condition = &CONDITIONS
                    [condition_index(e.diagnoses[0].get("icd10_code").as_str().unwrap()).unwrap()];
                for p in &e.prescriptions {
                    let code = p.get("drug_code").as_str().unwrap();
                    assert!(
                        condition.drugs.iter().any(|d| DRUGS[*d].code == code),
                        "{code} for {}",
                        condition.who
                    );
                }
                if let Some(s) = &e.settlement {
                    let money = |f| match s.get(f) {
                        Value::Money(m) => *m,
                        other => panic!("{other:?}"),
                    };
                    assert_eq!(
                        money("total_amount"),
                        money("insurance_paid") + money("self_paid")
                    );
                    assert!(money("insurance_paid") >= 0 && money("self_paid") >= 0);
                    let fee = e
                        .main
                        .get(if inpatient { "total_cost" } else { "fee_total" });
                    assert_eq!(fee, &Value::Money(money("total_amount")));
                }
                if let Some(r) = &e.report {
                    reports += 1;
                    assert!(condition.notifiable.is_some());
                    let (Value::Date(onset), Value::Date(diagnosed)) =
                        (r.get("onset_date"), r.get("diagnosis_date"))
                    else {
                        panic!("{r:?}");
                    };
                    let reported = r.get("reported_at").as_ts().unwrap();
                    assert!(onset <= diagnosed && diagnosed.and_time(NaiveTime::MIN) <= reported);
                    let diagnosed_at = e.diagnoses[0].get("diagnosed_at").as_ts().unwrap();
                    assert!(reported - diagnosed_at <= Duration::hours(24));
                }
            }
        }
        assert!(reports > 0);
        assert_eq!(forms.len(), 2, "both ICD-10 forms occur");
    }
}
