//! `kinfra sandbox compose ARGS…`: compose itself, for one instance, run as `up`
//! runs it: its project name, files (the resolved copy where kinfra chooses the
//! ports), profiles, environment and secrets. Its output passes through kinfra, so a
//! secret's value is shown as `***` (`compose config` shows where each one lands).
//!
//! What compose acts on is the instance's alone: its global options that would choose
//! another project, other files, another directory or another engine are refused
//! before anything runs ([`check_args`]).

use crate::instance::error::{Error, Result};
use crate::instance::{Instance, UpOptions};
use crate::stack::Stack;
use crate::state::context::Context;
use crate::tools::compose::Compose;

/// Runs compose with `args` for `inst`; returns what it printed and its status (the
/// caller prints it, redacted).
pub fn compose(
    ctx: &Context,
    stack: &Stack,
    inst: &Instance,
    args: &[String],
    secrets: bool,
) -> Result<crate::support::exec::Output> {
    check_args(args)?;
    let compose = Compose::detect(&ctx.home)?;
    let mut project = inst.project(ctx, stack)?;
    let copy = ctx.home.model_copy_file(inst.id());
    let resolved;
    let inst = if stack.auto_ports && !copy.is_file() {
        // Never started: the copy `up` would run, made now (under the lock, as `up`).
        let _lock = crate::instance::lock(ctx, inst.id(), "compose")?;
        resolved = crate::instance::placement::resolve::into_project(
            ctx,
            &compose,
            stack,
            inst,
            &mut project,
        )?;
        &resolved.instance
    } else {
        inst
    };
    let opts = UpOptions {
        secrets,
        ..Default::default()
    };
    project.env.extend(super::up::load_secrets(
        ctx,
        &super::up::SecretsPlan::of(stack, inst),
        &opts,
    )?);
    Ok(compose.cmd(&project).args(args).output()?)
}

/// Compose's global options that choose what it acts on, with why each is refused.
const TARGET_OPTIONS: &[(&[&str], &str)] = &[
    (
        &["-p", "--project-name"],
        "it names another compose project, whose containers and volumes (another instance's data) compose would act on",
    ),
    (
        &["-f", "--file"],
        "it reads other compose files than the instance's",
    ),
    (
        &["--env-file"],
        "its variables would change the project compose reads (its files, ports and project name)",
    ),
    (
        &["--project-directory", "--workdir"],
        "it moves the project to another directory (its .env, relative paths and default project name)",
    ),
    (
        &[
            "-H",
            "--host",
            "-c",
            "--context",
            "--tls",
            "--tlsverify",
            "--tlscacert",
            "--tlscert",
            "--tlskey",
            "--skip-hostname-check",
        ],
        "it talks to another Docker engine than the one kinfra checks and records the instance on",
    ),
];

/// Global options that leave the target alone: those taking a value, then flags.
const VALUE_OPTIONS: &[&str] = &[
    "--ansi",
    "--progress",
    "--parallel",
    "--profile",
    "--log-level",
];
const FLAG_OPTIONS: &[&str] = &[
    "--dry-run",
    "--compatibility",
    "--no-ansi",
    "--verbose",
    "--all-resources",
    "--help",
    "-h",
    "--version",
    "-v",
];

