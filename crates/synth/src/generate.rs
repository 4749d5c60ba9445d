//! Generating a whole region to a directory: one HIS database per institution, the ground-truth
//! manifest of injected defects, optionally HL7 v2 and FHIR message files, and `region.json`
//! (written last, so its presence marks a complete region).
//!
//! People are drawn, and their records rendered in vendor formats, on one thread; writer threads
//! each owning some of the HIS files insert them through bounded queues, so memory stays bounded
//! however many people the region has.

use crate::{
    SynthError,
    defect::{self, DefectKind, DefectProfile, ManifestEntry},
    his::{HisWriter, RenderedRows},
    history::{Clinics, History, Period, Site},
    institution::{Institution, InstitutionCounts, institutions},
    message::MessageWriter,
    patient::PersonGenerator,
    record::{Dataset, Row},
    region::{District, ZHEJIANG},
    vendor::Vendor,
};
use chrono::{Datelike, NaiveDate};
use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;
use serde::{Deserialize, Serialize};
use std::{
    collections::BTreeMap,
    fs::File,
    io::{BufWriter, Write},
    path::{Path, PathBuf},
    sync::{
        atomic::{AtomicU64, Ordering},
        mpsc::sync_channel,
    },
};

/// What to generate.
#[derive(Debug, Clone)]
pub struct Options {
    pub seed: u64,
    pub patients: u64,
    pub institutions: InstitutionCounts,
    pub years: u32,
    /// The first day after the generated period.
    pub until: NaiveDate,
    pub defects: DefectProfile,
    /// Also write HL7 v2.5 and FHIR R4 files for the same events.
    pub messages: bool,
    pub out: PathBuf,
}

/// The largest region generated: ids of orphan references are drawn above it.
pub const MAX_PATIENTS: u64 = 100_000_000;

/// Where generation stands, reported after each batch of people.
#[derive(Debug, Clone, Copy)]
pub struct Progress {
    pub persons: u64,
    pub total: u64,
    pub rows: u64,
}

/// The region's description, written to `region.json`.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct RegionManifest {
    pub seed: u64,
    pub patients: u64,
    pub years: u32,
    pub period_start: NaiveDate,
    pub period_end: NaiveDate,
    /// Rate per defect kind (kinds with rate 0 omitted).
    pub defect_rates: BTreeMap<String, f64>,
    pub defects_injected: u64,
    pub institutions: Vec<SiteManifest>,
    /// Rows written per dataset across the region (duplicates included).
    pub rows: BTreeMap<String, u64>,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct SiteManifest {
    pub code: String,
    pub name: String,
    pub grade: String,
    pub kind: String,
    pub region_code: String,
    pub beds: u32,
    /// The HIS product family, as the information centre's asset register records it.
    pub his_vendor: String,
    /// The HIS database, relative to the output directory.
    pub his: String,
    pub rows: BTreeMap<String, u64>,
}

/// People per batch handed from the drawing thread to the writing thread.
const BATCH: usize = 1_024;
/// Batches between commits of the HIS databases.
const COMMIT_EVERY: u64 = 16;

/// The sites of a region: institutions with their HIS vendors and code forms.
pub fn sites(seed: u64, counts: InstitutionCounts, districts: &[District]) -> Vec<Site> {
    let mut rng = ChaCha8Rng::seed_from_u64(seed ^ 0x7665_6e64_6f72); // "vendor"
    let first = rng.gen_range(0..Vendor::ALL.len());
    institutions(seed, districts, counts)
        .into_iter()
        .enumerate()
        .map(|(i, institution)| {
            // Every vendor appears once the region has three institutions.
            let vendor = if i < Vendor::ALL.len() {
                Vendor::ALL[(first + i) % Vendor::ALL.len()]
            } else {
                Vendor::ALL[rng.gen_range(0..Vendor::ALL.len())]
            };
            let clinical_share = if institution.grade == "一级" {
                0.3
            } else {
                0.8
            };
            Site {
                clinical_codes: rng.r#gen::<f64>() < clinical_share,
                vendor,
                institution,
            }
        })
        .collect()
}

/// The institution counts a region was generated with.
pub fn counts_of(region: &RegionManifest) -> InstitutionCounts {
    let count = |g: &str| region.institutions.iter().filter(|i| i.grade == g).count();
    InstitutionCounts {
        tertiary: count("三级"),
        secondary: count("二级"),
        primary: count("一级"),
    }
}

/// The generated period for `years` years up to `until`.
pub fn period(years: u32, until: NaiveDate) -> Period {
    let start = until
        .with_year(until.year() - years as i32)
        .unwrap_or_else(|| until - chrono::Duration::days(365 * i64::from(years)));
    Period { start, end: until }
}

