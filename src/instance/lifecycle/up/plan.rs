//! `up`'s plan: what a start acts on, worked out once before anything starts (the
//! instance, the compose files compose runs, their environment and profiles, the
//! ports to find free, the secrets to fetch, the engine) and handed to each step.
//!
//! The checkout is read once ([`Sources`]); everything else follows from it and
//! the instance by a pure function ([`UpPlan::new`]). A step that changes the
//! instance (the file's sync, ports chosen for services the compose file gained)
//! returns the new instance, and the plan is made again from it
//! ([`UpPlan::with_instance`]): no later step, nor what `up` prints, can see the
//! instance as it was before.

use std::path::{Path, PathBuf};

use crate::engine::Engine;
use crate::instance::Instance;
use crate::instance::error::Result;
use crate::stack::{Kind, SecretField, SecretRef, Stack};
use crate::state::context::Context;
use crate::tools::compose::Project;

/// What `up` reads from the checkout, once (no compose call, no Docker call).
#[derive(Debug, Clone, PartialEq)]
pub struct Sources {
    /// The repository's compose files, checked to be inside the checkout.
    pub files: Vec<PathBuf>,
    /// Their text, one after the other: the variables they read, their ports.
    pub text: String,
    /// Profiles `COMPOSE_PROFILES` switches on (environment or `.env`), as compose
    /// does: their services and ports are the instance's too.
    pub env_profiles: Vec<String>,
    /// Where kinfra keeps the shared directories.
    pub shared_dir: PathBuf,
    /// The main clone of the checkout: whose consent the prepare commands need,
    /// where `dotenv://` references are read.
    pub main_clone: PathBuf,
}

impl Sources {
    pub fn read(ctx: &Context, stack: &Stack, dir: &Path) -> Result<Sources> {
        let files = stack.compose_files_in(dir)?;
        let text = crate::stack::compose_text(&files)?;
        Ok(Sources {
            files,
            text,
            env_profiles: crate::tools::compose::env_profiles(dir),
            shared_dir: ctx.shared_dir(),
            main_clone: crate::tools::git::read_main_clone(dir),
        })
    }
}

/// What choosing the ports made (`port_scheme = "auto"`): the resolved copy
/// compose runs and what its model says.
#[derive(Debug, Clone, PartialEq)]
pub struct Resolution {
    pub file: PathBuf,
    /// The model's services (the gate watches them).
    pub services: Vec<String>,
    /// Services on the host's network (one instance of the project at a time).
    pub host_network: Vec<String>,
}

/// The 1Password item a kind of instance reads, and its fields.
#[derive(Debug, Clone, PartialEq)]
pub struct Item {
    pub name: String,
    pub fields: Vec<SecretField>,
}

/// The secrets a start of the instance reads (never their values): the fields of
/// the item its kind maps, and its secrets given by reference. `up`, the host
/// services and `compose` fetch them the same way ([`super::load_secrets`]).
#[derive(Debug, Clone, PartialEq)]
pub struct SecretsPlan {
    pub id: String,
    pub kind: Kind,
    /// The item whose fields the kind reads (`None`: the stack maps none).
    pub item: Option<Item>,
    /// The kind's secrets given by reference.
    pub refs: Vec<SecretRef>,
    /// Where `dotenv://` references are read from.
    pub main_clone: PathBuf,
}

impl SecretsPlan {
    /// Pure: what `inst` reads under `stack`.
    pub fn new(stack: &Stack, inst: &Instance, main_clone: PathBuf) -> SecretsPlan {
        let fields: Vec<SecretField> = stack.fields_for(inst.kind).into_iter().cloned().collect();
        SecretsPlan {
            id: inst.id().to_string(),
            kind: inst.kind,
            item: (!fields.is_empty()).then(|| Item {
                name: stack.item_for(inst.kind).to_string(),
                fields,
            }),
            refs: stack.secret_refs_for(inst.kind).to_vec(),
            main_clone,
        }
    }

    /// For a command that reads no more of the checkout than its main clone.
    pub fn of(stack: &Stack, inst: &Instance) -> SecretsPlan {
        SecretsPlan::new(stack, inst, crate::tools::git::read_main_clone(&inst.dir))
    }
}

