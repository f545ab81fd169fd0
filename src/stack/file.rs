//! The file format, as written; checked and turned into a [`Stack`].

mod convert;

use super::*;
use crate::support::validate::{
    DirName, EnvName, EnvValue, HttpPath, JsonPointer, LiteralVar, OpItem, PortNumber, Profile,
    ProjectName, WorktreePrefix,
};

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Raw {
    name: String,
    compose_file: ComposeFiles,
    #[serde(default)]
    profiles: Vec<Profile>,
    #[serde(default)]
    repo_marker: Option<String>,
    #[serde(default)]
    worktree_prefix: Option<WorktreePrefix>,
    #[serde(default = "default_max_slot")]
    max_slot: u8,
    #[serde(default)]
    api_port: Option<String>,
    #[serde(default)]
    shared_dirs: Vec<DirName>,
    #[serde(default)]
    env_prefix: Option<EnvName>,
    #[serde(default)]
    shell_service: Option<String>,
    #[serde(default)]
    local_prod: LocalProd,
    #[serde(default)]
    sandbox: Sandbox,
    #[serde(default)]
    port_scheme: Option<String>,
    #[serde(default)]
    ports: Vec<Port>,
    #[serde(default)]
    links: Vec<Link>,
    #[serde(default)]
    secrets: Vec<SecretField>,
    #[serde(default)]
    gate: Vec<Gate>,
    #[serde(default)]
    post_start: Option<Post>,
    #[serde(default)]
    budget: RawBudget,
    #[serde(default)]
    carry: Vec<Carry>,
    #[serde(default)]
    shared_volumes: Vec<String>,
    #[serde(default)]
    shared_networks: Vec<String>,
    #[serde(default)]
    isolate: RawIsolate,
    #[serde(default)]
    env: BTreeMap<LiteralVar, EnvValue>,
    #[serde(default)]
    shared: Vec<RawShared>,
    #[serde(default)]
    prepare: Vec<RawPrepare>,
    #[serde(default)]
    host: Vec<RawHost>,
    #[serde(default)]
    workflow: RawWorkflow,
    #[serde(default)]
    data: RawData,
    #[serde(default)]
    router: RawRouter,
}

/// `[router]`: whether `up` starts the router, and this project's idle stop.
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
struct RawRouter {
    #[serde(default)]
    auto_start: Option<bool>,
    #[serde(default)]
    idle_stop: Option<IdleStop>,
}

/// `[isolate]`: what kinfra makes each sandbox's own beyond what it infers.
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
struct RawIsolate {
    #[serde(default)]
    host_paths: Vec<String>,
}

/// Pure: `[isolate] host_paths` entries, each an absolute path or one under `~/`,
/// naming a directory below the root or home (never `/` or `~` itself), without
/// `..`. What the filesystem says (a symlink, inside kinfra's home) is checked
/// where the copy is made ([`crate::stack::host_path_refusal`]).
fn isolate_host_paths(raw: RawIsolate) -> std::result::Result<Vec<String>, String> {
    for p in &raw.host_paths {
        crate::stack::host_path_syntax(p)
            .map_err(|e| format!("isolate.host_paths entry {p:?}: {e}"))?;
    }
    Ok(raw.host_paths)
}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
struct RawData {
    #[serde(default)]
    volumes: Vec<String>,
    #[serde(default)]
    exclude: Vec<String>,
}

fn data(raw: RawData) -> std::result::Result<DataSpec, String> {
    for (what, list) in [("volumes", &raw.volumes), ("exclude", &raw.exclude)] {
        for v in list {
            crate::support::validate::volume_key(v)
                .map_err(|e| format!("data.{what} entry {v:?}: {e}"))?;
        }
    }
    Ok(DataSpec {
        volumes: raw.volumes,
        exclude: raw.exclude,
    })
}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
struct RawWorkflow {
    #[serde(default)]
    spec_prefix: Option<WorktreePrefix>,
    #[serde(default)]
    impl_prefix: Option<WorktreePrefix>,
    #[serde(default)]
    spec_branch: Option<String>,
    #[serde(default)]
    impl_branch: Option<String>,
    #[serde(default)]
    design_dir: Option<String>,
}

