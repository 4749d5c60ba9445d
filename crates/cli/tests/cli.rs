//! The `hdos` binary as an operator uses it.

use anyhow::{Result, ensure};
use std::process::{Command, Output};

mod failover;

fn hdos(data_dir: &std::path::Path, args: &[&str]) -> Result<Output> {
    Ok(Command::new(env!("CARGO_BIN_EXE_hdos"))
        .args(args)
        .arg("--data-dir")
        .arg(data_dir)
        .env("HDOS__LOG__LEVEL", "warn")
        .env_remove("HDOS__STORE__URL")
        .output()?)
}

/// Runs `hdos` in `cwd` with extra environment, without a data-dir flag.
fn hdos_env(cwd: &std::path::Path, args: &[&str], env: &[(&str, &str)]) -> Result<Output> {
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_hdos"));
    cmd.args(args)
        .current_dir(cwd)
        .env("HDOS__LOG__LEVEL", "warn");
    for (k, v) in env {
        cmd.env(k, v);
    }
    Ok(cmd.output()?)
}

/// Generates a 300-person region of a hospital and a primary-care institution in `out`; returns
/// its manifest.
fn small_region(
    data_dir: &std::path::Path,
    out: &std::path::Path,
    extra: &[&str],
) -> Result<serde_json::Value> {
    let mut args = vec![
        "synth",
        "--patients",
        "300",
        "--institutions",
        "1,0,1",
        "--out",
    ];
    args.push(out.to_str().unwrap_or_default());
    args.extend(extra);
    let generated = hdos(data_dir, &args)?;
    ensure!(generated.status.success(), "{}", text(&generated));
    Ok(serde_json::from_str(&std::fs::read_to_string(
        out.join("region.json"),
    )?)?)
}

fn text(o: &Output) -> String {
    format!(
        "{}{}",
        String::from_utf8_lossy(&o.stdout),
        String::from_utf8_lossy(&o.stderr)
    )
}

#[test]
fn init_creates_the_data_dir_a_private_master_key_and_an_admin() -> Result<()> {
    let dir = tempfile::tempdir()?;
    let data = dir.path().join("data");
    let out = hdos(
        &data,
        &["init", "--admin-password", "initial admin password"],
    )?;
    ensure!(out.status.success(), "{}", text(&out));
    ensure!(text(&out).contains("administrator `admin` created"));
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        let mode = std::fs::metadata(data.join("master.key"))?
            .permissions()
            .mode()
            & 0o777;
        ensure!(mode == 0o600, "master key mode {mode:o}");
    }
    let again = hdos(&data, &["init"])?;
    ensure!(again.status.success() && text(&again).contains("already exists"));
    let list = hdos(&data, &["user", "list"])?;
    ensure!(text(&list).contains("admin"), "{}", text(&list));
    Ok(())
}

#[test]
fn a_data_dir_that_cannot_be_written_is_a_clear_error() -> Result<()> {
    let dir = tempfile::tempdir()?;
    let file = dir.path().join("a-file");
    std::fs::write(&file, "not a directory")?;
    let out = hdos(&file.join("data"), &["init"])?;
    ensure!(!out.status.success());
    let msg = text(&out);
    ensure!(
        msg.contains("data directory") && msg.contains("cannot be created"),
        "{msg}"
    );
    Ok(())
}

#[test]
fn an_invalid_config_key_or_value_names_the_key() -> Result<()> {
    let dir = tempfile::tempdir()?;
    let out = hdos_env(
        dir.path(),
        &["config", "show"],
        &[("HDOS__SERVER__LISTEN_ADRESS", "x")],
    )?;
    ensure!(!out.status.success());
    ensure!(text(&out).contains("listen_adress"), "{}", text(&out));
    let out = hdos_env(
        dir.path(),
        &["config", "show"],
        &[("HDOS__SERVER__LOGIN_MAX_FAILURES", "many")],
    )?;
    ensure!(!out.status.success());
    ensure!(
        text(&out).to_lowercase().contains("login_max_failures"),
        "{}",
        text(&out)
    );
    Ok(())
}

