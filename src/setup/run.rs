//! The installer's run, step by step (the numbered sections it prints): each step is
//! one function below, in the order they run.

use std::path::Path;

use super::{
    Choices, DEFAULT_REPO, Options, Outcome, Prepared, Report, SharedChoice, Started,
    check_repo_url, choose, destination_from_flag, lookup_item, onepassword, repo_name, repository,
    same_repo, section, timing,
};
use crate::instance::shared::data::{self as shared_data, Mode};
use crate::instance::{self, InitOptions, Instance, Kind, ProjectObjects, UpOptions};
use crate::setup::error::{Result, SetupError};
use crate::stack::Stack;
use crate::state::context::Context;
use crate::tools::prereq::Check;

/// Docker's answer about local-prod's name, asked while the clone runs.
type DockerSeen = std::thread::JoinHandle<ProjectObjects>;

/// What was done and what was left for later, for the closing summary.
#[derive(Default)]
struct Log {
    done: Vec<String>,
    skipped: Vec<String>,
}

/// Sets up local-prod. `stack` describes KTRDR's repository (the default and the
/// demo); any other repository describes itself, read once it is cloned: until then
/// its name comes from the URL and its ports and 1Password item wait for the clone.
pub fn run(ctx: &Context, stack: &Stack, o: &Options) -> Result<Outcome> {
    if !o.demo {
        check_repo_url(&o.repo_url)?;
    }
    let known = o.demo || same_repo(&o.repo_url, DEFAULT_REPO);
    let before_clone;
    let stack: &Stack = if known {
        stack
    } else {
        before_clone = Stack::inferred(&repo_name(&o.repo_url), "compose.yaml")?;
        &before_clone
    };
    let mut log = Log::default();

    // 1. Prerequisites (in scripted mode the clone goes ahead meanwhile).
    let scripted = !ctx.interactive && o.path.is_some();
    let (early, docker_seen) = prerequisites(ctx, stack, o, scripted, known)?;

    // 2. 1Password: explained once, the item looked up; creating it waits for the plan.
    section(ctx, 2, "1Password");
    let mut item = if known {
        lookup_item(ctx, stack)
    } else {
        ctx.reporter.info(
            "the repository's kinfra.toml says whether local-prod reads secrets from 1Password: looked up after the clone",
        );
        onepassword::ItemState::AfterClone
    };

    // 3. Destination and the other choices; interactively, the plan. 4. The clone.
    section(ctx, 3, "Destination");
    let Some((p, choices)) = destination(ctx, stack, o, early, &item)? else {
        return Ok(Outcome::Cancelled);
    };
    if scripted {
        ctx.reporter
            .info(&format!("local-prod goes to {}", p.dest.display()));
        section(ctx, 4, "Clone");
    }
    report_clone(ctx, &p, &mut log);

    // 5. uv sync.
    section(ctx, 5, "Python environment (uv sync)");
    let p = p.sync(ctx);
    p.uv?;
    if p.dest.join("pyproject.toml").is_file() {
        ctx.reporter.success("uv sync done");
        log.done.push("uv sync".into());
    } else {
        ctx.reporter
            .info("no pyproject.toml in the repository: nothing for uv to sync");
    }
    let dest = p.dest;

    // Another repository describes itself: its kinfra.toml, else its compose file.
    let described;
    let stack: &Stack = if known {
        stack
    } else {
        let (d, its_item) = describe_clone(ctx, &dest)?;
        item = its_item;
        described = d;
        &described
    };
    let secrets_ready = settle_item(ctx, stack, &item, choices.create_item, &mut log);

    // 6. local-prod init.
    section(ctx, 6, "local-prod init");
    let prod_ctx = ctx.with_cwd(&dest);
    let docker_seen = docker_seen.and_then(|h| h.join().ok());
    let inst = init_local_prod(
        ctx,
        stack,
        &dest,
        p.already_registered,
        docker_seen,
        &mut log,
    )?;

    // 7. Shared data.
    section(ctx, 7, "Shared data");
    shared_data_step(ctx, stack, &choices.shared, &mut log)?;

    // 8. Start.
    section(ctx, 8, "Start");
    let started = if p.running {
        ctx.reporter
            .info("local-prod is already running: left as it is");
        Started::AlreadyRunning
    } else if choices.start {
        let opts = UpOptions {
            secrets: !o.no_secrets && secrets_ready,
            ..Default::default()
        };
        instance::up(&prod_ctx, stack, &inst, &opts)?;
        ctx.reporter.success("local-prod is up and ready");
        log.done.push("local-prod started (gate passed)".into());
        Started::Now
    } else {
        ctx.reporter.info("not started");
        Started::No
    };
    timing("done");
    Ok(Outcome::Done(Report {
        links: inst
            .links(stack)
            .into_iter()
            .map(|(l, u)| (l.clone(), u))
            .collect(),
        dest,
        demo: o.demo,
        done: log.done,
        skipped: log.skipped,
        started,
    }))
}

