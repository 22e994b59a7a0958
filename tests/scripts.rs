//! The shell scripts pgrepl ships or runs: parsed by bash, and linted by shellcheck
//! where it is installed (`.ci/run` installs it).

use std::path::{Path, PathBuf};
use std::process::Command;

fn scripts() -> Vec<PathBuf> {
    let root = Path::new(env!("CARGO_MANIFEST_DIR"));
    let mut v = vec![root.join("assets/lab/lab.sh"), root.join(".ci/run")];
    for e in std::fs::read_dir(root.join("bench"))
        .expect("bench/")
        .flatten()
    {
        if e.path().extension().is_some_and(|x| x == "sh") {
            v.push(e.path());
        }
    }
    v
}

#[test]
fn every_script_parses() {
    for s in scripts() {
        let out = Command::new("bash")
            .arg("-n")
            .arg(&s)
            .output()
            .expect("bash");
        assert!(
            out.status.success(),
            "{}: {}",
            s.display(),
            String::from_utf8_lossy(&out.stderr)
        );
    }
}

#[test]
fn shellcheck_finds_nothing() {
    if Command::new("shellcheck")
        .arg("--version")
        .output()
        .is_err()
    {
        eprintln!("skipped: shellcheck is not installed (.ci/run installs it)");
        return;
    }
    let out = Command::new("shellcheck")
        .args(scripts())
        .output()
        .expect("shellcheck");
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stdout)
    );
}