#[test]
fn config_show_redacts_the_store_password() -> Result<()> {
    let dir = tempfile::tempdir()?;
    let out = hdos_env(
        dir.path(),
        &[
            "config",
            "show",
            "--store-url",
            "postgres://hdos:TopSecret@db:5432/hdos",
        ],
        &[],
    )?;
    ensure!(out.status.success(), "{}", text(&out));
    let shown = text(&out);
    ensure!(
        !shown.contains("TopSecret") && shown.contains("***"),
        "{shown}"
    );
    Ok(())
}

#[test]
fn an_unreachable_postgres_fails_after_retries_with_a_clear_error() -> Result<()> {
    let dir = tempfile::tempdir()?;
    let out = hdos_env(
        dir.path(),
        &[
            "migrate",
            "--store-url",
            "postgres://hdos:pw@127.0.0.1:9/hdos",
        ],
        &[("HDOS__STORE__CONNECT_ATTEMPTS", "2")],
    )?;
    ensure!(!out.status.success());
    let msg = text(&out);
    ensure!(
        msg.contains("cannot reach the metadata store") && msg.contains("after 2 attempts"),
        "{msg}"
    );
    ensure!(!msg.contains(":pw@"), "{msg}");
    Ok(())
}

#[test]
fn users_are_added_and_disabled_and_audit_verify_names_tampering() -> Result<()> {
    let dir = tempfile::tempdir()?;
    let data = dir.path().join("data");
    ensure!(
        hdos(
            &data,
            &["init", "--admin-password", "initial admin password"]
        )?
        .status
        .success()
    );
    let add = hdos(
        &data,
        &[
            "user",
            "add",
            "--username",
            "wang",
            "--role",
            "manager",
            "--password",
            "wang password 1",
        ],
    )?;
    ensure!(add.status.success(), "{}", text(&add));
    let disable = hdos(&data, &["user", "disable", "wang"])?;
    ensure!(disable.status.success(), "{}", text(&disable));
    ensure!(text(&hdos(&data, &["user", "list"])?).contains("disabled"));
    let ok = hdos(&data, &["audit", "verify"])?;
    ensure!(
        ok.status.success() && text(&ok).contains("intact: 3 entries"),
        "{}",
        text(&ok)
    );

    // An attacker with the database file drops the append-only triggers and edits entry 2.
    let url = format!("sqlite://{}", data.join("hdos.db").display());
    tokio::runtime::Runtime::new()?.block_on(async {
        let store =
            hdos_store::SqlStore::connect(&url, &hdos_store::ConnectOptions::default()).await?;
        store
            .execute_raw(
                "DROP TRIGGER audit_log_no_update; \
                 UPDATE audit_log SET target = 'someone-else' WHERE seq = 2;",
            )
            .await?;
        anyhow::Ok(())
    })?;
    let broken = hdos(&data, &["audit", "verify"])?;
    ensure!(broken.status.code() == Some(1), "{}", text(&broken));
    ensure!(
        text(&broken).contains("BROKEN at entry 2"),
        "{}",
        text(&broken)
    );
    Ok(())
}

