//! Pure: what the engine's volumes say (parsed from captured `docker volume ls`
//! output), which of an instance's volumes are data, what a copy's volumes are
//! named, what the copy helper's probe reported. No I/O here; every rule is
//! unit-tested on captured text.

use std::collections::BTreeMap;

use serde::Serialize;

use crate::stack::DataSpec;

/// Compose's labels on the volumes it creates: kinfra sets the same on the volumes
/// it makes for an instance, so compose takes them as its own.
pub const COMPOSE_PROJECT: &str = "com.docker.compose.project";
pub const COMPOSE_VOLUME: &str = "com.docker.compose.volume";

/// kinfra's labels on a snapshot's volumes. They carry no compose label, so
/// nothing that removes an instance's objects (destroy, release, prune) sees them.
pub const SNAPSHOT: &str = "dev.kinfra.snapshot";
pub const SNAPSHOT_PROJECT: &str = "dev.kinfra.snapshot.project";
pub const SNAPSHOT_VOLUME: &str = "dev.kinfra.snapshot.volume";
pub const SNAPSHOT_SUFFIX: &str = "dev.kinfra.snapshot.suffix";
pub const SNAPSHOT_SOURCE: &str = "dev.kinfra.snapshot.source";
pub const SNAPSHOT_COMMIT: &str = "dev.kinfra.snapshot.commit";
pub const SNAPSHOT_CREATED: &str = "dev.kinfra.snapshot.created";
/// On an instance's volume kinfra filled: where its data came from.
pub const DATA_FROM: &str = "dev.kinfra.data-from";

const LABELS: [&str; 9] = [
    COMPOSE_PROJECT,
    COMPOSE_VOLUME,
    SNAPSHOT,
    SNAPSHOT_PROJECT,
    SNAPSHOT_VOLUME,
    SNAPSHOT_SUFFIX,
    SNAPSHOT_SOURCE,
    SNAPSHOT_COMMIT,
    SNAPSHOT_CREATED,
];

/// `docker volume ls --format`: one volume a line, tab-separated, one column per
/// label (a label list is ambiguous: values may hold commas).
pub fn volume_format() -> String {
    let mut f = String::from("{{.Name}}\t{{.Driver}}");
    for l in LABELS {
        f.push_str(&format!("\t{{{{.Label \"{l}\"}}}}"));
    }
    f
}

/// One volume as the engine lists it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct VolumeRow {
    pub name: String,
    pub driver: String,
    /// Compose's project and volume key ("" when not compose's).
    pub project: String,
    pub key: String,
    pub snapshot: Option<SnapshotLabels>,
}

/// A container as `docker inspect` answered for it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct InspectedContainer {
    pub id: String,
    /// Without Docker's leading `/`.
    pub name: String,
    /// It carries a compose project label.
    pub compose: bool,
}

/// Pure: `docker inspect --format '{{.Id}}\t{{.Name}}\t{{index .Config.Labels "com.docker.compose.project"}}'`
/// output → each container.
pub fn container_projects(text: &str) -> Vec<InspectedContainer> {
    text.lines()
        .filter_map(|l| {
            let mut f = l.split('\t');
            let (id, name, project) = (f.next()?.trim(), f.next()?.trim(), f.next()?.trim());
            let name = name.trim_start_matches('/');
            (!id.is_empty() && !name.is_empty()).then(|| InspectedContainer {
                id: id.to_string(),
                name: name.to_string(),
                compose: !project.is_empty() && project != "<no value>",
            })
        })
        .collect()
}

/// What a snapshot volume's labels say.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SnapshotLabels {
    pub name: String,
    pub project: String,
    pub key: String,
    pub suffix: String,
    pub source: String,
    pub commit: String,
    pub created: String,
}

/// Pure: the rows of [`volume_format`] output; a line of another shape is skipped.
pub fn parse_volumes(text: &str) -> Vec<VolumeRow> {
    let mut out = Vec::new();
    for line in text.lines() {
        let f: Vec<&str> = line.split('\t').collect();
        if f.len() != 2 + LABELS.len() || f[0].is_empty() {
            continue;
        }
        let snapshot = (!f[4].is_empty()).then(|| SnapshotLabels {
            name: f[4].into(),
            project: f[5].into(),
            key: f[6].into(),
            suffix: f[7].into(),
            source: f[8].into(),
            commit: f[9].into(),
            created: f[10].into(),
        });
        out.push(VolumeRow {
            name: f[0].into(),
            driver: f[1].into(),
            project: f[2].into(),
            key: f[3].into(),
            snapshot,
        });
    }
    out
}

