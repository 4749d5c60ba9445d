//! hdos-ingest's integration tests, one binary: every channel against a real Delta lake and a
//! real metadata store (PostgreSQL tests run when HDOS_TEST_POSTGRES_URL is set).

mod batch;
mod cdc;
mod common;
mod fhir;
mod files;
mod mllp;
mod monitor;
mod postgres;
mod worker;
