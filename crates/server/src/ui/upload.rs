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
use std::path::{Path, PathBuf};
use tokio::io::AsyncWriteExt;

pub const PATH: &str = "/integration/collection/upload";

/// A file as uploaded: its name in the folder and its size.
struct Stored {
    name: String,
    bytes: u64,
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
    let mut folder: Option<PathBuf> = None;
    let mut stored = Vec::new();
    while let Some(field) = form.next_field().await.map_err(unreadable_form)? {
        match field.name().unwrap_or_default() {
            "channel" => {
                let name = field.text().await.map_err(unreadable_form)?;
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
    if let (Some(name), false) = (channel.as_deref(), stored.is_empty()) {
        app.store.request_channel_run(name, now_millis()).await?;
        return Ok(stored);
    }
    Err(error(
        ErrorKind::InvalidInput,
        "choose a folder channel and at least one file".into(),
        "upload.no_channel",
        vec![],
    ))
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
    if name.is_empty() || name.starts_with('.') || name.ends_with(".part") {
        return Err(unreadable(format!("`{sent}` is not a usable file name")));
    }
    if FileFormat::of(Path::new(&name)).is_none() {
        return Err(unreadable(format!(
            "`{name}` is not a .csv, .txt, .jsonl, .ndjson or .parquet file"
        )));
    }
    Ok(name)
}

/// Streams one file to a hidden `.part` name, syncs it and renames it into place. A file of the
/// same name still waiting is not replaced: its table's rows would be lost.
async fn store_file(dir: &Path, mut field: Field<'_>) -> Result<Stored, ApiError> {
    let name = file_name(field.file_name().unwrap_or_default())?;
    let target = dir.join(&name);
    if tokio::fs::try_exists(&target).await.unwrap_or(false) {
        return Err(error(
            ErrorKind::Conflict,
            format!(
                "`{name}` is already waiting to be collected; upload it again once it has been"
            ),
            "upload.waiting",
            vec![("name", name.clone())],
        ));
    }
    let part = dir.join(format!(".{}.part", uuid::Uuid::new_v4()));
    let incomplete = |e: String| {
        error(
            ErrorKind::InvalidInput,
            format!("`{name}` did not arrive whole: {e}"),
            "upload.incomplete",
            vec![("name", name.clone())],
        )
    };
    let written = async {
        let mut file = tokio::fs::File::create(&part)
            .await
            .map_err(|e| incomplete(e.to_string()))?;
        let mut bytes = 0u64;
        while let Some(chunk) = field.chunk().await.map_err(unreadable_form)? {
            bytes += chunk.len() as u64;
            file.write_all(&chunk)
                .await
                .map_err(|e| incomplete(e.to_string()))?;
        }
        file.sync_all()
            .await
            .map_err(|e| incomplete(e.to_string()))?;
        Ok::<_, ApiError>(bytes)
    }
    .await;
    let bytes = match written {
        Ok(bytes) => bytes,
        Err(e) => {
            let _ = tokio::fs::remove_file(&part).await;
            return Err(e);
        }
    };
    tokio::fs::rename(&part, &target).await.map_err(|e| {
        ApiError::new(
            ErrorKind::Internal,
            format!("`{name}` could not be put in place: {e}"),
        )
    })?;
    Ok(Stored { name, bytes })
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
