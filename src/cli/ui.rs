//! Terminal output for the CLI: the library's [`Reporter`] drawn with console and
//! indicatif on stderr. Colours follow NO_COLOR / CLICOLOR / CLICOLOR_FORCE and
//! `--color`; progress bars appear only on a terminal.

use console::{Term, style};
use indicatif::{ProgressBar, ProgressStyle};

use crate::state::context::{Mark, Progress, Reporter};
use crate::support::env_vars::EnvVars;
use crate::support::error::SupportError;

#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum, Default)]
pub enum ColorChoice {
    #[default]
    Auto,
    Always,
    Never,
}

/// Applies the colour choice and the environment's conventions.
pub fn configure_colors(choice: ColorChoice) {
    let env_off = crate::support::env_vars::get(EnvVars::NO_COLOR).is_some()
        || std::env::var(EnvVars::CLICOLOR).is_ok_and(|v| v == "0");
    let env_force = std::env::var(EnvVars::CLICOLOR_FORCE).is_ok_and(|v| v != "0");
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
    fn set_length(&self, n: u64) {
        self.0.set_length(n);
    }
    fn set_position(&self, n: u64) {
        self.0.set_position(n);
    }
    fn set_message(&self, msg: &str) {
        self.0.set_message(crate::support::stdio::redact(msg));
    }
    fn tick_steadily(&self) {
        self.0
            .enable_steady_tick(std::time::Duration::from_millis(100));
    }
}

/// A bar that appears once its total is known.
struct Counter {
    bar: ProgressBar,
    show: bool,
}
impl Progress for Counter {
    fn inc(&self, n: u64) {
        self.bar.inc(n);
    }
    fn finish(&self) {
        self.bar.finish_and_clear();
    }
    fn set_length(&self, n: u64) {
        if self.show && n > 0 && self.bar.is_hidden() {
            self.bar
                .set_draw_target(indicatif::ProgressDrawTarget::stderr());
        }
        self.bar.set_length(n);
    }
    fn set_position(&self, n: u64) {
        self.bar.set_position(n);
    }
    fn set_message(&self, msg: &str) {
        self.bar.set_message(crate::support::stdio::redact(msg));
    }
}

/// One line redrawn in place (compose's progress on a terminal).
struct Compact(ProgressBar);
impl Progress for Compact {
    fn inc(&self, _: u64) {}
    fn finish(&self) {
        self.0.finish_and_clear();
    }
    fn set_message(&self, msg: &str) {
        self.0
            .set_message(crate::support::stdio::redact(msg.trim()));
    }
    fn compact(&self) -> bool {
        true
    }
}

impl TermReporter {
    /// Bars only where a person sees them: stderr a terminal, not `--quiet`.
    fn bar(&self, template: &str, label: &str) -> Box<dyn Progress> {
        let bar = if self.quiet || !Term::stderr().is_term() {
            ProgressBar::hidden()
        } else {
            let b = ProgressBar::new(0);
            if let Ok(s) = ProgressStyle::with_template(template) {
                b.set_style(s.progress_chars("=> "));
            }
            b.set_message(label.to_string());
            b
        };
        Box::new(Bar(bar))
    }
}

/// A checklist line as the CLI draws it: a coloured mark before the item's line;
/// detail lines (no mark) as they are.
pub fn checklist_line(mark: Option<Mark>, line: &str) -> String {
    let Some(mark) = mark else {
        return line.to_string();
    };
    let glyph = match mark {
        Mark::Ok => style("✓").green().bold(),
        Mark::Warn => style("!").yellow().bold(),
        Mark::Failed => style("✗").red().bold(),
        Mark::Skipped => style("-").dim(),
    };
    format!("  {glyph} {line}")
}

impl Reporter for TermReporter {
    fn step(&self, msg: &str) {
        if !self.quiet {
            crate::errln!("{} {msg}", style("==>").cyan().bold());
        }
    }
    fn info(&self, msg: &str) {
        if !self.quiet {
            crate::errln!("{msg}");
        }
    }
    fn warn(&self, msg: &str) {
        crate::errln!("{} {msg}", style("warning:").yellow().bold());
    }
    fn success(&self, msg: &str) {
        if !self.quiet {
            crate::errln!("{}", style(msg).green());
        }
    }
    fn check(&self, mark: Mark, line: &str) {
        // A failed check is shown even under --quiet: it is why the command failed.
        if !self.quiet || mark == Mark::Failed {
            crate::errln!("{}", checklist_line(Some(mark), line));
        }
    }
    fn bytes(&self, total: u64, label: &str) -> Box<dyn Progress> {
        let b = self.bar(
            "{msg} [{bar:30}] {bytes}/{total_bytes} {bytes_per_sec} eta {eta}",
            label,
        );
        b.set_length(total);
        b
    }
    fn section(&self, title: &str) {
        if !self.quiet {
            crate::errln!("\n{}", style(title).bold());
        }
    }
    fn counter(&self, label: &str) -> Box<dyn Progress> {
        // Drawn from the first known total on: a transfer that never reports one
        // (a local clone) shows no empty bar.
        let b = ProgressBar::with_draw_target(Some(0), indicatif::ProgressDrawTarget::hidden());
        if let Ok(s) =
            ProgressStyle::with_template(&format!("{label} [{{bar:30}}] {{pos}}/{{len}} {{msg}}"))
        {
            b.set_style(s.progress_chars("=> "));
        }
        Box::new(Counter {
            bar: b,
            show: !self.quiet && Term::stderr().is_term(),
        })
    }
    fn live(&self, label: &str) -> Box<dyn Progress + '_> {
        if self.quiet || !Term::stderr().is_term() {
            return Box::new(crate::state::context::Lines(Box::new(|l| {
                self.info(&format!("  {l}"));
            })));
        }
        let b = ProgressBar::new_spinner();
        if let Ok(s) = ProgressStyle::with_template("  {spinner} {prefix}: {wide_msg}") {
            b.set_style(s);
        }
        b.set_prefix(label.to_string());
        b.enable_steady_tick(std::time::Duration::from_millis(100));
        Box::new(Compact(b))
    }
    fn spinner(&self, label: &str) -> Box<dyn Progress> {
        let b = self.bar("{spinner} {msg}", label);
        b.tick_steadily();
        b
    }
}

