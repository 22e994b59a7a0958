//! The six steps, one module each, plus what several of them share.

pub mod block;
mod files;
pub mod password;
pub mod undo;

mod base_backup;
pub mod host_lock;
mod hosts;
mod install;
mod replica_role;
mod verify;
mod whitelist;

mod previews;

pub use base_backup::BaseBackup;
pub use hosts::Hosts;
pub use install::Install;
pub use replica_role::ReplicaRole;
pub use verify::Verify;
pub use whitelist::{refuse_a_wide_network, Whitelist};

use crate::engine::{Cmd, Cx, Role, Step, StepError, StepResult};
use crate::tr;

/// What a command does with the hosts. One that may change them holds them (a lock on
/// each, [`host_lock`]) from `hosts` until the engine closes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Access {
    Change,
    Look,
}

pub fn all(access: Access) -> Vec<Box<dyn Step>> {
    let hosts = match access {
        Access::Change => Hosts::changing(),
        Access::Look => Hosts::looking(),
    };
    vec![
        Box::new(hosts),
        Box::new(Install),
        Box::new(ReplicaRole),
        Box::new(Whitelist),
        Box::new(BaseBackup),
        Box::new(Verify),
    ]
}

/// The address `standby` uses to reach the primary's PostgreSQL. The configured host may
/// be an ssh alias that only this machine knows, so prefer a real address of the primary:
/// the configured one if it is an address, else one on the standby's network.
pub fn primary_address(cx: &Cx, standby: Role) -> StepResult<String> {
    let configured = &cx.setup.primary.host;
    if configured.parse::<std::net::IpAddr>().is_ok() {
        return Ok(configured.clone());
    }
    let primary = cx.facts(Role::Primary)?;
    let nets = cx.facts(standby)?.networks();
    let addrs = primary.networks();
    addrs
        .iter()
        .find(|a| nets.iter().any(|n| n.contains(&a.addr())))
        .or(addrs.first())
        .map(|a| a.addr().to_string())
        .ok_or_else(|| StepError::new(tr!("error.no_primary_address", host = configured)))
}

/// A name for `standby` in `pg_stat_replication` (application_name): letters, digits, `_`.
/// Standbys whose host names read the same get their role added, so each has its own.
pub fn application_name(cx: &Cx, standby: Role) -> String {
    let clean = |r: Role| -> String {
        let host = cx.facts(r).map(|f| f.hostname.clone()).unwrap_or_default();
        host.chars()
            .map(|c| if c.is_ascii_alphanumeric() { c } else { '_' })
            .take(60)
            .collect()
    };
    let mine = clean(standby);
    if mine.is_empty() {
        return format!("pgrepl_{}", standby.name());
    }
    let shared = cx
        .setup
        .standby_roles()
        .any(|other| other != standby && clean(other) == mine);
    if shared {
        // ASCII by now: any cut is a char boundary.
        format!("{}_{}", &mine[..mine.len().min(50)], standby.name())
    } else {
        mine
    }
}

/// The password the step needs; a clear error when there is none.
pub fn password(cx: &Cx) -> StepResult<&crate::secret::Secret> {
    // A dry run (a plan) may have no password yet: it never shows one anyway.
    static STAND_IN: std::sync::OnceLock<crate::secret::Secret> = std::sync::OnceLock::new();
    if cx.password.is_none() && cx.is_dry() {
        return Ok(STAND_IN.get_or_init(|| crate::secret::Secret::new(crate::secret::MASK)));
    }
    let p = cx
        .password
        .as_ref()
        .ok_or_else(|| StepError::new(tr!("error.no_password")).hint(tr!("hint.no_password")))?;
    match crate::config::password_problem(p.expose()) {
        Some(problem) => Err(StepError::new(problem).hint(tr!("hint.no_password"))),
        None => Ok(p),
    }
}

/// Settings read from `pg_settings` as name → value.
pub async fn settings(
    cx: &Cx,
    r: Role,
    names: &[&str],
) -> StepResult<std::collections::HashMap<String, String>> {
    let list = names
        .iter()
        .map(|n| crate::quote::sql_literal(n))
        .collect::<Vec<_>>()
        .join(", ");
    let rows = sql(
        cx,
        r,
        &format!("SELECT name, setting FROM pg_settings WHERE name IN ({list});"),
    )
    .await?;
    Ok(rows
        .into_iter()
        .filter_map(|r| Some((r.first()?.clone(), r.get(1)?.clone())))
        .collect())
}

