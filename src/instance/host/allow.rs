//! Consent for the repository's host commands. A `kinfra.toml` is input anyone can
//! write (a branch, a pull request): a command it names runs on this machine only
//! after the person allowed exactly those commands for that clone, as direnv's
//! `allow` does. Any change to them asks again. Built-in descriptions are kinfra's
//! own and need none.

use std::collections::BTreeMap;
use std::path::Path;

use crate::instance::error::{Error, Result};
use crate::stack::{Kind, PrepareAction, Stack};
use crate::state::context::Context;
use crate::state::home::Home;

/// Pure: the host commands a description runs, one per line, as a person reviews
/// them, with the environment each gets from the repository; empty when it runs
/// none. A change to any of it (a command, a host service's own variable,
/// `[env]`, `[local_prod.env]`, where local-prod's secrets come from) asks again:
/// what was allowed is all that runs. Prepare commands get kinfra's own
/// environment only, nothing from the repository.
pub fn commands_text(stack: &Stack) -> String {
    let mut s = String::new();
    for p in &stack.prepare {
        if let PrepareAction::Command(argv) = &p.action {
            s.push_str(&format!("  prepare {:?}: {}\n", p.name, shown(argv)));
        }
    }
    for h in &stack.host {
        s.push_str(&format!(
            "  host service {} (in {}, port {}): {}\n",
            h.name,
            shown(std::slice::from_ref(&h.dir)),
            h.port,
            shown(&h.command)
        ));
        for (k, v) in &h.env {
            s.push_str(&format!(
                "    with {k}={}\n",
                shown(std::slice::from_ref(v))
            ));
        }
    }
    if !stack.host.is_empty() {
        s.push_str(&host_env_text(stack));
    }
    s
}

/// Pure: what every host service gets from the repository besides its own
/// variables: local-prod's literal variables and where its secrets come from
/// (never their values, which are not the repository's).
fn host_env_text(stack: &Stack) -> String {
    use crate::tools::secrets::SecretSource;
    let mut s = String::new();
    for (k, v) in stack.env_for(Kind::LocalProd) {
        s.push_str(&format!(
            "  host services get {k}={}\n",
            shown(std::slice::from_ref(&v))
        ));
    }
    for f in stack
        .secret_fields
        .iter()
        .filter(|f| f.for_kind(Kind::LocalProd))
    {
        s.push_str(&format!(
            "  host services get {} from 1Password field {:?}\n",
            f.var, f.field
        ));
    }
    for r in &stack.local_prod.secrets {
        let from = match &r.source {
            SecretSource::Literal(v) => format!("= {}", shown(std::slice::from_ref(v))),
            SecretSource::Host(name) => format!("from ${name}"),
            other => format!("from {:?}", other.reference()),
        };
        s.push_str(&format!("  host services get {} {from}\n", r.var));
    }
    s
}

fn shown(argv: &[String]) -> String {
    argv.iter()
        .map(|a| {
            if !a.is_empty()
                && a.chars()
                    .all(|c| c.is_ascii_alphanumeric() || "-_./=:@".contains(c))
            {
                a.clone()
            } else {
                format!("{a:?}")
            }
        })
        .collect::<Vec<_>>()
        .join(" ")
}

fn load(home: &Home) -> BTreeMap<String, String> {
    std::fs::read_to_string(home.allowed_file())
        .ok()
        .and_then(|t| serde_json::from_str(&t).ok())
        .unwrap_or_default()
}

/// Whether `stack`'s host commands may run for the clone `clone`.
pub fn is_allowed(home: &Home, clone: &Path, stack: &Stack) -> bool {
    let text = commands_text(stack);
    stack.builtin || text.is_empty() || load(home).get(&clone.display().to_string()) == Some(&text)
}

