use crate::engine;
use crate::state::context::Context;
use crate::support::units::human_bytes;

#[derive(Debug, clap::Subcommand)]
pub enum EngineCmd {
    /// Add a Docker engine on another machine, reached over SSH with your ssh config,
    /// keys and agent. Checks that it answers (Docker's version, its memory), that
    /// compose works through it and that rsync is on both machines; records it.
    #[command(
        after_help = "Examples:\n  kinfra engine add build-box ssh://dev@build-box.lan\n  \
kinfra engine add gpu ssh://me@10.0.0.7:2222\n  kinfra sandbox create try-it --on build-box"
    )]
    Add(AddArgs),
    /// List the engines: reachable or not, memory, instances on each, kinfra's
    /// footprint there (containers, code mirrors).
    List(ListArgs),
    /// Forget an engine (refused while instances live there). Nothing on its
    /// machine is touched.
    Rm(RmArgs),
}

#[derive(Debug, clap::Args)]
pub struct AddArgs {
    /// The engine's name (a-z, 0-9 and -; not `auto` or `local`).
    pub name: String,
    /// `ssh://USER@HOST[:PORT]`.
    pub url: String,
    /// Print JSON on stdout.
    #[arg(long)]
    pub json: bool,
}

#[derive(Debug, clap::Args)]
pub struct ListArgs {
    /// Print JSON on stdout.
    #[arg(long)]
    pub json: bool,
}

#[derive(Debug, clap::Args)]
pub struct RmArgs {
    pub name: String,
}

pub fn run(ctx: &Context, c: EngineCmd) -> crate::cli::error::CliResult<i32> {
    match c {
        EngineCmd::Add(a) => {
            let added = engine::add(ctx, &a.name, &a.url)?;
            if a.json {
                crate::outln!(
                    "{}",
                    serde_json::to_string_pretty(&added).unwrap_or_default()
                );
            }
            ctx.reporter.success(&format!(
                "Added engine {} ({}): Docker {}, {} memory, {} CPU(s); code mirrors under {}/{}",
                added.engine.name,
                added.engine.url,
                added.facts.docker_version,
                human_bytes(added.facts.memory_bytes),
                added.facts.cpus,
                added.facts.remote_home,
                engine::MIRRORS_DIR
            ));
            Ok(0)
        }
        EngineCmd::List(a) => {
            let listing = engine::list(ctx)?;
            if a.json {
                crate::outln!(
                    "{}",
                    serde_json::to_string_pretty(&listing).unwrap_or_default()
                );
                return Ok(0);
            }
            if listing.engines.is_empty() {
                crate::outln!(
                    "No engines besides this machine's. Add one with `kinfra engine add NAME ssh://USER@HOST`."
                );
                return Ok(0);
            }
            crate::outln!(
                "{:<16} {:<36} {:<11} {:>10} {:>10} {:>10} INSTANCES",
                "NAME",
                "URL",
                "STATE",
                "MEMORY",
                "CONTAINERS",
                "MIRRORS"
            );
            for r in &listing.engines {
                crate::outln!(
                    "{:<16} {:<36} {:<11} {:>10} {:>10} {:>10} {}",
                    r.name,
                    r.url,
                    if r.reachable {
                        "reachable"
                    } else {
                        "unreachable"
                    },
                    r.memory_bytes
                        .map(human_bytes)
                        .unwrap_or_else(|| "-".into()),
                    if r.reachable {
                        r.footprint.containers.to_string()
                    } else {
                        "-".into()
                    },
                    r.footprint
                        .mirror_bytes
                        .map(human_bytes)
                        .unwrap_or_else(|| "-".into()),
                    if r.instances.is_empty() {
                        "-".to_string()
                    } else {
                        r.instances.join(",")
                    }
                );
            }
            for r in listing.engines.iter().filter(|r| !r.reachable) {
                if let Some(e) = &r.error {
                    ctx.reporter.warn(&format!("{}: {e}", r.name));
                }
            }
            Ok(0)
        }
        EngineCmd::Rm(a) => {
            let e = engine::remove(ctx, &a.name)?;
            ctx.reporter.success(&format!(
                "Forgot engine {} ({}); nothing on its machine was touched",
                e.name, e.url
            ));
            Ok(0)
        }
    }
}
