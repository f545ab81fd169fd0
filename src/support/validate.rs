//! What a value written by someone else may be. A repository's `kinfra.toml`, a
//! hook payload, an MCP call and the environment are input: every value that
//! becomes a variable name, a path, a URL, a compose project or a command-line word
//! is checked here, by pure functions, before it is used. The newtypes deserialize
//! through these checks, so a bad value in `kinfra.toml` is refused by the parser
//! with its line and column.

use std::fmt;

/// An environment-variable name kinfra writes or hands to compose:
/// `[A-Z_][A-Z0-9_]*`. Anything else could split a `.env.sandbox` line (`=`, a
/// newline) or be read by a shell as code.
pub fn env_name(s: &str) -> Result<(), String> {
    let mut chars = s.chars();
    match chars.next() {
        None => Err("an empty name".into()),
        Some(c) if !(c.is_ascii_uppercase() || c == '_') => Err(format!(
            "{s:?} is not an environment variable name: it must start with A-Z or _ (then A-Z, 0-9, _)"
        )),
        _ if !chars.all(|c| c.is_ascii_uppercase() || c.is_ascii_digit() || c == '_') => Err(
            format!("{s:?} is not an environment variable name: only A-Z, 0-9 and _"),
        ),
        _ => Ok(()),
    }
}

/// A value kinfra writes into a `KEY=VALUE` line of `.env.sandbox` (or hands to
/// compose as a variable): one it reads back identically. A newline or CR would add
/// lines (`SLOT_NUMBER=9`), a NUL cannot be in a process's environment, and the
/// reader trims a line, so trailing whitespace would be lost.
pub fn env_value(s: &str) -> Result<(), String> {
    let why = if s.contains('\n') {
        "a newline"
    } else if s.contains('\r') {
        "a carriage return"
    } else if s.contains('\0') {
        "a NUL byte"
    } else if s.trim_end() != s {
        "trailing whitespace (the reader trims it)"
    } else {
        return Ok(());
    };
    Err(format!(
        "{:?} holds {why}: it cannot be one `KEY=VALUE` line of .env.sandbox (write it on one line, without it)",
        s.chars().take(60).collect::<String>()
    ))
}

/// A TCP port kinfra publishes or checks: 1-65535. Port 0 asks the kernel for any
/// free port, which no sandbox can be told about.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, serde::Deserialize)]
#[serde(try_from = "u16")]
pub struct PortNumber(pub u16);

impl TryFrom<u16> for PortNumber {
    type Error = String;
    fn try_from(p: u16) -> Result<Self, String> {
        if p == 0 {
            Err("port 0 is not a port (it asks the kernel for any free one): use 1-65535".into())
        } else {
            Ok(PortNumber(p))
        }
    }
}

/// Variables that steer the processes kinfra runs (docker, compose, git, the
/// shells inside containers) or where they connect: a secret or a repository value
/// must never become one of them.
pub fn steers_processes(name: &str) -> bool {
    const EXACT: &[&str] = &[
        "PATH",
        "HOME",
        "SHELL",
        "IFS",
        "ENV",
        "BASH_ENV",
        "CDPATH",
        "TMPDIR",
        "USER",
        "LOGNAME",
        "PS4",
        "PROMPT_COMMAND",
        "NODE_OPTIONS",
        "PERL5OPT",
        "RUBYOPT",
        "JAVA_TOOL_OPTIONS",
        "HTTP_PROXY",
        "HTTPS_PROXY",
        "ALL_PROXY",
        "NO_PROXY",
        "SSL_CERT_FILE",
        "SSL_CERT_DIR",
        "XDG_CONFIG_HOME",
        "XDG_RUNTIME_DIR",
        // What an interpreter loads or runs first, and where the C library finds
        // code: set by a repository, each runs its code inside a command the user
        // allowed (a host service, a prepare step) without being part of it.
        "GCONV_PATH",
        "GLIBC_TUNABLES",
        "LOCPATH",
        "NLSPATH",
        "HOSTALIASES",
        "RES_OPTIONS",
        "LOCALDOMAIN",
        "ZDOTDIR",
        "NODE_PATH",
        "NODE_REPL_EXTERNAL_MODULE",
        "PERLLIB",
        "RUBYLIB",
        "GEM_HOME",
        "GEM_PATH",
        "IRBRC",
        "LUA_INIT",
        "LUA_PATH",
        "LUA_CPATH",
        "TCLLIBPATH",
        "CLASSPATH",
        "JDK_JAVA_OPTIONS",
        "_JAVA_OPTIONS",
        "PHPRC",
        "PHP_INI_SCAN_DIR",
        "R_PROFILE",
        "R_PROFILE_USER",
        "R_LIBS",
        "R_LIBS_USER",
    ];
    const PREFIXES: &[&str] = &[
        "LD_",
        "DYLD_",
        "DOCKER_",
        "COMPOSE_",
        "BUILDKIT_",
        "BUILDX_",
        "KINFRA_",
        "OP_",
        "GIT_",
        "SSH_",
        "PYTHON",
        "UV_",
        "PERL5",
    ];
    EXACT.contains(&name) || PREFIXES.iter().any(|p| name.starts_with(p))
}

