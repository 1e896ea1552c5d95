//! The `simscore` binary: parse the command line and hand over to the library.

use clap::Parser;
use tokio_util::sync::CancellationToken;

use simscore::app::{self, Application};
use simscore::config::{Cli, Command};
use simscore_core::process::on_compute_pool;

/// mimalloc keeps freed memory for reuse. glibc's malloc hands the large temporaries of the
/// measures (8 MB per fold of a ridge-CV at n = 5000, p = 1000) back to the kernel and takes them
/// again page fault by page fault: that ridge-CV ran 20-30% slower on it (min of 6: 540-860
/// against 455-500 ms).
#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;

fn main() -> anyhow::Result<()> {
    // SAFETY: nothing else runs yet (the async runtime and the compute pools start below).
    unsafe { simscore_core::process::init_compute() };
    let cli = Cli::parse();
    simscore::telemetry::init(cli.log_json);
    match cli.command {
        // Offline scoring needs no async runtime; it runs on the compute pool.
        Command::Score(args) => on_compute_pool(|| simscore::cli::score(args)),
        Command::Optimize(args) => on_compute_pool(|| simscore::cli::optimize(args)),
        Command::Openapi => {
            println!("{}", simscore::api::openapi().to_pretty_json()?);
            Ok(())
        }
        command => tokio::runtime::Builder::new_multi_thread()
            .enable_all()
            .build()?
            .block_on(run(command)),
    }
}

async fn run(command: Command) -> anyhow::Result<()> {
    let shutdown = CancellationToken::new();
    match command {
        Command::Serve(args) => {
            let application = Application::build(&args).await?;
            app::shutdown_on_signals(shutdown.clone());
            application.run(shutdown).await
        }
        Command::Worker(args) => {
            app::shutdown_on_signals(shutdown.clone());
            app::run_worker(&args, shutdown).await
        }
        Command::Migrate(storage) => {
            app::open_storage(&storage).await?;
            eprintln!("migrations applied");
            Ok(())
        }
        Command::Token { command } => simscore::cli::token(command).await,
        Command::Score(_) | Command::Optimize(_) | Command::Openapi => {
            unreachable!("handled without a runtime")
        }
    }
}
