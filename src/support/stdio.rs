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
            add(go_json(&v));
            add(yaml_double_quoted(&v));
            add(v.replace('\'', "''"));
            add(v);
        }
    }
    out
}

/// `v` inside a JSON string as Go's encoding/json writes it (compose's
/// `config --format json`): also `<`, `>`, `&`, U+2028 and U+2029 as `\u…`.
fn go_json(v: &str) -> String {
    let mut out = String::new();
    for c in double_quoted(v).chars() {
        match c {
            '<' => out.push_str("\\u003c"),
            '>' => out.push_str("\\u003e"),
            '&' => out.push_str("\\u0026"),
            '\u{2028}' => out.push_str("\\u2028"),
            '\u{2029}' => out.push_str("\\u2029"),
            c => out.push(c),
        }
    }
    out
}

/// `v` inside a YAML double-quoted string as Go's YAML emitter writes it
/// (compose's `config`): a character it cannot print as `\xXX`, `\uXXXX` or a short
/// escape (`\t`, `\L`, …), hex in upper case.
fn yaml_double_quoted(v: &str) -> String {
    let mut out = String::new();
    for c in v.chars() {
        let short = match c {
            '\0' => Some('0'),
            '\x07' => Some('a'),
            '\x08' => Some('b'),
            '\t' => Some('t'),
            '\n' => Some('n'),
            '\x0b' => Some('v'),
            '\x0c' => Some('f'),
            '\r' => Some('r'),
            '\x1b' => Some('e'),
            '"' => Some('"'),
            '\\' => Some('\\'),
            '\u{85}' => Some('N'),
            '\u{2028}' => Some('L'),
            '\u{2029}' => Some('P'),
            _ => None,
        };
        let n = c as u32;
        let printable = matches!(n, 0x20..=0x7e | 0xa0..=0xd7ff | 0x10000..=0x10ffff)
            || (matches!(n, 0xe000..=0xfffd) && n != 0xfeff);
        match short {
            Some(e) => {
                out.push('\\');
                out.push(e);
            }
            None if printable => out.push(c),
            None if n <= 0xff => out.push_str(&format!("\\x{n:02X}")),
            None => out.push_str(&format!("\\u{n:04X}")),
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

    #[test]
    fn go_json_and_yaml_escapes_are_hidden() {
        // As compose printed them (`config --format json`, `config`), each once a
        // leak: Go's JSON escapes `<>&` and U+2028, its YAML writes `\x01`, `\x7F`.
        let cases = [
            ("p&ss<w0rd>LEAKME", r#"p\u0026ss\u003cw0rd\u003eLEAKME"#),
            ("LEAKD\u{2028}EFGH", r#"LEAKD\u2028EFGH"#),
            ("LEAKA\x01BCDEFG", r#"LEAKA\x01BCDEFG"#),
            ("LEAKI\x7fdel", r#"LEAKI\x7Fdel"#),
            ("LEAKJ\u{85}x\u{2028}y\ttab", r#"LEAKJ\Nx\Ly\ttab"#),
            ("LEAKK\u{feff}\u{1}", r#"LEAKK\uFEFF\x01"#),
        ];
        for (secret, printed) in cases {
            super::conceal(secret);
            assert_eq!(
                super::redact(&format!("K: \"{printed}\"")),
                "K: \"***\"",
                "{printed}"
            );
        }
    }
}
