//! The SSH transport: the system OpenSSH client, one multiplexed master connection per
//! host, so `~/.ssh/config`, agents and jump hosts work as they do for the user.

use std::path::PathBuf;
use std::time::Duration;

use async_trait::async_trait;
use openssh::{KnownHosts, Session, SessionBuilder, Stdio};

use super::{collect, Finished, LineSink, Remote, RemoteError};

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
}

pub struct SshRemote {
    session: Session,
}

impl SshRemote {
    pub async fn connect(opts: &SshOptions) -> Result<SshRemote, RemoteError> {
        let mut b = SessionBuilder::default();
        b.user(opts.user.clone())
            .port(opts.port)
            .known_hosts_check(if opts.accept_new_host_keys {
                KnownHosts::Add
            } else {
                KnownHosts::Strict
            })
            .connect_timeout(opts.connect_timeout.unwrap_or(super::CONNECT_TIMEOUT))
            .server_alive_interval(Duration::from_secs(15))
            // No clean_history_control_directory: with two connections starting at once,
            // one would delete the other's fresh control folder.
            .control_directory(control_directory());
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
        Ok(SshRemote { session })
    }
}

/// Unix socket paths are limited to ~108 bytes, so the control sockets go somewhere short.
fn control_directory() -> PathBuf {
    let dir = std::env::var_os("XDG_RUNTIME_DIR")
        .map(PathBuf::from)
        .filter(|d| d.as_os_str().len() < 60 && d.is_dir())
        .unwrap_or_else(std::env::temp_dir);
    dir
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
        // Session::close consumes the session; the master exits when the control socket's
        // owner (this process) drops it, which happens when the engine drops the host.
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
