//! The SSH transport: the system OpenSSH client, one multiplexed master connection per
//! host, so `~/.ssh/config`, agents and jump hosts work as they do for the user.

use std::num::NonZeroUsize;
use std::os::unix::fs::DirBuilderExt;
use std::path::{Path, PathBuf};
use std::sync::{Arc, OnceLock, Weak};
use std::time::Duration;

use async_trait::async_trait;
use openssh::{ControlPersist, KnownHosts, Session, SessionBuilder, Stdio};

use super::{collect, Finished, LineSink, Remote, RemoteError};
use crate::secret::Secret;

#[derive(Debug, Clone, Default)]
pub struct SshOptions {
    pub host: String,
    pub user: String,
    pub port: u16,
    pub identity_file: Option<PathBuf>,
    pub known_hosts_file: Option<PathBuf>,
    pub config_file: Option<PathBuf>,
    /// Trust a host key seen for the first time (ssh's `accept-new`); otherwise unknown
    /// hosts are refused.
    pub accept_new_host_keys: bool,
    pub connect_timeout: Option<Duration>,
    /// Answers ssh's password and passphrase prompts (through pgrepl as its askpass
    /// helper); none: keys and agents only, never a prompt (BatchMode).
    pub password: Option<Secret>,
}

impl SshOptions {
    /// The master connection's `ssh` command line, as [`SshRemote::connect`] starts it
    /// (less its private control-socket and log paths): what the `hosts` step shows.
    pub fn master_command(&self) -> String {
        use crate::quote::sh;
        let mut c = format!(
            "ssh -M -f -N -o ControlPersist={IDLE_EXIT}s -o BatchMode=yes -o StrictHostKeyChecking={} -o ConnectTimeout={} -o ServerAliveInterval={} -p {} -l {}",
            if self.accept_new_host_keys { "accept-new" } else { "yes" },
            self.connect_timeout.unwrap_or(super::CONNECT_TIMEOUT).as_secs(),
            SERVER_ALIVE.as_secs(),
            self.port,
            sh(&self.user)
        );
        if let Some(k) = &self.identity_file {
            c.push_str(&format!(
                " -o IdentitiesOnly=yes -i {}",
                sh(&k.to_string_lossy())
            ));
        }
        if let Some(f) = &self.config_file {
            c.push_str(&format!(" -F {}", sh(&f.to_string_lossy())));
        }
        if let Some(k) = &self.known_hosts_file {
            c.push_str(&format!(
                " -o UserKnownHostsFile={}",
                sh(&k.to_string_lossy())
            ));
        }
        c.push(' ');
        c.push_str(&sh(&self.host));
        c
    }
}

const SERVER_ALIVE: Duration = Duration::from_secs(15);

pub struct SshRemote {
    session: Arc<Session>,
}

/// A master with no session for this long exits by itself, so one left behind by a killed
/// pgrepl does not live on; while pgrepl runs, [`HEARTBEAT`] keeps it from idling out.
const IDLE_EXIT: usize = 180;
const HEARTBEAT: Duration = Duration::from_secs(60);

