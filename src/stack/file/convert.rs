//! `kinfra.toml` as written, checked and turned into a [`Stack`]: each section's
//! rules in a function of its own, called in the file's order by
//! [`Raw::into_stack`]. Errors are one sentence naming the key.

use super::*;

type Checked<T> = std::result::Result<T, String>;

impl Raw {
    pub fn into_stack(self) -> Checked<Stack> {
        let slug = crate::support::slug::slugify(&self.name)
            .map_err(|e| format!("name {:?} cannot name compose projects: {e}", self.name))?;
        if self.max_slot == 0 {
            return Err("max_slot must be at least 1".into());
        }
        let compose_files = match self.compose_file {
            ComposeFiles::One(f) => vec![f],
            ComposeFiles::Many(fs) => fs,
        };
        check_paths(&self.carry, &compose_files)?;
        let Some(first) = compose_files.first().cloned() else {
            return Err("compose_file names no file".into());
        };
        let auto_ports = auto_ports(self.port_scheme.as_deref(), !self.ports.is_empty())?;
        let ports: Vec<PortRule> = self
            .ports
            .into_iter()
            .map(|p| port_rule(p, self.max_slot))
            .collect::<Checked<_>>()?;
        // Under the auto scheme a check names an allocated port by its key,
        // `PORT_<SERVICE>_<TARGET>`.
        let need = |what: &str, k: &str| {
            if ports.iter().any(|p| p.key == k)
                || (auto_ports && k.starts_with(crate::tools::model::PORT_PREFIX))
            {
                Ok(())
            } else {
                Err(format!(
                    "{what} names port {k:?}, which [[ports]] does not define"
                ))
            }
        };
        let gate = gate_checks(self.gate, &need)?;
        let api_port_key = api_port(self.api_port, &self.links, &ports, &need)?;
        let post_start = self.post_start.map(post_start).transpose()?;
        let shared_subdirs: Vec<String> = self.shared_dirs.into_iter().map(|d| d.0).collect();
        let env_prefix = self
            .env_prefix
            .map(|e| e.0)
            .unwrap_or_else(|| default_env_prefix(&slug));
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
        // A name the file leaves out follows from the stack's name.
        let or_named = |given: Option<String>, suffix: &str| {
            given.unwrap_or_else(|| format!("{slug}{suffix}"))
        };
        let worktree_prefix = or_named(self.worktree_prefix.map(|p| p.0), "--");
        let local_prod_id = or_named(self.local_prod.project.map(|p| p.0), "-prod");
        let shared = shared_services(self.shared, &slug, &local_prod_id, &worktree_prefix)?;
        Ok(Stack {
            compose_file: first,
            compose_files,
            profiles: self.profiles.into_iter().map(|p| p.0).collect(),
            repo_marker: self.repo_marker.filter(|m| !m.is_empty()),
            worktree_prefix,
            local_prod_id,
            local_prod_profile: self.local_prod.profile.map(|p| p.0),
            sandbox_item: or_named(self.sandbox.item.map(|i| i.0), "-sandbox-dev"),
            local_prod_item: or_named(self.local_prod.item.map(|i| i.0), "-local-prod"),
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
            budget: budget(self.budget)?,
            carry: self.carry,
            shared_volumes: self.shared_volumes,
            shared_networks: self.shared_networks,
            host_paths: isolate_host_paths(self.isolate)?,
            origin: String::new(),
            shared,
            prepare: prepare_steps(self.prepare)?,
            host: host_services(self.host)?,
            builtin: false,
            workflow: workflow(self.workflow, &slug)?,
            data: data(self.data)?,
            router: RouterSettings {
                auto_start: self.router.auto_start.unwrap_or(true),
                idle_stop: self.router.idle_stop,
            },
            notes: Vec::new(),
            name: self.name,
        })
    }
}

/// `api_port` (else the first port's key), after every link's port is checked.
fn api_port(
    given: Option<String>,
    links: &[Link],
    ports: &[PortRule],
    need: &dyn Fn(&str, &str) -> Checked<()>,
) -> Checked<String> {
    for l in links {
        if !l.port_key.ends_with('_') {
            need(&format!("link {:?}", l.label), &l.port_key)?;
        }
    }
    match given {
        Some(k) => {
            need("api_port", &k)?;
            Ok(k)
        }
        None => Ok(ports.first().map(|p| p.key.clone()).unwrap_or_default()),
    }
}

