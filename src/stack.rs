//! A stack's description, as data: compose file, ports table, env keys, profile,
//! 1Password items and field mapping, gate checks, post-start step, links. It is read
//! from `kinfra.toml` at the repository's root, or is KTRDR's built-in description
//! (`embedded/stacks/ktrdr.toml`) for a KTRDR clone that carries none. The rest of
//! kinfra reads its decisions from here. Unknown keys are errors naming their line;
//! every key is documented in `docs/STACKS.md`.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::sync::LazyLock;

use serde::Deserialize;

use crate::error::{Error, Result};

/// The file a repository describes its stack in.
pub const FILE_NAME: &str = "kinfra.toml";

/// A port key and how its value follows from the slot.
#[derive(Debug, Clone, PartialEq)]
pub struct PortRule {
    pub key: String,
    /// The port at slot 0 (local-prod).
    pub slot0: u16,
    /// For sandboxes: `base + step * slot`; `None` when sandboxes do not get it.
    pub sandbox: Option<(u16, u16)>,
    /// The same port for every instance: a shared service's (one observability
    /// stack for all), shown and checked, never the instance's to publish or hold.
    pub fixed: bool,
}

/// One startability check, run after `up`.
#[derive(Debug, Clone, PartialEq)]
pub enum Check {
    /// The port accepts a TCP connection.
    Tcp { port_key: String },
    /// `GET path` answers one of `ok` statuses.
    Http {
        port_key: String,
        path: String,
        ok: Vec<u16>,
    },
    /// `GET path` answers 200 with JSON holding an array of at least `min` items:
    /// the array at `pointer` (RFC 6901), or the whole body when it is an array.
    JsonLength {
        port_key: String,
        path: String,
        pointer: String,
        min: usize,
    },
}

#[derive(Debug, Clone, PartialEq)]
pub struct GateCheck {
    pub name: String,
    /// The compose service behind the check: its logs are shown when it fails.
    pub service: String,
    pub check: Check,
    /// Skipped (not run) when this earlier check failed.
    pub requires: Option<String>,
}

/// Where a post-start script comes from.
#[derive(Debug, Clone, PartialEq)]
pub enum Script {
    /// A file compiled into kinfra (`embedded:` + path under `embedded/`).
    Embedded(String),
    /// A file of the repository, relative to its root.
    Repo(PathBuf),
}

/// A script run inside a service after start.
#[derive(Debug, Clone, PartialEq)]
pub struct PostStart {
    pub name: String,
    pub service: String,
    pub script: Script,
}

#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SecretField {
    /// The field's label in the 1Password item.
    pub field: String,
    /// The environment variable compose gets it as: a plain name that steers no
    /// process (`DOCKER_HOST`, `PATH`, `LD_PRELOAD`, … are refused).
    #[serde(deserialize_with = "crate::validate::de_secret_var")]
    pub var: String,
    /// What it is for, shown by the installer.
    #[serde(default)]
    pub purpose: String,
    /// Whether setup may generate a random value for it.
    #[serde(default)]
    pub generated: bool,
    /// The kinds of instance that get it (`"sandbox"`, `"local_prod"`); both when
    /// empty. KTRDR's local-prod item has no FRED key.
    #[serde(default)]
    pub kinds: Vec<String>,
}

impl SecretField {
    pub fn for_kind(&self, local_prod: bool) -> bool {
        self.kinds.is_empty() || self.kinds.iter().any(|k| k == kind_key(local_prod))
    }
}

/// The name a kind of instance goes by in `kinfra.toml`.
pub fn kind_key(local_prod: bool) -> &'static str {
    if local_prod { "local_prod" } else { "sandbox" }
}

/// Where a secret given by reference (`[sandbox.secrets]`, `[local_prod.secrets]`)
/// comes from.
#[derive(Debug, Clone, PartialEq)]
pub enum SecretSource {
    /// A 1Password secret reference (`op://vault/item/field`), read with `op read`.
    OnePassword(String),
    /// A variable of the environment kinfra runs in (`$NAME`).
    Host(String),
    /// The value as written: for development-only values.
    Literal(String),
}

impl SecretSource {
    /// Pure: what a value in a `secrets` table means. `op://…` is a 1Password
    /// reference, `$NAME` a host variable, anything else the value itself.
    pub fn parse(value: &str) -> std::result::Result<SecretSource, String> {
        if let Some(rest) = value.strip_prefix("op://") {
            let parts: Vec<&str> = rest.split('/').collect();
            if !(3..=4).contains(&parts.len())
                || parts.iter().any(|p| p.trim().is_empty())
                || value.chars().any(char::is_control)
            {
                return Err(format!(
                    "{value:?} is not a 1Password secret reference: write op://vault/item/field (or op://vault/item/section/field)"
                ));
            }
            return Ok(SecretSource::OnePassword(value.to_string()));
        }
        if let Some(name) = value.strip_prefix('$') {
            crate::validate::env_name(name).map_err(|e| {
                format!(
                    "{value:?} names no host variable ({e}); write $NAME, or op://vault/item/field"
                )
            })?;
            return Ok(SecretSource::Host(name.to_string()));
        }
        Ok(SecretSource::Literal(value.to_string()))
    }
}

/// A secret given by reference: the variable compose gets, and where it comes from.
#[derive(Debug, Clone, PartialEq)]
pub struct SecretRef {
    pub var: String,
    pub source: SecretSource,
}

/// What differs between the two kinds of instance besides ports: literal
/// variables and secrets by reference.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct KindSettings {
    pub env: BTreeMap<String, String>,
    pub secrets: Vec<SecretRef>,
}

/// How to show a port to the person: a label and a template where `{port}` is the
/// port. A key ending in `_` stands for every key with that prefix (listed together).
#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Link {
    pub label: String,
    #[serde(rename = "port")]
    pub port_key: String,
    #[serde(rename = "url")]
    pub template: String,
}

/// A file copied into every new worktree (git does not carry untracked files, and
/// a tracked example often needs a local copy).
#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Carry {
    /// Relative to the repository: taken from the main clone, else from the new
    /// worktree's own checkout.
    pub from: String,
    /// Where it goes in the worktree; `from` when not given.
    #[serde(default)]
    pub to: Option<String>,
}

