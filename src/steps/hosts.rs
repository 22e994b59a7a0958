//! Step 1: reach both hosts and learn what they are. It changes nothing there but the lock
//! that keeps any other pgrepl off them while this one works ([`super::host_lock`]): the
//! step that connects is the one that knows every host and how to become root on it.

use async_trait::async_trait;
use futures::future::join_all;

use super::host_lock::{self, Holder};
use crate::engine::{Cmd, Cx, Event, Role, Step, StepError, StepId, StepResult, UndoRecord};
use crate::platform::{default_pg_version, probe_script, HostFacts, Layout, OsFamily, PgVersion};
use crate::remote::{host_key_report, Host, HostKeyProblem, Privilege, SshOptions, Stream};
use crate::tr;

/// The journal's memo of the PostgreSQL major this setup works with.
const VERSION_MEMO: &str = "pg_version";

pub struct Hosts {
    /// The lock this engine holds on every host; none for commands that only look.
    lock: Option<Holder>,
}

impl Hosts {
    /// For commands that may change the hosts: they are held until the engine closes.
    pub fn changing() -> Hosts {
        Hosts {
            lock: Some(Holder::this_run()),
        }
    }

    /// For commands that only look (`plan`, `status`, `verify`): another pgrepl changing
    /// the hosts meanwhile neither stops them nor is stopped by them.
    pub fn looking() -> Hosts {
        Hosts { lock: None }
    }

    /// As [`Hosts::changing`], holding the hosts as `holder` (tests: another machine).
    #[cfg(test)]
    pub fn held_as(holder: Holder) -> Hosts {
        Hosts { lock: Some(holder) }
    }
}

const PRIVILEGE_CHECK: &str = "id -u; if sudo -n true >/dev/null 2>&1; then echo sudo-ok; fi";

/// How each host is reached, from the setup.
fn ssh_options(cx: &Cx) -> Vec<SshOptions> {
    cx.setup
        .roles()
        .into_iter()
        .map(|r| (r, cx.setup.target(r)))
        .map(|(r, t)| SshOptions {
            host: t.host.clone(),
            user: t.user.clone(),
            port: t.port,
            identity_file: t.identity_file.clone(),
            known_hosts_file: cx.setup.ssh.known_hosts_file.clone(),
            config_file: cx.setup.ssh.config_file.clone(),
            accept_new_host_keys: cx.setup.ssh.accept_new_host_keys,
            connect_timeout: cx
                .setup
                .ssh
                .connect_timeout_secs
                .map(std::time::Duration::from_secs),
            password: cx
                .setup
                .ssh_passwords
                .get(&r)
                .or(cx.setup.ssh_password.as_ref())
                .cloned(),
        })
        .collect()
}

/// Why a host could not be reached, and what fixes it. A host key ssh refused is named as
/// such: an unknown one with the fingerprints the host shows now and the line that trusts
/// it (after comparing them with the host's own), a changed one as the stop it is.
async fn connect_error(cx: &Cx, r: Role, o: &SshOptions, problem: &str) -> StepError {
    let error = StepError::new(tr!("error.connect_host", host = r, problem = problem));
    match HostKeyProblem::from_error(problem) {
        Some(HostKeyProblem::Changed) => error.hint(tr!(
            "hint.host_key_changed",
            host = o.host,
            known_hosts = o
                .known_hosts_file
                .as_ref()
                .map(|p| p.display().to_string())
                .unwrap_or_else(|| "~/.ssh/known_hosts".into())
        )),
        Some(HostKeyProblem::Unknown) => {
            let report = host_key_report(o).await;
            let prints = if report.fingerprints.is_empty() {
                "-".to_string()
            } else {
                report.fingerprints.join("; ")
            };
            let add = report.add.clone();
            // Offered for trust only when every key scanned has its fingerprint shown.
            if !report.lines.is_empty() && report.fingerprints.len() == report.lines.len() {
                cx.events.send(Event::UnknownHostKey { host: r, report });
            }
            error.hint(tr!(
                "hint.host_key_unknown",
                fingerprints = prints,
                add = add
            ))
        }
        None => {
            if problem.contains("Permission denied") {
                cx.events.send(Event::KeysRefused { host: r });
            }
            error.hint(tr!("hint.ssh"))
        }
    }
}

