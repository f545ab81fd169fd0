//! Snapshots of the human output of `status`, `list`, `doctor` and `stack check`,
//! each rendered from fixed typed values (nothing read from Docker, git or the
//! disk): a change to what people read shows as a diff of a committed file under
//! `snapshots/`. Review one with `cargo insta review`, or rerun with
//! `INSTA_UPDATE=always` and read the diff before committing it.

use std::path::PathBuf;

use crate::instance::host::services::HostState;
use crate::instance::shared::services::SharedState;
use crate::instance::{ListRow, Listing, ServiceState, Status, StatusReport};
use crate::stack::check::{Finding, Severity};
use crate::tools::prereq::{self, Check};

/// Plain text, as through a pipe or with NO_COLOR: the snapshots hold no escapes.
fn plain() {
    console::set_colors_enabled(false);
}

fn service(name: &str, state: &str, health: Option<&str>) -> ServiceState {
    ServiceState {
        service: name.into(),
        state: state.into(),
        health: health.map(String::from),
        status: "Up 3 minutes".into(),
    }
}

fn status(kind: &'static str, slot: u8, services: Vec<ServiceState>) -> Status {
    Status {
        instance_id: if slot == 0 {
            "ktrdr-prod".into()
        } else {
            "ktrdr--feature-x".into()
        },
        kind,
        slot,
        path: PathBuf::from(if slot == 0 {
            "/home/dev/ktrdr"
        } else {
            "/home/dev/ktrdr--feature-x"
        }),
        state: "partial 2/3".into(),
        registered: true,
        ports: [("KTRDR_API_PORT".to_string(), 8001)].into(),
        services,
        foreign: Vec::new(),
        shared: Vec::new(),
    }
}

fn links() -> Vec<(String, String)> {
    vec![
        ("API".into(), "http://localhost:8001".into()),
        ("Database".into(), "localhost:5433".into()),
    ]
}

#[test]
fn status_of_a_sandbox() {
    plain();
    let report = StatusReport {
        engine: None,
        status: status(
            "sandbox",
            1,
            vec![
                service("backend", "running", Some("healthy")),
                service("db", "running", Some("starting")),
                service("worker", "exited", None),
            ],
        ),
        shared_services: Vec::new(),
        host_services: Vec::new(),
    };
    insta::assert_snapshot!(super::status::render(&report, &links()).join("\n"));
}

#[test]
fn status_of_a_sandbox_with_notes_and_shared_services() {
    plain();
    let mut s = status("sandbox", 2, Vec::new());
    s.state = "foreign".into();
    s.registered = false;
    s.foreign = vec!["/home/dev/other-clone".into()];
    s.shared = vec!["network devops-ai-observability (external)".into()];
    let report = StatusReport {
        engine: None,
        status: s,
        shared_services: vec![
            SharedState {
                name: "observability".into(),
                project: "devops-ai-observability".into(),
                running: 3,
                containers: 3,
            },
            SharedState {
                name: "mailhog".into(),
                project: "shared-mailhog".into(),
                running: 1,
                containers: 2,
            },
            SharedState {
                name: "minio".into(),
                project: "shared-minio".into(),
                running: 0,
                containers: 0,
            },
        ],
        host_services: Vec::new(),
    };
    insta::assert_snapshot!(super::status::render(&report, &links()).join("\n"));
}

#[test]
fn status_of_local_prod_with_host_services() {
    plain();
    let host = |name: &str, port, pid, healthy, record: Option<&str>| HostState {
        name: name.into(),
        port,
        pid,
        healthy,
        log: PathBuf::from(format!("/home/dev/.ktrdr/host/{name}.log")),
        record: record.map(String::from),
    };
    let report = StatusReport {
        engine: None,
        status: status("local-prod", 0, vec![service("backend", "running", None)]),
        shared_services: Vec::new(),
        host_services: vec![
            host("training-host", 5002, Some(4242), true, None),
            host("ib-host", 5001, Some(4343), false, None),
            host("gpu-host", 5005, None, true, None),
            host("old-host", 5006, None, false, Some("the process changed")),
        ],
    };
    insta::assert_snapshot!(super::status::render(&report, &links()).join("\n"));
}

fn row(id: &str, project: &str, slot: u8, state: &str) -> ListRow {
    ListRow {
        instance_id: id.into(),
        project: project.into(),
        kind: if slot == 0 { "local-prod" } else { "sandbox" },
        slot,
        state: state.into(),
        foreign: Vec::new(),
        api_port: Some(8000 + u16::from(slot)),
        path: format!("/home/dev/{id}"),
        created_at: "2026-12-01T10:00:00Z".into(),
        age: "6d".into(),
        memory: Some(734_003_200),
        engine: None,
    }
}