/// Everything `up` acts on.
#[derive(Debug, Clone)]
pub struct UpPlan {
    pub instance: Instance,
    pub sources: Sources,
    pub resolution: Option<Resolution>,
    /// What compose runs: the resolved copy (or the repository's files), the
    /// kind's profiles and the instance's variables. Secrets are never part of
    /// the plan: they join compose's environment only as it starts.
    pub project: Project,
    /// The instance's own host ports, found free before anything starts: those the
    /// compose file publishes, a shared service's fixed ones left out.
    pub ports: Vec<(String, u16)>,
    pub secrets: SecretsPlan,
    /// Another machine's engine the instance is placed on (`None`: this machine's).
    pub engine: Option<Engine>,
}

impl UpPlan {
    /// Pure: the plan for `instance` from what was read of its checkout and, under
    /// the auto scheme, the ports chosen for it.
    pub fn new(
        stack: &Stack,
        instance: Instance,
        sources: Sources,
        resolution: Option<Resolution>,
        engine: Option<Engine>,
    ) -> UpPlan {
        let files = match &resolution {
            Some(r) => vec![r.file.clone()],
            None => sources.files.clone(),
        };
        let mut project = Project::new(
            instance.id(),
            files.first().map_or(Path::new(""), PathBuf::as_path),
            &instance.dir,
        );
        project.files = files;
        project.profiles = crate::tools::compose::merge_profiles(
            stack.profiles_for(instance.kind),
            sources.env_profiles.clone(),
        );
        project.env = instance.env.compose_vars(stack, &sources.shared_dir);
        let own: Vec<(String, u16)> = instance
            .env
            .ports
            .iter()
            .filter(|(k, _)| !crate::stack::ports::is_fixed(stack, k))
            .cloned()
            .collect();
        // Under the auto scheme every port the instance has is one its model
        // publishes; else a key only in a comment is unused.
        let ports = if stack.auto_ports {
            own
        } else {
            published_keys(&sources.text, &own)
        };
        UpPlan {
            secrets: SecretsPlan::new(stack, &instance, sources.main_clone.clone()),
            instance,
            sources,
            resolution,
            project,
            ports,
            engine,
        }
    }

    /// The plan again for the instance a step returned (and, under the auto
    /// scheme, the ports it chose).
    pub fn with_instance(
        self,
        stack: &Stack,
        instance: Instance,
        resolution: Option<Resolution>,
    ) -> UpPlan {
        UpPlan::new(stack, instance, self.sources, resolution, self.engine)
    }

    /// The model's services, when kinfra resolved it (the gate watches them).
    pub fn services(&self) -> Option<Vec<String>> {
        self.resolution.as_ref().map(|r| r.services.clone())
    }
}

