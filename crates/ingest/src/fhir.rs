//! The FHIR R4 channel: resources posted over HTTP (transaction and batch Bundles, single
//! creates and updates) are assessed, written to the institution's journal, and only then
//! answered; the same lander as HL7's moves the journal into the lake. The HTTP routes are the
//! server's, behind its authorisation guard: an institution's interface account posts to its
//! own channel.

mod intake;
mod path;
mod records;
mod response;

pub use intake::{Assessed, BundleKind, Entry, FhirIntake, Interaction, Method};
pub use path::FhirPath;
pub use records::{BUILTIN_MAPPINGS, CompiledResource, ResourceMappings, ResourceRecord};
pub use response::{FhirResponse, failure, respond};

use crate::{
    IngestError,
    hl7::{AckCode, AckError, MappedRecords},
    inbox::{Lander, Reader, Received, Target, land_loop},
    journal::Journal,
};
use hdos_lake::Lake;
use hdos_store::{MetaStore, RunCounts};
use std::{collections::HashMap, path::PathBuf, sync::Arc, time::Duration};
use tokio::{
    sync::{Mutex, watch},
    task::JoinHandle,
};

/// The `source_table` of a channel's resources in checkpoints, runs and quarantine.
pub const RESOURCES: &str = "resources";

impl Reader for FhirIntake {
    fn institution(&self) -> &str {
        &self.institution
    }

    fn targets(&self) -> Vec<Target<'_>> {
        self.records
            .iter()
            .map(|r| Target {
                name: &r.name,
                columns: r.columns(),
                mapping: &r.mapping,
                delete: false,
            })
            .collect()
    }

    fn remap(&self, bytes: &[u8]) -> Result<MappedRecords, Vec<AckError>> {
        let resource = serde_json::from_slice(bytes).map_err(|e| {
            vec![AckError {
                condition: crate::hl7::ErrorCondition::SegmentSequence,
                location: String::new(),
                text: format!("the stored resource is not JSON: {e}"),
            }]
        })?;
        self.map(&resource)
    }

    fn text(&self, _bytes: &[u8]) -> Option<String> {
        None
    }
}

/// The channel name of an institution's FHIR resources.
pub fn channel_name(institution: &str) -> String {
    format!("fhir-{institution}")
}

/// One institution's running channel.
#[derive(Debug)]
pub struct FhirChannel {
    intake: Arc<FhirIntake>,
    journal: Journal,
    stop: watch::Sender<bool>,
    lander: Mutex<Option<JoinHandle<Result<RunCounts, IngestError>>>>,
    landed: watch::Receiver<u64>,
    durable: watch::Receiver<u64>,
}

impl FhirChannel {
    /// Recovers the journal and the lake, and starts the lander.
    pub async fn start(
        store: Arc<dyn MetaStore>,
        lake: Lake,
        intake: FhirIntake,
        journal_dir: PathBuf,
        linger: Duration,
    ) -> Result<Self, IngestError> {
        let channel = channel_name(&intake.institution);
        let intake = Arc::new(intake);
        let journal = Journal::open(&journal_dir)?;
        let lander = Lander::new(
            lake,
            store.clone(),
            intake.clone(),
            &channel,
            RESOURCES,
            journal_dir,
        )?;
        lander.prepare().await?;
        let (checkpoint, replay_until) = lander.resume_points().await?;
        let run = store
            .start_ingest_run(&channel, RESOURCES, &intake.institution, "stream")
            .await?;
        let durable = journal.durable();
        let (stop, stopped) = watch::channel(false);
        let (landed_tx, landed) = watch::channel(checkpoint);
        let handle = tokio::spawn(land_loop(
            lander,
            run.id,
            checkpoint,
            replay_until,
            durable.clone(),
            landed_tx,
            stopped,
            linger,
        ));
        Ok(Self {
            intake,
            journal,
            stop,
            lander: Mutex::new(Some(handle)),
            landed,
            durable,
        })
    }

