//! hdos-server through its router: real SQLite store, real Delta lake directory, real HTTP
//! semantics via `oneshot` (and a real socket and browser in `browser`).

mod auth_flows;
mod browser;
mod common;
mod fhir;
mod matrix;
mod pages;
mod quality;
mod upload;
