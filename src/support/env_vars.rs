//! Every environment variable kinfra reads, in one place (like uv's `EnvVars`), so
//! the documentation and the code cannot drift apart. `docs/` lists the same names.

use crate::support::error::SupportError;

/// Namespace for the variable names.
pub struct EnvVars;

impl EnvVars {
    /// Where the registry and shared data live (default `~/.ktrdr`).
    pub const KINFRA_HOME: &'static str = "KINFRA_HOME";
    /// Forces the compose variant: `plugin` or `standalone`.
    pub const KINFRA_COMPOSE: &'static str = "KINFRA_COMPOSE";
    /// Set (to anything) to print internal timings on stderr (`kinfra-timing: …`).
    pub const KINFRA_TIMING: &'static str = "KINFRA_TIMING";
    /// Seconds a command waits for another one working on the same instance (default 600).
    pub const KINFRA_LOCK_WAIT: &'static str = "KINFRA_LOCK_WAIT";
    /// Poll interval of the startability gate, in milliseconds (default 100).
    pub const KINFRA_GATE_POLL_MS: &'static str = "KINFRA_GATE_POLL_MS";
    /// The most stacks that may run at once (unset: no count limit).
    pub const KINFRA_MAX_RUNNING: &'static str = "KINFRA_MAX_RUNNING";
    /// Memory the running stacks may use together (`8G`; default: the engine's
    /// memory less 1 GiB), compared with each stack's recorded use.
    pub const KINFRA_MEMORY_BUDGET: &'static str = "KINFRA_MEMORY_BUDGET";
    /// How often a queued `up --wait` re-checks the budget, in ms (default 2000).
    pub const KINFRA_BUDGET_POLL_MS: &'static str = "KINFRA_BUDGET_POLL_MS";
    /// Seconds one `op` call may take (default 30).
    pub const KINFRA_OP_TIMEOUT_SECS: &'static str = "KINFRA_OP_TIMEOUT_SECS";
    /// Test hook: the named step at which to pause (see `context::pause_point`).
    pub const KINFRA_TEST_PAUSE_AT: &'static str = "KINFRA_TEST_PAUSE_AT";
    /// Test hook: the file written on pausing; removing it resumes.
    pub const KINFRA_TEST_PAUSE_FILE: &'static str = "KINFRA_TEST_PAUSE_FILE";
    /// Set by the shell's completion script: kinfra prints candidates and exits.
    pub const KINFRA_COMPLETE: &'static str = "KINFRA_COMPLETE";
    /// The router's port on 127.0.0.1 (default 7355).
    pub const KINFRA_ROUTER_PORT: &'static str = "KINFRA_ROUTER_PORT";
    /// The router stops a sandbox idle this long (`30m`; unset: never).
    pub const KINFRA_IDLE_STOP: &'static str = "KINFRA_IDLE_STOP";
    /// `off`: `up` does not start the router.
    pub const KINFRA_ROUTER: &'static str = "KINFRA_ROUTER";
    /// The user's home directory (`~` in paths, default `KINFRA_HOME`).
    pub const HOME: &'static str = "HOME";
    /// The docker CLI's configuration directory (default `~/.docker`).
    pub const DOCKER_CONFIG: &'static str = "DOCKER_CONFIG";
    /// The Docker endpoint, when set; wins over the context.
    pub const DOCKER_HOST: &'static str = "DOCKER_HOST";
    /// The docker CLI context, when set; wins over the config's current context.
    pub const DOCKER_CONTEXT: &'static str = "DOCKER_CONTEXT";
    /// A 1Password service account: `op` needs no interactive sign-in.
    pub const OP_SERVICE_ACCOUNT_TOKEN: &'static str = "OP_SERVICE_ACCOUNT_TOKEN";
    /// OpenBao / Vault address for `bao://` references (`VAULT_ADDR` when unset).
    pub const BAO_ADDR: &'static str = "BAO_ADDR";
    pub const VAULT_ADDR: &'static str = "VAULT_ADDR";
    /// OpenBao / Vault token for `bao://` references (`VAULT_TOKEN` when unset).
    pub const BAO_TOKEN: &'static str = "BAO_TOKEN";
    pub const VAULT_TOKEN: &'static str = "VAULT_TOKEN";
    /// Colours off (any non-empty value), per no-color.org.
    pub const NO_COLOR: &'static str = "NO_COLOR";
    /// `0` turns colours off.
    pub const CLICOLOR: &'static str = "CLICOLOR";
    /// Non-zero forces colours even when stderr is not a terminal.
    pub const CLICOLOR_FORCE: &'static str = "CLICOLOR_FORCE";
}

/// A variable's value when it is set and not empty.
pub fn get(name: &str) -> Option<String> {
    std::env::var(name).ok().filter(|v| !v.is_empty())
}