impl SshRemote {
    pub async fn connect(opts: &SshOptions) -> Result<SshRemote, RemoteError> {
        if let Some(password) = &opts.password {
            let session = launch_with_askpass(opts, password).await?;
            let session = Arc::new(session);
            tokio::spawn(heartbeat(Arc::downgrade(&session)));
            return Ok(SshRemote { session });
        }
        let mut b = SessionBuilder::default();
        b.user(opts.user.clone())
            .port(opts.port)
            .known_hosts_check(if opts.accept_new_host_keys {
                KnownHosts::Add
            } else {
                KnownHosts::Strict
            })
            .connect_timeout(opts.connect_timeout.unwrap_or(super::CONNECT_TIMEOUT))
            .server_alive_interval(SERVER_ALIVE)
            .control_persist(ControlPersist::IdleFor(
                NonZeroUsize::new(IDLE_EXIT).unwrap_or(NonZeroUsize::MIN),
            ))
            // No clean_history_control_directory: with two connections starting at once,
            // one would delete the other's fresh control folder. This process's folder is
            // its own and goes at exit ([`shutdown`]).
            .control_directory(
                control_directory()
                    .map_err(|e| RemoteError::Connection(format!("control directory: {e}")))?,
            );
        if let Some(k) = &opts.identity_file {
            b.keyfile(k);
        }
        if let Some(k) = &opts.known_hosts_file {
            b.user_known_hosts_file(k);
        }
        if let Some(c) = &opts.config_file {
            b.config_file(c);
        }
        let session = b
            .connect_mux(&opts.host)
            .await
            .map_err(|e| RemoteError::Connection(describe(&e)))?;
        let session = Arc::new(session);
        tokio::spawn(heartbeat(Arc::downgrade(&session)));
        Ok(SshRemote { session })
    }
}

/// The environment variable that makes pgrepl answer as ssh's askpass helper: the path of
/// a 0600 file, in this process's private control folder, holding the answer.
pub const ASKPASS_ENV: &str = "PGREPL_ASKPASS_FILE";
/// `user@host` as ssh names the target in its password prompt, and whether a proxy (a jump
/// host, whose own prompts must never get the target's password) is in the way.
const ASKPASS_FOR_ENV: &str = "PGREPL_ASKPASS_FOR";
const ASKPASS_PROXY_ENV: &str = "PGREPL_ASKPASS_PROXY";

/// Removes the answer file however the launch ends.
struct AnswerFile(PathBuf);

impl Drop for AnswerFile {
    fn drop(&mut self) {
        let _ = std::fs::remove_file(&self.0);
    }
}

