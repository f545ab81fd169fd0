//! A stack's description, as data: compose file, ports table, env keys, profile,
//! 1Password items and field mapping, gate checks, post-start step, links. It is read
//! from `kinfra.toml` at the repository's root, or is KTRDR's built-in description
//! (`embedded/stacks/ktrdr.toml`) for a KTRDR clone that carries none. The rest of
//! kinfra reads its decisions from here. Unknown keys are errors naming their line;
//! every key is documented in `docs/STACKS.md`.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use serde::Deserialize;

use crate::stack::error::{Result, StackError};

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
    /// Host paths outside the repository each sandbox gets its own empty directory
    /// for (`[isolate] host_paths`), as written (`~/…` or absolute).
    pub host_paths: Vec<String>,
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
    /// `[router]`: whether `up` starts the router, and this project's idle stop.
    pub router: RouterSettings,
    /// What a translated description (devops-ai's infra.toml) could not say.
    pub notes: Vec<String>,
}

/// `[router]` of a description: how the router treats this project's instances.
/// Not part of the fingerprint: it changes nothing an instance is made of.
#[derive(Debug, Clone, PartialEq)]
pub struct RouterSettings {
    /// `auto_start = false`: `sandbox up` and `local-prod up` do not start the
    /// router (as `KINFRA_ROUTER=off`; either one says no).
    pub auto_start: bool,
    /// `idle_stop = "30m"` or `"off"`: wins over `KINFRA_IDLE_STOP` (the machine's
    /// default) for this project's sandboxes.
    pub idle_stop: Option<IdleStop>,
}

impl Default for RouterSettings {
    fn default() -> RouterSettings {
        RouterSettings {
            auto_start: true,
            idle_stop: None,
        }
    }
}

/// The longest idle stop a description may ask for: beyond a year it is a
/// mistake (a unit left out, digits run together), not a wish.
pub const MAX_IDLE_STOP: std::time::Duration = std::time::Duration::from_secs(365 * 86400);

/// `idle_stop`: never (`"off"`, over a machine-wide `KINFRA_IDLE_STOP`), or after
/// this long without traffic through the router and without a kinfra command.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(try_from = "String")]
pub enum IdleStop {
    Off,
    After(std::time::Duration),
}

impl TryFrom<String> for IdleStop {
    type Error = String;
    fn try_from(s: String) -> std::result::Result<IdleStop, String> {
        if s.trim() == "off" {
            return Ok(IdleStop::Off);
        }
        let shown: String = s.chars().take(40).collect();
        match crate::support::units::parse_duration(&s) {
            Some(d) if d <= MAX_IDLE_STOP => Ok(IdleStop::After(d)),
            Some(_) => Err(format!(
                "idle_stop {shown:?} is over a year: write a shorter time (\"30m\", \"2h\", \"7d\"), or \"off\""
            )),
            None => Err(format!(
                "idle_stop {shown:?} is not a duration: a whole number above 0 with s, m, h or d (\"90s\", \"30m\", \"2h\", \"1d\"), or \"off\""
            )),
        }
    }
}

impl IdleStop {
    /// How long, when it stops at all.
    pub fn after(self) -> Option<std::time::Duration> {
        match self {
            IdleStop::Off => None,
            IdleStop::After(d) => Some(d),
        }
    }
}

/// `[budget]`: how many stacks may run at once, and how much memory they may use.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Budget {
    pub max_running: Option<usize>,
    pub memory: Option<u64>,
}

impl Stack {
    /// The instance's own compose files: kinfra runs what the repository carries (a
    /// copy compiled into kinfra would drift from it), so a missing one is an error.
    pub fn compose_files_in(&self, dir: &Path) -> Result<Vec<PathBuf>> {
        self.compose_files
            .iter()
            .map(|f| {
                let own = dir.join(f);
                if own.is_file() {
                    // Links followed: a tracked symlink must not bring in a file from
                    // outside the checkout.
                    crate::support::fsutil::resolve_inside(dir, Path::new(f)).map_err(|why| {
                        StackError::ComposeFileOutside {
                            file: f.clone(),
                            why,
                        }
                    })?;
                    Ok(own)
                } else {
                    Err(StackError::ComposeFileMissing {
                        dir: dir.to_path_buf(),
                        file: f.clone(),
                    })
                }
            })
            .collect()
    }

