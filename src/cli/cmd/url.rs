use crate::instance;
use crate::stack::Stack;
use crate::state::context::Context;

#[derive(Debug, clap::Args)]
#[command(after_help = "Examples:
  kinfra url api                 http://localhost:8001/api/v1 (this worktree's sandbox)
  kinfra url web --routed        http://web.shop-a.localhost:7355/ (through `kinfra router`)
  kinfra url                     every URL and port, one per line, routed beside direct
  kinfra url --json              {\"web:80\": {\"direct\": …, \"routed\": …}, …}
  curl \"$(kinfra url api)/health\"

Exit codes: 0 ok, 2 no such entry (the known ones are listed), 4 no instance here.")]
pub struct Args {
    /// What to print (a label of `kinfra url`'s list, any case); all when omitted.
    pub what: Option<String>,
    /// A registered sandbox (default: the instance containing the current directory).
    #[arg(long, value_name = "NAME", add = crate::cli::complete::sandboxes())]
    pub name: Option<String>,
    /// Print JSON on stdout (label -> {direct, routed}).
    #[arg(long)]
    pub json: bool,
    /// Print the routed URL (the name through `kinfra router`) instead of the direct one.
    #[arg(long)]
    pub routed: bool,
}

pub fn run(ctx: &Context, stack: &Stack, a: Args) -> crate::cli::error::CliResult<i32> {
    let inst = instance::here_or_named(ctx, stack, a.name.as_deref())?;
    let links = inst.links(stack);
    let urls = crate::router::urls::of(ctx, stack, &inst);
    let Some(what) = a.what else {
        if a.json {
            crate::outln!("{}", serde_json::json!(urls));
        } else {
            for (label, direct) in links {
                let label = label.to_lowercase();
                match urls.get(&label).and_then(|u| u.routed.as_deref()) {
                    Some(routed) => crate::outln!("{label:<11} {direct:<28} {routed}"),
                    None => crate::outln!("{label:<11} {direct}"),
                }
            }
        }
        return Ok(0);
    };
    // Labels of chosen ports spell a service as its key does (`airflow_apiserver`):
    // a name as written (`airflow-apiserver:8080`, `web.app`) is the same label.
    let same = |label: &str, asked: &str| form(label) == form(asked);
    // A service's name stands for its one published port (`web` for `web:80`).
    let by_service: Vec<&(String, String)> = links
        .iter()
        .filter(|(l, _)| l.split_once(':').is_some_and(|(s, _)| same(s, &what)))
        .collect();
    let found = links
        .iter()
        .find(|(l, _)| same(l, &what))
        .or(match by_service[..] {
            [one] => Some(one),
            _ => None,
        });
    let pick = |label: &str, direct: &str| -> crate::cli::error::CliResult<String> {
        if !a.routed {
            return Ok(direct.to_string());
        }
        urls.get(&label.to_lowercase())
            .and_then(|u| u.routed.clone())
            .ok_or_else(|| crate::cli::error::CliError::NoRoutedUrl {
                label: label.to_string(),
                id: inst.id().into(),
            })
    };
    match found {
        Some((label, _)) if a.json => {
            crate::outln!("{}", serde_json::json!(urls.get(&label.to_lowercase())));
        }
        Some((label, url)) => crate::outln!("{}", pick(label, url)?),
        None => {
            let known: Vec<String> = links.iter().map(|(l, _)| l.to_lowercase()).collect();
            return Err(crate::cli::error::CliError::NoSuchUrl {
                id: inst.id().into(),
                what: what.clone(),
                known: known.clone(),
            });
        }
    }
    Ok(0)
}

/// Pure: a label as compared: lowercase, `-` and `.` as `_`.
fn form(s: &str) -> String {
    s.to_lowercase().replace(['-', '.'], "_")
}
