//! Command-line behaviour that needs no hosts.

use std::process::{Command, Stdio};

fn pgrepl(args: &[&str], state: &std::path::Path) -> std::process::Output {
    Command::new(env!("CARGO_BIN_EXE_pgrepl"))
        // These tests read English messages, whatever the machine's locale.
        .env("PGREPL_LANG", "en")
        .args(args)
        .env("PGREPL_STATE_DIR", state)
        .env("PGREPL_REPLICA_PASSWORD", "x")
        .stdin(Stdio::null())
        .output()
        .expect("pgrepl runs")
}

/// A config for two loopback hosts whitelisting `cidr`, in `dir`.
fn local_config(dir: &std::path::Path, cidr: &str) -> std::path::PathBuf {
    let cfg = dir.join("setup.toml");
    std::fs::write(
        &cfg,
        format!(
            "[primary]\nhost = \"127.0.0.2\"\n[standby]\nhost = \"127.0.0.3\"\n[postgres]\nallowed_cidr = \"{cidr}\"\n"
        ),
    )
    .unwrap();
    cfg
}

#[test]
fn bad_config_is_rejected_before_anything_runs_naming_each_field() {
    let dir = tempfile::tempdir().unwrap();
    let cfg = dir.path().join("bad.toml");
    std::fs::write(
        &cfg,
        r#"
[primary]
host = "-oProxyCommand=touch /tmp/x"
[standby]
host = "127.0.0.1"
port = 0
[postgres]
allowed_cidr = "10.0.0.0/24; drop table x"
"#,
    )
    .unwrap();
    let state = dir.path().join("state");
    let out = pgrepl(
        &["apply", "--config", cfg.to_str().unwrap(), "--yes"],
        &state,
    );
    assert!(!out.status.success());
    let err = String::from_utf8_lossy(&out.stderr);
    for field in ["primary.host", "standby.port", "postgres.allowed_cidr"] {
        assert!(err.contains(field), "no mention of {field}:\n{err}");
    }
    assert!(!state.exists(), "nothing may be written for a bad config");
}

#[test]
fn unknown_steps_and_missing_passwords_are_refused() {
    let dir = tempfile::tempdir().unwrap();
    let cfg = local_config(dir.path(), "127.0.0.0/24");
    let out = pgrepl(
        &["apply", "--config", cfg.to_str().unwrap(), "--from", "nope"],
        dir.path(),
    );
    assert!(!out.status.success());
    assert!(String::from_utf8_lossy(&out.stderr).contains("unknown step 'nope'"));

    let out = Command::new(env!("CARGO_BIN_EXE_pgrepl"))
        // These tests read English messages, whatever the machine's locale.
        .env("PGREPL_LANG", "en")
        .args(["apply", "--config", cfg.to_str().unwrap(), "--yes"])
        .env("PGREPL_STATE_DIR", dir.path())
        .env_remove("PGREPL_REPLICA_PASSWORD")
        .stdin(Stdio::null())
        .output()
        .unwrap();
    assert!(!out.status.success());
    assert!(String::from_utf8_lossy(&out.stderr).contains("PGREPL_REPLICA_PASSWORD"));
}

#[test]
fn a_wide_network_is_refused_before_anything_runs() {
    let dir = tempfile::tempdir().unwrap();
    let cfg = local_config(dir.path(), "0.0.0.0/1");
    let state = dir.path().join("state");
    let out = pgrepl(
        &["apply", "--config", cfg.to_str().unwrap(), "--yes"],
        &state,
    );
    assert!(!out.status.success());
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(
        err.contains("0.0.0.0/1") && err.contains("--allow-wide-cidr"),
        "{err}"
    );
    assert!(!state.exists(), "nothing may be written before the refusal");
}

#[test]
fn a_password_file_others_can_read_is_refused_naming_the_fix() {
    use std::os::unix::fs::PermissionsExt;
    let dir = tempfile::tempdir().unwrap();
    let cfg = local_config(dir.path(), "127.0.0.0/24");
    let pw = dir.path().join("replica.pw");
    std::fs::write(&pw, "s3cr3t\n").unwrap();
    std::fs::set_permissions(&pw, std::fs::Permissions::from_mode(0o644)).unwrap();
    let state = dir.path().join("state");
    let args = [
        "apply",
        "--yes",
        "--config",
        cfg.to_str().unwrap(),
        "--replica-password-file",
        pw.to_str().unwrap(),
    ];
    let out = pgrepl(&args, &state);
    assert_eq!(out.status.code(), Some(2));
    let err = String::from_utf8_lossy(&out.stderr);
    assert_eq!(err.lines().count(), 1, "{err}");
    assert!(
        err.contains(&format!("chmod 600 {}", pw.display())),
        "{err}"
    );
    assert!(!err.contains("s3cr3t"), "{err}");
    assert!(
        !state.exists(),
        "nothing may run with a refused password file"
    );
}
