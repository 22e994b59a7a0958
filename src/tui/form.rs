//! The setup form: both hosts and the PostgreSQL side, checked on every keystroke with the
//! same rules as a config file (`Config::validate`), each problem shown beside its field.

use std::path::PathBuf;

use ipnet::IpNet;
use ratatui::crossterm::event::{Event as TermEvent, KeyCode, KeyEvent, KeyModifiers};
use tui_input::backend::crossterm::to_input_request;
use tui_input::Input;

use crate::config::{check_cidr, is_wide, Config, HostConfig, PostgresConfig, Setup};
use crate::secret::Secret;
use crate::tr;

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Field {
    PrimaryHost,
    PrimaryUser,
    PrimaryPort,
    PrimaryKey,
    StandbyHost,
    StandbyUser,
    StandbyPort,
    StandbyKey,
    /// A toggle: trust a host key seen for the first time (`[ssh] accept_new_host_keys`).
    HostKeys,
    Version,
    PgPort,
    Role,
    Password,
    Password2,
    Cidr,
    Continue,
}

impl Field {
    pub const ALL: [Field; 16] = [
        Field::PrimaryHost,
        Field::PrimaryUser,
        Field::PrimaryPort,
        Field::PrimaryKey,
        Field::StandbyHost,
        Field::StandbyUser,
        Field::StandbyPort,
        Field::StandbyKey,
        Field::HostKeys,
        Field::Version,
        Field::PgPort,
        Field::Role,
        Field::Password,
        Field::Password2,
        Field::Cidr,
        Field::Continue,
    ];

    fn index(self) -> usize {
        self as usize
    }

    /// The key of the field's label and help under `tui.form`.
    pub fn key(self) -> &'static str {
        match self {
            Field::PrimaryHost | Field::StandbyHost => "host",
            Field::PrimaryUser | Field::StandbyUser => "user",
            Field::PrimaryPort | Field::StandbyPort => "port",
            Field::PrimaryKey | Field::StandbyKey => "identity",
            Field::HostKeys => "host_keys",
            Field::Version => "version",
            Field::PgPort => "pg_port",
            Field::Role => "role",
            Field::Password => "password",
            Field::Password2 => "password2",
            Field::Cidr => "cidr",
            Field::Continue => "continue",
        }
    }

    /// The name `Config::validate` uses for this field.
    fn config_name(self) -> Option<&'static str> {
        Some(match self {
            Field::PrimaryHost => "primary.host",
            Field::PrimaryUser => "primary.user",
            Field::PrimaryPort => "primary.port",
            Field::PrimaryKey => "primary.identity_file",
            Field::StandbyHost => "standby.host",
            Field::StandbyUser => "standby.user",
            Field::StandbyPort => "standby.port",
            Field::StandbyKey => "standby.identity_file",
            Field::Version => "postgres.version",
            Field::PgPort => "postgres.port",
            Field::Role => "postgres.replication_user",
            Field::Cidr => "postgres.allowed_cidr",
            Field::HostKeys | Field::Password | Field::Password2 | Field::Continue => return None,
        })
    }

    pub fn is_secret(self) -> bool {
        matches!(self, Field::Password | Field::Password2)
    }

    /// Fields that may stay empty.
    pub fn optional(self) -> bool {
        matches!(
            self,
            Field::PrimaryKey
                | Field::StandbyKey
                | Field::HostKeys
                | Field::Version
                | Field::Continue
        )
    }
}

/// What a key in the form asks of the app.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum FormOutcome {
    None,
    Submit,
    SubmitRunAll,
    Save,
    /// Esc: back to the steps when there are any, else quit.
    Back,
    Quit,
    Help,
}

/// A checked form: what the engine needs, and what may be saved (never the password).
pub struct Submitted {
    pub config: Config,
    pub setup: Setup,
    pub password: Secret,
}

