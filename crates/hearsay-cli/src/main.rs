//! `hearsay`: the command-line tool.
//!
//! `hearsay sim …` runs experiments that reproduce the gossip literature on the deterministic
//! actor harness: node actors exchanging real encoded messages in virtual time. `hearsay node`
//! runs a networked node driven by a line protocol on stdin; `hearsay keygen` prints a cluster key.

/// `println!` for the tool's output: a closed pipe (`hearsay … | head -1`) ends the process
/// quietly, as Unix tools do, and a failed write (a full disk) is an error message and exit 1,
/// where `println!` panics.
macro_rules! out {
    ($($arg:tt)*) => {
        $crate::print_line(format_args!($($arg)*))
    };
}

mod admin;
mod config_file;
mod logs;
mod node;
mod plot;
mod settings;
mod sim;

use clap::{Parser, Subcommand};

/// Simulations allocate a message buffer per datagram: mimalloc makes that markedly cheaper than
/// the system allocator (a quarter of the time of a 100,000-node run went to malloc).
#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;
use std::process::ExitCode;

/// hearsay: a gossip-protocol cluster framework.
#[derive(Parser, Debug)]
#[command(name = "hearsay", version, about)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand, Debug)]
enum Command {
    /// Experiments on the deterministic actor harness.
    #[command(subcommand)]
    Sim(sim::SimCommand),
    /// Runs a networked node: commands on stdin (set, get, del, wait, members, dump, stats,
    /// reload-keys, quit), one answer line each on stdout, logs on stderr.
    Node(node::NodeArgs),
    /// Prints a new random cluster key, in the format --key-file reads.
    Keygen,
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    let outcome = match cli.command {
        Command::Sim(command) => sim::run(command),
        Command::Node(args) => node::run(args),
        Command::Keygen => node::keygen(),
    };
    match outcome {
        Ok(()) => ExitCode::SUCCESS,
        Err(error) => {
            eprintln!("hearsay: {error}");
            ExitCode::FAILURE
        }
    }
}

/// Writes one line on stdout ([`out!`]).
fn print_line(args: std::fmt::Arguments<'_>) {
    use std::io::Write;
    let mut stdout = std::io::stdout().lock();
    if let Err(error) = writeln!(stdout, "{args}").and_then(|()| stdout.flush()) {
        if error.kind() == std::io::ErrorKind::BrokenPipe {
            std::process::exit(0);
        }
        eprintln!("hearsay: cannot write the output: {error}");
        std::process::exit(1);
    }
}