/// One data volume of an instance: its engine name, compose key, and the part of
/// its name after the instance's (`<instance>_<suffix>`), which names the copy's
/// volume in another instance.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct DataVolume {
    pub name: String,
    pub key: String,
    pub suffix: String,
}

/// Which of an instance's volumes are data, and why the others are not.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
pub struct Selection {
    pub data: Vec<DataVolume>,
    /// (volume key, why it is left out).
    pub skipped: Vec<(String, String)>,
    /// No `[data]` list chose them: every named volume but caches.
    pub inferred: bool,
}

impl Selection {
    /// One line for the person: which volumes, and how they were chosen.
    pub fn describe(&self) -> String {
        let keys: Vec<&str> = self.data.iter().map(|d| d.key.as_str()).collect();
        let mut s = format!("data volumes: {}", keys.join(", "));
        if self.inferred {
            s.push_str(" (every named volume of the project but caches; [data] volumes = [...] in kinfra.toml chooses)");
        }
        for (k, why) in &self.skipped {
            s.push_str(&format!("; not {k}: {why}"));
        }
        s
    }
}

/// Pure: the data volumes among `rows` of compose project `project`. External
/// volumes carry no project label and are never in `rows` of the project; a key
/// whose name says cache is left out unless `[data] volumes` names it.
pub fn select(rows: &[VolumeRow], project: &str, spec: &DataSpec) -> Selection {
    let mut sel = Selection {
        inferred: spec.volumes.is_empty(),
        ..Default::default()
    };
    let mut mine: Vec<&VolumeRow> = rows
        .iter()
        .filter(|r| r.project == project && r.snapshot.is_none())
        .collect();
    mine.sort_by(|a, b| a.key.cmp(&b.key).then(a.name.cmp(&b.name)));
    for r in mine {
        let key = if r.key.is_empty() { &r.name } else { &r.key };
        let why = if spec.exclude.iter().any(|e| e == key) {
            Some("excluded by [data] exclude")
        } else if !spec.volumes.is_empty() && !spec.volumes.iter().any(|v| v == key) {
            Some("not in [data] volumes")
        } else if spec.volumes.is_empty() && key.to_ascii_lowercase().contains("cache") {
            Some("a cache (name it in [data] volumes to copy it)")
        } else {
            None
        };
        match why {
            Some(w) => sel.skipped.push((key.clone(), w.into())),
            None => sel.data.push(DataVolume {
                name: r.name.clone(),
                key: key.clone(),
                suffix: suffix(project, &r.name),
            }),
        }
    }
    sel
}

/// Pure: the part of volume `name` after instance `project`'s prefix. Compose names
/// a volume `<project>_<key>`; kinfra names a sandbox's fixed-name volume
/// `<instance>_<name>`; local-prod keeps a fixed name as it is (the whole name).
pub fn suffix(project: &str, name: &str) -> String {
    name.strip_prefix(project)
        .and_then(|r| r.strip_prefix('_'))
        .filter(|r| !r.is_empty())
        .unwrap_or(name)
        .to_string()
}

/// Pure: the name instance `project`'s copy of a volume gets: `<project>_<suffix>`,
/// as compose (or kinfra's isolation of a fixed name) would name it.
pub fn target_name(project: &str, suffix: &str) -> String {
    format!("{project}_{suffix}")
}

/// Pure: a snapshot volume's name. Project and snapshot are slugs (no `.`), so
/// `.` keeps any two distinct triples apart.
pub fn snapshot_volume(project_slug: &str, snapshot: &str, suffix: &str) -> String {
    format!("kinfra-snap.{project_slug}.{snapshot}.{suffix}")
}

/// A snapshot: the volumes that share its labels' name and project.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Snapshot {
    pub name: String,
    pub project: String,
    pub source: String,
    pub commit: String,
    pub created: String,
    pub volumes: Vec<DataVolume>,
    /// The engine on another machine its volumes live on (`None`: this machine's).
    /// Not on the volumes: set by whoever read them there.
    pub engine: Option<String>,
}

