//! Step 4: let the standby in (pg_hba.conf) and make the primary a replication source
//! (postgresql.conf), then restart it.

use std::collections::HashMap;

use async_trait::async_trait;

use super::block::{self, Place};
use super::files;
use super::undo::Undo;
use crate::engine::{Cmd, Cx, Role, Step, StepError, StepId, StepResult, UndoRecord};
use crate::platform::{firewall, Layout};
use crate::quote::conf_value;
use crate::tr;

pub struct Whitelist;

pub const TAG: &str = "pgrepl";

/// The tutorial's primary settings; connection and sender counts never go below what the
/// primary already has.
const MIN_CONNECTIONS: u64 = 100;
/// Enough for every standby to stream and, at the same time, for each to take its base
/// backup (two senders with `-X stream`): see `engine::MAX_STANDBYS`.
const MIN_WAL_SENDERS: u64 = 10;

pub fn hba_block(cx: &Cx, l: &Layout) -> String {
    let method = cx
        .setup
        .hba_method
        .clone()
        .unwrap_or_else(|| l.version.hba_method().to_string());
    let (user, cidr) = (
        &cx.setup.replication_user,
        cx.setup.allowed_cidr.to_string(),
    );
    let mut lines = vec![format!(
        "host    replication     {user:<15} {cidr:<18} {method}"
    )];
    // The tutorial's line for every database and role: only when asked for, since for that
    // network it would admit what the DBA's own rules do not.
    if cx.setup.allow_all_databases {
        lines.push(format!(
            "host    all             all             {cidr:<18} {method}"
        ));
    }
    block::render(TAG, &lines)
}

/// A wide network needs the user's explicit yes (`--allow-wide-cidr`, or the wizard's).
pub fn refuse_a_wide_network(setup: &crate::config::Setup) -> StepResult<()> {
    if crate::config::is_wide(&setup.allowed_cidr) && !setup.allow.wide_cidr {
        return Err(
            StepError::new(tr!("error.wide_cidr", cidr = setup.allowed_cidr))
                .hint(tr!("hint.wide_cidr")),
        );
    }
    Ok(())
}

/// Reads pg_hba.conf as the server would (PG >= 10) before it is reloaded: a line it cannot
/// parse, or an earlier rule of the DBA's that rejects the standby's replication login
/// (pgrepl's line goes after them and never overrides them), stops the step before the
/// running server is touched.
async fn check_hba_with_the_server(cx: &Cx, l: &Layout) -> StepResult<()> {
    if l.version.major < 10 || cx.is_dry() {
        return Ok(());
    }
    let rows = super::sql(
        cx,
        Role::Primary,
        "SELECT line_number, type, array_to_string(database, ','), array_to_string(user_name, ','), coalesce(address, ''), coalesce(netmask, ''), coalesce(auth_method, ''), coalesce(error, '') FROM pg_hba_file_rules ORDER BY line_number;",
    )
    .await?;
    let file = l.hba_file();
    if let Some(bad) = rows
        .iter()
        .find(|r| r.get(7).is_some_and(|e| !e.is_empty()))
    {
        return Err(StepError::new(tr!(
            "error.hba_invalid",
            path = file,
            line = bad.first().cloned().unwrap_or_default(),
            problem = bad.get(7).cloned().unwrap_or_default()
        ))
        .hint(tr!("hint.hba_invalid")));
    }
    let role = &cx.setup.replication_user;
    // Each standby on its own: the first rule that matches one may be an accept while a
    // later one rejects another.
    for s in cx.setup.standby_roles() {
        let standby = cx.facts(s)?.networks();
        let first = rows.iter().find(|r| {
            let field = |i: usize| r.get(i).map(String::as_str).unwrap_or_default();
            let host_rule = matches!(field(1), "host" | "hostssl" | "hostnossl");
            let for_replication = field(2).split(',').any(|d| d == "replication");
            let for_role = field(3)
                .split(',')
                .any(|u| u == "all" || u == role.as_str());
            host_rule && for_replication && for_role && matches_any(field(4), field(5), &standby)
        });
        if let Some(r) = first.filter(|r| r.get(6).map(String::as_str) == Some("reject")) {
            return Err(StepError::new(tr!(
                "error.hba_rejects_standby",
                path = file,
                line = r.first().cloned().unwrap_or_default()
            ))
            .hint(tr!("hint.hba_rejects_standby")));
        }
    }
    Ok(())
}

