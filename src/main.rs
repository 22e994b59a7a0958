use clap::Parser;

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
    let cli = pgrepl::cli::Cli::parse();
    let code = match pgrepl::cli::run(cli).await {
        Ok(code) => code,
        Err(e) => {
            eprintln!("{}", pgrepl::tr!("report.error", error = e));
            2
        }
    };
    std::process::exit(code);
}
