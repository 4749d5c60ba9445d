//! hdos-quality's integration tests, one binary: quality runs over a real Delta lake filled by
//! real collection from a synthetic region, with a real metadata store (SQLite, and PostgreSQL
//! when HDOS_TEST_POSTGRES_URL is set).

mod bad_input;
mod common;
mod hard;
mod manifest;
mod notify;
mod runs;
mod tickets;