/// Whether `s` is one character `first` accepts followed by any number `rest` does.
fn shaped(s: &str, first: impl Fn(char) -> bool, rest: impl Fn(char) -> bool) -> bool {
    let mut chars = s.chars();
    chars.next().is_some_and(first) && chars.all(rest)
}

fn lower_or_digit(c: char) -> bool {
    c.is_ascii_lowercase() || c.is_ascii_digit()
}

/// What a compose project name is made of after its first character.
fn project_char(c: char) -> bool {
    lower_or_digit(c) || c == '-' || c == '_'
}

/// What profile and directory names are made of after their first character.
fn name_char(c: char) -> bool {
    c.is_ascii_alphanumeric() || "_.-".contains(c)
}

/// A compose project name: a lowercase letter or digit, then `[a-z0-9_-]`
/// (compose's own rule), at most 63 characters.
pub fn project_name(s: &str) -> Result<(), String> {
    if !shaped(s, lower_or_digit, project_char) {
        return Err(format!(
            "{s:?} is not a compose project name: a lowercase letter or digit first, then a-z, 0-9, - and _"
        ));
    }
    if s.len() > crate::support::slug::MAX_SLUG {
        return Err(format!(
            "{s:?} is longer than {} characters",
            crate::support::slug::MAX_SLUG
        ));
    }
    Ok(())
}

/// A compose volume key or Docker volume name: what Docker accepts for a volume
/// (`[a-zA-Z0-9][a-zA-Z0-9_.-]*`), at most 128 characters, so it can name no path.
pub fn volume_key(s: &str) -> Result<(), String> {
    if shaped(s, |c| c.is_ascii_alphanumeric(), name_char) && s.len() <= 128 {
        Ok(())
    } else {
        Err(format!(
            "{s:?} is not a volume name: a letter or digit first, then letters, digits, _ . and - (at most 128)"
        ))
    }
}

/// The start of every sandbox's directory and compose project name (`shop--`): the
/// characters of a project name only, so it can hold no `/`, `..` or option.
pub fn worktree_prefix(s: &str) -> Result<(), String> {
    if shaped(s, lower_or_digit, project_char) && s.len() <= 40 {
        Ok(())
    } else {
        Err(format!(
            "{s:?} cannot start a directory and compose project name: a lowercase letter or digit first, then a-z, 0-9, - and _ (at most 40); worktrees always go beside the main clone"
        ))
    }
}

/// A compose profile: compose's own pattern `[a-zA-Z0-9][a-zA-Z0-9_.-]*`, so it can
/// never be read as an option.
pub fn profile(s: &str) -> Result<(), String> {
    if shaped(s, |c| c.is_ascii_alphanumeric(), name_char) {
        Ok(())
    } else {
        Err(format!(
            "{s:?} is not a compose profile name: a letter or digit first, then letters, digits, _ . -"
        ))
    }
}

/// One directory name (a shared directory under kinfra's shared data): no `/`, no
/// `.` or `..`, no leading `-`.
pub fn dir_name(s: &str) -> Result<(), String> {
    if shaped(s, |c| c.is_ascii_alphanumeric(), name_char) {
        Ok(())
    } else {
        Err(format!(
            "{s:?} is not a directory name: one name (letters, digits, _ . -), no / or .."
        ))
    }
}

/// A path relative to the repository that stays inside it as written: not empty,
/// not absolute, no `..`. (Links are followed at use time:
/// [`crate::support::fsutil::resolve_inside`].)
pub fn repo_path(s: &str) -> Result<(), String> {
    let p = std::path::Path::new(s);
    if s.is_empty()
        || p.is_absolute()
        || s.starts_with('~')
        || p.components().any(|c| c == std::path::Component::ParentDir)
    {
        Err(format!("{s:?} must be a path inside the repository"))
    } else {
        Ok(())
    }
}

