//! Running shell scripts on a host and streaming their output line by line. This layer
//! knows nothing about PostgreSQL: it moves scripts, stdin bytes, lines and exit codes.

mod local;
mod ssh;

use std::fmt;
use std::sync::Arc;
use std::time::Duration;

use async_trait::async_trait;
use serde::{Deserialize, Serialize};
use tokio::io::{AsyncBufReadExt, AsyncRead, BufReader};

pub use local::Local;
pub use ssh::{
    answer_askpass, host_key_report, shutdown, trust_host_key, HostKeyProblem, HostKeyReport,
    SshOptions, SshRemote,
};

use crate::quote::sh;
use crate::secret::Secret;

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub enum Stream {
    Stdout,
    Stderr,
}

/// Receives every line as it arrives.
pub trait LineSink: Send {
    fn line(&mut self, stream: Stream, text: &str);
}

impl<F: FnMut(Stream, &str) + Send> LineSink for F {
    fn line(&mut self, stream: Stream, text: &str) {
        self(stream, text)
    }
}

/// What a finished command left behind. Output is kept as well as streamed, since steps
/// parse it.
#[derive(Debug, Clone, Default)]
pub struct Finished {
    pub status: i32,
    pub stdout: String,
    pub stderr: String,
}

impl Finished {
    pub fn ok(&self) -> bool {
        self.status == 0
    }
}

#[derive(Debug)]
pub enum RemoteError {
    /// Could not reach the host or the connection dropped.
    Connection(String),
    /// The command could not be started or its streams failed.
    Io(String),
}

impl fmt::Display for RemoteError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            RemoteError::Connection(s) | RemoteError::Io(s) => f.write_str(s),
        }
    }
}

impl std::error::Error for RemoteError {}

/// A transport that runs one shell command line and reports its lines and status.
#[async_trait]
pub trait Remote: Send + Sync {
    /// Runs `command_line` through the login user's shell, feeding `stdin` (then EOF).
    async fn exec(
        &self,
        command_line: &str,
        stdin: Option<&[u8]>,
        sink: &mut dyn LineSink,
    ) -> Result<Finished, RemoteError>;

    async fn close(&self) {}
}

/// Opens transports to hosts. The engine takes one, so tests can hand it scripted hosts.
#[async_trait]
pub trait Connector: Send + Sync {
    async fn connect(&self, opts: &SshOptions) -> Result<Arc<dyn Remote>, RemoteError>;
}

/// The system OpenSSH client ([`SshRemote`]).
pub struct SshConnector;

#[async_trait]
impl Connector for SshConnector {
    async fn connect(&self, opts: &SshOptions) -> Result<Arc<dyn Remote>, RemoteError> {
        Ok(Arc::new(SshRemote::connect(opts).await?))
    }
}

/// How scripts get root on the host.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub enum Privilege {
    Root,
    /// `sudo -n`: passwordless sudo, since no terminal is attached to ask for one.
    Sudo,
}

/// Marks the first stderr line of every script: the pid of its root shell, so a running
/// command can be killed from a second connection (closing the channel does not kill it).
pub const PID_MARKER: &str = "\u{1e}pgrepl-pid ";

/// Input for a script. Only [`Secret`]s and plain data go here; never on the command line,
/// where `ps` on the host would show it.
pub enum Input<'a> {
    None,
    Text(&'a str),
    Secret(&'a Secret),
}

/// A host to run root scripts on: a transport plus the way to become root.
#[derive(Clone)]
pub struct Host {
    remote: Arc<dyn Remote>,
    privilege: Privilege,
}

impl Host {
    pub fn new(remote: Arc<dyn Remote>, privilege: Privilege) -> Self {
        Host { remote, privilege }
    }

    pub fn privilege(&self) -> Privilege {
        self.privilege
    }

    pub fn set_privilege(&mut self, p: Privilege) {
        self.privilege = p;
    }

    /// Runs `script` as the login user, without any wrapping (used before we know how to
    /// become root).
    pub async fn run_plain(
        &self,
        script: &str,
        sink: &mut dyn LineSink,
    ) -> Result<Finished, RemoteError> {
        self.remote
            .exec(&format!("sh -c {}", sh(script)), None, sink)
            .await
    }

    /// Runs `script` as root with `/` as working directory, under `sh -e`-less semantics:
    /// scripts handle their own errors. The pid marker line is filtered out of the stream
    /// and reported through `on_pid`.
    pub async fn run_root(
        &self,
        script: &str,
        input: Input<'_>,
        sink: &mut dyn LineSink,
        on_pid: &mut (dyn FnMut(u32) + Send),
    ) -> Result<Finished, RemoteError> {
        let wrapped = format!("cd / || exit 1\nprintf '{PID_MARKER}%s\\n' $$ >&2\n{script}");
        let line = match self.privilege {
            Privilege::Root => format!("sh -c {}", sh(&wrapped)),
            Privilege::Sudo => format!("sudo -n sh -c {}", sh(&wrapped)),
        };
        let stdin = match input {
            Input::None => None,
            Input::Text(t) => Some(t.as_bytes()),
            Input::Secret(s) => Some(s.expose().as_bytes()),
        };
        let mut filter = |stream: Stream, text: &str| {
            if stream == Stream::Stderr {
                if let Some(pid) = text.strip_prefix(PID_MARKER) {
                    if let Ok(pid) = pid.trim().parse() {
                        on_pid(pid);
                    }
                    return;
                }
            }
            sink.line(stream, text);
        };
        let mut done = self.remote.exec(&line, stdin, &mut filter).await?;
        done.stderr = done
            .stderr
            .lines()
            .filter(|l| !l.starts_with(PID_MARKER))
            .map(|l| format!("{l}\n"))
            .collect();
        Ok(done)
    }

    /// Kills a script started by [`Host::run_root`] and every process below it. The whole
    /// tree is stopped first, so no shell in it can start its next command meanwhile (and
    /// pg_basebackup's WAL streamer cannot keep the channel open); then all get TERM and
    /// are continued to receive it. Hosts without pgrep are walked through /proc.
    pub async fn kill(&self, pid: u32) -> Result<(), RemoteError> {
        let script = format!(
            "children() {{\n  if command -v pgrep >/dev/null 2>&1; then pgrep -P \"$1\"; return; fi\n  \
             for s in /proc/[0-9]*/stat; do\n    f=$(sed 's/.*) //' \"$s\" 2>/dev/null) || continue\n    \
             set -- \"$1\" $f\n    [ \"$3\" = \"$1\" ] && {{ d=${{s#/proc/}}; echo \"${{d%/stat}}\"; }}\n  done\n}}\n\
             tree() {{ echo \"$1\"; for c in $(children \"$1\"); do tree \"$c\"; done; }}\n\
             kill -STOP {pid} 2>/dev/null\nall=$(tree {pid})\n\
             kill -STOP $all 2>/dev/null; kill -TERM $all 2>/dev/null; kill -CONT $all 2>/dev/null; true"
        );
        let mut ignore = |_: Stream, _: &str| {};
        self.run_root(&script, Input::None, &mut ignore, &mut |_| {})
            .await
            .map(|_| ())
    }

    pub async fn close(&self) {
        self.remote.close().await
    }
}

/// Writes `bytes` to a child's stdin and closes it, without blocking the output readers.
pub(crate) fn feed<W: tokio::io::AsyncWrite + Unpin + Send + 'static>(mut pipe: W, bytes: &[u8]) {
    use tokio::io::AsyncWriteExt;
    let bytes = bytes.to_vec();
    tokio::spawn(async move {
        let _ = pipe.write_all(&bytes).await;
        let _ = pipe.shutdown().await;
    });
}