/// Pure: refuses compose's global options that would aim it elsewhere than the
/// instance (`-p other`, `--project-name=other`, `-pother`, `-f`, `--env-file`, …).
///
/// Compose (v2 and v1) reads its global options before the subcommand only (after
/// it, `-p` is `run`'s `--publish` and `-f` is `logs --follow`), so the options up to
/// the first word are checked. An option kinfra does not know there is refused too:
/// what it does to the target cannot be told.
pub fn check_args(args: &[String]) -> Result<()> {
    let refuse = |option: &str, why: &'static str| Error::TargetOption {
        option: option.to_string(),
        why,
    };
    let mut it = args.iter();
    while let Some(a) = it.next() {
        if a == "--" || a == "-" {
            return Ok(());
        }
        if !a.starts_with('-') {
            // The subcommand: compose's own options end here.
            return if a == "run" {
                check_run_args(it.as_slice())
            } else {
                Ok(())
            };
        }
        // `--name=value`, `--name value`, `-pvalue`, `-p value`
        let name = if a.starts_with("--") {
            a.split('=').next().unwrap_or(a)
        } else {
            a.get(..2).unwrap_or(a)
        };
        if let Some((_, why)) = TARGET_OPTIONS
            .iter()
            .find(|(names, _)| names.contains(&name))
        {
            return Err(refuse(a, why));
        }
        if VALUE_OPTIONS.contains(&name) {
            // Its value, unless that is an option itself (`--ansi --project-name x`
            // is checked as written, whatever compose would make of it).
            if !a.contains('=') && it.clone().next().is_some_and(|v| !v.starts_with('-')) {
                it.next();
            }
            continue;
        }
        if FLAG_OPTIONS.contains(&a.as_str()) {
            continue;
        }
        return Err(refuse(
            a,
            "kinfra does not know this compose option, so it cannot tell whether it changes the project, files or engine compose acts on",
        ));
    }
    Ok(())
}

/// `run`'s options that take a value, by short and long name.
const RUN_VALUE_SHORT: &[char] = &['e', 'l', 'p', 'u', 'w', 'v'];
const RUN_VALUE_LONG: &[&str] = &[
    "--env",
    "--label",
    "--publish",
    "--user",
    "--workdir",
    "--name",
    "--entrypoint",
    "--cap-add",
    "--cap-drop",
    "--env-from-file",
    "--pull",
    "--volume",
];