/// The path of a gate's HTTP request: starts with `/`, and is only a path and
/// query (no `@`, `\`, `#`, whitespace or control characters), so it can never
/// change the host or port the request goes to.
pub fn http_path(s: &str) -> Result<(), String> {
    if !s.starts_with('/') || s.starts_with("//") {
        return Err(format!(
            "{s:?} is not a path: it must start with one / (the gate always asks 127.0.0.1 on the instance's port)"
        ));
    }
    if let Some(c) = s
        .chars()
        .find(|c| c.is_whitespace() || c.is_control() || "@\\#".contains(*c))
    {
        return Err(format!("{s:?} is not a path: {c:?} is not allowed"));
    }
    Ok(())
}

/// A JSON pointer (RFC 6901): empty (the whole document) or starting with `/`.
pub fn json_pointer(s: &str) -> Result<(), String> {
    if s.is_empty() || s.starts_with('/') {
        Ok(())
    } else {
        Err(format!(
            "{s:?} is not a JSON pointer: it starts with / (e.g. \"/workers\"), or is empty for the whole body"
        ))
    }
}

/// A 1Password item name, handed to `op item get` as one word: not empty, not
/// starting with `-` (it would be read as an option), no control characters.
pub fn op_item(s: &str) -> Result<(), String> {
    if s.trim().is_empty() || s.starts_with('-') || s.chars().any(char::is_control) {
        Err(format!(
            "{s:?} is not a 1Password item name: not empty, no leading -, no control characters"
        ))
    } else {
        Ok(())
    }
}

/// The variable a secret is handed to compose as: a plain name ([`env_name`])
/// that steers no process ([`steers_processes`]).
pub fn secret_var(s: &str) -> Result<(), String> {
    env_name(s)?;
    if steers_processes(s) {
        return Err(format!(
            "{s} steers the processes kinfra runs (docker, compose, git, shells); a secret must never become it: name the variable the compose file reads for the secret"
        ));
    }
    Ok(())
}

/// A literal variable of `[env]`, `[sandbox.env]` or `[local_prod.env]`: a plain
/// name ([`env_name`]) that steers no process ([`steers_processes`]). Refused while
/// the file is parsed, so the error names the key and its line: these values reach
/// compose and the host services the user allowed without being part of what was
/// allowed, and an interpreter's search path or the loader's would run code there.
pub fn literal_var(s: &str) -> Result<(), String> {
    env_name(s)?;
    if steers_processes(s) {
        return Err(format!(
            "{s} steers the programs kinfra runs (an interpreter's search path or options, the loader, a shell's start-up file, docker, compose, git): a repository's literal variable must never set it; set it inside the command that needs it, or choose another name"
        ));
    }
    Ok(())
}

/// serde's `deserialize_with` for a secret's variable: [`secret_var`], with the
/// place in the file.
pub fn de_secret_var<'de, D: serde::Deserializer<'de>>(d: D) -> Result<String, D::Error> {
    let s = <String as serde::Deserialize>::deserialize(d)?;
    secret_var(&s).map_err(serde::de::Error::custom)?;
    Ok(s)
}