/// Where a cluster exists, its own word on its files beats the platform's convention:
/// pgrepl never edits a file the server does not read. An hba file elsewhere is followed;
/// a data directory or main config file elsewhere is refused (not supported yet).
async fn ask_the_servers(cx: &mut Cx) -> StepResult<()> {
    const SQL: &str = "SELECT current_setting('config_file'), current_setting('hba_file'), current_setting('data_directory');";
    for r in cx.setup.roles() {
        let l = cx.layout(r)?.clone();
        let Some(c) = cx.facts(r)?.cluster(l.version, &l.cluster).cloned() else {
            continue;
        };
        refuse_other_path(r, "data_directory", &c.data_dir, &l.data_dir())?;
        if !c.running {
            continue;
        }
        let asked = cx.run(r, Cmd::sql(l.psql(), SQL).reads().quiet()).await?;
        // A server that does not answer the superuser here is reported by the step that
        // needs it; the convention stands until then.
        let Some(row) = super::rows(&asked.stdout)
            .into_iter()
            .next()
            .filter(|_| asked.ok())
        else {
            continue;
        };
        let field = |i: usize| row.get(i).cloned().unwrap_or_default();
        refuse_other_path(r, "config_file", &field(0), &l.conf_file())?;
        refuse_other_path(r, "data_directory", &field(2), &l.data_dir())?;
        let hba = field(1);
        // Root edits it: only a file among the cluster's own, never a path the postgres
        // account could point anywhere with ALTER SYSTEM.
        let among_ours = [l.conf_dir(), l.data_dir()]
            .iter()
            .any(|d| std::path::Path::new(&hba).parent() == Some(std::path::Path::new(d)));
        if !among_ours {
            refuse_other_path(r, "hba_file", &hba, &l.hba_file())?;
        }
        if !hba.is_empty() && !same_path(&hba, &l.hba_file()) {
            cx.note(Some(r), tr!("note.hba_elsewhere", path = hba));
            if let Some(layout) = cx.layouts.get_mut(r.index()) {
                layout.hba_path = Some(hba);
            }
        }
    }
    Ok(())
}

fn same_path(a: &str, b: &str) -> bool {
    a.trim_end_matches('/') == b.trim_end_matches('/')
}

fn refuse_other_path(r: Role, setting: &str, server: &str, expected: &str) -> StepResult<()> {
    if server.is_empty() || same_path(server, expected) {
        return Ok(());
    }
    Err(StepError::new(tr!(
        "error.server_path",
        host = r,
        setting = setting,
        server = server,
        expected = expected
    ))
    .hint(tr!("hint.server_path")))
}

#[async_trait]
impl Step for Hosts {
    fn id(&self) -> StepId {
        StepId::Hosts
    }

    /// `hosts` connects, so it cannot be dry-run: it shows the master connection each
    /// host gets (options included), then what it runs there: the lock it takes, and what
    /// only looks.
    fn preview(&self, cx: &Cx) -> Option<StepResult<Vec<(Role, String)>>> {
        let options = ssh_options(cx);
        let lock = self
            .lock
            .as_ref()
            .map(host_lock::preview)
            .unwrap_or_default();
        Some(Ok(cx
            .setup
            .roles()
            .into_iter()
            .flat_map(|r| {
                let mut shown = vec![
                    (r, options[r.index()].master_command()),
                    (r, PRIVILEGE_CHECK.to_string()),
                ];
                shown.extend(lock.iter().map(|l| (r, l.clone())));
                shown.push((r, probe_script().to_string()));
                shown
            })
            .collect()))
    }

    async fn check(&self, _cx: &Cx) -> StepResult<bool> {
        Ok(false)
    }

