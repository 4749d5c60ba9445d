//! A quality run: the enabled rules of every dataset, one scan per dataset over what arrived since
//! the last run (or everything), failures into the lake, results per rule × institution into the
//! metadata store with the run, then tickets.

use crate::{
    QualityError, collected,
    compile::{self, ICD10_TABLE, Lookups, Window},
    evaluate::{self, Tallies},
    failures::FailureWriter,
    hard,
    notify::{self, NotifyConfig},
    rule::{Check, Rule, Severity},
    rules::ActiveRules,
    tickets::{self, TicketChange},
    volume,
};
use hdos_core::standard::{Dataset, FieldType, Standard};
use hdos_lake::{Lake, TableName};
use hdos_store::{MetaStore, QualityResult, QualityRun, QualityRunEnd, now_millis};
use std::collections::BTreeMap;

/// What to check.
#[derive(Debug, Clone)]
pub struct RunOptions {
    /// Check everything in the std zone rather than what arrived since the last run.
    pub full: bool,
    /// Who asked: a user name, or `scheduler`.
    pub requested_by: String,
    /// Only these datasets (all when empty).
    pub datasets: Vec<String>,
    /// How far behind the clock an incremental run stops, so a chunk being committed as the run
    /// starts is checked by the next run rather than missed.
    pub settle_seconds: i64,
    /// Where the run's ticket changes are told besides the app.
    pub notify: NotifyConfig,
}

impl Default for RunOptions {
    fn default() -> Self {
        Self {
            full: false,
            requested_by: "scheduler".into(),
            datasets: Vec::new(),
            settle_seconds: 120,
            notify: NotifyConfig::default(),
        }
    }
}

/// What a run did.
#[derive(Debug, Clone)]
pub struct RunSummary {
    pub run: QualityRun,
    pub results: Vec<QualityResult>,
    /// Rows scanned per dataset.
    pub rows: BTreeMap<String, i64>,
    pub failures: u64,
    /// Records moved from std to quarantine for failing hard rules, per dataset.
    pub moved: BTreeMap<String, u64>,
    /// Datasets not checked, with the reason.
    pub skipped: Vec<(String, String)>,
    pub tickets: Vec<TicketChange>,
}

/// Runs the checks and records the run; a run that fails is recorded as failed with the error.
pub async fn run(
    store: &dyn MetaStore,
    lake: &Lake,
    standard: &Standard,
    options: &RunOptions,
) -> Result<RunSummary, QualityError> {
    fail_stale(store).await?;
    let rules = ActiveRules::load(store, standard).await?;
    let previous = store.last_succeeded_quality_run().await?;
    let watermarks: BTreeMap<String, i64> = previous
        .as_ref()
        .and_then(|r| serde_json::from_str(&r.watermarks).ok())
        .unwrap_or_default();
    let run = match store
        .start_quality_run(
            if options.full { "full" } else { "incremental" },
            &options.requested_by,
        )
        .await
    {
        Err(hdos_store::StoreError::AlreadyExists { .. }) => {
            return Err(QualityError::Busy);
        }
        other => other?,
    };
    let collecting_since = collection_running_since(store).await?;
    let settled = settled_until(collecting_since, options);
    // A dataset mid-load is not stale: freshness is judged when no collection run is going.
    let collecting = collecting_since.is_some();
    // A full run reads everything up to now, but the next incremental run starts where this
    // one would have stopped: rows still in flight are checked then (perhaps twice, never not).
    let until = match options.full {
        true => chrono::Utc::now().timestamp_micros(),
        false => settled,
    };
    let checked = Checked {
        collecting,
        lake,
        standard,
        rules: &rules,
        run: &run,
    };
    match checked.all(options, &watermarks, until).await {
        Ok(mut summary) => {
            let end = QualityRunEnd {
                succeeded: true,
                rows_checked: summary.rows.values().sum(),
                failures: summary.failures as i64,
                error: None,
                watermarks: serde_json::to_string(&summary_watermarks(
                    &watermarks,
                    &summary,
                    settled,
                ))
                .unwrap_or_else(|_| "{}".into()),
            };
            store
                .finish_quality_run(run.id, &end, &summary.results)
                .await?;
            summary.tickets = tickets::apply(store, &rules, &summary.results, run.id).await?;
            notify::enqueue(store, &options.notify, &summary.tickets).await?;
            summary.run.state = "succeeded".into();
            summary.run.finished_at = Some(now_millis());
            summary.run.rows_checked = end.rows_checked;
            summary.run.failures = end.failures;
            summary.run.watermarks = end.watermarks;
            Ok(summary)
        }
        Err(e) => {
            let end = QualityRunEnd {
                succeeded: false,
                rows_checked: 0,
                failures: 0,
                error: Some(e.to_string()),
                watermarks: "{}".into(),
            };
            store.finish_quality_run(run.id, &end, &[]).await?;
            Err(e)
        }
    }
}

