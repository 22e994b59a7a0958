//! The interactive wizard (no subcommand): the TUI in `crate::tui`.

use std::path::PathBuf;

use color_eyre::eyre::Result;

use crate::cli::Cli;

pub async fn run(cli: &Cli, config: Option<PathBuf>) -> Result<i32> {
    crate::tui::run(cli, config).await
}
