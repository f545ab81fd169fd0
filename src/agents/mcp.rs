//! `kinfra mcp`: a Model Context Protocol server on stdio, so coding agents drive
//! their own stacks without parsing text. Each tool is the library call the CLI
//! makes, under the same rules (locks, the failure-path undo, destroy's refusal to
//! lose work); results are the JSON `--json` prints, errors carry the exit code, its
//! class and the hint. Without a `name`, a tool acts on the instance containing the
//! server's working directory (an agent starts it in its worktree).
//!
//! The library is blocking; each call runs on tokio's blocking pool while its
//! messages travel to the client as progress notifications (when the client asked
//! for progress) — stdout belongs to the protocol, so nothing else is printed there.

use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use rmcp::handler::server::router::tool::ToolRouter;
use rmcp::handler::server::wrapper::Parameters;
use rmcp::model::{
    CallToolResult, Implementation, ProgressNotificationParam, RequestMetaObject,
    ServerCapabilities, ServerConfig,
};
use rmcp::{
    ErrorData, Peer, RoleServer, ServerHandler, ServiceExt, tool, tool_handler, tool_router,
};
use serde_json::{Value, json};

use crate::agents::error::{AgentsError, AgentsHint, Result};
use crate::instance::{self, CreateOptions, DestroyOptions, Instance, UpOptions};
use crate::stack::Stack;
use crate::state::context::{Context, Hinter, Recorder};
use crate::state::home::Home;

mod params;

pub use params::*;

/// Serves MCP on stdin/stdout until the client closes it.
///
/// Each line from the client passes [`pre_answer`] first: JSON-RPC wants an answer
/// to a line that is not JSON (`-32700`) or to a call whose `arguments` are not an
/// object (`-32602`), and the SDK would drop the first and misname the second. The
/// rest goes to the SDK through an in-memory pipe; one writer puts whole lines on
/// stdout, so answers never interleave.
pub fn serve(
    stack: Stack,
    home: Home,
    cwd: PathBuf,
    hint: AgentsHint,
    warning: Hinter,
) -> Result<()> {
    use tokio::io::{AsyncBufReadExt, AsyncWriteExt, BufReader};
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .map_err(|source| AgentsError::McpRuntime { source })?;
    rt.block_on(async move {
        let (client_end, server_end) = tokio::io::duplex(1 << 16);
        let (from_sdk, mut to_sdk) = tokio::io::split(client_end);
        let (out_tx, mut out_rx) = tokio::sync::mpsc::unbounded_channel::<String>();
        let writer = tokio::spawn(async move {
            let mut stdout = tokio::io::stdout();
            while let Some(line) = out_rx.recv().await {
                // Every answer passes the one redactor (its JSON-escaped forms too).
                let line = crate::support::stdio::redact(&line);
                if stdout.write_all(line.as_bytes()).await.is_err()
                    || stdout.write_all(b"\n").await.is_err()
                    || stdout.flush().await.is_err()
                {
                    break;
                }
            }
        });
        let answers = out_tx.clone();
        let sdk_out = tokio::spawn(async move {
            let mut lines = BufReader::new(from_sdk).lines();
            while let Ok(Some(line)) = lines.next_line().await {
                if answers.send(line).is_err() {
                    break;
                }
            }
        });
        let reader = tokio::spawn(async move {
            let mut lines = BufReader::new(tokio::io::stdin()).lines();
            while let Ok(Some(line)) = lines.next_line().await {
                match pre_answer(&line) {
                    Some(answer) => {
                        let _ = out_tx.send(answer.to_string());
                    }
                    None => {
                        if to_sdk.write_all(line.as_bytes()).await.is_err()
                            || to_sdk.write_all(b"\n").await.is_err()
                        {
                            break;
                        }
                    }
                }
            }
            // End of input: the SDK sees it and the session ends.
            let _ = to_sdk.shutdown().await;
        });
        let server = Server::new(stack, home, cwd, hint, warning);
        let service = server
            .serve(server_end)
            .await
            .map_err(|source| AgentsError::McpStart {
                source: Box::new(source),
            })?;
        let ended = service.waiting().await;
        reader.abort();
        let _ = sdk_out.await;
        let _ = writer.await;
        ended.map_err(|source| AgentsError::McpEnded { source })?;
        Ok(())
    })
}