/// Whether an hba address (`all`, an address with its netmask) covers one of `hosts`.
fn matches_any(address: &str, netmask: &str, hosts: &[ipnet::IpNet]) -> bool {
    if address == "all" {
        return true;
    }
    let (Ok(addr), Ok(mask)) = (
        address.parse::<std::net::IpAddr>(),
        netmask.parse::<std::net::IpAddr>(),
    ) else {
        // samehost, samenet, a host name: cannot tell here; assume it may match.
        return !address.is_empty();
    };
    let Ok(net) = ipnet::IpNet::with_netmask(addr, mask) else {
        return true;
    };
    hosts.iter().any(|h| net.contains(&h.addr()))
}

/// What the primary listens on: what it listens on now plus the addresses the standbys
/// connect to (`needed`). A wildcard, or a list that has them, stays as it is: never `*` on
/// a server that listened on less.
fn listen_on(current: Option<&str>, needed: &[String]) -> String {
    let now = current.unwrap_or("localhost");
    let mut list: Vec<&str> = now
        .split(',')
        .map(str::trim)
        .filter(|a| !a.is_empty())
        .collect();
    if list.iter().any(|a| ["*", "0.0.0.0", "::"].contains(a)) {
        return conf_value(now);
    }
    if needed.iter().any(|n| n == "*") {
        return conf_value("*");
    }
    for n in needed {
        if !list.contains(&n.as_str()) {
            list.push(n);
        }
    }
    conf_value(&list.join(","))
}

/// A host firewall on the primary may drop the standbys' connections whatever pg_hba.conf
/// says: the rule that admits them is shown, not applied (the firewall is not pgrepl's).
async fn say_the_firewall_rule(cx: &Cx) -> StepResult<()> {
    let found = cx
        .run(Role::Primary, Cmd::read(firewall::PROBE).quiet())
        .await?;
    let (net, port) = (&cx.setup.allowed_cidr, cx.setup.pg_port);
    let (Some(open), Some(close)) = (
        firewall::allow_command(&found.stdout, net, port),
        firewall::close_command(&found.stdout, net, port),
    ) else {
        return Ok(());
    };
    if !cx.setup.allow.open_firewall {
        cx.explain(
            Role::Primary,
            tr!(
                "note.firewall",
                firewall = found.stdout.trim(),
                command = open
            ),
        );
        return Ok(());
    }
    super::undo::remember(
        cx,
        Undo::CloseFirewall {
            host: Role::Primary,
            command: close,
        },
    )?;
    cx.change(Role::Primary, Cmd::new(open)).await?;
    Ok(())
}

/// The primary's own addresses as each standby reaches it. One the primary does not have
/// (a NAT or floating address in the config) cannot be listened on: then `*`, as before.
fn addresses_for_standbys(cx: &Cx) -> StepResult<Vec<String>> {
    let own: Vec<String> = cx
        .facts(Role::Primary)?
        .networks()
        .iter()
        .map(|n| n.addr().to_string())
        .collect();
    let mut all: Vec<String> = vec![];
    for s in cx.setup.standby_roles() {
        let a = super::primary_address(cx, s)?;
        let a = if own.is_empty() || own.contains(&a) {
            a
        } else {
            "*".to_string()
        };
        if !all.contains(&a) {
            all.push(a);
        }
    }
    Ok(all)
}

/// The settings this step writes. `synchronous_commit` is not among them: the user's
/// choice (or the default, on) stays.
pub fn conf_settings(
    l: &Layout,
    current: &HashMap<String, String>,
    listen: &[String],
) -> Vec<(&'static str, String)> {
    let at_least = |name: &str, min: u64| {
        let now = current
            .get(name)
            .and_then(|v| v.parse::<u64>().ok())
            .unwrap_or(0);
        now.max(min).to_string()
    };
    let (keep_name, keep_min) = l.version.wal_keep();
    vec![
        (
            "listen_addresses",
            listen_on(current.get("listen_addresses").map(String::as_str), listen),
        ),
        // `logical` includes what a standby needs; lowering it would break logical slots.
        (
            "wal_level",
            if current.get("wal_level").map(String::as_str) == Some("logical") {
                "logical".to_string()
            } else {
                l.version.wal_level().to_string()
            },
        ),
        (
            "max_wal_senders",
            at_least("max_wal_senders", MIN_WAL_SENDERS),
        ),
        ("wal_sender_timeout", conf_value("60s")),
        // Base backups that start at the same moment can otherwise find the WAL they
        // need already recycled by each other's checkpoint; a standby that falls behind
        // briefly too.
        (keep_name, at_least(keep_name, keep_min)),
        (
            "max_connections",
            at_least("max_connections", MIN_CONNECTIONS),
        ),
    ]
}

