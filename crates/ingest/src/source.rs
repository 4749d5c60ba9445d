//! Sources: the hospital systems collection reads from. Values arrive as text, as the source
//! spells them, so the raw zone keeps them as received and mapping decides what they mean.

pub mod sqlite;

use serde::{Deserialize, Serialize};

/// A source column: its name and the type the source declares.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Column {
    pub name: String,
    pub declared_type: String,
}

/// A cursor value as the source stores it, so the next read compares like with like.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(untagged)]
pub enum CursorValue {
    Int(i64),
    Real(f64),
    Text(String),
}

/// Where a read stopped: the last row's cursor value (`None` for a NULL cursor) and its
/// tie-breaker, so rows with equal cursor values are neither skipped nor read twice.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Position {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub cursor: Option<CursorValue>,
    pub tiebreak: i64,
}

impl Position {
    pub fn encode(&self) -> String {
        serde_json::to_string(self).unwrap_or_default()
    }

    pub fn decode(text: &str) -> Result<Self, String> {
        serde_json::from_str(text).map_err(|e| e.to_string())
    }
}

/// Rows read in one chunk, with the position of each (the last is where the next read starts).
#[derive(Debug, Clone, Default)]
pub struct Chunk {
    pub rows: Vec<Vec<Option<String>>>,
    pub positions: Vec<Position>,
    /// Bytes of text read, for run statistics.
    pub bytes: u64,
}

impl Chunk {
    pub fn len(&self) -> usize {
        self.rows.len()
    }

    pub fn is_empty(&self) -> bool {
        self.rows.is_empty()
    }

    pub fn last_position(&self) -> Option<&Position> {
        self.positions.last()
    }
}
