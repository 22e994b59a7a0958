//! What a step shows before it runs is what it runs: for every step, on a real lab, the
//! preview (a dry run of the step's own apply) equals, command for command, what the
//! run that follows sends to change the hosts.

mod common;

use common::{assert_streams, Lab, PASSWORD};
use pgrepl::engine::{Event, Role, StepId};
use pgrepl::secret::Secret;

/// The canary's random token is the one thing a run cannot know ahead.
fn normalise(cmd: &str) -> String {
    let mut out = String::new();
    for part in cmd.split('\'') {
        if !out.is_empty() {
            out.push('\'');
        }
        let token = part.len() == 16 && part.chars().all(|c| c.is_ascii_hexdigit());
        out.push_str(if token { "<random>" } else { part });
    }
    out
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_preview_equals_the_commands_its_run_sends() {
    let lab = Lab::up("pv", "10.77.4");
    let setup = pgrepl::config::Config::load(&lab.config())
        .expect("lab config")
        .validate()
        .expect("valid");
    let (tx, mut rx) = tokio::sync::mpsc::unbounded_channel();
    let mut engine = pgrepl::steps::engine(
        setup,
        Some(Secret::new(PASSWORD)),
        pgrepl::engine::Events::new(tx),
        lab.state.path(),
        pgrepl::steps::Access::Change,
    )
    .expect("engine");
    let shown = engine.preview(StepId::Hosts).await.expect("hosts preview");
    assert!(
        shown
            .iter()
            .any(|(_, c)| c.starts_with("ssh ") && c.contains("UserKnownHostsFile=")),
        "the hosts preview shows the real ssh invocation: {shown:?}"
    );
    engine.run_step(StepId::Hosts).await.expect("hosts");
    while rx.try_recv().is_ok() {}
    for id in StepId::ALL.into_iter().skip(1) {
        // `# ` lines say what a change means (what rollback will do); they are notes, not
        // commands.
        let preview: Vec<(Role, String)> = engine
            .preview(id)
            .await
            .expect("preview")
            .into_iter()
            .filter(|(_, c)| !c.starts_with("# "))
            .collect();
        assert!(
            rx.try_recv().is_err(),
            "the preview of {id} must not show on the panes"
        );
        engine.run_step(id).await.expect("run");
        let mut ran = vec![];
        while let Ok(e) = rx.try_recv() {
            if let Event::CommandStarted {
                host,
                command,
                read_only: false,
                ..
            } = e
            {
                ran.push((host, command));
            }
        }
        assert!(!ran.is_empty(), "{id} changed nothing");
        let norm = |v: &[(Role, String)]| -> Vec<(Role, String)> {
            v.iter().map(|(r, c)| (*r, normalise(c))).collect()
        };
        // The two hosts work at once in some steps: compare each host's own order.
        for r in [Role::Primary, Role::STANDBY] {
            let mine = |v: &[(Role, String)]| -> Vec<String> {
                norm(v)
                    .into_iter()
                    .filter(|(h, _)| *h == r)
                    .map(|(_, c)| c)
                    .collect()
            };
            assert_eq!(
                mine(&preview),
                mine(&ran),
                "{id} on the {r}: the preview is not what ran"
            );
        }
    }
    engine.close().await;
    drop(engine);
    pgrepl::remote::shutdown();
    assert_streams(&lab);
}