pub fn conf_block(l: &Layout, current: &HashMap<String, String>, listen: &[String]) -> String {
    let lines: Vec<String> = conf_settings(l, current, listen)
        .into_iter()
        .map(|(k, v)| format!("{k} = {v}"))
        .collect();
    block::render(TAG, &lines)
}

/// Settings the server reads only at start: changing one needs a restart, the others a
/// reload.
const AT_START: [&str; 4] = [
    "listen_addresses",
    "wal_level",
    "max_wal_senders",
    "max_connections",
];

/// Whether the settings pgrepl wants differ from the running server's in one that is read
/// only at start.
fn needs_restart(l: &Layout, current: &HashMap<String, String>, listen: &[String]) -> bool {
    conf_settings(l, current, listen).iter().any(|(k, v)| {
        AT_START.contains(k) && current.get(*k).map(String::as_str) != Some(v.trim_matches('\''))
    })
}

/// Puts files back as they were before this run (not the oldest backup: an earlier,
/// working run's edits stay). Goes on past a failure and returns the first.
async fn put_back(cx: &Cx, before: &[(String, Option<String>, &str)]) -> StepResult<()> {
    let mut first = Ok(());
    for (path, old, mode) in before {
        let done = match old {
            Some(text) => {
                let backup = files::backup_path(cx, path);
                let script = files::write_script(path, &backup, "postgres:postgres", mode);
                cx.change(Role::Primary, Cmd::new(script).stdin(text)).await
            }
            None => {
                let script =
                    files::as_owner_beside(path, &format!("rm -f {}", crate::quote::sh(path)));
                cx.change(Role::Primary, Cmd::new(script)).await
            }
        };
        if let (Ok(()), Err(e)) = (&first, done) {
            first = Err(e);
        }
    }
    first
}

/// Restarts the primary; if it does not come back, puts the files back as they were before
/// this run, starts it again as it was, and fails with the log's last lines.
async fn restart_or_put_back(
    cx: &Cx,
    l: &Layout,
    before: &[(String, Option<String>, &str)],
) -> StepResult<()> {
    let err = match cx.change(Role::Primary, Cmd::new(l.restart())).await {
        Ok(_) => return Ok(()),
        Err(e) if e.aborted || e.lost_connection => return Err(e),
        Err(e) => e,
    };
    let log = cx
        .run(Role::Primary, Cmd::read(l.log_tail()).quiet())
        .await
        .map(|d| d.stdout)
        .unwrap_or_default();
    // Start it again whatever the put-back did: a primary left down is the worst outcome.
    let restored = put_back(cx, before).await;
    cx.change(Role::Primary, Cmd::new(l.start())).await?;
    restored?;
    Err(StepError::new(tr!(
        "error.restart_failed",
        problem = err.message,
        log = log.trim_end()
    ))
    .hint(tr!("hint.restart_failed")))
}

const WATCHED: [&str; 7] = [
    "listen_addresses",
    "wal_level",
    "max_wal_senders",
    "wal_sender_timeout",
    "wal_keep_size",
    "wal_keep_segments",
    "max_connections",
];

/// True when the running server already uses every value (no restart pending).
async fn effective(
    cx: &Cx,
    l: &Layout,
    current: &HashMap<String, String>,
    listen: &[String],
) -> StepResult<bool> {
    let rows = super::sql(
        cx,
        Role::Primary,
        "SELECT count(*) FROM pg_settings WHERE pending_restart;",
    )
    .await?;
    let pending = rows
        .first()
        .and_then(|r| r.first())
        .map(|v| v != "0")
        .unwrap_or(true);
    let wanted = conf_settings(l, current, listen);
    let live_ok = wanted.iter().all(|(k, v)| {
        let v = v.trim_matches('\'');
        current
            .get(*k)
            .is_some_and(|have| have == v || (*k == "wal_sender_timeout" && have == "60000"))
    });
    Ok(!pending && live_ok)
}