/// Step 1: the prerequisite audit. A scripted run prepares the destination and
/// clones meanwhile, and (for a known repository) asks Docker what local-prod's name
/// already holds.
fn prerequisites(
    ctx: &Context,
    stack: &Stack,
    o: &Options,
    scripted: bool,
    known: bool,
) -> Result<(Option<Result<Prepared>>, Option<DockerSeen>)> {
    // In scripted mode the destination, clone and `uv sync` go
    // ahead while the audit runs (it takes as long as the slowest tool's --version);
    // if a required tool turns out missing, what they made is removed again.
    timing("start");
    let home = ctx.home.clone();
    let audit = std::thread::spawn(move || {
        let checks = crate::tools::prereq::audit(&home);
        timing("audit done");
        checks
    });
    // local-prod init's docker queries (objects already named like local-prod) need
    // only the project name: started now, they overlap the clone instead of following
    // `uv sync`.
    let project = stack.local_prod_id.clone();
    let docker_seen =
        (scripted && known).then(|| std::thread::spawn(move || ProjectObjects::query(&project)));
    let early = scripted.then(|| {
        let repo = repository(ctx, o)?;
        let d = destination_from_flag(ctx, o, &repo)?;
        d.prepare(ctx, o)
    });
    timing("prepared");
    let checks = audit.join().map_err(|_| SetupError::Crashed {
        what: "the prerequisite audit",
    })?;
    show_audit(ctx, &checks, early.as_ref())?;
    Ok((early, docker_seen))
}

/// Shows the audit; a missing required tool stops here, removing what the scripted
/// run made meanwhile.
fn show_audit(ctx: &Context, checks: &[Check], early: Option<&Result<Prepared>>) -> Result<()> {
    section(ctx, 1, "Prerequisites");
    super::show_checks(ctx, checks);
    if !crate::tools::prereq::all_required_ok(checks) {
        if let Some(Ok(p)) = early {
            p.undo();
        }
        return Err(SetupError::MissingTools);
    }
    Ok(())
}

/// Steps 3 and 4: the destination prepared while the audit ran (scripted), else chosen
/// now (asked at a terminal, from the flags otherwise) and cloned. `None`: the person
/// cancelled at the plan.
fn destination(
    ctx: &Context,
    stack: &Stack,
    o: &Options,
    early: Option<Result<Prepared>>,
    item: &onepassword::ItemState,
) -> Result<Option<(Prepared, Choices)>> {
    let from_flags = || Choices {
        create_item: o.create_item,
        shared: o.shared.clone(),
        start: o.start,
    };
    if let Some(p) = early {
        return Ok(Some((p?, from_flags())));
    }
    let repo = repository(ctx, o)?;
    let (d, c) = if ctx.interactive {
        match choose(ctx, stack, o, &repo, item)? {
            Some(dc) => dc,
            None => return Ok(None),
        }
    } else {
        (destination_from_flag(ctx, o, &repo)?, from_flags())
    };
    section(ctx, 4, "Clone");
    Ok(Some((d.clone(ctx, o)?, c)))
}

/// Step 4: says what the clone did (or that an earlier run's clone is resumed).
fn report_clone(ctx: &Context, p: &Prepared, log: &mut Log) {
    if let Some(origin) = &p.demo_origin {
        ctx.reporter.info(&format!(
            "demo mode: the repository is {}",
            origin.display()
        ));
    }
    if p.resume {
        ctx.reporter.info(&format!(
            "{} is already a clone of {}: resuming from the next step",
            p.dest.display(),
            p.repo_url
        ));
        log.skipped.push("clone (already there)".into());
    } else {
        ctx.reporter
            .success(&format!("cloned {} into {}", p.repo_url, p.dest.display()));
        log.done.push(format!("cloned into {}", p.dest.display()));
    }
}

