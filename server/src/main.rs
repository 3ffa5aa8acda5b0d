//! `phonebooth [serve]` runs the server; `phonebooth migrate` applies
//! migrations and exits; `phonebooth admin grant|revoke <email>` sets the
//! platform-operator flag; `phonebooth admin reset-link <email>` prints a
//! password reset link (for a deployment without mail); `phonebooth rates
//! import <file.csv>` replaces the rate deck (validated first: any bad row
//! and nothing changes).

use anyhow::Context;
use server::config::Config;
use server::startup::Application;
use std::process::ExitCode;

/// mimalloc instead of glibc's malloc (`server::allocator` says why).
#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;

const USAGE: &str = "usage: phonebooth [serve | migrate | admin grant <email> | admin revoke <email> | admin reset-link <email> | rates import <file.csv>]";

#[tokio::main]
async fn main() -> ExitCode {
    server::allocator::tune();
    let _ = dotenvy::dotenv();
    let config = match Config::from_env() {
        Ok(config) => config,
        Err(error) => {
            eprintln!("configuration error: {error}");
            return ExitCode::from(2);
        }
    };
    server::telemetry::init(config.log_format);
    let args: Vec<String> = std::env::args().skip(1).collect();
    let args: Vec<&str> = args.iter().map(String::as_str).collect();
    let result = match args.as_slice() {
        [] | ["serve"] => serve(&config).await,
        ["migrate"] => migrate(&config).await,
        ["admin", "grant", email] => set_operator(&config, email, true).await,
        ["admin", "revoke", email] => set_operator(&config, email, false).await,
        ["admin", "reset-link", email] => reset_link(&config, email).await,
        ["rates", "import", file] => import_rates(&config, file).await,
        _ => {
            eprintln!("{USAGE}");
            return ExitCode::from(2);
        }
    };
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(error) => {
            tracing::error!("{error:#}");
            eprintln!("error: {error:#}");
            ExitCode::FAILURE
        }
    }
}

async fn serve(config: &Config) -> anyhow::Result<()> {
    let application = Application::build(config).await?;
    let addr = application.local_addr();
    tracing::info!(%addr, public_url = %config.public_url, "Phonebooth is ready");
    println!("Phonebooth is ready at {}", config.public_url);
    application
        .run_until(shutdown_signal())
        .await
        .context("serving")?;
    tracing::info!("stopped");
    Ok(())
}

async fn migrate(config: &Config) -> anyhow::Result<()> {
    let db = open(config).await?;
    db.migrate().await.context("applying migrations")?;
    println!("migrations applied");
    Ok(())
}

/// Prints a single-use, 30-minute password reset link for `email`: the way
/// back in for someone who forgot their password where no mail is sent.
async fn reset_link(config: &Config, email: &str) -> anyhow::Result<()> {
    let email =
        app::domain::EmailAddress::parse(email).map_err(|m| anyhow::anyhow!("{m}: {email:?}"))?;
    let db = open(config).await?;
    db.migrate().await.context("applying migrations")?;
    let link = app::server::password_reset::issue_link(
        &db,
        config.public_url.as_str().trim_end_matches('/'),
        &email,
        app::server::clock::now(),
    )
    .await
    .map_err(|error| anyhow::anyhow!("making the link: {error}"))?
    .ok_or_else(|| anyhow::anyhow!("no account with the email {email}"))?;
    println!("{link}");
    eprintln!("The link works once, for 30 minutes. Pass it on privately: it opens the account.");
    Ok(())
}

async fn set_operator(config: &Config, email: &str, is_operator: bool) -> anyhow::Result<()> {
    let email =
        app::domain::EmailAddress::parse(email).map_err(|m| anyhow::anyhow!("{m}: {email:?}"))?;
    let db = open(config).await?;
    db.migrate().await.context("applying migrations")?;
    if !app::server::db::users::set_operator(&db.pool, email.as_str(), is_operator).await? {
        anyhow::bail!("no account with the email {email}");
    }
    println!(
        "{email} is {} a platform operator",
        if is_operator { "now" } else { "no longer" }
    );
    Ok(())
}

async fn import_rates(config: &Config, file: &str) -> anyhow::Result<()> {
    let text = std::fs::read_to_string(file).with_context(|| format!("reading {file}"))?;
    let db = open(config).await?;
    db.migrate().await.context("applying migrations")?;
    let loaded = server::rates_import::import(&db, &text)
        .await
        .with_context(|| format!("importing {file}"))?;
    println!("loaded {loaded} rates from {file}; the previous deck was replaced");
    Ok(())
}

async fn open(config: &Config) -> anyhow::Result<app::server::db::Db> {
    if config.database_url.expose().starts_with("sqlite:") {
        std::fs::create_dir_all(&config.data_dir)?;
    }
    app::server::db::Db::connect(config.database_url.expose())
        .await
        .context("opening the database")
}

/// Ctrl-C or SIGTERM: stop accepting, let in-flight requests finish.
async fn shutdown_signal() {
    let ctrl_c = async {
        let _ = tokio::signal::ctrl_c().await;
    };
    #[cfg(unix)]
    let terminate = async {
        match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
            Ok(mut signal) => {
                signal.recv().await;
            }
            Err(_) => std::future::pending::<()>().await,
        }
    };
    #[cfg(not(unix))]
    let terminate = std::future::pending::<()>();
    tokio::select! {
        _ = ctrl_c => {},
        _ = terminate => {},
    }
    tracing::info!("shutting down: finishing in-flight requests");
}
