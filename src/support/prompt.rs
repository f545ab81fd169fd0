//! Questions to the person at the terminal. The library asks through the
//! [`Prompter`] on the context (rustup's `Process` is the model), so every
//! interactive path runs in tests with [`Scripted`] answers and no terminal; the CLI
//! supplies one drawn with dialoguer, or plain lines when stderr is not a terminal
//! (`kinfra-setup 2>&1 | tee setup.log`).

use std::collections::VecDeque;
use std::sync::Mutex;

use crate::support::error::SupportError as Error;

type Result<T> = std::result::Result<T, Error>;

pub trait Prompter: Send + Sync {
    /// A yes/no question, answered with Enter (a stray word is never an answer).
    fn confirm(&self, prompt: &str, default: bool) -> Result<bool>;
    /// A line of text; empty input takes `default` when there is one.
    fn input(&self, prompt: &str, default: Option<&str>) -> Result<String>;
    /// One of `items`, by index.
    fn select(&self, prompt: &str, items: &[&str], default: usize) -> Result<usize>;
}

/// For non-interactive runs: any question is a bug in the caller, reported as such.
pub struct NoPrompter;

impl Prompter for NoPrompter {
    fn confirm(&self, prompt: &str, _: bool) -> Result<bool> {
        Err(no_terminal(prompt))
    }
    fn input(&self, prompt: &str, _: Option<&str>) -> Result<String> {
        Err(no_terminal(prompt))
    }
    fn select(&self, prompt: &str, _: &[&str], _: usize) -> Result<usize> {
        Err(no_terminal(prompt))
    }
}

fn no_terminal(prompt: &str) -> Error {
    Error::NoTerminal {
        prompt: prompt.to_string(),
    }
}

/// Answers given in advance, in order, as typed: `""` is Enter (the default), `y`/`n`
/// for confirmations, an item's number or text for a selection. Records every question.
#[derive(Default)]
pub struct Scripted {
    answers: Mutex<VecDeque<String>>,
    pub asked: Mutex<Vec<String>>,
}

impl Scripted {
    pub fn new<S: Into<String>>(answers: impl IntoIterator<Item = S>) -> Self {
        Scripted {
            answers: Mutex::new(answers.into_iter().map(Into::into).collect()),
            asked: Mutex::default(),
        }
    }

    /// The questions asked so far.
    pub fn questions(&self) -> Vec<String> {
        self.asked.lock().map(|a| a.clone()).unwrap_or_default()
    }

    /// Answers not used yet.
    pub fn left(&self) -> usize {
        self.answers.lock().map(|a| a.len()).unwrap_or(0)
    }

    fn next(&self, prompt: &str) -> Result<String> {
        if let Ok(mut a) = self.asked.lock() {
            a.push(prompt.to_string());
        }
        self.answers
            .lock()
            .ok()
            .and_then(|mut a| a.pop_front())
            .ok_or_else(|| Error::NoScriptedAnswer {
                prompt: prompt.to_string(),
            })
    }
}

impl Prompter for Scripted {
    fn confirm(&self, prompt: &str, default: bool) -> Result<bool> {
        let a = self.next(prompt)?;
        parse_yes_no(&a, default).ok_or_else(|| Error::Unscripted {
            prompt: prompt.to_string(),
            answer: format!("{a:?}"),
            expected: "y/n".into(),
        })
    }
    fn input(&self, prompt: &str, default: Option<&str>) -> Result<String> {
        let a = self.next(prompt)?;
        Ok(match (a.trim().is_empty(), default) {
            (true, Some(d)) => d.to_string(),
            _ => a.trim().to_string(),
        })
    }
    fn select(&self, prompt: &str, items: &[&str], default: usize) -> Result<usize> {
        let a = self.next(prompt)?;
        parse_choice(&a, items, default).ok_or_else(|| Error::Unscripted {
            prompt: prompt.to_string(),
            answer: format!("{a:?}"),
            expected: format!("one of {items:?}"),
        })
    }
}

/// Pure: `y`/`yes`/`n`/`no` (any case), empty for the default; anything else is no answer.
pub fn parse_yes_no(answer: &str, default: bool) -> Option<bool> {
    match answer.trim().to_ascii_lowercase().as_str() {
        "" => Some(default),
        "y" | "yes" => Some(true),
        "n" | "no" => Some(false),
        _ => None,
    }
}

/// Pure: a 1-based number, an item's text or the start of exactly one item; empty
/// for the default.
pub fn parse_choice(answer: &str, items: &[&str], default: usize) -> Option<usize> {
    let a = answer.trim().to_ascii_lowercase();
    if a.is_empty() {
        return Some(default);
    }
    if let Ok(n) = a.parse::<usize>() {
        return (1..=items.len()).contains(&n).then(|| n - 1);
    }
    let matches: Vec<usize> = (0..items.len())
        .filter(|&i| items[i].to_ascii_lowercase().starts_with(&a))
        .collect();
    (matches.len() == 1).then(|| matches[0])
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn yes_no_takes_only_whole_answers() {
        assert_eq!(parse_yes_no("", true), Some(true));
        assert_eq!(parse_yes_no(" Y ", false), Some(true));
        assert_eq!(parse_yes_no("no", true), Some(false));
        assert_eq!(parse_yes_no("maybe", true), None);
        assert_eq!(parse_yes_no("yesss", true), None);
    }

    #[test]
    fn choices_by_number_text_or_unique_prefix() {
        let items = ["proceed", "change the destination", "cancel"];
        assert_eq!(parse_choice("", &items, 0), Some(0));
        assert_eq!(parse_choice("2", &items, 0), Some(1));
        assert_eq!(parse_choice("4", &items, 0), None);
        assert_eq!(parse_choice("ca", &items, 0), Some(2));
        assert_eq!(parse_choice("c", &items, 0), None, "ambiguous");
    }

    #[test]
    fn scripted_answers_in_order_and_records_questions() {
        let p = Scripted::new(["", "n", "3"]);
        assert_eq!(p.input("Where?", Some("~/x")).unwrap(), "~/x");
        assert!(!p.confirm("Sure?", true).unwrap());
        assert_eq!(p.select("Which?", &["a", "b", "c"], 0).unwrap(), 2);
        assert_eq!(p.questions(), ["Where?", "Sure?", "Which?"]);
        assert!(
            p.confirm("More?", true).is_err(),
            "out of answers is an error"
        );
    }
}
