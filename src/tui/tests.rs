//! Screens drawn from app state and actions alone (no engine, no network), compared with
//! the snapshots in `snapshots/`, plus the flows that tie keys to engine commands.

use std::path::PathBuf;
use std::time::Duration;

use ratatui::backend::TestBackend;
use ratatui::crossterm::event::{KeyCode, KeyEvent, KeyModifiers};
use ratatui::Terminal;

use super::app::{Action, App, Busy, Effect, Modal, Screen};
use super::engine_task::{Command, Preview, Reply};
use super::form::{Field, Form};
use super::theme::Theme;
use crate::engine::{Event, Finish, Journal, Role, StepId, StepState, VerifyReport};
use crate::remote::Stream;
use crate::secret::Secret;
use crate::steps::undo::Undo;

fn key(app: &mut App, code: KeyCode) {
    app.update(Action::Key(KeyEvent::new(code, KeyModifiers::NONE)));
}

fn chars(app: &mut App, s: &str) {
    for c in s.chars() {
        key(app, KeyCode::Char(c));
    }
}

fn screen(app: &App, w: u16, h: u16) -> TestBackend {
    let mut t = Terminal::new(TestBackend::new(w, h)).expect("test terminal");
    t.draw(|f| super::ui::draw(f, app)).expect("draws");
    t.backend().clone()
}

fn text(app: &App, w: u16, h: u16) -> String {
    screen(app, w, h).to_string()
}

fn new_app(form: Form) -> App {
    App::new(form, PathBuf::from("/var/lib/pgrepl-state"), Theme::plain())
}

fn sends(app: &mut App) -> Vec<Command> {
    app.take_effects()
        .into_iter()
        .filter_map(|e| match e {
            Effect::Send(c) => Some(c),
            _ => None,
        })
        .collect()
}

/// A wizard past the form, its engine "started" on a fresh journal.
fn started() -> App {
    let mut form = Form::new(None, None, Some(Secret::new("s3cr3t-pw")));
    form.set(Field::PrimaryHost, "10.0.1.10");
    form.set(Field::StandbyHost, "10.0.1.11");
    form.set(Field::Cidr, "10.0.1.0/24");
    form.focus = Field::Continue;
    let mut app = new_app(form);
    key(&mut app, KeyCode::Enter);
    let fx = app.take_effects();
    assert!(
        matches!(fx.as_slice(), [Effect::StartEngine { .. }]),
        "Enter on Continue starts the engine"
    );
    app.update(Action::EngineStarted(Journal::new(
        "root@10.0.1.10:22",
        "root@10.0.1.11:22",
    )));
    assert_eq!(app.screen, Screen::Steps);
    assert!(app.modal.is_none(), "a fresh journal has nothing to resume");
    app
}

fn event(app: &mut App, e: Event) {
    app.update(Action::Engine(e));
}

fn state(app: &mut App, step: StepId, state: StepState) {
    event(app, Event::State { step, state });
}

fn command(
    app: &mut App,
    step: StepId,
    host: Role,
    cmd: &str,
    out: &[(Stream, &str)],
    status: i32,
) {
    event(
        app,
        Event::CommandStarted {
            step,
            host,
            command: cmd.into(),
            read_only: false,
        },
    );
    for (stream, text) in out {
        event(
            app,
            Event::Line {
                step,
                host,
                stream: *stream,
                text: (*text).into(),
            },
        );
    }
    if status >= 0 {
        event(
            app,
            Event::CommandFinished {
                step,
                host,
                status,
                elapsed: Duration::from_millis(20),
            },
        );
    }
}

fn done_through(app: &mut App, last: StepId) {
    for id in StepId::ALL.into_iter().filter(|s| *s <= last) {
        state(app, id, StepState::Running);
        state(app, id, StepState::Done);
    }
}

fn replica_role_preview() -> Preview {
    Preview {
        step: StepId::ReplicaRole,
        what: crate::tr!("step.replica_role.what"),
        why: crate::tr!("step.replica_role.why"),
        commands: Ok(vec![(
            Role::Primary,
            "runuser -u postgres -- psql -X -q -At -p 5432 <<'SQL'\n\
             CREATE ROLE \"replica\" WITH LOGIN REPLICATION PASSWORD '****';\nSQL"
                .into(),
        )]),
    }
}