/// Pure: the answer kinfra gives itself to one line from the client, when the SDK
/// must not see it: a parse error for a line that is not JSON, an invalid request
/// for JSON that is no JSON-RPC message, invalid params for a `tools/call` whose
/// `params` or `arguments` are not objects. `None`: the line goes to the SDK.
pub fn pre_answer(line: &str) -> Option<Value> {
    let text = line.trim().trim_start_matches('\u{feff}');
    if text.is_empty() {
        return None;
    }
    let error = |id: Value, code: i32, message: String| {
        Some(json!({"jsonrpc": "2.0", "id": id, "error": {"code": code, "message": message}}))
    };
    let v: Value = match serde_json::from_str(text) {
        Ok(v) => v,
        Err(e) => return error(Value::Null, -32700, format!("Parse error: {e}")),
    };
    let Some(obj) = v.as_object() else {
        if v.is_array() {
            return None; // a batch: the SDK's to judge
        }
        return error(
            Value::Null,
            -32600,
            "Invalid Request: a JSON-RPC message is an object".into(),
        );
    };
    let id = obj.get("id").cloned().unwrap_or(Value::Null);
    let is_response = obj.contains_key("result") || obj.contains_key("error");
    let Some(method) = obj.get("method") else {
        if is_response {
            return None;
        }
        return error(id, -32600, "Invalid Request: no `method`".into());
    };
    if method != "tools/call" {
        return None;
    }
    let params = obj.get("params");
    match params {
        Some(Value::Object(p)) => match p.get("arguments") {
            None | Some(Value::Null) | Some(Value::Object(_)) => None,
            Some(other) => error(
                id,
                -32602,
                format!(
                    "Invalid params: `arguments` must be an object of the tool's named arguments, not {}",
                    json_kind(other)
                ),
            ),
        },
        other => error(
            id,
            -32602,
            format!(
                "Invalid params: `params` must be an object with `name` and `arguments`, not {}",
                other.map_or("nothing", json_kind)
            ),
        ),
    }
}

fn json_kind(v: &Value) -> &'static str {
    match v {
        Value::Null => "null",
        Value::Bool(_) => "a boolean",
        Value::Number(_) => "a number",
        Value::String(_) => "a string",
        Value::Array(_) => "an array",
        Value::Object(_) => "an object",
    }
}

#[derive(Clone)]
pub struct Server {
    /// Shared with each call's worker thread.
    stack: Arc<Stack>,
    home: Home,
    cwd: PathBuf,
    /// What to do about an error: the CLI's hints, handed in by the edge that
    /// started the server.
    hint: AgentsHint,
    /// What to do about a warning's cause (the CLI's words too), for the messages.
    warning: Hinter,
    #[allow(dead_code)] // read by the tool_handler macro
    tool_router: ToolRouter<Self>,
}

/// Pure: the name of an exit code's class, for agents that branch on it.
pub fn exit_class(code: i32) -> &'static str {
    crate::support::error::ExitKind::from_code(code).map_or("failure", |k| k.class())
}

