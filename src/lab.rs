//! `pgrepl lab`: the built-in lab, a primary and one to three standbys. The namespaces,
//! mounts and sshd are shell work, so the script lives in `assets/lab/lab.sh` and is
//! compiled into the binary.

use std::io::Write;
use std::path::PathBuf;
use std::process::{Command, Stdio};

use color_eyre::eyre::{bail, eyre, Result};

use crate::tr;

const SCRIPT: &str = include_str!("../assets/lab/lab.sh");

pub const DEFAULT_NAME: &str = "pgrepl";

#[derive(Debug, Clone)]
pub struct LabOptions {
    pub name: String,
    pub subnet: Option<String>,
    /// `up --bare`: hosts without the PostgreSQL server, installable with apt from a
    /// repository the lab serves on its bridge.
    pub bare: bool,
    /// `up --standbys N`: how many standbys (1 to 3) besides the primary. With 1 the lab's
    /// config has a `[standby]` table, with more one `[[standby]]` entry per standby.
    /// `status` and `down` go by what `up` recorded, whatever this says.
    pub standbys: u8,
}

impl Default for LabOptions {
    fn default() -> Self {
        LabOptions {
            name: DEFAULT_NAME.into(),
            subnet: None,
            bare: false,
            standbys: 1,
        }
    }
}

/// Where `lab up` writes the lab's files for `name`.
pub fn dir(name: &str) -> PathBuf {
    PathBuf::from("/var/lib/pgrepl-lab").join(name)
}

pub fn config_path(name: &str) -> PathBuf {
    dir(name).join("pgrepl.toml")
}

/// Runs `lab.sh ACTION`, letting its output through. Returns the exit code.
fn run(action: &str, opts: &LabOptions, quiet: bool) -> Result<i32> {
    if !cfg!(target_os = "linux") {
        bail!(tr!("lab.linux_only"));
    }
    // A private file (0600, a random name, created exclusively), never a predictable
    // /tmp name another account could plant first; removed when `script` drops.
    let mut script = tempfile::Builder::new()
        .prefix("pgrepl-lab-")
        .suffix(".sh")
        .tempfile()?;
    script.write_all(SCRIPT.as_bytes())?;
    script.flush()?;
    let mut cmd = Command::new("bash");
    cmd.arg(script.path())
        .arg(action)
        .arg("--name")
        .arg(&opts.name);
    if let Some(s) = &opts.subnet {
        cmd.arg("--subnet").arg(s);
    }
    if opts.bare && action == "up" {
        cmd.arg("--bare");
    }
    // Only when not the default, so a one-standby `up` runs the script exactly as before.
    if opts.standbys != 1 && action == "up" {
        cmd.arg("--standbys").arg(opts.standbys.to_string());
    }
    if quiet {
        cmd.stdout(Stdio::null());
    }
    let status = cmd.status().map_err(|e| eyre!("bash: {e}"))?;
    Ok(status.code().unwrap_or(1))
}

fn require_root() -> Result<()> {
    let uid = Command::new("id")
        .arg("-u")
        .output()
        .map(|o| String::from_utf8_lossy(&o.stdout).trim().to_string());
    if uid.as_deref().unwrap_or("") != "0" {
        bail!(tr!("lab.needs_root"));
    }
    Ok(())
}

pub fn up(opts: &LabOptions) -> Result<PathBuf> {
    require_root()?;
    match run("up", opts, false)? {
        0 => Ok(config_path(&opts.name)),
        code => bail!(tr!("lab.failed", action = "up", code = code)),
    }
}

/// Brings the lab up unless it is already running (with however many standbys `lab up`
/// gave it: `--lab` uses the lab as it is); returns its config file.
pub fn ensure(opts: &LabOptions) -> Result<PathBuf> {
    require_root()?;
    if run("status", opts, true)? == 0 && config_path(&opts.name).is_file() {
        return Ok(config_path(&opts.name));
    }
    up(opts)
}

pub fn down(opts: &LabOptions) -> Result<()> {
    require_root()?;
    match run("down", opts, false)? {
        0 => Ok(()),
        code => bail!(tr!("lab.failed", action = "down", code = code)),
    }
}

pub fn status(opts: &LabOptions) -> Result<bool> {
    Ok(run("status", opts, false)? == 0)
}
