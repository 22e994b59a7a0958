//! Step 6: the tutorial's checks, plus proof by data: a row written on the primary is read
//! back on the standby.

use std::time::{Duration, Instant};

use async_trait::async_trait;
use futures::future::join_all;

use super::undo::Undo;
use crate::engine::{
    Cmd, Cx, Event, Role, Step, StepError, StepId, StepResult, UndoRecord, VerifyReport,
};
use crate::tr;

pub struct Verify;

pub const CANARY_TABLE: &str = "pgrepl_canary";
/// How long streaming may take to show up after the standby starts.
const STREAMING_WAIT: Duration = Duration::from_secs(30);
const CANARY_WAIT: Duration = Duration::from_secs(30);

// Before PostgreSQL 10 the titles were "wal sender process" and "wal receiver process".
const WALSENDER: &str = "ps -eo args | grep -E '[w]al ?sender' || true";
const WALRECEIVER: &str = "ps -eo args | grep -E '[w]al ?receiver' || true";

/// The canary's statements, shared by the preview and the run so the preview is exact.
mod canary {
    use super::CANARY_TABLE;
    use crate::quote::sql_literal;

    pub fn exists() -> String {
        format!(
            "SELECT count(*) FROM pg_class WHERE relname = {};",
            sql_literal(CANARY_TABLE)
        )
    }
    pub fn create() -> String {
        format!("CREATE TABLE IF NOT EXISTS {CANARY_TABLE} (token text PRIMARY KEY, written_at timestamptz NOT NULL DEFAULT now());")
    }
    pub fn visible() -> String {
        format!(
            "SELECT to_regclass({}) IS NOT NULL;",
            sql_literal(CANARY_TABLE)
        )
    }
    pub fn insert(token: &str) -> String {
        format!(
            "INSERT INTO {CANARY_TABLE} (token) VALUES ({});",
            sql_literal(token)
        )
    }
    pub fn seen(token: &str) -> String {
        format!(
            "SELECT count(*) FROM {CANARY_TABLE} WHERE token = {};",
            sql_literal(token)
        )
    }
    pub fn delete(token: &str) -> String {
        format!(
            "DELETE FROM {CANARY_TABLE} WHERE token = {};",
            sql_literal(token)
        )
    }
}

fn replication_sql(cx: &Cx) -> StepResult<String> {
    let l = cx.layout(Role::Primary)?;
    let lag = if l.version.major >= 10 {
        "pg_wal_lsn_diff(sent_lsn, replay_lsn)"
    } else {
        "pg_xlog_location_diff(sent_location, replay_location)"
    };
    Ok(format!(
        "SELECT application_name, coalesce(host(client_addr), 'local'), state, sync_state, coalesce({lag}, 0)::bigint FROM pg_stat_replication;"
    ))
}

/// Polls until `probe` says yes or `limit` passes; readiness, not a fixed sleep.
async fn poll<F, Fut>(cx: &Cx, limit: Duration, mut probe: F) -> StepResult<bool>
where
    F: FnMut() -> Fut,
    Fut: std::future::Future<Output = StepResult<bool>>,
{
    let start = Instant::now();
    let mut pause = Duration::from_millis(20);
    loop {
        if probe().await? {
            return Ok(true);
        }
        // A dry run asks once: what it waits for was never written.
        if cx.is_dry() {
            return Ok(true);
        }
        if start.elapsed() > limit {
            return Ok(false);
        }
        tokio::time::sleep(pause).await;
        pause = (pause * 2).min(Duration::from_millis(500));
    }
}

#[async_trait]
impl Step for Verify {
    fn id(&self) -> StepId {
        StepId::Verify
    }

    async fn check(&self, _cx: &Cx) -> StepResult<bool> {
        Ok(false)
    }

    async fn apply(&self, cx: &mut Cx) -> StepResult<()> {
        let reports = verify(cx).await?;
        if cx.is_dry() {
            return Ok(());
        }
        for r in &reports {
            cx.events.send(Event::Verified(r.clone()));
            if r.passed {
                cx.note(
                    Some(r.host),
                    tr!("note.verified", ms = r.canary_ms.unwrap_or(0)),
                );
            }
        }
        let failed: Vec<&str> = reports
            .iter()
            .filter(|r| !r.passed)
            .map(|r| r.host.name())
            .collect();
        if failed.is_empty() {
            Ok(())
        } else {
            Err(
                StepError::new(tr!("error.verify_failed", hosts = failed.join(", ")))
                    .hint(tr!("hint.verify_failed")),
            )
        }
    }

    /// The canary table is the only thing verify adds.
    async fn revert(&self, cx: &Cx, record: &UndoRecord) -> StepResult<()> {
        match Undo::parse(record)? {
            Undo::DropTable { name } => {
                let sql = format!("DROP TABLE IF EXISTS {};", crate::quote::sql_ident(&name));
                let psql = cx.layout(Role::Primary)?.psql();
                cx.change(Role::Primary, Cmd::sql(psql, &sql)).await?;
                Ok(())
            }
            other => super::undo::revert_common(cx, self.id(), &other).await,
        }
    }
}

/// What the primary's `pg_stat_replication` says of each standby now (`streaming`,
/// `catchup`, ...; `None`: not connected), asked once, without waiting.
pub async fn replication_states(cx: &Cx) -> StepResult<Vec<(Role, Option<String>)>> {
    let rows = super::sql(cx, Role::Primary, &replication_sql(cx)?).await?;
    Ok(cx
        .setup
        .standby_roles()
        .map(|s| {
            let app = super::application_name(cx, s);
            let state = rows
                .iter()
                .find(|r| r.first() == Some(&app))
                .and_then(|r| r.get(2).cloned());
            (s, state)
        })
        .collect())
}