/// Starts the master connection itself, as openssh's builder would but without BatchMode,
/// with pgrepl as `SSH_ASKPASS` (forced, and with no terminal to fall back to). The answer
/// sits in a 0600 file only while ssh authenticates; it is never on a command line, and
/// the helper gives it only to a prompt for this target (see [`answer_askpass`]).
async fn launch_with_askpass(opts: &SshOptions, password: &Secret) -> Result<Session, RemoteError> {
    let fail = |what: &str, e: std::io::Error| RemoteError::Connection(format!("{what}: {e}"));
    let exe = std::env::current_exe().map_err(|e| fail("askpass", e))?;
    let target = resolve(opts).await;
    let base = control_directory().map_err(|e| fail("control directory", e))?;
    let dir = tempfile::Builder::new()
        .prefix(".ssh-connection")
        .tempdir_in(&base)
        .map_err(|e| fail("control directory", e))?;
    let (ctl, log) = (dir.path().join("master"), dir.path().join("log"));
    let answer = AnswerFile(dir.path().join("askpass"));
    {
        use std::io::Write;
        use std::os::unix::fs::OpenOptionsExt;
        let mut f = std::fs::OpenOptions::new()
            .write(true)
            .create_new(true)
            .mode(0o600)
            .open(&answer.0)
            .map_err(|e| fail("askpass", e))?;
        f.write_all(password.expose().as_bytes())
            .map_err(|e| fail("askpass", e))?;
    }
    let timeout = opts.connect_timeout.unwrap_or(super::CONNECT_TIMEOUT) + Duration::from_secs(30);
    let mut cmd = tokio::process::Command::new("ssh");
    cmd.stdin(std::process::Stdio::null())
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::null())
        .kill_on_drop(true)
        .arg("-E")
        .arg(&log)
        .arg("-S")
        .arg(&ctl)
        .args(["-M", "-f", "-N"])
        .arg("-o")
        .arg(format!("ControlPersist={IDLE_EXIT}s"))
        .arg("-o")
        .arg(format!(
            "StrictHostKeyChecking={}",
            if opts.accept_new_host_keys {
                "accept-new"
            } else {
                "yes"
            }
        ))
        .arg("-o")
        .arg(format!(
            "ConnectTimeout={}",
            opts.connect_timeout
                .unwrap_or(super::CONNECT_TIMEOUT)
                .as_secs()
        ))
        .arg("-o")
        .arg(format!("ServerAliveInterval={}", SERVER_ALIVE.as_secs()))
        .args(["-o", "NumberOfPasswordPrompts=1"])
        .arg("-p")
        .arg(opts.port.to_string())
        .arg("-l")
        .arg(&opts.user);
    if let Some(k) = &opts.identity_file {
        cmd.args(["-o", "IdentitiesOnly=yes", "-i"]).arg(k);
    }
    if let Some(c) = &opts.config_file {
        cmd.arg("-F").arg(c);
    }
    if let Some(k) = &opts.known_hosts_file {
        let mut o = std::ffi::OsString::from("UserKnownHostsFile=");
        o.push(k);
        cmd.arg("-o").arg(o);
    }
    cmd.arg(&opts.host)
        .env("SSH_ASKPASS", exe)
        .env("SSH_ASKPASS_REQUIRE", "force")
        .env(ASKPASS_ENV, &answer.0)
        .env(ASKPASS_FOR_ENV, format!("{}@{}", target.user, target.host))
        .env(ASKPASS_PROXY_ENV, if target.proxied { "yes" } else { "no" });
    // Before OpenSSH 8.4 SSH_ASKPASS_REQUIRE is unknown: with DISPLAY set and no terminal
    // to read from (its own session), ssh asks the helper all the same.
    if std::env::var_os("DISPLAY").is_none() {
        cmd.env("DISPLAY", "pgrepl");
    }
    // SAFETY: setsid() is async-signal-safe and touches nothing of the parent's.
    unsafe {
        cmd.pre_exec(|| {
            libc::setsid();
            Ok(())
        });
    }
    let status = tokio::time::timeout(timeout, cmd.status()).await;
    // ssh -f returns once authenticated: the answer is no longer needed.
    drop(answer);
    let status = match status {
        Ok(s) => s.map_err(|e| fail("ssh", e))?,
        Err(_) => {
            return Err(RemoteError::Connection(format!(
                "ssh did not connect within {} s",
                timeout.as_secs()
            )))
        }
    };
    if !status.success() {
        let said = std::fs::read_to_string(&log).unwrap_or_default();
        return Err(RemoteError::Connection(said.trim().to_string()));
    }
    // The master lives on in the folder; this process's shutdown removes it.
    let dir = dir.keep();
    Ok(Session::resume_mux(
        dir.join("master").into_boxed_path(),
        Some(dir.join("log").into_boxed_path()),
    ))
}

/// pgrepl started by ssh as its askpass helper: `Some(exit code)` (the caller exits with
/// it), `None` when pgrepl was not started so. The answer goes only to a prompt for this
/// target's password, or for a key's passphrase; a jump host's prompt, a yes/no question
/// or anything else gets nothing. The file must be a private one of this account's in a
/// pgrepl control folder: the variable alone never makes pgrepl print a file.
pub fn answer_askpass() -> Option<i32> {
    let path = PathBuf::from(std::env::var_os(ASKPASS_ENV)?);
    let prompt = std::env::args().nth(1).unwrap_or_default();
    let target = std::env::var(ASKPASS_FOR_ENV).unwrap_or_default();
    let proxied = std::env::var(ASKPASS_PROXY_ENV).map_or(true, |v| v != "no");
    if !prompt_wants_the_answer(&prompt, &target, proxied) {
        return Some(1);
    }
    let Some(answer) = read_answer(&path) else {
        return Some(1);
    };
    use std::io::Write;
    let mut out = std::io::stdout().lock();
    let written = out.write_all(&answer).and_then(|_| out.write_all(b"\n"));
    Some(if written.is_ok() { 0 } else { 1 })
}

