//! Schema drift: a source table's columns against those the channel saw last time. An added,
//! dropped or retyped column is recorded as an alert (`schema_drift`, one per table, updated
//! while it lasts) naming each change and whether the mapping reads the column; the run goes on,
//! so mapped fields keep flowing. A column the mapping reads that the source had when last
//! recorded and has now lost is *absent*: its field is written empty (a required one sends its
//! rows to quarantine), it stays recorded as absent, and the alert says so at every run until the
//! mapping or the source changes. A mapped column the source never had (a misspelling) is the
//! mapping's error, not drift.

use crate::{IngestError, source::Column};
use hdos_store::{MetaStore, NewAlert};

/// One change of a source table's columns.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Drift {
    Added(String),
    Dropped(String),
    Retyped {
        column: String,
        from: String,
        to: String,
    },
}

impl Drift {
    fn column(&self) -> &str {
        match self {
            Self::Added(c) | Self::Dropped(c) => c,
            Self::Retyped { column, .. } => column,
        }
    }

    fn describe(&self) -> String {
        match self {
            Self::Added(c) => format!("added `{c}`"),
            Self::Dropped(c) => format!("dropped `{c}`"),
            Self::Retyped { column, from, to } => format!("`{column}` retyped {from} → {to}"),
        }
    }
}

/// What changed from `old` to `new`, in `new`'s column order (dropped ones last).
pub fn compare(old: &[Column], new: &[Column]) -> Vec<Drift> {
    let mut out = Vec::new();
    for c in new {
        match old.iter().find(|o| o.name == c.name) {
            None => out.push(Drift::Added(c.name.clone())),
            Some(o) if !o.declared_type.eq_ignore_ascii_case(&c.declared_type) => {
                out.push(Drift::Retyped {
                    column: c.name.clone(),
                    from: o.declared_type.clone(),
                    to: c.declared_type.clone(),
                })
            }
            Some(_) => {}
        }
    }
    out.extend(
        old.iter()
            .filter(|o| !new.iter().any(|c| c.name == o.name))
            .map(|o| Drift::Dropped(o.name.clone())),
    );
    out
}

/// How the recorded schema keeps a mapped column that has gone from the source.
const ABSENT: &str = "(absent)";

/// The columns the channel recorded for `table` last time, absent ones included.
pub async fn recorded(
    store: &dyn MetaStore,
    channel: &str,
    table: &str,
) -> Result<Option<Vec<Column>>, IngestError> {
    Ok(store
        .source_schema(channel, table)
        .await?
        .map(|json| serde_json::from_str(&json).unwrap_or_default()))
}

/// The columns `mapped` reads that `columns` lacks but `recorded` had (present or absent).
pub fn absent_from(recorded: &[Column], columns: &[Column], mapped: &[String]) -> Vec<String> {
    mapped
        .iter()
        .filter(|m| !columns.iter().any(|c| &c.name == *m))
        .filter(|m| recorded.iter().any(|c| &c.name == *m))
        .cloned()
        .collect()
}

/// Compares `columns` with what the channel saw last in `table`, raises an alert when they
/// differ or a mapped column is absent, and remembers them. `mapped` are the columns the table's
/// mapping reads. Returns the absent mapped columns, whose fields are to be written empty.
pub async fn check(
    store: &dyn MetaStore,
    (channel, institution): (&str, &str),
    table: &str,
    columns: &[Column],
    mapped: &[String],
) -> Result<Vec<String>, IngestError> {
    let (drift, absent) = match recorded(store, channel, table).await? {
        Some(old) => {
            let present: Vec<Column> = old
                .iter()
                .filter(|c| c.declared_type != ABSENT)
                .cloned()
                .collect();
            (
                compare(&present, columns),
                absent_from(&old, columns, mapped),
            )
        }
        None => (Vec::new(), Vec::new()),
    };
    let mut kept = columns.to_vec();
    kept.extend(absent.iter().map(|name| Column {
        name: name.clone(),
        declared_type: ABSENT.into(),
    }));
    let json = serde_json::to_string(&kept).unwrap_or_default();
    if !drift.is_empty() || !absent.is_empty() {
        let mut changes: Vec<String> = drift
            .iter()
            .map(|d| {
                let mapped = mapped.iter().any(|m| m == d.column());
                format!("{}{}", d.describe(), if mapped { " (mapped)" } else { "" })
            })
            .collect();
        if !absent.is_empty() {
            let names: Vec<String> = absent.iter().map(|c| format!("`{c}`")).collect();
            changes.push(format!(
                "mapped {} no longer at the source, written empty until the mapping changes \
                 (rows updated meanwhile lose the old value in the std zone; a full run after \
                 the fix restores it)",
                names.join(", ")
            ));
        }
        tracing::warn!(channel, table, changes = %changes.join("; "), "source schema changed");
        store
            .raise_alert(&NewAlert {
                kind: "schema_drift".into(),
                channel: channel.to_owned(),
                institution: institution.to_owned(),
                subject: format!("table {table}"),
                message: format!("the source table's columns changed: {}", changes.join("; ")),
            })
            .await?;
    }
    store.save_source_schema(channel, table, &json).await?;
    Ok(absent)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn col(name: &str, t: &str) -> Column {
        Column {
            name: name.into(),
            declared_type: t.into(),
        }
    }

    #[test]
    fn added_dropped_and_retyped_columns_are_named() {
        let old = [
            col("jzid", "TEXT"),
            col("ksmc", "TEXT"),
            col("fy", "INTEGER"),
        ];
        let new = [col("jzid", "text"), col("fy", "REAL"), col("ysxm", "TEXT")];
        assert_eq!(
            compare(&old, &new),
            vec![
                Drift::Retyped {
                    column: "fy".into(),
                    from: "INTEGER".into(),
                    to: "REAL".into()
                },
                Drift::Added("ysxm".into()),
                Drift::Dropped("ksmc".into()),
            ]
        );
        assert!(compare(&old, &old).is_empty());
    }

    #[test]
    fn only_a_column_the_source_had_can_be_absent() {
        let recorded = [col("jzid", "TEXT"), col("zdmc", "TEXT")];
        let now = [col("jzid", "TEXT")];
        let mapped = ["jzid".to_owned(), "zdmc".to_owned(), "zdmx".to_owned()];
        // `zdmc` was dropped; `zdmx` is a misspelling the source never had.
        assert_eq!(absent_from(&recorded, &now, &mapped), ["zdmc"]);
        // Recorded as absent, it stays absent.
        let recorded = [col("jzid", "TEXT"), col("zdmc", ABSENT)];
        assert_eq!(absent_from(&recorded, &now, &mapped), ["zdmc"]);
    }
}
