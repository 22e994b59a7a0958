//! Command line: the headless commands and the entry to the wizard. Same engine behind all.

use std::io::{BufRead, IsTerminal, Write};
use std::path::{Path, PathBuf};

use clap::{Parser, Subcommand};
use color_eyre::eyre::{bail, eyre, Result};
use tokio::sync::mpsc;

use crate::config::{Config, Setup};
use crate::engine::{Answer, Driver, Engine, Event, Events, Finish, Preview, Role, StepId};
use crate::lab::{self, LabOptions};
use crate::report::{self, Transcript};
use crate::secret::Secret;
use crate::steps::Access;
use crate::tr;

#[derive(Parser, Debug)]
#[command(
    name = "pgrepl",
    version,
    about = "Set up PostgreSQL streaming replication (primary + hot standby) over SSH, one step at a time"
)]
pub struct Cli {
    /// Setup file (TOML); with no subcommand, pre-fills the wizard.
    #[arg(long, global = true)]
    pub config: Option<PathBuf>,
    /// Read the replication role's password from this file instead of PGREPL_REPLICA_PASSWORD.
    #[arg(long, global = true)]
    pub replica_password_file: Option<PathBuf>,
    /// Answer SSH's password and key-passphrase prompts with the text of this file (`/dev/fd/3`
    /// reads a file descriptor); without it, SSH uses keys and agents only.
    #[arg(long, global = true)]
    pub ssh_password_file: Option<PathBuf>,
    /// With `[postgres] set_postgres_password = true`: read the `postgres` role's password
    /// from this file instead of PGREPL_POSTGRES_PASSWORD.
    #[arg(long, global = true)]
    pub postgres_password_file: Option<PathBuf>,
    /// Where the journal and transcripts go (default: the user's state directory).
    #[arg(long, global = true, env = "PGREPL_STATE_DIR")]
    pub state_dir: Option<PathBuf>,
    /// Use the built-in lab's config (bringing the lab up if needed); with no subcommand,
    /// open the wizard on it.
    #[arg(long, global = true)]
    pub lab: bool,
    #[command(subcommand)]
    pub command: Option<Command>,
}

#[derive(Subcommand, Debug)]
pub enum Command {
    /// Show every command each step would run, per host. Changes nothing.
    Plan,
    /// Run the steps.
    Apply {
        /// Do not ask before each step.
        #[arg(long)]
        yes: bool,
        /// First step to run (hosts always runs first): install, replica-role, whitelist,
        /// base-backup or verify.
        #[arg(long, value_parser = parse_step)]
        from: Option<StepId>,
        /// Last step to run.
        #[arg(long, value_parser = parse_step)]
        to: Option<StepId>,
        /// Whitelist an allowed network wider than /16 (IPv4) or /48 (IPv6), or one that
        /// holds 0.0.0.0: refused without this.
        #[arg(long)]
        allow_wide_cidr: bool,
        /// Use an existing role that lacks REPLICATION as the replication role (a
        /// superuser is never taken).
        #[arg(long)]
        adopt_role: bool,
        /// Restart the primary even while clients are connected (with --yes; without it,
        /// the preview says how many and asks).
        #[arg(long)]
        allow_restart: bool,
        /// Copy over a standby that runs as a primary with data or clients (its data
        /// directory is moved aside, not deleted). Check the config first: swapped hosts
        /// look like this.
        #[arg(long)]
        force: bool,
        /// When firewalld or ufw is active on the primary, add the rule that admits the
        /// standbys' network to PostgreSQL (rollback removes it); without this pgrepl only
        /// shows the rule.
        #[arg(long)]
        open_firewall: bool,
    },
    /// Check that the standby streams from the primary.
    Verify {
        /// Print the result as JSON (also when replication is down).
        #[arg(long)]
        json: bool,
    },
    /// Look at the hosts and show each step's true state (changes nothing).
    Status,
    /// Undo steps, newest first.
    Rollback {
        /// Do not ask before rolling back.
        #[arg(long)]
        yes: bool,
        /// Roll back this step and every later one (default: all).
        #[arg(long, value_parser = parse_step)]
        to: Option<StepId>,
        /// Also remove the PostgreSQL packages pgrepl installed (kept by default: other
        /// software may have come to need them).
        #[arg(long)]
        purge_packages: bool,
        /// Only what pgrepl changed on this host (`standby2`, say): the others stay as
        /// they are, a standby's siblings keep streaming.
        #[arg(long)]
        host: Option<Role>,
    },
    /// The built-in two-host lab (Linux, root).
    Lab {
        #[command(subcommand)]
        action: LabAction,
        /// Lab name; several labs with different names and subnets can run side by side.
        #[arg(long, global = true, default_value = lab::DEFAULT_NAME)]
        name: String,
        /// A /24 for the lab (default 10.77.0.0/24): the primary is .10, the standby .11.
        #[arg(long, global = true)]
        subnet: Option<String>,
        /// With `up`: hosts without the PostgreSQL server, which they can install with apt
        /// from a package repository the lab serves on its bridge.
        #[arg(long, global = true)]
        bare: bool,
        /// With `up`: how many standbys (1 to 3); they get .11, .12, .13.
        #[arg(long, global = true, default_value_t = 1, value_parser = clap::value_parser!(u8).range(1..=3))]
        standbys: u8,
    },
}