pub struct Form {
    inputs: Vec<Input>,
    /// The password from PGREPL_REPLICA_PASSWORD or --replica-password-file, until the user
    /// types another one.
    preset: Option<Secret>,
    /// Trust host keys seen for the first time.
    pub trust_new_keys: bool,
    pub focus: Field,
    base: Config,
    /// Set after a failed submit: from then on empty required fields are flagged too.
    pub submitted: bool,
    /// Networks offered for the allowed CIDR once the standby's addresses are known.
    pub suggestions: Vec<IpNet>,
    pub source: Option<PathBuf>,
    errors: Vec<(Field, String)>,
    general: Vec<String>,
}

fn blank_host() -> HostConfig {
    HostConfig {
        host: String::new(),
        user: "root".into(),
        port: 22,
        identity_file: None,
    }
}

impl Form {
    pub fn new(config: Option<Config>, source: Option<PathBuf>, preset: Option<Secret>) -> Form {
        let base = config.unwrap_or_else(|| Config {
            primary: blank_host(),
            standby: vec![blank_host()],
            postgres: PostgresConfig::default(),
            ssh: Default::default(),
        });
        let path = |p: &Option<PathBuf>| {
            p.as_ref()
                .map(|p| p.display().to_string())
                .unwrap_or_default()
        };
        let version = match &base.postgres.version {
            None => String::new(),
            Some(toml::Value::String(s)) => s.clone(),
            Some(v) => v.to_string(),
        };
        // The form edits the first standby; more come from `[[standby]]` in a config file
        // and are kept as they are.
        let first = base.standby.first().cloned().unwrap_or_else(blank_host);
        let values = [
            base.primary.host.clone(),
            base.primary.user.clone(),
            base.primary.port.to_string(),
            path(&base.primary.identity_file),
            first.host.clone(),
            first.user.clone(),
            first.port.to_string(),
            path(&first.identity_file),
            String::new(),
            version,
            base.postgres.port.to_string(),
            base.postgres.replication_user.clone(),
            String::new(),
            String::new(),
            base.postgres.allowed_cidr.clone(),
            String::new(),
        ];
        let inputs = values.into_iter().map(Input::new).collect();
        let preset = preset.filter(|s| !s.is_empty());
        let trust_new_keys = base.ssh.accept_new_host_keys;
        let mut form = Form {
            inputs,
            preset,
            trust_new_keys,
            focus: Field::PrimaryHost,
            base,
            submitted: false,
            suggestions: vec![],
            source,
            errors: vec![],
            general: vec![],
        };
        form.check();
        // A complete file: start on the button, so a look and Enter (or A) is enough.
        if form.is_valid() && form.source.is_some() {
            form.focus = Field::Continue;
        } else if form.source.is_some() {
            form.focus = form.first_invalid().unwrap_or(Field::PrimaryHost);
        }
        form
    }

    pub fn value(&self, f: Field) -> &str {
        self.inputs[f.index()].value()
    }

    pub fn input(&self, f: Field) -> &Input {
        &self.inputs[f.index()]
    }

    pub fn password_preset(&self) -> bool {
        self.preset.is_some()
    }

    /// The problem to show beside `f`, if any.
    pub fn error(&self, f: Field) -> Option<&str> {
        let shown = self.submitted || !self.value(f).is_empty() || f == Field::Password2;
        if !shown {
            return None;
        }
        self.errors
            .iter()
            .find(|(g, _)| *g == f)
            .map(|(_, e)| e.as_str())
    }

    /// Problems that belong to no field of the form (settings only a file can hold).
    pub fn general_errors(&self) -> &[String] {
        &self.general
    }

    /// A warning that is not an error: the whitelist would admit every address.
    pub fn warning(&self, f: Field) -> Option<String> {
        if f == Field::Cidr {
            if let Ok(net) = check_cidr(self.value(Field::Cidr)) {
                if is_wide(&net) {
                    return Some(tr!("tui.form.everyone"));
                }
            }
        }
        None
    }