#[test]
fn the_standard_can_be_extended_from_a_file() -> Result<()> {
    let dir = tempfile::tempdir()?;
    let builtin = text(&hdos(dir.path(), &["standard", "show"])?);
    ensure!(
        builtin.contains("patient") && builtin.contains("infectious_report"),
        "{builtin}"
    );
    let fields = |out: &str| -> Option<u32> {
        out.lines()
            .find(|l| l.starts_with("patient "))
            .and_then(|l| l.split_whitespace().nth(3))
            .and_then(|n| n.parse().ok())
    };
    let ext = dir.path().join("ext.toml");
    std::fs::write(
        &ext,
        "[[datasets]]\nname = \"patient\"\n\n[[datasets.fields]]\nname = \"blood_type\"\nname_zh = \"血型\"\n\
         type = \"code\"\nrequired = false\ndomain = [{ code = \"A\", label = \"A型\" }]\nrole = \"sensitive\"\nlevel = 3\n",
    )?;
    let out = hdos(
        dir.path(),
        &[
            "standard",
            "show",
            "--extension",
            ext.to_str().unwrap_or_default(),
        ],
    )?;
    ensure!(out.status.success(), "{}", text(&out));
    ensure!(
        fields(&text(&out)) == fields(&builtin).map(|n| n + 1),
        "{}",
        text(&out)
    );
    std::fs::write(
        &ext,
        "[[datasets]]\nname = \"patient\"\n\n[[datasets.fields]]\nname = \"x\"\nname_zh = \"x\"\ntype = \"int\"\nrequired = false\nrole = \"none\"\nlevel = 7\n",
    )?;
    let bad = hdos(
        dir.path(),
        &[
            "standard",
            "show",
            "--extension",
            ext.to_str().unwrap_or_default(),
        ],
    )?;
    ensure!(
        !bad.status.success() && text(&bad).contains("level"),
        "{}",
        text(&bad)
    );
    Ok(())
}

#[test]
fn synth_generates_a_region_and_streams_changes_into_it() -> Result<()> {
    let dir = tempfile::tempdir()?;
    let region = dir.path().join("region");
    let region_arg = region.to_str().unwrap_or_default();
    let mut args = vec![
        "synth",
        "--patients",
        "400",
        "--institutions",
        "1,1,2",
        "--defects",
        "light",
        "--messages",
        "--out",
        region_arg,
    ];
    let pg = std::env::var("HDOS_TEST_POSTGRES_URL").ok();
    if let Some(url) = &pg {
        args.extend(["--postgres", url.as_str(), "--postgres-institutions", "2"]);
    }
    let out = hdos(dir.path(), &args)?;
    ensure!(out.status.success(), "{}", text(&out));
    ensure!(text(&out).contains("400 people"), "{}", text(&out));
    let manifest: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(region.join("region.json"))?)?;
    let institutions = manifest["institutions"]
        .as_array()
        .cloned()
        .unwrap_or_default();
    ensure!(institutions.len() == 4);
    for i in &institutions {
        ensure!(region.join(i["his"].as_str().unwrap_or_default()).exists());
    }

    let again = hdos(dir.path(), &args)?;
    ensure!(!again.status.success(), "a used directory is refused");
    ensure!(text(&again).contains("not empty"), "{}", text(&again));

    let stream = [
        "synth", "stream", "--region", region_arg, "--rate", "500", "--events", "40",
    ];
    let out = hdos(dir.path(), &stream)?;
    ensure!(out.status.success(), "{}", text(&out));
    ensure!(text(&out).contains("40 events"), "{}", text(&out));

    if let Some(url) = &pg {
        let mut to_pg = stream.to_vec();
        to_pg.extend(["--postgres", url.as_str()]);
        let out = hdos(dir.path(), &to_pg)?;
        ensure!(out.status.success(), "{}", text(&out));
        ensure!(text(&out).contains("40 events"), "{}", text(&out));
    }

    let bad = hdos(
        dir.path(),
        &["synth", "--defects", "sometimes", "--out", "x"],
    )?;
    ensure!(!bad.status.success());
    ensure!(
        text(&bad).contains("not a defect profile"),
        "{}",
        text(&bad)
    );
    Ok(())
}