/// Pure: the snapshots among `rows`, by project then name.
pub fn snapshots(rows: &[VolumeRow]) -> Vec<Snapshot> {
    let mut by: BTreeMap<(String, String), Snapshot> = BTreeMap::new();
    for r in rows {
        let Some(l) = &r.snapshot else { continue };
        let s = by
            .entry((l.project.clone(), l.name.clone()))
            .or_insert_with(|| Snapshot {
                name: l.name.clone(),
                project: l.project.clone(),
                source: l.source.clone(),
                commit: l.commit.clone(),
                created: l.created.clone(),
                volumes: Vec::new(),
                engine: None,
            });
        s.volumes.push(DataVolume {
            name: r.name.clone(),
            key: l.key.clone(),
            suffix: l.suffix.clone(),
        });
    }
    let mut out: Vec<Snapshot> = by.into_values().collect();
    for s in &mut out {
        s.volumes.sort_by(|a, b| a.key.cmp(&b.key));
    }
    out
}

/// What the copy helper found before copying.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Probe {
    /// `cp --reflink=always` worked between two files on the targets' filesystem.
    pub reflink: bool,
    /// The helper's `cp` has no `--reflink` (busybox): another image may share blocks.
    pub cp_lacks_reflink: bool,
    /// What each source holds (KiB), by pair number.
    pub need: Vec<(usize, u64)>,
    /// What the targets' filesystem has free (KiB).
    pub free_kib: u64,
}

/// Pure: the probe script's output (`reflink yes|no|nocp`, `need I N` for pair
/// I, `free N`).
pub fn parse_probe(text: &str) -> Option<Probe> {
    let mut reflink = None;
    let mut need = Vec::new();
    let mut free = None;
    for l in text.lines() {
        let mut w = l.split_whitespace();
        match (w.next(), w.next(), w.next()) {
            (Some("reflink"), Some(v), None) => reflink = Some(v),
            (Some("need"), Some(i), Some(n)) => need.push((i.parse().ok()?, n.parse().ok()?)),
            // Not what the probe prints: the tools are not the ones it expects.
            (Some("need"), _, _) => return None,
            (Some("free"), Some(v), None) => free = v.parse::<u64>().ok(),
            _ => {}
        }
    }
    let r = reflink?;
    Some(Probe {
        reflink: r == "yes",
        cp_lacks_reflink: r == "nocp",
        need,
        free_kib: free?,
    })
}

impl Probe {
    /// What the sources hold in all (KiB).
    pub fn need_kib(&self) -> u64 {
        self.need.iter().map(|(_, n)| n).sum()
    }

    /// What the copy writes (KiB): everything on a plain copy; on a reflink
    /// copy only the pairs `streamed` (`--online`), whose bytes are new.
    pub fn writes_kib(&self, streamed: &[usize]) -> u64 {
        if self.reflink {
            self.need
                .iter()
                .filter(|(i, _)| streamed.contains(i))
                .map(|(_, n)| n)
                .sum()
        } else {
            self.need_kib()
        }
    }

    /// The copy's writes fit on the target's filesystem, with 5% (and at least
    /// 16 MiB) to spare; a reflink copy of files shares their blocks.
    pub fn fits(&self, streamed: &[usize]) -> bool {
        let w = self.writes_kib(streamed);
        if w == 0 {
            return true;
        }
        let spare = (w / 20).max(16 * 1024);
        w.saturating_add(spare) <= self.free_kib
    }
}

/// A running Postgres server, as its container answers (`--online`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PgServer {
    /// `show data_directory`.
    pub data_dir: String,
    /// The server's user (owns the data directory): the copy's files get it.
    pub uid: u32,
    pub gid: u32,
}

/// Pure: the Postgres probe's output (`data_directory`, `id -u`, `id -g`, a line
/// each); anything else is not a Postgres kinfra can copy online.
pub fn parse_pg_probe(text: &str) -> Option<PgServer> {
    let mut l = text.lines().map(str::trim).filter(|l| !l.is_empty());
    let data_dir = l.next()?.to_string();
    let uid = l.next()?.parse().ok()?;
    let gid = l.next()?.parse().ok()?;
    if l.next().is_some() || !data_dir.starts_with('/') {
        return None;
    }
    Some(PgServer { data_dir, uid, gid })
}