fn prompt_wants_the_answer(prompt: &str, target: &str, proxied: bool) -> bool {
    let p = prompt.to_lowercase();
    if p.contains("passphrase") {
        return true;
    }
    if !p.contains("password") {
        return false;
    }
    // `user@host's password:`, for this target only; a bare `Password:` (PAM) only when
    // no jump host could be the one asking.
    (!target.is_empty() && p.contains(&format!("{}'s password", target.to_lowercase())))
        || (!proxied && p.trim() == "password:")
}

fn read_answer(path: &Path) -> Option<Vec<u8>> {
    use std::io::Read;
    use std::os::unix::fs::{MetadataExt, OpenOptionsExt};
    let folder = path.parent()?.parent()?;
    let in_ours = folder.parent() == Some(control_base().as_path())
        && folder
            .file_name()?
            .to_string_lossy()
            .starts_with("pgrepl-ssh-");
    if !in_ours {
        return None;
    }
    let mut f = std::fs::OpenOptions::new()
        .read(true)
        .custom_flags(libc::O_NOFOLLOW)
        .open(path)
        .ok()?;
    let m = f.metadata().ok()?;
    // SAFETY: geteuid has no preconditions.
    let me = unsafe { libc::geteuid() };
    if !m.is_file() || m.uid() != me || m.mode() & 0o077 != 0 {
        return None;
    }
    let mut answer = vec![];
    f.read_to_end(&mut answer).ok()?;
    Some(answer)
}

/// A trivial command now and then: a master counts as idle only while no session is open.
async fn heartbeat(session: Weak<Session>) {
    loop {
        tokio::time::sleep(HEARTBEAT).await;
        let Some(s) = session.upgrade() else { return };
        let _ = s.raw_command("true").status().await;
    }
}

/// Where this process's control folders go: `pgrepl-ssh-<pid>` in the runtime directory
/// (or the temp directory; Unix socket paths are limited to ~108 bytes, so somewhere
/// short). Folders of pgrepl processes that no longer run are cleared out first.
/// This process's control folder, once made.
static CONTROL_DIR: OnceLock<PathBuf> = OnceLock::new();

fn control_directory() -> std::io::Result<PathBuf> {
    if let Some(d) = CONTROL_DIR.get() {
        return Ok(d.clone());
    }
    let base = control_base();
    sweep(&base);
    let dir = base.join(format!("pgrepl-ssh-{}", std::process::id()));
    // Created here, or else ours and private: in a shared /tmp another account could have
    // made it first and would then see the control sockets.
    match std::fs::DirBuilder::new().mode(0o700).create(&dir) {
        Ok(()) => {}
        Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists => {
            use std::os::unix::fs::MetadataExt;
            let m = std::fs::symlink_metadata(&dir)?;
            // SAFETY: geteuid has no preconditions.
            let me = unsafe { libc::geteuid() };
            if !m.is_dir() || m.uid() != me || m.mode() & 0o077 != 0 {
                return Err(std::io::Error::other(format!(
                    "{} exists and is not a private directory of this user",
                    dir.display()
                )));
            }
        }
        Err(e) => return Err(e),
    }
    Ok(CONTROL_DIR.get_or_init(|| dir).clone())
}

fn control_base() -> PathBuf {
    std::env::var_os("XDG_RUNTIME_DIR")
        .map(PathBuf::from)
        .filter(|d| d.as_os_str().len() < 60 && d.is_dir())
        .unwrap_or_else(std::env::temp_dir)
}

/// Removes the control folders of pgrepl processes that are gone, stopping any master
/// still listening there.
fn sweep(base: &Path) {
    let Ok(entries) = std::fs::read_dir(base) else {
        return;
    };
    for e in entries.flatten() {
        let name = e.file_name().to_string_lossy().to_string();
        let Some(pid) = name.strip_prefix("pgrepl-ssh-") else {
            continue;
        };
        let alive = pid
            .parse::<u32>()
            .is_ok_and(|p| Path::new(&format!("/proc/{p}")).exists());
        if !alive {
            remove_control_dir(&e.path());
        }
    }
}

