//! Writing to stderr without ever panicking. `eprintln!` panics when stderr is
//! closed (`kinfra stack check 2>&1 >/dev/null | head -c 100`); in `up` that would
//! abort the undo of a failed start. Messages are best effort: a closed stderr
//! loses them and nothing else.
//!
//! Every line kinfra prints also passes [`redact`]: secret values fetched in this
//! process are replaced by `***` wherever they appear (a tool's error message can
//! quote what it was given), so no output path shows one.

use std::io::Write;
use std::sync::Mutex;

/// Secret values of this process, longest first.
static SECRETS: Mutex<Vec<String>> = Mutex::new(Vec::new());

/// Marks `value` as secret: from now on it is never printed.
pub fn conceal(value: &str) {
    // Shorter values would blank out ordinary words and numbers.
    if value.chars().count() < 4 {
        return;
    }
    if let Ok(mut s) = SECRETS.lock()
        && !s.iter().any(|v| v == value)
    {
        s.push(value.to_string());
        s.sort_by_key(|v| std::cmp::Reverse(v.len()));
    }
}

/// `text` with every concealed value replaced by `***`.
pub fn redact(text: &str) -> String {
    let Ok(secrets) = SECRETS.lock() else {
        return text.to_string();
    };
    let mut out = text.to_string();
    for v in secrets.iter() {
        if out.contains(v.as_str()) {
            out = out.replace(v.as_str(), "***");
        }
    }
    out
}

/// Writes `args` (and a newline when `newline`) to stderr, ignoring failures.
pub fn write_err(args: std::fmt::Arguments, newline: bool) {
    let text = redact(&args.to_string());
    let mut e = std::io::stderr().lock();
    let _ = e.write_all(text.as_bytes());
    if newline {
        let _ = e.write_all(b"\n");
    }
    let _ = e.flush();
}

/// `eprintln!` that never panics.
#[macro_export]
macro_rules! errln {
    () => { $crate::support::stdio::write_err(format_args!(""), true) };
    ($($t:tt)*) => { $crate::support::stdio::write_err(format_args!($($t)*), true) };
}

/// `eprint!` that never panics.
#[macro_export]
macro_rules! errp {
    ($($t:tt)*) => { $crate::support::stdio::write_err(format_args!($($t)*), false) };
}

#[cfg(test)]
mod tests {
    #[test]
    fn concealed_values_never_print() {
        super::conceal("s3cr3t-value-for-test");
        super::conceal("abc");
        assert_eq!(
            super::redact("bad port \"s3cr3t-value-for-test:80\", abc"),
            "bad port \"***:80\", abc"
        );
    }
}
