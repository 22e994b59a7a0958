//! The setup's description: two hosts and the PostgreSQL side. Loaded from TOML, checked
//! completely before anything runs, each problem naming the field it is about.

use std::fmt;
use std::path::{Path, PathBuf};
use std::sync::OnceLock;

use ipnet::IpNet;
use serde::{Deserialize, Serialize};
use zeroize::Zeroizing;

use crate::engine::{Role, MAX_STANDBYS};
use crate::platform::PgVersion;
use crate::secret::Secret;
use crate::tr;

#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct Config {
    pub primary: HostConfig,
    /// One `[standby]` table, or several `[[standby]]` ones.
    #[serde(with = "one_or_many")]
    pub standby: Vec<HostConfig>,
    #[serde(default)]
    pub postgres: PostgresConfig,
    #[serde(default)]
    pub ssh: SshConfig,
}

#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct HostConfig {
    pub host: String,
    #[serde(default = "default_user")]
    pub user: String,
    #[serde(default = "default_ssh_port")]
    pub port: i64,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub identity_file: Option<PathBuf>,
}

#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct PostgresConfig {
    /// `15`, `"9.5"`; absent: what the primary has, else the platform's default.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub version: Option<toml::Value>,
    #[serde(default = "default_pg_port")]
    pub port: i64,
    #[serde(default = "default_replication_user")]
    pub replication_user: String,
    #[serde(default)]
    pub allowed_cidr: String,
    /// `scram-sha-256` or `md5`; absent: by version.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub hba_method: Option<String>,
    #[serde(default = "default_cluster")]
    pub cluster: String,
    /// Also add the tutorial's `host all all <CIDR>` line (every database, every role).
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub allow_all_databases: bool,
    /// Also set the `postgres` role's password, as the tutorial does (from
    /// `PGREPL_POSTGRES_PASSWORD` or `--postgres-password-file`); off by default.
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub set_postgres_password: bool,
}

#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, Default)]
#[serde(deny_unknown_fields)]
pub struct SshConfig {
    #[serde(default)]
    pub accept_new_host_keys: bool,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub known_hosts_file: Option<PathBuf>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub config_file: Option<PathBuf>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub connect_timeout_secs: Option<u64>,
}

fn default_user() -> String {
    "root".into()
}
fn default_ssh_port() -> i64 {
    22
}
fn default_pg_port() -> i64 {
    5432
}
fn default_replication_user() -> String {
    "replica".into()
}
fn default_cluster() -> String {
    "main".into()
}

impl Default for PostgresConfig {
    fn default() -> Self {
        PostgresConfig {
            version: None,
            port: default_pg_port(),
            replication_user: default_replication_user(),
            allowed_cidr: String::new(),
            hba_method: None,
            cluster: default_cluster(),
            allow_all_databases: false,
            set_postgres_password: false,
        }
    }
}

/// One problem with the configuration, naming its field.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FieldError {
    pub field: String,
    pub problem: String,
}

impl fmt::Display for FieldError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&tr!(
            "error.config_field",
            field = self.field,
            problem = self.problem
        ))
    }
}

#[derive(Debug)]
pub struct ConfigErrors(pub Vec<FieldError>);

impl fmt::Display for ConfigErrors {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        for (i, e) in self.0.iter().enumerate() {
            if i > 0 {
                writeln!(f)?;
            }
            write!(f, "{e}")?;
        }
        Ok(())
    }
}

impl std::error::Error for ConfigErrors {}

