//! `.env.sandbox`: plain `KEY=VALUE` lines, sorted by key, no quoting, no secrets.
//! Readers skip blank lines and `#` comments and split on the first `=`.

use std::collections::BTreeMap;
use std::path::Path;

pub use crate::state::error::{EnvFileError, LoadError};

pub const FILE_NAME: &str = ".env.sandbox";

/// The largest env file kinfra reads (KTRDR's `.env.sandbox` is under 1 KiB).
pub const MAX_BYTES: u64 = 256 * 1024;

/// The text of the env file `name` (`.env.sandbox`, `.env`) of the checkout `dir`.
/// The file sits in a worktree anyone can write (or a repository can carry), and is
/// read by commands run from elsewhere (`sandbox status NAME`): a link is followed
/// only inside the checkout (its values are quoted in errors: a link to
/// `~/.aws/credentials` would print them), and only a bounded regular file is read
/// (a link to `/dev/zero` grew kinfra until memory ran out; a FIFO blocked it).
pub fn read(dir: &Path, name: &str) -> Result<String, LoadError> {
    let path = dir.join(name);
    let io = |source: std::io::Error| LoadError::Io {
        path: path.clone(),
        source,
    };
    let refused = |why: String| io(std::io::Error::other(why));
    let real = crate::support::fsutil::resolve_inside(dir, Path::new(name)).map_err(refused)?;
    use crate::support::fsutil::BoundedReadError as B;
    let bytes = crate::support::fsutil::read_bounded(&real, MAX_BYTES).map_err(|e| match e {
        B::NotFound => io(std::io::ErrorKind::NotFound.into()),
        B::Io(e) => io(e),
        e => refused(e.to_string()),
    })?;
    String::from_utf8(bytes).map_err(|_| refused("it is not UTF-8 text".into()))
}

/// The keys kinfra writes into every `.env.sandbox`, whatever the stack.
pub const OWN_KEYS: [&str; 5] = [
    "SLOT_NUMBER",
    "INSTANCE_ID",
    "COMPOSE_PROJECT_NAME",
    "CREATED_AT",
    "SANDBOX_VERSION",
];

/// The key naming one shared directory: `<PREFIX>_<SUB>_DIR`.
pub fn shared_dir_key(prefix: &str, sub: &str) -> String {
    format!(
        "{prefix}_{}_DIR",
        sub.to_uppercase().replace(['-', '.'], "_")
    )
}

/// Parses the text of an env file. Tolerates a UTF-8 BOM and CRLF line ends;
/// refuses duplicate keys (which one wins would be a guess) and values the writer
/// would refuse (a CR inside a line, a NUL).
pub fn parse(text: &str) -> Result<BTreeMap<String, String>, EnvFileError> {
    let text = text.strip_prefix('\u{feff}').unwrap_or(text);
    let mut map = BTreeMap::new();
    let mut first_line: BTreeMap<String, usize> = BTreeMap::new();
    for (i, raw) in text.split('\n').enumerate() {
        let line_no = i + 1;
        let line = raw.strip_suffix('\r').unwrap_or(raw).trim();
        if line.is_empty() || line.starts_with('#') {
            continue;
        }
        let Some((k, v)) = line.split_once('=') else {
            return Err(EnvFileError::NoEquals {
                line: line_no,
                text: line.chars().take(80).collect(),
            });
        };
        let k = k.trim();
        if k.is_empty() || !k.chars().all(|c| c.is_ascii_alphanumeric() || c == '_') {
            return Err(EnvFileError::BadKey {
                line: line_no,
                key: k.chars().take(80).collect(),
            });
        }
        if let Some(first) = first_line.get(k) {
            return Err(EnvFileError::Duplicate {
                line: line_no,
                first: *first,
                key: k.to_string(),
            });
        }
        // A CR inside a line or a NUL: what no writer puts there, refused as the
        // writer refuses it (so whatever is read can be written back).
        if let Err(reason) = crate::support::validate::env_value(v) {
            return Err(EnvFileError::BadLineValue {
                line: line_no,
                key: k.to_string(),
                reason,
            });
        }
        first_line.insert(k.to_string(), line_no);
        map.insert(k.to_string(), v.to_string());
    }
    Ok(map)
}

/// Whether `key=value` reads back as exactly this key and value: the one check
/// every write of the file goes through.
pub fn check_entry(key: &str, value: &str) -> Result<(), EnvFileError> {
    let bad_key = key.is_empty() || !key.chars().all(|c| c.is_ascii_alphanumeric() || c == '_');
    let reason = if bad_key {
        Some("not a key (letters, digits and _ only)".to_string())
    } else {
        crate::support::validate::env_value(value).err()
    };
    match reason {
        Some(reason) => Err(EnvFileError::Unwritable {
            key: key.chars().take(80).collect(),
            reason,
        }),
        None => Ok(()),
    }
}

/// Renders sorted `KEY=VALUE` lines; refuses (naming the key) an entry that would
/// not read back identically.
pub fn render(map: &BTreeMap<String, String>) -> Result<String, EnvFileError> {
    let mut s = String::new();
    for (k, v) in map {
        check_entry(k, v)?;
        s.push_str(k);
        s.push('=');
        s.push_str(v);
        s.push('\n');
    }
    Ok(s)
}

