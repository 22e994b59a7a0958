use clap::Parser;

#[tokio::main]
async fn main() -> color_eyre::Result<()> {
    color_eyre::install()?;
    let cli = pgrepl::cli::Cli::parse();
    let code = pgrepl::cli::run(cli).await?;
    std::process::exit(code);
}
