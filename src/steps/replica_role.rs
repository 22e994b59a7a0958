//! Step 3: the replication role on the primary, LOGIN REPLICATION with the password.

use async_trait::async_trait;

use super::password::{matches, verifier_for};
use super::undo::{remember, remembered, Undo};
use crate::engine::{Cmd, Cx, Role, Step, StepError, StepId, StepResult, UndoRecord};
use crate::quote::{sh, sql_ident, sql_literal};
use crate::secret::MASK;
use crate::tr;

pub struct ReplicaRole;

struct Existing {
    login: bool,
    replication: bool,
    superuser: bool,
    verifier: Option<String>,
}

/// The role as it is now. The password hash is read quietly: it stays out of every pane.
async fn existing(cx: &Cx, role: &str) -> StepResult<Option<Existing>> {
    let sql = format!(
        "SELECT rolcanlogin, rolreplication, coalesce(rolpassword, ''), rolsuper FROM pg_authid WHERE rolname = {};",
        sql_literal(role)
    );
    let psql = cx.layout(Role::Primary)?.psql();
    let done = cx
        .must(Role::Primary, Cmd::sql(psql, &sql).quiet().reads())
        .await?;
    Ok(super::rows(&done.stdout).first().map(|r| Existing {
        login: r.first().map(|v| v == "t").unwrap_or(false),
        replication: r.get(1).map(|v| v == "t").unwrap_or(false),
        verifier: r.get(2).filter(|v| !v.is_empty()).cloned(),
        superuser: r.get(3).map(|v| v == "t").unwrap_or(false),
    }))
}

/// Someone else's role is not taken over: never a superuser (its password would land in
/// the standby's password file), and one without REPLICATION only when the user says so.
fn refuse_a_takeover(cx: &Cx, role: &str, e: &Existing) -> StepResult<()> {
    if e.superuser {
        return Err(
            StepError::new(tr!("error.role_superuser", role = role)).hint(tr!("hint.role_taken"))
        );
    }
    if !e.replication && !cx.setup.allow.adopt_role {
        return Err(
            StepError::new(tr!("error.role_exists", role = role)).hint(tr!("hint.role_adopt"))
        );
    }
    Ok(())
}

fn statement(verb: &str, role: &str, password: &str) -> String {
    format!(
        "{verb} ROLE {} WITH LOGIN REPLICATION PASSWORD {};",
        sql_ident(role),
        sql_literal(password)
    )
}

/// SQL that puts a pre-existing role's flags and password hash back; kept on the host in a
/// 0600 file, never in the journal.
pub fn role_restore_sql(
    name: &str,
    login: bool,
    replication: bool,
    verifier: Option<&str>,
) -> String {
    let mut sql = format!(
        "ALTER ROLE {} WITH {} {}",
        sql_ident(name),
        if login { "LOGIN" } else { "NOLOGIN" },
        if replication {
            "REPLICATION"
        } else {
            "NOREPLICATION"
        }
    );
    match verifier {
        Some(v) => sql.push_str(&format!(" PASSWORD {};\n", sql_literal(v))),
        None => sql.push_str(" PASSWORD NULL;\n"),
    }
    sql
}

/// The superuser the tutorial gives a password too (`[postgres] set_postgres_password`).
const SUPERUSER: &str = "postgres";

fn postgres_password(cx: &Cx) -> StepResult<&crate::secret::Secret> {
    static STAND_IN: std::sync::OnceLock<crate::secret::Secret> = std::sync::OnceLock::new();
    match &cx.setup.postgres_password {
        Some(p) => Ok(p),
        // A plan may have none yet: it never shows one anyway.
        None if cx.is_dry() => Ok(STAND_IN.get_or_init(|| crate::secret::Secret::new(MASK))),
        None => Err(StepError::new(tr!("error.no_postgres_password"))
            .hint(tr!("hint.no_postgres_password"))),
    }
}

/// Whether the `postgres` role already has the password asked for.
async fn postgres_password_set(cx: &Cx) -> StepResult<bool> {
    let password = postgres_password(cx)?;
    Ok(existing(cx, SUPERUSER)
        .await?
        .and_then(|e| e.verifier)
        .is_some_and(|v| matches(&v, SUPERUSER, password.expose())))
}

/// The tutorial's own step: the `postgres` role gets a password, as a verifier computed
/// here. What it had before is kept in a root-only file on the primary for rollback.
async fn set_postgres_password(cx: &Cx) -> StepResult<()> {
    let password = postgres_password(cx)?.clone();
    let Some(before) = existing(cx, SUPERUSER).await? else {
        return Err(StepError::new(tr!("error.no_postgres_role")));
    };
    if before
        .verifier
        .as_deref()
        .is_some_and(|v| matches(v, SUPERUSER, password.expose()))
    {
        return Ok(());
    }
    save_role(cx, SUPERUSER, &before).await?;
    let l = cx.layout(Role::Primary)?;
    let secret_value = verifier_for(l.version, SUPERUSER, password.expose())
        .unwrap_or_else(|| password.expose().to_string());
    let alter = |value: &str| {
        format!(
            "ALTER ROLE {} PASSWORD {};",
            sql_ident(SUPERUSER),
            sql_literal(value)
        )
    };
    let sql = alter(&secret_value);
    cx.change(Role::Primary, Cmd::sql(l.psql(), &sql).masked(alter(MASK)))
        .await?;
    Ok(())
}