/// Whitelisting a network that holds none of a standby's addresses would restart the
/// primary for nothing and lock that standby out. (Hosts whose addresses are unknown pass.)
fn refuse_a_network_without_the_standby(cx: &Cx) -> StepResult<()> {
    for s in cx.setup.standby_roles() {
        refuse_a_network_without(cx, s)?;
    }
    Ok(())
}

fn refuse_a_network_without(cx: &Cx, s: Role) -> StepResult<()> {
    let standby = cx.facts(s)?;
    let cidr = cx.setup.allowed_cidr;
    if standby.is_in(&cidr) != Some(false) {
        return Ok(());
    }
    let network = standby
        .networks()
        .first()
        .map(|n| n.trunc().to_string())
        .unwrap_or_default();
    Err(StepError::new(tr!(
        "error.cidr_misses_standby",
        cidr = cidr,
        addresses = standby.addresses.join(", ")
    ))
    .hint(tr!("hint.cidr_misses_standby", network = network)))
}

#[async_trait]
impl Step for Whitelist {
    fn id(&self) -> StepId {
        StepId::Whitelist
    }

    async fn check(&self, cx: &Cx) -> StepResult<bool> {
        let l = cx.layout(Role::Primary)?;
        let current = super::settings(cx, Role::Primary, &WATCHED).await?;
        let hba = files::read(cx, Role::Primary, &l.hba_file())
            .await?
            .unwrap_or_default();
        let conf = files::read(cx, Role::Primary, &l.conf_file())
            .await?
            .unwrap_or_default();
        let listen = addresses_for_standbys(cx)?;
        Ok(
            block::find(&hba, TAG).as_deref() == Some(hba_block(cx, l).as_str())
                && block::find(&conf, TAG).as_deref()
                    == Some(conf_block(l, &current, &listen).as_str())
                && effective(cx, l, &current, &listen).await?,
        )
    }

    async fn apply(&self, cx: &mut Cx) -> StepResult<()> {
        refuse_a_wide_network(&cx.setup)?;
        refuse_a_network_without_the_standby(cx)?;
        let l = cx.layout(Role::Primary)?.clone();
        let was_running = cx.run(Role::Primary, Cmd::read(l.is_running())).await?.ok();
        super::undo::remember(
            cx,
            Undo::Service {
                host: Role::Primary,
                was_running,
            },
        )?;
        let current = super::settings(cx, Role::Primary, &WATCHED).await?;
        let listen = addresses_for_standbys(cx)?;
        say_the_firewall_rule(cx).await?;
        // Who a restart cuts off is said, and asked, before anything changes.
        let restart = was_running && needs_restart(&l, &current, &listen);
        // Rollback makes the restored files take effect the same way: a restart only if
        // this run restarted.
        super::undo::remember(
            cx,
            if restart || !was_running {
                Undo::Restart {
                    host: Role::Primary,
                }
            } else {
                Undo::Reload {
                    host: Role::Primary,
                }
            },
        )?;
        if restart {
            let sessions = super::client_sessions(cx, Role::Primary).await?;
            cx.explain(Role::Primary, tr!("note.restart_cuts", sessions = sessions));
            if sessions > 0 && !cx.setup.allow.restart {
                return Err(
                    StepError::new(tr!("error.restart_cuts", sessions = sessions))
                        .hint(tr!("hint.allow_restart")),
                );
            }
        } else if was_running {
            cx.explain(Role::Primary, tr!("note.reload_only"));
        }
        let hba_before = files::read(cx, Role::Primary, &l.hba_file()).await?;
        let hba = hba_before.clone().unwrap_or_default();
        let new_hba =
            block::put(&hba, TAG, &hba_block(cx, &l), Place::Bottom).map_err(StepError::new)?;
        files::write(
            cx,
            Role::Primary,
            &l.hba_file(),
            &new_hba,
            "postgres:postgres",
            "0640",
        )
        .await?;
        let conf_before = files::read(cx, Role::Primary, &l.conf_file()).await?;
        let conf = conf_before.clone().unwrap_or_default();
        let new_conf = block::put(
            &conf,
            TAG,
            &conf_block(&l, &current, &listen),
            Place::Bottom,
        )
        .map_err(StepError::new)?;
        files::write(
            cx,
            Role::Primary,
            &l.conf_file(),
            &new_conf,
            "postgres:postgres",
            "0644",
        )
        .await?;
        let before = [
            (l.hba_file(), hba_before, "0640"),
            (l.conf_file(), conf_before, "0644"),
        ];
        // A file the server would refuse is not left for the next reload to find.
        if let Err(e) = check_hba_with_the_server(cx, &l).await {
            put_back(cx, &before).await?;
            return Err(e);
        }
        if restart || !was_running {
            restart_or_put_back(cx, &l, &before).await?;
        } else {
            super::sql_write(cx, Role::Primary, "SELECT pg_reload_conf();").await?;
        }
        // ALTER SYSTEM settings win over postgresql.conf: say so rather than leave the user
        // wondering why a value did not take.
        let list = WATCHED
            .iter()
            .map(|n| crate::quote::sql_literal(n))
            .collect::<Vec<_>>()
            .join(", ");
        let rows = super::sql(cx, Role::Primary,
                &format!("SELECT name, sourcefile FROM pg_settings WHERE name IN ({list}) AND sourcefile LIKE '%postgresql.auto.conf';"),
            )
            .await?;
        for r in rows {
            cx.note(
                Some(Role::Primary),
                tr!(
                    "note.auto_conf_override",
                    setting = r.first().cloned().unwrap_or_default()
                ),
            );
        }
        let current = super::settings(cx, Role::Primary, &WATCHED).await?;
        if !effective(cx, &l, &current, &listen).await? {
            cx.note(Some(Role::Primary), tr!("note.settings_not_effective"));
        }
        Ok(())
    }