/// The one writer of `.env.sandbox`: checked, then replaced atomically. Nothing is
/// written when an entry is refused.
pub fn write(
    path: &Path,
    map: &BTreeMap<String, String>,
    mode: Option<u32>,
) -> crate::state::error::Result<()> {
    use crate::state::error::StateError;
    let text = render(map).map_err(|source| StateError::EnvUnwritable {
        path: path.to_path_buf(),
        source,
    })?;
    crate::support::fsutil::write_atomic(path, text.as_bytes(), mode)
        .map_err(|e| StateError::io("could not write", path, e))
}

#[cfg(test)]
mod tests {
    use super::*;

    /// `.env.sandbox` is read by commands run from elsewhere: a link out of the
    /// checkout (its values would be quoted in errors), a link to `/dev/zero` (read
    /// until memory ran out) and a FIFO (a block for good) are refused; a missing
    /// file is still NotFound; a plain file is read.
    #[test]
    fn an_env_file_is_read_only_from_a_bounded_file_inside_the_checkout() {
        let d = tempfile::tempdir().unwrap();
        let wt = d.path().join("wt");
        std::fs::create_dir(&wt).unwrap();
        let secret = d.path().join("credentials");
        std::fs::write(&secret, "AWS_SECRET=hunter2\n").unwrap();
        let f = wt.join(FILE_NAME);
        let refused = |why: &str| match read(&wt, FILE_NAME) {
            Err(LoadError::Io { source, .. }) => {
                assert_ne!(source.kind(), std::io::ErrorKind::NotFound, "{why}");
                source.to_string()
            }
            other => panic!("{why}: {other:?}"),
        };
        std::os::unix::fs::symlink(&secret, &f).unwrap();
        assert!(refused("link out").contains("outside"));
        std::fs::remove_file(&f).unwrap();
        std::os::unix::fs::symlink("/dev/zero", &f).unwrap();
        assert!(refused("/dev/zero").contains("outside"));
        std::fs::remove_file(&f).unwrap();
        nix::unistd::mkfifo(&f, nix::sys::stat::Mode::S_IRWXU).unwrap();
        assert!(refused("FIFO").contains("not a regular file"));
        std::fs::remove_file(&f).unwrap();
        std::fs::write(&f, "#\n".repeat(MAX_BYTES as usize)).unwrap();
        assert!(refused("too large").contains("larger than"));
        std::fs::remove_file(&f).unwrap();
        match read(&wt, FILE_NAME) {
            Err(LoadError::Io { source, .. }) => {
                assert_eq!(source.kind(), std::io::ErrorKind::NotFound);
            }
            other => panic!("missing: {other:?}"),
        }
        std::fs::write(&f, "SLOT_NUMBER=1\n").unwrap();
        assert_eq!(read(&wt, FILE_NAME).unwrap(), "SLOT_NUMBER=1\n");
    }

    #[test]
    fn parse_skips_comments_and_splits_on_first_equals() {
        let m = parse("# c\n\nA=1\nB=x=y\r\n  C = 3 \n").unwrap();
        assert_eq!(m["A"], "1");
        assert_eq!(m["B"], "x=y");
        assert_eq!(m["C"], " 3");
    }

    #[test]
    fn parse_tolerates_bom_and_refuses_junk() {
        assert_eq!(parse("\u{feff}A=1\n").unwrap()["A"], "1");
        assert_eq!(
            parse("A=1\nA=2\n"),
            Err(EnvFileError::Duplicate {
                line: 2,
                first: 1,
                key: "A".into()
            })
        );
        assert!(matches!(
            parse("junk\n"),
            Err(EnvFileError::NoEquals { line: 1, .. })
        ));
        assert!(matches!(parse("A B=1\n"), Err(EnvFileError::BadKey { .. })));
    }

    #[test]
    fn the_writer_refuses_what_would_not_read_back() {
        let one = |k: &str, v: &str| BTreeMap::from([(k.to_string(), v.to_string())]);
        for (k, v) in [
            ("A", "1\nSLOT_NUMBER=9"),
            ("A", "x\r"),
            ("A", "x\0y"),
            ("A", "x "),
            ("", "x"),
            ("A=B", "x"),
            ("A B", "x"),
            ("#A", "x"),
        ] {
            match render(&one(k, v)) {
                Err(EnvFileError::Unwritable { key, .. }) => assert_eq!(key, k),
                other => panic!("{k:?}={v:?}: {other:?}"),
            }
        }
        let m = one("A", " $x \"q\" = \\ '#");
        assert_eq!(parse(&render(&m).unwrap()).unwrap(), m);
    }

    #[test]
    fn a_refused_write_leaves_the_file_as_it_was() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join(FILE_NAME);
        std::fs::write(&path, "A=1\n").unwrap();
        let bad = BTreeMap::from([("A".to_string(), "2\nSLOT_NUMBER=9".to_string())]);
        let e = write(&path, &bad, None).unwrap_err();
        assert!(e.to_string().contains("\"A\""), "{e}");
        assert_eq!(e.exit_kind(), crate::support::error::ExitKind::Invalid);
        assert_eq!(std::fs::read_to_string(&path).unwrap(), "A=1\n");
    }

    proptest::proptest! {
        /// Whatever the writer accepts reads back as itself, no key added or lost.
        #[test]
        fn what_is_written_reads_back(
            m in proptest::collection::btree_map("[A-Za-z0-9_=# ]{0,6}", "\\PC{0,12}|[ \t\r\n=#\"'$\\\\a]{0,8}", 0..6)
        ) {
            if let Ok(text) = render(&m) {
                proptest::prop_assert_eq!(parse(&text), Ok(m));
            } else {
                proptest::prop_assert!(m.iter().any(|(k, v)| check_entry(k, v).is_err()));
            }
        }
    }
}
