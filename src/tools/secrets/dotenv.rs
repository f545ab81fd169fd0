//! A dotenv file read for `dotenv://PATH#KEY` and `env://NAME`'s fallback, with the
//! standard quoting and never interpolated (a `$` in a value is the value's):
//! `KEY=value` (trimmed, ` #` starts a comment), `export KEY=…`, single quotes taken
//! as written, double quotes with `\n`, `\"`, `\\` escapes and real newlines inside
//! (a PEM key). Pure.

/// Pure: `key`'s value in `text` (the last line naming it wins).
pub fn value(text: &str, key: &str) -> Option<String> {
    let mut found = None;
    let mut rest = text;
    while !rest.is_empty() {
        // Where a slice of `rest` starts in it.
        let at = |s: &str| s.as_ptr() as usize - rest.as_ptr() as usize;
        let line_end = rest.find('\n').unwrap_or(rest.len());
        let line = rest[..line_end].trim_start();
        let line = line.strip_prefix("export ").unwrap_or(line).trim_start();
        let mut used_to = line_end;
        if let Some((k, v)) = line.split_once('=')
            && !k.trim_start().starts_with('#')
        {
            let k = k.trim();
            let v = v.trim_start();
            // A quoted value may run past its line: read from `rest`.
            let from = &rest[at(v)..];
            let quoted = if let Some(body) = from.strip_prefix('"') {
                double_quoted(body).map(|(val, n)| (val, at(v) + 1 + n))
            } else if let Some(body) = from.strip_prefix('\'') {
                body.find('\'')
                    .map(|end| (body[..end].to_string(), at(v) + 2 + end))
            } else {
                None
            };
            let val = match quoted {
                Some((val, end)) => {
                    used_to = end + rest[end..].find('\n').unwrap_or(rest.len() - end);
                    val
                }
                None => unquoted(&rest[at(v)..line_end]),
            };
            if k == key {
                found = Some(val);
            }
        }
        rest = rest.get(used_to + 1..).unwrap_or("");
    }
    found
}

fn unquoted(v: &str) -> String {
    let v = match v.find(" #") {
        Some(i) => &v[..i],
        None => v,
    };
    v.trim().to_string()
}

/// The inside of a double-quoted value (after its opening quote): the value and how
/// many bytes it used with its closing quote; `None` when it never closes.
fn double_quoted(body: &str) -> Option<(String, usize)> {
    let mut out = String::new();
    let mut chars = body.char_indices();
    while let Some((i, c)) = chars.next() {
        match c {
            '"' => return Some((out, i + 1)),
            '\\' => match chars.next() {
                Some((_, 'n')) => out.push('\n'),
                Some((_, 'r')) => out.push('\r'),
                Some((_, 't')) => out.push('\t'),
                Some((_, '"')) => out.push('"'),
                Some((_, '\\')) => out.push('\\'),
                Some((_, other)) => {
                    out.push('\\');
                    out.push(other);
                }
                None => return None,
            },
            c => out.push(c),
        }
    }
    None
}

#[cfg(test)]
mod tests {
    use super::value;

    #[test]
    fn standard_quoting_never_interpolated() {
        let text = "# comment\nA=plain # note\nexport B='sin$gle \"q\"'\nC=\"dou\\\"ble\\\\ $HOME\"\nD=\"-----BEGIN KEY-----\nMIIEvQIBADANBgkq\n-----END KEY-----\"\nE=after\nA=last\nF=\nG=\"esc\\nline\"\n";
        assert_eq!(value(text, "A").as_deref(), Some("last"));
        assert_eq!(value(text, "B").as_deref(), Some("sin$gle \"q\""));
        assert_eq!(value(text, "C").as_deref(), Some("dou\"ble\\ $HOME"));
        assert_eq!(
            value(text, "D").as_deref(),
            Some("-----BEGIN KEY-----\nMIIEvQIBADANBgkq\n-----END KEY-----")
        );
        // The line after a multi-line value is read as its own.
        assert_eq!(value(text, "E").as_deref(), Some("after"));
        assert_eq!(value(text, "F").as_deref(), Some(""));
        assert_eq!(value(text, "G").as_deref(), Some("esc\nline"));
        assert_eq!(value(text, "MIIEvQIBADANBgkq"), None);
        assert_eq!(value(text, "Z"), None);
    }

    #[test]
    fn odd_input_never_panics() {
        for t in [
            "", "=", "A", "A=\"open", "A='open", "é=\"ü", "A=\"\\", "\n\n=\n",
        ] {
            let _ = value(t, "A");
        }
        assert_eq!(value("A=\"open\nB=1", "A").as_deref(), Some("\"open"));
        assert_eq!(value("A=\"open\nB=1", "B").as_deref(), Some("1"));
    }
}
