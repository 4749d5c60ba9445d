use crate::{config::ServerConfig, metrics::Metrics};
use hdos_ingest::fhir::FhirHub;
use hdos_lake::Lake;
use hdos_store::{MasterKey, MetaStore, NewAuditEntry, Outcome};
use std::sync::Arc;

/// Shared handles of the server; cheap to clone.
#[derive(Debug, Clone)]
pub struct AppState {
    pub store: Arc<dyn MetaStore>,
    pub lake: Arc<Lake>,
    pub config: Arc<ServerConfig>,
    pub metrics: Arc<Metrics>,
    /// The institutions' FHIR channels; without them the FHIR endpoints answer 503.
    pub fhir: Option<Arc<FhirHub>>,
    /// Unseals stored connections' passwords (the mapping page reads sources); without it,
    /// sources behind a password cannot be previewed.
    pub master_key: Option<MasterKey>,
    /// Where ticket changes of the runs started from the pages are told besides the app.
    pub notify: hdos_quality::notify::NotifyConfig,
}

impl AppState {
    pub fn new(store: Arc<dyn MetaStore>, lake: Arc<Lake>, config: ServerConfig) -> Self {
        Self {
            store,
            lake,
            config: Arc::new(config),
            metrics: Arc::new(Metrics::new()),
            fhir: None,
            master_key: None,
            notify: Default::default(),
        }
    }

    pub fn with_master_key(mut self, key: MasterKey) -> Self {
        self.master_key = Some(key);
        self
    }

    pub fn with_notify(mut self, notify: hdos_quality::notify::NotifyConfig) -> Self {
        self.notify = notify;
        self
    }

    /// Serves FHIR collection through `hub`.
    pub fn with_fhir(mut self, hub: Arc<FhirHub>) -> Self {
        self.fhir = Some(hub);
        self
    }

    /// Records an action in the audit log. A failure to audit is logged loudly; the action's
    /// own outcome has already happened and is not undone.
    pub async fn audit(&self, entry: NewAuditEntry) {
        let action = entry.action.clone();
        match self.store.append_audit(entry).await {
            Ok(_) => self.metrics.audit_entries.inc(),
            Err(e) => tracing::error!(action, error = %e, "audit append failed"),
        }
    }

    /// Shorthand for an entry without detail.
    pub async fn audit_simple(
        &self,
        actor: &crate::auth::Actor,
        action: &str,
        target: impl Into<String>,
        outcome: Outcome,
    ) {
        self.audit(actor.entry(action, target, outcome, serde_json::json!({})))
            .await;
    }
}