/// Asks every master under `dir` to exit, then removes the folder.
fn remove_control_dir(dir: &Path) {
    if let Ok(conns) = std::fs::read_dir(dir) {
        for c in conns.flatten() {
            let socket = c.path().join("master");
            if socket.exists() {
                let _ = std::process::Command::new("ssh")
                    .arg("-S")
                    .arg(&socket)
                    .args(["-O", "exit", "pgrepl-master"])
                    .stdin(std::process::Stdio::null())
                    .stdout(std::process::Stdio::null())
                    .stderr(std::process::Stdio::null())
                    .status();
            }
        }
    }
    let _ = std::fs::remove_dir_all(dir);
}

/// Stops this process's SSH masters and removes their control folders. For the end of
/// the program, which exits without running destructors.
pub fn shutdown() {
    if let Some(dir) = CONTROL_DIR.get() {
        remove_control_dir(dir);
    }
}

/// openssh wraps the interesting text (ssh's own stderr) a few sources deep.
fn describe(e: &openssh::Error) -> String {
    let mut text = e.to_string();
    let mut source = std::error::Error::source(e);
    while let Some(s) = source {
        text.push_str(": ");
        text.push_str(&s.to_string());
        source = s.source();
    }
    text
}

#[async_trait]
impl Remote for SshRemote {
    async fn exec(
        &self,
        command_line: &str,
        stdin: Option<&[u8]>,
        sink: &mut dyn LineSink,
    ) -> Result<Finished, RemoteError> {
        let mut cmd = self.session.raw_command(command_line);
        cmd.stdin(if stdin.is_some() {
            Stdio::piped()
        } else {
            Stdio::null()
        })
        .stdout(Stdio::piped())
        .stderr(Stdio::piped());
        let mut child = cmd.spawn().await.map_err(|e| classify(&e))?;
        if let (Some(bytes), Some(pipe)) = (stdin, child.stdin().take()) {
            super::feed(pipe, bytes);
        }
        let out = child.stdout().take();
        let err = child.stderr().take();
        let wait = async move {
            match child.wait().await {
                Ok(status) => Ok(status.code().unwrap_or(-1)),
                // The remote shell reports "command not found" (127) this way.
                Err(openssh::Error::Remote(e)) if e.kind() == std::io::ErrorKind::NotFound => {
                    Ok(127)
                }
                Err(openssh::Error::RemoteProcessTerminated) => Ok(255),
                Err(e) => Err(classify(&e)),
            }
        };
        collect(out, err, wait, sink).await
    }

    async fn close(&self) {
        // Session::close consumes the session; the master exits when the last handle
        // drops, or at the latest at [`shutdown`].
        let _ = self.session.check().await;
    }
}

fn classify(e: &openssh::Error) -> RemoteError {
    match e {
        openssh::Error::Connect(_) | openssh::Error::Master(_) | openssh::Error::Disconnected => {
            RemoteError::Connection(describe(e))
        }
        _ => RemoteError::Io(describe(e)),
    }
}

/// Why ssh refused a host's key, read from its error text.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum HostKeyProblem {
    /// Not in known_hosts and new keys are not accepted.
    Unknown,
    /// known_hosts holds another key for this host: possibly an attack, always a stop.
    Changed,
}

impl HostKeyProblem {
    pub fn from_error(text: &str) -> Option<HostKeyProblem> {
        if text.contains("IDENTIFICATION HAS CHANGED")
            || text.contains("key for") && text.contains("has changed")
        {
            Some(HostKeyProblem::Changed)
        } else if text.contains("Host key verification failed")
            || text.contains("host key is known")
        {
            Some(HostKeyProblem::Unknown)
        } else {
            None
        }
    }
}

