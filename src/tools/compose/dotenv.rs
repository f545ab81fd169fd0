//! A project's `.env` as compose reads it: values are interpolated
//! (`COMPOSE_PROFILES=${DOC_ENGINE},${DEVICE}`), from the environment first, then
//! from the lines above in the same file. Read literally, such a value names
//! profiles or files no one meant, and the services compose does start keep their
//! fixed host ports in every instance.

use std::collections::BTreeMap;

/// Pure: every variable of a `.env` text, interpolated as compose does. Lines are
/// `KEY=VALUE` with an optional `export `; `#` lines are skipped; a single-quoted
/// value is literal, a double-quoted or bare one is interpolated (a bare one loses
/// a trailing ` # comment`); the last line of a key wins. `env` is the process
/// environment: it is consulted before the file, as compose does.
pub fn resolve(text: &str, env: &dyn Fn(&str) -> Option<String>) -> BTreeMap<String, String> {
    let mut vars: BTreeMap<String, String> = BTreeMap::new();
    for line in text.lines() {
        let l = line.trim();
        let l = l.strip_prefix("export ").unwrap_or(l);
        if l.starts_with('#') {
            continue;
        }
        let Some((k, v)) = l.split_once('=') else {
            continue;
        };
        let k = k.trim();
        if k.is_empty() {
            continue;
        }
        let v = v.trim();
        let quoted = |q: char| v.len() > 1 && v.starts_with(q) && v.ends_with(q);
        let value = if quoted('\'') {
            v[1..v.len() - 1].to_string()
        } else {
            let raw = if quoted('"') {
                &v[1..v.len() - 1]
            } else {
                v.split(" #").next().unwrap_or(v).trim()
            };
            let seen = &vars;
            interpolate(raw, &|name: &str| {
                env(name).or_else(|| seen.get(name).cloned())
            })
        };
        vars.insert(k.to_string(), value);
    }
    vars
}

/// Pure: `s` with every `$NAME` and `${NAME…}` replaced as compose does:
/// `${X:-d}` (d when X is unset or empty), `${X-d}` (d when unset), `${X:+r}` and
/// `${X+r}` (r when set), `${X:?e}`/`${X?e}` (empty here: compose refuses the file
/// itself, with its own message); defaults and replacements are interpolated too
/// (`${A:-${B}}`); `$$` is a dollar. An unset variable is empty.
pub fn interpolate(s: &str, lookup: &dyn Fn(&str) -> Option<String>) -> String {
    interpolate_at(s, lookup, 0)
}

/// The longest value kept: enough for any setting kinfra reads, and a file whose
/// lines each double the one before (`B=${A}${A}`) cannot fill the memory.
pub const MAX_VALUE: usize = 16 << 10;

/// How deep defaults may nest (`${A:-${B:-…}}`); deeper text is kept as written,
/// so a hostile `.env` cannot exhaust the stack.
const MAX_DEPTH: usize = 16;

fn interpolate_at(s: &str, lookup: &dyn Fn(&str) -> Option<String>, depth: usize) -> String {
    if depth > MAX_DEPTH {
        return s.to_string();
    }
    let mut out = String::new();
    let mut rest = s;
    while let Some(i) = rest.find('$') {
        if out.len() > MAX_VALUE {
            truncate(&mut out);
            return out;
        }
        out.push_str(&rest[..i]);
        let after = &rest[i + 1..];
        if let Some(r) = after.strip_prefix('$') {
            out.push('$');
            rest = r;
        } else if let Some(body) = after.strip_prefix('{') {
            let Some(end) = closing_brace(body) else {
                // Unclosed: kept as written, as there is nothing to substitute.
                out.push_str(&rest[i..]);
                return out;
            };
            out.push_str(&braced(&body[..end], lookup, depth));
            rest = &body[end + 1..];
        } else {
            let n = name_len(after);
            if n == 0 {
                out.push('$');
            } else {
                out.push_str(&lookup(&after[..n]).unwrap_or_default());
            }
            rest = &after[n..];
        }
    }
    out.push_str(rest);
    truncate(&mut out);
    out
}

/// Cuts `s` to [`MAX_VALUE`] bytes, on a character boundary.
fn truncate(s: &mut String) {
    if s.len() > MAX_VALUE {
        let mut end = MAX_VALUE;
        while !s.is_char_boundary(end) {
            end -= 1;
        }
        s.truncate(end);
    }
}

/// The length of the variable name at the start of `s`.
fn name_len(s: &str) -> usize {
    s.bytes()
        .enumerate()
        .take_while(|(i, b)| {
            (b.is_ascii_alphanumeric() || *b == b'_') && !(*i == 0 && b.is_ascii_digit())
        })
        .count()
}

/// Where the `}` matching an opened `${` is in `body` (nested `${…}` counted).
fn closing_brace(body: &str) -> Option<usize> {
    let b = body.as_bytes();
    let mut depth = 0usize;
    let mut i = 0;
    while i < b.len() {
        match b[i] {
            b'$' if b.get(i + 1) == Some(&b'{') => {
                depth += 1;
                i += 1;
            }
            b'}' if depth == 0 => return Some(i),
            b'}' => depth -= 1,
            _ => {}
        }
        i += 1;
    }
    None
}

