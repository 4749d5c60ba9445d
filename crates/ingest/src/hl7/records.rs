//! From messages to standard records: which segment of which message gives a record of which
//! dataset, and the field mapping that reads it (the same [`TableMapping`] as a table's, with
//! field paths for columns). The built-in mappings are in `mappings.toml`; a channel may replace
//! them with its own file.

use crate::{
    IngestError,
    mapping::{CompiledMapping, Condition, TableMapping},
};
use hdos_core::standard::Standard;
use hdos_hl7::{FieldPath, Message};
use serde::{Deserialize, Serialize};

/// The HL7 v2.5 mappings hdos ships with, as TOML a manager can copy and edit.
pub const BUILTIN_MAPPINGS: &str = include_str!("mappings.toml");

/// A channel's message mappings, as written in TOML.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct MessageMappings {
    pub records: Vec<RecordMapping>,
}

/// One kind of record: the messages (`ADT^A04`) and the segment it comes from, an optional
/// condition on the message, and the field mapping. `mapping.source_table` names the record.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct RecordMapping {
    pub messages: Vec<String>,
    pub anchor: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub when: Option<String>,
    /// The message cancels the record (ADT^A11): only its key is mapped, and the std row of
    /// that key is deleted.
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub delete: bool,
    pub mapping: TableMapping,
}

impl MessageMappings {
    /// The HL7 v2.5 mappings hdos ships with.
    pub fn builtin() -> Result<Self, IngestError> {
        Self::from_toml(BUILTIN_MAPPINGS)
    }

    pub fn from_toml(text: &str) -> Result<Self, IngestError> {
        toml::from_str(text).map_err(|e| IngestError::InvalidMapping {
            table: "HL7".into(),
            reason: e.to_string(),
        })
    }
}

/// A record mapping checked against the standard, ready to read messages.
#[derive(Debug, Clone)]
pub struct CompiledRecord {
    pub name: String,
    messages: Vec<String>,
    anchor: String,
    paths: Vec<FieldPath>,
    columns: Vec<String>,
    when: Option<Condition>,
    pub delete: bool,
    pub mapping: CompiledMapping,
}

impl CompiledRecord {
    pub fn new(record: &RecordMapping, standard: &Standard) -> Result<Self, IngestError> {
        let m = &record.mapping;
        let invalid = |reason: String| IngestError::InvalidMapping {
            table: m.source_table.clone(),
            reason,
        };
        let (columns, when) = m.columns_read(record.when.as_deref())?;
        let paths = columns
            .iter()
            .map(|c| FieldPath::parse(c).map_err(&invalid))
            .collect::<Result<Vec<_>, _>>()?;
        let dataset = standard
            .dataset(&m.dataset)
            .ok_or_else(|| IngestError::UnknownDataset(m.dataset.clone()))?;
        Ok(Self {
            name: m.source_table.clone(),
            messages: record.messages.clone(),
            anchor: record.anchor.clone(),
            mapping: CompiledMapping::new(m, dataset, &columns)?,
            paths,
            columns,
            when,
            delete: record.delete,
        })
    }

    /// The field paths each row holds, in order: the "columns" of this record's rows.
    pub fn columns(&self) -> &[String] {
        &self.columns
    }

    /// Whether messages of `kind` (`ADT^A04`) give this record.
    pub fn applies_to(&self, kind: &str) -> bool {
        self.messages.iter().any(|m| m == kind)
    }

    /// Whether any message of `message_type` (`ADT`) gives this record.
    pub fn reads_type(&self, message_type: &str) -> bool {
        self.messages
            .iter()
            .any(|m| m.split('^').next() == Some(message_type))
    }

    /// One row per anchor segment in `message` that meets the condition, values in
    /// [`Self::columns`] order.
    pub fn rows(&self, message: &Message) -> Vec<Vec<Option<String>>> {
        let segments = message.segments();
        let mut out = Vec::new();
        for (at, anchor) in segments.iter().enumerate() {
            if anchor.name() != self.anchor {
                continue;
            }
            let row: Vec<Option<String>> = self
                .paths
                .iter()
                .map(|p| {
                    let segment = if p.segment == self.anchor {
                        Some(anchor)
                    } else {
                        segments[..at]
                            .iter()
                            .rev()
                            .chain(&segments[at + 1..])
                            .find(|s| s.name() == p.segment)
                    };
                    segment.and_then(|s| p.read(message, s))
                })
                .collect();
            if self.when.as_ref().is_none_or(|w| w.holds(&row)) {
                out.push(row);
            }
        }
        out
    }
}

/// All of a channel's records, compiled.
pub fn compile(
    mappings: &MessageMappings,
    standard: &Standard,
) -> Result<Vec<CompiledRecord>, IngestError> {
    crate::mapping::distinct_names(mappings.records.iter().map(|r| &r.mapping))?;
    mappings
        .records
        .iter()
        .map(|r| CompiledRecord::new(r, standard))
        .collect()
}
