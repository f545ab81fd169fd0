//! The instance registry `$KINFRA_HOME/sandbox/instances.json`, in the exact schema
//! the Python tool reads. Every read-modify-write holds an exclusive lock on a
//! side file and replaces the registry atomically (temp file, fsync, rename).
//! A file that does not parse, or has an unknown version, is never rewritten.
//!
//! kinfra's own records (which worktrees it created, which projects it started) live
//! beside it in `kinfra.json`: the Python tool drops unknown top-level keys whenever
//! it writes, so records kept inside its file would be lost. A `kinfra` key written
//! by earlier kinfra releases is still read, and moves to `kinfra.json` on the next
//! write.

use std::collections::BTreeMap;
use std::fs::{File, OpenOptions};
use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};

use crate::state::error::{Result, StateError};
use crate::state::home::Home;

pub const VERSION: u64 = 1;
/// The Python tools' registry with a slot pool (`slots`): read, kept and written back
/// as such (never as version 1).
pub const VERSION_POOL: u64 = 2;

/// One registered instance. Exactly these fields: the Python reader treats any
/// extra field inside an entry as a corrupt file.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Entry {
    pub instance_id: String,
    pub slot: u8,
    pub path: String,
    pub created_at: String,
    pub is_worktree: bool,
    pub parent_repo: Option<String>,
}

/// What kinfra records beyond the shared schema, in `kinfra.json`.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct KinfraState {
    /// Worktree directories kinfra created: the only directories it may delete.
    #[serde(default)]
    pub created_worktrees: Vec<String>,
    /// Compose projects kinfra has started, with the directory they ran from, so
    /// `prune` can find projects no entry owns any more.
    #[serde(default)]
    pub projects: BTreeMap<String, String>,
    /// Memory (bytes) each instance's containers used once it passed its gate, for
    /// the machine budget.
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub footprints: BTreeMap<String, u64>,
    /// Host ports kinfra chose for instances of `port_scheme = "auto"` projects
    /// (instance → key → port), so no two instances of any project get one port.
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub ports: BTreeMap<String, BTreeMap<String, u16>>,
    /// The project (stack name) each instance belongs to, for `list`.
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub stacks: BTreeMap<String, String>,
    /// Subnets kinfra gave instances for networks the project fixes a subnet of
    /// (instance → network → CIDR), so no two instances overlap.
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub subnets: BTreeMap<String, BTreeMap<String, String>>,
    /// The description each instance was made or last synced with (instance →
    /// which one and its fingerprint), so every later command sees a change.
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub descriptions: BTreeMap<String, Described>,
    /// Worktrees `kinfra spec` made (path → feature): no stack, but kinfra's to
    /// remove with `kinfra done`.
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub specs: BTreeMap<String, String>,
    /// Where each instance's data came from (`snapshot:NAME` or `instance:ID`), for
    /// `sandbox reset`.
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub data_origins: BTreeMap<String, String>,
    /// What each snapshot measured when taken (`project/name` → record); the
    /// engine's labelled volumes are the snapshots themselves.
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub snapshots: BTreeMap<String, SnapshotRecord>,
    /// Docker engines on other machines, reached over SSH (name → record); kept
    /// here so that adding, removing and placing on one are under the registry's lock.
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub engines: BTreeMap<String, EngineRecord>,
    /// The engine each instance placed on another machine lives on (instance →
    /// engine name); an instance without one is on the local engine.
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub placements: BTreeMap<String, String>,
}

/// A remote engine as `engine add` checked it. The address is re-checked every time
/// it is read (this file is input too).
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct EngineRecord {
    /// `ssh://USER@HOST[:PORT]`.
    pub url: String,
    pub added_at: String,
    /// The remote user's home, where the instances' code mirrors live.
    #[serde(default)]
    pub remote_home: String,
    /// Where Docker's SSH transport reaches Docker on that machine, as its docker
    /// CLI says (`unix:///var/run/docker.sock`): the socket kinfra forwards here over
    /// the engine's one SSH connection. Empty: not found yet. Checked again every time
    /// it is read, and only ever dialled at the far end of that connection.
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub docker_host: String,
}