/// The cloned repository's own description (its kinfra.toml, else its compose file)
/// and its 1Password item, looked up now that its name is known.
fn describe_clone(ctx: &Context, dest: &Path) -> Result<(Stack, onepassword::ItemState)> {
    let described = crate::stack::for_dir(dest, Some(&ctx.home))?;
    ctx.reporter.info(&format!(
        "the repository's stack: {} ({})",
        described.name,
        if described.inferred {
            "learned from its compose file"
        } else {
            "its description"
        }
    ));
    let item = if described.fields_for(Kind::LocalProd).is_empty() {
        ctx.reporter
            .info("it maps no secrets: nothing to read from 1Password");
        onepassword::ItemState::Unavailable("no secrets mapped".into())
    } else {
        lookup_item(ctx, &described)
    };
    Ok((described, item))
}

/// Creates the 1Password item when it is missing and the person chose to; says what
/// is left to do otherwise. True when local-prod's secrets can be read.
fn settle_item(
    ctx: &Context,
    stack: &Stack,
    item: &onepassword::ItemState,
    create: bool,
    log: &mut Log,
) -> bool {
    match item {
        onepassword::ItemState::Present => return true,
        onepassword::ItemState::Missing if create => {}
        onepassword::ItemState::Missing => {
            log.skipped.push(format!(
                "1Password item {}: create it later (kinfra-setup --create-item, or in 1Password)",
                stack.local_prod_item
            ));
            return false;
        }
        onepassword::ItemState::Unavailable(_) if !stack.fields_for(Kind::LocalProd).is_empty() => {
            log.skipped.push(
                "1Password: install and sign in to `op`, then restart with `kinfra local-prod up`"
                    .into(),
            );
            return false;
        }
        _ => return false,
    }
    match onepassword::create_item(stack) {
        Ok(generated) => {
            let yours: Vec<&str> = stack
                .fields_for(Kind::LocalProd)
                .into_iter()
                .filter(|f| !f.generated)
                .map(|f| f.field.as_str())
                .collect();
            ctx.reporter.success(&format!(
                "created {} with generated {} (values not shown){}",
                stack.local_prod_item,
                generated.join(", "),
                if yours.is_empty() {
                    String::new()
                } else {
                    format!("; add your {} in 1Password", yours.join(", "))
                }
            ));
            log.done
                .push(format!("1Password item {} created", stack.local_prod_item));
            true
        }
        Err(e) => {
            ctx.reporter
                .warn(&format!("could not create the item: {e}"));
            false
        }
    }
}

/// Step 6: local-prod's `.env.sandbox` and registry entry, unless an earlier run made them.
fn init_local_prod(
    ctx: &Context,
    stack: &Stack,
    dest: &Path,
    already_registered: bool,
    docker_seen: Option<ProjectObjects>,
    log: &mut Log,
) -> Result<Instance> {
    if already_registered && dest.join(crate::state::envfile::FILE_NAME).is_file() {
        ctx.reporter.info("local-prod is already initialized here");
        return Ok(Instance::at(ctx, stack, dest)?);
    }
    let opts = InitOptions {
        docker: docker_seen,
        ..Default::default()
    };
    let i = instance::init(&ctx.with_cwd(dest), stack, Kind::LocalProd, opts)?;
    ctx.reporter
        .success(&format!("initialized local-prod {} (slot 0)", i.id()));
    log.done
        .push("local-prod initialized (slot 0, standard ports)".into());
    Ok(i)
}

/// Step 7: fills the shared data directories as chosen, or says how to later.
fn shared_data_step(
    ctx: &Context,
    stack: &Stack,
    shared: &SharedChoice,
    log: &mut Log,
) -> Result<()> {
    let mode = match shared {
        _ if stack.shared_subdirs.is_empty() => None,
        SharedChoice::From(p) => Some(Mode::From(p.clone())),
        SharedChoice::Minimal => Some(Mode::Minimal),
        SharedChoice::Skip | SharedChoice::Ask => None,
    };
    match mode {
        Some(m) => {
            let s = shared_data::init(ctx, stack, &m)?;
            for (name, files, bytes) in &s.dirs {
                ctx.reporter.info(&format!(
                    "  {name:<11} {files} file(s), {}",
                    crate::support::units::human_bytes(*bytes)
                ));
            }
            log.done
                .push(format!("shared data at {}", ctx.shared_dir().display()));
        }
        None if stack.shared_subdirs.is_empty() => {
            ctx.reporter.info("the stack has no shared directories");
        }
        None => {
            ctx.reporter.info("shared data left as it is");
            log.skipped.push(
                "shared data: `kinfra sandbox init-shared --minimal` or `--from PATH`".into(),
            );
        }
    }
    Ok(())
}