/// One batch of people drawn and rendered, ready to write.
struct Batch {
    persons: u64,
    /// Rows in their vendor's formats, per site and dataset.
    rows: Vec<[RenderedRows; 8]>,
    /// HL7 and FHIR bytes per site (empty without `--messages`).
    messages: Vec<(Vec<u8>, Vec<u8>)>,
    /// Manifest lines.
    defects: Vec<u8>,
    defect_count: u64,
}

impl Batch {
    fn new(sites: usize, messages: bool) -> Self {
        Self {
            persons: 0,
            rows: (0..sites).map(|_| Default::default()).collect(),
            messages: if messages {
                vec![(Vec::new(), Vec::new()); sites]
            } else {
                Vec::new()
            },
            defects: Vec::new(),
            defect_count: 0,
        }
    }

    /// Renders one person's history, its defects and its duplicated rows.
    fn add(
        &mut self,
        h: &History,
        defects: &[ManifestEntry],
        duplicates: &[(usize, Row)],
        sites: &[Site],
    ) -> Result<(), SynthError> {
        let mut put = |site: usize, row: &Row| {
            self.rows[site][row.dataset.index()].push(sites[site].vendor, row);
        };
        for (site, row) in &h.registrations {
            put(*site, row);
        }
        for enc in &h.encounters {
            for row in enc.rows() {
                put(enc.site, row);
            }
        }
        for (site, row) in duplicates {
            put(*site, row);
        }
        if !self.messages.is_empty() {
            crate::message::render_history(h, sites, &mut self.messages)?;
        }
        for entry in defects {
            serde_json::to_writer(&mut self.defects, entry)?;
            self.defects.push(b'\n');
        }
        self.defect_count += defects.len() as u64;
        self.persons += 1;
        Ok(())
    }
}

/// Which writer thread owns each site: a snake order over the sites (largest grades first)
/// spreads the busiest hospitals evenly.
fn writer_parts(sites: usize, parts: usize) -> Vec<usize> {
    (0..sites)
        .map(|i| {
            let (round, pos) = (i / parts, i % parts);
            if round % 2 == 0 { pos } else { parts - 1 - pos }
        })
        .collect()
}

/// Writer threads: one per core, at least two (SQLite files are independent, so their inserts
/// run in parallel; each file still has exactly one writer, so output never depends on this).
fn writer_threads() -> usize {
    std::thread::available_parallelism()
        .map(std::num::NonZeroUsize::get)
        .unwrap_or(2)
        .clamp(2, 8)
}

/// One writer thread's share of a batch: rows of its sites, and for the first thread also the
/// messages and manifest lines.
struct Part {
    persons: u64,
    rows: Vec<(usize, [RenderedRows; 8])>,
    messages: Vec<(Vec<u8>, Vec<u8>)>,
    defects: Vec<u8>,
    defect_count: u64,
}

impl Batch {
    fn split(self, parts: &[usize], count: usize) -> Vec<Part> {
        let mut out: Vec<Part> = (0..count)
            .map(|_| Part {
                persons: self.persons,
                rows: Vec::new(),
                messages: Vec::new(),
                defects: Vec::new(),
                defect_count: 0,
            })
            .collect();
        for (site, sets) in self.rows.into_iter().enumerate() {
            out[parts[site]].rows.push((site, sets));
        }
        out[0].messages = self.messages;
        out[0].defects = self.defects;
        out[0].defect_count = self.defect_count;
        out
    }
}

/// What only the first writer thread does: messages, the manifest, and progress per part.
type FirstWriter<'a> = (
    &'a mut Option<MessageWriter>,
    &'a mut BufWriter<File>,
    &'a mut dyn FnMut(Part),
);

