//! What a copy has done so far, on disk before it is done, so that nothing it
//! leaves behind outlives it: a paused source, a helper container, half-made
//! volumes. A detached watchdog (`kinfra internal thaw JOURNAL`) undoes them the
//! moment the copying process dies (`kill -9` included); the next data command
//! undoes any a dead watchdog left.
//!
//! A journal lists only volumes its own command created, so undoing never removes
//! a volume that existed before the command (rule 1).

use std::path::{Path, PathBuf};
use std::time::Duration;

use serde::{Deserialize, Serialize};

use super::engine;
use crate::state::home::Home;
use crate::support::error::{Error, Result};

#[derive(Debug, Default, Serialize, Deserialize)]
pub struct Journal {
    pub pid: u32,
    /// The copy helper container's name, once started.
    #[serde(default)]
    pub helper: Option<String>,
    /// Containers this copy paused and has not unpaused yet.
    #[serde(default)]
    pub paused: Vec<String>,
    /// Volumes this copy created (removed if it does not finish).
    #[serde(default)]
    pub created: Vec<String>,
    #[serde(skip)]
    pub path: PathBuf,
}

/// Where journals live: `$KINFRA_HOME/data/ops/`.
pub fn dir(home: &Home) -> PathBuf {
    home.data_ops_dir()
}

impl Journal {
    /// A new journal for this process, written at once.
    pub fn begin(home: &Home) -> Result<Journal> {
        let d = dir(home);
        std::fs::create_dir_all(&d)
            .map_err(|e| Error::io("could not create the data journal directory", &d, e))?;
        let nanos = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map(|d| d.subsec_nanos())
            .unwrap_or(0);
        let pid = std::process::id();
        let j = Journal {
            pid,
            path: d.join(format!("{pid}-{nanos}.json")),
            ..Default::default()
        };
        j.save()?;
        Ok(j)
    }

    /// Written whole to a temporary file, then renamed: a reader never sees half.
    pub fn save(&self) -> Result<()> {
        let text = serde_json::to_string(self).unwrap_or_default();
        let tmp = self.path.with_extension("tmp");
        std::fs::write(&tmp, text)
            .and_then(|()| std::fs::rename(&tmp, &self.path))
            .map_err(|e| Error::io("could not write the data journal", &self.path, e))
    }

    /// The copy finished or was undone: nothing is left to watch.
    pub fn end(&self) {
        let _ = std::fs::remove_file(&self.path);
    }

    fn read(path: &Path) -> Option<Journal> {
        let text = std::fs::read_to_string(path).ok()?;
        let mut j: Journal = serde_json::from_str(&text).ok()?;
        j.path = path.to_path_buf();
        Some(j)
    }

    /// Undoes what is recorded: unpause, remove the helper, remove the volumes
    /// this copy created. Returns what it did, for the person. What Docker could
    /// not do now (it is down or restarting) stays in the journal, so the next
    /// data command finishes the undo: a half-made volume never outlives it.
    pub fn undo(&mut self) -> Vec<String> {
        let mut said = Vec::new();
        if !self.paused.is_empty() && engine::unpause(&self.paused).is_ok() {
            said.push(format!("unpaused {} container(s)", self.paused.len()));
            self.paused.clear();
        }
        if self.helper.as_deref().is_some_and(engine::remove_helper) {
            self.helper = None;
        }
        // A volume the helper still mounts cannot go: only once it is gone.
        if self.helper.is_none()
            && !self.created.is_empty()
            && engine::remove_volumes(&self.created).is_ok()
        {
            said.push(format!(
                "removed the half-made volume(s) {}",
                self.created.join(", ")
            ));
            self.created.clear();
        }
        if self.paused.is_empty() && self.helper.is_none() && self.created.is_empty() {
            self.end();
        } else if self.save().is_ok() {
            said.push(format!(
                "Docker did not answer, so the next data command (snapshot save, \
                 create --data, reset) will {}",
                self.left()
            ));
        }
        said
    }

    /// What is still to undo, in words.
    fn left(&self) -> String {
        let mut parts = Vec::new();
        if !self.paused.is_empty() {
            parts.push(format!("unpause {} container(s)", self.paused.len()));
        }
        if let Some(h) = &self.helper {
            parts.push(format!("remove the copy helper {h}"));
        }
        if !self.created.is_empty() {
            parts.push(format!(
                "remove the half-made volume(s) {}",
                self.created.join(", ")
            ));
        }
        parts.join(" and ")
    }
}

fn alive(pid: u32) -> bool {
    let Ok(p) = i32::try_from(pid) else {
        return false;
    };
    // Signal 0: is there such a process (EPERM: there is, someone else's).
    match nix::sys::signal::kill(nix::unistd::Pid::from_raw(p), None) {
        Ok(()) => true,
        Err(e) => e == nix::errno::Errno::EPERM,
    }
}

/// The watchdog's loop: until the journal is gone (the copy ended), check that its
/// process lives; when it does not, undo what the journal records.
pub fn watch(path: &Path) {
    loop {
        let Some(j) = Journal::read(path) else {
            return;
        };
        if !alive(j.pid) {
            let mut j = j;
            j.undo();
            return;
        }
        std::thread::sleep(Duration::from_millis(50));
    }
}

/// Starts the watchdog for `j`, detached (it outlives a killed kinfra).
pub fn spawn_watchdog(home: &Home, j: &Journal) {
    if let Ok(exe) = std::env::current_exe() {
        let _ = crate::support::exec::Cmd::new(exe)
            .args(["internal", "thaw"])
            .arg(&j.path)
            .env(crate::support::env_vars::EnvVars::KINFRA_HOME, home)
            .spawn_detached();
    }
}

/// Undoes the journals of copies whose process and watchdog both died; what was
/// undone, for the person.
pub fn recover_stale(home: &Home) -> Vec<String> {
    let Ok(rd) = std::fs::read_dir(dir(home)) else {
        return Vec::new();
    };
    let mut said = Vec::new();
    for e in rd.flatten() {
        let p = e.path();
        if p.extension().is_none_or(|x| x != "json") {
            continue;
        }
        if let Some(mut j) = Journal::read(&p)
            && !alive(j.pid)
        {
            for s in j.undo() {
                said.push(format!("an interrupted copy left work behind: {s}"));
            }
        }
    }
    said
}

/// Is `path` a journal in this home's journal directory (the watchdog's argument
/// is input: it must not name another file)?
pub fn is_journal_path(home: &Home, path: &Path) -> bool {
    path.parent() == Some(dir(home).as_path())
        && path.extension().is_some_and(|x| x == "json")
        && path
            .file_name()
            .and_then(|n| n.to_str())
            .and_then(|n| n.strip_suffix(".json"))
            .is_some_and(|s| !s.is_empty() && s.chars().all(|c| c.is_ascii_digit() || c == '-'))
}