// ---- snapshots ----------------------------------------------------------------------

#[test]
fn empty_host_form() {
    let app = new_app(Form::new(None, None, None));
    insta::assert_snapshot!(screen(&app, 80, 24));
}

#[test]
fn form_with_validation_errors() {
    let mut app = new_app(Form::new(None, None, None));
    chars(&mut app, "db 1");
    app.form.focus = Field::StandbyPort;
    key(&mut app, KeyCode::Backspace);
    key(&mut app, KeyCode::Backspace);
    chars(&mut app, "70000");
    app.form.focus = Field::Password;
    chars(&mut app, "hunter2");
    key(&mut app, KeyCode::Tab);
    chars(&mut app, "hunter3");
    key(&mut app, KeyCode::Tab);
    chars(&mut app, "10.0.1.5/24");
    key(&mut app, KeyCode::Tab);
    key(&mut app, KeyCode::Enter);
    assert!(
        app.take_effects().is_empty(),
        "an invalid form does not start"
    );
    assert_eq!(
        app.form.focus,
        Field::PrimaryHost,
        "focus goes to the first problem"
    );
    let shot = screen(&app, 80, 24);
    let all = shot.to_string();
    assert!(!all.contains("hunter"), "a typed password never shows");
    insta::assert_snapshot!(shot);
}

#[test]
fn step_preview() {
    let mut app = started();
    done_through(&mut app, StepId::Install);
    app.update(Action::Reply(Reply::Connected {
        standby_addresses: vec!["10.0.1.11/24".into()],
    }));
    app.selected = StepId::ReplicaRole.index();
    key(&mut app, KeyCode::Enter);
    assert_eq!(sends(&mut app), vec![Command::Prepare(StepId::ReplicaRole)]);
    app.update(Action::Reply(Reply::Prepared(replica_role_preview())));
    assert!(matches!(app.modal, Some(Modal::Preview { .. })));
    insta::assert_snapshot!(screen(&app, 80, 24));
    key(&mut app, KeyCode::Char('y'));
    assert_eq!(sends(&mut app), vec![Command::Run(StepId::ReplicaRole)]);
}

#[test]
fn running_step_with_output() {
    let mut app = started();
    done_through(&mut app, StepId::Whitelist);
    app.busy = Some(Busy::Running(StepId::BaseBackup));
    state(&mut app, StepId::BaseBackup, StepState::Running);
    command(
        &mut app,
        StepId::BaseBackup,
        Role::Primary,
        "runuser -u postgres -- psql -X -q -At -p 5432 <<'SQL'\nSELECT setting FROM pg_settings WHERE name = 'max_connections';\nSQL",
        &[(Stream::Stdout, "100")],
        0,
    );
    command(
        &mut app,
        StepId::BaseBackup,
        Role::STANDBY,
        "pg_ctlcluster 15 main stop",
        &[],
        0,
    );
    command(
        &mut app,
        StepId::BaseBackup,
        Role::STANDBY,
        "runuser -u postgres -- pg_basebackup -h 10.0.1.10 -p 5432 -U replica -D /var/lib/postgresql/15/main -X stream -P -c fast -w",
        &[
            (Stream::Stderr, "waiting for checkpoint"),
            (Stream::Stderr, "11264/22990 kB (48%), 0/1 tablespace"),
        ],
        -1,
    );
    event(
        &mut app,
        Event::Progress {
            step: StepId::BaseBackup,
            host: Role::STANDBY,
            done_kb: 11264,
            total_kb: 22990,
        },
    );
    app.focus = Role::STANDBY;
    insta::assert_snapshot!(screen(&app, 140, 30));
}