    pub fn everyone(&self) -> bool {
        self.warning(Field::Cidr).is_some()
    }

    pub fn is_valid(&self) -> bool {
        self.errors.is_empty() && self.general.is_empty()
    }

    fn first_invalid(&self) -> Option<Field> {
        Field::ALL
            .into_iter()
            .find(|f| self.errors.iter().any(|(g, _)| g == f))
    }

    fn skipped(&self, f: Field) -> bool {
        f == Field::Password2 && self.preset.is_some()
    }

    fn step_focus(&mut self, forward: bool) {
        let n = Field::ALL.len();
        let mut i = self.focus.index();
        loop {
            i = if forward {
                (i + 1) % n
            } else {
                (i + n - 1) % n
            };
            if !self.skipped(Field::ALL[i]) {
                break;
            }
        }
        self.focus = Field::ALL[i];
    }

    pub fn handle_key(&mut self, key: KeyEvent) -> FormOutcome {
        let ctrl = key.modifiers.contains(KeyModifiers::CONTROL);
        match key.code {
            KeyCode::Tab | KeyCode::Down => self.step_focus(true),
            KeyCode::BackTab | KeyCode::Up => self.step_focus(false),
            KeyCode::Esc => return FormOutcome::Back,
            KeyCode::Char('c') if ctrl => return FormOutcome::Quit,
            KeyCode::Char('s') if ctrl => return FormOutcome::Save,
            KeyCode::F(1) => return FormOutcome::Help,
            KeyCode::Enter => {
                if self.focus == Field::Continue {
                    return self.submit(FormOutcome::Submit);
                }
                self.step_focus(true);
            }
            KeyCode::F(n @ 2..=9) if self.focus == Field::Cidr => {
                if let Some(net) = self.suggestions.get(usize::from(n) - 2) {
                    self.inputs[Field::Cidr.index()] = Input::new(net.to_string());
                }
            }
            KeyCode::Char(' ') if self.focus == Field::HostKeys => {
                self.trust_new_keys = !self.trust_new_keys
            }
            _ if self.focus == Field::HostKeys => {}
            _ if self.focus == Field::Continue => match key.code {
                KeyCode::Char('A') => return self.submit(FormOutcome::SubmitRunAll),
                KeyCode::Char('q') => return FormOutcome::Quit,
                KeyCode::Char('?') => return FormOutcome::Help,
                _ => {}
            },
            _ => {
                if let Some(req) = to_input_request(&TermEvent::Key(key)) {
                    if self.focus == Field::Password && self.preset.is_some() {
                        // Typing over a preset password replaces it, and asks for it twice.
                        self.preset = None;
                    }
                    self.inputs[self.focus.index()].handle(req);
                }
            }
        }
        self.check();
        FormOutcome::None
    }

    fn submit(&mut self, outcome: FormOutcome) -> FormOutcome {
        self.check();
        if self.is_valid() {
            outcome
        } else {
            self.submitted = true;
            if let Some(f) = self.first_invalid() {
                self.focus = f;
            }
            FormOutcome::None
        }
    }

    /// Puts a value into a field as if typed (tests, suggestions).
    pub fn set(&mut self, f: Field, value: &str) {
        if f == Field::Password {
            self.preset = None;
        }
        self.inputs[f.index()] = Input::new(value.to_string());
        self.check();
    }

    pub fn set_suggestions(&mut self, nets: Vec<IpNet>) {
        self.suggestions = nets;
    }