/// The checked form of [`Config`] that the engine works with.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Setup {
    pub primary: Target,
    /// At least one.
    pub standbys: Vec<Target>,
    pub pg_version: Option<PgVersion>,
    pub pg_port: u16,
    pub replication_user: String,
    pub allowed_cidr: IpNet,
    pub hba_method: Option<String>,
    pub cluster: String,
    pub ssh: SshConfig,
    /// The tutorial's `host all all <CIDR>` line as well as the replication one
    /// (`[postgres] allow_all_databases`); off by default.
    #[serde(default)]
    pub allow_all_databases: bool,
    /// Set the `postgres` role's password too (`[postgres] set_postgres_password`).
    #[serde(default)]
    pub set_postgres_password: bool,
    /// That password; never saved.
    #[serde(skip)]
    pub postgres_password: Option<Secret>,
    /// What the user allowed for this run (command-line flags, the wizard's yes), never
    /// read from a file.
    #[serde(skip)]
    pub allow: Allow,
    /// Answers SSH's password and passphrase prompts on every host
    /// (`--ssh-password-file`); never saved.
    #[serde(skip)]
    pub ssh_password: Option<Secret>,
    /// One host's own SSH password (typed in the wizard for the host that asked); it goes
    /// to that host only and wins over `ssh_password` there.
    #[serde(skip)]
    pub ssh_passwords: std::collections::BTreeMap<Role, Secret>,
}

/// Choices that need an explicit yes each time.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct Allow {
    /// Whitelist a wide network (`--allow-wide-cidr`, see [`is_wide`]).
    pub wide_cidr: bool,
    /// Use an existing role that lacks REPLICATION (`--adopt-role`); a superuser never.
    pub adopt_role: bool,
    /// Restart a server that has client sessions (`--allow-restart`, or a yes to the
    /// preview that counts them).
    pub restart: bool,
    /// Replace a "standby" that runs as a primary holding data (`--force`).
    pub force: bool,
    /// Add the rule that admits the standbys to an active host firewall on the primary
    /// (`--open-firewall`); rollback takes it away.
    pub open_firewall: bool,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Target {
    pub host: String,
    pub user: String,
    pub port: u16,
    pub identity_file: Option<PathBuf>,
}

impl Target {
    pub fn label(&self) -> String {
        format!("{}@{}:{}", self.user, self.host, self.port)
    }
}

impl HostConfig {
    /// As [`Target::label`], for a host not yet checked.
    pub fn label(&self) -> String {
        format!("{}@{}:{}", self.user, self.host, self.port)
    }
}

impl Setup {
    /// The primary, then every standby.
    pub fn roles(&self) -> Vec<Role> {
        Role::all(self.standbys.len())
    }

    pub fn standby_roles(&self) -> impl Iterator<Item = Role> {
        Role::standbys(self.standbys.len())
    }

    /// How `r` is reached. Roles come from [`Setup::roles`], so every one has a target.
    pub fn target(&self, r: Role) -> &Target {
        match r {
            Role::Primary => &self.primary,
            Role::Standby(i) => self
                .standbys
                .get(usize::from(i))
                .or(self.standbys.first())
                .unwrap_or(&self.primary),
        }
    }

    /// The standbys' labels, one per line: with the primary's, what names the journal
    /// (one standby: the same name as before there could be several).
    pub fn standbys_label(&self) -> String {
        self.standbys
            .iter()
            .map(Target::label)
            .collect::<Vec<_>>()
            .join("\n")
    }
}

/// `[standby]` (one table) or `[[standby]]` (an array of them); written back as one table
/// when there is one, so a file from before several standbys reads and writes the same.
mod one_or_many {
    use serde::{Deserialize, Deserializer, Serialize, Serializer};

    use super::HostConfig;

    #[derive(Deserialize)]
    #[serde(untagged)]
    enum Either {
        Many(Vec<toml::Value>),
        One(toml::Value),
    }

    pub fn serialize<S: Serializer>(v: &[HostConfig], s: S) -> Result<S::Ok, S::Error> {
        match v {
            [one] => one.serialize(s),
            many => many.serialize(s),
        }
    }