#[test]
fn failed_step() {
    let mut app = started();
    done_through(&mut app, StepId::ReplicaRole);
    app.busy = Some(Busy::Running(StepId::Whitelist));
    state(&mut app, StepId::Whitelist, StepState::Running);
    command(
        &mut app,
        StepId::Whitelist,
        Role::Primary,
        "pg_ctlcluster 15 main restart",
        &[(
            Stream::Stderr,
            "Job for postgresql@15-main.service failed because the control process exited with error code.",
        )],
        1,
    );
    event(
        &mut app,
        Event::Failed {
            step: StepId::Whitelist,
            error: crate::tr!(
                "error.command_failed",
                host = "primary",
                command = "pg_ctlcluster 15 main restart",
                status = 1,
                stderr = "Job for postgresql@15-main.service failed"
            ),
            hint: Some(crate::tr!("hint.connection_refused")),
        },
    );
    state(&mut app, StepId::Whitelist, StepState::Failed);
    app.update(Action::Reply(Reply::Ran {
        step: StepId::Whitelist,
        outcome: Err("failed".into()),
    }));
    assert_eq!(app.selected_step(), StepId::Whitelist);
    insta::assert_snapshot!(screen(&app, 80, 24));
    key(&mut app, KeyCode::Char('r'));
    assert_eq!(sends(&mut app), vec![Command::Prepare(StepId::Whitelist)]);
}

#[test]
fn verification_card() {
    let mut app = started();
    done_through(&mut app, StepId::BaseBackup);
    app.busy = Some(Busy::Running(StepId::Verify));
    state(&mut app, StepId::Verify, StepState::Running);
    event(
        &mut app,
        Event::Verified(VerifyReport {
            host: Role::STANDBY,
            walsender: true,
            walreceiver: true,
            replication_state: Some("streaming".into()),
            standby_in_recovery: true,
            canary_ms: Some(18),
            lag_bytes: Some(0),
            stored_login: Some(true),
            passed: true,
            error: None,
        }),
    );
    state(&mut app, StepId::Verify, StepState::Done);
    app.update(Action::Reply(Reply::Ran {
        step: StepId::Verify,
        outcome: Ok(StepState::Done),
    }));
    assert!(matches!(app.modal, Some(Modal::Card)));
    insta::assert_snapshot!(screen(&app, 100, 30));
    key(&mut app, KeyCode::Char('q'));
    assert!(app.quit, "q on the card quits: nothing is running");
}

#[test]
fn help_overlay() {
    let mut app = started();
    key(&mut app, KeyCode::Char('?'));
    assert!(app.help);
    insta::assert_snapshot!(screen(&app, 80, 24));
    key(&mut app, KeyCode::Esc);
    assert!(!app.help);
}

#[test]
fn narrow_terminal() {
    let app = started();
    insta::assert_snapshot!(screen(&app, 79, 24));
}

// ---- flows --------------------------------------------------------------------------

#[test]
fn run_all_is_the_engines_sequencer_answered_preview_by_preview() {
    let mut app = started();
    key(&mut app, KeyCode::Char('A'));
    assert_eq!(
        sends(&mut app),
        vec![Command::Apply {
            from: StepId::Install,
            to: StepId::Verify
        }]
    );
    let preview = |step| Preview {
        step,
        what: String::new(),
        why: String::new(),
        commands: Ok(vec![(Role::Primary, "true".into())]),
    };
    // While the sequencer runs, no other step can be started.
    key(&mut app, KeyCode::Char('A'));
    key(&mut app, KeyCode::Enter);
    assert!(sends(&mut app).is_empty());
    app.update(Action::Reply(Reply::Prepared(preview(StepId::Hosts))));
    key(&mut app, KeyCode::Char('y'));
    assert_eq!(sends(&mut app), vec![Command::Answer(true)]);
    // The standby is outside the allowed network? No: 10.0.1.0/24 covers it, no offer.
    app.update(Action::Reply(Reply::Connected {
        standby_addresses: vec!["10.0.1.11/24".into()],
    }));
    state(&mut app, StepId::Hosts, StepState::Done);
    app.update(Action::Reply(Reply::Ran {
        step: StepId::Hosts,
        outcome: Ok(StepState::Done),
    }));
    assert!(sends(&mut app).is_empty(), "the engine goes on by itself");
    app.update(Action::Reply(Reply::Prepared(preview(StepId::Install))));
    // Enter does not confirm a preview: only y runs.
    key(&mut app, KeyCode::Enter);
    assert!(sends(&mut app).is_empty());
    key(&mut app, KeyCode::Char('y'));
    assert_eq!(sends(&mut app), vec![Command::Answer(true)]);
    state(&mut app, StepId::Install, StepState::Failed);
    app.update(Action::Reply(Reply::Ran {
        step: StepId::Install,
        outcome: Err("no".into()),
    }));
    app.update(Action::Reply(Reply::Applied(Finish::Failed(
        StepId::Install,
    ))));
    assert!(sends(&mut app).is_empty(), "a failure stops the run");
    assert!(!app.run_all && !app.applying && app.busy.is_none());
    // No at a preview stops the run before that step.
    key(&mut app, KeyCode::Char('A'));
    app.take_effects();
    app.update(Action::Reply(Reply::Prepared(preview(StepId::Install))));
    key(&mut app, KeyCode::Char('n'));
    assert_eq!(sends(&mut app), vec![Command::Answer(false)]);
    app.update(Action::Reply(Reply::Applied(Finish::Declined(
        StepId::Install,
    ))));
    assert!(!app.applying);
    assert!(text(&app, 100, 30).contains("Stopped before install"));
}

