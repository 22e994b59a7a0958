use clap::Parser;

/// Stops the SSH masters on every way out, a panic's unwinding included.
struct SshShutdown;

impl Drop for SshShutdown {
    fn drop(&mut self) {
        pgrepl::remote::shutdown();
    }
}

#[tokio::main]
async fn main() {
    // `pgrepl plan | head` must end quietly, not panic on a closed pipe.
    #[cfg(unix)]
    // SAFETY: restoring the default disposition of SIGPIPE before any thread starts work.
    unsafe {
        libc::signal(libc::SIGPIPE, libc::SIG_DFL);
    }
    // color-eyre's hooks stay for bugs (panics); expected errors below are one plain line.
    let _ = color_eyre::install();
    pgrepl::text::set_language(pgrepl::text::language_from_env());
    let cli = pgrepl::cli::Cli::parse();
    let ssh = SshShutdown;
    let code = match pgrepl::cli::run(cli).await {
        Ok(code) => code,
        Err(e) => {
            eprintln!("{}", pgrepl::tr!("report.error", error = e));
            2
        }
    };
    // process::exit runs no destructors.
    drop(ssh);
    std::process::exit(code);
}
