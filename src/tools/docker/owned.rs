//! The one way kinfra removes a Docker object it made for one operation: only
//! when the object carries the labels that operation put on it. A name alone
//! (from a journal on disk, a listing, a flag) proves nothing: a forged or stale
//! record could name local-prod's data volume or someone's container. Labels
//! cannot be changed after an object is made, so a label kinfra set at creation is
//! the proof that kinfra made it.

use std::collections::BTreeMap;
use std::time::Duration;

use super::{classify, docker};
use crate::tools::error::Result;

/// The label kinfra puts on what one data copy makes (its volumes, its helper
/// container): the copy's operation id (its journal's name).
pub const OP_LABEL: &str = "dev.kinfra.op";

const WAIT: Duration = Duration::from_secs(60);

/// Which kind of Docker object.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Object {
    Volume,
    Container,
}

impl Object {
    pub fn noun(self) -> &'static str {
        match self {
            Object::Volume => "volume",
            Object::Container => "container",
        }
    }

    /// Where `docker inspect` keeps the labels of this kind.
    fn labels_template(self) -> &'static str {
        match self {
            Object::Volume => "{{json .Labels}}",
            Object::Container => "{{json .Config.Labels}}",
        }
    }
}

/// What [`remove_if_labelled`] did.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Removal {
    Removed,
    /// It was not there (already gone, or never made).
    Gone,
    /// It lacks a required label: left as it is. The text says which, for the person.
    Refused(String),
}

/// Pure: the labels `docker inspect --format '{{json .Labels}}'` printed (`null`
/// for none); `None` when it is not that shape.
pub fn parse_labels(text: &str) -> Option<BTreeMap<String, String>> {
    let t = text.trim();
    if t == "null" || t.is_empty() {
        return Some(BTreeMap::new());
    }
    serde_json::from_str(t).ok()
}

/// Pure: the first of `required` that `labels` lacks (or holds with another
/// value), said for the person; `None` when every one is there.
pub fn missing_label(
    labels: &BTreeMap<String, String>,
    required: &[(&str, &str)],
) -> Option<String> {
    required.iter().find_map(|(k, v)| match labels.get(*k) {
        Some(have) if have == v => None,
        Some(have) => Some(format!("its label {k} is {have:?}, not {v:?}")),
        None => Some(format!("it has no label {k}={v}")),
    })
}

fn is_missing(stderr: &str) -> bool {
    let s = stderr.to_ascii_lowercase();
    s.contains("no such volume") || s.contains("no such container") || s.contains("no such object")
}

/// Removes `name` (a volume, or a container with whatever it runs) only if it
/// carries every label of `required`; otherwise leaves it and says why. Every
/// removal of an object kinfra made for an operation goes through here.
pub fn remove_if_labelled(kind: Object, name: &str, required: &[(&str, &str)]) -> Result<Removal> {
    let noun = kind.noun();
    // A name from a record is input: one Docker could not have made is refused
    // before any docker call (it could read as an option or another object).
    if let Err(why) = crate::support::validate::volume_key(name) {
        return Ok(Removal::Refused(format!(
            "refused to remove {noun} {name:?}: {why}"
        )));
    }
    let inspected = docker()
        .args([noun, "inspect", "--format"])
        .arg(format!("{{{{.Name}}}}\t{}", kind.labels_template()))
        .arg("--")
        .arg(name)
        .timeout(WAIT)
        .run();
    let out = match inspected {
        Ok(o) => o,
        Err(e) if is_missing(e.stderr()) => return Ok(Removal::Gone),
        Err(e) => return Err(classify(e)),
    };
    // The object's own name (a container's with a leading `/`): a name that
    // matched by id prefix or otherwise is not the one named.
    let (own, labels) = out.trim().split_once('\t').unwrap_or(("", ""));
    if own.trim_start_matches('/') != name {
        return Ok(Removal::Refused(format!(
            "refused to remove {noun} {name}: Docker answered for {own:?}, another object"
        )));
    }
    let Some(labels) = parse_labels(labels) else {
        return Ok(Removal::Refused(format!(
            "refused to remove {noun} {name}: its labels could not be read"
        )));
    };
    if let Some(why) = missing_label(&labels, required) {
        return Ok(Removal::Refused(format!(
            "refused to remove {noun} {name}: {why}, so kinfra did not make it for this; it was left as it is"
        )));
    }
    let rm = match kind {
        Object::Volume => docker().args(["volume", "rm", "--", name]),
        Object::Container => docker().args(["rm", "-f", "--", name]),
    };
    match rm.timeout(WAIT).run() {
        Ok(_) => Ok(Removal::Removed),
        Err(e) if is_missing(e.stderr()) => Ok(Removal::Gone),
        Err(e) => Err(classify(e)),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn labels_parse_from_captured_inspect_output() {
        let l =
            parse_labels(r#"{"dev.kinfra.op":"12-34","com.docker.compose.project":"p"}"#).unwrap();
        assert_eq!(l["dev.kinfra.op"], "12-34");
        assert!(parse_labels("null\n").unwrap().is_empty());
        assert!(parse_labels("{}").unwrap().is_empty());
        assert_eq!(parse_labels("not json"), None);
        assert_eq!(parse_labels(r#"{"a":1}"#), None);
    }

    #[test]
    fn only_every_required_label_with_its_value_proves_it() {
        let l = parse_labels(r#"{"dev.kinfra.op":"12-34","x":"y"}"#).unwrap();
        assert_eq!(missing_label(&l, &[(OP_LABEL, "12-34")]), None);
        assert_eq!(missing_label(&l, &[]), None);
        let why = missing_label(&l, &[(OP_LABEL, "99-1")]).unwrap();
        assert!(why.contains("\"12-34\"") && why.contains("99-1"), "{why}");
        let why = missing_label(&l, &[(OP_LABEL, "12-34"), ("dev.kinfra.snapshot", "s")]).unwrap();
        assert!(why.contains("no label dev.kinfra.snapshot=s"), "{why}");
        assert!(missing_label(&BTreeMap::new(), &[(OP_LABEL, "")]).is_some());
    }

    #[test]
    fn a_name_docker_could_not_have_made_is_refused_before_any_call() {
        for bad in ["", "--all", "a\nb", "a\0b", "../x", "a b"] {
            match remove_if_labelled(Object::Volume, bad, &[(OP_LABEL, "1-1")]) {
                Ok(Removal::Refused(why)) => assert!(why.contains("refused"), "{why}"),
                other => panic!("{bad:?}: {other:?}"),
            }
        }
    }
}
