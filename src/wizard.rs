//! The interactive wizard. Until the TUI lands, it is `apply` with a question before
//! every step.

use std::path::PathBuf;

use color_eyre::eyre::{eyre, Result};

use crate::cli::Cli;
use crate::tr;

pub async fn run(_cli: &Cli, config: Option<PathBuf>) -> Result<i32> {
    let config = config.ok_or_else(|| eyre!(tr!("error.need_config")))?;
    eprintln!("{}", tr!("wizard.not_yet", path = config.display()));
    Ok(2)
}
