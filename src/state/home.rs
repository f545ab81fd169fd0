//! Kinfra home (`KINFRA_HOME`, else `~/.ktrdr`, the directory KTRDR's Python tools
//! use) and its layout: every file and directory kinfra keeps there is named here,
//! so what lives where reads in one place and no two modules can disagree.

use std::ffi::OsStr;
use std::ops::Deref;
use std::path::{Path, PathBuf};

use crate::state::error::{Result, StateError};
use crate::support::env_vars::EnvVars;

/// Kinfra home. Derefs to its path, for the few callers that only show it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Home(PathBuf);

impl Home {
    pub fn at(path: impl Into<PathBuf>) -> Home {
        Home(path.into())
    }

    /// `KINFRA_HOME`, made absolute, or `~/.ktrdr`.
    pub fn from_env() -> Result<Home> {
        if let Some(h) = std::env::var_os(EnvVars::KINFRA_HOME).filter(|h| !h.is_empty()) {
            let p = PathBuf::from(h);
            return Ok(Home(if p.is_absolute() {
                p
            } else {
                std::env::current_dir()
                    .map_err(|e| StateError::io("could not read the current directory", ".", e))?
                    .join(p)
            }));
        }
        std::env::var_os(EnvVars::HOME)
            .filter(|h| !h.is_empty())
            .map(|h| Home(PathBuf::from(h).join(".ktrdr")))
            .ok_or(StateError::NoHome {
                home_var: EnvVars::KINFRA_HOME,
            })
    }

    pub fn path(&self) -> &Path {
        &self.0
    }

    /// The registry of instances (the Python tools' file, versions 1 and 2).
    pub fn registry_file(&self) -> PathBuf {
        self.0.join("sandbox").join("instances.json")
    }

    /// One lock file per instance, taken by every command that changes it.
    pub fn lock_file(&self, instance_id: &str) -> PathBuf {
        self.0
            .join("sandbox")
            .join("locks")
            .join(format!("{instance_id}.lock"))
    }

    /// The resolved compose model kinfra runs for an instance whose ports it allocates.
    pub fn model_copy_file(&self, instance_id: &str) -> PathBuf {
        self.0
            .join("sandbox")
            .join("compose")
            .join(format!("{instance_id}.json"))
    }

    /// An instance's kept secret values (mode 0600, in a directory of mode 0700):
    /// under kinfra's home, never in the worktree, never read by compose.
    pub fn kept_secrets_file(&self, instance_id: &str) -> PathBuf {
        self.0
            .join("sandbox")
            .join("secrets")
            .join(format!("{instance_id}.json"))
    }

    /// What an instance's resolved copy was made from, beside it.
    pub fn model_meta_file(&self, instance_id: &str) -> PathBuf {
        self.model_copy_file(instance_id)
            .with_extension("meta.json")
    }

    /// The machine budget's queue of starts.
    pub fn queue_dir(&self) -> PathBuf {
        self.0.join("queue")
    }

    /// Journals of data copies in progress, for recovery after a kill.
    pub fn data_ops_dir(&self) -> PathBuf {
        self.0.join("data").join("ops")
    }

    /// The repository commands a person allowed, per clone.
    pub fn allowed_file(&self) -> PathBuf {
        self.0.join("allowed.json")
    }

    /// Shared data mounted into every instance.
    pub fn shared_dir(&self) -> PathBuf {
        self.0.join("shared")
    }

    /// Where `kinfra demo` and the installer's demo put the embedded repository.
    pub fn demo_dir(&self) -> PathBuf {
        self.0.join("demo")
    }

    /// Pid files of an instance's host services.
    pub fn host_dir(&self, instance_id: &str) -> PathBuf {
        self.0.join("host").join(instance_id)
    }

    /// Per remote engine: the control socket of its one multiplexed SSH connection
    /// (short: a socket path is limited to about 100 bytes) and that connection's log.
    pub fn engine_dir(&self) -> PathBuf {
        self.0.join("engines")
    }

    /// The router's files: its process record, where it listens, its lock and log.
    pub fn router_dir(&self) -> PathBuf {
        self.0.join("router")
    }

    /// The compose tool found last, and what it was found from.
    pub fn compose_cache_file(&self) -> PathBuf {
        self.0.join("cache").join("compose")
    }
}

impl Deref for Home {
    type Target = Path;
    fn deref(&self) -> &Path {
        &self.0
    }
}

impl AsRef<Path> for Home {
    fn as_ref(&self) -> &Path {
        &self.0
    }
}

impl AsRef<OsStr> for Home {
    fn as_ref(&self) -> &OsStr {
        self.0.as_os_str()
    }
}