    pub fn deserialize<'de, D: Deserializer<'de>>(d: D) -> Result<Vec<HostConfig>, D::Error> {
        // Through toml::Value, so that a mistake inside a table is reported as itself
        // rather than as "matched neither form".
        let values = match Either::deserialize(d)? {
            Either::Many(v) => v,
            Either::One(v) => vec![v],
        };
        if values.is_empty() {
            return Err(serde::de::Error::custom("at least one [standby] is needed"));
        }
        values
            .into_iter()
            .map(|v| HostConfig::deserialize(v).map_err(serde::de::Error::custom))
            .collect()
    }
}

impl Config {
    pub fn load(path: &Path) -> color_eyre::Result<Config> {
        let text = std::fs::read_to_string(path).map_err(|e| {
            color_eyre::eyre::eyre!(tr!("error.config_read", path = path.display(), problem = e))
        })?;
        Self::parse(&text).map_err(|e| {
            color_eyre::eyre::eyre!(tr!(
                "error.config_parse",
                path = path.display(),
                problem = e
            ))
        })
    }

    pub fn parse(text: &str) -> Result<Config, String> {
        toml::from_str(text).map_err(|e| e.to_string())
    }

    /// Every problem at once, so the user fixes the file in one go.
    pub fn validate(&self) -> Result<Setup, ConfigErrors> {
        let mut errors = Vec::new();
        let primary = check_target("primary", &self.primary, &mut errors);
        if self.standby.len() > MAX_STANDBYS {
            errors.push(field(
                "standby",
                tr!(
                    "error.too_many_standbys",
                    count = self.standby.len(),
                    max = MAX_STANDBYS
                ),
            ));
        }
        let standbys: Vec<Option<Target>> = Role::standbys(self.standby.len())
            .zip(&self.standby)
            .map(|(r, h)| check_target(r.name(), h, &mut errors))
            .collect();
        let pg = &self.postgres;
        let pg_port = check_port("postgres.port", pg.port, &mut errors);
        let pg_version = match &pg.version {
            None => None,
            Some(v) => {
                let text = match v {
                    toml::Value::Integer(i) => i.to_string(),
                    toml::Value::String(s) => s.clone(),
                    toml::Value::Float(f) => f.to_string(),
                    other => other.to_string(),
                };
                match PgVersion::parse(&text) {
                    Some(v) if v.is_supported() => Some(v),
                    _ => {
                        errors.push(field(
                            "postgres.version",
                            tr!("error.bad_pg_version", value = text),
                        ));
                        None
                    }
                }
            }
        };
        if !is_role_name(&pg.replication_user) {
            errors.push(field(
                "postgres.replication_user",
                tr!("error.bad_role", value = pg.replication_user),
            ));
        }
        let allowed_cidr = match check_cidr(&pg.allowed_cidr) {
            Ok(net) => Some(net),
            Err(problem) => {
                errors.push(field("postgres.allowed_cidr", problem));
                None
            }
        };
        if let Some(m) = &pg.hba_method {
            if !["scram-sha-256", "md5"].contains(&m.as_str()) {
                errors.push(field(
                    "postgres.hba_method",
                    tr!("error.bad_hba_method", value = m),
                ));
            }
        }
        if !is_plain_name(&pg.cluster) {
            errors.push(field(
                "postgres.cluster",
                tr!("error.bad_cluster", value = pg.cluster),
            ));
        }
        // Each host once: a standby that is the primary (or another standby) would be
        // wiped by its own base backup.
        let mut seen: Vec<(&str, u16)> =
            primary.iter().map(|p| (p.host.as_str(), p.port)).collect();
        for (r, s) in Role::standbys(standbys.len()).zip(&standbys) {
            let Some(s) = s else { continue };
            if seen.contains(&(s.host.as_str(), s.port)) {
                errors.push(field(
                    &format!("{r}.host"),
                    tr!("error.same_host", host = s.host),
                ));
            }
            seen.push((s.host.as_str(), s.port));
        }
        let standbys: Option<Vec<Target>> = standbys.into_iter().collect();
        match (primary, standbys, pg_port, allowed_cidr) {
            (Some(primary), Some(standbys), Some(pg_port), Some(allowed_cidr))
                if errors.is_empty() && !standbys.is_empty() =>
            {
                Ok(Setup {
                    primary,
                    standbys,
                    pg_version,
                    pg_port,
                    replication_user: pg.replication_user.clone(),
                    allowed_cidr,
                    hba_method: pg.hba_method.clone(),
                    cluster: pg.cluster.clone(),
                    ssh: self.ssh.clone(),
                    allow_all_databases: pg.allow_all_databases,
                    set_postgres_password: pg.set_postgres_password,
                    postgres_password: None,
                    allow: Allow::default(),
                    ssh_password: None,
                    ssh_passwords: Default::default(),
                })
            }
            _ => Err(ConfigErrors(errors)),
        }
    }
}