/// Keeps what `name` was (flags and password hash) in a root-only file on the primary, once
/// per run, so rollback can put it back. Never in the journal.
async fn save_role(cx: &Cx, name: &str, e: &Existing) -> StepResult<()> {
    let saved = format!(
        "{}/.pgrepl-{}-role-{}.sql",
        cx.layout(Role::Primary)?.postgres_home(),
        cx.journal_id(),
        name
    );
    if remembered(cx)
        .iter()
        .any(|u| matches!(u, Undo::RestoreRole { name: n, .. } if n == name))
    {
        return Ok(());
    }
    remember(
        cx,
        Undo::RestoreRole {
            name: name.to_string(),
            saved: saved.clone(),
        },
    )?;
    let sql = role_restore_sql(name, e.login, e.replication, e.verifier.as_deref());
    cx.change(
        Role::Primary,
        Cmd::new(super::files::write_private_script(&saved, true))
            .stdin(&sql)
            .quiet(),
    )
    .await?;
    Ok(())
}

/// A role whose password changes takes the standbys' stored password with it: said in the
/// preview, done by base-backup (its check fails until the stored one logs in).
fn say_the_password_changes(cx: &Cx, role: &str, e: &Existing) {
    let same = match (&e.verifier, &cx.password) {
        (Some(v), Some(p)) => matches(v, role, p.expose()),
        _ => false,
    };
    if e.verifier.is_some() && !same {
        cx.explain(Role::Primary, tr!("note.password_changes", role = role));
    }
}

#[async_trait]
impl Step for ReplicaRole {
    fn id(&self) -> StepId {
        StepId::ReplicaRole
    }

    async fn check(&self, cx: &Cx) -> StepResult<bool> {
        let password = super::password(cx)?;
        if cx.setup.set_postgres_password && !postgres_password_set(cx).await? {
            return Ok(false);
        }
        Ok(match existing(cx, &cx.setup.replication_user).await? {
            Some(e) => {
                !e.superuser
                    && e.login
                    && e.replication
                    && e.verifier
                        .as_deref()
                        .is_some_and(|v| matches(v, &cx.setup.replication_user, password.expose()))
            }
            None => false,
        })
    }

    async fn apply(&self, cx: &mut Cx) -> StepResult<()> {
        let role = cx.setup.replication_user.clone();
        let password = super::password(cx)?.clone();
        let version = cx.layout(Role::Primary)?.version;
        let psql = cx.layout(Role::Primary)?.psql();
        let before = existing(cx, &role).await?;
        let created_by_us = remembered(cx)
            .iter()
            .any(|u| matches!(u, Undo::DropRole { .. }));
        let verb = match (&before, created_by_us) {
            (None, _) => {
                remember(cx, Undo::DropRole { name: role.clone() })?;
                "CREATE"
            }
            (Some(e), true) => {
                say_the_password_changes(cx, &role, e);
                "ALTER"
            }
            (Some(e), false) => {
                say_the_password_changes(cx, &role, e);
                refuse_a_takeover(cx, &role, e)?;
                // Someone else's role: keep what it was in a root-only file on the host so
                // rollback can put its flags and password back. Never in the journal.
                save_role(cx, &role, e).await?;
                cx.note(Some(Role::Primary), tr!("note.role_existed", role = role));
                "ALTER"
            }
        };
        // The hash, not the password, goes to the server when we can compute it, so the
        // plain text cannot end up in the server's log.
        let secret_value = verifier_for(version, &role, password.expose())
            .unwrap_or_else(|| password.expose().to_string());
        let sql = statement(verb, &role, &secret_value);
        let shown = statement(verb, &role, MASK);
        cx.change(Role::Primary, Cmd::sql(psql, &sql).masked(shown))
            .await?;
        if cx.setup.set_postgres_password {
            set_postgres_password(cx).await?;
        }
        Ok(())
    }

    /// A role pgrepl created is dropped; one that existed gets its flags and password
    /// hash back from the root-only file saved before it was changed.
    async fn revert(&self, cx: &Cx, record: &UndoRecord) -> StepResult<()> {
        let psql = cx.layout(Role::Primary)?.psql();
        match Undo::parse(record)? {
            Undo::DropRole { name } => {
                let sql = format!("DROP ROLE IF EXISTS {};", sql_ident(&name));
                cx.change(Role::Primary, Cmd::sql(psql, &sql)).await?;
            }
            Undo::RestoreRole { name, saved } => {
                // Read as the file's directory's owner: root never follows a link there.
                let read = super::files::as_owner_beside(&saved, &format!("cat {}", sh(&saved)));
                let script = format!(
                    "if [ -f {s} ]; then ( {read} ) | {psql} && rm -f {s}; fi",
                    s = sh(&saved)
                );
                cx.change(Role::Primary, Cmd::new(script)).await?;
                cx.note(Some(Role::Primary), tr!("note.role_restored", role = name));
            }
            other => return super::undo::revert_common(cx, self.id(), &other).await,
        }
        Ok(())
    }
}