    /// The text of every compose file of an instance, one after the other (for the
    /// text checks: the variables it reads, its ports).
    pub fn compose_text_in(&self, dir: &Path) -> Result<String> {
        compose_text(&self.compose_files_in(dir)?)
    }

    /// Every key kinfra itself writes for `stack`: its own, the shared directories'
    /// and the description's port keys (not the chosen `PORT_…` ones of the auto
    /// scheme, which follow the compose file).
    pub fn kinfra_keys(&self) -> std::collections::BTreeSet<String> {
        let mut s: std::collections::BTreeSet<String> = crate::state::envfile::OWN_KEYS
            .iter()
            .map(|k| k.to_string())
            .collect();
        s.extend(self.ports.iter().map(|p| p.key.clone()));
        s.insert(format!("{}_SHARED_DIR", self.env_prefix));
        for sub in &self.shared_subdirs {
            s.insert(crate::state::envfile::shared_dir_key(&self.env_prefix, sub));
        }
        for kind in Kind::ALL {
            s.extend(self.env_for(kind).into_keys());
        }
        s
    }

    /// The 1Password item a kind of instance reads its fields from.
    pub fn item_for(&self, kind: Kind) -> &str {
        match kind {
            Kind::LocalProd => &self.local_prod_item,
            Kind::Sandbox => &self.sandbox_item,
        }
    }

    /// The compose profiles an instance of a kind runs with: the stack's, and
    /// local-prod's own.
    pub fn profiles_for(&self, kind: Kind) -> Vec<String> {
        let mut p = self.profiles.clone();
        if kind == Kind::LocalProd
            && let Some(lp) = &self.local_prod_profile
            && !p.contains(lp)
        {
            p.push(lp.clone());
        }
        p
    }

    /// A fingerprint of what the description says (not where it was read from):
    /// equal for equal descriptions, so a changed one is seen.
    pub fn fingerprint(&self) -> String {
        let mut c = self.clone();
        c.origin.clear();
        c.router = RouterSettings::default();
        format!(
            "{:08x}",
            crate::support::units::fnv1a(format!("{c:?}").as_bytes())
        )
    }

    /// What the registry records for an instance made with this description.
    pub fn described(&self) -> crate::state::registry::Described {
        crate::state::registry::Described {
            origin: self.origin.clone(),
            fingerprint: self.fingerprint(),
            keys: self.kinfra_keys().into_iter().collect(),
        }
    }

    /// The item's fields a kind of instance reads.
    pub fn fields_for(&self, kind: Kind) -> Vec<&SecretField> {
        self.secret_fields
            .iter()
            .filter(|f| f.for_kind(kind))
            .collect()
    }

    fn settings(&self, kind: Kind) -> &KindSettings {
        match kind {
            Kind::LocalProd => &self.local_prod,
            Kind::Sandbox => &self.sandbox,
        }
    }

    /// The one check that every gate check's port is one of `keys`, the port keys
    /// an instance has (under the auto scheme, the ones its compose model
    /// publishes): `create`, `stack check` and `up` all call it.
    pub fn gate_ports_in(&self, keys: &[&str]) -> std::result::Result<(), String> {
        for g in &self.gate {
            let (Check::Tcp { port_key }
            | Check::Http { port_key, .. }
            | Check::JsonLength { port_key, .. }) = &g.check;
            if !keys.contains(&port_key.as_str()) {
                return Err(format!(
                    "{}: gate check {:?} names port {port_key}, which the compose model does not publish (its port keys: {})",
                    self.origin,
                    g.name,
                    if keys.is_empty() {
                        "none".to_string()
                    } else {
                        keys.join(", ")
                    }
                ));
            }
        }
        Ok(())
    }