/// A snapshot's size and how it was taken, and where it lives.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct SnapshotRecord {
    pub bytes: u64,
    pub method: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub paused_ms: Option<u64>,
    /// The engine on another machine its volumes live on (`None`, and every record
    /// written before engines existed: this machine's). Input like the rest of the
    /// file: a name, checked against the recorded engines before anything dials it.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub engine: Option<String>,
    /// What its volumes' labels say, kept here so that a snapshot on an engine that
    /// does not answer is still listed with them.
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub source: String,
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub commit: String,
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub created: String,
}

/// One of the Python tools' pooled slots: theirs, shown by `list`, never adopted
/// or removed.
#[derive(Debug, Clone, PartialEq)]
pub struct PoolSlot {
    pub slot: u8,
    pub project: String,
    pub path: String,
    pub api_port: Option<u16>,
    pub claimed_at: String,
}

/// Which description an instance follows, and its fingerprint then.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct Described {
    pub origin: String,
    pub fingerprint: String,
    /// The keys kinfra writes into the instance's `.env.sandbox` under it: `sync`
    /// drops only those of them the description no longer makes (a line the person
    /// added stays).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub keys: Vec<String>,
}

impl KinfraState {
    fn is_empty(&self) -> bool {
        self.created_worktrees.is_empty()
            && self.projects.is_empty()
            && self.footprints.is_empty()
            && self.ports.is_empty()
            && self.stacks.is_empty()
            && self.subnets.is_empty()
            && self.descriptions.is_empty()
            && self.specs.is_empty()
            && self.engines.is_empty()
            && self.placements.is_empty()
    }

    /// Drops every record of an instance that is gone.
    pub fn forget(&mut self, id: &str) {
        self.projects.remove(id);
        self.footprints.remove(id);
        self.ports.remove(id);
        self.stacks.remove(id);
        self.subnets.remove(id);
        self.descriptions.remove(id);
        self.data_origins.remove(id);
        self.placements.remove(id);
    }

    /// Adds records from an older copy (the legacy key) that this one lacks.
    fn merge_legacy(&mut self, legacy: KinfraState) {
        for w in legacy.created_worktrees {
            if !self.created_worktrees.contains(&w) {
                self.created_worktrees.push(w);
            }
        }
        for (p, d) in legacy.projects {
            self.projects.entry(p).or_insert(d);
        }
    }
}

/// `kinfra.json`: kinfra's records, versioned on their own.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
struct SideFile {
    version: u64,
    #[serde(flatten)]
    state: KinfraState,
}

pub const SIDE_FILE: &str = "kinfra.json";

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Contents {
    pub version: u64,
    #[serde(default)]
    pub local_prod: Option<Entry>,
    #[serde(default)]
    pub instances: BTreeMap<String, Entry>,
    /// kinfra's records: read from `kinfra.json` (and a legacy `kinfra` key here),
    /// never written into the shared file.
    #[serde(default, skip_serializing)]
    pub kinfra: KinfraState,
    /// Top-level keys written by other tools, kept as they were.
    #[serde(flatten)]
    pub other: serde_json::Map<String, serde_json::Value>,
}

impl Default for Contents {
    fn default() -> Self {
        Contents {
            version: VERSION,
            local_prod: None,
            instances: BTreeMap::new(),
            kinfra: KinfraState::default(),
            other: serde_json::Map::new(),
        }
    }
}

