//! `POST /integration/collection/upload`: data files sent from the browser into a folder
//! channel's folder, where the channel collects them as it collects any file dropped there
//! (CSV in UTF-8/GBK/GB 18030, JSON lines, Parquet). A file is streamed to a hidden `.part` name,
//! synced, then renamed, so the channel never reads half a file; then a run is requested. A
//! provider uploads only to its own institution's channels. Every upload is audited.
//!
//! The form sends `_csrf` first (the guard reads only that part), then `channel`, then files.

use crate::{
    auth::Principal,
    error::{ApiError, PageError},
    state::AppState,
    ui::{PageCtx, admin::see_other, collection},
};
use axum::{
    extract::{Multipart, State, multipart::Field},
    response::{IntoResponse, Response},
};
use hdos_core::ErrorKind;
use hdos_ingest::{channel::ChannelSpec, source::file::FileFormat};
use hdos_store::{Outcome, now_millis};
use std::{
    path::{Path, PathBuf},
    time::Duration,
};
use tokio::io::AsyncWriteExt;

pub const PATH: &str = "/integration/collection/upload";

/// Longest file name taken, in bytes: the folder channel prefixes a time when it files a
/// collected file away, and names stay within the 255 bytes file systems allow.
const NAME_MAX_BYTES: usize = 200;
/// Longest channel name read from the form.
const CHANNEL_MAX_BYTES: usize = 256;
/// A sender that sends nothing for this long has gone: its upload is dropped.
const IDLE: Duration = Duration::from_secs(60);

/// A file as uploaded: its name in the folder, its path and its size.
struct Stored {
    name: String,
    path: PathBuf,
    bytes: u64,
}

/// A `.part` file being written: removed when dropped unless it was put in place, so a failed,
/// refused or abandoned upload leaves nothing behind.
struct Part(PathBuf);

impl Drop for Part {
    fn drop(&mut self) {
        let _ = std::fs::remove_file(&self.0);
    }
}

pub async fn upload(
    State(app): State<AppState>,
    p: Principal,
    ctx: PageCtx,
    multipart: Multipart,
) -> Response {
    let mut channel = None;
    let result = receive(&app, &p, multipart, &mut channel).await;
    let target = channel.clone().unwrap_or_default();
    let (outcome, details) = match &result {
        Ok(files) => (
            Outcome::Success,
            serde_json::json!({
                "files": files.iter().map(|f| serde_json::json!({"name": f.name, "bytes": f.bytes})).collect::<Vec<_>>(),
            }),
        ),
        Err(e) => (Outcome::Failure, serde_json::json!({ "error": e.message })),
    };
    app.audit(
        p.actor()
            .entry("collection.upload", &target, outcome, details),
    )
    .await;
    match result {
        Ok(files) => {
            let names: Vec<&str> = files.iter().map(|f| f.name.as_str()).collect();
            let bytes: u64 = files.iter().map(|f| f.bytes).sum();
            let query = url::form_urlencoded::Serializer::new(String::new())
                .append_pair("uploaded", &names.join(", "))
                .append_pair("bytes", &bytes.to_string())
                .append_pair("into", &target)
                .finish();
            see_other(&format!("{}?{query}", collection::PATH))
        }
        Err(e) => PageError::new(ctx.t, e).into_response(),
    }
}

/// A form that could not be read: too large (the upload limit), or malformed.
fn unreadable_form(e: axum::extract::multipart::MultipartError) -> ApiError {
    if e.status() == axum::http::StatusCode::PAYLOAD_TOO_LARGE || crate::layers::over_limit(&e) {
        return ApiError::new(ErrorKind::TooLarge, e.body_text())
            .localized("upload.too_large", vec![]);
    }
    ApiError::new(ErrorKind::InvalidInput, e.body_text())
}

