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

/// Marks `value` as secret: from now on it is never printed, in any of the ways
/// output spells it ([`spellings`]).
pub fn conceal(value: &str) {
    // Shorter values would blank out ordinary words and numbers.
    if value.chars().count() < 4 {
        return;
    }
    if let Ok(mut s) = SECRETS.lock() {
        for form in spellings(value) {
            if !s.contains(&form) {
                s.push(form);
            }
        }
        s.sort_by_key(|v| std::cmp::Reverse(v.len()));
    }
}

/// The shortest line of a multi-line secret that is hidden on its own: shorter
/// ones (`}`, `-----`) would blank out ordinary output.
const MIN_LINE: usize = 8;

/// Every way kinfra's output paths can spell `secret`: as it is; as compose
/// escapes it in `config` (`$` → `$$`); inside a YAML or JSON double-quoted string
/// (`\` → `\\`, `"` → `\"`, newline → `\n`); inside a single-quoted YAML string
/// (`'` → `''`); and, for a multi-line value, each line of 8 or more characters
/// (YAML block scalars print them one per line), each in the same forms.
pub fn spellings(secret: &str) -> Vec<String> {
    let mut out: Vec<String> = Vec::new();
    let mut add = |form: String| {
        if !form.is_empty() && !out.contains(&form) {
            out.push(form);
        }
    };
    let mut bases = vec![secret.to_string()];
    if secret.contains(['\n', '\r']) {
        bases.extend(
            secret
                .split(['\n', '\r'])
                .map(str::trim)
                .filter(|l| l.chars().count() >= MIN_LINE)
                .map(str::to_string),
        );
    }
    for base in bases {
        for v in [base.clone(), base.replace('$', "$$")] {
            add(double_quoted(&v));
            add(v.replace('\'', "''"));
            add(v);
        }
    }
    out
}

/// `v` as the inside of a JSON or YAML double-quoted string.
fn double_quoted(v: &str) -> String {
    let quoted = serde_json::to_string(v).unwrap_or_default();
    quoted
        .strip_prefix('"')
        .and_then(|q| q.strip_suffix('"'))
        .unwrap_or(&quoted)
        .to_string()
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

    use super::spellings;

    #[test]
    fn each_spelling_of_a_secret_is_hidden() {
        let s = "pa$s\"wo\\rd'x";
        let forms = spellings(s);
        for f in [
            "pa$s\"wo\\rd'x",      // raw
            "pa$$s\"wo\\rd'x",     // compose config
            "pa$s\\\"wo\\\\rd'x",  // JSON / YAML double-quoted
            "pa$$s\\\"wo\\\\rd'x", // both
            "pa$s\"wo\\rd''x",     // YAML single-quoted
        ] {
            assert!(forms.contains(&f.to_string()), "{f} not in {forms:?}");
            super::conceal(s);
            assert_eq!(super::redact(&format!("K={f}")), "K=***");
        }
    }

    #[test]
    fn each_line_of_a_multi_line_secret_is_hidden() {
        let s = "-----BEGIN KEY-----\nMIIEvQIBADANBgkq\nshort\n-----END KEY-----";
        let forms = spellings(s);
        assert!(forms.contains(&"MIIEvQIBADANBgkq".to_string()), "{forms:?}");
        assert!(forms.contains(
            &"-----BEGIN KEY-----\\nMIIEvQIBADANBgkq\\nshort\\n-----END KEY-----".to_string()
        ));
        // Lines under 8 characters would blank out ordinary words.
        assert!(!forms.contains(&"short".to_string()));
        super::conceal(s);
        let block = "KEY: |\n  -----BEGIN KEY-----\n  MIIEvQIBADANBgkq\n  short\n";
        let out = super::redact(block);
        assert!(
            !out.contains("MIIEvQIBADANBgkq") && !out.contains("BEGIN KEY"),
            "{out}"
        );
    }
}