impl Contents {
    /// Parses registry text; `path` is only for messages.
    pub fn parse(text: &[u8], path: &Path) -> Result<Self> {
        // Check the version before the shape, so a future format is reported as such.
        let value: serde_json::Value =
            serde_json::from_slice(text).map_err(|source| StateError::RegistryCorrupt {
                path: path.to_owned(),
                source,
            })?;
        match value.get("version") {
            // Version 2 is the Python tools' since February: version 1 plus a `slots`
            // pool, kept as it is (in `other`) and written back as version 2.
            Some(v) if v.as_u64() == Some(VERSION) || v.as_u64() == Some(VERSION_POOL) => {}
            Some(v) => {
                return Err(StateError::RegistryVersion {
                    path: path.to_owned(),
                    reads: [VERSION, VERSION_POOL],
                    version: v.to_string(),
                });
            }
            None => {
                return Err(StateError::RegistryVersion {
                    path: path.to_owned(),
                    reads: [VERSION, VERSION_POOL],
                    version: "(none)".into(),
                });
            }
        }
        serde_json::from_value(value).map_err(|source| StateError::RegistryCorrupt {
            path: path.to_owned(),
            source,
        })
    }

    /// Host ports the Python tools' slot pool holds (`slots.*.ports`, claimed or
    /// not), each with who holds it (`slot-N`).
    pub fn pool_ports(&self) -> BTreeMap<u16, String> {
        let mut out = BTreeMap::new();
        let Some(slots) = self.other.get("slots").and_then(|s| s.as_object()) else {
            return out;
        };
        for (n, slot) in slots {
            let holder = format!("slot-{n} (the Python tool's slot pool)");
            if let Some(ports) = slot.get("ports").and_then(|p| p.as_object()) {
                for p in ports.values().filter_map(serde_json::Value::as_u64) {
                    if let Ok(p) = u16::try_from(p) {
                        out.insert(p, holder.clone());
                    }
                }
            }
        }
        out
    }

    /// The Python tools' pooled slots (`slots`), as `list` shows them: slot
    /// number, the compose project (`slot-N`), who claimed it (or the slot's
    /// infrastructure directory), its API port and when it was claimed.
    pub fn pool_slots(&self) -> Vec<PoolSlot> {
        let Some(slots) = self.other.get("slots").and_then(|s| s.as_object()) else {
            return Vec::new();
        };
        let text =
            |v: &serde_json::Value, k: &str| v.get(k).and_then(|x| x.as_str()).map(str::to_string);
        let mut out: Vec<PoolSlot> = slots
            .iter()
            .filter_map(|(n, v)| {
                let slot: u8 = n.parse().ok()?;
                Some(PoolSlot {
                    slot,
                    project: format!("slot-{slot}"),
                    path: text(v, "claimed_by")
                        .or_else(|| text(v, "infrastructure_path"))
                        .unwrap_or_default(),
                    api_port: v
                        .get("ports")
                        .and_then(|p| p.get("api"))
                        .and_then(serde_json::Value::as_u64)
                        .and_then(|p| u16::try_from(p).ok()),
                    claimed_at: text(v, "claimed_at").unwrap_or_default(),
                })
            })
            .collect();
        out.sort_by_key(|p| p.slot);
        out
    }

    /// Sandbox slots in use (local-prod's 0 excluded).
    pub fn used_slots(&self) -> BTreeMap<u8, String> {
        self.instances
            .values()
            .map(|e| (e.slot, e.instance_id.clone()))
            .collect()
    }

    /// The lowest free sandbox slot.
    pub fn free_slot(&self, max: u8) -> Result<u8> {
        let used = self.used_slots();
        (1..=max)
            .find(|s| !used.contains_key(s))
            .ok_or_else(|| StateError::SlotsFull {
                max,
                holders: used.into_iter().collect(),
            })
    }

    /// The entry whose registered path is `dir` (sandbox or local-prod).
    pub fn entry_at(&self, dir: &Path) -> Option<&Entry> {
        let same = |e: &&Entry| crate::support::fsutil::same_path(Path::new(&e.path), dir);
        self.instances
            .values()
            .find(same)
            .or(self.local_prod.as_ref().filter(same))
    }
}