#[test]
fn the_network_offer_comes_before_the_next_preview_and_remakes_it() {
    let mut app = started();
    key(&mut app, KeyCode::Char('A'));
    app.take_effects();
    app.update(Action::Reply(Reply::Connected {
        standby_addresses: vec!["192.168.7.20/24".into()],
    }));
    app.update(Action::Reply(Reply::Ran {
        step: StepId::Hosts,
        outcome: Ok(StepState::Done),
    }));
    app.update(Action::Reply(Reply::Prepared(Preview {
        step: StepId::Install,
        what: String::new(),
        why: String::new(),
        commands: Ok(vec![]),
    })));
    match &app.modal {
        Some(Modal::Cidr { options, .. }) => assert_eq!(
            options.iter().map(|n| n.to_string()).collect::<Vec<_>>(),
            vec!["192.168.7.20/32", "192.168.7.0/24"]
        ),
        _ => panic!("expected the network offer"),
    }
    key(&mut app, KeyCode::Down);
    key(&mut app, KeyCode::Enter);
    // SetCidr answers the sequencer's question: it previews install again.
    assert_eq!(
        sends(&mut app),
        vec![Command::SetCidr("192.168.7.0/24".parse().expect("net"))]
    );
    assert!(app.modal.is_none(), "the old preview is not shown");
    assert_eq!(app.form.value(Field::Cidr), "192.168.7.0/24");
}

#[test]
fn rollback_says_what_it_undoes_and_asks() {
    let mut app = started();
    let mut j = Journal::new("root@10.0.1.10:22", "root@10.0.1.11:22");
    j.entry(StepId::Whitelist).state = StepState::Done;
    j.entry(StepId::Whitelist).undo.push(
        Undo::RestoreFile {
            host: Role::Primary,
            path: "/etc/postgresql/15/main/pg_hba.conf".into(),
            backup: "/etc/postgresql/15/main/pg_hba.conf.pgrepl".into(),
            sha256: "00".into(),
            written: String::new(),
        }
        .record(),
    );
    app.update(Action::Reply(Reply::Journal(j)));
    app.selected = StepId::Whitelist.index();
    key(&mut app, KeyCode::Char('u'));
    let shown = text(&app, 100, 30);
    assert!(
        shown.contains("restore /etc/postgresql/15/main/pg_hba.conf"),
        "{shown}"
    );
    key(&mut app, KeyCode::Char('n'));
    assert!(sends(&mut app).is_empty());
    key(&mut app, KeyCode::Char('u'));
    key(&mut app, KeyCode::Char('y'));
    assert_eq!(sends(&mut app), vec![Command::Rollback(StepId::Whitelist)]);
}

#[test]
fn quitting_while_a_step_runs_asks_and_aborts() {
    let mut app = started();
    app.selected = StepId::Install.index();
    key(&mut app, KeyCode::Enter);
    app.update(Action::Reply(Reply::Prepared(Preview {
        step: StepId::Install,
        what: String::new(),
        why: String::new(),
        commands: Ok(vec![]),
    })));
    key(&mut app, KeyCode::Char('y'));
    app.take_effects();
    key(&mut app, KeyCode::Char('q'));
    assert!(!app.quit);
    assert!(matches!(app.modal, Some(Modal::Confirm { .. })));
    key(&mut app, KeyCode::Char('y'));
    assert!(app.quit);
    let fx = app.take_effects();
    assert!(matches!(fx.as_slice(), [Effect::Abort, Effect::Quit]));
}