/// The value of one `${…}` body (`NAME`, `NAME:-default`, …).
fn braced(body: &str, lookup: &dyn Fn(&str) -> Option<String>, depth: usize) -> String {
    let n = name_len(body);
    let name = &body[..n];
    let op = &body[n..];
    let value = lookup(name);
    let set = value.is_some();
    let nonempty = value.as_deref().is_some_and(|v| !v.is_empty());
    let (test, arg) = if let Some(a) = op.strip_prefix(":-") {
        (Some(nonempty), Some(("-", a)))
    } else if let Some(a) = op.strip_prefix(":+") {
        (Some(nonempty), Some(("+", a)))
    } else if let Some(a) = op.strip_prefix(":?") {
        (Some(nonempty), Some(("?", a)))
    } else if let Some(a) = op.strip_prefix('-') {
        (Some(set), Some(("-", a)))
    } else if let Some(a) = op.strip_prefix('+') {
        (Some(set), Some(("+", a)))
    } else if let Some(a) = op.strip_prefix('?') {
        (Some(set), Some(("?", a)))
    } else {
        (None, None)
    };
    match (test, arg) {
        (Some(true), Some(("+", a))) => interpolate_at(a, lookup, depth + 1),
        (Some(false), Some(("+", _))) => String::new(),
        (Some(false), Some(("-", a))) => interpolate_at(a, lookup, depth + 1),
        (Some(false), Some(("?", _))) => String::new(),
        _ => value.unwrap_or_default(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn env_of(pairs: &'static [(&'static str, &'static str)]) -> impl Fn(&str) -> Option<String> {
        move |k: &str| {
            pairs
                .iter()
                .find(|(n, _)| *n == k)
                .map(|(_, v)| v.to_string())
        }
    }

    #[test]
    fn profiles_named_by_other_lines_of_the_file() {
        let text =
            "DOC_ENGINE=elasticsearch\nDEVICE=cpu\nCOMPOSE_PROFILES=${DOC_ENGINE},${DEVICE}\n";
        let v = resolve(text, &env_of(&[]));
        assert_eq!(v["COMPOSE_PROFILES"], "elasticsearch,cpu");
    }

    #[test]
    fn the_environment_wins_over_the_file() {
        let text = "DEVICE=cpu\nCOMPOSE_PROFILES=$DEVICE\n";
        let v = resolve(text, &env_of(&[("DEVICE", "gpu")]));
        assert_eq!(v["COMPOSE_PROFILES"], "gpu");
    }

    #[test]
    fn defaults_nested_and_set_forms() {
        let e = env_of(&[("EMPTY", ""), ("B", "bee")]);
        let cases = [
            ("${MISSING:-d}", "d"),
            ("${EMPTY:-d}", "d"),
            ("${EMPTY-d}", ""),
            ("${MISSING-d}", "d"),
            ("${B:-d}", "bee"),
            ("${MISSING:-${B}}", "bee"),
            ("${MISSING:-${ALSO:-x}-y}", "x-y"),
            ("${B:+on}", "on"),
            ("${EMPTY:+on}", ""),
            ("${EMPTY+on}", "on"),
            ("${MISSING:?need it}", ""),
            ("$$B", "$B"),
            ("a$B,c", "abee,c"),
            ("${B", "${B"),
            ("$", "$"),
            ("cost $5", "cost $5"),
        ];
        for (input, want) in cases {
            assert_eq!(interpolate(input, &e), want, "{input}");
        }
    }

    #[test]
    fn quotes_comments_and_the_last_line() {
        let text = "# COMPOSE_PROFILES=no\nA=x\nexport P1=\"${A},y\"\nP2='${A}'\nP3=${A} # comment\nP3=${A}${A}\nnoequals\n=v\n";
        let v = resolve(text, &env_of(&[]));
        assert_eq!(v["P1"], "x,y");
        assert_eq!(v["P2"], "${A}");
        assert_eq!(v["P3"], "xx");
        assert!(!v.contains_key(""));
    }

    #[test]
    fn a_later_line_is_not_seen_by_an_earlier_one() {
        let v = resolve("P=${A:-early}\nA=late\n", &env_of(&[]));
        assert_eq!(v["P"], "early");
    }

    #[test]
    fn hostile_values_do_not_panic() {
        for s in [
            "${",
            "${}",
            "${:-}",
            "$}",
            "${a${b${c",
            "é${é}",
            "\0$\0",
            "${A:-${B:-${C:-${D}}}}}}",
        ] {
            let _ = interpolate(s, &env_of(&[]));
        }
        // Nested a hundred thousand deep: no stack overflow, no quadratic time.
        let deep = format!("{}x{}", "${A:-".repeat(100_000), "}".repeat(100_000));
        assert!(interpolate(&deep, &env_of(&[])).len() <= MAX_VALUE);
        let many: String = (0..20_000)
            .map(|i| format!("V{i}=${{V{}}}x\n", i.max(1) - 1))
            .collect();
        let v = resolve(&many, &env_of(&[]));
        assert_eq!(v.len(), 20_000);
        assert!(v.values().all(|x| x.len() <= MAX_VALUE));
        // Each line doubling the one before: bounded, not 2^60 bytes.
        let doubling: String = (1..60)
            .map(|i| format!("D{i}=${{D{}}}${{D{}}}\n", i - 1, i - 1))
            .collect();
        let v = resolve(&format!("D0=xy\n{doubling}"), &env_of(&[]));
        assert_eq!(v["D59"].len(), MAX_VALUE);
    }
}
