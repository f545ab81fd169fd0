use crate::data;
use crate::stack::Stack;
use crate::state::context::Context;

#[derive(Debug, clap::Subcommand)]
pub enum SnapshotCmd {
    /// Save a consistent copy of an instance's data volumes (a running source is
    /// paused for the copy alone, all its writers at once).
    #[command(
        after_help = "Examples:\n  kinfra snapshot save before-migration --from local-prod\n  \
kinfra sandbox create try-it --data before-migration"
    )]
    Save(SaveArgs),
    /// List this project's snapshots with size, age, source and the source's commit.
    List(ListArgs),
    /// Remove a snapshot (its volumes). Sandboxes made from it keep their data.
    Rm(RmArgs),
}

#[derive(Debug, clap::Args)]
pub struct SaveArgs {
    /// The snapshot's name (a-z, 0-9 and -).
    pub name: String,
    /// `local-prod` or a sandbox's name (default: the instance containing the
    /// current directory, else local-prod).
    #[arg(long, value_name = "INSTANCE")]
    pub from: Option<String>,
    /// Copy Postgres volumes from the running server with `pg_basebackup`
    /// instead of pausing it (for databases too large to pause); other volumes
    /// are copied as usual. docs/DATA.md says what each method guarantees.
    #[arg(long)]
    pub online: bool,
    /// Print JSON on stdout.
    #[arg(long)]
    pub json: bool,
}

#[derive(Debug, clap::Args)]
pub struct ListArgs {
    /// Every project's snapshots, not only this one's.
    #[arg(long)]
    pub all: bool,
    /// Print JSON on stdout.
    #[arg(long)]
    pub json: bool,
}

#[derive(Debug, clap::Args)]
pub struct RmArgs {
    pub name: String,
    /// Only forget the record of a snapshot whose engine (on another machine) is
    /// gone or refused; its volumes, if that machine still has them, stay there.
    #[arg(long)]
    pub forget: bool,
}

pub fn run(ctx: &Context, stack: &Stack, c: SnapshotCmd) -> crate::cli::error::CliResult<i32> {
    match c {
        SnapshotCmd::Save(a) => {
            let source = match &a.from {
                Some(f) => data::resolve_source(ctx, stack, f, false)?,
                None => match crate::instance::here_or_named(ctx, stack, None) {
                    Ok(i) => data::Source::Instance(Box::new(i)),
                    Err(crate::Error::NoInstanceHere { .. }) => {
                        data::resolve_source(ctx, stack, "local-prod", false)?
                    }
                    Err(e) => return Err(e.into()),
                },
            };
            let (snap, copied) =
                data::save(ctx, stack, &source, &a.name, data::How { online: a.online })?;
            if a.json {
                crate::outln!(
                    "{}",
                    serde_json::to_string_pretty(&serde_json::json!({
                        "snapshot": snap, "copy": copied
                    }))
                    .unwrap_or_default()
                );
            }
            ctx.reporter.success(&data::describe(
                &copied,
                &format!("Saved snapshot {}", snap.name),
                &source.label(),
            ));
            Ok(0)
        }
        SnapshotCmd::List(a) => print_list(ctx, stack, &a),
        SnapshotCmd::Rm(a) if a.forget => {
            let engine = data::forget(ctx, stack, &a.name)?;
            ctx.reporter.warn(&format!(
                "forgot snapshot {}: nothing was asked of the engine {engine}; its volumes, if that machine still has them, stay there (labelled {}={})",
                a.name,
                data::plan::SNAPSHOT,
                a.name
            ));
            Ok(0)
        }
        SnapshotCmd::Rm(a) => {
            let s = data::remove(ctx, stack, &a.name)?;
            ctx.reporter.success(&format!(
                "Removed snapshot {} ({} volume(s))",
                s.name,
                s.volumes.len()
            ));
            Ok(0)
        }
    }
}

/// `snapshot list`: a table, or the JSON document (`--json`, as MCP's).
fn print_list(ctx: &Context, stack: &Stack, a: &ListArgs) -> crate::cli::error::CliResult<i32> {
    let answer = data::snapshots(ctx, stack, a.all)?;
    if a.json {
        crate::outln!(
            "{}",
            serde_json::to_string_pretty(&answer).unwrap_or_default()
        );
        return Ok(0);
    }
    let rows = answer.snapshots;
    if rows.is_empty() {
        crate::outln!(
            "no snapshots of {} (`kinfra snapshot save NAME` makes one)",
            stack.name
        );
        return Ok(0);
    }
    crate::outln!(
        "{:<24} {:>10} {:<10} {:<28} {:<12} {:<16} VOLUMES",
        "NAME",
        "SIZE",
        "AGE",
        "SOURCE",
        "COMMIT",
        "ENGINE"
    );
    for r in rows {
        let s = &r.snapshot;
        let size = r
            .bytes
            .map(crate::support::units::human_bytes)
            .unwrap_or_else(|| "incomplete".into());
        let keys: Vec<&str> = s.volumes.iter().map(|v| v.key.as_str()).collect();
        let name = if a.all {
            format!("{}/{}", s.project, s.name)
        } else {
            s.name.clone()
        };
        // Where its volumes live; one that did not answer is still listed.
        let engine = match (&s.engine, r.reachable) {
            (None, _) => "local".to_string(),
            (Some(e), true) => e.clone(),
            (Some(e), false) => format!("{e} (unreachable)"),
        };
        let volumes = if r.reachable {
            keys.join(",")
        } else {
            "?".into()
        };
        crate::outln!(
            "{:<24} {:>10} {:<10} {:<28} {:<12} {:<16} {}",
            name,
            size,
            age(&s.created),
            s.source,
            s.commit,
            engine,
            volumes
        );
    }
    Ok(0)
}

/// "5 min", "3 h", "2 d" since an ISO time ("" when it does not parse).
fn age(created: &str) -> String {
    let Ok(t) = created.parse::<jiff::Timestamp>() else {
        return String::new();
    };
    let secs = jiff::Timestamp::now().as_second() - t.as_second();
    match secs {
        s if s < 60 => format!("{} s", s.max(0)),
        s if s < 3600 => format!("{} min", s / 60),
        s if s < 86400 => format!("{} h", s / 3600),
        s => format!("{} d", s / 86400),
    }
}