/// Host ports devops-ai's Python `kinfra` holds (`~/.devops-ai/registry.json`, read
/// only): every `ports` map in it, whatever shape around it. Missing or unreadable:
/// none (it is that tool's file, not kinfra's to judge).
pub fn devops_ai_ports() -> BTreeMap<u16, String> {
    let Some(home) = crate::support::env_vars::get(crate::support::env_vars::EnvVars::HOME) else {
        return BTreeMap::new();
    };
    let path = Path::new(&home).join(".devops-ai").join("registry.json");
    let Ok(bytes) = std::fs::read(&path) else {
        return BTreeMap::new();
    };
    let Ok(v) = serde_json::from_slice::<serde_json::Value>(&bytes) else {
        return BTreeMap::new();
    };
    let mut out = BTreeMap::new();
    collect_ports(&v, "devops-ai", &mut out);
    out
}

/// Pure: the port numbers of every `ports` map inside `v`, named after the nearest
/// `project`/`slot_id` around them.
fn collect_ports(v: &serde_json::Value, holder: &str, out: &mut BTreeMap<u16, String>) {
    match v {
        serde_json::Value::Object(o) => {
            let here = match (o.get("project").and_then(|p| p.as_str()), o.get("slot_id")) {
                (Some(p), Some(s)) => format!("devops-ai {p} slot {s}"),
                (Some(p), None) => format!("devops-ai {p}"),
                _ => holder.to_string(),
            };
            if let Some(ports) = o.get("ports").and_then(|p| p.as_object()) {
                for p in ports.values().filter_map(serde_json::Value::as_u64) {
                    if let Ok(p) = u16::try_from(p) {
                        out.insert(p, here.clone());
                    }
                }
            }
            for (k, x) in o {
                if k != "ports" {
                    collect_ports(x, &here, out);
                }
            }
        }
        serde_json::Value::Array(a) => a.iter().for_each(|x| collect_ports(x, holder, out)),
        _ => {}
    }
}

/// Handle on the registry file under a kinfra home.
#[derive(Debug, Clone)]
pub struct Registry {
    path: PathBuf,
}

impl Registry {
    pub fn new(home: &Home) -> Self {
        Registry {
            path: home.registry_file(),
        }
    }

    pub fn path(&self) -> &Path {
        &self.path
    }

    fn dir(&self) -> &Path {
        self.path.parent().unwrap_or(Path::new("."))
    }

    pub fn side_path(&self) -> PathBuf {
        self.dir().join(SIDE_FILE)
    }

    /// The file's bytes; `None` when it does not exist. Links are refused.
    fn read(path: &Path) -> Result<Option<Vec<u8>>> {
        if let Ok(meta) = std::fs::symlink_metadata(path)
            && meta.file_type().is_symlink()
        {
            return Err(StateError::RegistrySymlink {
                path: path.to_path_buf(),
                target: std::fs::read_link(path).unwrap_or_default(),
            });
        }
        match std::fs::read(path) {
            Ok(bytes) => Ok(Some(bytes)),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(None),
            Err(e) => Err(StateError::io("could not read the registry", path, e)),
        }
    }

    /// Reads the registry without locking (writers replace it atomically, so a
    /// reader sees the old file or the new one). A missing file is an empty registry.
    pub fn load(&self) -> Result<Contents> {
        let mut c = match Self::read(&self.path)? {
            Some(bytes) => Contents::parse(&bytes, &self.path)?,
            None => Contents::default(),
        };
        let side = self.side_path();
        if let Some(bytes) = Self::read(&side)? {
            let legacy = std::mem::take(&mut c.kinfra);
            c.kinfra = parse_side(&bytes, &side)?;
            c.kinfra.merge_legacy(legacy);
        }
        Ok(c)
    }