    /// Assesses a request, stores every entry (refused ones for quarantine), then answers.
    pub async fn receive(
        &self,
        interaction: &Interaction,
        body: &[u8],
        peer: &str,
    ) -> FhirResponse {
        let now = chrono::Utc::now();
        let stamp = now.to_rfc3339_opts(chrono::SecondsFormat::Secs, true);
        let assessed = self.intake.assess(interaction, body, &stamp);
        let at = now.timestamp_micros();
        let appends = assessed.entries.iter().map(|e| {
            let record = Received {
                at,
                peer: peer.to_owned(),
                ack: Some(match (e.accepted(), e.malformed) {
                    (true, _) => AckCode::AA,
                    (false, true) => AckCode::AR,
                    (false, false) => AckCode::AE,
                }),
                kind: e.resource_type.clone(),
                control_id: match &e.id {
                    Some(id) => format!("{}/{id}", e.resource_type),
                    None => String::new(),
                },
                facility: self.intake.institution.clone(),
                errors: e.errors.clone(),
            };
            self.journal.append(record.encode(&e.stored))
        });
        for stored in futures::future::join_all(appends).await {
            if let Err(e) = stored {
                tracing::error!(error = %e, "could not store FHIR resources; refused them");
                return failure(
                    500,
                    "exception",
                    "the resources could not be stored; send them again later",
                );
            }
        }
        respond(&assessed)
    }

    /// Waits until everything answered so far is in the lake.
    pub async fn caught_up(&self) {
        let target = *self.durable.borrow();
        let mut landed = self.landed.clone();
        let _ = landed.wait_for(|l| *l >= target).await;
    }

    /// Lands what the journal holds and ends the channel's run.
    pub async fn stop(&self) -> Result<RunCounts, IngestError> {
        self.stop.send_replace(true);
        let Some(handle) = self.lander.lock().await.take() else {
            return Ok(RunCounts::default());
        };
        handle.await.map_err(|e| IngestError::Journal {
            path: self.journal.dir().display().to_string(),
            reason: e.to_string(),
        })?
    }
}

/// Every institution's FHIR channel, started on its first request.
#[derive(Debug)]
pub struct FhirHub {
    store: Arc<dyn MetaStore>,
    lake: Lake,
    records: Vec<CompiledResource>,
    journal_root: PathBuf,
    linger: Duration,
    channels: Mutex<HashMap<String, Arc<FhirChannel>>>,
}

impl FhirHub {
    /// `journal_root` holds one journal directory per channel.
    pub fn new(
        store: Arc<dyn MetaStore>,
        lake: Lake,
        standard: &hdos_core::standard::Standard,
        mappings: &ResourceMappings,
        journal_root: PathBuf,
    ) -> Result<Self, IngestError> {
        Ok(Self {
            store,
            lake,
            records: mappings.compile(standard)?,
            journal_root,
            linger: Duration::from_millis(200),
            channels: Mutex::default(),
        })
    }

    /// The resource types the channels take.
    pub fn resource_types(&self) -> Vec<String> {
        records::resource_types(&self.records)
            .into_iter()
            .map(str::to_owned)
            .collect()
    }

    /// The institution's channel, started when it is not running.
    pub async fn channel(&self, institution: &str) -> Result<Arc<FhirChannel>, IngestError> {
        let mut channels = self.channels.lock().await;
        if let Some(c) = channels.get(institution) {
            return Ok(c.clone());
        }
        let dir = self
            .journal_root
            .join(crate::land::slug(&channel_name(institution)));
        let channel = Arc::new(
            FhirChannel::start(
                self.store.clone(),
                self.lake.clone(),
                FhirIntake::new(institution, self.records.clone()),
                dir,
                self.linger,
            )
            .await?,
        );
        channels.insert(institution.to_owned(), channel.clone());
        Ok(channel)
    }

    /// Stops every channel, landing what their journals hold.
    pub async fn stop(&self) {
        let channels: Vec<_> = self.channels.lock().await.drain().collect();
        for (institution, c) in channels {
            if let Err(e) = c.stop().await {
                tracing::error!(%institution, error = %e, "FHIR channel stopped with an error");
            }
        }
    }
}