    async fn revert(&self, cx: &Cx, record: &UndoRecord) -> StepResult<()> {
        match Undo::parse(record)? {
            Undo::CloseFirewall { host, command } => {
                cx.change(host, Cmd::new(command)).await?;
                Ok(())
            }
            other => super::undo::revert_common(cx, self.id(), &other).await,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::platform::{HostFacts, OsFamily, PgVersion};

    fn layout(v: &str) -> Layout {
        let mut f = HostFacts::parse("");
        f.family = OsFamily::Debian;
        Layout::new(&f, PgVersion::parse(v).unwrap(), "main", 5432).unwrap()
    }

    #[test]
    fn settings_follow_the_version_and_never_lower_limits() {
        let mut now = HashMap::new();
        now.insert("max_connections".to_string(), "500".to_string());
        let b = conf_block(&layout("9.5"), &now, &["10.0.1.10".into()]);
        assert!(b.contains("wal_level = hot_standby"));
        assert!(b.contains("max_connections = 500"));
        assert!(b.contains("max_wal_senders = 10"));
        assert!(
            b.contains("listen_addresses = 'localhost,10.0.1.10'"),
            "{b}"
        );
        assert!(!b.contains("synchronous_commit"), "the user's choice stays");
        // An address the primary does not have cannot be listened on: everything, as before.
        assert_eq!(listen_on(Some("localhost"), &["*".into()]), "'*'");
        assert_eq!(listen_on(Some("*"), &["10.0.1.10".into()]), "'*'");
        assert_eq!(
            listen_on(Some("localhost,10.0.1.10"), &["10.0.1.10".into()]),
            "'localhost,10.0.1.10'"
        );
        assert!(b.contains("wal_keep_segments = 16"), "{b}");
        now.insert("wal_keep_size".to_string(), "1024".to_string());
        let b = conf_block(&layout("16"), &now, &[]);
        assert!(
            b.contains("wal_keep_size = 1024"),
            "a larger choice stays: {b}"
        );
        now.insert("wal_level".to_string(), "logical".to_string());
        assert!(conf_block(&layout("16"), &now, &[]).contains("wal_level = logical"));
        let b = conf_block(&layout("16"), &HashMap::new(), &[]);
        assert!(b.contains("wal_level = replica") && b.contains("max_connections = 100"));
    }
}
