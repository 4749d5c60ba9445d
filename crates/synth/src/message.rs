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

    /// Appends rendered messages (see [`render_history`]) to a site's files.
    pub fn append(&mut self, site: usize, hl7: &[u8], fhir: &[u8]) -> Result<(), SynthError> {
        let (hl7_file, fhir_file) = &mut self.files[site];
        hl7_file.write_all(hl7)?;
        fhir_file.write_all(fhir)?;
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

/// Renders the messages of one person's history into per-site HL7 and FHIR buffers.
pub fn render_history(
    h: &History,
    sites: &[Site],
    out: &mut [(Vec<u8>, Vec<u8>)],
) -> Result<(), SynthError> {
    for enc in &h.encounters {
        let site = &sites[enc.site];
        let (hl7_buf, fhir_buf) = &mut out[enc.site];
        for message in hl7::encounter_messages(enc, site) {
            hl7_buf.extend_from_slice(&message);
            hl7_buf.push(b'\n');
        }
        serde_json::to_writer(&mut *fhir_buf, &fhir::encounter_bundle(enc, site))?;
        fhir_buf.push(b'\n');
    }
    for (site, row) in &h.updates {
        let hl7_buf = &mut out[*site].0;
        hl7_buf.extend_from_slice(&hl7::patient_update(row, &sites[*site]));
        hl7_buf.push(b'\n');
    }
    Ok(())
}
