#[derive(Debug, clap::Args)]
#[command(
    after_help = "Example:\n  kinfra completions bash > ~/.local/share/bash-completion/completions/kinfra"
)]
pub struct Args {
    /// The shell to generate for.
    pub shell: clap_complete::Shell,
}

pub fn run(a: Args, mut cmd: clap::Command) -> crate::Result<i32> {
    clap_complete::generate(a.shell, &mut cmd, "kinfra", &mut std::io::stdout());
    Ok(0)
}