#[test]
fn pause_and_abort_reach_the_engine_control() {
    let mut app = started();
    app.busy = Some(Busy::Running(StepId::Install));
    state(&mut app, StepId::Install, StepState::Running);
    key(&mut app, KeyCode::Char('p'));
    assert_eq!(app.shown_state(StepId::Install), StepState::Paused);
    assert!(app
        .take_effects()
        .iter()
        .any(|e| matches!(e, Effect::SetPaused(true))));
    key(&mut app, KeyCode::Char('x'));
    key(&mut app, KeyCode::Char('y'));
    assert!(app
        .take_effects()
        .iter()
        .any(|e| matches!(e, Effect::Abort)));
}

#[test]
fn an_earlier_journal_offers_to_continue() {
    let mut form = Form::new(None, None, Some(Secret::new("pw")));
    form.set(Field::PrimaryHost, "a");
    form.set(Field::StandbyHost, "b");
    form.set(Field::Cidr, "10.0.0.0/8");
    form.focus = Field::Continue;
    let mut app = new_app(form);
    key(&mut app, KeyCode::Enter);
    app.take_effects();
    let mut j = Journal::new("root@a:22", "root@b:22");
    j.entry(StepId::Hosts).state = StepState::Done;
    j.entry(StepId::Install).state = StepState::Done;
    j.entry(StepId::ReplicaRole).state = StepState::Interrupted;
    app.update(Action::EngineStarted(j));
    assert_eq!(
        app.steps[StepId::ReplicaRole.index()].state,
        StepState::Interrupted
    );
    assert_eq!(app.selected_step(), StepId::ReplicaRole);
    let shown = text(&app, 80, 24);
    assert!(shown.contains("Continue from replica-role?"), "{shown}");
    key(&mut app, KeyCode::Char('y'));
    assert_eq!(
        sends(&mut app),
        vec![Command::Apply {
            from: StepId::Install,
            to: StepId::Verify
        }]
    );
}

#[test]
fn an_everyone_network_needs_a_yes() {
    let mut form = Form::new(None, None, Some(Secret::new("pw")));
    form.set(Field::PrimaryHost, "a");
    form.set(Field::StandbyHost, "b");
    form.set(Field::Cidr, "0.0.0.0/0");
    form.focus = Field::Continue;
    let mut app = new_app(form);
    key(&mut app, KeyCode::Enter);
    assert!(app.take_effects().is_empty());
    assert!(matches!(app.modal, Some(Modal::Confirm { .. })));
    key(&mut app, KeyCode::Enter);
    assert!(app.take_effects().is_empty(), "Enter means no");
    assert_eq!(app.form.focus, Field::Cidr);
    app.form.focus = Field::Continue;
    key(&mut app, KeyCode::Enter);
    key(&mut app, KeyCode::Char('y'));
    assert!(matches!(
        app.take_effects().as_slice(),
        [Effect::StartEngine { .. }]
    ));
}

#[test]
fn a_flood_of_lines_stays_bounded() {
    let mut app = started();
    for i in 0..(super::pane::PANE_LINES + 500) {
        event(
            &mut app,
            Event::Line {
                step: StepId::Install,
                host: Role::Primary,
                stream: Stream::Stdout,
                text: format!("line {i}"),
            },
        );
    }
    assert_eq!(app.panes[0].len(), super::pane::PANE_LINES);
    let shown = text(&app, 80, 24);
    assert!(shown.contains(&format!("line {}", super::pane::PANE_LINES + 499)));
}