/// `ssh -G` for `opts`: the options ssh will use, the user's config followed.
async fn ssh_g(opts: &SshOptions) -> String {
    let mut cmd = tokio::process::Command::new("ssh");
    if let Some(f) = &opts.config_file {
        cmd.arg("-F").arg(f);
    }
    let out = cmd
        .arg("-G")
        .arg("-p")
        .arg(opts.port.to_string())
        .arg("-l")
        .arg(&opts.user)
        .arg(&opts.host)
        .output()
        .await;
    out.map(|o| String::from_utf8_lossy(&o.stdout).to_string())
        .unwrap_or_default()
}

/// Where `opts` really leads, as `ssh -G` says (the user's config followed); what it does
/// not say stays as `opts` has it.
struct Resolved {
    user: String,
    host: String,
    port: u16,
    /// The known_hosts file ssh reads first.
    known_hosts: Option<PathBuf>,
    /// A proxy (a jump host) stands between: its prompts are not the target's, and a direct
    /// scan would ask another machine.
    proxied: bool,
}

async fn resolve(opts: &SshOptions) -> Resolved {
    let g = ssh_g(opts).await;
    let field = |name: &str| {
        g.lines()
            .find_map(|l| l.strip_prefix(name).map(|v| v.trim().to_string()))
    };
    Resolved {
        user: field("user ").unwrap_or_else(|| opts.user.clone()),
        host: field("hostname ").unwrap_or_else(|| opts.host.clone()),
        port: field("port ")
            .and_then(|p| p.parse().ok())
            .unwrap_or(opts.port),
        known_hosts: field("userknownhostsfile ")
            .and_then(|v| v.split_whitespace().next().map(PathBuf::from)),
        proxied: ["proxyjump ", "proxycommand "]
            .iter()
            .any(|k| field(k).is_some_and(|v| v != "none")),
    }
}

/// What a host shows as its key now, for the user to compare with the host's own before
/// trusting it.
#[derive(Debug, Clone, Default, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct HostKeyReport {
    /// `256 SHA256:… host (ED25519)`; none when the host cannot be asked directly (behind
    /// a jump host, say).
    pub fingerprints: Vec<String>,
    /// The `known_hosts` lines of exactly those keys: what trusting them appends.
    pub lines: Vec<String>,
    /// The file they go to.
    pub known_hosts: PathBuf,
    /// The `ssh-keyscan` command that adds them, for the user to run.
    pub add: String,
    /// `host:port` that was asked.
    #[serde(default)]
    pub scanned: String,
}

/// Appends the keys a report showed to its `known_hosts` file (created 0600): the keys
/// whose fingerprints the user saw, not a new scan.
pub fn trust_host_key(report: &HostKeyReport) -> std::io::Result<()> {
    use std::io::Write;
    use std::os::unix::fs::OpenOptionsExt;
    if let Some(dir) = report.known_hosts.parent() {
        std::fs::create_dir_all(dir)?;
    }
    let mut f = std::fs::OpenOptions::new()
        .append(true)
        .create(true)
        .mode(0o600)
        .open(&report.known_hosts)?;
    for l in &report.lines {
        writeln!(f, "{l}")?;
    }
    Ok(())
}