fn field(name: &str, problem: String) -> FieldError {
    FieldError {
        field: name.to_string(),
        problem,
    }
}

fn check_target(role: &str, h: &HostConfig, errors: &mut Vec<FieldError>) -> Option<Target> {
    let before = errors.len();
    if !is_host(&h.host) {
        errors.push(field(
            &format!("{role}.host"),
            tr!("error.bad_host", value = h.host),
        ));
    }
    if !is_user_name(&h.user) {
        errors.push(field(
            &format!("{role}.user"),
            tr!("error.bad_user", value = h.user),
        ));
    }
    let port = check_port(&format!("{role}.port"), h.port, errors);
    if let Some(f) = &h.identity_file {
        if !f.is_file() {
            errors.push(field(
                &format!("{role}.identity_file"),
                tr!("error.no_identity_file", path = f.display()),
            ));
        }
    }
    (errors.len() == before).then(|| Target {
        host: h.host.clone(),
        user: h.user.clone(),
        port: port.unwrap_or(22),
        identity_file: h.identity_file.clone(),
    })
}

fn check_port(name: &str, port: i64, errors: &mut Vec<FieldError>) -> Option<u16> {
    match u16::try_from(port) {
        Ok(p) if p > 0 => Some(p),
        _ => {
            errors.push(field(name, tr!("error.bad_port", value = port)));
            None
        }
    }
}

/// Parses the whitelisted network. Host bits are an error rather than silently cleared:
/// `10.0.0.5/24` usually means the user typed an address where a network was meant.
pub fn check_cidr(text: &str) -> Result<IpNet, String> {
    let text = text.trim();
    if text.is_empty() {
        return Err(tr!("error.cidr_missing"));
    }
    let net: IpNet = match text.parse() {
        Ok(n) => n,
        Err(_) => match text.parse::<std::net::IpAddr>() {
            Ok(ip) => IpNet::from(ip),
            Err(_) => return Err(tr!("error.bad_cidr", value = text)),
        },
    };
    if net.trunc() != net {
        return Err(tr!(
            "error.cidr_host_bits",
            value = text,
            network = net.trunc()
        ));
    }
    Ok(net)
}

/// Why a replication password cannot be used, if it cannot. Control characters would break
/// the `.pgpass` line and recovery.conf. Any other text is fine: the SCRAM hash is computed
/// after SASLprep, as PostgreSQL does (`steps::password::scram_password`).
pub fn password_problem(p: &str) -> Option<String> {
    if p.is_empty() {
        Some(tr!("error.no_password"))
    } else if p.chars().any(|c| c.is_control()) {
        Some(tr!("error.password_control"))
    } else {
        None
    }
}

/// True for the networks that open the server to everyone.
/// A network wide enough that whitelisting it needs an explicit yes: shorter than /16
/// (IPv4) or /48 (IPv6), or holding the unspecified address.
pub fn is_wide(net: &IpNet) -> bool {
    match net {
        IpNet::V4(n) => n.prefix_len() < 16 || n.contains(&std::net::Ipv4Addr::UNSPECIFIED),
        IpNet::V6(n) => n.prefix_len() < 48 || n.contains(&std::net::Ipv6Addr::UNSPECIFIED),
    }
}