/// The first few messages users meet, mapped to what fixes them. The `doctor` grows this.
pub fn hint_for(stderr: &str) -> Option<String> {
    let table: [(&str, &str); 8] = [
        ("password authentication failed", "hint.password_failed"),
        ("no pg_hba.conf entry", "hint.no_hba_entry"),
        ("Connection refused", "hint.connection_refused"),
        ("Unable to locate package", "hint.no_package"),
        ("No package", "hint.no_package"),
        ("sudo: a password is required", "hint.sudo_password"),
        (
            "is a lower setting than on the primary",
            "hint.lower_setting",
        ),
        ("could not connect to server", "hint.connection_refused"),
    ];
    table
        .iter()
        .find(|(needle, _)| stderr.contains(needle))
        .map(|(_, key)| tr!(key))
}

/// An engine with the six steps and the hints for their commands' errors: what the
/// wizard and the headless commands both run.
pub fn engine(
    setup: crate::config::Setup,
    password: Option<crate::secret::Secret>,
    events: crate::engine::Events,
    state_dir: &std::path::Path,
    access: Access,
) -> color_eyre::Result<crate::engine::Engine> {
    crate::engine::Engine::new(
        setup,
        password,
        events,
        state_dir,
        all(access),
        hint_for,
        std::sync::Arc::new(crate::remote::SshConnector),
    )
}

/// Runs a query (it only looks) as the superuser on the host's cluster; returns rows
/// split on `|`.
pub async fn sql(cx: &Cx, r: Role, sql: &str) -> StepResult<Vec<Vec<String>>> {
    let psql = cx.layout(r)?.psql();
    let done = cx.must(r, Cmd::sql(psql, sql).reads()).await?;
    Ok(rows(&done.stdout))
}

/// Client sessions on the host's server (walsenders and background workers aside): who a
/// restart or a stop would cut off.
pub async fn client_sessions(cx: &Cx, r: Role) -> StepResult<u64> {
    let filter = if cx.layout(r)?.version.major >= 10 {
        "backend_type = 'client backend'"
    } else {
        "datname IS NOT NULL"
    };
    let rows = sql(
        cx,
        r,
        &format!(
            "SELECT count(*) FROM pg_stat_activity WHERE {filter} AND pid <> pg_backend_pid();"
        ),
    )
    .await?;
    Ok(rows
        .first()
        .and_then(|r| r.first())
        .and_then(|v| v.parse().ok())
        .unwrap_or(0))
}

/// Runs SQL that writes (a dry run records it instead).
pub async fn sql_write(cx: &Cx, r: Role, sql: &str) -> StepResult<()> {
    let psql = cx.layout(r)?.psql();
    cx.must(r, Cmd::sql(psql, sql)).await?;
    Ok(())
}

/// psql's unaligned output (`-At`) as rows of fields.
pub fn rows(stdout: &str) -> Vec<Vec<String>> {
    stdout
        .lines()
        .filter(|l| !l.is_empty())
        .map(|l| l.split('|').map(str::to_string).collect())
        .collect()
}

pub use verify::replication_states;

/// The verification on its own, for `pgrepl verify`: one report per standby.
pub async fn verify_report(cx: &Cx) -> StepResult<Vec<crate::engine::VerifyReport>> {
    verify::verify(cx).await
}

/// Runs a step's script here with `sh` and asserts it succeeded (unit tests run the real
/// scripts on temporary directories).
#[cfg(test)]
fn run_ok(script: &str) {
    let out = std::process::Command::new("sh")
        .arg("-c")
        .arg(script)
        .output()
        .expect("sh runs");
    assert!(
        out.status.success(),
        "{script}\n{}",
        String::from_utf8_lossy(&out.stderr)
    );
}

#[cfg(test)]
mod tests {
    #[test]
    fn splits_psql_rows() {
        assert_eq!(
            super::rows("a|b\n\nc|d\n"),
            vec![vec!["a", "b"], vec!["c", "d"]]
        );
    }
}