impl Carry {
    pub fn dest(&self) -> &str {
        self.to.as_deref().unwrap_or(&self.from)
    }
}

/// A stack started once for every instance (an observability stack on its external
/// network), from a compose file of the repository.
#[derive(Debug, Clone, PartialEq)]
pub struct SharedService {
    pub name: String,
    pub compose_file: String,
    /// Its compose project: one for the whole machine.
    pub project: String,
}

/// What a prepare step does before compose starts anything.
#[derive(Debug, Clone, PartialEq)]
pub enum PrepareAction {
    /// `docker build -t image -f dockerfile context` when the image is not there (an
    /// image the compose file uses without a build section).
    Image {
        image: String,
        dockerfile: String,
        context: String,
    },
    /// A command of the repository, run in the checkout: runs only once allowed
    /// (`kinfra stack allow`).
    Command(Vec<String>),
}

#[derive(Debug, Clone, PartialEq)]
pub struct Prepare {
    pub name: String,
    pub action: PrepareAction,
}

/// A service local-prod runs natively on the host (a GPU training host), beside its
/// containers: runs only once allowed (`kinfra stack allow`).
#[derive(Debug, Clone, PartialEq)]
pub struct HostService {
    pub name: String,
    pub command: Vec<String>,
    /// Relative to the clone.
    pub dir: String,
    pub env: BTreeMap<String, String>,
    pub port: u16,
    /// `GET http://127.0.0.1:<port><health>` answers 2xx when it is up.
    pub health: Option<String>,
    /// Relative to the clone.
    pub log: String,
}

/// The team's worktree conventions (`[workflow]`): `kinfra spec`, `impl`, `done`.
#[derive(Debug, Clone, PartialEq)]
pub struct Workflow {
    /// `kinfra spec FEATURE`: a worktree `<parent>/<spec_prefix><feature>`, no stack.
    pub spec_prefix: String,
    /// `kinfra impl F/M`: a sandbox whose worktree and id are `<impl_prefix><f>-<m>`.
    pub impl_prefix: String,
    /// Branch templates; `{feature}` and `{milestone}` are replaced.
    pub spec_branch: String,
    pub impl_branch: String,
    /// Where a milestone's plan lives: `<design_dir>/<f>/implementation/<M>_*.md`.
    pub design_dir: String,
}

/// Which named volumes hold the stack's data (`[data]`): what a snapshot copies and
/// a data branch starts from. Empty lists: every named volume of the project but
/// caches (inferred, and said).
#[derive(Debug, Clone, Default, PartialEq)]
pub struct DataSpec {
    /// Only these (compose's volume keys).
    pub volumes: Vec<String>,
    /// Never these.
    pub exclude: Vec<String>,
}

/// The whole description of a stack kinfra manages.
#[derive(Debug, Clone, PartialEq)]
pub struct Stack {
    pub name: String,
    /// The first compose file: the one read for text checks and named in messages.
    pub compose_file: String,
    /// Every compose file, in order (`compose_file` first); compose merges them.
    pub compose_files: Vec<String>,
    /// Compose profiles every instance runs with (local-prod adds its own).
    pub profiles: Vec<String>,
    /// Substring the `origin` URL must contain (case-insensitive), when set.
    pub repo_marker: Option<String>,
    pub worktree_prefix: String,
    pub local_prod_id: String,
    pub local_prod_profile: Option<String>,
    pub sandbox_item: String,
    pub local_prod_item: String,
    pub max_slot: u8,
    /// Host ports chosen by kinfra per instance (from compose's model, run through a
    /// resolved copy) instead of env variables the compose file reads.
    pub auto_ports: bool,
    /// Learned from the compose file alone: the repository carries no description.
    pub inferred: bool,
    pub ports: Vec<PortRule>,
    /// The port key shown as "API port" in lists.
    pub api_port_key: String,
    pub secret_fields: Vec<SecretField>,
    /// Literal variables every instance gets (`[env]`).
    pub env: BTreeMap<String, String>,
    /// `[sandbox.env]`, `[sandbox.secrets]`.
    pub sandbox: KindSettings,
    /// `[local_prod.env]`, `[local_prod.secrets]`.
    pub local_prod: KindSettings,
    pub gate: Vec<GateCheck>,
    pub post_start: Option<PostStart>,
    pub shared_subdirs: Vec<String>,
    /// The service `sandbox shell` opens by default.
    pub shell_service: Option<String>,
    /// Prefix of the variables naming the shared directories in `.env.sandbox`
    /// (`KTRDR` → `KTRDR_SHARED_DIR`, `KTRDR_DATA_DIR`, …).
    pub env_prefix: String,
    /// What `status`, `up` and the installer's summary show, in order.
    pub links: Vec<Link>,
    /// The machine budget's limits for this project (the environment's win).
    pub budget: Budget,
    /// Files copied into every new worktree.
    pub carry: Vec<Carry>,
    /// External volumes every instance shares (by name or key); any other external
    /// volume becomes each sandbox's own.
    pub shared_volumes: Vec<String>,
    /// External networks every instance joins on purpose (an observability stack's):
    /// `stack check` does not warn about them.
    pub shared_networks: Vec<String>,
    /// Which description this is, for people: the file it came from, or which
    /// built-in one (`stack check` and `create` say it).
    pub origin: String,
    pub shared: Vec<SharedService>,
    pub prepare: Vec<Prepare>,
    pub host: Vec<HostService>,
    /// Compiled into kinfra: its host commands need no `kinfra stack allow`.
    pub builtin: bool,
    pub workflow: Workflow,
    pub data: DataSpec,
    /// What a translated description (devops-ai's infra.toml) could not say.
    pub notes: Vec<String>,
}

/// `[budget]`: how many stacks may run at once, and how much memory they may use.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Budget {
    pub max_running: Option<usize>,
    pub memory: Option<u64>,
}

impl Stack {
    pub fn item_for(&self, local_prod: bool) -> &str {
        if local_prod {
            &self.local_prod_item
        } else {
            &self.sandbox_item
        }
    }

