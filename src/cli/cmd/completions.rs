use clap_complete::env::{Bash, Elvish, EnvCompleter, Fish, Powershell, Zsh};

use crate::support::env_vars::EnvVars;

#[derive(Debug, clap::Args)]
#[command(
    after_help = "The script asks kinfra at each <TAB>, so instance names, service \
names and free slots complete too.

Examples:
  kinfra completions bash > ~/.local/share/bash-completion/completions/kinfra
  kinfra completions zsh > \"${fpath[1]}/_kinfra\"
  kinfra completions fish > ~/.config/fish/completions/kinfra.fish"
)]
pub struct Args {
    /// The shell to generate for.
    pub shell: clap_complete::Shell,
}

pub fn run(a: Args) -> crate::cli::error::CliResult<i32> {
    let shell: &dyn EnvCompleter = match a.shell {
        clap_complete::Shell::Bash => &Bash,
        clap_complete::Shell::Zsh => &Zsh,
        clap_complete::Shell::Fish => &Fish,
        clap_complete::Shell::Elvish => &Elvish,
        clap_complete::Shell::PowerShell => &Powershell,
        other => {
            return Err(crate::cli::error::CliError::NoCompletionScript {
                shell: other.to_string(),
            });
        }
    };
    let mut out = Vec::new();
    shell
        .write_registration(
            EnvVars::KINFRA_COMPLETE,
            "kinfra",
            "kinfra",
            "kinfra",
            &mut out,
        )
        .map_err(|source| crate::cli::error::CliError::ScriptUnwritable { source })?;
    crate::outln!("{}", String::from_utf8_lossy(&out).trim_end());
    Ok(0)
}