/// Asks on the terminal. Answers are whole lines confirmed with Enter, re-asked when
/// they are not an answer; a selection is an arrow-key menu when stderr is a terminal
/// and a numbered list otherwise (`2>&1 | tee setup.log`), read from stdin either way.
pub struct TermPrompter {
    /// stderr is a terminal: menus may be drawn.
    pub menus: bool,
}

impl TermPrompter {
    pub fn new() -> Self {
        TermPrompter {
            menus: Term::stderr().is_term(),
        }
    }

    fn read_line(&self, prompt: &str) -> Result<String, SupportError> {
        use std::io::Write;
        let _ = std::io::stderr().flush();
        let mut line = String::new();
        match std::io::stdin().read_line(&mut line) {
            Ok(0) => Err(SupportError::InputEnded {
                prompt: prompt.to_string(),
            }),
            Ok(_) => Ok(line.trim().to_string()),
            Err(e) => {
                interrupted_at_prompt(&e);
                Err(SupportError::AnswerUnread {
                    what: "could not read the answer",
                    source: e,
                })
            }
        }
    }
}

/// Ctrl-C while a prompt waits for input: the read may fail with EINTR before the
/// signal handler's thread has ended the process, so end it here the same way (130,
/// cursor shown) instead of reporting a read error.
fn interrupted_at_prompt(e: &std::io::Error) {
    if e.kind() == std::io::ErrorKind::Interrupted {
        let term = console::Term::stderr();
        if term.is_term() {
            let _ = term.show_cursor();
        }
        std::process::exit(crate::support::error::ExitKind::Interrupted.code());
    }
}

impl Default for TermPrompter {
    fn default() -> Self {
        Self::new()
    }
}

impl crate::support::prompt::Prompter for TermPrompter {
    fn confirm(&self, prompt: &str, default: bool) -> Result<bool, SupportError> {
        let hint = if default { "[Y/n]" } else { "[y/N]" };
        loop {
            crate::errp!(
                "{} {prompt} {} ",
                style("?").cyan().bold(),
                style(hint).dim()
            );
            let a = self.read_line(prompt)?;
            match crate::support::prompt::parse_yes_no(&a, default) {
                Some(v) => return Ok(v),
                None => crate::errln!(
                    "  answer y or n (Enter: {})",
                    if default { "yes" } else { "no" }
                ),
            }
        }
    }

    fn input(&self, prompt: &str, default: Option<&str>) -> Result<String, SupportError> {
        loop {
            match default.filter(|d| !d.is_empty()) {
                Some(d) => crate::errp!(
                    "{} {prompt} {} ",
                    style("?").cyan().bold(),
                    style(format!("[{d}]")).dim()
                ),
                None => crate::errp!("{} {prompt} ", style("?").cyan().bold()),
            }
            let a = self.read_line(prompt)?;
            match (a.is_empty(), default) {
                (true, Some(d)) => return Ok(d.to_string()),
                (true, None) => crate::errln!("  an answer is needed"),
                (false, _) => return Ok(a),
            }
        }
    }

    fn select(&self, prompt: &str, items: &[&str], default: usize) -> Result<usize, SupportError> {
        if self.menus {
            return dialoguer::Select::new()
                .with_prompt(prompt)
                .items(items)
                .default(default)
                .interact()
                .map_err(|e| {
                    let dialoguer::Error::IO(io) = &e;
                    interrupted_at_prompt(io);
                    let dialoguer::Error::IO(source) = e;
                    SupportError::AnswerUnread {
                        what: "prompt failed",
                        source,
                    }
                });
        }
        crate::errln!("{} {prompt}", style("?").cyan().bold());
        for (i, item) in items.iter().enumerate() {
            crate::errln!("  {}) {item}", i + 1);
        }
        loop {
            crate::errp!("  choose 1-{} [{}] ", items.len(), default + 1);
            let a = self.read_line(prompt)?;
            match crate::support::prompt::parse_choice(&a, items, default) {
                Some(i) => return Ok(i),
                None => crate::errln!("  answer with a number from 1 to {}", items.len()),
            }
        }
    }
}