    /// The config the form describes; unparsable numbers become `None` (their error is
    /// reported separately).
    fn config(&self) -> (Config, Vec<(Field, String)>) {
        let mut errors = vec![];
        let mut port = |f: Field, default: i64| -> i64 {
            let text = self.value(f).trim();
            match text.parse::<i64>() {
                Ok(p) => p,
                Err(_) => {
                    errors.push((f, tr!("error.bad_port", value = text)));
                    default
                }
            }
        };
        let mut c = self.base.clone();
        let (pp, sp, pgp) = (
            port(Field::PrimaryPort, 22),
            port(Field::StandbyPort, 22),
            port(Field::PgPort, 5432),
        );
        c.primary = HostConfig {
            host: self.value(Field::PrimaryHost).trim().to_string(),
            user: self.value(Field::PrimaryUser).trim().to_string(),
            port: pp,
            identity_file: key_path(self.value(Field::PrimaryKey)),
        };
        let first = HostConfig {
            host: self.value(Field::StandbyHost).trim().to_string(),
            user: self.value(Field::StandbyUser).trim().to_string(),
            port: sp,
            identity_file: key_path(self.value(Field::StandbyKey)),
        };
        match c.standby.first_mut() {
            Some(s) => *s = first,
            None => c.standby.push(first),
        }
        let version = self.value(Field::Version).trim();
        c.postgres.version =
            (!version.is_empty()).then(|| toml::Value::String(version.to_string()));
        c.postgres.port = pgp;
        c.postgres.replication_user = self.value(Field::Role).trim().to_string();
        c.postgres.allowed_cidr = self.value(Field::Cidr).trim().to_string();
        c.ssh.accept_new_host_keys = self.trust_new_keys;
        (c, errors)
    }

    fn password(&self) -> Option<Secret> {
        match &self.preset {
            Some(s) => Some(s.clone()),
            None => {
                let p = self.value(Field::Password);
                (!p.is_empty()).then(|| Secret::new(p))
            }
        }
    }

    /// Re-checks every field.
    fn check(&mut self) {
        let (config, mut errors) = self.config();
        for f in Field::ALL {
            if !f.optional() && !f.is_secret() && self.value(f).trim().is_empty() {
                errors.push((f, tr!("tui.form.required")));
            }
        }
        if self.preset.is_none() {
            if self.value(Field::Password).is_empty() {
                errors.push((Field::Password, tr!("tui.form.password_missing")));
            } else if let Some(problem) =
                crate::config::password_problem(self.value(Field::Password))
            {
                errors.push((Field::Password, problem));
            } else if self.value(Field::Password2).is_empty() {
                // Not a mismatch while the second entry has not been started.
                errors.push((Field::Password2, tr!("tui.form.required")));
            } else if self.value(Field::Password) != self.value(Field::Password2) {
                errors.push((Field::Password2, tr!("tui.form.password_mismatch")));
            }
        }
        let mut general = vec![];
        if let Err(problems) = config.validate() {
            for p in problems.0 {
                let field = Field::ALL
                    .into_iter()
                    .find(|f| f.config_name() == Some(p.field.as_str()));
                match field {
                    Some(f) if errors.iter().any(|(g, _)| *g == f) => {}
                    Some(f) => errors.push((f, p.problem)),
                    None => general.push(p.to_string()),
                }
            }
        }
        self.errors = errors;
        self.general = general;
    }

    /// The setup, when every field is right.
    pub fn result(&self) -> Option<Submitted> {
        if !self.is_valid() {
            return None;
        }
        let (config, _) = self.config();
        let setup = config.validate().ok()?;
        Some(Submitted {
            config,
            setup,
            password: self.password()?,
        })
    }

    /// The config as the form has it, for saving (valid or not, never with a password).
    pub fn to_config(&self) -> Config {
        self.config().0
    }
}

/// `~/x` means the user's home, as in a shell.
fn key_path(text: &str) -> Option<PathBuf> {
    let t = text.trim();
    if t.is_empty() {
        return None;
    }
    if let Some(rest) = t.strip_prefix("~/") {
        if let Some(home) = std::env::var_os("HOME") {
            return Some(PathBuf::from(home).join(rest));
        }
    }
    Some(PathBuf::from(t))
}