/// An error with its message in English (logs, audit) and as a translation key for the page.
fn error(
    kind: ErrorKind,
    message: String,
    key: &'static str,
    args: Vec<(&'static str, String)>,
) -> ApiError {
    ApiError::new(kind, message).localized(key, args)
}

/// Reads the form: the channel, then each file into the channel's folder.
async fn receive(
    app: &AppState,
    p: &Principal,
    mut form: Multipart,
    channel: &mut Option<String>,
) -> Result<Vec<Stored>, ApiError> {
    let mut stored = Vec::new();
    let received = receive_files(app, p, &mut form, channel, &mut stored).await;
    let requested = match (&received, channel.as_deref(), stored.is_empty()) {
        (Ok(()), Some(name), false) => app.store.request_channel_run(name, now_millis()).await,
        (Ok(()), _, _) => {
            return Err(error(
                ErrorKind::InvalidInput,
                "choose a folder channel and at least one file".into(),
                "upload.no_channel",
                vec![],
            ));
        }
        (Err(_), _, _) => Ok(()),
    };
    // All or nothing: a request that fails takes back the files it already put in place (unless
    // a run has collected them meanwhile, which is as good).
    if let Err(e) = received.and(requested.map_err(ApiError::from)) {
        for f in &stored {
            let _ = tokio::fs::remove_file(&f.path).await;
        }
        return Err(e);
    }
    Ok(stored)
}

async fn receive_files(
    app: &AppState,
    p: &Principal,
    form: &mut Multipart,
    channel: &mut Option<String>,
    stored: &mut Vec<Stored>,
) -> Result<(), ApiError> {
    let mut folder: Option<PathBuf> = None;
    while let Some(mut field) = next(form.next_field()).await? {
        match field.name().unwrap_or_default() {
            "channel" => {
                let mut name = Vec::new();
                while let Some(chunk) = next(field.chunk()).await? {
                    name.extend_from_slice(&chunk);
                    if name.len() > CHANNEL_MAX_BYTES {
                        return Err(invalid("the channel name is too long"));
                    }
                }
                let name = String::from_utf8_lossy(&name).into_owned();
                *channel = Some(name.clone());
                folder = Some(folder_of(app, p, &name).await?);
            }
            "file" => {
                let Some(dir) = &folder else {
                    return Err(error(
                        ErrorKind::InvalidInput,
                        "choose the channel before the file".into(),
                        "upload.no_channel",
                        vec![],
                    ));
                };
                // A browser sends an empty part when no file was chosen.
                if field.file_name().is_none_or(str::is_empty) {
                    continue;
                }
                stored.push(store_file(dir, field).await?);
            }
            _ => {}
        }
    }
    Ok(())
}

/// The next piece of the form, or an error when the sender has been silent for [`IDLE`].
async fn next<T>(
    piece: impl std::future::Future<Output = Result<T, axum::extract::multipart::MultipartError>>,
) -> Result<T, ApiError> {
    match tokio::time::timeout(IDLE, piece).await {
        Ok(read) => read.map_err(unreadable_form),
        Err(_) => Err(error(
            ErrorKind::InvalidInput,
            format!("nothing arrived for {} s", IDLE.as_secs()),
            "upload.stalled",
            vec![("seconds", IDLE.as_secs().to_string())],
        )),
    }
}

fn invalid(message: &str) -> ApiError {
    ApiError::new(ErrorKind::InvalidInput, message)
}

/// The folder of a folder channel `p` may upload to.
async fn folder_of(app: &AppState, p: &Principal, name: &str) -> Result<PathBuf, ApiError> {
    let args = || vec![("name", name.to_owned())];
    let c = app.store.channel(name).await?.ok_or_else(|| {
        error(
            ErrorKind::NotFound,
            format!("no channel is named `{name}`"),
            "upload.no_such_channel",
            args(),
        )
    })?;
    let scope = super::institution_scope(app, p, collection::PATH).await?;
    if scope.as_ref().is_some_and(|code| *code != c.institution) {
        return Err(error(
            ErrorKind::Forbidden,
            format!("channel `{name}` belongs to another institution"),
            "upload.other_institution",
            args(),
        ));
    }
    match ChannelSpec::of(&c)? {
        ChannelSpec::Folder { path, .. } if path.is_dir() => Ok(path),
        ChannelSpec::Folder { path, .. } => Err(error(
            ErrorKind::Unavailable,
            format!(
                "the folder of channel `{name}` ({}) is missing",
                path.display()
            ),
            "upload.folder_missing",
            args(),
        )),
        _ => Err(error(
            ErrorKind::InvalidInput,
            format!("channel `{name}` does not collect files; choose a folder channel"),
            "upload.not_folder",
            args(),
        )),
    }
}

/// The file's own name, without any folder a browser may send, if it is one collection reads.
fn file_name(sent: &str) -> Result<String, ApiError> {
    let name = sent
        .rsplit(['/', '\\'])
        .next()
        .unwrap_or_default()
        .trim()
        .to_owned();
    let unreadable = |message: String| {
        error(
            ErrorKind::InvalidInput,
            message,
            "upload.bad_name",
            vec![("name", sent.to_owned())],
        )
    };
    if name.is_empty()
        || name.starts_with('.')
        || name.ends_with(".part")
        || name.len() > NAME_MAX_BYTES
    {
        return Err(unreadable(format!("`{sent}` is not a usable file name")));
    }
    if FileFormat::of(Path::new(&name)).is_none() {
        return Err(unreadable(format!(
            "`{name}` is not a .csv, .txt, .jsonl, .ndjson or .parquet file"
        )));
    }
    Ok(name)
}

/// Streams one file to a hidden `.part` name, syncs it, and links it into place under its own
/// name — a link, unlike a rename, fails when that name exists, so a file still waiting (or one
/// another upload put there meanwhile) is never replaced.
async fn store_file(dir: &Path, mut field: Field<'_>) -> Result<Stored, ApiError> {
    let name = file_name(field.file_name().unwrap_or_default())?;
    let target = dir.join(&name);
    let waiting = || {
        error(
            ErrorKind::Conflict,
            format!(
                "`{name}` is already waiting to be collected; upload it again once it has been"
            ),
            "upload.waiting",
            vec![("name", name.clone())],
        )
    };
    if tokio::fs::try_exists(&target).await.unwrap_or(true) {
        return Err(waiting());
    }
    let incomplete = |e: std::io::Error| {
        error(
            ErrorKind::InvalidInput,
            format!("`{name}` did not arrive whole: {e}"),
            "upload.incomplete",
            vec![("name", name.clone())],
        )
    };
    let part = Part(dir.join(format!(".{}.part", uuid::Uuid::new_v4())));
    let mut file = tokio::fs::File::create(&part.0).await.map_err(incomplete)?;
    let mut bytes = 0u64;
    while let Some(chunk) = next(field.chunk()).await? {
        bytes += chunk.len() as u64;
        file.write_all(&chunk).await.map_err(incomplete)?;
    }
    file.sync_all().await.map_err(incomplete)?;
    drop(file);
    match tokio::fs::hard_link(&part.0, &target).await {
        Ok(()) => {}
        Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists => return Err(waiting()),
        Err(e) => {
            return Err(ApiError::new(
                ErrorKind::Internal,
                format!("`{name}` could not be put in place: {e}"),
            ));
        }
    }
    // The link is the file now; the `.part` name goes when `part` drops. The folder is synced so
    // an upload reported done survives a power failure.
    if let Ok(folder) = tokio::fs::File::open(dir).await {
        let _ = folder.sync_all().await;
    }
    Ok(Stored {
        name,
        path: target,
        bytes,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_the_name_of_a_readable_file_is_kept() {
        assert_eq!(file_name("患者信息.csv").unwrap(), "患者信息.csv");
        assert_eq!(file_name("C:\\exports\\门诊.CSV").unwrap(), "门诊.CSV");
        assert_eq!(file_name("../../etc/visits.jsonl").unwrap(), "visits.jsonl");
        assert!(file_name("../.hidden.csv").is_err());
        assert!(file_name("report.xlsx").is_err());
        assert!(file_name("a.csv.part").is_err());
        assert!(file_name("").is_err());
    }
}
