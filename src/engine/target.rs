//! An engine's name and its `ssh://USER@HOST[:PORT]` address, checked by pure
//! functions before either is stored or reaches a command line. Both are input (typed
//! by a person, read back from `engines.json`, sent by an MCP client): a host or user
//! beginning with `-` would be read by ssh as an option (`ssh://-oProxyCommand=…` runs
//! a program), so each part is held to the characters a real one has.

use serde::{Deserialize, Serialize};

/// Words that mean something else where an engine is named (`--on auto`, the
/// local engine).
const RESERVED: [&str; 3] = ["auto", "local", "default"];

/// An engine's name: `[a-z0-9][a-z0-9-]*`, at most 32 characters, not reserved.
pub fn engine_name(s: &str) -> Result<(), String> {
    if s.is_empty() {
        return Err("an engine needs a name".into());
    }
    if s.len() > 32 {
        return Err(format!(
            "the engine name {:?} is {} characters long; the limit is 32",
            s.chars().take(40).collect::<String>(),
            s.len()
        ));
    }
    if !s.starts_with(|c: char| c.is_ascii_lowercase() || c.is_ascii_digit())
        || !s
            .chars()
            .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '-')
    {
        return Err(format!(
            "{s:?} is not an engine name: use a-z, 0-9 and -, starting with a letter or digit"
        ));
    }
    if RESERVED.contains(&s) {
        return Err(format!(
            "{s:?} is reserved (`--on auto` places by budget, `local` is this machine's engine): choose another name"
        ));
    }
    Ok(())
}

/// Where an engine is: the SSH user, host and port Docker's SSH transport, rsync and
/// kinfra's own ssh all use.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct SshTarget {
    pub user: String,
    pub host: String,
    pub port: Option<u16>,
}

impl SshTarget {
    /// `ssh://USER@HOST[:PORT]`, checked: no option-shaped part, no path, query,
    /// password or whitespace.
    pub fn parse(url: &str) -> Result<SshTarget, String> {
        let shown = || url.chars().take(80).collect::<String>();
        let Some(rest) = url.strip_prefix("ssh://") else {
            return Err(format!(
                "{:?} is not an SSH address: write ssh://USER@HOST or ssh://USER@HOST:PORT",
                shown()
            ));
        };
        let rest = rest.strip_suffix('/').unwrap_or(rest);
        if rest.contains(['/', '?', '#']) {
            return Err(format!(
                "{:?} has a path or query; an engine is ssh://USER@HOST[:PORT] and nothing more",
                shown()
            ));
        }
        let Some((user, hostport)) = rest.split_once('@') else {
            return Err(format!(
                "{:?} names no user: write ssh://USER@HOST (the account on the engine's machine)",
                shown()
            ));
        };
        if user.contains(':') {
            return Err(
                "an engine's address carries no password: kinfra logs in with your SSH keys and agent"
                    .into(),
            );
        }
        ssh_user(user)?;
        let (host, port) = split_port(hostport)?;
        ssh_host(host)?;
        Ok(SshTarget {
            user: user.into(),
            host: host.into(),
            port,
        })
    }

    /// `ssh://USER@HOST[:PORT]`, for `docker -H`.
    pub fn url(&self) -> String {
        let host = if self.host.contains(':') {
            format!("[{}]", self.host)
        } else {
            self.host.clone()
        };
        match self.port {
            Some(p) => format!("ssh://{}@{host}:{p}", self.user),
            None => format!("ssh://{}@{host}", self.user),
        }
    }

    /// `ssh [-p PORT] USER@HOST`, as a person would type it.
    pub fn login(&self) -> String {
        match self.port {
            Some(p) => format!("ssh -p {p} {}", self.user_at_host()),
            None => format!("ssh {}", self.user_at_host()),
        }
    }

    /// `USER@HOST` as rsync's remote part wants it (a port goes in its `-e`).
    pub fn user_at_host(&self) -> String {
        if self.host.contains(':') {
            format!("{}@[{}]", self.user, self.host)
        } else {
            format!("{}@{}", self.user, self.host)
        }
    }
}