/// Declares a string newtype that deserializes only through its check, so the
/// parser reports a bad value with its place in the file.
macro_rules! checked_string {
    ($(#[$m:meta])* $name:ident, $check:path) => {
        $(#[$m])*
        #[derive(Debug, Clone, Default, PartialEq, Eq, PartialOrd, Ord, serde::Deserialize)]
        #[serde(try_from = "String")]
        pub struct $name(pub String);

        impl TryFrom<String> for $name {
            type Error = String;
            fn try_from(s: String) -> Result<Self, String> {
                $check(&s).map(|()| $name(s))
            }
        }

        impl fmt::Display for $name {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str(&self.0)
            }
        }
    };
}

checked_string!(
    /// A checked [`env_name`].
    EnvName,
    env_name
);
checked_string!(
    /// A checked [`env_value`].
    EnvValue,
    env_value
);
checked_string!(
    /// A checked [`literal_var`].
    LiteralVar,
    literal_var
);
checked_string!(
    /// A checked [`profile`].
    Profile,
    profile
);
checked_string!(
    /// A checked [`project_name`].
    ProjectName,
    project_name
);
checked_string!(
    /// A checked [`worktree_prefix`].
    WorktreePrefix,
    worktree_prefix
);
checked_string!(
    /// A checked [`dir_name`].
    DirName,
    dir_name
);
checked_string!(
    /// A checked [`repo_path`].
    RepoPath,
    repo_path
);
checked_string!(
    /// A checked [`http_path`].
    HttpPath,
    http_path
);
checked_string!(
    /// A checked [`op_item`].
    OpItem,
    op_item
);
checked_string!(
    /// A checked [`json_pointer`].
    JsonPointer,
    json_pointer
);

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn env_names_are_plain_identifiers() {
        for ok in ["A", "_X", "KTRDR_API_PORT", "PORT_WEB_80_N2"] {
            assert!(env_name(ok).is_ok(), "{ok}");
        }
        for bad in [
            "",
            "A=B",
            "X\nSLOT_NUMBER=9",
            "$(touch x)",
            "a",
            "1A",
            "A B",
            "É",
        ] {
            assert!(env_name(bad).is_err(), "{bad:?}");
        }
    }

    #[test]
    fn process_steering_names_are_known() {
        for s in [
            "PATH",
            "LD_PRELOAD",
            "DOCKER_HOST",
            "COMPOSE_FILE",
            "DYLD_INSERT_LIBRARIES",
            "KINFRA_HOME",
            "GIT_DIR",
            "HTTPS_PROXY",
            "PYTHONPATH",
        ] {
            assert!(steers_processes(s), "{s}");
        }
        for s in [
            "DB_PASSWORD",
            "KTRDR_AUTH_JWT_SECRET",
            "PATHOLOGY",
            "DOCKERFILE_X",
        ] {
            assert!(!steers_processes(s), "{s}");
        }
    }

    #[test]
    fn names_paths_and_urls() {
        assert!(project_name("ktrdr-prod").is_ok());
        for bad in ["", "Prod", "-x", "a/b", "a b", "x\n"] {
            assert!(project_name(bad).is_err(), "{bad:?}");
        }
        assert!(worktree_prefix("ktrdr--").is_ok());
        for bad in ["../../x-", "/tmp/x", "", "a/b", ".hidden", "-x"] {
            assert!(worktree_prefix(bad).is_err(), "{bad:?}");
        }
        assert!(profile("local-prod").is_ok() && profile("a.b_c").is_ok());
        for bad in ["", "--all", "-x", " x", "a b"] {
            assert!(profile(bad).is_err(), "{bad:?}");
        }
        assert!(dir_name("data").is_ok());
        for bad in ["", "..", ".", "a/b", "/etc", "../x", "-r"] {
            assert!(dir_name(bad).is_err(), "{bad:?}");
        }
        assert!(repo_path("a/b.sh").is_ok());
        for bad in ["", "/etc/passwd", "../x", "a/../../b", "~/x"] {
            assert!(repo_path(bad).is_err(), "{bad:?}");
        }
        for ok in ["/", "/api/v1/workers?x=1", "/health"] {
            assert!(http_path(ok).is_ok(), "{ok}");
        }
        for bad in [
            "@127.0.0.1:9999/x",
            "health",
            "//evil/x",
            "/a@b",
            "/a b",
            "/a\\b",
            "/x#y",
            "",
        ] {
            assert!(http_path(bad).is_err(), "{bad:?}");
        }
        assert!(json_pointer("").is_ok() && json_pointer("/workers").is_ok());
        assert!(json_pointer("workers").is_err());
    }

    #[test]
    fn newtypes_check_while_parsing() {
        #[derive(serde::Deserialize)]
        struct T {
            #[allow(dead_code)]
            k: EnvName,
        }
        assert!(toml::from_str::<T>("k = \"OK_1\"").is_ok());
        let e = toml::from_str::<T>("\nk = \"A=B\"")
            .err()
            .map(|e| e.to_string());
        let e = e.unwrap_or_default();
        assert!(e.contains("line 2") && e.contains("A=B"), "{e}");
    }

    #[test]
    fn env_values_are_one_line_that_reads_back() {
        for ok in ["", "x", "a=b", " lead", "$x \"q\" \\ '#"] {
            assert!(env_value(ok).is_ok(), "{ok:?}");
        }
        for (bad, says) in [
            ("a\nSLOT_NUMBER=9", "newline"),
            ("a\r", "carriage return"),
            ("a\0b", "NUL"),
            ("trail ", "trailing whitespace"),
            ("tab\t", "trailing whitespace"),
        ] {
            let e = env_value(bad).unwrap_err();
            assert!(e.contains(says), "{bad:?}: {e}");
        }
    }

    #[test]
    fn values_and_ports_are_refused_with_their_line() {
        #[derive(serde::Deserialize)]
        struct T {
            #[allow(dead_code)]
            v: Option<EnvValue>,
            #[allow(dead_code)]
            p: Option<PortNumber>,
        }
        assert!(toml::from_str::<T>("v = \"x\"\np = 80").is_ok());
        let e = toml::from_str::<T>("\n\nv = \"a\\nB=1\"")
            .err()
            .map(|e| e.to_string());
        let e = e.unwrap_or_default();
        assert!(e.contains("line 3") && e.contains("newline"), "{e}");
        let e = toml::from_str::<T>("\np = 0").err().map(|e| e.to_string());
        let e = e.unwrap_or_default();
        assert!(e.contains("line 2") && e.contains("port 0"), "{e}");
    }
}
