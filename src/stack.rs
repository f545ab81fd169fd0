//! Everything specific to KTRDR, as data: ports table, env keys, compose file name,
//! profile, 1Password items and field mapping, gate checks and the post-start step.
//! The rest of kinfra is generic and reads its decisions from here.

/// A port key and how its value follows from the slot.
#[derive(Debug, Clone, Copy)]
pub struct PortRule {
    pub key: &'static str,
    /// The port at slot 0 (local-prod).
    pub slot0: u16,
    /// For slots 1–10: `base + step * slot`; `None` when sandboxes do not get it.
    pub sandbox: Option<(u16, u16)>,
}

/// One startability check, run after `up`.
#[derive(Debug, Clone, Copy)]
pub enum Check {
    /// The port accepts a TCP connection.
    Tcp { port_key: &'static str },
    /// `GET path` answers one of `ok` statuses.
    Http {
        port_key: &'static str,
        path: &'static str,
        ok: &'static [u16],
    },
    /// `GET path` answers a JSON list (or `{"workers":[…]}`) of at least `min` items.
    WorkerList {
        port_key: &'static str,
        path: &'static str,
        min: usize,
    },
}

#[derive(Debug, Clone, Copy)]
pub struct GateCheck {
    pub name: &'static str,
    /// The compose service behind the check: its logs are shown when it fails.
    pub service: &'static str,
    pub check: Check,
    /// Skipped (not run) when this earlier check failed.
    pub requires: Option<&'static str>,
}

/// A script embedded in the binary, run inside a service after start.
#[derive(Debug, Clone, Copy)]
pub struct PostStart {
    pub name: &'static str,
    pub service: &'static str,
    /// Path under `embedded/`.
    pub script: &'static str,
}

#[derive(Debug, Clone, Copy)]
pub struct SecretField {
    pub field: &'static str,
    pub var: &'static str,
    /// What it is for, shown by the installer.
    pub purpose: &'static str,
    /// Whether setup may generate a random value for it.
    pub generated: bool,
}

/// How to show a port to the person: a label and a template where `{port}` is the
/// port. A key ending in `_` stands for every key with that prefix (listed together).
#[derive(Debug, Clone, Copy)]
pub struct Link {
    pub label: &'static str,
    pub port_key: &'static str,
    pub template: &'static str,
}

/// The whole description of a stack kinfra manages.
#[derive(Debug)]
pub struct Stack {
    pub name: &'static str,
    pub compose_file: &'static str,
    /// Substring the `origin` URL must contain (case-insensitive).
    pub repo_marker: &'static str,
    pub worktree_prefix: &'static str,
    pub local_prod_id: &'static str,
    pub local_prod_profile: &'static str,
    pub sandbox_item: &'static str,
    pub local_prod_item: &'static str,
    pub max_slot: u8,
    pub ports: &'static [PortRule],
    /// The port key shown as "API port" in lists.
    pub api_port_key: &'static str,
    pub secret_fields: &'static [SecretField],
    pub gate: &'static [GateCheck],
    pub post_start: Option<PostStart>,
    pub shared_subdirs: &'static [&'static str],
    /// What `status`, `up` and the installer's summary show, in order.
    pub links: &'static [Link],
}

const fn rule(key: &'static str, slot0: u16, base: u16, step: u16) -> PortRule {
    PortRule {
        key,
        slot0,
        sandbox: Some((base, step)),
    }
}

const fn link(label: &'static str, port_key: &'static str, template: &'static str) -> Link {
    Link {
        label,
        port_key,
        template,
    }
}

const fn prod_only(key: &'static str, slot0: u16) -> PortRule {
    PortRule {
        key,
        slot0,
        sandbox: None,
    }
}