/// Pure: refuses `run`'s mounts (`-v`, `--volume`, in any spelling, also inside a
/// group of short flags): a one-off container of this instance could otherwise
/// mount another instance's volume (`-v shop-prod_db:/d`) or any host path.
/// Only the options before the service are compose's; what follows the service
/// is the command's own (`run web ls -v` is fine).
fn check_run_args(args: &[String]) -> Result<()> {
    let refuse = |option: &str| Error::TargetOption {
        option: option.to_string(),
        why: "a volume mounted by `run` could be another instance's (its data) or any host path; mounts come from the compose file",
    };
    let mut it = args.iter();
    while let Some(a) = it.next() {
        if a == "--" || !a.starts_with('-') || a == "-" {
            return Ok(()); // the service: the command's own words follow
        }
        if let Some(long) = a.strip_prefix("--") {
            let name = format!("--{}", long.split('=').next().unwrap_or(long));
            if name == "--volume" || name.starts_with("--volume") || name == "--mount" {
                return Err(refuse(a));
            }
            if RUN_VALUE_LONG.contains(&name.as_str()) && !a.contains('=') {
                it.next();
            }
            continue;
        }
        // A group of short flags (`-dT`, `-dv x`, `-vx`): the first letter that
        // takes a value takes the rest, or the next word.
        for (i, c) in a.char_indices().skip(1) {
            if c == 'v' {
                return Err(refuse(a));
            }
            if RUN_VALUE_SHORT.contains(&c) {
                if i + c.len_utf8() == a.len() {
                    it.next();
                }
                break;
            }
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn check(args: &[&str]) -> std::result::Result<(), String> {
        let v: Vec<String> = args.iter().map(ToString::to_string).collect();
        check_args(&v).map_err(|e| {
            assert_eq!(e.exit_code(), 2, "{e}");
            e.to_string()
        })
    }

    #[test]
    fn run_never_mounts_what_the_compose_file_does_not() {
        for args in [
            &["run", "--rm", "-v", "shop-prod_db:/d", "web", "cat", "/d/x"][..],
            &["run", "--volume=shop-prod_db:/d", "web"],
            &["run", "--volume", "/:/host", "web"],
            &["run", "-vshop-prod_db:/d", "web"],
            &["run", "-dv", "shop-prod_db:/d", "web"],
            &["run", "-e", "A=1", "-Tv", "x:/d", "web"],
            &["--ansi", "never", "run", "--rm", "-v", "x:/d", "web"],
        ] {
            let e = check(args).unwrap_err();
            assert!(e.contains("refused"), "{args:?}: {e}");
        }
        // The command's own words, values of other options and other commands pass.
        for args in [
            &["run", "--rm", "web", "ls", "-v"][..],
            &["run", "-e", "LEVEL=-v", "web"],
            &["run", "--name", "-v", "web"],
            &["run", "-T", "--rm", "web", "sh", "-c", "cp -v a b"],
            &["exec", "web", "ls", "-v"],
            &["down", "-v"],
            &["logs", "-f"],
        ] {
            assert!(check(args).is_ok(), "{args:?}");
        }
    }

    #[test]
    fn every_form_of_a_target_option_is_refused() {
        for (args, refused) in [
            (&["-p", "other", "down", "-v"][..], "-p"),
            (&["--project-name", "other", "down"], "--project-name"),
            (&["--project-name=other", "down"], "--project-name=other"),
            (&["-pother", "down"], "-pother"),
            (&["-p=other", "down"], "-p=other"),
            (&["-f", "/elsewhere/compose.yml", "down"], "-f"),
            (&["--file=x.yml", "ps"], "--file=x.yml"),
            (&["-fx.yml", "ps"], "-fx.yml"),
            (&["--env-file", "../prod/.env.sandbox", "up"], "--env-file"),
            (&["--env-file=x", "up"], "--env-file=x"),
            (
                &["--project-directory", "/prod", "down", "-v"],
                "--project-directory",
            ),
            (
                &["--project-directory=/prod", "down"],
                "--project-directory=/prod",
            ),
            (&["--workdir", "/prod", "down"], "--workdir"),
            (&["-H", "tcp://elsewhere:2375", "ps"], "-H"),
            (&["--host=unix:///x.sock", "ps"], "--host=unix:///x.sock"),
            (&["-c", "remote", "ps"], "-c"),
            (&["--context=remote", "ps"], "--context=remote"),
            (&["--tlsverify", "ps"], "--tlsverify"),
            // After options that leave the target alone.
            (&["--ansi", "never", "-p", "other", "down"], "-p"),
            (
                &["--profile=x", "--dry-run", "--project-name", "o", "down"],
                "--project-name",
            ),
        ] {
            let e = check(args).expect_err(&format!("{args:?} passed"));
            assert!(
                e.contains(&format!("refused `{refused}`:")),
                "{args:?}: {e}"
            );
            assert!(e.contains("nothing was run"), "{e}");
        }
        let e = check(&["-p", "x", "down"]).unwrap_err();
        assert!(e.contains("another compose project"), "{e}");
    }

    #[test]
    fn unknown_global_options_and_clusters_are_refused() {
        for args in [
            &["-dp", "x", "up"][..],
            &["--frobnicate", "ps"],
            &["-x", "ps"],
        ] {
            let e = check(args).expect_err(&format!("{args:?} passed"));
            assert!(e.contains("does not know"), "{e}");
        }
    }

    #[test]
    fn the_subcommands_own_options_pass() {
        for args in [
            &["config"][..],
            &["down", "-v"],
            &["logs", "-f", "web"],
            &["rm", "-f"],
            &["run", "-p", "8080:80", "web"],
            &["exec", "db", "sh", "-c", "psql -f x.sql -p 5432"],
            &["--ansi", "never", "--profile", "debug", "ps"],
            &["--ansi=never", "--progress", "plain", "up", "-d"],
            &["--dry-run", "down", "--volumes"],
            &["--", "-p", "x"],
            &[],
        ] {
            check(args).unwrap_or_else(|e| panic!("{args:?}: {e}"));
        }
    }
}