fn workflow(raw: RawWorkflow, slug: &str) -> std::result::Result<Workflow, String> {
    let spec_branch = raw.spec_branch.unwrap_or_else(|| "spec/{feature}".into());
    let impl_branch = raw
        .impl_branch
        .unwrap_or_else(|| "impl/{feature}-{milestone}".into());
    for (what, t) in [("spec_branch", &spec_branch), ("impl_branch", &impl_branch)] {
        if !t.contains("{feature}") || t.starts_with('-') || t.contains("..") || t.contains(' ') {
            return Err(format!(
                "workflow.{what} {t:?} must name {{feature}} and be a branch name (no leading -, no .., no spaces)"
            ));
        }
    }
    let design_dir = raw.design_dir.unwrap_or_else(|| "docs/designs".into());
    if !inside_repo(&design_dir) {
        return Err(format!(
            "workflow.design_dir {design_dir:?} must be a path inside the repository"
        ));
    }
    Ok(Workflow {
        spec_prefix: raw
            .spec_prefix
            .map(|p| p.0)
            .unwrap_or_else(|| format!("{slug}-spec-")),
        impl_prefix: raw
            .impl_prefix
            .map(|p| p.0)
            .unwrap_or_else(|| format!("{slug}-impl-")),
        spec_branch,
        impl_branch,
        design_dir,
    })
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct RawShared {
    name: DirName,
    compose_file: String,
    #[serde(default)]
    project: Option<ProjectName>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct RawPrepare {
    name: String,
    #[serde(default)]
    image: Option<String>,
    #[serde(default)]
    dockerfile: Option<String>,
    #[serde(default)]
    context: Option<String>,
    #[serde(default)]
    command: Option<Vec<String>>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct RawHost {
    name: DirName,
    command: Vec<String>,
    #[serde(default)]
    dir: Option<String>,
    #[serde(default)]
    env: BTreeMap<EnvName, String>,
    port: u16,
    #[serde(default)]
    health: Option<HttpPath>,
    #[serde(default)]
    log: Option<String>,
}

/// An image reference docker accepts as a word of its own (never an option).
fn image_ref(s: &str) -> bool {
    !s.is_empty()
        && !s.starts_with('-')
        && s.len() <= 255
        && s.chars()
            .all(|c| c.is_ascii_alphanumeric() || "._-/:@".contains(c))
}

/// The shared services; a compose project that is local-prod's or has a sandbox's
/// shape is refused (a `shared down` of it would stop that instance).
fn shared_services(
    raw: Vec<RawShared>,
    slug: &str,
    local_prod_id: &str,
    worktree_prefix: &str,
) -> std::result::Result<Vec<SharedService>, String> {
    let mut out: Vec<SharedService> = Vec::new();
    for r in raw {
        if !inside_repo(&r.compose_file) {
            return Err(format!(
                "shared service {:?}: compose_file {:?} must be a path inside the repository",
                r.name.0, r.compose_file
            ));
        }
        let project = r
            .project
            .map(|p| p.0)
            .unwrap_or_else(|| format!("{slug}-{}", r.name.0.to_lowercase().replace('.', "-")));
        if project == local_prod_id
            || (!worktree_prefix.is_empty() && project.starts_with(worktree_prefix))
        {
            return Err(format!(
                "shared service {:?}: project {project:?} is {}, so `kinfra shared down` would stop it; give the shared service its own project",
                r.name.0,
                if project == local_prod_id {
                    "local-prod's compose project".to_string()
                } else {
                    format!("shaped like a sandbox's ({worktree_prefix}…)")
                }
            ));
        }
        if out
            .iter()
            .any(|o| o.name == r.name.0 || o.project == project)
        {
            return Err(format!(
                "shared service {:?} is declared twice (name or project {project:?})",
                r.name.0
            ));
        }
        out.push(SharedService {
            name: r.name.0,
            compose_file: r.compose_file,
            project,
        });
    }
    Ok(out)
}

fn prepare_steps(raw: Vec<RawPrepare>) -> std::result::Result<Vec<Prepare>, String> {
    raw.into_iter()
        .map(|r| {
            let action = match (r.image, r.command) {
                (Some(image), None) => {
                    if !image_ref(&image) {
                        return Err(format!(
                            "prepare step {:?}: image {image:?} is not an image reference",
                            r.name
                        ));
                    }
                    let dockerfile = r.dockerfile.ok_or_else(|| {
                        format!("prepare step {:?}: an image step needs `dockerfile`", r.name)
                    })?;
                    let context = r.context.unwrap_or_else(|| ".".into());
                    for (what, f) in [("dockerfile", &dockerfile), ("context", &context)] {
                        if !(f == "." || inside_repo(f)) {
                            return Err(format!(
                                "prepare step {:?}: {what} {f:?} must be a path inside the repository",
                                r.name
                            ));
                        }
                    }
                    PrepareAction::Image {
                        image,
                        dockerfile,
                        context,
                    }
                }
                (None, Some(cmd)) => {
                    if r.dockerfile.is_some() || r.context.is_some() {
                        return Err(format!(
                            "prepare step {:?}: dockerfile and context belong to an image step",
                            r.name
                        ));
                    }
                    if cmd.first().is_none_or(|c| c.is_empty()) {
                        return Err(format!("prepare step {:?}: command is empty", r.name));
                    }
                    PrepareAction::Command(cmd)
                }
                _ => {
                    return Err(format!(
                        "prepare step {:?} needs exactly one of image (with dockerfile) or command",
                        r.name
                    ));
                }
            };
            Ok(Prepare {
                name: r.name,
                action,
            })
        })
        .collect()
}

fn host_services(raw: Vec<RawHost>) -> std::result::Result<Vec<HostService>, String> {
    let mut out: Vec<HostService> = Vec::new();
    for r in raw {
        let name = r.name.0;
        if r.command.first().is_none_or(|c| c.is_empty()) {
            return Err(format!("host service {name:?}: command is empty"));
        }
        if r.port == 0 {
            return Err(format!("host service {name:?}: port 0 is no port"));
        }
        let dir = r.dir.unwrap_or_else(|| ".".into());
        let log = r.log.unwrap_or_else(|| format!("logs/{name}.log"));
        for (what, f) in [("dir", &dir), ("log", &log)] {
            if !(f == "." || inside_repo(f)) {
                return Err(format!(
                    "host service {name:?}: {what} {f:?} must be a path inside the clone"
                ));
            }
        }
        let mut env = BTreeMap::new();
        for (k, v) in r.env {
            if crate::support::validate::steers_processes(&k.0) && k.0 != "PYTHONPATH" {
                return Err(format!(
                    "host service {name:?}: {} steers processes; set it in the command instead",
                    k.0
                ));
            }
            env.insert(k.0, v);
        }
        if out.iter().any(|o| o.name == name || o.port == r.port) {
            return Err(format!(
                "host service {name:?}: its name or port {} is another host service's",
                r.port
            ));
        }
        out.push(HostService {
            name,
            command: r.command,
            dir,
            env,
            port: r.port,
            health: r.health.map(|h| h.0),
            log,
        });
    }
    Ok(out)
}

/// `compose_file = "compose.yaml"` or `compose_file = ["compose.yaml", "more.yaml"]`.
#[derive(Debug, Deserialize)]
#[serde(untagged)]
enum ComposeFiles {
    One(String),
    Many(Vec<String>),
}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
struct RawBudget {
    #[serde(default)]
    max_running: Option<usize>,
    #[serde(default)]
    memory: Option<String>,
}

fn default_max_slot() -> u8 {
    10
}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
struct LocalProd {
    #[serde(default)]
    project: Option<ProjectName>,
    #[serde(default)]
    profile: Option<Profile>,
    #[serde(default)]
    item: Option<OpItem>,
    #[serde(default)]
    env: BTreeMap<LiteralVar, EnvValue>,
    #[serde(default)]
    secrets: BTreeMap<EnvName, String>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
struct Sandbox {
    #[serde(default)]
    item: Option<OpItem>,
    #[serde(default)]
    env: BTreeMap<LiteralVar, EnvValue>,
    #[serde(default)]
    secrets: BTreeMap<EnvName, String>,
}

/// `[X.env]` and `[X.secrets]` of one kind, checked.
fn kind_settings(
    kind: &str,
    env: BTreeMap<LiteralVar, EnvValue>,
    secrets: BTreeMap<EnvName, String>,
) -> std::result::Result<KindSettings, String> {
    let secrets = secrets
        .into_iter()
        .map(|(var, v)| {
            let source =
                SecretSource::parse(&v).map_err(|e| format!("[{kind}.secrets] {var}: {e}"))?;
            Ok(SecretRef { var: var.0, source })
        })
        .collect::<std::result::Result<_, String>>()?;
    Ok(KindSettings {
        env: env.into_iter().map(|(k, v)| (k.0, v.0)).collect(),
        secrets,
    })
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct Port {
    key: EnvName,
    #[serde(default)]
    local_prod: Option<PortNumber>,
    #[serde(default)]
    fixed: Option<PortNumber>,
    #[serde(default)]
    base: Option<PortNumber>,
    #[serde(default)]
    step: Option<u16>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct PortRef {
    port: String,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct Http {
    port: String,
    #[serde(default = "root")]
    path: HttpPath,
    #[serde(default = "ok_200")]
    ok: Vec<u16>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct JsonLength {
    port: String,
    path: HttpPath,
    #[serde(default)]
    pointer: JsonPointer,
    min: usize,
}

fn root() -> HttpPath {
    HttpPath("/".into())
}
fn ok_200() -> Vec<u16> {
    vec![200]
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct Gate {
    name: String,
    service: String,
    #[serde(default)]
    requires: Option<String>,
    #[serde(default)]
    tcp: Option<PortRef>,
    #[serde(default)]
    http: Option<Http>,
    #[serde(default)]
    json_length: Option<JsonLength>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct Post {
    name: String,
    service: String,
    script: String,
}

/// A relative path that stays inside the repository (no `..`, not absolute).
fn inside_repo(f: &str) -> bool {
    let path = PathBuf::from(f);
    !f.is_empty()
        && !path.is_absolute()
        && !path
            .components()
            .any(|c| c == std::path::Component::ParentDir)
}

/// Every variable a description makes, checked together: port keys, the
/// shared directories' keys and the secrets' variables are each defined once,
/// never kinfra's own keys, and never a variable that steers a process.
fn check_names(
    ports: &[PortRule],
    secrets: &[SecretField],
    env_prefix: &str,
    shared: &[String],
    auto_ports: bool,
    extra: Vec<(String, String)>,
) -> std::result::Result<(), String> {
    let mut seen: BTreeMap<String, String> = BTreeMap::new();
    for k in crate::state::envfile::OWN_KEYS {
        seen.insert(k.to_string(), "kinfra's own key".into());
    }
    let mut made: Vec<(String, String)> = ports
        .iter()
        .map(|p| (p.key.clone(), format!("port key {}", p.key)))
        .collect();
    made.push((
        format!("{env_prefix}_SHARED_DIR"),
        format!("env_prefix {env_prefix:?} (its _SHARED_DIR key)"),
    ));
    for d in shared {
        let k = crate::state::envfile::shared_dir_key(env_prefix, d);
        made.push((k, format!("shared_dirs entry {d:?}")));
    }
    for f in secrets {
        made.push((f.var.clone(), format!("the secret of field {:?}", f.field)));
    }
    made.extend(extra);
    for (k, what) in made {
        if crate::support::validate::steers_processes(&k) {
            return Err(format!(
                "{what} makes the variable {k}, which steers the processes kinfra runs (docker, compose, git): choose another name"
            ));
        }
        if auto_ports
            && k.starts_with(crate::tools::model::PORT_PREFIX)
            && !what.starts_with("port key")
        {
            return Err(format!(
                "{what} is {k}, a name kinfra gives chosen ports (PORT_…): choose another"
            ));
        }
        if let Some(first) = seen.get(&k) {
            return Err(format!(
                "{what} makes the variable {k}, already taken by {first}: each variable once"
            ));
        }
        seen.insert(k, what);
    }
    Ok(())
}

/// What every kind's variables are checked against.
struct Made<'a> {
    ports: &'a [PortRule],
    env_prefix: &'a str,
    shared: &'a [String],
    auto_ports: bool,
}

type RawKind = (BTreeMap<LiteralVar, EnvValue>, BTreeMap<EnvName, String>);

/// `[env]`, `[sandbox.*]`, `[local_prod.*]` and the secrets' kinds, checked:
/// each kind's variables together with the ports and shared directories.
fn variables(
    secrets: &[SecretField],
    env: BTreeMap<LiteralVar, EnvValue>,
    sandbox_raw: RawKind,
    local_raw: RawKind,
    made: &Made,
) -> std::result::Result<(BTreeMap<String, String>, KindSettings, KindSettings), String> {
    for f in secrets {
        if let Some(k) = f
            .kinds
            .iter()
            .find(|k| *k != "sandbox" && *k != "local_prod")
        {
            return Err(format!(
                "secret of field {:?}: kind {k:?} is not \"sandbox\" or \"local_prod\"",
                f.field
            ));
        }
    }
    let common_env: BTreeMap<String, String> = env.into_iter().map(|(k, v)| (k.0, v.0)).collect();
    let sandbox = kind_settings("sandbox", sandbox_raw.0, sandbox_raw.1)?;
    let local_prod = kind_settings("local_prod", local_raw.0, local_raw.1)?;
    // Each kind's variables are checked together: one kind may map a field
    // where the other names a reference.
    for (which, kind) in [(Kind::Sandbox, &sandbox), (Kind::LocalProd, &local_prod)] {
        let fields: Vec<SecretField> = secrets
            .iter()
            .filter(|f| f.for_kind(which))
            .cloned()
            .collect();
        let mut extra: Vec<(String, String)> = Vec::new();
        for k in common_env.keys() {
            extra.push((k.clone(), format!("[env] {k}")));
        }
        let name = which.key();
        for k in kind.env.keys() {
            extra.push((k.clone(), format!("[{name}.env] {k}")));
        }
        for r in &kind.secrets {
            extra.push((r.var.clone(), format!("[{name}.secrets] {}", r.var)));
        }
        check_names(
            made.ports,
            &fields,
            made.env_prefix,
            made.shared,
            made.auto_ports,
            extra,
        )?;
    }
    Ok((common_env, sandbox, local_prod))
}