/// How long a run may stay `running` before it counts as dead (its process stopped).
pub const STALE_RUN_MS: i64 = 3_600_000;

/// Marks runs left `running` past [`STALE_RUN_MS`] as failed.
pub async fn fail_stale(store: &dyn MetaStore) -> Result<u64, QualityError> {
    Ok(store
        .fail_stale_quality_runs(now_millis() - STALE_RUN_MS)
        .await?)
}

/// Up to where every row is surely committed (µs). Collection stamps rows when it reads them
/// and commits them later, so this stops short of the oldest collection run still going (its
/// rows may yet be committed with earlier stamps) and of a settling time before now (streamed
/// rows, in flight for seconds).
fn settled_until(collecting_since: Option<i64>, options: &RunOptions) -> i64 {
    let until = chrono::Utc::now().timestamp_micros() - options.settle_seconds * 1_000_000;
    match collecting_since {
        Some(started) => until.min(started * 1_000),
        None => until,
    }
}

/// How long a collection run may stay `running` before it counts as dead with its worker.
const STALE_COLLECTION_MS: i64 = 6 * 3_600_000;

/// When the oldest live batch collection run started (ms), if one is going.
pub async fn collection_running_since(store: &dyn MetaStore) -> Result<Option<i64>, QualityError> {
    let stale = now_millis() - STALE_COLLECTION_MS;
    Ok(store.oldest_running_ingest().await?.filter(|s| *s > stale))
}

/// Each checked dataset now starts after `until`; the others keep their mark.
fn summary_watermarks(
    before: &BTreeMap<String, i64>,
    summary: &RunSummary,
    until: i64,
) -> BTreeMap<String, i64> {
    let mut marks = before.clone();
    for dataset in summary.rows.keys() {
        let mark = marks.entry(dataset.clone()).or_insert(until);
        *mark = (*mark).max(until);
    }
    marks
}

struct Checked<'a> {
    collecting: bool,
    lake: &'a Lake,
    standard: &'a Standard,
    rules: &'a ActiveRules,
    run: &'a QualityRun,
}