#[derive(Subcommand, Debug, Clone, Copy)]
pub enum LabAction {
    /// Build the hosts (from scratch) and print the path of a ready config.
    Up,
    /// Remove everything the lab made.
    Down,
    /// Show whether every host is up and answers SSH.
    Status,
}

fn parse_step(s: &str) -> Result<StepId, String> {
    s.parse()
}

fn state_dir(cli: &Cli) -> PathBuf {
    crate::config::state_dir(cli.state_dir.as_deref())
}

pub fn load_setup(path: &Path) -> Result<Setup> {
    let config = Config::load(path)?;
    config.validate().map_err(|e| eyre!("{e}"))
}

/// The setup of `--config`, with the SSH password given on the command line.
fn setup_for(cli: &Cli) -> Result<Setup> {
    let mut setup = load_setup(&config_path(cli)?)?;
    setup.ssh_password = crate::config::ssh_password(cli.ssh_password_file.as_deref())?;
    if setup.set_postgres_password {
        setup.postgres_password =
            crate::config::postgres_password(cli.postgres_password_file.as_deref())?;
    }
    Ok(setup)
}

fn password(cli: &Cli) -> Result<Option<Secret>> {
    crate::config::replica_password(cli.replica_password_file.as_deref())
}

/// Prints events as they come and appends them to the transcript; `printed` counts them.
fn printer(
    mut rx: mpsc::UnboundedReceiver<Event>,
    mut transcript: Transcript,
    json: bool,
    printed: std::sync::Arc<std::sync::atomic::AtomicU64>,
) -> tokio::task::JoinHandle<()> {
    tokio::spawn(async move {
        while let Some(e) = rx.recv().await {
            transcript.write(&e);
            if !json {
                let mut out = std::io::stdout().lock();
                for l in report::lines(&e) {
                    let _ = writeln!(out, "{l}");
                }
            }
            printed.fetch_add(1, std::sync::atomic::Ordering::SeqCst);
        }
    })
}

fn ask(question: &str) -> bool {
    print!("{question} [y/N] ");
    let _ = std::io::stdout().flush();
    let mut line = String::new();
    if std::io::stdin().lock().read_line(&mut line).is_err() {
        return false;
    }
    matches!(line.trim(), "y" | "Y" | "yes")
}

/// Waits until the printer has shown `sent` events.
async fn wait_until_printed(printed: &std::sync::atomic::AtomicU64, sent: u64) {
    while printed.load(std::sync::atomic::Ordering::SeqCst) < sent {
        tokio::time::sleep(std::time::Duration::from_millis(2)).await;
    }
}

