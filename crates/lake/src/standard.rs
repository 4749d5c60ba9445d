//! How the standard's datasets are stored in the std zone: one Delta column per field, typed by
//! the field's type, then the columns collection adds to every row.

use deltalake::arrow::datatypes::{DataType, Field, Schema, TimeUnit};
use hdos_core::standard::{Dataset, FieldType};

/// The UTC timestamps of the lake.
pub fn utc() -> DataType {
    DataType::Timestamp(TimeUnit::Microsecond, Some("UTC".into()))
}

/// The column type of a standard field.
pub fn column_type(t: FieldType) -> DataType {
    match t {
        FieldType::Str { .. } | FieldType::Code => DataType::Utf8,
        FieldType::Int => DataType::Int64,
        FieldType::Dec { precision, scale } => DataType::Decimal128(precision, scale as i8),
        FieldType::Date => DataType::Date32,
        FieldType::Timestamp => utc(),
        FieldType::Bool => DataType::Boolean,
    }
}

/// The columns collection stamps on every std row: who sent it, through which channel, its
/// event time and when it landed.
pub fn provenance_columns() -> [Field; 4] {
    [
        Field::new("_hdos_institution", DataType::Utf8, false),
        Field::new("_hdos_source", DataType::Utf8, false),
        Field::new("_hdos_event_time", utc(), true),
        Field::new("_hdos_ingested_at", utc(), false),
    ]
}

/// The schema of `std/<dataset>`.
pub fn std_schema(dataset: &Dataset) -> Schema {
    let mut fields: Vec<Field> = dataset
        .fields
        .iter()
        .map(|f| Field::new(&f.name, column_type(f.field_type), true))
        .collect();
    fields.extend(provenance_columns());
    Schema::new(fields)
}
