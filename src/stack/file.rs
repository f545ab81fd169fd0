//! The file format, as written; checked and turned into a [`Stack`].

use super::*;
use crate::support::validate::{
    DirName, EnvName, HttpPath, JsonPointer, OpItem, Profile, ProjectName, WorktreePrefix,
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
    env: BTreeMap<EnvName, String>,
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

fn shared_services(
    raw: Vec<RawShared>,
    slug: &str,
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
    env: BTreeMap<EnvName, String>,
    #[serde(default)]
    secrets: BTreeMap<EnvName, String>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
struct Sandbox {
    #[serde(default)]
    item: Option<OpItem>,
    #[serde(default)]
    env: BTreeMap<EnvName, String>,
    #[serde(default)]
    secrets: BTreeMap<EnvName, String>,
}

/// `[X.env]` and `[X.secrets]` of one kind, checked.
fn kind_settings(
    kind: &str,
    env: BTreeMap<EnvName, String>,
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
        env: env.into_iter().map(|(k, v)| (k.0, v)).collect(),
        secrets,
    })
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct Port {
    key: EnvName,
    #[serde(default)]
    local_prod: Option<u16>,
    #[serde(default)]
    fixed: Option<u16>,
    #[serde(default)]
    base: Option<u16>,
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

type RawKind = (BTreeMap<EnvName, String>, BTreeMap<EnvName, String>);

/// `[env]`, `[sandbox.*]`, `[local_prod.*]` and the secrets' kinds, checked:
/// each kind's variables together with the ports and shared directories.
fn variables(
    secrets: &[SecretField],
    env: BTreeMap<EnvName, String>,
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
    let common_env: BTreeMap<String, String> = env.into_iter().map(|(k, v)| (k.0, v)).collect();
    let sandbox = kind_settings("sandbox", sandbox_raw.0, sandbox_raw.1)?;
    let local_prod = kind_settings("local_prod", local_raw.0, local_raw.1)?;
    // Each kind's variables are checked together: one kind may map a field
    // where the other names a reference.
    for (lp, kind) in [(false, &sandbox), (true, &local_prod)] {
        let fields: Vec<SecretField> = secrets.iter().filter(|f| f.for_kind(lp)).cloned().collect();
        let mut extra: Vec<(String, String)> = Vec::new();
        for k in common_env.keys() {
            extra.push((k.clone(), format!("[env] {k}")));
        }
        let name = kind_key(lp);
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

impl Raw {
    pub fn into_stack(self) -> std::result::Result<Stack, String> {
        let slug = crate::support::slug::slugify(&self.name)
            .map_err(|e| format!("name {:?} cannot name compose projects: {e}", self.name))?;
        if self.max_slot == 0 {
            return Err("max_slot must be at least 1".into());
        }
        let compose_files = match self.compose_file {
            ComposeFiles::One(f) => vec![f],
            ComposeFiles::Many(fs) => fs,
        };
        let carried = self
            .carry
            .iter()
            .flat_map(|c| [Some(&c.from), c.to.as_ref()]);
        for (what, f) in carried
            .flatten()
            .map(|f| ("carry", f))
            .chain(compose_files.iter().map(|f| ("compose_file", f)))
        {
            if !inside_repo(f) {
                return Err(format!("{what} {f:?} must be a path inside the repository"));
            }
        }
        let Some(first) = compose_files.first().cloned() else {
            return Err("compose_file names no file".into());
        };
        let auto_ports = match self.port_scheme.as_deref() {
            None => self.ports.is_empty(),
            Some("auto") => {
                if !self.ports.is_empty() {
                    return Err(
                        "port_scheme = \"auto\" chooses every host port itself: remove [[ports]], or use port_scheme = \"env\"".into(),
                    );
                }
                true
            }
            Some("env") => false,
            Some(other) => {
                return Err(format!(
                    "port_scheme {other:?} is not a scheme: \"auto\" (kinfra picks each published port) or \"env\" ([[ports]] keys the compose file reads)"
                ));
            }
        };
        let ports: Vec<PortRule> = self
            .ports
            .into_iter()
            .map(|p| {
                if let Some(f) = p.fixed {
                    if p.local_prod.is_some() || p.base.is_some() || p.step.is_some() {
                        return Err(format!(
                            "port {}: `fixed` is the same port for every instance; it takes no local_prod, base or step",
                            p.key
                        ));
                    }
                    return Ok(PortRule {
                        key: p.key.0,
                        slot0: f,
                        sandbox: Some((f, 0)),
                        fixed: true,
                    });
                }
                let Some(local_prod) = p.local_prod else {
                    return Err(format!(
                        "port {}: needs `local_prod` (the port at slot 0), or `fixed` (the same for every instance)",
                        p.key
                    ));
                };
                let sandbox = match (p.base, p.step) {
                    (Some(b), Some(s)) => Some((b, s)),
                    (Some(b), None) => Some((b, 1)),
                    (None, None) => None,
                    (None, Some(_)) => {
                        return Err(format!("port {}: `step` needs a `base`", p.key));
                    }
                };
                if let Some((b, s)) = sandbox
                    && u32::from(b) + u32::from(s) * u32::from(self.max_slot) > 65535
                {
                    return Err(format!(
                        "port {}: {b} + {s} × slot passes 65535 before slot {}",
                        p.key, self.max_slot
                    ));
                }
                if sandbox.is_some_and(|(_, s)| s == 0) {
                    return Err(format!(
                        "port {}: step 0 gives every sandbox one port; a port shared by every instance is `fixed = {local_prod}`",
                        p.key
                    ));
                }
                Ok(PortRule {
                    key: p.key.0,
                    slot0: local_prod,
                    sandbox,
                    fixed: false,
                })
            })
            .collect::<std::result::Result<_, _>>()?;
        // Under the auto scheme a check names an allocated port by its key,
        // `PORT_<SERVICE>_<TARGET>`.
        let known = |k: &str| {
            ports.iter().any(|p| p.key == k)
                || (auto_ports && k.starts_with(crate::tools::model::PORT_PREFIX))
        };
        let need = |what: &str, k: &str| {
            if known(k) {
                Ok(())
            } else {
                Err(format!(
                    "{what} names port {k:?}, which [[ports]] does not define"
                ))
            }
        };
        let mut gate = Vec::new();
        for g in self.gate {
            let check = match (g.tcp, g.http, g.json_length) {
                (Some(t), None, None) => Check::Tcp { port_key: t.port },
                (None, Some(h), None) => Check::Http {
                    port_key: h.port,
                    path: h.path.0,
                    ok: h.ok,
                },
                (None, None, Some(j)) => Check::JsonLength {
                    port_key: j.port,
                    path: j.path.0,
                    pointer: j.pointer.0,
                    min: j.min,
                },
                _ => {
                    return Err(format!(
                        "gate check {:?} needs exactly one of tcp, http, json_length",
                        g.name
                    ));
                }
            };
            let (Check::Tcp { port_key }
            | Check::Http { port_key, .. }
            | Check::JsonLength { port_key, .. }) = &check;
            need(&format!("gate check {:?}", g.name), port_key)?;
            if let Some(r) = &g.requires
                && !gate.iter().any(|c: &GateCheck| &c.name == r)
            {
                return Err(format!(
                    "gate check {:?} requires {r:?}, which is not an earlier check",
                    g.name
                ));
            }
            gate.push(GateCheck {
                name: g.name,
                service: g.service,
                check,
                requires: g.requires,
            });
        }
        for l in &self.links {
            if !l.port_key.ends_with('_') {
                need(&format!("link {:?}", l.label), &l.port_key)?;
            }
        }
        let api_port_key = match self.api_port {
            Some(k) => {
                need("api_port", &k)?;
                k
            }
            None => ports.first().map(|p| p.key.clone()).unwrap_or_default(),
        };
        let post_start = self
            .post_start
            .map(|p| {
                let script = match p.script.strip_prefix("embedded:") {
                    Some(e) => {
                        if crate::support::assets::Scripts::get(e).is_none() {
                            return Err(format!(
                                "post_start script {:?} is not embedded in kinfra",
                                p.script
                            ));
                        }
                        Script::Embedded(e.to_string())
                    }
                    None => {
                        if !inside_repo(&p.script) {
                            return Err(format!(
                                "post_start script {:?} must be a path inside the repository",
                                p.script
                            ));
                        }
                        Script::Repo(PathBuf::from(&p.script))
                    }
                };
                Ok(PostStart {
                    name: p.name,
                    service: p.service,
                    script,
                })
            })
            .transpose()?;
        let shared_subdirs: Vec<String> = self.shared_dirs.into_iter().map(|d| d.0).collect();
        let env_prefix = self.env_prefix.map(|e| e.0).unwrap_or_else(|| {
            let p = slug.to_uppercase().replace('-', "_");
            // A name starting with a digit is no variable name.
            if crate::support::validate::env_name(&p).is_ok() {
                p
            } else {
                format!("_{p}")
            }
        });
        let (common_env, sandbox, local_prod) = variables(
            &self.secrets,
            self.env,
            (self.sandbox.env, self.sandbox.secrets),
            (self.local_prod.env, self.local_prod.secrets),
            &Made {
                ports: &ports,
                env_prefix: &env_prefix,
                shared: &shared_subdirs,
                auto_ports,
            },
        )?;
        Ok(Stack {
            compose_file: first,
            compose_files,
            profiles: self.profiles.into_iter().map(|p| p.0).collect(),
            repo_marker: self.repo_marker.filter(|m| !m.is_empty()),
            worktree_prefix: self
                .worktree_prefix
                .map(|p| p.0)
                .unwrap_or_else(|| format!("{slug}--")),
            local_prod_id: self
                .local_prod
                .project
                .map(|p| p.0)
                .unwrap_or_else(|| format!("{slug}-prod")),
            local_prod_profile: self.local_prod.profile.map(|p| p.0),
            sandbox_item: self
                .sandbox
                .item
                .map(|i| i.0)
                .unwrap_or_else(|| format!("{slug}-sandbox-dev")),
            local_prod_item: self
                .local_prod
                .item
                .map(|i| i.0)
                .unwrap_or_else(|| format!("{slug}-local-prod")),
            max_slot: self.max_slot,
            auto_ports,
            inferred: false,
            ports,
            api_port_key,
            secret_fields: self.secrets,
            env: common_env,
            sandbox,
            local_prod,
            gate,
            post_start,
            shared_subdirs,
            shell_service: self.shell_service,
            env_prefix,
            links: self.links,
            budget: Budget {
                max_running: self.budget.max_running,
                memory: match self.budget.memory {
                    Some(m) => Some(crate::support::units::parse_bytes(&m).ok_or_else(|| {
                        format!("budget.memory {m:?} is not a size (examples: 8G, 512M)")
                    })?),
                    None => None,
                },
            },
            carry: self.carry,
            shared_volumes: self.shared_volumes,
            shared_networks: self.shared_networks,
            origin: String::new(),
            shared: shared_services(self.shared, &slug)?,
            prepare: prepare_steps(self.prepare)?,
            host: host_services(self.host)?,
            builtin: false,
            workflow: workflow(self.workflow, &slug)?,
            data: data(self.data)?,
            notes: Vec::new(),
            name: self.name,
        })
    }
}