    /// A fingerprint of what the description says (not where it was read from):
    /// equal for equal descriptions, so a changed one is seen.
    pub fn fingerprint(&self) -> String {
        let mut c = self.clone();
        c.origin.clear();
        format!("{:08x}", crate::model::fnv1a(format!("{c:?}").as_bytes()))
    }

    /// What the registry records for an instance made with this description.
    pub fn described(&self) -> crate::registry::Described {
        crate::registry::Described {
            origin: self.origin.clone(),
            fingerprint: self.fingerprint(),
            keys: crate::envfile::kinfra_keys(self).into_iter().collect(),
        }
    }

    /// The item's fields a kind of instance reads.
    pub fn fields_for(&self, local_prod: bool) -> Vec<&SecretField> {
        self.secret_fields
            .iter()
            .filter(|f| f.for_kind(local_prod))
            .collect()
    }

    fn kind(&self, local_prod: bool) -> &KindSettings {
        if local_prod {
            &self.local_prod
        } else {
            &self.sandbox
        }
    }

    /// The literal variables of a kind of instance: `[env]`, then its own table.
    pub fn env_for(&self, local_prod: bool) -> BTreeMap<String, String> {
        let mut env = self.env.clone();
        env.extend(self.kind(local_prod).env.clone());
        env
    }

    /// The secrets by reference of a kind of instance.
    pub fn secret_refs_for(&self, local_prod: bool) -> &[SecretRef] {
        &self.kind(local_prod).secrets
    }

    /// Every variable holding a secret, for either kind (placeholders at `config`).
    pub fn secret_vars(&self) -> Vec<String> {
        let mut v: Vec<String> = self.secret_fields.iter().map(|f| f.var.clone()).collect();
        for k in [&self.sandbox, &self.local_prod] {
            v.extend(k.secrets.iter().map(|r| r.var.clone()));
        }
        v.sort();
        v.dedup();
        v
    }

    /// The images prepare steps build (`stack check` does not call them missing).
    pub fn prepared_images(&self) -> Vec<&str> {
        self.prepare
            .iter()
            .filter_map(|p| match &p.action {
                PrepareAction::Image { image, .. } => Some(image.as_str()),
                PrepareAction::Command(_) => None,
            })
            .collect()
    }

    /// Does a kind of instance have secrets to fetch or pass?
    pub fn has_secrets(&self, local_prod: bool) -> bool {
        !self.fields_for(local_prod).is_empty() || !self.secret_refs_for(local_prod).is_empty()
    }

    /// Parses and checks a description; `origin` names it in messages (a path, or
    /// "the built-in KTRDR description").
    pub fn parse(text: &str, origin: &str) -> Result<Stack> {
        let raw: file::Raw = toml::from_str(text).map_err(|e| Error::StackInvalid {
            origin: origin.to_string(),
            message: e.to_string().trim_end().to_string(),
        })?;
        let mut s = raw.into_stack().map_err(|message| Error::StackInvalid {
            origin: origin.to_string(),
            message,
        })?;
        s.origin = origin.to_string();
        Ok(s)
    }

    /// `kinfra.toml` in `dir`, when there is one.
    pub fn from_dir(dir: &Path) -> Result<Option<Stack>> {
        let path = dir.join(FILE_NAME);
        match std::fs::read_to_string(&path) {
            Ok(text) => Stack::parse(&text, &path.display().to_string()).map(Some),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(None),
            Err(e) => Err(Error::io("could not read", &path, e)),
        }
    }
}

impl Stack {
    /// A project that carries no description: everything comes from its compose file
    /// (`compose_file`) through compose's model; `name` names its instances.
    pub fn inferred(name: &str, compose_file: &str) -> Result<Stack> {
        let text = format!("name = {name:?}\ncompose_file = {compose_file:?}\n");
        let mut s = Stack::parse(&text, &format!("the compose file {compose_file}"))?;
        s.inferred = true;
        Ok(s)
    }
}

/// KTRDR's built-in description for M6-era trees (parsed once, on first use).
pub static KTRDR: LazyLock<Stack> = LazyLock::new(|| builtin("stacks/ktrdr.toml", KTRDR_M6));

/// KTRDR's built-in description for its tree as it is today (2c5c7173): secrets
/// under the names that compose file reads, agents' ports per instance, shared
/// observability.
pub static KTRDR_2026: LazyLock<Stack> =
    LazyLock::new(|| builtin("stacks/ktrdr-2026.toml", KTRDR_TODAY));

const KTRDR_M6: &str = "the built-in KTRDR description (M6 tree)";
const KTRDR_TODAY: &str = "the built-in KTRDR description (today's tree, 2c5c7173)";

fn builtin(file: &str, origin: &str) -> Stack {
    let text = crate::assets::text::<crate::assets::Scripts>(file);
    // The build embeds these files and unit tests parse them: a failure is a bug here.
    let mut s = Stack::parse(&text, origin).unwrap_or_else(|e| panic!("embedded {file}: {e}"));
    s.builtin = true;
    s
}

/// Pure: which built-in KTRDR description fits a KTRDR compose file: today's when
/// it reads the secrets under their newer names, else M6's.
pub fn ktrdr_for_compose(text: &str) -> &'static Stack {
    let vars = crate::compose::variables(text);
    if vars.contains("KTRDR_DB_PASSWORD") || vars.contains("KTRDR_AUTH_JWT_SECRET") {
        &KTRDR_2026
    } else {
        &KTRDR
    }
}

/// The built-in KTRDR description for the checkout at `top` (M6's when its compose
/// file cannot be read: `up` names the missing file then).
fn ktrdr_for(top: &Path) -> &'static Stack {
    match std::fs::read_to_string(top.join(KTRDR_COMPOSE_FILE)) {
        Ok(text) => ktrdr_for_compose(&text),
        Err(_) => &KTRDR,
    }
}