/// Reads `reader` line by line into `sink`, also collecting it. Lines are split on `\n` and
/// `\r` so progress meters (`pg_basebackup -P`) arrive as they update.
pub(crate) async fn pump<R: AsyncRead + Unpin>(
    reader: R,
    stream: Stream,
    tx: tokio::sync::mpsc::UnboundedSender<(Stream, String)>,
) -> std::io::Result<()> {
    let mut reader = BufReader::new(reader);
    let mut buf = Vec::new();
    loop {
        buf.clear();
        let n = read_line_cr(&mut reader, &mut buf).await?;
        if n == 0 {
            return Ok(());
        }
        let text = String::from_utf8_lossy(&buf);
        let text = text.trim_end_matches(['\n', '\r']);
        let _ = tx.send((stream, text.to_string()));
    }
}

async fn read_line_cr<R: AsyncBufReadExt + Unpin>(
    r: &mut R,
    buf: &mut Vec<u8>,
) -> std::io::Result<usize> {
    let mut total = 0;
    loop {
        let available = r.fill_buf().await?;
        if available.is_empty() {
            return Ok(total);
        }
        if let Some(i) = available.iter().position(|&b| b == b'\n' || b == b'\r') {
            // "\r\n" is one line end; a lone "\r" (a progress meter redrawing) is one too.
            let end = if available[i] == b'\r' && available.get(i + 1) == Some(&b'\n') {
                i + 1
            } else {
                i
            };
            buf.extend_from_slice(&available[..=end]);
            r.consume(end + 1);
            return Ok(total + end + 1);
        }
        let n = available.len();
        buf.extend_from_slice(available);
        r.consume(n);
        total += n;
    }
}

/// Drives a spawned child's two output streams into `sink` while `wait` runs, and returns
/// the collected output with the status.
pub(crate) async fn collect<W>(
    stdout: Option<impl AsyncRead + Unpin + Send + 'static>,
    stderr: Option<impl AsyncRead + Unpin + Send + 'static>,
    wait: W,
    sink: &mut dyn LineSink,
) -> Result<Finished, RemoteError>
where
    W: std::future::Future<Output = Result<i32, RemoteError>>,
{
    let (tx, mut rx) = tokio::sync::mpsc::unbounded_channel();
    let mut readers = Vec::new();
    if let Some(out) = stdout {
        readers.push(tokio::spawn(pump(out, Stream::Stdout, tx.clone())));
    }
    if let Some(err) = stderr {
        readers.push(tokio::spawn(pump(err, Stream::Stderr, tx.clone())));
    }
    drop(tx);
    let mut done = Finished::default();
    while let Some((stream, text)) = rx.recv().await {
        let keep = match stream {
            Stream::Stdout => &mut done.stdout,
            Stream::Stderr => &mut done.stderr,
        };
        keep.push_str(&text);
        keep.push('\n');
        sink.line(stream, &text);
    }
    for r in readers {
        if let Ok(Err(e)) = r.await {
            return Err(RemoteError::Io(e.to_string()));
        }
    }
    // The exit status only after both streams reached their end: with a multiplexed SSH
    // connection, a finished wait drops the session, and output still in flight was lost.
    done.status = wait.await?;
    Ok(done)
}

/// Default time to wait for a TCP/SSH connection.
pub const CONNECT_TIMEOUT: Duration = Duration::from_secs(10);