/// Port keys the compose file really publishes (a key only in a comment is unused).
pub(super) fn published_keys(compose_text: &str, keys: &[(String, u16)]) -> Vec<(String, u16)> {
    let used = crate::tools::compose::variables(compose_text);
    keys.iter()
        .filter(|(k, _)| used.contains(k.as_str()))
        .cloned()
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::instance::model::env::SandboxEnv;
    use crate::stack::KTRDR_2026;

    const KTRDR_COMPOSE: &str =
        include_str!("../../../../tests/fixtures/ktrdr-2c5c7173/docker-compose.sandbox.yml");

    fn sources(text: &str) -> Sources {
        Sources {
            files: vec![PathBuf::from("/w/ktrdr--a/docker-compose.sandbox.yml")],
            text: text.to_string(),
            env_profiles: vec!["extra".into()],
            shared_dir: PathBuf::from("/h/shared"),
            main_clone: PathBuf::from("/w/ktrdr"),
        }
    }

    fn instance(stack: &Stack, slot: u8, id: &str) -> Instance {
        Instance {
            kind: Kind::of_slot(slot),
            dir: PathBuf::from(format!("/w/{id}")),
            env: SandboxEnv::new(stack, slot, id, Path::new("/h/shared"), "t"),
        }
    }

    #[test]
    fn a_sandbox_plan_runs_the_repositorys_files_with_its_ports_and_item() {
        let s = &*KTRDR_2026;
        let p = UpPlan::new(
            s,
            instance(s, 3, "ktrdr--a"),
            sources(KTRDR_COMPOSE),
            None,
            None,
        );
        assert_eq!(p.project.name, "ktrdr--a");
        assert_eq!(p.project.files, p.sources.files);
        assert_eq!(p.project.dir, PathBuf::from("/w/ktrdr--a"));
        assert_eq!(p.project.profiles, vec!["extra".to_string()]);
        let env: std::collections::BTreeMap<_, _> = p.project.env.iter().cloned().collect();
        assert_eq!(env["KTRDR_API_PORT"], "8003");
        assert_eq!(env["COMPOSE_PROJECT_NAME"], "ktrdr--a");
        assert_eq!(env["KTRDR_ENV"], "development");
        assert_eq!(env["KTRDR_DATA_DIR"], "/h/shared/data");
        // Its own ports, found free before the start: the shared observability
        // stack's fixed ones are not its to hold.
        let keys: Vec<&str> = p.ports.iter().map(|(k, _)| k.as_str()).collect();
        assert!(
            keys.contains(&"KTRDR_API_PORT") && keys.contains(&"KTRDR_DB_PORT"),
            "{keys:?}"
        );
        assert!(!keys.contains(&"KTRDR_JAEGER_UI_PORT"), "{keys:?}");
        let item = p.secrets.item.as_ref().expect("the sandbox item");
        assert_eq!(item.name, "ktrdr-sandbox-dev");
        assert!(item.fields.iter().any(|f| f.var == "KTRDR_FRED_API_KEY"));
        assert!(p.services().is_none());
        assert!(p.engine.is_none());
    }

    #[test]
    fn a_key_only_in_a_comment_is_not_a_port_to_check() {
        let s = &*KTRDR_2026;
        let text =
            "ports:\n  - \"${KTRDR_API_PORT:-8000}:8000\"\n#  - \"${KTRDR_DB_PORT:-5432}:5432\"\n";
        let p = UpPlan::new(s, instance(s, 1, "ktrdr--b"), sources(text), None, None);
        assert_eq!(p.ports, vec![("KTRDR_API_PORT".to_string(), 8001)]);
    }

    #[test]
    fn local_prod_adds_its_profile_and_reads_its_own_item() {
        let s = &*KTRDR_2026;
        let p = UpPlan::new(
            s,
            instance(s, 0, "ktrdr-prod"),
            sources(KTRDR_COMPOSE),
            None,
            None,
        );
        assert_eq!(p.secrets.kind, Kind::LocalProd);
        assert_eq!(
            p.project.profiles,
            vec!["local-prod".to_string(), "extra".to_string()]
        );
        let item = p.secrets.item.as_ref().expect("the local-prod item");
        assert_eq!(item.name, "ktrdr-local-prod");
        assert!(!item.fields.iter().any(|f| f.var == "KTRDR_FRED_API_KEY"));
        let env: std::collections::BTreeMap<_, _> = p.project.env.iter().cloned().collect();
        assert_eq!(env["KTRDR_API_PORT"], "8000");
        assert_eq!(env["KTRDR_ENV"], "production");
    }

    #[test]
    fn a_step_that_changes_the_instance_gives_a_plan_made_from_the_new_one() {
        // `up` on a project that gained a service: ports chosen for it, the
        // resolved copy run; the plan (and what is printed from it) is the new one.
        let s = Stack::inferred("gains", "compose.yaml").unwrap();
        let mut inst = instance(&s, 1, "gains--a");
        inst.env.ports = vec![("PORT_WEB_80".into(), 18590)];
        let first = UpPlan::new(&s, inst.clone(), sources("services: {}\n"), None, None);
        assert_eq!(first.ports, vec![("PORT_WEB_80".to_string(), 18590)]);
        let mut grown = inst;
        grown.env.ports.push(("PORT_EXTRA_81".into(), 18600));
        let copy = PathBuf::from("/h/models/gains--a.json");
        let next = first.with_instance(
            &s,
            grown,
            Some(Resolution {
                file: copy.clone(),
                services: vec!["web".into(), "extra".into()],
                host_network: Vec::new(),
            }),
        );
        assert_eq!(next.project.files, vec![copy]);
        assert_eq!(next.ports.len(), 2, "{:?}", next.ports);
        assert!(
            next.project
                .env
                .contains(&("PORT_EXTRA_81".into(), "18600".into()))
        );
        assert_eq!(next.instance.env.ports.len(), 2);
        assert_eq!(next.services(), Some(vec!["web".into(), "extra".into()]));
        assert_eq!(
            next.sources.main_clone,
            PathBuf::from("/w/ktrdr"),
            "read once, kept"
        );
        assert!(
            next.secrets.item.is_none(),
            "an inferred stack maps no 1Password fields"
        );
        assert_eq!(next.secrets.id, "gains--a");
    }
}