/// Every standby's checks, all at once, then a canary row for each one that streams.
pub async fn verify(cx: &Cx) -> StepResult<Vec<VerifyReport>> {
    let sql = replication_sql(cx)?;
    let checks = cx.setup.standby_roles().map(|s| streams(cx, s, &sql));
    let mut reports = join_all(checks)
        .await
        .into_iter()
        .collect::<StepResult<Vec<_>>>()?;
    let ready = |r: &VerifyReport| {
        cx.is_dry()
            || (r.replication_state.as_deref() == Some("streaming") && r.standby_in_recovery)
    };
    if reports.iter().any(ready) {
        let exists = super::sql(cx, Role::Primary, &canary::exists()).await?;
        if exists.first().and_then(|r| r.first()).map(String::as_str) == Some("0") {
            super::undo::remember(
                cx,
                Undo::DropTable {
                    name: CANARY_TABLE.to_string(),
                },
            )?;
        }
        super::sql_write(cx, Role::Primary, &canary::create()).await?;
        let trips = reports
            .iter()
            .filter(|r| ready(r))
            .map(|r| canary_trip(cx, r.host));
        let times = join_all(trips).await;
        for (r, ms) in reports.iter_mut().filter(|r| ready(r)).zip(times) {
            r.canary_ms = ms?;
        }
    }
    for r in &mut reports {
        r.passed = r.replication_state.as_deref() == Some("streaming")
            && r.walsender
            && r.walreceiver
            && r.standby_in_recovery
            && r.stored_login != Some(false)
            && r.canary_ms.is_some();
    }
    Ok(reports)
}

/// The tutorial's checks for one standby: it streams (pg_stat_replication on the primary,
/// waited for), a walsender serves it, its walreceiver runs, it is in recovery.
async fn streams(cx: &Cx, standby: Role, sql: &str) -> StepResult<VerifyReport> {
    let mut report = VerifyReport {
        host: standby,
        ..VerifyReport::default()
    };
    let started = Instant::now();
    let mut pause = Duration::from_millis(20);
    let app = super::application_name(cx, standby);
    let mut client = None;
    loop {
        let rows = super::sql(cx, Role::Primary, sql).await?;
        // The primary may feed other standbys too: look at this one.
        let ours = rows.iter().find(|r| r.first() == Some(&app));
        client = ours
            .and_then(|r| r.get(1).cloned())
            .filter(|c| c != "local")
            .or(client);
        report.replication_state = ours.and_then(|r| r.get(2).cloned());
        report.lag_bytes = ours.and_then(|r| r.get(4).and_then(|v| v.parse().ok()));
        // A dry run shows the checks once, as if they passed.
        if report.replication_state.as_deref() == Some("streaming")
            || cx.is_dry()
            || started.elapsed() > STREAMING_WAIT
        {
            break;
        }
        tokio::time::sleep(pause).await;
        pause = (pause * 2).min(Duration::from_millis(500));
    }
    let (sender, receiver) = tokio::join!(
        cx.run(Role::Primary, Cmd::read(WALSENDER)),
        cx.run(standby, Cmd::read(WALRECEIVER))
    );
    // The walsender's title names the address it serves: this standby's, when known.
    report.walsender = sender?.stdout.lines().any(|l| {
        client
            .as_deref()
            .map_or(true, |c| l.contains(&format!(" {c}(")))
    });
    report.walreceiver = !receiver?.stdout.trim().is_empty();
    let rec = super::sql(cx, standby, "SELECT pg_is_in_recovery();").await?;
    report.standby_in_recovery =
        rec.first().and_then(|r| r.first()).map(String::as_str) == Some("t");
    // The running walreceiver says nothing of its next connection (after a restart).
    report.stored_login = super::base_backup::stored_login(cx, standby).await?;
    Ok(report)
}

/// Writes a random row on the primary and times its arrival on `standby`; `None` when it
/// did not arrive in time.
async fn canary_trip(cx: &Cx, standby: Role) -> StepResult<Option<u64>> {
    // Wait for the table itself to reach the standby, so the timing below measures one
    // row's trip and no query fails on a missing table.
    let standby_psql = cx.layout(standby)?.psql();
    let visible = canary::visible();
    poll(cx, CANARY_WAIT, || async {
        let done = cx
            .run(standby, Cmd::sql(standby_psql.clone(), &visible).reads())
            .await?;
        Ok(done.ok() && done.stdout.trim() == "t")
    })
    .await?;
    let mut raw = [0u8; 8];
    getrandom::fill(&mut raw).map_err(|e| StepError::new(e.to_string()))?;
    let token = if cx.is_dry() {
        "<random>".to_string()
    } else {
        hex::encode(raw)
    };
    super::sql_write(cx, Role::Primary, &canary::insert(&token)).await?;
    let started = Instant::now();
    let probe = canary::seen(&token);
    let seen = poll(cx, CANARY_WAIT, || async {
        let done = cx
            .run(standby, Cmd::sql(standby_psql.clone(), &probe).reads())
            .await?;
        Ok(done.ok() && done.stdout.trim() == "1")
    })
    .await?;
    let ms = started.elapsed().as_millis() as u64;
    super::sql_write(cx, Role::Primary, &canary::delete(&token)).await?;
    Ok(seen.then_some(ms))
}
