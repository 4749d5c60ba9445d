//! `hdos synth`: generate a synthetic region to a directory.

use super::synth_pg;
use crate::cli::{GenerateArgs, StreamArgs, SynthArgs, SynthCommand};
use anyhow::{Context, Result, bail};
use chrono::NaiveDate;
use hdos_synth::{DefectProfile, InstitutionCounts, Options, RegionManifest, generate};
use indicatif::{ProgressBar, ProgressStyle};
use std::{process::ExitCode, time::Instant};

/// `N` split about 1 : 3 : 6, or `tertiary,secondary,primary`.
pub fn parse_institutions(s: &str) -> Result<InstitutionCounts> {
    let parts: Vec<usize> = s
        .split(',')
        .map(|p| p.trim().parse::<usize>())
        .collect::<Result<_, _>>()
        .with_context(|| format!("`{s}` is not a number of institutions or three counts"))?;
    Ok(match parts[..] {
        [total] if total >= 2 => {
            let tertiary = (total / 10).max(1);
            let secondary = (total * 3 / 10).max(usize::from(total >= 3));
            InstitutionCounts {
                tertiary,
                secondary,
                primary: total - tertiary - secondary,
            }
        }
        [tertiary, secondary, primary] => InstitutionCounts {
            tertiary,
            secondary,
            primary,
        },
        _ => bail!("`{s}`: give a total of at least 2, or three counts tertiary,secondary,primary"),
    })
}

pub fn options(a: &GenerateArgs) -> Result<Options> {
    Ok(Options {
        seed: a.seed,
        patients: a.patients,
        institutions: parse_institutions(&a.institutions)?,
        years: a.years,
        until: NaiveDate::parse_from_str(&a.until, "%Y-%m-%d")
            .with_context(|| format!("--until `{}` is not a date (YYYY-MM-DD)", a.until))?,
        defects: a.defects.parse::<DefectProfile>()?,
        messages: a.messages,
        out: a.out.clone(),
    })
}

/// Generates with a progress bar on a terminal; returns the manifest and the seconds taken.
pub fn run(options: &Options) -> Result<(RegionManifest, f64)> {
    let bar = ProgressBar::new(options.patients).with_style(
        ProgressStyle::with_template(
            "{spinner} {bar:40} {pos}/{len} people  {msg}  {elapsed_precise} (eta {eta})",
        )
        .unwrap_or_else(|_| ProgressStyle::default_bar()),
    );
    let start = Instant::now();
    let manifest = generate(options, |p| {
        bar.set_position(p.persons);
        bar.set_message(format!("{} rows", p.rows));
    })?;
    bar.finish_and_clear();
    Ok((manifest, start.elapsed().as_secs_f64()))
}

pub async fn synth(a: SynthArgs) -> Result<ExitCode> {
    match a.command {
        Some(SynthCommand::Stream(s)) => stream(s).await,
        None => generate_region(a.generate).await,
    }
}

async fn generate_region(a: GenerateArgs) -> Result<ExitCode> {
    let options = options(&a)?;
    if a.force && options.out.exists() {
        std::fs::remove_dir_all(&options.out)
            .with_context(|| format!("could not remove {}", options.out.display()))?;
    }
    let (m, seconds) = {
        let options = options.clone();
        tokio::task::spawn_blocking(move || run(&options)).await??
    };
    let rows: u64 = m.rows.values().sum();
    println!(
        "region written to {}: {} institutions, {} people, {} rows in {:.1} s ({:.0} rows/s), {} defects injected",
        options.out.display(),
        m.institutions.len(),
        m.patients,
        rows,
        seconds,
        rows as f64 / seconds,
        m.defects_injected
    );
    for (dataset, n) in &m.rows {
        println!("  {dataset:<18} {n:>12}");
    }
    if let Some(url) = &a.postgres {
        for code in synth_pg::load(url, &options.out, &m, a.postgres_institutions).await? {
            println!(
                "loaded {code} into PostgreSQL schema {}",
                synth_pg::schema(&code)
            );
        }
    }
    Ok(ExitCode::SUCCESS)
}

fn read_region(dir: &std::path::Path) -> Result<RegionManifest> {
    let path = dir.join("region.json");
    let text = std::fs::read_to_string(&path).with_context(|| {
        format!(
            "{} not found: generate a region first with `hdos synth --out {}`",
            path.display(),
            dir.display()
        )
    })?;
    serde_json::from_str(&text)
        .with_context(|| format!("{} is not a region manifest", path.display()))
}

async fn stream(a: StreamArgs) -> Result<ExitCode> {
    use hdos_synth::stream::{self, EventSink, EventSource, MllpSink, SqliteSink};
    use std::sync::{
        Arc,
        atomic::{AtomicBool, Ordering},
    };
    let region = read_region(&a.region)?;
    let code = match &a.institution {
        Some(c) => c.clone(),
        None => region
            .institutions
            .first()
            .map(|i| i.code.clone())
            .context("the region has no institutions")?,
    };
    let site = region
        .institutions
        .iter()
        .find(|i| i.code == code)
        .with_context(|| format!("institution {code} is not in {}", a.region.display()))?
        .clone();
    let mut source = EventSource::new(&region, &code, a.seed)?;
    let mut sink: Box<dyn EventSink + Send> = match (&a.mllp, &a.postgres) {
        (Some(_), Some(_)) => bail!("choose one target: --mllp or --postgres"),
        (Some(addr), None) => Box::new(
            MllpSink::connect(addr, source.site().clone())
                .with_context(|| format!("could not connect to the MLLP endpoint {addr}"))?,
        ),
        (None, Some(url)) => {
            Box::new(synth_pg::PgSink::connect(url, &code, source.vendor()).await?)
        }
        (None, None) => Box::new(SqliteSink::open(
            &a.region.join(&site.his),
            source.vendor(),
        )?),
    };
    let stop = Arc::new(AtomicBool::new(false));
    let on_signal = stop.clone();
    tokio::spawn(async move {
        if tokio::signal::ctrl_c().await.is_ok() {
            on_signal.store(true, Ordering::Relaxed);
        }
    });
    let deadline = a
        .seconds
        .map(|s| Instant::now() + std::time::Duration::from_secs_f64(s.max(0.0)));
    let target = a
        .mllp
        .clone()
        .or(a
            .postgres
            .as_ref()
            .map(|_| format!("PostgreSQL schema {}", synth_pg::schema(&code))))
        .unwrap_or_else(|| a.region.join(&site.his).display().to_string());
    println!(
        "streaming {} events/s for {} ({}) to {target}; Ctrl-C stops",
        a.rate, site.name, code
    );
    let bar = ProgressBar::new_spinner();
    let (rate, limit) = (a.rate, a.events);
    let stats = tokio::task::spawn_blocking(move || {
        stream::run(
            &mut source,
            sink.as_mut(),
            rate,
            limit,
            || (chrono::Utc::now() + chrono::Duration::hours(8)).naive_utc(),
            || stop.load(Ordering::Relaxed) || deadline.is_some_and(|d| Instant::now() >= d),
            |s| {
                if s.events % 10 == 0 {
                    bar.set_message(format!(
                        "{} events: {} visits, {} updates, {} cancellations",
                        s.events, s.visits, s.updates, s.cancels
                    ));
                    bar.tick();
                }
            },
        )
    })
    .await??;
    println!(
        "{} events: {} visits, {} patient updates, {} cancellations",
        stats.events, stats.visits, stats.updates, stats.cancels
    );
    Ok(ExitCode::SUCCESS)
}