fn split_port(hostport: &str) -> Result<(&str, Option<u16>), String> {
    let bad_port = |p: &str| {
        format!(
            "{:?} is not a port: use 1-65535",
            p.chars().take(20).collect::<String>()
        )
    };
    let parse_port = |p: &str| match p.parse::<u16>() {
        Ok(n) if n > 0 => Ok(n),
        _ => Err(bad_port(p)),
    };
    if let Some(v6) = hostport.strip_prefix('[') {
        let Some((host, after)) = v6.split_once(']') else {
            return Err("an IPv6 host in brackets lacks its closing ]".into());
        };
        return match after {
            "" => Ok((host, None)),
            a => match a.strip_prefix(':') {
                Some(p) => Ok((host, Some(parse_port(p)?))),
                None => Err(format!("{a:?} after the host is not :PORT")),
            },
        };
    }
    match hostport.split_once(':') {
        None => Ok((hostport, None)),
        Some((h, p)) => Ok((h, Some(parse_port(p)?))),
    }
}

/// A login name: `[A-Za-z0-9_][A-Za-z0-9_.-]*`, at most 32 characters.
fn ssh_user(u: &str) -> Result<(), String> {
    let ok = !u.is_empty()
        && u.len() <= 32
        && u.starts_with(|c: char| c.is_ascii_alphanumeric() || c == '_')
        && u.chars()
            .all(|c| c.is_ascii_alphanumeric() || matches!(c, '_' | '.' | '-'));
    if ok {
        Ok(())
    } else {
        Err(format!(
            "{:?} is not a user name kinfra passes to ssh: letters, digits, _ . - (not starting with -)",
            u.chars().take(40).collect::<String>()
        ))
    }
}

/// A host: a DNS name or IPv4 address (`[A-Za-z0-9][A-Za-z0-9.-]*`), or an IPv6
/// address (given in brackets).
fn ssh_host(h: &str) -> Result<(), String> {
    if h.parse::<std::net::Ipv6Addr>().is_ok() {
        return Ok(());
    }
    let ok = !h.is_empty()
        && h.len() <= 253
        && h.starts_with(|c: char| c.is_ascii_alphanumeric())
        && h.chars()
            .all(|c| c.is_ascii_alphanumeric() || matches!(c, '.' | '-'));
    if ok {
        Ok(())
    } else {
        Err(format!(
            "{:?} is not a host kinfra passes to ssh: a name or address of letters, digits, . and - (not starting with -)",
            h.chars().take(60).collect::<String>()
        ))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn addresses_parse_with_and_without_a_port() {
        let t = SshTarget::parse("ssh://dev@build-box.lan:2222").unwrap();
        assert_eq!(
            (t.user.as_str(), t.host.as_str(), t.port),
            ("dev", "build-box.lan", Some(2222))
        );
        assert_eq!(t.url(), "ssh://dev@build-box.lan:2222");
        let t = SshTarget::parse("ssh://me@10.0.0.2/").unwrap();
        assert_eq!((t.port, t.url()), (None, "ssh://me@10.0.0.2".to_string()));
        let t = SshTarget::parse("ssh://me@[fd00::2]:22").unwrap();
        assert_eq!(t.host, "fd00::2");
        assert_eq!(t.url(), "ssh://me@[fd00::2]:22");
        assert_eq!(t.user_at_host(), "me@[fd00::2]");
    }

    #[test]
    fn option_shaped_and_odd_addresses_are_refused() {
        for bad in [
            "ssh://-oProxyCommand=touch${IFS}/tmp/x",
            "ssh://u@-oProxyCommand=sh",
            "ssh://-lroot@host",
            "ssh://u@host:-1",
            "ssh://u@host:0",
            "ssh://u@host:99999",
            "ssh://u@host:22x",
            "ssh://u:secret@host",
            "ssh://host",
            "ssh://u@",
            "ssh://u@host/path",
            "ssh://u@host?x=1",
            "ssh://u@ho st",
            "ssh://u@host\n-oX=y",
            "ssh://u@[fd00::2",
            "ssh://u@[fd00::2]x",
            "tcp://u@host:2375",
            "u@host",
            "",
        ] {
            assert!(SshTarget::parse(bad).is_err(), "{bad:?} was accepted");
        }
    }

    #[test]
    fn engine_names_are_held_to_a_slug() {
        for good in ["box", "gpu-1", "9lives"] {
            engine_name(good).unwrap();
        }
        for bad in [
            "", "-x", "Box", "a b", "a/b", "../x", "auto", "local", "a.b", "x\n",
        ] {
            assert!(engine_name(bad).is_err(), "{bad:?} was accepted");
        }
        assert!(engine_name(&"a".repeat(33)).is_err());
    }
}