/// Asks the host for its keys now (`ssh-keyscan`, after `ssh -G` resolved the user's
/// config) and fingerprints them (`ssh-keygen -l`).
pub async fn host_key_report(opts: &SshOptions) -> HostKeyReport {
    let Resolved {
        host,
        port,
        known_hosts: known,
        proxied,
        ..
    } = resolve(opts).await;
    let home = std::env::var_os("HOME")
        .map(PathBuf::from)
        .unwrap_or_default();
    let known_hosts = opts
        .known_hosts_file
        .clone()
        .or(known)
        .map(|p| match p.strip_prefix("~") {
            Ok(rest) => home.join(rest),
            Err(_) => p,
        })
        .unwrap_or_else(|| home.join(".ssh/known_hosts"));
    let mut report = HostKeyReport {
        scanned: format!("{host}:{port}"),
        add: format!(
            "ssh-keyscan -p {port} {} >> {}",
            crate::quote::sh(&host),
            crate::quote::sh(&known_hosts.display().to_string())
        ),
        known_hosts,
        ..HostKeyReport::default()
    };
    // Behind a proxy a direct scan would ask another machine (or none): say the command,
    // offer nothing.
    if proxied {
        return report;
    }
    let scanned = tokio::process::Command::new("ssh-keyscan")
        .args(["-T", "5", "-p", &port.to_string(), &host])
        .stderr(std::process::Stdio::null())
        .output()
        .await;
    let Ok(scanned) = scanned else {
        return report;
    };
    report.lines = String::from_utf8_lossy(&scanned.stdout)
        .lines()
        .filter(|l| !l.starts_with('#') && !l.trim().is_empty())
        .map(str::to_string)
        .collect();
    let mut keygen = match tokio::process::Command::new("ssh-keygen")
        .args(["-l", "-f", "-"])
        .stdin(std::process::Stdio::piped())
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::null())
        .spawn()
    {
        Ok(c) => c,
        Err(_) => return report,
    };
    if let Some(mut stdin) = keygen.stdin.take() {
        use tokio::io::AsyncWriteExt;
        let _ = stdin.write_all(&scanned.stdout).await;
    }
    report.fingerprints = keygen
        .wait_with_output()
        .await
        .map(|o| {
            String::from_utf8_lossy(&o.stdout)
                .lines()
                .filter(|l| l.contains("SHA256:"))
                .map(str::to_string)
                .collect()
        })
        .unwrap_or_default();
    report
}

#[cfg(test)]
mod host_key_tests {
    use super::{prompt_wants_the_answer, read_answer, HostKeyProblem};

    #[test]
    fn the_password_goes_to_this_targets_prompt_only() {
        let me = "labadmin@10.0.1.11";
        assert!(prompt_wants_the_answer(
            "labadmin@10.0.1.11's password: ",
            me,
            true
        ));
        assert!(prompt_wants_the_answer(
            "Enter passphrase for key '/k': ",
            me,
            true
        ));
        // A jump host's own prompt, or a question, gets nothing.
        assert!(!prompt_wants_the_answer(
            "root@10.0.1.10's password: ",
            me,
            true
        ));
        assert!(!prompt_wants_the_answer(
            "Are you sure you want to continue connecting (yes/no/[fingerprint])? ",
            me,
            false
        ));
        // PAM's bare prompt only when no proxy could be the one asking.
        assert!(prompt_wants_the_answer("Password: ", me, false));
        assert!(!prompt_wants_the_answer("Password: ", me, true));
    }

    #[test]
    fn the_variable_alone_never_makes_pgrepl_print_a_file() {
        assert_eq!(read_answer(std::path::Path::new("/etc/hostname")), None);
        let dir = tempfile::tempdir().unwrap();
        let f = dir.path().join("askpass");
        std::fs::write(&f, "x").unwrap();
        assert_eq!(read_answer(&f), None, "not in a pgrepl control folder");
    }

    #[test]
    fn tells_an_unknown_key_from_a_changed_one() {
        let unknown = "No ED25519 host key is known for 10.0.1.11 and you have requested strict checking.\nHost key verification failed.";
        assert_eq!(
            HostKeyProblem::from_error(unknown),
            Some(HostKeyProblem::Unknown)
        );
        let changed = "@@@ WARNING: REMOTE HOST IDENTIFICATION HAS CHANGED! @@@\nHost key verification failed.";
        assert_eq!(
            HostKeyProblem::from_error(changed),
            Some(HostKeyProblem::Changed)
        );
        assert_eq!(HostKeyProblem::from_error("Connection refused"), None);
    }
}