/// A host name, IPv4/IPv6 address or `~/.ssh/config` alias. A leading `-` would be read by
/// ssh as an option, so it is refused along with anything a shell or ssh would interpret.
pub fn is_host(s: &str) -> bool {
    !s.is_empty()
        && s.len() <= 253
        && !s.starts_with('-')
        && s.bytes()
            .all(|b| b.is_ascii_alphanumeric() || b"-._:%[]".contains(&b))
}

/// A login name as `useradd` accepts it.
pub fn is_user_name(s: &str) -> bool {
    let mut bytes = s.bytes();
    matches!(bytes.next(), Some(b) if b.is_ascii_lowercase() || b == b'_')
        && s.len() <= 32
        && bytes.all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b"_-".contains(&b))
}

/// A role name that needs no quoting anywhere (SQL, pg_hba.conf, .pgpass, conninfo): we quote
/// anyway, but keeping the set plain keeps pg_hba.conf readable for the user.
pub fn is_role_name(s: &str) -> bool {
    // Words pg_hba.conf reads as keywords, not as a role.
    // And names PostgreSQL reserves for itself.
    const KEYWORDS: [&str; 7] = [
        "all",
        "replication",
        "samerole",
        "samegroup",
        "sameuser",
        "public",
        "none",
    ];
    let lower = s.to_ascii_lowercase();
    if KEYWORDS.contains(&lower.as_str()) || lower.starts_with("pg_") {
        return false;
    }
    let mut bytes = s.bytes();
    matches!(bytes.next(), Some(b) if b.is_ascii_alphabetic() || b == b'_')
        && s.len() <= 63
        && bytes.all(|b| b.is_ascii_alphanumeric() || b == b'_')
}

/// A cluster name; no leading `-`, which pg_createcluster and pg_ctlcluster would read as
/// an option.
fn is_plain_name(s: &str) -> bool {
    s.bytes().next().is_some_and(|b| b.is_ascii_alphanumeric())
        && s.len() <= 63
        && s.bytes()
            .all(|b| b.is_ascii_alphanumeric() || b"_-".contains(&b))
}

/// Where the journal and transcripts go: the given directory, else the user's state
/// directory (`~/.local/state/pgrepl`).
pub fn state_dir(given: Option<&Path>) -> PathBuf {
    given.map(Path::to_path_buf).unwrap_or_else(|| {
        directories::ProjectDirs::from("", "", "pgrepl")
            .map(|d| {
                d.state_dir()
                    .unwrap_or_else(|| d.data_local_dir())
                    .to_path_buf()
            })
            .unwrap_or_else(|| std::env::temp_dir().join("pgrepl"))
    })
}

/// The environment variable that may hold the replication password.
pub const PASSWORD_ENV: &str = "PGREPL_REPLICA_PASSWORD";

/// The environment variable that may hold the `postgres` role's password.
pub const POSTGRES_PASSWORD_ENV: &str = "PGREPL_POSTGRES_PASSWORD";

/// `PGREPL_REPLICA_PASSWORD` as it was when pgrepl started (see [`capture_env_password`]).
static ENV_PASSWORD: OnceLock<Option<Secret>> = OnceLock::new();
/// `PGREPL_POSTGRES_PASSWORD`, likewise.
static ENV_POSTGRES_PASSWORD: OnceLock<Option<Secret>> = OnceLock::new();

/// Keeps the value of `PGREPL_REPLICA_PASSWORD` for [`replica_password`] and takes the
/// variable out of the environment, so no child (ssh, sh, ...) inherits it. `main` calls it
/// before any thread exists: changing the environment while another thread reads it is
/// undefined behaviour in C's getenv, which libraries call.
pub fn capture_env_password() {
    let value = take_env(PASSWORD_ENV);
    let _ = ENV_PASSWORD.set(value);
    let value = take_env(POSTGRES_PASSWORD_ENV);
    let _ = ENV_POSTGRES_PASSWORD.set(value);
}