#[test]
fn editing_the_setup_restarts_the_engine_only_when_needed() {
    let mut app = started();
    key(&mut app, KeyCode::Char('e'));
    assert_eq!(app.screen, Screen::Form);
    key(&mut app, KeyCode::Esc);
    assert_eq!(app.screen, Screen::Steps, "Esc goes back to the steps");
    assert!(!app.quit);

    // Only the network changes: the running engine takes it.
    key(&mut app, KeyCode::Char('e'));
    app.form.set(Field::Cidr, "10.0.1.11/32");
    app.form.focus = Field::Continue;
    key(&mut app, KeyCode::Enter);
    assert_eq!(
        sends(&mut app),
        vec![Command::SetCidr("10.0.1.11/32".parse().expect("net"))]
    );
    assert_eq!(app.screen, Screen::Steps);

    // Another host: a new engine (and journal).
    key(&mut app, KeyCode::Char('e'));
    app.form.set(Field::StandbyHost, "10.0.1.12");
    app.form.focus = Field::Continue;
    key(&mut app, KeyCode::Enter);
    assert!(matches!(
        app.take_effects().as_slice(),
        [Effect::StartEngine { setup, .. }] if setup.standbys[0].host == "10.0.1.12"
    ));
}

#[test]
fn an_engine_crash_or_a_signal_ends_the_wizard() {
    let mut app = started();
    app.update(Action::Reply(Reply::Crashed("boom".into())));
    assert!(app.quit);
    assert_eq!(app.crashed.as_deref(), Some("boom"));

    let mut app = started();
    app.busy = Some(Busy::Running(StepId::Install));
    app.update(Action::Terminate);
    assert!(app.quit);
    assert!(matches!(
        app.take_effects().as_slice(),
        [Effect::Abort, Effect::Quit]
    ));
}

#[test]
fn a_preview_made_before_a_new_network_is_made_again() {
    let mut app = started();
    app.selected = StepId::Whitelist.index();
    key(&mut app, KeyCode::Enter);
    app.take_effects();
    // The engine connected first (hosts), then previewed with the old network.
    app.update(Action::Reply(Reply::Connected {
        standby_addresses: vec!["192.168.7.20/24".into()],
    }));
    app.update(Action::Reply(Reply::Prepared(Preview {
        step: StepId::Whitelist,
        what: String::new(),
        why: String::new(),
        commands: Ok(vec![(
            Role::Primary,
            "host replication replica 10.0.1.0/24".into(),
        )]),
    })));
    assert!(matches!(app.modal, Some(Modal::Cidr { .. })));
    key(&mut app, KeyCode::Enter);
    assert_eq!(
        sends(&mut app),
        vec![
            Command::SetCidr("192.168.7.20/32".parse().expect("net")),
            Command::Prepare(StepId::Whitelist)
        ]
    );
}

/// A wizard started on a config with two standbys (the form edits the first; the second
/// comes from the file).
fn started_with_two_standbys() -> App {
    let config = crate::config::Config::parse(
        "[primary]\nhost = \"10.0.1.10\"\n[[standby]]\nhost = \"10.0.1.11\"\n\
         [[standby]]\nhost = \"10.0.1.12\"\n[postgres]\nallowed_cidr = \"10.0.1.0/24\"\n",
    )
    .expect("parses");
    let mut form = Form::new(Some(config), None, Some(Secret::new("s3cr3t-pw")));
    form.focus = Field::Continue;
    let mut app = new_app(form);
    key(&mut app, KeyCode::Enter);
    match app.take_effects().as_slice() {
        [Effect::StartEngine { setup, .. }] => assert_eq!(setup.standbys.len(), 2),
        other => panic!("expected the engine to start, got {} effects", other.len()),
    }
    app.update(Action::EngineStarted(Journal::new(
        "root@10.0.1.10:22",
        "root@10.0.1.11:22\nroot@10.0.1.12:22",
    )));
    app
}

