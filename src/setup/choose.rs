//! The interactive choices: destination, shared data, start, then the plan shown
//! before anything is changed (proceed, change, cancel); a bad answer is asked again
//! with the reason.

use super::*;

/// Interactive: destination, shared data, start, then the plan; "change" asks again
/// (defaults: the previous answers). `None`: cancelled.
pub(super) fn choose(
    ctx: &Context,
    stack: &Stack,
    o: &Options,
    repo: &Repo,
    item: &onepassword::ItemState,
) -> Result<Option<(Destination, Choices)>> {
    let registered = ctx
        .registry()
        .load()?
        .local_prod
        .map(|e| PathBuf::from(e.path));
    let mut default = match (&o.path, &registered) {
        (Some(p), _) => p.clone(),
        (None, Some(r)) => r.display().to_string(),
        (None, None) if o.demo => DEMO_PATH.to_string(),
        (None, None) if same_repo(&o.repo_url, DEFAULT_REPO) => DEFAULT_PATH.to_string(),
        (None, None) => format!("~/Documents/dev/{}-prod", repo_name(&o.repo_url)),
    };
    loop {
        let d = ask_destination(ctx, repo, &default)?;
        default = d.dest.display().to_string();
        let create_item = *item == onepassword::ItemState::Missing
            && ctx.prompter.confirm(
                &format!(
                    "Create the 1Password item {} with generated values?",
                    stack.local_prod_item
                ),
                true,
            )?;
        let shared = match &o.shared {
            SharedChoice::Ask if stack.shared_subdirs.is_empty() => SharedChoice::Skip,
            SharedChoice::Ask => ask_shared(ctx, stack)?,
            s => s.clone(),
        };
        let start = !d.running && ctx.prompter.confirm("Start local-prod at the end?", true)?;
        let choices = Choices {
            create_item,
            shared,
            start,
        };
        ctx.reporter.section("Plan");
        for l in plan(stack, o, &d, &choices, item) {
            ctx.reporter.info(&l);
        }
        match ctx
            .prompter
            .select("Go ahead?", &["proceed", "change the answers", "cancel"], 0)?
        {
            0 => return Ok(Some((d, choices))),
            1 => continue,
            _ => return Ok(None),
        }
    }
}

/// Asks until the answer is a usable destination, saying why an answer is not.
pub(super) fn ask_destination(ctx: &Context, repo: &Repo, default: &str) -> Result<Destination> {
    loop {
        let raw = ctx
            .prompter
            .input("Where should local-prod live?", Some(default))?;
        let dest = expand(&raw, &ctx.cwd)?;
        match check_destination(ctx, &dest, repo) {
            Ok(d) => return Ok(d),
            Err(SetupError::BadDestination { problem, .. }) => {
                ctx.reporter.warn(&format!("{problem}. Choose another path."));
            }
            Err(SetupError::Instance(e)) if matches!(*e, crate::Error::LocalProdExists { .. }) => ctx.reporter.warn(&format!(
                "{e}: setup continues only at that path (answer it, or run `kinfra local-prod destroy` first)"
            )),
            Err(e) => return Err(e),
        }
    }
}

pub(super) fn ask_shared(ctx: &Context, stack: &Stack) -> Result<SharedChoice> {
    let dirs = stack.shared_subdirs.join("/, ") + "/";
    loop {
        let choice = ctx.prompter.select(
            &format!("Shared data ({dirs})"),
            &[
                "copy from an existing checkout",
                "create the empty structure",
                "skip",
            ],
            1,
        )?;
        match choice {
            0 => {
                let raw = ctx.prompter.input(
                    "Path of the existing checkout (Enter: back to the choices)",
                    Some(""),
                )?;
                if raw.trim().is_empty() {
                    continue;
                }
                let p = expand(raw.trim(), &ctx.cwd)?;
                if stack.shared_subdirs.iter().any(|s| p.join(s).is_dir()) {
                    return Ok(SharedChoice::From(p));
                }
                ctx.reporter
                    .warn(&format!("{} has none of {dirs}; choose again", p.display()));
            }
            1 => return Ok(SharedChoice::Minimal),
            _ => return Ok(SharedChoice::Skip),
        }
    }
}

/// Pure: the plan's lines.
fn plan(
    stack: &Stack,
    o: &Options,
    d: &Destination,
    c: &Choices,
    item: &onepassword::ItemState,
) -> Vec<String> {
    let mut l = Vec::new();
    let dest = d.dest.display();
    l.push(match (&d.missing_top, d.resume) {
        (_, true) => format!("  destination  {dest} (a clone already: resumed)"),
        (Some(top), _) if top != &d.dest => {
            format!("  destination  {dest} (creates {})", top.display())
        }
        _ => format!("  destination  {dest}"),
    });
    let branch = o
        .branch
        .as_deref()
        .map(|b| format!(", branch {b}"))
        .unwrap_or_default();
    l.push(format!("  repository   {}{branch}", d.repo_url));
    if let Some(free) = free_space(&d.dest) {
        l.push(format!(
            "  free space   {} there",
            crate::support::units::human_bytes(free)
        ));
    }
    let ports: Vec<String> = crate::stack::ports::for_slot(stack, 0)
        .iter()
        .map(|(_, p)| p.to_string())
        .collect();
    if ports.is_empty() {
        l.push("  ports        the compose file's own, where free (slot 0)".into());
    } else {
        l.push(format!("  ports        {} (slot 0)", ports.join(" ")));
    }
    l.push(format!(
        "  1Password    {}",
        match item {
            onepassword::ItemState::Present => format!("item {} found", stack.local_prod_item),
            onepassword::ItemState::Missing if c.create_item =>
                format!("create item {}", stack.local_prod_item),
            onepassword::ItemState::AfterClone =>
                "as the repository's kinfra.toml says (looked up after the clone)".into(),
            _ => "none: insecure development defaults".into(),
        }
    ));
    let mut steps = vec![
        if d.resume {
            "resume the clone"
        } else {
            "clone"
        },
        "uv sync",
    ];
    steps.push(if d.already_registered {
        "local-prod (registered already)"
    } else {
        "register local-prod"
    });
    steps.push(match c.shared {
        SharedChoice::From(_) => "copy shared data",
        SharedChoice::Minimal => "create shared data",
        _ => "leave shared data",
    });
    steps.push(if d.running {
        "leave it running"
    } else if c.start {
        "start it"
    } else {
        "do not start it"
    });
    l.push(format!("  steps        {}", steps.join(", ")));
    l
}
