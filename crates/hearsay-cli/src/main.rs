//! `hearsay`: the command-line tool.
//!
//! `hearsay sim …` runs experiments that reproduce the gossip literature on the deterministic
//! actor harness: node actors exchanging real encoded messages in virtual time. `hearsay node`
//! runs a networked node driven by a line protocol on stdin; `hearsay keygen` prints a cluster key.

/// `println!` for the tool's output, where `println!` panics when stdout fails: once a write
/// fails, the rest of the output is dropped and the command runs to its end (a search still
/// saves its failing seeds and answers with its own exit code); a pipe closed by its reader
/// (`hearsay … | head -1`) is no error, any other failure (a full disk) is said on stderr and
/// makes the exit code 1.
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
use std::sync::atomic::{AtomicU8, Ordering};

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
        Err(error) => {
            eprintln!("hearsay: {error}");
            ExitCode::FAILURE
        }
        Ok(()) if OUTPUT.load(Ordering::Relaxed) == OUTPUT_FAILED => ExitCode::FAILURE,
        Ok(()) => ExitCode::SUCCESS,
    }
}

/// How stdout fares: writable, closed by its reader, or failed.
static OUTPUT: AtomicU8 = AtomicU8::new(OUTPUT_OPEN);
const OUTPUT_OPEN: u8 = 0;
const OUTPUT_CLOSED: u8 = 1;
const OUTPUT_FAILED: u8 = 2;

/// Writes one line on stdout ([`out!`]); nothing once a write failed.
fn print_line(args: std::fmt::Arguments<'_>) {
    use std::io::Write;
    if OUTPUT.load(Ordering::Relaxed) != OUTPUT_OPEN {
        return;
    }
    let mut stdout = std::io::stdout().lock();
    if let Err(error) = writeln!(stdout, "{args}").and_then(|()| stdout.flush()) {
        if error.kind() == std::io::ErrorKind::BrokenPipe {
            OUTPUT.store(OUTPUT_CLOSED, Ordering::Relaxed);
        } else {
            eprintln!("hearsay: cannot write the output: {error}");
            OUTPUT.store(OUTPUT_FAILED, Ordering::Relaxed);
        }
    }
}