/// The stack for work in `cwd`, one rule for every command: the `kinfra.toml` of
/// the checkout holding `cwd`, else its main clone's (an untracked one there serves
/// every worktree), else KTRDR's built-in description for a KTRDR checkout (the one
/// that fits its compose file), else what its compose file says. A description that
/// does not parse is an error, never silently replaced.
pub fn for_dir(cwd: &Path, home: Option<&Path>) -> Result<&'static Stack> {
    let top = cwd
        .ancestors()
        .find(|d| d.join(".git").exists())
        .map(Path::to_path_buf);
    let Some(top) = top else { return Ok(&KTRDR) };
    // One description per process: leaking it gives it the process's lifetime, like
    // the built-in one.
    if let Some(s) = Stack::from_dir(&top)? {
        return Ok(Box::leak(Box::new(s)));
    }
    let main = main_clone(&top);
    if main != top
        && let Some(s) = Stack::from_dir(&main)?
    {
        return Ok(Box::leak(Box::new(s)));
    }
    for dir in [&top, &main] {
        if let Some(s) = from_infra_toml(dir)? {
            return Ok(Box::leak(Box::new(s)));
        }
    }
    if top.join(KTRDR_COMPOSE_FILE).is_file() {
        return Ok(ktrdr_for(&top));
    }
    if let Some(s) = infer(&top, home)? {
        return Ok(Box::leak(Box::new(s)));
    }
    Ok(&KTRDR)
}

/// devops-ai's `.devops-ai/infra.toml` in `dir`, translated, when there is one.
fn from_infra_toml(dir: &Path) -> Result<Option<Stack>> {
    let path = dir.join(crate::infra_toml::PATH);
    let text = match std::fs::read_to_string(&path) {
        Ok(t) => t,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(None),
        Err(e) => return Err(Error::io("could not read", &path, e)),
    };
    let origin = format!("{} (devops-ai's, read as kinfra's)", path.display());
    let (kinfra, notes) =
        crate::infra_toml::translate(&text).map_err(|message| Error::StackInvalid {
            origin: origin.clone(),
            message,
        })?;
    let mut s = Stack::parse(&kinfra, &origin)?;
    s.notes = notes;
    // The health check's service: the one publishing its port.
    if let Ok(text) = std::fs::read_to_string(dir.join(&s.compose_file)) {
        let facts = crate::stack_check::read(&text);
        for g in &mut s.gate {
            let crate::stack::Check::Http { port_key, .. } = &g.check else {
                continue;
            };
            if let Some(p) = facts
                .ports
                .iter()
                .find(|p| p.var.as_ref().is_some_and(|(v, _)| v == port_key))
            {
                g.service = p.service.clone();
            }
        }
    }
    Ok(Some(s))
}

/// The description of a checkout without `kinfra.toml`: none for a KTRDR clone (its
/// compose file is KTRDR's `compose_file`) or a directory without a compose file;
/// otherwise inferred from the first compose file compose itself would take, named
/// after the main clone's directory (a worktree's own name is the instance's).
pub fn infer(top: &Path, home: Option<&Path>) -> Result<Option<Stack>> {
    if top.join(KTRDR_COMPOSE_FILE).is_file() {
        return Ok(None);
    }
    // COMPOSE_FILE (environment or `.env`) names the files, as for compose itself.
    let named = compose_file_setting(top)?;
    let file = match named.first() {
        Some(f) => f.clone(),
        None => match crate::stack_check::COMPOSE_CANDIDATES
            .iter()
            .find(|f| top.join(f).is_file())
        {
            Some(f) => f.to_string(),
            None => return Ok(None),
        },
    };
    let file = file.as_str();
    let main = main_clone(top);
    // The repository's name (its origin's), else the clone's directory name: a
    // local-prod clone is often named `<project>-prod`.
    let name = origin_url(&main).map(|u| repo_name(&u)).unwrap_or_else(|| {
        main.file_name()
            .map(|n| n.to_string_lossy().into_owned())
            .unwrap_or_default()
    });
    // A name may hold what a compose project name cannot; the slug is the name then,
    // and a name with nothing usable falls back to "project".
    let name = crate::slug::slugify(&name).unwrap_or_else(|_| "project".into());
    // Two repositories of one name (`github.com/a/app`, `github.com/b/app`) must not
    // share instance names: the registry tells them apart.
    let name = match home {
        Some(h) => distinct_name(h, &name, &main),
        None => name,
    };
    let mut s = Stack::inferred(&name, file)?;
    if !named.is_empty() {
        // Named files replace discovery (no override file is added).
        s.compose_files = named;
        return Ok(Some(s));
    }
    // Like a plain `docker compose up`: the override file beside it joins in.
    let stem = file.rsplit_once('.').map_or(file, |(s, _)| s);
    for ext in ["yaml", "yml"] {
        let o = format!("{stem}.override.{ext}");
        if top.join(&o).is_file() {
            s.compose_files.push(o);
            break;
        }
    }
    Ok(Some(s))
}

/// The files `COMPOSE_FILE` names for a checkout (split on
/// `COMPOSE_PATH_SEPARATOR`, `:` by default), relative to it; empty when unset. A
/// file outside the repository is refused, naming the variable.
fn compose_file_setting(top: &Path) -> Result<Vec<String>> {
    let Some(v) = crate::compose::setting(top, "COMPOSE_FILE") else {
        return Ok(Vec::new());
    };
    let sep = crate::compose::setting(top, "COMPOSE_PATH_SEPARATOR").unwrap_or_else(|| ":".into());
    let mut files = Vec::new();
    for f in v
        .split(sep.as_str())
        .map(str::trim)
        .filter(|f| !f.is_empty())
    {
        let rel = Path::new(f)
            .strip_prefix(top)
            .map(|p| p.display().to_string())
            .unwrap_or_else(|_| f.trim_start_matches("./").to_string());
        crate::validate::repo_path(&rel).map_err(|message| Error::StackInvalid {
            origin: "COMPOSE_FILE".into(),
            message,
        })?;
        if !top.join(&rel).is_file() {
            return Err(Error::StackInvalid {
                origin: "COMPOSE_FILE".into(),
                message: format!("{rel} is not a file in {}", top.display()),
            });
        }
        files.push(rel);
    }
    Ok(files)
}