/// Inserts parts into the HIS databases a writer thread owns; returns rows per site.
fn write_parts(
    rx: std::sync::mpsc::Receiver<Result<Part, SynthError>>,
    writers: &mut [(usize, HisWriter)],
    written: &AtomicU64,
    mut first: Option<FirstWriter<'_>>,
) -> Result<Vec<(usize, [u64; 8])>, SynthError> {
    let mut rows: Vec<(usize, [u64; 8])> = writers.iter().map(|(s, _)| (*s, [0; 8])).collect();
    for (n, part) in rx.into_iter().enumerate() {
        let mut part = part?;
        // A part holds this thread's sites in the same order as `writers`.
        for ((_, sets), ((_, writer), (_, counts))) in part
            .rows
            .iter()
            .zip(writers.iter_mut().zip(rows.iter_mut()))
        {
            for (d, set) in Dataset::ALL.iter().zip(sets) {
                writer.write(*d, set)?;
                counts[d.index()] += set.len() as u64;
                written.fetch_add(set.len() as u64, Ordering::Relaxed);
            }
        }
        if (n as u64 + 1).is_multiple_of(COMMIT_EVERY) {
            for (_, w) in writers.iter_mut() {
                w.checkpoint()?;
            }
        }
        if let Some((messages, manifest, done)) = first.as_mut() {
            if let Some(m) = messages.as_mut() {
                for (site, (hl7, fhir)) in part.messages.iter().enumerate() {
                    m.append(site, hl7, fhir)?;
                }
            }
            manifest.write_all(&part.defects)?;
            part.rows.clear();
            done(part);
        }
    }
    Ok(rows)
}

/// Finishes a writer thread's files (index builds run in parallel across threads).
fn finish_all(writers: Vec<(usize, HisWriter)>) -> Result<(), SynthError> {
    for (_, w) in writers {
        w.finish()?;
    }
    Ok(())
}

/// Generates a region into `options.out`, which must be absent or empty.
pub fn generate(
    options: &Options,
    mut progress: impl FnMut(Progress),
) -> Result<RegionManifest, SynthError> {
    check(options)?;
    let out = &options.out;
    std::fs::create_dir_all(out.join("his"))?;
    let period = period(options.years, options.until);
    let sites = sites(options.seed, options.institutions, ZHEJIANG);
    let clinics = Clinics::new(sites, options.seed, period);
    let threads = writer_threads().min(clinics.sites.len());
    let parts = writer_parts(clinics.sites.len(), threads);
    let mut owned: Vec<Vec<(usize, HisWriter)>> = (0..threads).map(|_| Vec::new()).collect();
    for (i, s) in clinics.sites.iter().enumerate() {
        owned[parts[i]].push((
            i,
            HisWriter::create(&his_path(out, &s.institution), s.vendor)?,
        ));
    }
    let mut messages = if options.messages {
        Some(MessageWriter::create(out, &clinics.sites)?)
    } else {
        None
    };
    let manifest_partial = out.join("defects.jsonl.partial");
    let mut manifest = BufWriter::new(File::create(&manifest_partial)?);
    let mut rows = vec![[0u64; 8]; clinics.sites.len()];
    let mut injected = 0u64;
    let written = AtomicU64::new(0);

    let (txs, mut rxs): (Vec<_>, Vec<_>) = (0..threads)
        .map(|_| sync_channel::<Result<Part, SynthError>>(8))
        .unzip();
    let mut owned_iter = owned.iter_mut();
    let first_writers = owned_iter.next().map(std::mem::take).unwrap_or_default();
    let rest: Vec<_> = owned_iter.map(std::mem::take).collect();
    let first_rx = rxs.remove(0);
    let results = std::thread::scope(|scope| {
        let clinics = &clinics;
        let parts = &parts;
        // Draws and renders; the writers below only insert and append.
        scope.spawn(move || {
            let mut people = PersonGenerator::new(options.seed, ZHEJIANG, period.end);
            let mut left = options.patients;
            while left > 0 {
                let n = left.min(BATCH as u64);
                left -= n;
                let mut batch = Batch::new(clinics.sites.len(), options.messages);
                let mut result = Ok(());
                for _ in 0..n {
                    let mut h = clinics.history(people.next_person());
                    let (entries, dups) =
                        defect::inject(&mut h, clinics, &options.defects, options.seed);
                    result = batch.add(&h, &entries, &dups, &clinics.sites);
                    if result.is_err() {
                        break;
                    }
                }
                match result {
                    Ok(()) => {
                        for (tx, part) in txs.iter().zip(batch.split(parts, txs.len())) {
                            // A closed channel: that writer stopped on an error it reports.
                            if tx.send(Ok(part)).is_err() {
                                return;
                            }
                        }
                    }
                    Err(e) => {
                        let _ = txs[0].send(Err(e));
                        return;
                    }
                }
            }
        });
        let written = &written;
        let others: Vec<_> = rest
            .into_iter()
            .zip(rxs)
            .map(|(mut mine, rx)| {
                scope.spawn(move || -> Result<_, SynthError> {
                    let counts = write_parts(rx, &mut mine, written, None)?;
                    finish_all(mine)?;
                    Ok(counts)
                })
            })
            .collect();
        let mut first_writers = first_writers;
        let mut done = 0u64;
        let mut on_part = |part: Part| {
            done += part.persons;
            injected += part.defect_count;
            progress(Progress {
                persons: done,
                total: options.patients,
                rows: written.load(Ordering::Relaxed),
            });
        };
        let first = write_parts(
            first_rx,
            &mut first_writers,
            written,
            Some((&mut messages, &mut manifest, &mut on_part)),
        )
        .and_then(|counts| finish_all(first_writers).map(|()| counts));
        let mut all = vec![first];
        for handle in others {
            all.push(handle.join().unwrap_or_else(|_| {
                Err(SynthError::Io(std::io::Error::other(
                    "a writer thread panicked",
                )))
            }));
        }
        all
    });
    for result in results {
        for (site, c) in result? {
            rows[site] = c;
        }
    }
    if let Some(m) = messages {
        m.finish()?;
    }
    manifest
        .into_inner()
        .map_err(|e| e.into_error())?
        .sync_all()?;
    std::fs::rename(&manifest_partial, out.join("defects.jsonl"))?;
    write_icd10_table(out)?;
    let region = region_manifest(options, period, &clinics.sites, &rows, injected);
    let json = serde_json::to_vec_pretty(&region)?;
    std::fs::write(out.join("region.json"), json)?;
    Ok(region)
}