#[test]
fn a_his_is_collected_with_a_reviewed_mapping_and_runs_are_listed() -> Result<()> {
    let dir = tempfile::tempdir()?;
    let region = dir.path().join("region");
    let manifest = small_region(dir.path(), &region, &["--defects", "light"])?;
    let site = &manifest["institutions"][0];
    let code = site["code"].as_str().unwrap_or_default();
    let his = region.join(site["his"].as_str().unwrap_or_default());
    let his_arg = his.to_str().unwrap_or_default();

    let suggested = hdos(dir.path(), &["ingest", "suggest", "--sqlite", his_arg])?;
    ensure!(suggested.status.success(), "{}", text(&suggested));
    let mapping = String::from_utf8_lossy(&suggested.stdout).into_owned();
    ensure!(mapping.matches("[[tables]]").count() == 8, "{mapping}");
    let mapping_file = dir.path().join("mapping.toml");
    std::fs::write(&mapping_file, &mapping)?;
    let mapping_arg = mapping_file.to_str().unwrap_or_default();

    let collect = || {
        hdos(
            dir.path(),
            &[
                "ingest",
                "run",
                "--sqlite",
                his_arg,
                "--institution",
                code,
                "--mapping",
                mapping_arg,
            ],
        )
    };
    let run = collect()?;
    ensure!(run.status.success(), "{}", text(&run));
    ensure!(
        text(&run).matches(" written, ").count() == 8,
        "{}",
        text(&run)
    );
    // Nothing changed at the source: the next run reads nothing.
    let again = collect()?;
    ensure!(
        text(&again).matches(": 0 read,").count() == 8,
        "{}",
        text(&again)
    );
    let runs = hdos(dir.path(), &["ingest", "runs", "--limit", "100"])?;
    let listed = String::from_utf8_lossy(&runs.stdout).into_owned();
    ensure!(listed.lines().count() == 16, "{listed}");
    // Each table's first run is named as such; the second is incremental.
    ensure!(
        listed.matches("\"mode\":\"initial\"").count() == 8,
        "{listed}"
    );
    ensure!(
        listed.matches("\"mode\":\"incremental\"").count() == 8,
        "{listed}"
    );

    // A mapping edited into nonsense is refused with the field named, and nothing is written.
    let broken = mapping.replacen("target = \"patient_id\"", "target = \"patient_no\"", 1);
    std::fs::write(&mapping_file, broken)?;
    let bad = collect()?;
    ensure!(!bad.status.success(), "{}", text(&bad));
    ensure!(
        text(&bad).contains("`patient_no` is not a field"),
        "{}",
        text(&bad)
    );
    let missing = hdos(
        dir.path(),
        &[
            "ingest",
            "run",
            "--sqlite",
            "/nonexistent/his.sqlite",
            "--institution",
            code,
        ],
    )?;
    ensure!(
        !missing.status.success() && text(&missing).contains("no such file"),
        "{}",
        text(&missing)
    );
    Ok(())
}

#[test]
fn hl7_messages_are_received_over_mllp_until_ctrl_c() -> Result<()> {
    let dir = tempfile::tempdir()?;
    let region = dir.path().join("region");
    let manifest = small_region(dir.path(), &region, &["--messages"])?;
    let code = manifest["institutions"][1]["code"]
        .as_str()
        .unwrap_or_default()
        .to_owned();
    let file = region.join("hl7").join(format!("{code}.hl7"));
    let port = std::net::TcpListener::bind("127.0.0.1:0")?
        .local_addr()?
        .port();
    let listen = format!("127.0.0.1:{port}");

    // A mapping edited into nonsense is refused before anything listens.
    let broken = dir.path().join("broken.toml");
    let builtin = hdos(dir.path(), &["ingest", "hl7-mapping"])?;
    let mapping = String::from_utf8_lossy(&builtin.stdout).replacen("PID-8", "PID-x", 1);
    std::fs::write(&broken, mapping)?;
    let refused = hdos(
        dir.path(),
        &[
            "ingest",
            "mllp",
            "--institution",
            &code,
            "--listen",
            &listen,
            "--mapping",
            broken.to_str().unwrap_or_default(),
        ],
    )?;
    ensure!(
        !refused.status.success() && text(&refused).contains("PID-x"),
        "{}",
        text(&refused)
    );

    let channel = Command::new(env!("CARGO_BIN_EXE_hdos"))
        .args([
            "ingest",
            "mllp",
            "--institution",
            &code,
            "--listen",
            &listen,
        ])
        .arg("--data-dir")
        .arg(dir.path())
        .env("HDOS__LOG__LEVEL", "warn")
        .env_remove("HDOS__STORE__URL")
        .stderr(std::process::Stdio::piped())
        .spawn()?;
    let started = std::time::Instant::now();
    while std::net::TcpStream::connect(&listen).is_err() {
        ensure!(
            started.elapsed().as_secs() < 60,
            "the channel never listened"
        );
        std::thread::sleep(std::time::Duration::from_millis(100));
    }
    let sent = hdos(
        dir.path(),
        &[
            "ingest",
            "send-hl7",
            "--to",
            &listen,
            "--connections",
            "2",
            file.to_str().unwrap_or_default(),
        ],
    )?;
    ensure!(sent.status.success(), "{}", text(&sent));
    let summary = text(&sent);
    ensure!(
        summary.contains("AA ") && !summary.contains("AE") && !summary.contains("AR"),
        "{summary}"
    );
    let kill = Command::new("kill")
        .args(["-INT", &channel.id().to_string()])
        .status()?;
    ensure!(kill.success());
    let done = channel.wait_with_output()?;
    let log = text(&done);
    ensure!(done.status.success(), "{log}");
    let messages = std::fs::read(&file)?
        .split(|b| *b == b'\n')
        .filter(|m| !m.is_empty())
        .count();
    ensure!(
        log.contains(&format!("{messages} messages")),
        "{messages} sent: {log}"
    );
    let runs = hdos(dir.path(), &["ingest", "runs"])?;
    let runs = text(&runs);
    ensure!(
        runs.contains("\"mode\":\"stream\"") && runs.contains("succeeded"),
        "{runs}"
    );
    Ok(())
}