    /// Runs `f` on the registry under an exclusive lock and saves the result if it
    /// changed. Nothing is written when `f` fails.
    pub fn update<T>(&self, f: impl FnOnce(&mut Contents) -> Result<T>) -> Result<T> {
        self.update_with(f)
    }

    /// [`Registry::update`] for an `f` that fails with its caller's own error (an
    /// upper layer's, which carries the registry's).
    pub fn update_with<T, E: From<StateError>>(
        &self,
        f: impl FnOnce(&mut Contents) -> Result<T, E>,
    ) -> Result<T, E> {
        let _lock = self.lock()?;
        let before = self.load()?;
        let mut contents = before.clone();
        let out = f(&mut contents)?;
        if contents != before {
            self.write(&contents)?;
        }
        Ok(out)
    }

    fn lock(&self) -> Result<File> {
        self.lock_file(".instances.lock", "registry")
    }

    /// Serializes `git worktree add/remove` among kinfra processes: git itself races
    /// when several run on one repository at once (one reads another's half-written
    /// `.git/worktrees/<name>`). Held for the git call only.
    pub fn worktree_lock(&self) -> Result<File> {
        self.lock_file(".worktrees.lock", "worktree")
    }

    fn lock_file(&self, name: &str, what: &str) -> Result<File> {
        let dir = self.dir();
        std::fs::create_dir_all(dir)
            .map_err(|e| StateError::io("could not create the registry directory", dir, e))?;
        let lock_path = dir.join(name);
        let file = OpenOptions::new()
            .create(true)
            .truncate(false)
            .write(true)
            .open(&lock_path)
            .map_err(|e| StateError::io("could not open the lock file", &lock_path, e))?;
        let waited = std::time::Instant::now();
        file.lock()
            .map_err(|e| StateError::io("could not take the lock", &lock_path, e))?;
        // For the contention benchmark: how long this process waited for the lock.
        if crate::support::env_vars::is_set(crate::support::env_vars::EnvVars::KINFRA_TIMING) {
            crate::errln!(
                "kinfra-timing: {what} lock waited {} us",
                waited.elapsed().as_micros()
            );
        }
        Ok(file)
    }

    /// kinfra's records first: a crash between the two writes leaves them ahead
    /// of the registry, which the next write reconciles, never behind it.
    fn write(&self, contents: &Contents) -> Result<()> {
        let side = self.side_path();
        if !contents.kinfra.is_empty() || side.exists() {
            let file = SideFile {
                version: VERSION,
                state: contents.kinfra.clone(),
            };
            write_json(&side, &file)?;
        }
        write_json(&self.path, contents)
    }
}

fn parse_side(bytes: &[u8], path: &Path) -> Result<KinfraState> {
    let corrupt = |source| StateError::RegistryCorrupt {
        path: path.to_owned(),
        source,
    };
    let value: serde_json::Value = serde_json::from_slice(bytes).map_err(corrupt)?;
    if value.get("version").and_then(|v| v.as_u64()) != Some(VERSION) {
        return Err(StateError::RegistryVersion {
            path: path.to_owned(),
            reads: [VERSION, VERSION_POOL],
            version: value
                .get("version")
                .map_or("(none)".into(), |v| v.to_string()),
        });
    }
    let f: SideFile = serde_json::from_value(value).map_err(corrupt)?;
    Ok(f.state)
}

/// Pretty JSON, replaced atomically and durably (temp file, fsync, rename, fsync
/// of the directory); mode 0600 (the temp file's).
fn write_json(path: &Path, value: &impl Serialize) -> Result<()> {
    let mut text =
        serde_json::to_string_pretty(value).map_err(|source| StateError::RegistryUnencodable {
            path: path.to_path_buf(),
            source,
        })?;
    text.push('\n');
    crate::support::fsutil::write_atomic(path, text.as_bytes(), None)
        .map_err(|e| StateError::io("could not write the registry", path, e))
}

#[cfg(test)]
mod tests;