/// The project name for the clone `main`: the one its registered instances were
/// made under, when it has any (names stay stable); else `base`, unless instances
/// of another clone already go by it, then `base-<hash of this clone's path>`.
fn distinct_name(home: &Path, base: &str, main: &Path) -> String {
    let Ok(reg) = crate::registry::Registry::new(home).load() else {
        return base.to_string();
    };
    let clone_of = |e: &crate::registry::Entry| {
        PathBuf::from(e.parent_repo.clone().unwrap_or_else(|| e.path.clone()))
    };
    let entries: Vec<&crate::registry::Entry> = reg
        .local_prod
        .iter()
        .chain(reg.instances.values())
        .collect();
    let mine = entries.iter().find_map(|e| {
        crate::registry::same_path(&clone_of(e), main)
            .then(|| reg.kinfra.stacks.get(&e.instance_id).cloned())
            .flatten()
    });
    if let Some(name) = mine {
        return name;
    }
    let theirs = entries.iter().any(|e| {
        reg.kinfra
            .stacks
            .get(&e.instance_id)
            .is_some_and(|n| n == base)
            && !crate::registry::same_path(&clone_of(e), main)
    });
    if theirs {
        let h = crate::model::fnv1a(main.display().to_string().as_bytes());
        format!("{base}-{:04x}", h & 0xffff)
    } else {
        base.to_string()
    }
}

/// The repository's name from its URL or path (`https://…/acme/shop.git` → `shop`).
pub fn repo_name(url: &str) -> String {
    let last = url
        .trim()
        .trim_end_matches('/')
        .rsplit(['/', ':', '\\'])
        .next()
        .unwrap_or("");
    last.strip_suffix(".git").unwrap_or(last).to_string()
}

/// Pure: the `origin` remote's URL in the text of a `.git/config`.
fn origin_in_config(text: &str) -> Option<String> {
    let mut in_origin = false;
    for line in text.lines().map(str::trim) {
        if line.starts_with('[') {
            in_origin = line.replace(' ', "") == "[remote\"origin\"]";
        } else if in_origin
            && let Some((k, v)) = line.split_once('=')
            && k.trim() == "url"
        {
            return Some(v.trim().to_string());
        }
    }
    None
}

/// The `origin` URL of a clone, from its config file (no git process: every command
/// that infers a stack pays for this).
fn origin_url(clone: &Path) -> Option<String> {
    let text = std::fs::read_to_string(clone.join(".git").join("config")).ok()?;
    origin_in_config(&text)
}

/// KTRDR's compose file name: its presence marks a KTRDR checkout.
const KTRDR_COMPOSE_FILE: &str = "docker-compose.sandbox.yml";

/// The main clone of a checkout: itself, or for a worktree (whose `.git` is a file
/// `gitdir: <clone>/.git/worktrees/<name>`) the clone that holds it.
pub fn main_clone(top: &Path) -> PathBuf {
    let git = top.join(".git");
    if git.is_file()
        && let Ok(text) = std::fs::read_to_string(&git)
        && let Some(dir) = text.trim().strip_prefix("gitdir:")
    {
        // Absolute as git writes it; relative under worktree.useRelativePaths.
        let dir = top.join(dir.trim());
        if let Some(clone) = dir
            .ancestors()
            .find(|a| a.file_name().is_some_and(|n| n == ".git"))
            .and_then(Path::parent)
        {
            return clone.to_path_buf();
        }
    }
    top.to_path_buf()
}