    /// The literal variables of a kind of instance: `[env]`, then its own table.
    pub fn env_for(&self, kind: Kind) -> BTreeMap<String, String> {
        let mut env = self.env.clone();
        env.extend(self.settings(kind).env.clone());
        env
    }

    /// The secrets by reference of a kind of instance.
    pub fn secret_refs_for(&self, kind: Kind) -> &[SecretRef] {
        &self.settings(kind).secrets
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
    pub fn has_secrets(&self, kind: Kind) -> bool {
        !self.fields_for(kind).is_empty() || !self.secret_refs_for(kind).is_empty()
    }

    /// Parses and checks a description; `origin` names it in messages (a path, or
    /// "the built-in KTRDR description").
    pub fn parse(text: &str, origin: &str) -> Result<Stack> {
        let raw: file::Raw = toml::from_str(text).map_err(|e| StackError::StackInvalid {
            origin: origin.to_string(),
            message: e.to_string().trim_end().to_string(),
        })?;
        let mut s = raw
            .into_stack()
            .map_err(|message| StackError::StackInvalid {
                origin: origin.to_string(),
                message,
            })?;
        s.origin = origin.to_string();
        Ok(s)
    }

    /// `kinfra.toml` in `dir`, when there is one.
    pub fn from_dir(dir: &Path) -> Result<Option<Stack>> {
        let path = dir.join(FILE_NAME);
        let Some(text) = read_description(dir, Path::new(FILE_NAME))? else {
            return Ok(None);
        };
        let s = Stack::parse(&text, &path.display().to_string())?;
        host_paths::check_here(&s, dir)?;
        Ok(Some(s))
    }
}

/// The largest description file kinfra reads (KTRDR's is about 4 KiB).
pub const MAX_DESCRIPTION: u64 = 1024 * 1024;

/// The text of the description file `rel` of the checkout `dir` (`None`: there is
/// none). The file is the repository's, so anyone's to write, and it is read by
/// commands run elsewhere (`sandbox status NAME`, the router, `list`): a link
/// is followed only inside the checkout (a parse error quotes the text: a link
/// to `~/.aws/credentials` would print it), and only a bounded regular file is
/// read (a link to `/dev/zero` grew kinfra, or the router, until memory ran out; a
/// FIFO blocked it for good).
pub fn read_description(dir: &Path, rel: &Path) -> Result<Option<String>> {
    let path = dir.join(rel);
    let refused = |why: String| StackError::DescriptionRefused {
        path: path.clone(),
        why,
    };
    if std::fs::symlink_metadata(&path).is_err() {
        return Ok(None);
    }
    let real = crate::support::fsutil::resolve_inside(dir, rel).map_err(refused)?;
    use crate::support::fsutil::BoundedReadError as B;
    match crate::support::fsutil::read_bounded(&real, MAX_DESCRIPTION) {
        Ok(bytes) => String::from_utf8(bytes)
            .map(Some)
            .map_err(|_| refused("it is not UTF-8 text".into())),
        Err(B::NotFound) => Ok(None),
        Err(B::Io(e)) => Err(StackError::io("could not read", &path, e)),
        Err(e) => Err(refused(e.to_string())),
    }
}

/// The text of compose files, one after the other (for the text checks: the
/// variables they read, their ports).
pub fn compose_text(files: &[PathBuf]) -> Result<String> {
    let mut text = String::new();
    for f in files {
        text.push_str(
            &std::fs::read_to_string(f)
                .map_err(|e| StackError::io("could not read the compose file", f, e))?,
        );
        text.push('\n');
    }
    Ok(text)
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

mod builtin;
pub mod check;
pub mod compat;
pub mod error;
mod file;
mod host_paths;
pub mod infra_toml;
mod lookup;
pub mod ports;
pub mod referenced;

pub use crate::state::kind::Kind;
pub use crate::tools::secrets::{SecretField, SecretRef, SecretSource};
pub use builtin::{KTRDR, KTRDR_2026, carried_by, ktrdr_for_compose};
pub use host_paths::{expand as expand_host_path, host_path_refusal, host_path_syntax};
pub use lookup::{for_dir, infer, repo_name};

#[cfg(test)]
mod tests;