    async fn apply(&self, cx: &mut Cx) -> StepResult<()> {
        let options = ssh_options(cx);
        let roles = cx.setup.roles();
        for &r in &roles {
            cx.events.send(Event::CommandStarted {
                step: StepId::Hosts,
                host: r,
                command: options[r.index()].master_command(),
                read_only: true,
            });
        }
        // Every connection at once: each costs a TCP + SSH handshake.
        let connected = join_all(options.iter().map(|o| cx.connector.connect(o))).await;
        let mut hosts = vec![];
        let mut first_error = None;
        for ((&r, res), o) in roles.iter().zip(connected).zip(&options) {
            match res {
                Ok(remote) => hosts.push(Host::new(remote, Privilege::Root)),
                // Every host that failed is told about, so a view can ask each one's
                // password at once; the first error is the step's.
                Err(e) => {
                    let e = connect_error(cx, r, o, &e.to_string()).await;
                    first_error.get_or_insert(e);
                }
            }
        }
        if let Some(e) = first_error {
            return Err(e);
        }
        // Who are we there: root, or a user with passwordless sudo? Every host at once.
        let ask = |h: &Host| {
            let h = h.clone();
            async move {
                let mut ignore = |_: Stream, _: &str| {};
                h.run_plain(PRIVILEGE_CHECK, &mut ignore).await
            }
        };
        let answers = join_all(hosts.iter().map(ask)).await;
        for ((&r, host), out) in roles.iter().zip(hosts.iter_mut()).zip(answers) {
            let out = out?;
            let uid = out
                .stdout
                .lines()
                .next()
                .unwrap_or_default()
                .trim()
                .to_string();
            let privilege = if uid == "0" {
                Privilege::Root
            } else if out.stdout.contains("sudo-ok") {
                Privilege::Sudo
            } else {
                return Err(
                    StepError::new(tr!("error.no_root", host = r)).hint(tr!("hint.sudo_password"))
                );
            };
            host.set_privilege(privilege);
            cx.note(
                Some(r),
                tr!(if privilege == Privilege::Root {
                    "note.as_root"
                } else {
                    "note.as_sudo"
                }),
            );
        }
        cx.hosts = hosts;
        // Before anything else runs there: a refused run has looked at nothing.
        if let Some(me) = &self.lock {
            host_lock::take_all(cx, me).await?;
        }
        let probes = join_all(
            roles
                .iter()
                .map(|&r| cx.must(r, Cmd::read(probe_script()).quiet())),
        )
        .await;
        let mut facts: Vec<HostFacts> = vec![];
        for probe in probes {
            let f = HostFacts::parse(&probe?.stdout);
            // Two names for one machine: its base backup would replace the primary's data.
            if let Some(twin) = facts.iter().find(|e| {
                e.hostname == f.hostname && e.machine_id == f.machine_id && !f.hostname.is_empty()
            }) {
                return Err(StepError::new(tr!(
                    "error.same_machine",
                    host = twin.hostname
                )));
            }
            facts.push(f);
        }
        // The major of the cluster already serving the configured port comes first: a
        // primary may have several majors installed.
        let on_port = |c: &&crate::platform::ClusterInfo| {
            c.port == cx.setup.pg_port && (c.name == cx.setup.cluster || c.name == "data")
        };
        let serving = facts[0]
            .clusters
            .iter()
            .filter(on_port)
            .max_by_key(|c| c.running)
            .map(|c| c.version);
        // A cluster on the port is the truth; else the major this setup was made with (a
        // rollback after another major was installed must use the recorded one's paths).
        let recorded = cx.memo(VERSION_MEMO).and_then(|v| PgVersion::parse(&v));
        let version = cx
            .setup
            .pg_version
            .or(serving)
            .or(recorded)
            .or_else(|| facts[0].installed.last().copied())
            .or_else(|| default_pg_version(&facts[0]))
            .ok_or_else(|| StepError::new(tr!("error.no_version")).hint(tr!("hint.set_version")))?;
        for (&r, f) in roles.iter().zip(&facts) {
            if let Some(c) = f.cluster(version, &cx.setup.cluster) {
                if c.port != cx.setup.pg_port {
                    return Err(StepError::new(tr!(
                        "error.port_mismatch",
                        host = r,
                        cluster = format!("{}/{}", c.version, c.name),
                        port = c.port,
                        configured = cx.setup.pg_port
                    ))
                    .hint(tr!("hint.port_mismatch", port = c.port)));
                }
            }
        }
        let mut layouts = vec![];
        for (&r, f) in roles.iter().zip(&facts) {
            let layout = Layout::new(f, version, &cx.setup.cluster, cx.setup.pg_port)
                .map_err(|e| StepError::new(format!("{r}: {e}")))?;
            layouts.push(layout);
            let os = match &f.family {
                OsFamily::Debian => "Debian",
                OsFamily::Rhel => "RHEL",
                OsFamily::Other(o) => o.as_str(),
            };
            let clusters: Vec<String> = f
                .clusters
                .iter()
                .map(|c| {
                    format!(
                        "{}/{} :{} {}",
                        c.version,
                        c.name,
                        c.port,
                        if c.running {
                            tr!("note.cluster_online")
                        } else {
                            tr!("note.cluster_down")
                        }
                    )
                })
                .collect();
            cx.note(
                Some(r),
                tr!(
                    "note.host_facts",
                    host = f.hostname,
                    os = format!("{os} {} ({})", f.os_version, f.os_id),
                    systemd = if f.systemd {
                        tr!("note.systemd")
                    } else {
                        tr!("note.no_systemd")
                    },
                    installed = f
                        .installed
                        .iter()
                        .map(|v| v.to_string())
                        .collect::<Vec<_>>()
                        .join(", "),
                    clusters = if clusters.is_empty() {
                        "-".to_string()
                    } else {
                        clusters.join(", ")
                    }
                ),
            );
        }
        // The whitelist must cover each standby's address as the primary will see it.
        for (&r, f) in roles.iter().zip(&facts).skip(1) {
            if f.is_in(&cx.setup.allowed_cidr) == Some(false) {
                cx.note(
                    Some(r),
                    tr!(
                        "note.cidr_misses_standby",
                        cidr = cx.setup.allowed_cidr,
                        addresses = f.addresses.join(", ")
                    ),
                );
            }
        }
        cx.note(None, tr!("note.version", version = version));
        // Kept once a cluster serves the port: a plan before anything exists must not pin
        // a guess.
        if serving == Some(version) {
            cx.set_memo(VERSION_MEMO, version.to_string())?;
        }
        cx.facts = facts;
        cx.layouts = layouts;
        cx.version = Some(version);
        ask_the_servers(cx).await
    }

    /// `hosts` records nothing to revert: its lock goes when the engine closes.
    async fn revert(&self, _cx: &Cx, _record: &UndoRecord) -> StepResult<()> {
        Ok(())
    }

    async fn release(&self, cx: &Cx) {
        if let Some(me) = &self.lock {
            host_lock::release_all(cx, me).await;
        }
    }
}