/// The file format, as written; checked and turned into a [`Stack`].
mod file {
    use super::*;
    use crate::validate::{
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
                crate::validate::volume_key(v)
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
            if !t.contains("{feature}") || t.starts_with('-') || t.contains("..") || t.contains(' ')
            {
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
                if crate::validate::steers_processes(&k.0) && k.0 != "PYTHONPATH" {
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
        for k in crate::envfile::OWN_KEYS {
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
            let k = crate::envfile::shared_dir_key(env_prefix, d);
            made.push((k, format!("shared_dirs entry {d:?}")));
        }
        for f in secrets {
            made.push((f.var.clone(), format!("the secret of field {:?}", f.field)));
        }
        made.extend(extra);
        for (k, what) in made {
            if crate::validate::steers_processes(&k) {
                return Err(format!(
                    "{what} makes the variable {k}, which steers the processes kinfra runs (docker, compose, git): choose another name"
                ));
            }
            if auto_ports
                && k.starts_with(crate::model::PORT_PREFIX)
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
            let fields: Vec<SecretField> =
                secrets.iter().filter(|f| f.for_kind(lp)).cloned().collect();
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
            let slug = crate::slug::slugify(&self.name)
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
                    || (auto_ports && k.starts_with(crate::model::PORT_PREFIX))
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
                            if crate::assets::Scripts::get(e).is_none() {
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
                if crate::validate::env_name(&p).is_ok() {
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
                        Some(m) => Some(crate::budget::parse_bytes(&m).ok_or_else(|| {
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
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_built_in_ktrdr_description_parses_and_is_what_m6_was() {
        let s = &*KTRDR;
        assert_eq!(s.name, "KTRDR");
        assert_eq!(s.compose_file, "docker-compose.sandbox.yml");
        assert_eq!(s.repo_marker.as_deref(), Some("ktrdr"));
        assert_eq!(s.worktree_prefix, "ktrdr--");
        assert_eq!(s.local_prod_id, "ktrdr-prod");
        assert_eq!(s.local_prod_profile.as_deref(), Some("local-prod"));
        assert_eq!(
            (s.sandbox_item.as_str(), s.local_prod_item.as_str()),
            ("ktrdr-sandbox-dev", "ktrdr-local-prod")
        );
        assert_eq!(s.max_slot, 10);
        assert_eq!(s.ports.len(), 15);
        assert_eq!(
            s.ports[7],
            PortRule {
                key: "KTRDR_WORKER_PORT_1".into(),
                slot0: 5003,
                sandbox: Some((5001, 10)),
                fixed: false,
            }
        );
        assert_eq!(s.ports[14].sandbox, None);
        assert_eq!(s.gate.len(), 4);
        assert_eq!(s.gate[2].requires.as_deref(), Some("backend"));
        assert_eq!(
            s.gate[2].check,
            Check::JsonLength {
                port_key: "KTRDR_API_PORT".into(),
                path: "/api/v1/workers".into(),
                pointer: "/workers".into(),
                min: 4
            }
        );
        assert_eq!(
            s.gate[3].check,
            Check::Http {
                port_key: "KTRDR_JAEGER_UI_PORT".into(),
                path: "/".into(),
                ok: vec![200, 302]
            }
        );
        assert_eq!(
            s.post_start.as_ref().unwrap().script,
            Script::Embedded("post-start/migrate.sh".into())
        );
        assert_eq!(s.secret_fields.iter().filter(|f| f.generated).count(), 3);
        assert_eq!(s.shared_subdirs, ["data", "models", "strategies"]);
        assert_eq!(s.env_prefix, "KTRDR");
        assert_eq!(s.shell_service.as_deref(), Some("backend"));
        assert_eq!(s.links.len(), 6);
    }

    #[test]
    fn a_minimal_description_gets_defaults_from_its_name() {
        let s = Stack::parse(
            "name = \"Shop\"\ncompose_file = \"compose.yaml\"\n[[ports]]\nkey = \"WEB_PORT\"\nlocal_prod = 8080\nbase = 8080\n",
            "t",
        )
        .unwrap();
        assert_eq!(s.worktree_prefix, "shop--");
        assert_eq!(s.local_prod_id, "shop-prod");
        assert_eq!(s.local_prod_item, "shop-local-prod");
        assert_eq!(s.api_port_key, "WEB_PORT");
        assert_eq!(s.env_prefix, "SHOP");
        assert_eq!(s.ports[0].sandbox, Some((8080, 1)));
        assert_eq!(s.repo_marker, None);
        assert!(s.gate.is_empty() && s.post_start.is_none());
        assert_eq!(s.budget, Budget::default());
        let b = Stack::parse(
            "name = \"x\"\ncompose_file = \"c.yml\"\n[budget]\nmax_running = 3\nmemory = \"6G\"\n",
            "t",
        )
        .unwrap();
        assert_eq!(
            b.budget,
            Budget {
                max_running: Some(3),
                memory: Some(6 << 30)
            }
        );
        let e = Stack::parse(
            "name = \"x\"\ncompose_file = \"c.yml\"\n[budget]\nmemory = \"lots\"\n",
            "t",
        )
        .unwrap_err();
        assert!(e.to_string().contains("budget.memory"), "{e}");
    }

    #[test]
    fn values_that_would_become_something_else_are_refused_naming_the_line() {
        let base = "name = \"x\"\ncompose_file = \"c.yml\"\n";
        let cases: &[(&str, &str)] = &[
            ("[[ports]]\nkey = \"A=B\"\nlocal_prod = 1\n", "line 4"),
            (
                "[[ports]]\nkey = \"X\\nSLOT_NUMBER=9\"\nlocal_prod = 1\n",
                "line 4",
            ),
            (
                "[[ports]]\nkey = \"$(touch x)\"\nlocal_prod = 1\n",
                "line 4",
            ),
            ("[[ports]]\nkey = \"\"\nlocal_prod = 1\n", "line 4"),
            (
                "[[ports]]\nkey = \"P\"\nlocal_prod = 1\n[[ports]]\nkey = \"P\"\nlocal_prod = 2\n",
                "already taken by port key P",
            ),
            (
                "[[ports]]\nkey = \"DOCKER_HOST\"\nlocal_prod = 1\n",
                "steers",
            ),
            (
                "[[ports]]\nkey = \"SLOT_NUMBER\"\nlocal_prod = 1\n",
                "kinfra's own key",
            ),
            ("env_prefix = \"a b\"\n", "line 3"),
            ("env_prefix = \"DOCKER\"\n", "steers"),
            ("worktree_prefix = \"../../x-\"\n", "line 3"),
            ("worktree_prefix = \"/tmp/x-\"\n", "line 3"),
            ("shared_dirs = [\"../../etc\"]\n", "line 3"),
            ("shared_dirs = [\"/abs\"]\n", "line 3"),
            ("shared_dirs = [\"a-b\", \"a.b\"]\n", "already taken"),
            ("profiles = [\"\"]\n", "line 3"),
            ("profiles = [\"--all\"]\n", "line 3"),
            ("[local_prod]\nproject = \"Prod Name\"\n", "line 4"),
            ("[local_prod]\nprofile = \"-x\"\n", "line 4"),
            ("[sandbox]\nitem = \"--vault=x\"\n", "line 4"),
            (
                "[[secrets]]\nfield = \"f\"\nvar = \"LD_PRELOAD\"\n",
                "line 5",
            ),
            (
                "[[secrets]]\nfield = \"f\"\nvar = \"DOCKER_HOST\"\n",
                "steers",
            ),
            ("[[secrets]]\nfield = \"f\"\nvar = \"PATH\"\n", "steers"),
            (
                "[[secrets]]\nfield = \"f\"\nvar = \"COMPOSE_FILE\"\n",
                "steers",
            ),
            (
                "[[secrets]]\nfield = \"a\"\nvar = \"S\"\n[[secrets]]\nfield = \"b\"\nvar = \"S\"\n",
                "already taken",
            ),
            (
                "[[secrets]]\nfield = \"a\"\nvar = \"PORT_WEB_80\"\n",
                "PORT_",
            ),
            (
                "[[ports]]\nkey = \"P\"\nlocal_prod = 1\n[[gate]]\nname = \"g\"\nservice = \"s\"\nhttp = { port = \"P\", path = \"@127.0.0.1:9999/x\" }\n",
                "line 9",
            ),
            (
                "[[ports]]\nkey = \"P\"\nlocal_prod = 1\n[[gate]]\nname = \"g\"\nservice = \"s\"\njson_length = { port = \"P\", path = \"/w\", pointer = \"workers\", min = 1 }\n",
                "JSON pointer",
            ),
        ];
        for (extra, says) in cases {
            let text = format!("{base}{extra}");
            let e = Stack::parse(&text, "kinfra.toml")
                .err()
                .map(|e| e.to_string())
                .unwrap_or_else(|| panic!("accepted: {text}"));
            assert!(
                e.contains("kinfra.toml") && e.contains(says),
                "{text}\n=> {e}"
            );
        }
    }

    #[test]
    fn compose_file_in_dotenv_names_the_files_with_its_separator() {
        let d = tempfile::tempdir().unwrap();
        let top = d.path();
        std::fs::create_dir_all(top.join(".git")).unwrap();
        std::fs::write(top.join("base.yml"), "services: {}\n").unwrap();
        std::fs::write(top.join("more.yml"), "services: {}\n").unwrap();
        std::fs::write(
            top.join(".env"),
            "COMPOSE_FILE=base.yml;./more.yml\nCOMPOSE_PATH_SEPARATOR=;\n",
        )
        .unwrap();
        let s = infer(top, None).unwrap().unwrap();
        assert_eq!(s.compose_files, ["base.yml", "more.yml"]);
        std::fs::write(top.join(".env"), "COMPOSE_FILE=../outside.yml\n").unwrap();
        let e = infer(top, None).unwrap_err().to_string();
        assert!(
            e.contains("COMPOSE_FILE") && e.contains("inside the repository"),
            "{e}"
        );
        std::fs::write(top.join(".env"), "COMPOSE_FILE=missing.yml\n").unwrap();
        assert!(infer(top, None).is_err());
    }

    #[test]
    fn an_inferred_project_is_named_after_its_origin() {
        let cfg = "[core]\n\tbare = false\n[remote \"upstream\"]\n\turl = https://x/other.git\n[remote \"origin\"]\n\turl = https://github.com/acme/Shop.git\n\tfetch = +refs/heads/*:refs/remotes/origin/*\n";
        assert_eq!(
            origin_in_config(cfg).as_deref(),
            Some("https://github.com/acme/Shop.git")
        );
        assert_eq!(origin_in_config("[core]\n"), None);
        assert_eq!(repo_name("https://github.com/acme/Shop.git"), "Shop");
        assert_eq!(repo_name("git@github.com:acme/shop.git/"), "shop");
        assert_eq!(repo_name("/srv/git/depot"), "depot");
    }

    #[test]
    fn unknown_keys_and_bad_references_are_errors_naming_the_place() {
        let e = Stack::parse(
            "name = \"x\"\ncompose_file = \"c.yml\"\ncompose_filez = []\n",
            "kinfra.toml",
        )
        .unwrap_err()
        .to_string();
        assert!(
            e.contains("kinfra.toml") && e.contains("line 3") && e.contains("compose_filez"),
            "{e}"
        );
        let e = Stack::parse(
            "name = \"x\"\ncompose_file = \"c.yml\"\n[[gate]]\nname = \"web\"\nservice = \"web\"\ntcp = { port = \"NOPE\" }\n",
            "kinfra.toml",
        )
        .unwrap_err()
        .to_string();
        assert!(e.contains("NOPE") && e.contains("[[ports]]"), "{e}");
        let e = Stack::parse(
            "name = \"x\"\ncompose_file = \"c.yml\"\n[[ports]]\nkey = \"P\"\nlocal_prod = 1\n[[gate]]\nname = \"a\"\nservice = \"s\"\n",
            "kinfra.toml",
        )
        .unwrap_err()
        .to_string();
        assert!(e.contains("exactly one of tcp, http, json_length"), "{e}");
        let e = Stack::parse(
            "name = \"x\"\ncompose_file = \"c.yml\"\n[post_start]\nname = \"m\"\nservice = \"s\"\nscript = \"../outside.sh\"\n",
            "kinfra.toml",
        )
        .unwrap_err()
        .to_string();
        assert!(e.contains("inside the repository"), "{e}");
        let e = Stack::parse(
            "name = \"x\"\ncompose_file = \"c.yml\"\n[[ports]]\nkey = \"P\"\nlocal_prod = 1\nbase = 65000\nstep = 100\n",
            "kinfra.toml",
        )
        .unwrap_err()
        .to_string();
        assert!(e.contains("passes 65535"), "{e}");
        let e = Stack::parse(
            "name = \"x\"\ncompose_file = \"c.yml\"\nport_scheme = \"magic\"\n",
            "kinfra.toml",
        )
        .unwrap_err()
        .to_string();
        assert!(
            e.contains("port_scheme \"magic\"") && e.contains("auto"),
            "{e}"
        );
        let e = Stack::parse(
            "name = \"x\"\ncompose_file = [\"c.yml\", \"../up.yml\"]\n",
            "kinfra.toml",
        )
        .unwrap_err()
        .to_string();
        assert!(e.contains("inside the repository"), "{e}");
    }
}

#[cfg(test)]
mod kinds_and_builtins {
    use super::*;

    const TODAY: &str = include_str!("../tests/fixtures/ktrdr-2c5c7173/docker-compose.sandbox.yml");

    fn parse(extra: &str) -> std::result::Result<Stack, String> {
        Stack::parse(
            &format!("name = \"shop\"\ncompose_file = \"compose.yml\"\n{extra}"),
            "t",
        )
        .map_err(|e| format!("{e:?}"))
    }

    #[test]
    fn the_compose_file_in_hand_chooses_the_ktrdr_description() {
        assert_eq!(ktrdr_for_compose(TODAY).origin, KTRDR_TODAY);
        let m6 = crate::assets::text::<crate::assets::Stacks>("demo/docker-compose.sandbox.yml");
        assert_eq!(ktrdr_for_compose(&m6).origin, KTRDR_M6);
        // Both go by one name: their instances are one project's.
        assert_eq!(KTRDR.name, KTRDR_2026.name);
    }

    #[test]
    fn todays_description_maps_what_todays_compose_file_reads() {
        let s = &*KTRDR_2026;
        let read = crate::compose::variables(TODAY);
        for f in &s.secret_fields {
            assert!(read.contains(f.var.as_str()), "{} not read", f.var);
        }
        let lp: Vec<&str> = s
            .fields_for(true)
            .iter()
            .map(|f| f.field.as_str())
            .collect();
        assert_eq!(lp, ["db_password", "jwt_secret", "anthropic_api_key"]);
        assert_eq!(s.fields_for(false).len(), 4);
        assert_eq!(s.env_for(false)["KTRDR_ENV"], "development");
        assert_eq!(s.env_for(true)["KTRDR_ENV"], "production");
        // Every host port the compose file publishes comes from a key of it.
        for p in crate::stack_check::read(TODAY).ports {
            let (var, _) = p.var.expect("a variable");
            assert!(
                s.ports.iter().any(|r| r.key == var && !r.fixed),
                "{var} is not an instance port"
            );
        }
    }

    #[test]
    fn todays_ports_never_meet_across_slots_and_shared_ports_are_everyones() {
        let s = &*KTRDR_2026;
        let mut seen = BTreeMap::new();
        for slot in 0..=s.max_slot {
            for (k, p) in crate::ports::own_for_slot(s, slot) {
                if let Some(first) = seen.insert(p, (slot, k)) {
                    panic!("port {p}: slot {slot} {k} and slot {} {}", first.0, first.1);
                }
            }
        }
        assert!(seen.contains_key(&5010) && seen.contains_key(&5020));
        assert_eq!(
            crate::ports::for_slot(s, 3)
                .into_iter()
                .find(|(k, _)| *k == "KTRDR_JAEGER_UI_PORT"),
            Some(("KTRDR_JAEGER_UI_PORT", 46686))
        );
        assert!(crate::ports::is_fixed(s, "KTRDR_GRAFANA_PORT"));
    }

    #[test]
    fn fixed_ports_are_a_kind_not_a_step_of_zero() {
        let s = parse("[[ports]]\nkey = \"OBS_PORT\"\nfixed = 46686\n").unwrap();
        assert_eq!(crate::ports::for_slot(&s, 0), [("OBS_PORT", 46686)]);
        assert_eq!(crate::ports::for_slot(&s, 7), [("OBS_PORT", 46686)]);
        assert!(crate::ports::own_for_slot(&s, 7).is_empty());
        let e = parse("[[ports]]\nkey = \"A\"\nlocal_prod = 1\nbase = 9\nstep = 0\n").unwrap_err();
        assert!(e.contains("fixed = 1"), "{e}");
        let e = parse("[[ports]]\nkey = \"A\"\nfixed = 1\nbase = 9\n").unwrap_err();
        assert!(e.contains("takes no local_prod"), "{e}");
        let e = parse("[[ports]]\nkey = \"A\"\n").unwrap_err();
        assert!(e.contains("needs `local_prod`"), "{e}");
    }

    #[test]
    fn env_and_secrets_per_kind() {
        let s = parse(
            "[env]\nAPP_NAME = \"shop\"\n[sandbox.env]\nAPP_ENV = \"sandbox\"\n[local_prod.env]\nAPP_ENV = \"production\"\n\
             [sandbox.secrets]\nAPI_KEY = \"op://dev-vault/shop/api-key\"\nTOKEN = \"$SHOP_TOKEN\"\nDEV_PW = \"dev-only\"\n\
             [local_prod.secrets]\nAPI_KEY = \"op://prod/shop/section/api-key\"\n\
             [[secrets]]\nfield = \"fred\"\nvar = \"FRED\"\nkinds = [\"sandbox\"]\n",
        )
        .unwrap();
        assert_eq!(s.env_for(false)["APP_ENV"], "sandbox");
        assert_eq!(s.env_for(true)["APP_ENV"], "production");
        assert_eq!(s.env_for(true)["APP_NAME"], "shop");
        let sb = s.secret_refs_for(false);
        assert!(sb.contains(&SecretRef {
            var: "TOKEN".into(),
            source: SecretSource::Host("SHOP_TOKEN".into())
        }));
        assert!(sb.contains(&SecretRef {
            var: "DEV_PW".into(),
            source: SecretSource::Literal("dev-only".into())
        }));
        assert_eq!(
            s.secret_refs_for(true)[0].source,
            SecretSource::OnePassword("op://prod/shop/section/api-key".into())
        );
        assert_eq!(s.fields_for(false).len(), 1);
        assert!(s.fields_for(true).is_empty());
        assert!(s.has_secrets(true) && s.has_secrets(false));
        assert_eq!(s.secret_vars(), ["API_KEY", "DEV_PW", "FRED", "TOKEN"]);
    }

    #[test]
    fn bad_kind_settings_are_refused_with_what_to_do() {
        for (text, says) in [
            ("[sandbox.env]\nPATH = \"/evil\"\n", "steers"),
            ("[env]\nLD_PRELOAD = \"x.so\"\n", "steers"),
            ("[env]\nSLOT_NUMBER = \"3\"\n", "kinfra's own key"),
            (
                "[env]\nA = \"1\"\n[sandbox.env]\nA = \"2\"\n",
                "each variable once",
            ),
            (
                "[sandbox.env]\nA = \"1\"\n[sandbox.secrets]\nA = \"x\"\n",
                "each variable once",
            ),
            (
                "[local_prod.secrets]\nA = \"op://only-two/parts\"\n",
                "not a 1Password secret reference",
            ),
            (
                "[sandbox.secrets]\nA = \"$not a name\"\n",
                "names no host variable",
            ),
            ("[sandbox.secrets]\nDOCKER_HOST = \"$X\"\n", "steers"),
            ("[env]\n\"bad-name\" = \"1\"\n", "bad-name"),
            (
                "[[secrets]]\nfield = \"f\"\nvar = \"V\"\nkinds = [\"prod\"]\n",
                "is not \\\"sandbox\\\"",
            ),
        ] {
            let e = parse(text).expect_err(text);
            assert!(e.contains(says), "{text}: {e}");
        }
        // The same variable may differ between the kinds.
        parse("[sandbox.secrets]\nA = \"x\"\n[local_prod.secrets]\nA = \"op://v/i/f\"\n").unwrap();
    }

    #[test]
    fn a_secret_reference_is_parsed_as_data() {
        assert_eq!(
            SecretSource::parse("op://v/i/f"),
            Ok(SecretSource::OnePassword("op://v/i/f".into()))
        );
        assert!(SecretSource::parse("op://v//f").is_err());
        assert!(SecretSource::parse("op://v/i/f\n--account=x").is_err());
        assert_eq!(
            SecretSource::parse("$HOME_TOKEN"),
            Ok(SecretSource::Host("HOME_TOKEN".into()))
        );
        assert_eq!(
            SecretSource::parse("plain"),
            Ok(SecretSource::Literal("plain".into()))
        );
    }
}