/// A step's what and why, then the commands it will send, per host.
fn print_preview(p: &Preview) {
    println!("\n== {}: {}\n   {}", p.step, p.what, p.why);
    for (host, command) in p.commands.iter().flatten() {
        for l in report::lines(&Event::Planned {
            step: p.step,
            host: *host,
            command: command.clone(),
        }) {
            println!("{l}");
        }
    }
}

/// The headless driver of the sequencer: prints each preview and asks on the terminal,
/// or, with `--yes`, asks nothing.
struct Asker {
    yes: bool,
    printed: std::sync::Arc<std::sync::atomic::AtomicU64>,
}

#[async_trait::async_trait]
impl Driver for Asker {
    fn asks(&self) -> bool {
        !self.yes
    }

    async fn confirm(&mut self, engine: &Engine, preview: Preview) -> Answer {
        // A question comes after the output it is about.
        wait_until_printed(&self.printed, engine.events_sent()).await;
        print_preview(&preview);
        if ask(&tr!("ask.run_step", step = preview.step)) {
            Answer::Run
        } else {
            Answer::Stop
        }
    }
}

struct Session {
    engine: Engine,
    printer: tokio::task::JoinHandle<()>,
    printed: std::sync::Arc<std::sync::atomic::AtomicU64>,
}

impl Session {
    /// The engine first: while another pgrepl has this setup's journal it refuses at once,
    /// and nothing, not even the transcript, has been touched.
    fn open(
        cli: &Cli,
        setup: Setup,
        password: Option<Secret>,
        json: bool,
        access: Access,
    ) -> Result<Session> {
        let (tx, rx) = mpsc::unbounded_channel();
        let dir = state_dir(cli);
        let id = crate::engine::setup_id(&setup.primary.label(), &setup.standbys_label());
        let engine = crate::steps::engine(setup, password, Events::new(tx), &dir, access)?;
        let printed = std::sync::Arc::new(std::sync::atomic::AtomicU64::new(0));
        let printer = printer(rx, Transcript::open(&dir, &id), json, printed.clone());
        Ok(Session {
            engine,
            printer,
            printed,
        })
    }

    /// Waits until everything the engine reported is on the screen, so a question comes
    /// after the output it is about.
    async fn settle(&self) {
        wait_until_printed(&self.printed, self.engine.events_sent()).await;
    }

    async fn finish(mut self) {
        self.engine.close().await;
        drop(self.engine);
        let _ = self.printer.await;
    }
}

