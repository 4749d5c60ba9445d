//! `hdos standard show`: the regional standard in force, optionally extended by a file.

use anyhow::{Context, Result};
use hdos_core::{classification::IdentifierRole, standard::Standard};
use std::{path::Path, process::ExitCode};

pub fn show(extension: Option<&Path>) -> Result<ExitCode> {
    let mut standard = Standard::builtin()
        .context("the built-in standard does not load")?
        .clone();
    if let Some(path) = extension {
        let text =
            std::fs::read_to_string(path).with_context(|| format!("reading {}", path.display()))?;
        standard
            .extend_from_toml_str(&text)
            .with_context(|| format!("extending the standard with {}", path.display()))?;
    }
    println!("standard {}", standard.version());
    println!(
        "{:<20} {:<12} {:<22} {:>6} {:>6} {:>6}",
        "dataset", "name", "category", "fields", "direct", "level"
    );
    for d in standard.datasets() {
        println!(
            "{:<20} {:<12} {:<22} {:>6} {:>6} {:>6}",
            d.name,
            d.name_zh,
            d.category.code(),
            d.fields.len(),
            d.fields_with_role(IdentifierRole::Direct).count(),
            d.level().get()
        );
    }
    Ok(ExitCode::SUCCESS)
}
