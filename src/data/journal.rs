//! What a copy has done so far, on disk before it is done, so that nothing it
//! leaves behind outlives it: a paused source, a helper container, half-made
//! volumes. A detached watchdog (`kinfra internal thaw JOURNAL`) undoes them the
//! moment the copying process dies (`kill -9` included); the next data command
//! undoes any a dead watchdog left.
//!
//! A journal lists only volumes its own command created, so undoing never removes
//! a volume that existed before the command (rule 1). A journal is a file anyone
//! can write, so what it names proves nothing: each volume and helper a copy makes
//! carries its operation id ([`Journal::op`], the journal's own file name) as a
//! label, and undo removes only what carries it
//! ([`crate::tools::docker::remove_if_labelled`]); anything else is refused, said,
//! and the journal is set aside (`.refused`) for a person to read.

use std::path::{Path, PathBuf};
use std::time::Duration;

use serde::{Deserialize, Serialize};

use super::engine;
use crate::data::error::{DataError, Result};
use crate::state::home::Home;

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
    /// The engine on another machine the copy ran on (`None`: this machine's).
    /// Its objects are there, so only a command working on that engine undoes it
    /// (its watchdog inherits the engine with the copy's environment). Compared,
    /// never dialled: a journal is a file anyone can write.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub engine: Option<String>,
    #[serde(skip)]
    pub path: PathBuf,
    /// What undo refused to touch (not this copy's), for the person.
    #[serde(skip)]
    refused: Vec<String>,
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
            .map_err(|e| DataError::io("could not create the data journal directory", &d, e))?;
        let nanos = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map(|d| d.subsec_nanos())
            .unwrap_or(0);
        let pid = std::process::id();
        let j = Journal {
            pid,
            path: d.join(format!("{pid}-{nanos}.json")),
            engine: crate::tools::docker::engine_in_use().map(|(n, _)| n),
            ..Default::default()
        };
        j.save()?;
        Ok(j)
    }

    /// This copy's operation id: its journal's file name, which the label on every
    /// object it makes carries. Taken from the path, not the contents, so a journal
    /// cannot claim another copy's objects.
    pub fn op(&self) -> String {
        self.path
            .file_stem()
            .and_then(|s| s.to_str())
            .unwrap_or_default()
            .to_string()
    }

    /// Written whole to a temporary file, then renamed: a reader never sees half.
    pub fn save(&self) -> Result<()> {
        let text = serde_json::to_string(self).unwrap_or_default();
        let tmp = self.path.with_extension("tmp");
        std::fs::write(&tmp, text)
            .and_then(|()| std::fs::rename(&tmp, &self.path))
            .map_err(|e| DataError::io("could not write the data journal", &self.path, e))
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
        if !self.paused.is_empty() {
            let (ours, others) = engine::compose_containers(&self.paused);
            for c in others {
                self.refused.push(format!(
                    "left {c:?} as it is: it is no compose container, so no copy paused it"
                ));
            }
            if engine::unpause(&ours).is_ok() {
                if !ours.is_empty() {
                    said.push(format!("unpaused {} container(s)", ours.len()));
                }
                self.paused.clear();
            }
        }
        let op = self.op();
        if let Some(h) = self.helper.clone()
            && let Ok(refused) = engine::remove_helper(&h, &op)
        {
            self.refused.extend(refused);
            self.helper = None;
        }
        // A volume the helper still mounts cannot go: only once it is gone.
        if self.helper.is_none() && !self.created.is_empty() {
            let label = [(crate::tools::docker::OP_LABEL, op.as_str())];
            if let Ok(refused) = engine::remove_owned_volumes(&self.created, &label) {
                let removed: Vec<&String> = self
                    .created
                    .iter()
                    .filter(|v| !refused.iter().any(|(r, _)| r == *v))
                    .collect();
                if !removed.is_empty() {
                    said.push(format!(
                        "removed the half-made volume(s) {}",
                        removed
                            .iter()
                            .map(|s| s.as_str())
                            .collect::<Vec<_>>()
                            .join(", ")
                    ));
                }
                self.refused.extend(refused.into_iter().map(|(_, why)| why));
                self.created.clear();
            }
        }
        let aside = self.set_aside_if_refused();
        if !aside.is_empty() {
            // Kept whole, with what is still left, for the person.
            let _ = self.save();
            said.extend(aside);
            return said;
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

    /// A journal that named objects its copy did not make is not kinfra's record
    /// of a copy: kept as `<name>.refused` (never read again, there for a person),
    /// with what was refused said.
    fn set_aside_if_refused(&mut self) -> Vec<String> {
        if self.refused.is_empty() {
            return Vec::new();
        }
        let kept = self.path.with_extension("json.refused");
        let _ = std::fs::rename(&self.path, &kept);
        self.path = kept.clone();
        let mut said: Vec<String> = self.refused.drain(..).collect();
        said.push(format!(
            "the data journal {} named objects its copy did not make (edited, or another \
             tool's); it is kept there, unread from now on",
            kept.display()
        ));
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

/// Undoes the journals of copies whose process and watchdog both died, of the
/// engine this thread works on (another engine's objects are not here: its
/// journals wait for a data command there); what was undone, for the person.
pub fn recover_stale(home: &Home) -> Vec<String> {
    let here = crate::tools::docker::engine_in_use().map(|(n, _)| n);
    let Ok(rd) = std::fs::read_dir(dir(home)) else {
        return Vec::new();
    };
    let mut said = Vec::new();
    let journals: Vec<Journal> = rd
        .flatten()
        .map(|e| e.path())
        .filter(|p| p.extension().is_some_and(|x| x == "json"))
        .filter_map(|p| Journal::read(&p))
        .filter(|j| j.engine == here)
        .collect();
    // What a live copy has paused is its to unpause: a dead (or forged) journal
    // naming the same container must not thaw it in the middle of that copy.
    let (live, dead): (Vec<Journal>, Vec<Journal>) =
        journals.into_iter().partition(|j| alive(j.pid));
    let held: Vec<String> = live.into_iter().flat_map(|j| j.paused).collect();
    for mut j in dead {
        j.paused.retain(|c| {
            let free = !held.contains(c);
            if !free {
                said.push(format!(
                    "left {c} paused: a running copy paused it and unpauses it itself"
                ));
            }
            free
        });
        for s in j.undo() {
            said.push(format!("an interrupted copy left work behind: {s}"));
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

#[cfg(test)]
mod tests {
    use super::*;

    /// A dead copy's journal of another engine is not undone here: its objects are
    /// there (undone here it would find none and be dropped, leaving them for
    /// good). It waits, as it was, for a data command on its engine. No docker call
    /// is made: the journal is set aside before any undo.
    #[test]
    fn another_engines_journal_waits_for_that_engine() {
        let dir = tempfile::tempdir().unwrap();
        let home = Home::at(dir.path());
        std::fs::create_dir_all(super::dir(&home)).unwrap();
        let path = super::dir(&home).join("4194305-1.json");
        // A pid no process has (above the kernel's pid_max limit of 2^22).
        let text = r#"{"pid":4194305,"created":["shop--b_rows"],"engine":"rem"}"#;
        std::fs::write(&path, text).unwrap();
        assert!(recover_stale(&home).is_empty());
        assert_eq!(std::fs::read_to_string(&path).unwrap(), text);
        let j = Journal::read(&path).unwrap();
        assert_eq!(j.engine.as_deref(), Some("rem"));
        // One written before engines existed is this machine's.
        let old: Journal = serde_json::from_str(r#"{"pid":1}"#).unwrap();
        assert_eq!(old.engine, None);
    }
}
