//! `hdos`: the command line of the regional health-data open-sharing platform.

mod cli;
mod commands;
mod config;
mod webhook;
mod wiring;

use clap::Parser;

/// mimalloc rather than the system allocator: generation and query paths allocate many small
/// strings across threads, where glibc's allocator spent about a third of the CPU time.
#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;

#[tokio::main]
async fn main() -> std::process::ExitCode {
    let args = cli::Cli::parse();
    match commands::run(args).await {
        Ok(code) => code,
        Err(e) => {
            eprintln!("error: {e:#}");
            std::process::ExitCode::FAILURE
        }
    }
}
