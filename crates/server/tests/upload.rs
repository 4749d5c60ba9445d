//! Data files uploaded from the collection page into a folder channel: streamed into the
//! channel's folder under a hidden name and renamed when whole, a run requested, audited; a
//! provider reaches only its own institution's channels; a file of a waiting name, an unreadable
//! kind, a missing CSRF token and an oversized body are refused and leave nothing behind.

use crate::common::{Login, TestApp, audited, body_text, get};
use anyhow::{Context, Result, ensure};
use axum::{
    body::Body,
    http::{Method, Request, StatusCode, header},
};
use hdos_core::Role;
use hdos_ingest::channel::ChannelSpec;
use hdos_server::ServerConfig;
use std::path::Path;

const BOUNDARY: &str = "hdosTestBoundary7MA4YWxk";
/// “姓名,性别” and a row in GBK, as a hospital's export tool writes it.
const GBK_CSV: &[u8] = b"\xd0\xd5\xc3\xfb,\xd0\xd4\xb1\xf0\r\n\xd5\xc5\xc8\xfd,1\r\n";

/// One part of a multipart form: its name, file name (for a file) and content.
type Part<'a> = (&'a str, Option<&'a str>, &'a [u8]);

/// A multipart upload; the CSRF token goes first as a field, or in the header (as the page's
/// script sends it), or not at all.
fn upload(login: &Login, csrf: Csrf, parts: &[Part<'_>]) -> Request<Body> {
    upload_with(login, csrf, Body::from(form_bytes(login, csrf, parts)))
}

/// The multipart form's bytes.
fn form_bytes(login: &Login, csrf: Csrf, parts: &[Part<'_>]) -> Vec<u8> {
    let mut body = Vec::new();
    let mut add = |name: &str, file: Option<&str>, content: &[u8]| {
        body.extend_from_slice(format!("--{BOUNDARY}\r\n").as_bytes());
        let disposition = match file {
            Some(f) => format!("form-data; name=\"{name}\"; filename=\"{f}\""),
            None => format!("form-data; name=\"{name}\""),
        };
        body.extend_from_slice(format!("Content-Disposition: {disposition}\r\n").as_bytes());
        if file.is_some() {
            body.extend_from_slice(b"Content-Type: application/octet-stream\r\n");
        }
        body.extend_from_slice(b"\r\n");
        body.extend_from_slice(content);
        body.extend_from_slice(b"\r\n");
    };
    if csrf == Csrf::Field {
        add("_csrf", None, login.csrf.as_bytes());
    }
    for (name, file, content) in parts {
        add(name, *file, content);
    }
    body.extend_from_slice(format!("--{BOUNDARY}--\r\n").as_bytes());
    body
}

fn upload_with(login: &Login, csrf: Csrf, body: Body) -> Request<Body> {
    let mut b = Request::builder()
        .method(Method::POST)
        .uri("/integration/collection/upload")
        .header(
            header::CONTENT_TYPE,
            format!("multipart/form-data; boundary={BOUNDARY}"),
        )
        .header(header::COOKIE, &login.cookie);
    if csrf == Csrf::Header {
        b = b.header("x-csrf-token", &login.csrf);
    }
    b.body(body).unwrap_or_default()
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Csrf {
    Field,
    Header,
    Missing,
}

async fn folder_channel(app: &TestApp, name: &str, institution: &str, dir: &Path) -> Result<()> {
    let spec = ChannelSpec::Folder {
        path: dir.to_owned(),
        tables: Vec::new(),
    };
    app.state
        .store
        .save_channel(hdos_store::NewChannel {
            name: name.into(),
            institution: institution.into(),
            kind: spec.kind().into(),
            spec: spec.to_json(),
            schedule: Some("0 2 * * *".into()),
            enabled: true,
            next_run_at: None,
        })
        .await?;
    Ok(())
}

/// The names in `dir`, hidden ones included, sorted.
fn listing(dir: &Path) -> Result<Vec<String>> {
    let mut names: Vec<String> = std::fs::read_dir(dir)?
        .map(|e| Ok(e?.file_name().to_string_lossy().into_owned()))
        .collect::<Result<_>>()?;
    names.sort();
    Ok(names)
}

#[tokio::test]
async fn files_uploaded_from_the_page_land_in_the_folder_and_the_channel_is_asked_to_run()
-> Result<()> {
    let app = TestApp::new().await?;
    let dirs = tempfile::tempdir()?;
    let (own, other) = (dirs.path().join("own"), dirs.path().join("other"));
    std::fs::create_dir_all(&own)?;
    std::fs::create_dir_all(&other)?;
    folder_channel(&app, "drop_own", "12330000TEST00001A", &own).await?;
    folder_channel(&app, "drop_other", "12330000TEST00002B", &other).await?;

    // The form lists the folder channels the reader may upload to.
    let provider = app.session(Role::Provider).await?;
    let manager = app.session(Role::Manager).await?;
    let page = body_text(
        app.send(get("/integration/collection", Some(&provider)))
            .await?,
    )
    .await?;
    ensure!(
        page.contains("id=\"upload\"") && page.contains("value=\"drop_own\""),
        "{page}"
    );
    ensure!(!page.contains("value=\"drop_other\""), "{page}");
    let page = body_text(
        app.send(get("/integration/collection", Some(&manager)))
            .await?,
    )
    .await?;
    ensure!(page.contains("value=\"drop_other\""));

    // A provider uploads a GBK export, the token in the form as a browser without script sends it.
    let resp = app
        .send(upload(
            &provider,
            Csrf::Field,
            &[
                ("channel", None, b"drop_own"),
                ("file", Some("C:\\导出\\患者信息.csv"), GBK_CSV),
            ],
        ))
        .await?;
    ensure!(resp.status() == StatusCode::SEE_OTHER, "{}", resp.status());
    let to = resp
        .headers()
        .get(header::LOCATION)
        .context("redirect")?
        .to_str()?
        .to_owned();
    ensure!(listing(&own)? == ["患者信息.csv"], "{:?}", listing(&own)?);
    ensure!(
        std::fs::read(own.join("患者信息.csv"))? == GBK_CSV,
        "bytes kept as sent"
    );
    let c = app
        .state
        .store
        .channel("drop_own")
        .await?
        .context("channel")?;
    ensure!(c.run_requested_at.is_some(), "a run is requested");
    let page = body_text(app.send(get(&to, Some(&provider))).await?).await?;
    ensure!(
        page.contains("id=\"uploaded\"")
            && page.contains("患者信息.csv")
            && page.contains("drop_own"),
        "{page}"
    );
    let entries = audited(&app, "collection.upload").await?;
    ensure!(
        entries.len() == 1 && entries[0].target == "drop_own",
        "{entries:?}"
    );

    // The same name while the first still waits: refused, the waiting file untouched.
    let resp = app
        .send(upload(
            &provider,
            Csrf::Header,
            &[
                ("channel", None, b"drop_own"),
                ("file", Some("患者信息.csv"), b"x,y\n1,2\n"),
            ],
        ))
        .await?;
    ensure!(resp.status() == StatusCode::CONFLICT, "{}", resp.status());
    ensure!(std::fs::read(own.join("患者信息.csv"))? == GBK_CSV);

    // The script's way (token in the header) with two files at once.
    let resp = app
        .send(upload(
            &provider,
            Csrf::Header,
            &[
                ("channel", None, b"drop_own"),
                ("file", Some("门诊就诊.csv"), b"jzid,brid\nV1,P1\n"),
                ("file", Some("检验结果.jsonl"), b"{\"a\":1}\n"),
            ],
        ))
        .await?;
    ensure!(resp.status() == StatusCode::SEE_OTHER, "{}", resp.status());
    ensure!(listing(&own)?.len() == 3, "{:?}", listing(&own)?);

    // Another institution's channel, a kind collection cannot read, no token, no such channel:
    // refused, nothing left behind (no file, no `.part`). The guard audits the missing token as
    // `csrf.rejected`; the other three, and the name still waiting above, are failed uploads
    // naming the channel.
    let refused = [
        (
            upload(
                &provider,
                Csrf::Field,
                &[
                    ("channel", None, b"drop_other"),
                    ("file", Some("a.csv"), b"a\n1\n"),
                ],
            ),
            StatusCode::FORBIDDEN,
        ),
        (
            upload(
                &manager,
                Csrf::Field,
                &[
                    ("channel", None, b"drop_other"),
                    ("file", Some("报表.xlsx"), b"PK"),
                ],
            ),
            StatusCode::BAD_REQUEST,
        ),
        (
            upload(
                &manager,
                Csrf::Missing,
                &[
                    ("channel", None, b"drop_other"),
                    ("file", Some("a.csv"), b"a\n1\n"),
                ],
            ),
            StatusCode::FORBIDDEN,
        ),
        (
            upload(&manager, Csrf::Field, &[("channel", None, b"no_such")]),
            StatusCode::NOT_FOUND,
        ),
    ];
    for (req, status) in refused {
        let resp = app.send(req).await?;
        ensure!(
            resp.status() == status,
            "{} instead of {status}",
            resp.status()
        );
    }
    ensure!(listing(&other)?.is_empty(), "{:?}", listing(&other)?);
    let failures = audited(&app, "collection.upload").await?;
    ensure!(
        failures
            .iter()
            .filter(|e| e.outcome == "failure" && !e.target.is_empty())
            .count()
            == 4,
        "{failures:?}"
    );
    Ok(())
}

#[tokio::test]
async fn an_upload_beyond_its_limit_is_refused_and_leaves_nothing() -> Result<()> {
    let app = TestApp::with_config(ServerConfig {
        upload_limit_bytes: 4096,
        ..ServerConfig::default()
    })
    .await?;
    let dir = tempfile::tempdir()?;
    folder_channel(&app, "drop_own", "12330000TEST00001A", dir.path()).await?;
    let manager = app.session(Role::Manager).await?;
    let big = vec![b'1'; 8192];
    let resp = app
        .send(upload(
            &manager,
            Csrf::Field,
            &[
                ("channel", None, b"drop_own"),
                ("file", Some("big.csv"), &big),
            ],
        ))
        .await?;
    let status = resp.status();
    let page = body_text(resp).await?;
    ensure!(status == StatusCode::PAYLOAD_TOO_LARGE, "{status} {page}");
    ensure!(page.contains("超过上限"), "the limit is named: {page}");
    ensure!(
        listing(dir.path())?.is_empty(),
        "{:?}",
        listing(dir.path())?
    );

    // The same, arriving in pieces without a length: the token and the channel are read, then
    // the file runs past the limit mid-stream; its `.part` is removed.
    let bytes = form_bytes(
        &manager,
        Csrf::Field,
        &[
            ("channel", None, b"drop_own"),
            ("file", Some("big.csv"), &big),
        ],
    );
    let split = bytes
        .windows(9)
        .position(|w| w == b"filename=")
        .context("the file part")?;
    let pieces: Vec<Result<Vec<u8>, std::io::Error>> =
        vec![Ok(bytes[..split].to_vec()), Ok(bytes[split..].to_vec())];
    let resp = app
        .send(upload_with(
            &manager,
            Csrf::Field,
            Body::from_stream(futures::stream::iter(pieces)),
        ))
        .await?;
    let status = resp.status();
    let page = body_text(resp).await?;
    ensure!(status == StatusCode::PAYLOAD_TOO_LARGE, "{status} {page}");
    ensure!(page.contains("上传上限"), "{page}");
    ensure!(
        listing(dir.path())?.is_empty(),
        "{:?}",
        listing(dir.path())?
    );

    // Within the limit it lands.
    let resp = app
        .send(upload(
            &manager,
            Csrf::Field,
            &[
                ("channel", None, b"drop_own"),
                ("file", Some("small.csv"), b"a\n1\n"),
            ],
        ))
        .await?;
    ensure!(resp.status() == StatusCode::SEE_OTHER, "{}", resp.status());
    ensure!(listing(dir.path())? == ["small.csv"]);
    Ok(())
}