#[test]
fn every_standby_has_its_pane_and_gauge() {
    let mut app = started_with_two_standbys();
    assert_eq!(app.panes.len(), 3);
    let mut seen = vec![app.focus];
    for _ in 0..3 {
        key(&mut app, KeyCode::Tab);
        seen.push(app.focus);
    }
    assert_eq!(
        seen,
        vec![
            Role::Primary,
            Role::STANDBY,
            Role::Standby(1),
            Role::Primary
        ]
    );
    key(&mut app, KeyCode::BackTab);
    assert_eq!(app.focus, Role::Standby(1));

    done_through(&mut app, StepId::Whitelist);
    app.busy = Some(Busy::Running(StepId::BaseBackup));
    state(&mut app, StepId::BaseBackup, StepState::Running);
    for (host, done) in [(Role::STANDBY, 5000), (Role::Standby(1), 15000)] {
        command(
            &mut app,
            StepId::BaseBackup,
            host,
            "pg_basebackup -h 10.0.1.10 -X stream -P",
            &[(Stream::Stderr, "waiting for checkpoint")],
            -1,
        );
        event(
            &mut app,
            Event::Progress {
                step: StepId::BaseBackup,
                host,
                done_kb: done,
                total_kb: 20000,
            },
        );
    }
    let shown = text(&app, 140, 30);
    assert!(shown.contains("standby 2 · 10.0.1.12"), "{shown}");
    assert!(shown.contains("standby2: pg_basebackup 14.6"), "{shown}");
    insta::assert_snapshot!(screen(&app, 140, 30));

    // A host the setup does not have changes nothing (and does not panic).
    command(&mut app, StepId::BaseBackup, Role::Standby(3), "x", &[], 0);
}

#[test]
fn an_unknown_host_key_is_offered_for_trust_after_the_step_ends() {
    let mut app = started();
    let report = crate::remote::HostKeyReport {
        fingerprints: vec!["256 SHA256:abc 10.0.1.11 (ED25519)".into()],
        lines: vec!["10.0.1.11 ssh-ed25519 AAAA".into()],
        known_hosts: PathBuf::from("/root/.ssh/known_hosts"),
        add: "ssh-keyscan -p 22 10.0.1.11 >> /root/.ssh/known_hosts".into(),
        scanned: "10.0.1.11:22".into(),
    };
    app.busy = Some(Busy::Running(StepId::Hosts));
    event(
        &mut app,
        Event::UnknownHostKey {
            host: Role::STANDBY,
            report: report.clone(),
        },
    );
    assert!(app.modal.is_none(), "not while the step still runs");
    app.update(Action::Reply(Reply::Ran {
        step: StepId::Hosts,
        outcome: Err("Host key verification failed.".into()),
    }));
    let shown = text(&app, 120, 30);
    assert!(
        shown.contains("SHA256:abc") && shown.contains("10.0.1.11:22"),
        "{shown}"
    );
    key(&mut app, KeyCode::Char('y'));
    match app.take_effects().as_slice() {
        [Effect::TrustHostKey(r)] => assert_eq!(r, &report),
        other => panic!(
            "expected the key to be trusted, got {} effects",
            other.len()
        ),
    }
    app.update(Action::KeyTrusted(Ok(())));
    assert!(
        sends(&mut app)
            .iter()
            .any(|c| matches!(c, Command::Prepare(_))),
        "connects again"
    );
}

#[test]
fn each_host_that_wants_a_password_gets_its_own_masked_field() {
    let mut app = started();
    app.busy = Some(Busy::Running(StepId::Hosts));
    for host in [Role::Primary, Role::STANDBY] {
        event(&mut app, Event::KeysRefused { host });
    }
    app.update(Action::Reply(Reply::Ran {
        step: StepId::Hosts,
        outcome: Err("failed".into()),
    }));
    assert!(matches!(
        app.modal,
        Some(Modal::SshPassword {
            host: Role::Primary,
            ..
        })
    ));
    chars(&mut app, "pa$$word");
    let shown = text(&app, 120, 30);
    assert!(
        shown.contains("••••••••") && !shown.contains("pa$$word"),
        "{shown}"
    );
    key(&mut app, KeyCode::Enter);
    // The standby is asked next, on its own: a password typed for one host never goes to
    // another.
    assert!(matches!(
        app.modal,
        Some(Modal::SshPassword {
            host: Role::STANDBY,
            ..
        })
    ));
    chars(&mut app, "other");
    key(&mut app, KeyCode::Enter);
    let sent = sends(&mut app);
    let given: Vec<(Role, String)> = sent
        .iter()
        .filter_map(|c| match c {
            Command::SetSshPassword(h, p) => Some((*h, p.expose().to_string())),
            _ => None,
        })
        .collect();
    assert_eq!(
        given,
        vec![
            (Role::Primary, "pa$$word".to_string()),
            (Role::STANDBY, "other".to_string())
        ]
    );
    assert!(
        sent.iter().any(|c| matches!(c, Command::Prepare(_))),
        "and it connects again"
    );
}