/// Pure: `docker inspect --format '{{range .Mounts}}{{.Name}}\t{{.Destination}}\n{{end}}'`:
/// (volume name, where it is mounted); bind mounts (no name) are left out.
pub fn parse_mounts(text: &str) -> Vec<(String, String)> {
    text.lines()
        .filter_map(|l| {
            let (name, dest) = l.split_once('\t')?;
            (!name.trim().is_empty() && dest.starts_with('/'))
                .then(|| (name.trim().to_string(), dest.trim().to_string()))
        })
        .collect()
}

/// Pure: where `data_dir` lies inside a volume mounted at `mount`, as a relative
/// path ("" when it is the volume itself); `None` when it is outside it, or when
/// the path has a part that is not a plain name (the server's answer is input: it
/// goes into the helper's script, so only `[A-Za-z0-9._-]` parts, no `..`).
pub fn data_dir_within(mount: &str, data_dir: &str) -> Option<String> {
    let norm = |p: &str| -> Option<Vec<String>> {
        let parts: Vec<String> = p
            .split('/')
            .filter(|c| !c.is_empty() && *c != ".")
            .map(String::from)
            .collect();
        parts
            .iter()
            .all(|c| {
                c != ".."
                    && c.chars()
                        .all(|x| x.is_ascii_alphanumeric() || matches!(x, '.' | '_' | '-'))
            })
            .then_some(parts)
    };
    let (m, d) = (norm(mount)?, norm(data_dir)?);
    d.starts_with(&m).then(|| d[m.len()..].join("/"))
}

/// Pure: a snapshot's name is a slug: a lowercase letter or digit, then a-z, 0-9
/// and `-`, at most 40 (it names volumes, never a path).
pub fn check_snapshot_name(name: &str) -> Result<(), String> {
    let mut c = name.chars();
    let ok = c
        .next()
        .is_some_and(|f| f.is_ascii_lowercase() || f.is_ascii_digit())
        && c.all(|x| x.is_ascii_lowercase() || x.is_ascii_digit() || x == '-')
        && name.len() <= 40;
    if ok {
        Ok(())
    } else {
        Err(format!(
            "{name:?} is not a snapshot name: a lowercase letter or digit first, then a-z, 0-9 and - (at most 40), such as `before-migration`"
        ))
    }
}