fn check(options: &Options) -> Result<(), SynthError> {
    if options.patients == 0 || options.patients > MAX_PATIENTS {
        return Err(SynthError::InvalidArgument(format!(
            "patients must be between 1 and {MAX_PATIENTS}, not {}",
            options.patients
        )));
    }
    if !(1..=50).contains(&options.years) {
        return Err(SynthError::InvalidArgument(format!(
            "years must be between 1 and 50, not {}",
            options.years
        )));
    }
    let c = options.institutions;
    if c.tertiary + c.secondary == 0 || c.primary == 0 {
        return Err(SynthError::InvalidArgument(
            "a region needs at least one hospital (tertiary or secondary) and one primary-care institution".into(),
        ));
    }
    if options.out.exists() && std::fs::read_dir(&options.out)?.next().is_some() {
        return Err(SynthError::InvalidArgument(format!(
            "{} is not empty; choose a new directory or remove it first",
            options.out.display()
        )));
    }
    Ok(())
}

/// `his/<institution code>.sqlite`.
pub fn his_path(out: &Path, institution: &Institution) -> PathBuf {
    out.join("his").join(format!("{}.sqlite", institution.code))
}

/// The region's diagnosis dictionary, `codes/icd10.csv` (`code,label`): every code its hospitals
/// use, in both spellings. A real region loads its 国家临床版 2.0 table the same way.
fn write_icd10_table(out: &Path) -> Result<(), SynthError> {
    let dir = out.join("codes");
    std::fs::create_dir_all(&dir)?;
    let mut seen = std::collections::BTreeMap::new();
    for c in crate::clinical::CONDITIONS {
        seen.entry(c.who).or_insert(c.name);
        seen.entry(c.clinical).or_insert(c.name);
    }
    let mut text = String::from("code,label\n");
    for (code, label) in seen {
        text.push_str(&format!("{code},{label}\n"));
    }
    std::fs::write(dir.join("icd10.csv"), text)?;
    Ok(())
}

fn region_manifest(
    options: &Options,
    period: Period,
    sites: &[Site],
    rows: &[[u64; 8]],
    injected: u64,
) -> RegionManifest {
    let counts = |r: &[u64; 8]| -> BTreeMap<String, u64> {
        Dataset::ALL
            .iter()
            .map(|d| (d.name().to_owned(), r[d.index()]))
            .collect()
    };
    let mut total = [0u64; 8];
    for r in rows {
        for (t, n) in total.iter_mut().zip(r) {
            *t += n;
        }
    }
    RegionManifest {
        seed: options.seed,
        patients: options.patients,
        years: options.years,
        period_start: period.start,
        period_end: period.end,
        defect_rates: DefectKind::ALL
            .iter()
            .filter(|k| options.defects.rate(**k) > 0.0)
            .map(|k| (k.name().to_owned(), options.defects.rate(*k)))
            .collect(),
        defects_injected: injected,
        institutions: sites
            .iter()
            .zip(rows)
            .map(|(s, r)| SiteManifest {
                code: s.institution.code.clone(),
                name: s.institution.name.clone(),
                grade: s.institution.grade.to_owned(),
                kind: s.institution.kind.to_owned(),
                region_code: s.institution.region_code.clone(),
                beds: s.institution.beds,
                his_vendor: s.vendor.name().to_owned(),
                his: format!("his/{}.sqlite", s.institution.code),
                rows: counts(r),
            })
            .collect(),
        rows: counts(&total),
    }
}