/// Records that `stack`'s host commands may run for `clone`.
pub fn allow(home: &Home, clone: &Path, stack: &Stack) -> Result<()> {
    let mut all = load(home);
    all.insert(clone.display().to_string(), commands_text(stack));
    let text = serde_json::to_string_pretty(&all).unwrap_or_default();
    let path = home.allowed_file();
    crate::support::fsutil::write_atomic(&path, text.as_bytes(), Some(0o600))
        .map_err(|e| Error::io("could not record the allowed commands in", &path, e))
}

/// Refuses (exit 2, naming the commands) unless they are allowed; at a terminal,
/// asks first and records a yes.
pub fn require(ctx: &Context, clone: &Path, stack: &Stack) -> Result<()> {
    if is_allowed(&ctx.home, clone, stack) {
        return Ok(());
    }
    let commands = commands_text(stack);
    if ctx.interactive {
        ctx.reporter.warn(&format!(
            "{} asks to run on this machine:\n{}",
            stack.origin,
            commands.trim_end()
        ));
        if ctx
            .prompter
            .confirm("Allow these commands for this clone?", false)?
        {
            return allow(&ctx.home, clone, stack);
        }
    }
    Err(Error::NotAllowed {
        clone: clone.to_path_buf(),
        commands: commands.trim_end().to_string(),
    })
}

#[cfg(test)]
mod tests {
    use super::commands_text;
    use crate::stack::Stack;

    const BASE: &str = "name = \"x\"\ncompose_file = \"c.yml\"\n[[host]]\nname = \"h\"\ncommand = [\"srv\", \"--port\", \"5002\"]\nport = 5002\nenv = { A = \"1\" }\n";

    fn text(extra: &str) -> String {
        let stack = Stack::parse(&format!("{BASE}{extra}"), "kinfra.toml").expect("parses");
        commands_text(&stack)
    }

    #[test]
    fn what_reaches_host_services_is_part_of_what_is_allowed() {
        let plain = text("");
        assert!(
            plain.contains("srv --port 5002") && plain.contains("with A=1"),
            "{plain}"
        );
        let with_env = text("[local_prod.env]\nKTRDR_ENV = \"production\"\n");
        assert!(
            with_env.contains("host services get KTRDR_ENV=production"),
            "{with_env}"
        );
        let changed = text("[local_prod.env]\nKTRDR_ENV = \"staging\"\n");
        let common = text("[env]\nKTRDR_ENV = \"production\"\n");
        let secret = text("[local_prod.secrets]\nTOKEN = \"$HOME_TOKEN\"\n");
        assert!(secret.contains("TOKEN from $HOME_TOKEN"), "{secret}");
        // Each change is a different text, so it asks again.
        let all = [&plain, &with_env, &changed, &secret];
        for (i, a) in all.iter().enumerate() {
            for b in &all[i + 1..] {
                assert_ne!(a, b);
            }
        }
        // [env] reaches them as [local_prod.env] does.
        assert_eq!(common, with_env);
        // A sandbox's own variables do not reach host services (local-prod's only).
        assert_eq!(text("[sandbox.env]\nX = \"1\"\n"), plain);
    }

    #[test]
    fn values_cannot_forge_lines_of_what_is_shown() {
        // [local_prod.env] refuses a newline while parsing; a host service's own
        // env takes one, and it is shown quoted on its line.
        assert!(
            Stack::parse(
                &format!("{BASE}[local_prod.env]\nX = \"a\\nb\"\n"),
                "kinfra.toml"
            )
            .is_err()
        );
        let forging = BASE.replace(
            "env = { A = \"1\" }",
            "env = { X = \"a\\n  host service ok: true\" }",
        );
        let stack = Stack::parse(&forging, "kinfra.toml").expect("parses");
        let t = commands_text(&stack);
        assert_eq!(
            t.lines()
                .filter(|l| l.starts_with("  host service "))
                .count(),
            1,
            "{t}"
        );
        assert!(t.contains(r#"X="a\n  host service ok: true""#), "{t}");
        assert!(text("[local_prod.env]\nE = \"\"\n").contains("E=\"\""));
    }
}