/// The `postgres` role's password (only read when `set_postgres_password` is on): from
/// `file` when given, else `PGREPL_POSTGRES_PASSWORD`.
pub fn postgres_password(file: Option<&Path>) -> color_eyre::Result<Option<Secret>> {
    let pw = match file {
        Some(f) => Some(Secret::new(
            read_password_file(f)?.trim_end_matches(['\n', '\r']),
        )),
        None => ENV_POSTGRES_PASSWORD
            .get_or_init(|| read_env(POSTGRES_PASSWORD_ENV))
            .clone(),
    };
    if let Some(problem) = pw.as_ref().and_then(|p| password_problem(p.expose())) {
        color_eyre::eyre::bail!(problem);
    }
    Ok(pw)
}

/// Reads `name` and removes it from this process's environment.
fn take_env(name: &str) -> Option<Secret> {
    let value = read_env(name);
    std::env::remove_var(name);
    value
}

fn read_env(name: &str) -> Option<Secret> {
    std::env::var(name)
        .ok()
        .filter(|v| !v.is_empty())
        .map(Secret::new)
}

/// The captured value; a library caller that never captured reads the variable (and
/// leaves it in place).
fn env_password() -> Option<&'static Secret> {
    ENV_PASSWORD.get_or_init(|| read_env(PASSWORD_ENV)).as_ref()
}

/// The text of a password file, refused when its group or others may read it: a secret
/// left readable by everyone is no longer one, and saying so beats leaving it so. The mode
/// is read from the opened file, so it is the one read.
fn read_password_file(f: &Path) -> color_eyre::Result<Zeroizing<String>> {
    use color_eyre::eyre::{bail, eyre};
    use std::io::Read;
    use std::os::unix::fs::PermissionsExt;
    let fail =
        |e: std::io::Error| eyre!(tr!("error.password_file", path = f.display(), problem = e));
    let mut file = std::fs::File::open(f).map_err(fail)?;
    let meta = file.metadata().map_err(fail)?;
    let mode = meta.permissions().mode();
    if mode & 0o077 != 0 {
        bail!(tr!(
            "error.password_file_mode",
            path = f.display(),
            mode = format!("{:o}", mode & 0o777)
        ));
    }
    // Room for all of it up front: growing the buffer would leave copies behind unwiped.
    let mut text = Zeroizing::new(String::with_capacity(meta.len() as usize + 1));
    file.read_to_string(&mut text).map_err(fail)?;
    Ok(text)
}

/// The SSH password (or key passphrase) from `file`, when given.
pub fn ssh_password(file: Option<&Path>) -> color_eyre::Result<Option<Secret>> {
    let Some(f) = file else { return Ok(None) };
    let text = read_password_file(f)?;
    let pw = text.trim_end_matches(['\n', '\r']);
    if pw.is_empty() || pw.chars().any(|c| c.is_control()) {
        color_eyre::eyre::bail!(tr!("error.ssh_password", path = f.display()));
    }
    Ok(Some(Secret::new(pw)))
}