#[test]
fn list_of_one_project() {
    plain();
    let mut foreign = row("a-rather-long-sandbox-name", "KTRDR", 2, "foreign");
    foreign.foreign = vec!["/home/dev/elsewhere".into()];
    foreign.memory = None;
    foreign.api_port = None;
    let listing = Listing {
        instances: vec![
            row("ktrdr-prod", "KTRDR", 0, "running"),
            row("ktrdr--feature-x", "KTRDR", 1, "partial 2/3"),
            foreign,
        ],
        docker_error: None,
    };
    insta::assert_snapshot!(super::list::render(&listing).join("\n"));
}

#[test]
fn list_of_several_projects_and_of_none() {
    plain();
    let listing = Listing {
        instances: vec![
            row("ktrdr--a", "KTRDR", 1, "running"),
            row("shop--b", "Shop", 3, "stopped"),
            ListRow {
                engine: Some("buildbox".into()),
                ..row("shop--c", "Shop", 5, "running")
            },
            row(
                "slot-4",
                "KTRDR (the Python tool's slot pool)",
                4,
                "unknown",
            ),
        ],
        docker_error: Some("Cannot connect to the Docker daemon".into()),
    };
    let empty = Listing {
        instances: Vec::new(),
        docker_error: None,
    };
    insta::assert_snapshot!(format!(
        "{}\n---\n{}",
        super::list::render(&listing).join("\n"),
        super::list::render(&empty).join("\n")
    ));
}

fn check(name: &str, status: prereq::Status, required: bool, version: Option<&str>) -> Check {
    Check {
        name: name.into(),
        status,
        required,
        version: version.map(String::from),
        path: version
            .map(|_| PathBuf::from("/usr/bin").join(name.split(' ').next().unwrap_or(name))),
        detail: None,
        hint: None,
        state: version.is_none(),
    }
}

#[test]
fn doctor_with_problems_and_warnings() {
    plain();
    let mut op = check("op", prereq::Status::Warn, false, None);
    op.state = false;
    op.detail = Some("1Password CLI not found: the stack uses insecure default secrets".into());
    op.hint = Some("brew install 1password-cli".into());
    let mut uv = check("uv", prereq::Status::Missing, true, None);
    uv.state = false;
    uv.hint = Some("pip install uv".into());
    let mut desc = check("stack description", prereq::Status::Missing, true, None);
    desc.detail = Some("kinfra.toml: unknown field `no_such_key`".into());
    let checks = vec![
        check("git", prereq::Status::Ok, true, Some("2.47.3")),
        check("docker engine", prereq::Status::Ok, true, Some("20.10.24")),
        uv,
        op,
        desc,
        check("registry", prereq::Status::Ok, true, None),
    ];
    insta::assert_snapshot!(super::doctor::render(&checks).join("\n"));
}

#[test]
fn doctor_ready() {
    plain();
    let checks = vec![
        check("git", prereq::Status::Ok, true, Some("2.47.3")),
        check("registry", prereq::Status::Ok, true, None),
    ];
    insta::assert_snapshot!(super::doctor::render(&checks).join("\n"));
}

#[test]
fn stack_check_with_findings() {
    plain();
    let mut stack = crate::stack::KTRDR.clone();
    stack.origin = "kinfra.toml".into();
    stack.shared_networks = vec!["devops-ai-observability".into()];
    stack.shared_volumes = vec!["ktrdr-agent-claude-auth".into()];
    let findings = vec![
        Finding {
            severity: Severity::Error,
            message:
                "service web publishes the fixed host port 8080: two instances cannot both bind it"
                    .into(),
            create: None,
        },
        Finding {
            severity: Severity::Warning,
            message: "service db sets container_name: compose names it the same in every instance"
                .into(),
            create: None,
        },
        Finding {
            severity: Severity::Warning,
            message: "the external network devops-ai-observability does not exist".into(),
            create: Some(("network".into(), "devops-ai-observability".into())),
        },
    ];
    let clean = crate::stack::KTRDR.clone();
    insta::assert_snapshot!(format!(
        "{}\n---\n{}",
        super::stack::render_check(&stack, &findings).join("\n"),
        super::stack::render_check(&clean, &[]).join("\n")
    ));
}