pub static KTRDR: Stack = Stack {
    name: "KTRDR",
    compose_file: "docker-compose.sandbox.yml",
    repo_marker: "ktrdr",
    worktree_prefix: "ktrdr--",
    local_prod_id: "ktrdr-prod",
    local_prod_profile: "local-prod",
    sandbox_item: "ktrdr-sandbox-dev",
    local_prod_item: "ktrdr-local-prod",
    max_slot: 10,
    ports: &[
        rule("KTRDR_API_PORT", 8000, 8000, 1),
        rule("KTRDR_DB_PORT", 5432, 5432, 1),
        rule("KTRDR_GRAFANA_PORT", 3000, 3000, 1),
        rule("KTRDR_JAEGER_UI_PORT", 16686, 16686, 1),
        rule("KTRDR_JAEGER_OTLP_GRPC_PORT", 4317, 4317, 10),
        rule("KTRDR_JAEGER_OTLP_HTTP_PORT", 4318, 4318, 10),
        rule("KTRDR_PROMETHEUS_PORT", 9090, 9090, 1),
        // Sandbox workers start at 5011 so they never meet slot 0's 5003-5010.
        rule("KTRDR_WORKER_PORT_1", 5003, 5001, 10),
        rule("KTRDR_WORKER_PORT_2", 5004, 5002, 10),
        rule("KTRDR_WORKER_PORT_3", 5005, 5003, 10),
        rule("KTRDR_WORKER_PORT_4", 5006, 5004, 10),
        prod_only("KTRDR_WORKER_PORT_5", 5007),
        prod_only("KTRDR_WORKER_PORT_6", 5008),
        prod_only("KTRDR_WORKER_PORT_7", 5009),
        prod_only("KTRDR_WORKER_PORT_8", 5010),
    ],
    api_port_key: "KTRDR_API_PORT",
    links: &[
        link("API", "KTRDR_API_PORT", "http://localhost:{port}/api/v1"),
        link("database", "KTRDR_DB_PORT", "localhost:{port}"),
        link("Grafana", "KTRDR_GRAFANA_PORT", "http://localhost:{port}"),
        link("Jaeger", "KTRDR_JAEGER_UI_PORT", "http://localhost:{port}"),
        link(
            "Prometheus",
            "KTRDR_PROMETHEUS_PORT",
            "http://localhost:{port}",
        ),
        link("workers", "KTRDR_WORKER_PORT_", "{port}"),
    ],
    secret_fields: &[
        SecretField {
            field: "db_password",
            var: "DB_PASSWORD",
            purpose: "password of the Postgres database (set when its volume is first created)",
            generated: true,
        },
        SecretField {
            field: "jwt_secret",
            var: "JWT_SECRET",
            purpose: "key the backend signs its API tokens with",
            generated: true,
        },
        SecretField {
            field: "anthropic_api_key",
            var: "ANTHROPIC_API_KEY",
            purpose: "Anthropic API key for the research agents (yours; not generated)",
            generated: false,
        },
        SecretField {
            field: "grafana_password",
            var: "GF_ADMIN_PASSWORD",
            purpose: "Grafana admin password",
            generated: true,
        },
    ],
    gate: &[
        GateCheck {
            name: "database",
            service: "db",
            check: Check::Tcp {
                port_key: "KTRDR_DB_PORT",
            },
            requires: None,
        },
        GateCheck {
            name: "backend",
            service: "backend",
            check: Check::Http {
                port_key: "KTRDR_API_PORT",
                path: "/api/v1/health",
                ok: &[200],
            },
            requires: None,
        },
        GateCheck {
            name: "workers",
            service: "backend",
            check: Check::WorkerList {
                port_key: "KTRDR_API_PORT",
                path: "/api/v1/workers",
                min: 4,
            },
            requires: Some("backend"),
        },
        GateCheck {
            name: "jaeger",
            service: "jaeger",
            check: Check::Http {
                port_key: "KTRDR_JAEGER_UI_PORT",
                path: "/",
                ok: &[200, 302],
            },
            requires: None,
        },
    ],
    post_start: Some(PostStart {
        name: "database migrations",
        service: "backend",
        script: "post-start/migrate.sh",
    }),
    shared_subdirs: &["data", "models", "strategies"],
};

impl Stack {
    pub fn item_for(&self, local_prod: bool) -> &'static str {
        if local_prod {
            self.local_prod_item
        } else {
            self.sandbox_item
        }
    }
}