/// Pure: why snapshot `name` would be mistaken for an instance by `--data NAME`
/// (`local-prod`, local-prod's id, a sandbox's id shape, a registered sandbox
/// `sandbox` it resolves to); `None` when it would not.
pub fn snapshot_name_clash(
    name: &str,
    worktree_prefix: &str,
    local_prod_id: &str,
    registered_local_prod: Option<&str>,
    sandbox: Option<&str>,
) -> Option<String> {
    if name == "local-prod" || name == local_prod_id || registered_local_prod == Some(name) {
        return Some("it is local-prod's name".into());
    }
    if !worktree_prefix.is_empty() && name.starts_with(worktree_prefix) {
        return Some(format!(
            "it has the shape of a sandbox's name ({worktree_prefix}…)"
        ));
    }
    sandbox.map(|id| format!("it names the sandbox {id}"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn which_containers_compose_made() {
        // Captured (engine 20.10): a compose container, one run by hand, a missing one absent.
        let out = "3f1c0a9\t/shop-prod-db-1\tshop-prod\n9a2b11\t/bystander\t<no value>\n77aa00\t/other\t\n";
        let c = |id: &str, name: &str, compose| InspectedContainer {
            id: id.into(),
            name: name.into(),
            compose,
        };
        assert_eq!(
            container_projects(out),
            vec![
                c("3f1c0a9", "shop-prod-db-1", true),
                c("9a2b11", "bystander", false),
                c("77aa00", "other", false),
            ]
        );
        assert!(container_projects("").is_empty());
    }

    #[test]
    fn a_postgres_probe_parses_only_its_own_shape() {
        assert_eq!(
            parse_pg_probe("/var/lib/postgresql/data\n100\n102\n"),
            Some(PgServer {
                data_dir: "/var/lib/postgresql/data".into(),
                uid: 100,
                gid: 102
            })
        );
        assert_eq!(parse_pg_probe(""), None);
        assert_eq!(parse_pg_probe("relative\n1\n2\n"), None);
        assert_eq!(parse_pg_probe("/d\npostgres\n2\n"), None);
        assert_eq!(parse_pg_probe("/d\n1\n2\nmore\n"), None);
    }

    #[test]
    fn mounts_parse_and_leave_binds_out() {
        let m = parse_mounts("shop_pgdata\t/var/lib/postgresql/data\n\t/host/bind\nbad\n");
        assert_eq!(
            m,
            [(
                "shop_pgdata".to_string(),
                "/var/lib/postgresql/data".to_string()
            )]
        );
    }

    #[test]
    fn the_data_directory_is_found_inside_its_volume_or_refused() {
        let mount = "/var/lib/postgresql/data";
        assert_eq!(data_dir_within(mount, mount).as_deref(), Some(""));
        assert_eq!(
            data_dir_within(mount, "/var/lib/postgresql/data/pgdata/").as_deref(),
            Some("pgdata")
        );
        assert_eq!(data_dir_within(mount, "/var/lib/postgresql"), None);
        assert_eq!(data_dir_within(mount, "/srv/pg"), None);
        assert_eq!(
            data_dir_within(mount, "/var/lib/postgresql/data/../x"),
            None
        );
        assert_eq!(data_dir_within(mount, "/var/lib/postgresql/data/a b"), None);
        assert_eq!(
            data_dir_within(mount, "/var/lib/postgresql/data/$(x)"),
            None
        );
        assert_eq!(data_dir_within(mount, "/var/lib/postgresql/dataX"), None);
    }

    fn row(name: &str, project: &str, key: &str) -> VolumeRow {
        VolumeRow {
            name: name.into(),
            driver: "local".into(),
            project: project.into(),
            key: key.into(),
            snapshot: None,
        }
    }

    #[test]
    fn volume_rows_parse_from_captured_output_and_odd_lines_are_skipped() {
        let text = "shop--a_pgdata\tlocal\tshop--a\tpgdata\t\t\t\t\t\t\t\n\
kinfra-snap.shop.base.pgdata\tlocal\t\t\tbase\tshop\tpgdata\tpgdata\tshop-prod\tabc1234\t2026-12-02T05:00:00Z\n\
garbage line\n\
\tlocal\t\t\t\t\t\t\t\t\t\n";
        let rows = parse_volumes(text);
        assert_eq!(rows.len(), 2);
        assert_eq!(rows[0], row("shop--a_pgdata", "shop--a", "pgdata"));
        let s = rows[1].snapshot.as_ref().unwrap();
        assert_eq!(
            (s.name.as_str(), s.project.as_str(), s.source.as_str()),
            ("base", "shop", "shop-prod")
        );
        assert_eq!(volume_format().matches("{{.Label").count(), LABELS.len());
    }

    #[test]
    fn data_volumes_are_the_projects_named_volumes_but_caches_unless_listed() {
        let rows = vec![
            row("p_pgdata", "p", "pgdata"),
            row("p_build-cache", "p", "build-cache"),
            row("other_pgdata", "other", "pgdata"),
            row("p_uploads", "p", "uploads"),
        ];
        let s = select(&rows, "p", &DataSpec::default());
        let keys: Vec<&str> = s.data.iter().map(|d| d.key.as_str()).collect();
        assert_eq!(keys, ["pgdata", "uploads"]);
        assert!(s.inferred);
        assert_eq!(s.skipped[0].0, "build-cache");
        assert!(s.describe().contains("not build-cache: a cache"));

        let only = DataSpec {
            volumes: vec!["build-cache".into()],
            exclude: vec![],
        };
        let s = select(&rows, "p", &only);
        assert_eq!(s.data.len(), 1);
        assert_eq!(s.data[0].key, "build-cache");
        assert!(!s.inferred);

        let ex = DataSpec {
            volumes: vec![],
            exclude: vec!["uploads".into()],
        };
        let s = select(&rows, "p", &ex);
        assert_eq!(s.data.len(), 1);
        assert_eq!(s.data[0].key, "pgdata");
    }

    #[test]
    fn a_copys_volume_is_named_as_compose_or_isolation_would_name_it() {
        // compose's own naming
        assert_eq!(suffix("shop--a", "shop--a_pgdata"), "pgdata");
        assert_eq!(target_name("shop--b", "pgdata"), "shop--b_pgdata");
        // local-prod keeps a fixed `name:`; a sandbox gets `<instance>_<name>`
        assert_eq!(suffix("shop", "legacy-data"), "legacy-data");
        assert_eq!(target_name("shop--b", "legacy-data"), "shop--b_legacy-data");
        // a prefix that only looks like the instance's is not stripped
        assert_eq!(suffix("shop", "shopping_x"), "shopping_x");
        assert_eq!(suffix("shop", "shop_"), "shop_");
    }

    #[test]
    fn snapshot_volume_names_never_collide_across_projects_and_names() {
        let a = snapshot_volume("a-b", "c", "d");
        let b = snapshot_volume("a", "b-c", "d");
        assert_ne!(a, b);
    }

    #[test]
    fn snapshots_group_their_volumes() {
        let text = "kinfra-snap.p.base.pgdata\tlocal\t\t\tbase\tp\tpgdata\tpgdata\tp\tc1\tt\n\
kinfra-snap.p.base.files\tlocal\t\t\tbase\tp\tfiles\tfiles\tp\tc1\tt\n\
kinfra-snap.q.base.pgdata\tlocal\t\t\tbase\tq\tpgdata\tpgdata\tq\tc2\tt\n";
        let s = snapshots(&parse_volumes(text));
        assert_eq!(s.len(), 2);
        assert_eq!(s[0].project, "p");
        let keys: Vec<&str> = s[0].volumes.iter().map(|v| v.key.as_str()).collect();
        assert_eq!(keys, ["files", "pgdata"]);
    }

    #[test]
    fn the_probe_reads_and_a_plain_copy_must_fit() {
        let p = parse_probe("reflink no\nneed 0 1000\nneed 1 24\nfree 50000\n").unwrap();
        assert_eq!(p.need_kib(), 1024);
        assert!(p.fits(&[]));
        let p = parse_probe("reflink no\nneed 0 1048576\nfree 1048576\n").unwrap();
        assert!(!p.fits(&[]));
        let p = parse_probe("reflink yes\nneed 0 1048576\nfree 10\n").unwrap();
        assert!(p.fits(&[]));
        // Streamed bytes are new even on reflink storage: only those count.
        let p = parse_probe("reflink yes\nneed 0 1048576\nneed 1 100\nfree 500000\n").unwrap();
        assert_eq!(p.writes_kib(&[0]), 1048576);
        assert!(!p.fits(&[0]));
        assert!(p.fits(&[1]));
        let p = parse_probe("reflink nocp\nneed 0 1\nfree 99999999\n").unwrap();
        assert!(p.cp_lacks_reflink && !p.reflink);
        assert_eq!(parse_probe("need 0 1\nfree 2\n"), None);
        assert_eq!(parse_probe("reflink no\nneed 1\nfree 2\n"), None);
        assert_eq!(parse_probe("reflink no\nneed 0 x\nfree 2\n"), None);
    }

    #[test]
    fn a_snapshot_is_never_named_like_an_instance() {
        let clash = |n, s| snapshot_name_clash(n, "shop--", "shop-prod", Some("shop-main"), s);
        assert!(clash("local-prod", None).unwrap().contains("local-prod"));
        assert!(clash("shop-prod", None).is_some());
        assert!(clash("shop-main", None).is_some());
        assert!(clash("shop--a", None).unwrap().contains("shape"));
        assert!(clash("a", Some("shop--a")).unwrap().contains("shop--a"));
        assert_eq!(clash("before-migration", None), None);
    }

    #[test]
    fn snapshot_names_are_slugs_never_paths() {
        assert!(check_snapshot_name("before-migration").is_ok());
        for bad in ["", "../x", "a/b", "-a", "A", "a.b", &"x".repeat(41)] {
            assert!(check_snapshot_name(bad).is_err(), "{bad}");
        }
    }
}