/// Every path the file names stays inside the repository.
fn check_paths(carry: &[Carry], compose_files: &[String]) -> Checked<()> {
    let carried = carry.iter().flat_map(|c| [Some(&c.from), c.to.as_ref()]);
    for (what, f) in carried
        .flatten()
        .map(|f| ("carry", f))
        .chain(compose_files.iter().map(|f| ("compose_file", f)))
    {
        if !inside_repo(f) {
            return Err(format!("{what} {f:?} must be a path inside the repository"));
        }
    }
    Ok(())
}

/// `port_scheme`: true when kinfra picks every published port itself.
fn auto_ports(scheme: Option<&str>, has_ports: bool) -> Checked<bool> {
    match scheme {
        None => Ok(!has_ports),
        Some("auto") if has_ports => Err(
            "port_scheme = \"auto\" chooses every host port itself: remove [[ports]], or use port_scheme = \"env\"".into(),
        ),
        Some("auto") => Ok(true),
        Some("env") => Ok(false),
        Some(other) => Err(format!(
            "port_scheme {other:?} is not a scheme: \"auto\" (kinfra picks each published port) or \"env\" ([[ports]] keys the compose file reads)"
        )),
    }
}

/// One `[[ports]]` entry: `fixed`, or `local_prod` with an optional `base`/`step`
/// that stays below 65536 up to the last slot.
fn port_rule(p: Port, max_slot: u8) -> Checked<PortRule> {
    if let Some(PortNumber(f)) = p.fixed {
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
    let Some(PortNumber(local_prod)) = p.local_prod else {
        return Err(format!(
            "port {}: needs `local_prod` (the port at slot 0), or `fixed` (the same for every instance)",
            p.key
        ));
    };
    let sandbox = match (p.base.map(|b| b.0), p.step) {
        (Some(b), Some(s)) => Some((b, s)),
        (Some(b), None) => Some((b, 1)),
        (None, None) => None,
        (None, Some(_)) => {
            return Err(format!("port {}: `step` needs a `base`", p.key));
        }
    };
    if let Some((b, s)) = sandbox
        && u32::from(b) + u32::from(s) * u32::from(max_slot) > 65535
    {
        return Err(format!(
            "port {}: {b} + {s} × slot passes 65535 before slot {max_slot}",
            p.key
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
}

/// `[[gate]]`: exactly one kind of check each, on a known port, requiring only an
/// earlier check.
fn gate_checks(
    raw: Vec<Gate>,
    need: &dyn Fn(&str, &str) -> Checked<()>,
) -> Checked<Vec<GateCheck>> {
    let mut gate: Vec<GateCheck> = Vec::new();
    for g in raw {
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
            && !gate.iter().any(|c| &c.name == r)
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
    Ok(gate)
}

/// `[post_start]`: a script embedded in kinfra, or one inside the repository.
fn post_start(p: Post) -> Checked<PostStart> {
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
}

/// The prefix of the variables kinfra writes, from the stack's name.
fn default_env_prefix(slug: &str) -> String {
    let p = slug.to_uppercase().replace('-', "_");
    // A name starting with a digit is no variable name, and one like `docker-shop`
    // would make `DOCKER_SHOP_SHARED_DIR`, which steers docker: the project never
    // chose this prefix, so it is never refused for it; a leading `_` makes it safe.
    let made = format!("{p}_SHARED_DIR");
    if crate::support::validate::env_name(&p).is_ok()
        && !crate::support::validate::steers_processes(&made)
    {
        p
    } else {
        format!("_{p}")
    }
}

/// `[budget]`, its memory a size.
fn budget(raw: RawBudget) -> Checked<Budget> {
    Ok(Budget {
        max_running: raw.max_running,
        memory: match raw.memory {
            Some(m) => Some(crate::support::units::parse_bytes(&m).ok_or_else(|| {
                format!("budget.memory {m:?} is not a size (examples: 8G, 512M)")
            })?),
            None => None,
        },
    })
}

#[cfg(test)]
mod prefix_tests {
    use super::default_env_prefix;
    use crate::support::validate::{env_name, steers_processes};

    #[test]
    fn a_derived_prefix_is_a_name_that_steers_nothing() {
        for (slug, want) in [
            ("shop", "SHOP"),
            ("my-app", "MY_APP"),
            ("2fa", "_2FA"),
            ("docker-mailserver", "_DOCKER_MAILSERVER"),
            ("compose-demo", "_COMPOSE_DEMO"),
            ("git-server", "_GIT_SERVER"),
            ("python-api", "_PYTHON_API"),
            ("ld-app", "_LD_APP"),
            ("ld", "_LD"),
            ("path", "PATH"),
        ] {
            let p = default_env_prefix(slug);
            assert_eq!(p, want, "{slug}");
            assert!(env_name(&p).is_ok(), "{p}");
            assert!(!steers_processes(&format!("{p}_SHARED_DIR")), "{p}");
        }
    }
}
