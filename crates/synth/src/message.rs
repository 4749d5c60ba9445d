//! Message-based feeds for the same events the HIS databases hold: HL7 v2.5 (one file per
//! institution, segments ending in `\r`, each message followed by `\n`) and FHIR R4 transaction
//! bundles (one JSON bundle per line per institution). Messages follow each person's history,
//! so a file is ordered by person, then time; message ids make re-delivery detectable.

pub mod fhir;
pub mod hl7;

use crate::{SynthError, history::History, history::Site};
use std::{
    fs::File,
    io::{BufWriter, Write},
    path::{Path, PathBuf},
};

/// Writes the HL7 and FHIR files of every site.
#[derive(Debug)]
pub struct MessageWriter {
    files: Vec<(BufWriter<File>, BufWriter<File>)>,
    paths: Vec<(PathBuf, PathBuf)>,
}

impl MessageWriter {
    pub fn create(out: &Path, sites: &[Site]) -> Result<Self, SynthError> {
        std::fs::create_dir_all(out.join("hl7"))?;
        std::fs::create_dir_all(out.join("fhir"))?;
        let mut files = Vec::new();
        let mut paths = Vec::new();
        for s in sites {
            let hl7 = out.join("hl7").join(format!("{}.hl7", s.institution.code));
            let fhir = out
                .join("fhir")
                .join(format!("{}.ndjson", s.institution.code));
            let partial = |p: &PathBuf| p.with_extension("partial");
            files.push((
                BufWriter::new(File::create(partial(&hl7))?),
                BufWriter::new(File::create(partial(&fhir))?),
            ));
            paths.push((hl7, fhir));
        }
        Ok(Self { files, paths })
    }

    /// Writes the messages of one person's history.
    pub fn history(&mut self, h: &History, sites: &[Site]) -> Result<(), SynthError> {
        for enc in &h.encounters {
            let site = &sites[enc.site];
            let (hl7_file, fhir_file) = &mut self.files[enc.site];
            for message in hl7::encounter_messages(enc, site) {
                hl7_file.write_all(&message)?;
                hl7_file.write_all(b"\n")?;
            }
            serde_json::to_writer(&mut *fhir_file, &fhir::encounter_bundle(enc, site))?;
            fhir_file.write_all(b"\n")?;
        }
        for (site, row) in &h.updates {
            let hl7_file = &mut self.files[*site].0;
            hl7_file.write_all(&hl7::patient_update(row, &sites[*site]))?;
            hl7_file.write_all(b"\n")?;
        }
        Ok(())
    }

    /// Flushes and moves the files into place.
    pub fn finish(self) -> Result<(), SynthError> {
        for ((hl7, fhir), (hl7_path, fhir_path)) in self.files.into_iter().zip(self.paths) {
            for (w, path) in [(hl7, hl7_path), (fhir, fhir_path)] {
                w.into_inner().map_err(|e| e.into_error())?.sync_all()?;
                std::fs::rename(path.with_extension("partial"), &path)?;
            }
        }
        Ok(())
    }
}
