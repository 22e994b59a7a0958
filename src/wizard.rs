//! The interactive wizard (no subcommand): the TUI in `crate::tui`, started with what the
//! command line resolved, so the wizard never reaches back into the CLI.

use std::path::PathBuf;

use color_eyre::eyre::Result;

use crate::secret::Secret;

/// What the wizard starts from.
pub struct Start {
    /// A setup file to pre-fill the form (the lab's, with `--lab`).
    pub config: Option<PathBuf>,
    pub state_dir: PathBuf,
    /// The replication password when given up front (file or environment).
    pub password: Option<Secret>,
}

pub async fn run(start: Start) -> Result<i32> {
    crate::tui::run(start).await
}