/// What to offer for the allowed CIDR, given the standby's addresses (`10.0.1.5/24`): each
/// address alone, then its network.
pub fn cidr_offers(addresses: &[String]) -> Vec<IpNet> {
    let mut out: Vec<IpNet> = vec![];
    let parsed: Vec<IpNet> = addresses.iter().filter_map(|a| a.parse().ok()).collect();
    // IPv4 first: that is what most pg_hba.conf files hold.
    let mut sorted = parsed.clone();
    sorted.sort_by_key(|n| !matches!(n, IpNet::V4(_)));
    for n in sorted {
        for cand in [IpNet::from(n.addr()), n.trunc()] {
            if !out.contains(&cand) {
                out.push(cand);
            }
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn key(c: KeyCode) -> KeyEvent {
        KeyEvent::new(c, KeyModifiers::NONE)
    }

    fn typed(form: &mut Form, s: &str) {
        for c in s.chars() {
            form.handle_key(key(KeyCode::Char(c)));
        }
    }

    #[test]
    fn an_empty_form_flags_nothing_until_submitted() {
        let mut f = Form::new(None, None, None);
        assert!(f.error(Field::PrimaryHost).is_none());
        assert!(!f.is_valid());
        f.focus = Field::Continue;
        assert_eq!(f.handle_key(key(KeyCode::Enter)), FormOutcome::None);
        assert_eq!(f.focus, Field::PrimaryHost);
        assert!(f.error(Field::PrimaryHost).is_some());
    }

    #[test]
    fn a_filled_form_submits_and_checks_as_a_file_would() {
        let mut f = Form::new(None, None, None);
        typed(&mut f, "db1");
        f.focus = Field::StandbyHost;
        typed(&mut f, "db1");
        assert!(f.error(Field::StandbyHost).is_some(), "same host and port");
        f.set(Field::StandbyHost, "db2");
        f.set(Field::Cidr, "10.0.0.5/24");
        assert!(f
            .error(Field::Cidr)
            .is_some_and(|e| e.contains("10.0.0.0/24")));
        f.set(Field::Cidr, "10.0.0.0/24");
        f.focus = Field::Password;
        typed(&mut f, "密码");
        assert!(
            f.error(Field::Password).is_none(),
            "non-ASCII is fine: hashed after SASLprep, as PostgreSQL does"
        );
        f.set(Field::Password, "");
        typed(&mut f, "pw");
        // Not "they differ" before the second entry has begun.
        assert_eq!(
            f.error(Field::Password2),
            Some(tr!("tui.form.required").as_str())
        );
        f.focus = Field::Password2;
        typed(&mut f, "px");
        assert_eq!(
            f.error(Field::Password2),
            Some(tr!("tui.form.password_mismatch").as_str())
        );
        f.set(Field::Password2, "");
        typed(&mut f, "pw");
        assert!(f.is_valid());
        f.focus = Field::Continue;
        assert_eq!(
            f.handle_key(key(KeyCode::Char('A'))),
            FormOutcome::SubmitRunAll
        );
        let r = f.result().expect("valid");
        assert_eq!(r.password.expose(), "pw");
        assert_eq!(r.setup.standbys[0].host, "db2");
        let saved = toml::to_string(&f.to_config()).expect("serialises");
        assert!(!saved.contains("pw\""), "{saved}");
    }

    #[test]
    fn a_preset_password_counts_until_replaced() {
        let mut f = Form::new(None, None, Some(Secret::new("env-secret")));
        assert!(f.password_preset());
        f.focus = Field::Password;
        typed(&mut f, "x");
        assert!(!f.password_preset());
        assert_eq!(f.value(Field::Password), "x");
    }

    #[test]
    fn offers_the_address_and_its_network() {
        let offers = cidr_offers(&["fd00::5/64".into(), "10.79.0.11/24".into()]);
        let shown: Vec<String> = offers.iter().map(|n| n.to_string()).collect();
        assert_eq!(
            shown,
            vec!["10.79.0.11/32", "10.79.0.0/24", "fd00::5/128", "fd00::/64"]
        );
    }
}