/// Pure: an error as the tool's structured error result.
pub fn error_value(e: &AgentsError, messages: &[String], hint: AgentsHint) -> Value {
    let mut causes = Vec::new();
    let mut source = std::error::Error::source(e);
    while let Some(s) = source {
        let t = s.to_string();
        if !e.to_string().contains(&t) {
            causes.push(t);
        }
        source = s.source();
    }
    let code = e.exit_code();
    let causes: Vec<String> = causes
        .iter()
        .map(|c| crate::support::stdio::redact(c))
        .collect();
    let messages: Vec<String> = messages
        .iter()
        .map(|m| crate::support::stdio::redact(m))
        .collect();
    json!({
        "error": crate::support::stdio::redact(&e.to_string()),
        "causes": causes,
        "exit_code": code,
        "class": exit_class(code),
        "failure": e.exit_kind().is_failure(),
        "hint": hint(e).map(|h| crate::support::stdio::redact(&h)),
        "messages": messages,
    })
}

fn timeout(secs: Option<u64>, default: u64) -> Duration {
    crate::support::timeout::bounded(Duration::from_secs(secs.unwrap_or(default)))
}

impl Server {
    pub fn new(stack: Stack, home: Home, cwd: PathBuf, hint: AgentsHint, warning: Hinter) -> Self {
        Server {
            stack: Arc::new(stack),
            home,
            cwd,
            hint,
            warning,
            tool_router: Self::tool_router(),
        }
    }

    /// Runs `f` on the blocking pool with a context whose messages are sent to the
    /// client as progress (when `progress` carries a token) and returned with the
    /// result.
    async fn call<T, F>(
        &self,
        progress: Option<(RequestMetaObject, Peer<RoleServer>)>,
        f: F,
    ) -> std::result::Result<CallToolResult, ErrorData>
    where
        T: serde::Serialize + Send + 'static,
        F: FnOnce(&Context, &Stack) -> Result<T> + Send + 'static,
    {
        let (tx, mut rx) = tokio::sync::mpsc::unbounded_channel::<String>();
        // Messages are kept for the result, and sent on as progress.
        let reporter = Arc::new(Recorder::with_sink(move |l| {
            let _ = tx.send(l.to_string());
        }));
        let ctx = Context::new(&self.home, &self.cwd, reporter.clone()).with_hinter(self.warning);
        let stack = Arc::clone(&self.stack);
        let token = progress
            .as_ref()
            .and_then(|(meta, _)| meta.get_progress_token());
        let peer = progress.map(|(_, p)| p);
        let forward = tokio::spawn(async move {
            let mut n = 0u32;
            while let Some(line) = rx.recv().await {
                n += 1;
                if let (Some(t), Some(p)) = (&token, &peer) {
                    let _ = p
                        .notify_progress(
                            ProgressNotificationParam::new(t.clone(), f64::from(n))
                                .with_message(crate::support::stdio::redact(&line)),
                        )
                        .await;
                }
            }
        });
        let outcome = tokio::task::spawn_blocking(move || {
            // Each call starts on this machine's engine and goes where its instance
            // is placed; the engine is this call's (its thread's), never a former
            // call's on the same pooled thread, nor one running beside it.
            let _engine = crate::tools::docker::EngineScope::this_machine().enter();
            let r = f(&ctx, &stack);
            drop(ctx);
            r
        })
        .await
        .map_err(|e| ErrorData::internal_error(format!("the call crashed: {e}"), None))?;
        let messages = reporter.taken();
        // The last sender goes with the reporter: the forwarder ends after the last line.
        drop(reporter);
        let _ = forward.await;
        Ok(match outcome {
            Ok(v) => CallToolResult::structured(
                serde_json::to_value(v)
                    .map_err(|e| ErrorData::internal_error(e.to_string(), None))?,
            ),
            // A cancellation is not a failure: the answer says it was interrupted
            // (class `interrupted`, code 130) without marking the call as failed.
            Err(e) if !e.exit_kind().is_failure() => {
                CallToolResult::structured(error_value(&e, &messages, self.hint))
            }
            Err(e) => CallToolResult::structured_error(error_value(&e, &messages, self.hint)),
        })
    }
}

fn find(ctx: &Context, stack: &Stack, name: Option<&str>) -> crate::Result<Instance> {
    instance::here_or_named(ctx, stack, name)
}