/// Whether a variable is set (to anything, even empty).
pub fn is_set(name: &str) -> bool {
    std::env::var_os(name).is_some()
}

/// A whole number from a variable: `None` when unset or empty, `Some` when it
/// parses and is at least `min`. [`check`] has refused anything else by the time
/// commands run, so readers may fall back to their default on `Err`.
pub fn number(name: &str, min: u64) -> Result<Option<u64>, String> {
    parse_number(name, get(name).as_deref(), min)
}

/// Pure: [`number`] on a value.
fn parse_number(name: &str, value: Option<&str>, min: u64) -> Result<Option<u64>, String> {
    match value {
        None => Ok(None),
        Some(v) => match v.trim().parse::<u64>() {
            Ok(n) if n >= min => Ok(Some(n)),
            _ => Err(format!(
                "{name}={v:?} is not a whole number{}",
                if min > 0 {
                    format!(" from {min}")
                } else {
                    String::new()
                }
            )),
        },
    }
}

/// The numeric variables, their least value and their unit, for [`check`].
const NUMBERS: [(&str, u64, &str); 5] = [
    (EnvVars::KINFRA_LOCK_WAIT, 0, "seconds"),
    (EnvVars::KINFRA_GATE_POLL_MS, 1, "milliseconds"),
    (EnvVars::KINFRA_BUDGET_POLL_MS, 1, "milliseconds"),
    (EnvVars::KINFRA_OP_TIMEOUT_SECS, 1, "seconds"),
    (EnvVars::KINFRA_MAX_RUNNING, 0, "stacks"),
];

/// One rule for every variable kinfra reads: a value it cannot use is an error
/// naming the variable, before any command acts (never a silent default).
pub fn check() -> Result<(), SupportError> {
    let bad = |name: &'static str, value: String, why: String| SupportError::BadVariable {
        name,
        value,
        why,
    };
    for (name, min, unit) in NUMBERS {
        if let (Err(_), Some(v)) = (number(name, min), get(name)) {
            let from = if min > 0 {
                format!(" from {min}")
            } else {
                String::new()
            };
            return Err(bad(
                name,
                v,
                format!(" is not a whole number{from} ({unit}): set a number, or unset it"),
            ));
        }
    }
    if let Some(v) = get(EnvVars::KINFRA_MEMORY_BUDGET)
        && crate::support::units::parse_bytes(&v).is_none()
    {
        return Err(bad(
            EnvVars::KINFRA_MEMORY_BUDGET,
            v,
            " is not a size (examples: 8G, 512M, 2000000000): set a size, or unset it".into(),
        ));
    }
    if let Some(v) = get(EnvVars::KINFRA_ROUTER_PORT)
        && !v.trim().parse::<u16>().is_ok_and(|p| p >= 1024)
    {
        return Err(bad(
            EnvVars::KINFRA_ROUTER_PORT,
            v,
            " is not a port from 1024 to 65535: set one, or unset it (default 7355)".into(),
        ));
    }
    if let Some(v) = get(EnvVars::KINFRA_IDLE_STOP)
        && crate::support::units::parse_duration(&v).is_none()
    {
        return Err(bad(
            EnvVars::KINFRA_IDLE_STOP,
            v,
            " is not a duration (examples: 30m, 2h, 90s): set one, or unset it".into(),
        ));
    }
    if let Some(v) = get(EnvVars::KINFRA_ROUTER)
        && !["on", "off"].contains(&v.as_str())
    {
        return Err(bad(
            EnvVars::KINFRA_ROUTER,
            v,
            ": use `off` (`up` does not start the router) or `on`, or unset it".into(),
        ));
    }
    if let Some(v) = get(EnvVars::KINFRA_COMPOSE)
        && !["plugin", "standalone"].contains(&v.as_str())
    {
        return Err(bad(
            EnvVars::KINFRA_COMPOSE,
            v,
            " is not a compose variant: use `plugin` (docker compose) or `standalone` (docker-compose), or unset it".into(),
        ));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::parse_number;

    #[test]
    fn numbers_are_whole_and_bounded() {
        assert_eq!(parse_number("X", None, 1), Ok(None));
        assert_eq!(parse_number("X", Some(" 600 "), 0), Ok(Some(600)));
        assert_eq!(
            parse_number("X", Some("18446744073709551615"), 1),
            Ok(Some(u64::MAX))
        );
        for bad in ["abc", "-1", "1.5", "", "10s"] {
            let e = parse_number("KINFRA_LOCK_WAIT", Some(bad), 0).unwrap_err();
            assert!(e.starts_with("KINFRA_LOCK_WAIT="), "{e}");
        }
        assert!(parse_number("X", Some("0"), 1).is_err());
    }
}
