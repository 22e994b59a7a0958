//! Secrets stay in pgrepl: no host, no lab. A stand-in `ssh` first on PATH records the
//! environment and core-file limit it was started with, then fails as an unreachable host
//! would.

use std::os::unix::fs::PermissionsExt;
use std::path::Path;
use std::process::{Command, Stdio};

const SECRET: &str = "s3cr3t-Пароль-value";

/// Writes `env` and `ulimit -c` to `<dump>.<pid>` and exits as ssh does when it cannot connect.
const FAKE_SSH: &str = r#"#!/bin/sh
{ env; echo "core-limit=$(ulimit -c)"; } > "$FAKE_SSH_DUMP.$$"
echo "ssh: connect to host: Connection refused" >&2
exit 255
"#;

fn fake_ssh(dir: &Path) {
    let ssh = dir.join("ssh");
    std::fs::write(&ssh, FAKE_SSH).unwrap();
    std::fs::set_permissions(&ssh, std::fs::Permissions::from_mode(0o755)).unwrap();
}

#[test]
fn a_run_keeps_its_secrets_to_itself() {
    let dir = tempfile::tempdir().unwrap();
    let bin = dir.path().join("bin");
    std::fs::create_dir(&bin).unwrap();
    fake_ssh(&bin);
    let cfg = dir.path().join("setup.toml");
    std::fs::write(
        &cfg,
        "[primary]\nhost = \"127.0.0.2\"\n[standby]\nhost = \"127.0.0.3\"\n[postgres]\nallowed_cidr = \"127.0.0.0/24\"\n",
    )
    .unwrap();
    let dumps = dir.path().join("dumps");
    std::fs::create_dir(&dumps).unwrap();
    let state = dir.path().join("state");
    let path = format!(
        "{}:{}",
        bin.display(),
        std::env::var("PATH").unwrap_or_default()
    );
    // Through sh, to start pgrepl with core files allowed (where the hard limit lets us),
    // so the limit its children see is pgrepl's doing.
    let out = Command::new("sh")
        .arg("-c")
        .arg("ulimit -S -c 4096 2>/dev/null; exec \"$0\" \"$@\"")
        .arg(env!("CARGO_BIN_EXE_pgrepl"))
        .env("PGREPL_LANG", "en")
        .env("PATH", path)
        .env("FAKE_SSH_DUMP", dumps.join("env"))
        .env("PGREPL_STATE_DIR", &state)
        .env("PGREPL_REPLICA_PASSWORD", SECRET)
        .args(["apply", "--yes", "--config", cfg.to_str().unwrap()])
        .stdin(Stdio::null())
        .output()
        .expect("pgrepl runs");
    let said = format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(!out.status.success(), "no host can be reached:\n{said}");
    // The password was read all the same: apply stops for a missing one before any ssh.
    assert!(!said.contains("PGREPL_REPLICA_PASSWORD"), "{said}");

    let seen: Vec<String> = std::fs::read_dir(&dumps)
        .unwrap()
        .map(|e| std::fs::read_to_string(e.unwrap().path()).unwrap())
        .collect();
    assert!(!seen.is_empty(), "ssh was never started:\n{said}");
    for env in &seen {
        assert!(
            env.contains("FAKE_SSH_DUMP="),
            "not pgrepl's environment:\n{env}"
        );
        assert!(!env.contains("PGREPL_REPLICA_PASSWORD"), "{env}");
        assert!(!env.contains(SECRET), "{env}");
        // RLIMIT_CORE 0 is inherited from pgrepl, which dumps no core either.
        assert!(env.contains("core-limit=0\n"), "{env}");
    }

    // What the run left: a state directory only its owner can enter, files only it reads.
    assert_eq!(mode(&state), 0o700);
    let files: Vec<_> = std::fs::read_dir(&state)
        .unwrap()
        .map(|e| e.unwrap().path())
        .collect();
    assert!(!files.is_empty(), "no journal nor transcript");
    for f in files {
        assert_eq!(mode(&f), 0o600, "{}", f.display());
    }
}

fn mode(p: &Path) -> u32 {
    std::fs::metadata(p).unwrap().permissions().mode() & 0o777
}
