//! `keysmith completions SHELL` and `keysmith man`: shell completions and man pages generated
//! from the clap definition itself, so they cannot drift from the flags the binary takes.

use std::io::Write;
use std::path::Path;

use clap::CommandFactory;

use super::Cli;
use crate::error::ServerError;

/// Prints the completion script for `shell` to standard output.
pub(super) fn completions(shell: clap_complete::Shell) -> Result<(), ServerError> {
    let mut command = Cli::command();
    // Into memory first: clap_complete panics on a failed write (a closed pipe, say).
    let mut script = Vec::new();
    clap_complete::generate(shell, &mut command, "keysmith", &mut script);
    let mut out = std::io::stdout().lock();
    out.write_all(&script)
        .and_then(|()| out.flush())
        .map_err(|e| ServerError::Cli(format!("standard output: {e}")))
}

/// Prints keysmith(1) to standard output, or with `dir` writes it and one page per command
/// (`keysmith-serve.1`, `keysmith-key-generate.1`, …) into `dir`, which must exist.
pub(super) fn man(dir: Option<&Path>) -> Result<(), ServerError> {
    let command = Cli::command();
    match dir {
        None => {
            let mut out = std::io::stdout().lock();
            clap_mangen::Man::new(command)
                .render(&mut out)
                .and_then(|()| out.flush())
                .map_err(|e| ServerError::Cli(format!("standard output: {e}")))
        }
        Some(dir) => {
            if !dir.is_dir() {
                return Err(ServerError::Cli(format!(
                    "--dir {}: not a directory (create it first)",
                    dir.display()
                )));
            }
            clap_mangen::generate_to(command, dir)
                .map_err(|e| ServerError::Cli(format!("--dir {}: {e}", dir.display())))
        }
    }
}