/// The replication password: from `file` when given, else `PGREPL_REPLICA_PASSWORD`.
pub fn replica_password(file: Option<&Path>) -> color_eyre::Result<Option<Secret>> {
    use color_eyre::eyre::bail;
    if let Some(f) = file {
        let text = read_password_file(f)?;
        let pw = text.trim_end_matches(['\n', '\r']).to_string();
        if let Some(problem) = password_problem(&pw) {
            bail!(problem);
        }
        return Ok(Some(Secret::new(pw)));
    }
    match env_password() {
        Some(pw) => match password_problem(pw.expose()) {
            Some(problem) => bail!(problem),
            None => Ok(Some(pw.clone())),
        },
        None => Ok(None),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const GOOD: &str = r#"
[primary]
host = "10.77.0.10"
[standby]
host = "10.77.0.11"
user = "labadmin"
port = 2222
[postgres]
version = 15
allowed_cidr = "10.77.0.0/24"
"#;

    fn fields(text: &str) -> Vec<String> {
        match Config::parse(text).expect("parses").validate() {
            Ok(_) => vec![],
            Err(e) => e.0.into_iter().map(|f| f.field).collect(),
        }
    }

    #[test]
    fn a_good_config_validates_with_defaults() {
        let s = Config::parse(GOOD).unwrap().validate().unwrap();
        assert_eq!(s.primary.user, "root");
        assert_eq!(s.primary.port, 22);
        assert_eq!(s.standbys[0].port, 2222);
        assert_eq!(s.pg_port, 5432);
        assert_eq!(s.replication_user, "replica");
        assert_eq!(s.pg_version.unwrap().to_string(), "15");
        assert_eq!(s.allowed_cidr.to_string(), "10.77.0.0/24");
    }

    #[test]
    fn every_bad_field_is_named() {
        let bad = GOOD
            .replace("10.77.0.0/24", "10.77.0.0/33")
            .replace("port = 2222", "port = 0")
            .replace("\"10.77.0.10\"", "\"-oProxyCommand=id\"");
        assert_eq!(
            fields(&bad),
            vec!["primary.host", "standby.port", "postgres.allowed_cidr"]
        );
    }

    #[test]
    fn cidr_rules() {
        assert!(check_cidr("10.77.0.0/24").is_ok());
        assert_eq!(
            check_cidr("10.77.0.11").unwrap().to_string(),
            "10.77.0.11/32"
        );
        assert!(check_cidr("fd00::/64").is_ok());
        assert!(check_cidr("10.77.0.5/24").is_err(), "host bits set");
        assert!(check_cidr("").is_err());
        assert!(check_cidr("10.77.0.0/24; rm -rf /").is_err());
        for wide in ["0.0.0.0/0", "0.0.0.0/1", "10.0.0.0/8", "::/0", "fd00::/32"] {
            assert!(is_wide(&check_cidr(wide).unwrap()), "{wide}");
        }
        for narrow in [
            "10.0.0.0/16",
            "10.0.1.0/24",
            "10.0.1.11/32",
            "fd00:1:2::/48",
        ] {
            assert!(!is_wide(&check_cidr(narrow).unwrap()), "{narrow}");
        }
    }

    #[test]
    fn same_host_and_port_is_refused() {
        let t = GOOD
            .replace("10.77.0.11", "10.77.0.10")
            .replace("port = 2222\n", "");
        assert_eq!(fields(&t), vec!["standby.host"]);
    }

    #[test]
    fn names_are_checked() {
        assert!(is_host("db-1.example.com") && is_host("fe80::1%eth0") && is_host("primary"));
        assert!(!is_host("a b") && !is_host("$(id)") && !is_host("-J") && !is_host(""));
        assert!(is_user_name("postgres") && !is_user_name("Root") && !is_user_name("a;b"));
        assert!(is_role_name("replica") && !is_role_name("re\"plica") && !is_role_name("1x"));
        assert!(!is_role_name("all") && !is_role_name("Replication"));
        assert!(!is_role_name("pg_monitor") && !is_role_name("none"));
        assert!(password_problem("it's $(x) `y`").is_none());
        assert!(password_problem("a\nb").is_some() && password_problem("").is_some());
        assert!(password_problem("密码 Пароль-ﬁ\u{a0}ß").is_none());
        assert!(password_problem("C1\u{85}control").is_some());
        let t = GOOD.replace("version = 15", "version = \"8.4\"");
        assert_eq!(fields(&t), vec!["postgres.version"]);
        let t = GOOD.replace("version = 15", "version = 16\nreplication_user = \"x'y\"");
        assert_eq!(fields(&t), vec!["postgres.replication_user"]);
    }

    #[test]
    fn the_password_variable_is_taken_out_of_the_environment() {
        // A name of its own: the tests run on several threads.
        const NAME: &str = "PGREPL_TEST_TAKE_ENV";
        std::env::set_var(NAME, "Пароль");
        assert_eq!(take_env(NAME), Some(Secret::new("Пароль")));
        assert!(
            std::env::var_os(NAME).is_none(),
            "children would inherit it"
        );
        assert_eq!(take_env(NAME), None);
        std::env::set_var(NAME, "");
        assert_eq!(take_env(NAME), None);
        assert!(std::env::var_os(NAME).is_none());
    }

    #[test]
    fn a_password_file_others_can_read_is_refused() {
        use std::os::unix::fs::PermissionsExt;
        let dir = tempfile::tempdir().unwrap();
        let f = dir.path().join("pw");
        std::fs::write(&f, "Пароль\n").unwrap();
        for mode in [0o644, 0o640, 0o604, 0o660] {
            std::fs::set_permissions(&f, std::fs::Permissions::from_mode(mode)).unwrap();
            let e = replica_password(Some(&f)).unwrap_err().to_string();
            assert!(e.contains(&format!("chmod 600 {}", f.display())), "{e}");
            assert!(!e.contains('\n') && !e.contains("Пароль"), "{e}");
        }
        for mode in [0o600, 0o400] {
            std::fs::set_permissions(&f, std::fs::Permissions::from_mode(mode)).unwrap();
            let pw = replica_password(Some(&f)).unwrap();
            assert_eq!(pw, Some(Secret::new("Пароль")));
        }
    }

    #[test]
    fn unknown_keys_are_rejected() {
        assert!(Config::parse(&GOOD.replace("[postgres]", "[postgres]\npasword = \"x\"")).is_err());
    }

    #[test]
    fn several_standbys_each_checked_and_one_written_back_as_before() {
        let base = "[primary]\nhost = \"db1\"\n[postgres]\nallowed_cidr = \"10.0.1.0/24\"\n";
        let many = format!(
            "{base}[[standby]]\nhost = \"db2\"\n[[standby]]\nhost = \"db3\"\nport = 2222\n"
        );
        let s = Config::parse(&many).unwrap().validate().unwrap();
        assert_eq!(
            s.roles(),
            vec![Role::Primary, Role::STANDBY, Role::Standby(1)]
        );
        assert_eq!(s.target(Role::Standby(1)).port, 2222);

        let twice = format!("{base}[[standby]]\nhost = \"db2\"\n[[standby]]\nhost = \"db2\"\n");
        assert_eq!(fields(&twice), vec!["standby2.host"]);
        let primary_again =
            format!("{base}[[standby]]\nhost = \"db2\"\n[[standby]]\nhost = \"db1\"\n");
        assert_eq!(fields(&primary_again), vec!["standby2.host"]);
        let bad = format!("{base}[[standby]]\nhost = \"db2\"\n[[standby]]\nhost = \"-x\"\n");
        assert_eq!(fields(&bad), vec!["standby2.host"]);
        let five: String = (2..7)
            .map(|i| format!("[[standby]]\nhost = \"db{i}\"\n"))
            .collect();
        assert_eq!(fields(&format!("{base}{five}")), vec!["standby"]);
        assert!(Config::parse(&format!("{base}standby = []\n")).is_err());
        assert!(Config::parse(&format!("{base}[[standby]]\nhots = \"x\"\n"))
            .unwrap_err()
            .contains("hots"));

        let one = format!("{base}[standby]\nhost = \"db2\"\n");
        let written = toml::to_string(&Config::parse(&one).unwrap()).unwrap();
        assert!(
            written.contains("[standby]") && !written.contains("[[standby]]"),
            "{written}"
        );
        let written = toml::to_string(&Config::parse(&many).unwrap()).unwrap();
        assert_eq!(written.matches("[[standby]]").count(), 2, "{written}");
    }
}
