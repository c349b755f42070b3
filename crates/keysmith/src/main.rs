//! The `keysmith` binary: the command line is [`keysmith::cli`].

use std::process::ExitCode;

fn main() -> ExitCode {
    // Before any thread exists: the arena cap applies to every thread the runtime starts.
    keysmith::malloc::cap_arenas();
    keysmith::cli::main()
}
