//! hdos-ingest's integration tests, one binary: every channel against a real Delta lake and a
//! real metadata store (PostgreSQL and MariaDB tests run when HDOS_TEST_POSTGRES_URL and
//! HDOS_TEST_MYSQL_URL are set).

mod batch;
mod cdc;
mod common;
mod fhir;
mod files;
mod mllp;
mod monitor;
mod mysql;
mod postgres;
mod worker;
