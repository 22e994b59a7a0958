use clap::Parser;

/// Stops the SSH masters on every way out, a panic's unwinding included.
struct SshShutdown;

impl Drop for SshShutdown {
    fn drop(&mut self) {
        pgrepl::remote::shutdown();
    }
}

fn main() {
    // Started by ssh as its askpass helper (see remote::ssh): answer and go.
    if let Some(code) = pgrepl::remote::answer_askpass() {
        std::process::exit(code);
    }
    // Before any secret is read. It cannot fail with these arguments; if it ever did,
    // pgrepl would only be as exposed as before.
    let _ = pgrepl::secret::forbid_core_dumps();
    // While no other thread exists: the environment may only be changed then.
    pgrepl::config::capture_env_password();
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
    // Built by hand, not by #[tokio::main], so that the lines above run before its threads.
    let code = match tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
    {
        Ok(runtime) => runtime.block_on(run(cli)),
        Err(e) => fail(e),
    };
    // process::exit runs no destructors: the runtime's threads are not waited for.
    std::process::exit(code);
}

async fn run(cli: pgrepl::cli::Cli) -> i32 {
    let ssh = SshShutdown;
    let code = match pgrepl::cli::run(cli).await {
        Ok(code) => code,
        Err(e) => fail(e),
    };
    drop(ssh);
    code
}

/// An expected error: one plain line, exit code 2.
fn fail(e: impl std::fmt::Display) -> i32 {
    eprintln!("{}", pgrepl::tr!("report.error", error = e));
    2
}