fn describe(stack: &Stack, inst: &Instance) -> Value {
    json!({
        "instance_id": inst.id(),
        "kind": inst.kind.label(),
        "slot": inst.env.slot,
        "path": inst.dir,
        "urls": inst.urls(stack),
    })
}

#[tool_router]
impl Server {
    #[tool(
        description = "Every registered instance (sandboxes and local-prod) with its state, slot, API port and path; one Docker query. Same JSON as `kinfra sandbox list --json`."
    )]
    async fn list(&self) -> std::result::Result<CallToolResult, ErrorData> {
        self.call(None, |ctx, stack| Ok(instance::list(ctx, stack)?))
            .await
    }

    #[tool(
        description = "State, services (with health) and ports of one instance. Same JSON as `kinfra sandbox status --json`."
    )]
    async fn status(
        &self,
        Parameters(p): Parameters<Target>,
    ) -> std::result::Result<CallToolResult, ErrorData> {
        self.call(None, move |ctx, stack| {
            let inst = find(ctx, stack, p.name.as_deref())?;
            Ok(instance::report(ctx, stack, &inst)?)
        })
        .await
    }

    #[tool(
        description = "Each secret the instance's description gives by reference (`[sandbox.secrets]`): its kind (op, bao, env, dotenv, literal), its reference, whether a resolved value is kept and since when. Never a value. Same JSON as `kinfra secrets status --json`."
    )]
    async fn secrets_status(
        &self,
        Parameters(p): Parameters<Target>,
    ) -> std::result::Result<CallToolResult, ErrorData> {
        self.call(None, move |ctx, stack| {
            let inst = find(ctx, stack, p.name.as_deref())?;
            Ok(instance::host::kept_secrets::status(ctx, stack, &inst))
        })
        .await
    }

    #[tool(
        description = "Create a sandbox: a git worktree beside the repository (on a branch named after it), a free slot and its own ports. Run from the repository or one of its worktrees. Returns the instance, its path and URLs. Does not start it: call `up`."
    )]
    async fn create(
        &self,
        Parameters(p): Parameters<CreateParams>,
    ) -> std::result::Result<CallToolResult, ErrorData> {
        self.call(None, move |ctx, stack| {
            // The source first: with `data`, `on: auto` follows it.
            let source = match &p.data {
                Some(d) => Some(crate::data::resolve_source(ctx, stack, d, true)?),
                None => None,
            };
            let on = match &source {
                Some(src) => crate::data::placement_for(ctx, stack, src, p.on.as_deref())?,
                None => instance::placement::resolve_on(ctx, stack, p.on.as_deref())?,
            };
            let opts = CreateOptions {
                name: p.name,
                branch: p.branch,
                base: p.base,
                slot: p.slot,
                on,
                ..Default::default()
            };
            match &source {
                Some(source) => {
                    let (inst, copied) = crate::data::create(
                        ctx,
                        stack,
                        &opts,
                        source,
                        crate::data::How { online: p.online },
                    )?;
                    let mut v = describe(stack, &inst);
                    v["data"] = json!({ "source": source.record(), "copy": copied });
                    Ok(v)
                }
                None if p.online => Err(AgentsError::OnlineWithoutData),
                None => Ok(describe(stack, &instance::create(ctx, stack, &opts)?)),
            }
        })
        .await
    }

    #[tool(
        description = "Save a consistent snapshot of an instance's data volumes (a running source is paused for the copy alone). Sandboxes start from it with `create` `data`. Returns the snapshot and the copy's method, size and pause."
    )]
    async fn snapshot_save(
        &self,
        Parameters(p): Parameters<SnapshotSaveParams>,
    ) -> std::result::Result<CallToolResult, ErrorData> {
        self.call(None, move |ctx, stack| {
            let source = match &p.from {
                Some(f) => crate::data::resolve_source(ctx, stack, f, false)?,
                None => crate::data::Source::Instance(Box::new(find(ctx, stack, None)?)),
            };
            let (snap, copied) = crate::data::save(
                ctx,
                stack,
                &source,
                &p.name,
                crate::data::How { online: p.online },
            )?;
            Ok(json!({ "snapshot": snap, "copy": copied }))
        })
        .await
    }

    #[tool(
        description = "This project's data snapshots: name, size, creation time, source instance and its commit, volumes. Same JSON as `kinfra snapshot list --json`."
    )]
    async fn snapshot_list(&self) -> std::result::Result<CallToolResult, ErrorData> {
        self.call(None, |ctx, stack| {
            Ok(crate::data::snapshots(ctx, stack, false)?)
        })
        .await
    }

    #[tool(description = "Remove a data snapshot. Sandboxes made from it keep their data.")]
    async fn snapshot_rm(
        &self,
        Parameters(p): Parameters<SnapshotNameParams>,
    ) -> std::result::Result<CallToolResult, ErrorData> {
        self.call(None, move |ctx, stack| {
            Ok(crate::data::remove(ctx, stack, &p.name)?)
        })
        .await
    }

    #[tool(
        description = "Put a sandbox's data volumes back as its source had them (the snapshot it came from, or `data`). Its containers are stopped for the copy and started again; its own writes are lost. Needs `confirm: true`."
    )]
    async fn reset(
        &self,
        Parameters(p): Parameters<ResetParams>,
    ) -> std::result::Result<CallToolResult, ErrorData> {
        self.call(None, move |ctx, stack| {
            let target = instance::find(ctx, stack, instance::Kind::Sandbox, p.name.as_deref())?;
            let (source, copied) = crate::data::reset(
                ctx,
                stack,
                &target,
                &crate::data::ResetOptions {
                    data: p.data,
                    yes: p.confirm,
                    how: crate::data::How { online: p.online },
                },
            )?;
            Ok(json!({ "instance": target.id(), "source": source.record(), "copy": copied }))
        })
        .await
    }

    #[tool(
        description = "Start an instance and wait until its startability gate passes (every check healthy). Sends progress while it works. On failure the start is undone, data volumes are kept, and the error names the failing check with its service's log lines in `messages`."
    )]
    async fn up(
        &self,
        Parameters(p): Parameters<UpParams>,
        meta: RequestMetaObject,
        peer: Peer<RoleServer>,
    ) -> std::result::Result<CallToolResult, ErrorData> {
        self.call(Some((meta, peer)), move |ctx, stack| {
            // `on` is checked before the instance is looked for: a hostile value
            // changes nothing.
            if let Some(on) = &p.on {
                instance::placement::on_word(on)
                    .map_err(|why| crate::engine::error::EngineError::BadName { why })?;
            }
            let inst = find(ctx, stack, p.name.as_deref())?;
            if let Some(on) = &p.on {
                if inst.kind != instance::Kind::Sandbox {
                    return Err(AgentsError::OnForLocalProd);
                }
                instance::placement::place_for_up(ctx, stack, inst.id(), on)?;
            }
            let report = instance::up(
                ctx,
                stack,
                &inst,
                &UpOptions {
                    timeout: timeout(p.timeout_secs, crate::instance::gate::DEFAULT_TIMEOUT_SECS),
                    secrets: !p.no_secrets,
                    refresh_secrets: p.refresh_secrets,
                    build: p.build,
                    wait_for_room: p.wait_for_room,
                    make_room: p.make_room,
                    ..Default::default()
                },
            )?;
            Ok(json!({ "instance": describe(stack, &report.instance), "report": report }))
        })
        .await
    }

    #[tool(description = "Stop an instance's containers. Volumes (databases) are kept.")]
    async fn down(
        &self,
        Parameters(p): Parameters<Target>,
    ) -> std::result::Result<CallToolResult, ErrorData> {
        self.call(None, move |ctx, stack| {
            let inst = find(ctx, stack, p.name.as_deref())?;
            instance::down(ctx, stack, &inst, false)?;
            Ok(json!({ "instance_id": inst.id(), "stopped": true }))
        })
        .await
    }

    #[tool(description = "The last lines of the logs of each service (or one), by service name.")]
    async fn logs(
        &self,
        Parameters(p): Parameters<LogsParams>,
    ) -> std::result::Result<CallToolResult, ErrorData> {
        self.call(None, move |ctx, stack| {
            let inst = find(ctx, stack, p.name.as_deref())?;
            let logs = instance::log_tails(&inst, p.service.as_deref(), p.tail.unwrap_or(100))?;
            Ok(json!({ "instance_id": inst.id(), "logs": logs }))
        })
        .await
    }

    #[tool(
        description = "The instance's URLs and ports by name (api, database, …), each {direct, routed}: direct is its own port, routed its name through kinfra router (null where not routed)."
    )]
    async fn urls(
        &self,
        Parameters(p): Parameters<Target>,
    ) -> std::result::Result<CallToolResult, ErrorData> {
        self.call(None, move |ctx, stack| {
            let inst = find(ctx, stack, p.name.as_deref())?;
            Ok(crate::router::urls::of(ctx, stack, &inst))
        })
        .await
    }

    #[tool(
        description = "Wait until a started instance passes its startability gate; starts nothing. Returns the gate report; an error names the failing checks."
    )]
    async fn wait_healthy(
        &self,
        Parameters(p): Parameters<WaitParams>,
    ) -> std::result::Result<CallToolResult, ErrorData> {
        self.call(None, move |ctx, stack| {
            let inst = find(ctx, stack, p.name.as_deref())?;
            Ok(instance::wait(
                ctx,
                stack,
                &inst,
                timeout(p.timeout_secs, crate::instance::gate::DEFAULT_TIMEOUT_SECS),
            )?)
        })
        .await
    }

    #[tool(
        description = "Run a program in a service's running container, directly (argv, no shell), and return its exit code, stdout and stderr."
    )]
    async fn exec(
        &self,
        Parameters(p): Parameters<ExecParams>,
    ) -> std::result::Result<CallToolResult, ErrorData> {
        self.call(None, move |ctx, stack| {
            let inst = find(ctx, stack, p.name.as_deref())?;
            Ok(instance::exec(
                &inst,
                &p.service,
                &p.argv,
                timeout(p.timeout_secs, 60),
            )?)
        })
        .await
    }

    #[tool(
        description = "Destroy a sandbox: containers, volumes, registration and its worktree. Refuses (class would_lose_work) when the worktree has uncommitted changes or commits on no branch (commits on its branch stay with the branch). `force: true` deletes that work for good: never set it without the user's explicit consent."
    )]
    async fn destroy(
        &self,
        Parameters(p): Parameters<DestroyParams>,
    ) -> std::result::Result<CallToolResult, ErrorData> {
        self.call(None, move |ctx, stack| {
            Ok(instance::destroy(
                ctx,
                stack,
                &DestroyOptions {
                    name: Some(p.name),
                    keep_worktree: p.keep_worktree,
                    force: p.force,
                },
            )?)
        })
        .await
    }
}

#[tool_handler]
impl ServerHandler for Server {
    fn get_info(&self) -> ServerConfig {
        ServerConfig::new(ServerCapabilities::builder().enable_tools().build())
            .with_server_info(Implementation::new("kinfra", env!("CARGO_PKG_VERSION")))
            .with_instructions(format!(
                "kinfra gives each worktree its own isolated {} stack. Tools act on the instance containing the server's directory unless `name` names a sandbox: `create` a sandbox, `up` it (waits until healthy), read `urls`, `logs`, `exec` in a service, `down`, and `destroy` (never with force unless the user said so).",
                self.stack.name
            ))
    }
}

#[cfg(test)]
mod tests;