pub async fn run(cli: Cli) -> Result<i32> {
    match &cli.command {
        Some(Command::Lab {
            action,
            name,
            subnet,
            bare,
            standbys,
        }) => {
            let opts = LabOptions {
                name: name.clone(),
                subnet: subnet.clone(),
                bare: *bare,
                standbys: *standbys,
            };
            match action {
                LabAction::Up => {
                    let path = lab::up(&opts)?;
                    println!("{}", tr!("lab.ready", path = path.display()));
                    Ok(0)
                }
                LabAction::Down => {
                    lab::down(&opts)?;
                    println!("{}", tr!("lab.down", name = opts.name));
                    Ok(0)
                }
                LabAction::Status => Ok(if lab::status(&opts)? { 0 } else { 3 }),
            }
        }
        Some(Command::Plan) => {
            let setup = setup_for(&cli)?;
            let mut s = Session::open(&cli, setup, None, false, Access::Look)?;
            // As for the other commands: the printer shows the failure and its hint.
            if s.engine.run_step(StepId::Hosts).await.is_err() {
                s.finish().await;
                return Ok(1);
            }
            for id in StepId::ALL.into_iter().skip(1) {
                let p = s.engine.prepare(id).await;
                print_preview(&p);
                if let Err(e) = &p.commands {
                    println!("   {e}");
                }
            }
            s.finish().await;
            Ok(0)
        }
        Some(Command::Apply {
            yes,
            from,
            to,
            allow_wide_cidr,
            adopt_role,
            allow_restart,
            force,
            open_firewall,
        }) => {
            let mut setup = setup_for(&cli)?;
            setup.allow.wide_cidr = *allow_wide_cidr;
            setup.allow.adopt_role = *adopt_role;
            // Asked before each step, the yes to a preview that counts the sessions counts.
            setup.allow.restart = *allow_restart || !*yes;
            setup.allow.force = *force;
            setup.allow.open_firewall = *open_firewall;
            // Refused before any step changes anything, not at the whitelist.
            crate::steps::refuse_a_wide_network(&setup)
                .map_err(|e| eyre!("{}\n{}", e.message, e.hint.unwrap_or_default()))?;
            let from = from.unwrap_or(StepId::Install);
            let to = to.unwrap_or(StepId::Verify);
            if from > to {
                bail!(tr!("error.from_after_to", from = from, to = to));
            }
            let needs_password = from <= StepId::BaseBackup && to >= StepId::ReplicaRole;
            let password = password(&cli)?;
            if needs_password && password.is_none() {
                bail!("{}\n{}", tr!("error.no_password"), tr!("hint.no_password"));
            }
            if !yes && !std::io::stdin().is_terminal() {
                bail!(tr!("error.need_yes"));
            }
            let mut s = Session::open(&cli, setup, password, false, Access::Change)?;
            // Ctrl-C aborts: the running remote command is killed and the step fails,
            // leaving a journal that retry and rollback understand.
            let control = s.engine.control();
            let interrupt = tokio::spawn(async move {
                while tokio::signal::ctrl_c().await.is_ok() {
                    control.abort();
                }
            });
            let started = std::time::Instant::now();
            let mut driver = Asker {
                yes: *yes,
                printed: s.printed.clone(),
            };
            let finish = s.engine.apply(from, to, &mut driver).await;
            interrupt.abort();
            s.settle().await;
            let config = config_arg(&cli);
            let code = match finish {
                Finish::Done => 0,
                Finish::Declined(id) => {
                    eprintln!(
                        "{}",
                        tr!("report.stopped_before", step = id, config = config)
                    );
                    1
                }
                Finish::Aborted(id) => {
                    eprintln!(
                        "{}",
                        tr!("report.stopped_before", step = id, config = config)
                    );
                    130
                }
                Finish::Failed(StepId::Hosts) => 1,
                Finish::Failed(id) => {
                    eprintln!("{}", tr!("report.retry_with", step = id, config = config));
                    1
                }
            };
            let journal = s.engine.journal();
            s.finish().await;
            if code == 0 {
                println!(
                    "\n{}",
                    tr!(
                        "report.timings_header",
                        secs = format!("{:.1}", started.elapsed().as_secs_f64())
                    )
                );
                for id in StepId::ALL
                    .into_iter()
                    .filter(|i| *i == StepId::Hosts || (*i >= from && *i <= to))
                {
                    let rec = journal.record(id);
                    println!(
                        "  {:<13} {:>7.2}s  {}",
                        id.name(),
                        rec.elapsed_ms as f64 / 1000.0,
                        tr!(rec.state.key())
                    );
                }
            }
            Ok(code)
        }
        Some(Command::Verify { json }) => {
            let setup = setup_for(&cli)?;
            let mut s = Session::open(&cli, setup, None, *json, Access::Look)?;
            // Always a report, also when a host or a server cannot be reached: the reason
            // goes into it, so scripts reading --json get JSON either way.
            let report = match s.engine.run_step(StepId::Hosts).await {
                Err(e) => Err(e),
                Ok(_) => crate::steps::verify_report(s.engine.cx_for(StepId::Verify)).await,
            };
            let standbys: Vec<_> = s.engine.setup().standby_roles().collect();
            s.finish().await;
            let reports = report.unwrap_or_else(|e| {
                standbys
                    .into_iter()
                    .map(|host| crate::engine::VerifyReport {
                        host,
                        error: Some(e.message.clone()),
                        ..Default::default()
                    })
                    .collect()
            });
            // One JSON object per standby, one after another (what `jq` reads as a stream).
            for report in &reports {
                if *json {
                    println!("{}", serde_json::to_string_pretty(report)?);
                } else {
                    for l in report::lines(&Event::Verified(report.clone())) {
                        println!("{l}");
                    }
                }
            }
            Ok(if reports.iter().all(|r| r.passed) {
                0
            } else {
                1
            })
        }
        Some(Command::Status) => {
            let setup = setup_for(&cli)?;
            let mut s = Session::open(&cli, setup, password(&cli)?, true, Access::Look)?;
            if s.engine.connect().await.is_err() {
                s.finish().await;
                return Ok(1);
            }
            let journal = s.engine.journal();
            let states = crate::steps::replication_states(s.engine.cx_for(StepId::Verify))
                .await
                .unwrap_or_default();
            let setup = s.engine.setup().clone();
            s.finish().await;
            for id in StepId::ALL {
                println!("{:<13} {}", id.name(), tr!(journal.state(id).key()));
            }
            // Each host, and what the primary says of each standby now.
            println!();
            for r in setup.roles() {
                let state = match (r, states.iter().find(|(s, _)| *s == r)) {
                    (Role::Primary, _) => String::new(),
                    (_, Some((_, Some(state)))) => state.clone(),
                    (_, Some((_, None))) => tr!("report.not_replicating"),
                    (_, None) => "?".to_string(),
                };
                println!("{:<13} {:<28} {state}", r.name(), setup.target(r).label());
            }
            Ok(0)
        }
        Some(Command::Rollback {
            yes,
            to,
            purge_packages,
            host,
        }) => {
            let setup = setup_for(&cli)?;
            let to = to.unwrap_or(StepId::Install);
            if let Some(h) = host.filter(|h| !setup.roles().contains(h)) {
                bail!(tr!("error.unknown_host", host = h));
            }
            if !yes && !std::io::stdin().is_terminal() {
                bail!(tr!("error.need_yes"));
            }
            let mut s = Session::open(&cli, setup, None, false, Access::Change)?;
            let mut any = false;
            for (id, record) in s.engine.journal().undo_plan(to, *host) {
                any = true;
                println!("  {id}: {}", crate::steps::undo::describe_record(record));
            }
            if !any {
                println!("{}", tr!("report.nothing_to_roll_back"));
            }
            if any && !yes && !ask(&tr!("ask.rollback", step = to)) {
                s.finish().await;
                return Ok(1);
            }
            if s.engine.run_step(StepId::Hosts).await.is_err() {
                s.finish().await;
                return Ok(1);
            }
            s.engine.set_purge_packages(*purge_packages);
            let errors = s.engine.rollback_on(to, *host).await;
            if host.is_some() {
                // What is done where has changed on one host only: say it as it is.
                s.engine.refresh().await;
            }
            s.finish().await;
            if errors.is_empty() {
                println!("{}", tr!("report.rolled_back", step = to));
                Ok(0)
            } else {
                for (id, e) in &errors {
                    eprintln!("{}", tr!("report.failed", step = id, error = e));
                }
                Ok(1)
            }
        }
        None => {
            let path = if cli.lab {
                Some(lab::ensure(&LabOptions::default())?)
            } else {
                cli.config.clone()
            };
            crate::wizard::run(crate::wizard::Start {
                config: path,
                state_dir: state_dir(&cli),
                password: password(&cli)?,
            })
            .await
        }
    }
}

/// How the user named the setup, to repeat it in advice.
fn config_arg(cli: &Cli) -> String {
    match &cli.config {
        Some(p) => format!("--config {}", crate::quote::sh(&p.to_string_lossy())),
        None => "--lab".to_string(),
    }
}

fn config_path(cli: &Cli) -> Result<PathBuf> {
    if cli.lab && cli.config.is_none() {
        return lab::ensure(&LabOptions::default());
    }
    cli.config
        .clone()
        .ok_or_else(|| eyre!(tr!("error.need_config")))
}