impl Checked<'_> {
    async fn all(
        &self,
        options: &RunOptions,
        watermarks: &BTreeMap<String, i64>,
        until: i64,
    ) -> Result<RunSummary, QualityError> {
        let checked_at = now_millis();
        let mut writer = FailureWriter::new(self.lake, self.run.id, until).await?;
        let lookups = self.lookups().await?;
        let mut summary = RunSummary {
            run: self.run.clone(),
            results: Vec::new(),
            rows: BTreeMap::new(),
            failures: 0,
            moved: BTreeMap::new(),
            skipped: Vec::new(),
            tickets: Vec::new(),
        };
        // A crash between an earlier run's copy and delete left records in both places, in any
        // dataset (whether or not this run checks it).
        for dataset in self.standard.datasets() {
            hard::finish(self.lake, dataset).await?;
        }
        for dataset in self.standard.datasets() {
            if !options.datasets.is_empty() && !options.datasets.contains(&dataset.name) {
                continue;
            }
            let rules = self.rules.of(&dataset.name);
            if rules.is_empty() {
                summary
                    .skipped
                    .push((dataset.name.clone(), "no enabled rules".into()));
                continue;
            }
            let std = TableName::new(&format!("std/{}", dataset.name))?;
            if !self.lake.exists(&std).await? {
                summary
                    .skipped
                    .push((dataset.name.clone(), "nothing collected yet".into()));
                continue;
            }
            let window = Window {
                after: match options.full {
                    true => None,
                    false => watermarks.get(&dataset.name).copied(),
                },
                until,
            };
            let tallies = self
                .dataset(dataset, &rules, window, &lookups, &mut writer)
                .await?;
            let moved = self
                .move_hard(dataset, &rules, &tallies, window, &lookups)
                .await?;
            if moved > 0 {
                summary.moved.insert(dataset.name.clone(), moved);
            }
            summary
                .rows
                .insert(dataset.name.clone(), tallies.rows.values().sum::<i64>());
            summary
                .results
                .extend(results(self.run.id, &rules, &tallies, checked_at));
        }
        writer.flush().await?;
        summary.failures = writer.written();
        Ok(summary)
    }

    /// Moves the records failing the dataset's hard record rules to quarantine; returns how many
    /// left std.
    async fn move_hard(
        &self,
        dataset: &Dataset,
        rules: &[(&Rule, i64)],
        tallies: &Tallies,
        window: Window,
        lookups: &Lookups,
    ) -> Result<u64, QualityError> {
        let hard: Vec<&Rule> = rules
            .iter()
            .map(|(r, _)| *r)
            .filter(|r| r.severity == Severity::Hard && tallies.failed_in_std.contains(&r.id))
            .collect();
        if hard.is_empty() {
            return Ok(0);
        }
        let plan = compile::plan(dataset, &hard, window, lookups).map_err(QualityError::Run)?;
        hard::copy(self.lake, dataset, &plan, &hard, self.run.id).await?;
        hard::finish(self.lake, dataset).await
    }

    /// Which code tables and refused keys the lake holds.
    async fn lookups(&self) -> Result<Lookups, QualityError> {
        let mut lookups = Lookups {
            icd10_table: self.lake.exists(&TableName::new(ICD10_TABLE)?).await?,
            ..Lookups::default()
        };
        for d in self.standard.datasets() {
            lookups.keys.insert(d.name.clone(), d.key.clone());
            if self
                .lake
                .exists(&TableName::new(&format!("std/{}", d.name))?)
                .await?
            {
                lookups.collected.push(d.name.clone());
            }
            let text_key = d.key.iter().all(|k| {
                matches!(
                    d.field(k).map(|f| f.field_type),
                    Some(FieldType::Str { .. } | FieldType::Code)
                )
            });
            let q = TableName::new(&format!("quarantine/{}", d.name))?;
            if text_key
                && self.lake.exists(&q).await?
                && self
                    .lake
                    .schema(&q)
                    .await?
                    .field_with_name("record_key")
                    .is_ok()
            {
                lookups.quarantined_keys.push(d.name.clone());
            }
        }
        Ok(lookups)
    }

    async fn dataset(
        &self,
        dataset: &Dataset,
        rules: &[(&Rule, i64)],
        window: Window,
        lookups: &Lookups,
        writer: &mut FailureWriter<'_>,
    ) -> Result<Tallies, QualityError> {
        let mut tallies = Tallies::default();
        let record: Vec<(&Rule, i64)> = rules
            .iter()
            .copied()
            .filter(|(r, _)| compile::is_record_rule(&r.check))
            .filter(|(r, _)| match &r.check {
                Check::Reference { dataset, .. } => lookups.collected.contains(dataset),
                _ => true,
            })
            .collect();
        let only: Vec<&Rule> = record.iter().map(|(r, _)| *r).collect();
        let plan = compile::plan(dataset, &only, window, lookups).map_err(QualityError::Run)?;
        tracing::debug!(dataset = %dataset.name, sql = %plan.sql, "quality scan");
        evaluate::scan(
            self.lake,
            &plan,
            &record,
            &dataset.name,
            &mut tallies,
            writer,
        )
        .await?;
        // Rules checked at collection: every row that landed passed them.
        let rows = tallies.rows.clone();
        for (rule, _) in rules {
            if matches!(rule.check, Check::Unique { .. } | Check::Conformance) {
                for (institution, n) in &rows {
                    if rule.institutions.is_empty() || rule.institutions.contains(institution) {
                        tallies.add(&rule.id, institution, *n, 0);
                    }
                }
            }
        }
        collected::quarantined(
            self.lake,
            &dataset.name,
            rules,
            window,
            &mut tallies,
            writer,
        )
        .await?;
        self.freshness(dataset, rules, &mut tallies).await?;
        volume::check(self.lake, dataset, rules, window, &mut tallies, writer).await?;
        Ok(tallies)
    }

    /// Freshness of each institution's dataset: its newest record's write time against the
    /// clock, over the whole table.
    async fn freshness(
        &self,
        dataset: &Dataset,
        rules: &[(&Rule, i64)],
        tallies: &mut Tallies,
    ) -> Result<(), QualityError> {
        let fresh: Vec<(&Rule, f64)> = rules
            .iter()
            .filter_map(|(r, _)| match r.check {
                Check::Freshness { max_hours } => Some((*r, max_hours)),
                _ => None,
            })
            .collect();
        if fresh.is_empty() || self.collecting || dataset.field("updated_at").is_none() {
            return Ok(());
        }
        let std = TableName::new(&format!("std/{}", dataset.name))?;
        let sql = format!(
            "SELECT \"_hdos_institution\", CAST(max(\"updated_at\") AS BIGINT) FROM {} GROUP BY 1",
            std.sql_name()
        );
        let now_us = chrono::Utc::now().timestamp_micros();
        for batch in self.lake.query(std::slice::from_ref(&std), &sql).await? {
            use hdos_lake::arrow::{
                array::{Array, AsArray},
                compute::cast,
                datatypes::{DataType, Int64Type},
            };
            let institutions = cast(batch.column(0), &DataType::Utf8)?;
            let institutions = institutions.as_string::<i32>();
            let newest = batch.column(1).as_primitive::<Int64Type>();
            for row in 0..batch.num_rows() {
                let institution = institutions.value(row);
                for (rule, hours) in &fresh {
                    if !rule.institutions.is_empty()
                        && !rule.institutions.iter().any(|i| i == institution)
                    {
                        continue;
                    }
                    let age_us = now_us - newest.value(row);
                    let stale = newest.is_null(row) || age_us as f64 > hours * 3_600_000_000.0;
                    tallies.add(&rule.id, institution, 1, i64::from(stale));
                }
            }
        }
        Ok(())
    }
}

/// One result per rule and institution where the rule checked something, passes included.
fn results(
    run_id: i64,
    rules: &[(&Rule, i64)],
    tallies: &Tallies,
    checked_at: i64,
) -> Vec<QualityResult> {
    let mut keys: Vec<&(String, String)> = tallies.rules.keys().collect();
    keys.sort_unstable();
    let mut out = Vec::new();
    for (rule, version) in rules {
        for (rule_id, institution) in keys.iter().map(|k| (&k.0, &k.1)) {
            let t = tallies.rules[&(rule_id.clone(), institution.clone())];
            if *rule_id != rule.id || t.checked == 0 {
                continue;
            }
            out.push(QualityResult {
                run_id,
                rule_id: rule.id.clone(),
                rule_version: *version,
                dataset: rule.dataset.clone(),
                institution: institution.clone(),
                dimension: rule.dimension.name().into(),
                severity: rule.severity.name().into(),
                threshold: rule.threshold,
                checked: t.checked,
                failed: t.failed,
                checked_at,
            });
        }
    }
    out
}