#[test]
fn source_connections_keep_their_password_sealed() -> Result<()> {
    let Ok(pg) = std::env::var("HDOS_TEST_POSTGRES_URL") else {
        ensure!(
            std::env::var("HDOS_REQUIRE_POSTGRES").as_deref() != Ok("1"),
            "HDOS_REQUIRE_POSTGRES=1 but HDOS_TEST_POSTGRES_URL is not set"
        );
        return Ok(());
    };
    let url = url::Url::parse(&pg)?;
    let dir = tempfile::tempdir()?;
    let data = dir.path().join("data");
    let data_arg = data.to_str().unwrap_or_default();
    let port = url.port().unwrap_or(5432).to_string();
    let add = |name: &str, port: &str| {
        hdos_env(
            dir.path(),
            &[
                "--data-dir",
                data_arg,
                "connection",
                "add",
                "--name",
                name,
                "--institution",
                "H1",
                "--host",
                url.host_str().unwrap_or_default(),
                "--port",
                port,
                "--database",
                url.path().trim_start_matches('/'),
                "--user",
                url.username(),
                "--schema",
                "public",
            ],
            &[("HDOS_SOURCE_PASSWORD", url.password().unwrap_or("x"))],
        )
    };
    let out = add("his", &port)?;
    ensure!(out.status.success(), "{}", text(&out));
    ensure!(text(&out).contains("password sealed"), "{}", text(&out));
    let out = hdos(&data, &["connection", "test", "his"])?;
    ensure!(
        out.status.success() && text(&out).contains("reachable"),
        "{}",
        text(&out)
    );
    let list = hdos(&data, &["connection", "list"])?;
    let password = url.password().unwrap_or("x");
    ensure!(text(&list).contains("\"name\":\"his\""), "{}", text(&list));
    ensure!(
        !text(&list).contains(&format!(":{password}@")) && !text(&list).contains("enc:v1"),
        "no password is listed"
    );

    let out = add("closed", "1")?;
    ensure!(out.status.success(), "{}", text(&out));
    let out = hdos(&data, &["connection", "test", "closed"])?;
    ensure!(!out.status.success(), "a closed port fails");
    ensure!(
        !text(&out).contains(&format!(":{password}@")),
        "{}",
        text(&out)
    );
    let out = hdos(&data, &["connection", "remove", "closed"])?;
    ensure!(out.status.success(), "{}", text(&out));
    let out = hdos(&data, &["connection", "test", "closed"])?;
    ensure!(
        text(&out).contains("no connection has this name"),
        "{}",
        text(&out)
    );
    Ok(())
}
