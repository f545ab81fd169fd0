//! Terminal output for the CLI: the library's [`Reporter`] drawn with console and
//! indicatif on stderr. Colours follow NO_COLOR / CLICOLOR / CLICOLOR_FORCE and
//! `--color`; progress bars appear only on a terminal.

use console::{Term, style};
use indicatif::{ProgressBar, ProgressStyle};

use crate::context::{Progress, Reporter};

#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum, Default)]
pub enum ColorChoice {
    #[default]
    Auto,
    Always,
    Never,
}

/// Applies the colour choice and the environment's conventions.
pub fn configure_colors(choice: ColorChoice) {
    let env_off = std::env::var_os("NO_COLOR").is_some_and(|v| !v.is_empty())
        || std::env::var("CLICOLOR").is_ok_and(|v| v == "0");
    let env_force = std::env::var("CLICOLOR_FORCE").is_ok_and(|v| v != "0");
    let on = match choice {
        ColorChoice::Always => true,
        ColorChoice::Never => false,
        ColorChoice::Auto => {
            if env_off {
                false
            } else if env_force {
                true
            } else {
                Term::stderr().features().colors_supported() && Term::stderr().is_term()
            }
        }
    };
    console::set_colors_enabled(on);
    console::set_colors_enabled_stderr(on);
}

pub struct TermReporter {
    pub quiet: bool,
}

struct Bar(ProgressBar);
impl Progress for Bar {
    fn inc(&self, n: u64) {
        self.0.inc(n);
    }
    fn finish(&self) {
        self.0.finish_and_clear();
    }
}

impl Reporter for TermReporter {
    fn step(&self, msg: &str) {
        if !self.quiet {
            eprintln!("{} {msg}", style("==>").cyan().bold());
        }
    }
    fn info(&self, msg: &str) {
        if !self.quiet {
            eprintln!("{msg}");
        }
    }
    fn warn(&self, msg: &str) {
        eprintln!("{} {msg}", style("warning:").yellow().bold());
    }
    fn success(&self, msg: &str) {
        if !self.quiet {
            eprintln!("{}", style(msg).green());
        }
    }
    fn bytes(&self, total: u64, label: &str) -> Box<dyn Progress> {
        let bar = if self.quiet || !Term::stderr().is_term() {
            ProgressBar::hidden()
        } else {
            let b = ProgressBar::new(total);
            if let Ok(s) = ProgressStyle::with_template(
                "{msg} [{bar:30}] {bytes}/{total_bytes} {bytes_per_sec} eta {eta}",
            ) {
                b.set_style(s.progress_chars("=> "));
            }
            b.set_message(label.to_string());
            b
        };
        Box::new(Bar(bar))
    }
}
