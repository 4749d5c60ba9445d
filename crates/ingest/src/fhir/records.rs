//! From resources to standard records: which resource type gives a record of which dataset,
//! under which condition, and the field mapping that reads it (a [`TableMapping`] whose columns
//! are FHIRPath expressions). The built-in mappings are in `mappings.toml`; a channel may
//! replace them with its own file.

use super::path::FhirPath;
use crate::{
    IngestError,
    mapping::{CompiledMapping, Condition, TableMapping},
};
use hdos_core::standard::Standard;
use serde::{Deserialize, Serialize};
use serde_json::Value;

/// The FHIR R4 mappings hdos ships with, as TOML a manager can copy and edit.
pub const BUILTIN_MAPPINGS: &str = include_str!("mappings.toml");

/// A channel's resource mappings, as written in TOML.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ResourceMappings {
    pub records: Vec<ResourceRecord>,
}

/// One kind of record: the resource type it comes from, an optional condition on the resource,
/// and the field mapping. `mapping.source_table` names the record.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ResourceRecord {
    pub resource: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub when: Option<String>,
    pub mapping: TableMapping,
}

impl ResourceMappings {
    pub fn builtin() -> Result<Self, IngestError> {
        Self::from_toml(BUILTIN_MAPPINGS)
    }

    pub fn from_toml(text: &str) -> Result<Self, IngestError> {
        toml::from_str(text).map_err(|e| IngestError::InvalidMapping {
            table: "FHIR".into(),
            reason: e.to_string(),
        })
    }

    /// Checks every record against the standard.
    pub fn compile(&self, standard: &Standard) -> Result<Vec<CompiledResource>, IngestError> {
        crate::mapping::distinct_names(self.records.iter().map(|r| &r.mapping))?;
        self.records
            .iter()
            .map(|r| CompiledResource::new(r, standard))
            .collect()
    }
}

/// The resource types `records` read, each once, in the order first listed.
pub fn resource_types(records: &[CompiledResource]) -> Vec<&str> {
    let mut types: Vec<&str> = Vec::new();
    for r in records {
        if !types.contains(&r.resource.as_str()) {
            types.push(&r.resource);
        }
    }
    types
}

/// A record mapping checked against the standard, ready to read resources.
#[derive(Debug, Clone)]
pub struct CompiledResource {
    pub name: String,
    pub resource: String,
    paths: Vec<FhirPath>,
    columns: Vec<String>,
    when: Option<Condition>,
    pub mapping: CompiledMapping,
}

impl CompiledResource {
    fn new(record: &ResourceRecord, standard: &Standard) -> Result<Self, IngestError> {
        let m = &record.mapping;
        let (columns, when) = m.columns_read(record.when.as_deref())?;
        let paths = columns
            .iter()
            .map(|c| {
                FhirPath::parse(c).map_err(|reason| IngestError::InvalidMapping {
                    table: m.source_table.clone(),
                    reason,
                })
            })
            .collect::<Result<Vec<_>, _>>()?;
        let dataset = standard
            .dataset(&m.dataset)
            .ok_or_else(|| IngestError::UnknownDataset(m.dataset.clone()))?;
        Ok(Self {
            name: m.source_table.clone(),
            resource: record.resource.clone(),
            mapping: CompiledMapping::new(m, dataset, &columns)?,
            paths,
            columns,
            when,
        })
    }

    /// The FHIRPath expressions each row holds, in order.
    pub fn columns(&self) -> &[String] {
        &self.columns
    }

    /// The resource's row, when the record applies to it.
    pub fn row(&self, resource: &Value) -> Option<Vec<Option<String>>> {
        let row: Vec<Option<String>> = self.paths.iter().map(|p| p.read(resource)).collect();
        self.when
            .as_ref()
            .is_none_or(|w| w.holds(&row))
            .then_some(row)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn two_records_of_one_name_are_refused() {
        let standard = Standard::builtin().unwrap();
        let mut mappings = ResourceMappings::builtin().unwrap();
        mappings.records.push(mappings.records[0].clone());
        let e = mappings.compile(standard).unwrap_err();
        assert!(e.to_string().contains("two records have this name"), "{e}");
    }

    #[test]
    fn the_builtin_mappings_compile_against_the_standard() {
        let standard = Standard::builtin().unwrap();
        let records = ResourceMappings::builtin()
            .unwrap()
            .compile(standard)
            .unwrap();
        let types: Vec<&str> = records.iter().map(|r| r.resource.as_str()).collect();
        for t in [
            "Patient",
            "Encounter",
            "Condition",
            "Observation",
            "MedicationRequest",
        ] {
            assert!(types.contains(&t), "{t}");
        }
    }
}
