//! One wrapper for every external command (`docker`, `git`, `uv`, `op`): pinned
//! locale, closed stdin unless asked, captured output, a one-line summary for
//! messages, and typed errors (not found / failed / timed out).
//!
//! Environment values never appear in summaries or errors: secrets travel there.

use std::ffi::{OsStr, OsString};
use std::io::{Read, Write};
use std::path::{Path, PathBuf};
use std::process::{Command, ExitStatus, Stdio};
use std::time::Duration;

use wait_timeout::ChildExt;

thread_local! {
    /// Variables every program this thread runs gets (a command's own [`Cmd::env`]
    /// still wins): a setting of one call, not of the process (the engine a call's
    /// docker commands go to: one MCP server serves calls on different engines, each
    /// on a thread of its own).
    static THREAD_ENV: std::cell::RefCell<Vec<(OsString, OsString)>> =
        const { std::cell::RefCell::new(Vec::new()) };
}

/// From now on, every program this thread runs gets `k=v` (`None`: no longer set by
/// this thread). A thread this one starts begins without it.
pub fn set_thread_child_env(k: impl AsRef<OsStr>, v: Option<&OsStr>) {
    THREAD_ENV.with_borrow_mut(|vars| {
        vars.retain(|(have, _)| have != k.as_ref());
        if let Some(v) = v {
            vars.push((k.as_ref().to_owned(), v.to_owned()));
        }
    });
}

/// What went wrong running an external program.
#[derive(Debug, thiserror::Error)]
pub enum ExecError {
    #[error("`{program}` was not found on PATH")]
    NotFound { program: String },
    #[error("could not run `{summary}`")]
    Spawn {
        summary: String,
        #[source]
        source: std::io::Error,
    },
    #[error("`{summary}` failed ({status}){}", stderr_tail(.stderr))]
    Failed {
        summary: String,
        status: String,
        code: Option<i32>,
        stderr: String,
    },
    #[error("`{summary}` did not finish within {secs} s and was stopped")]
    TimedOut { summary: String, secs: u64 },
}

impl ExecError {
    /// The program that could not be found, if that is what happened.
    pub fn not_found(&self) -> Option<&str> {
        match self {
            ExecError::NotFound { program } => Some(program),
            _ => None,
        }
    }
    pub fn stderr(&self) -> &str {
        match self {
            ExecError::Failed { stderr, .. } => stderr,
            _ => "",
        }
    }
}

fn stderr_tail(stderr: &str) -> String {
    let lines: Vec<&str> = stderr.trim_end().lines().collect();
    if lines.is_empty() {
        return String::new();
    }
    let start = lines.len().saturating_sub(12);
    format!(":\n  {}", lines[start..].join("\n  "))
}

/// Captured result of a finished command.
#[derive(Debug)]
pub struct Output {
    pub status: ExitStatus,
    pub stdout: String,
    pub stderr: String,
}

/// A command to run. Build it, then call [`Cmd::run`], [`Cmd::output`] or
/// [`Cmd::status_inherit`].
#[derive(Debug, Clone)]
pub struct Cmd {
    program: OsString,
    args: Vec<OsString>,
    env: Vec<(OsString, OsString)>,
    cwd: Option<PathBuf>,
    stdin: Option<Vec<u8>>,
    timeout: Option<Duration>,
}

impl Cmd {
    pub fn new(program: impl AsRef<OsStr>) -> Self {
        Cmd {
            program: program.as_ref().to_owned(),
            args: Vec::new(),
            env: Vec::new(),
            cwd: None,
            stdin: None,
            timeout: None,
        }
    }
    pub fn arg(mut self, a: impl AsRef<OsStr>) -> Self {
        self.args.push(a.as_ref().to_owned());
        self
    }
    pub fn args<I, S>(mut self, args: I) -> Self
    where
        I: IntoIterator<Item = S>,
        S: AsRef<OsStr>,
    {
        self.args
            .extend(args.into_iter().map(|a| a.as_ref().to_owned()));
        self
    }
    pub fn env(mut self, k: impl AsRef<OsStr>, v: impl AsRef<OsStr>) -> Self {
        self.env
            .push((k.as_ref().to_owned(), v.as_ref().to_owned()));
        self
    }
    pub fn envs<I, K, V>(mut self, vars: I) -> Self
    where
        I: IntoIterator<Item = (K, V)>,
        K: AsRef<OsStr>,
        V: AsRef<OsStr>,
    {
        for (k, v) in vars {
            self = self.env(k, v);
        }
        self
    }
    pub fn current_dir(mut self, dir: impl AsRef<Path>) -> Self {
        self.cwd = Some(dir.as_ref().to_owned());
        self
    }
    pub fn stdin_bytes(mut self, bytes: impl Into<Vec<u8>>) -> Self {
        self.stdin = Some(bytes.into());
        self
    }
    pub fn timeout(mut self, t: Duration) -> Self {
        self.timeout = Some(crate::support::timeout::bounded(t));
        self
    }

    /// `program arg arg …` as a user would type it, for messages.
    pub fn summary(&self) -> String {
        let mut s = Path::new(&self.program)
            .file_name()
            .unwrap_or(&self.program)
            .to_string_lossy()
            .into_owned();
        for a in &self.args {
            let a = a.to_string_lossy();
            s.push(' ');
            if a.is_empty() || a.contains(char::is_whitespace) {
                s.push_str(&format!("'{a}'"));
            } else {
                s.push_str(&a);
            }
        }
        s
    }

    fn command(&self) -> Result<Command, ExecError> {
        let program = which::which(&self.program).map_err(|_| ExecError::NotFound {
            program: self.program.to_string_lossy().into_owned(),
        })?;
        let mut c = Command::new(program);
        c.args(&self.args);
        // Pinned locale so parsers see the same words everywhere.
        c.env("LC_ALL", "C").env("LANG", "C");
        THREAD_ENV.with_borrow(|vars| {
            for (k, v) in vars {
                c.env(k, v);
            }
        });
        for (k, v) in &self.env {
            c.env(k, v);
        }
        if let Some(d) = &self.cwd {
            c.current_dir(d);
        }
        Ok(c)
    }

    /// Runs to completion with output captured; a non-zero exit is *not* an error.
    pub fn output(&self) -> Result<Output, ExecError> {
        let mut c = self.command()?;
        if self.timeout.is_some() {
            // Its own process group, so a time-out ends its children too (the compose
            // plugin under `docker compose`). Untimed commands stay in ours, so Ctrl-C
            // reaches them.
            use std::os::unix::process::CommandExt;
            c.process_group(0);
        }
        c.stdin(if self.stdin.is_some() {
            Stdio::piped()
        } else {
            Stdio::null()
        })
        .stdout(Stdio::piped())
        .stderr(Stdio::piped());
        let mut child = c.spawn().map_err(|source| self.spawn_error(source))?;
        let stdin_thread = match (child.stdin.take(), self.stdin.clone()) {
            (Some(mut pipe), Some(bytes)) => Some(std::thread::spawn(move || {
                let _ = pipe.write_all(&bytes);
            })),
            _ => None,
        };
        let out_thread = read_all(child.stdout.take());
        let err_thread = read_all(child.stderr.take());
        let status = match self.timeout {
            Some(t) => match child
                .wait_timeout(t)
                .map_err(|source| self.spawn_error(source))?
            {
                Some(s) => s,
                None => {
                    end_group(&mut child);
                    return Err(ExecError::TimedOut {
                        summary: self.summary(),
                        secs: t.as_secs(),
                    });
                }
            },
            None => child.wait().map_err(|source| self.spawn_error(source))?,
        };
        if let Some(t) = stdin_thread {
            let _ = t.join();
        }
        let stdout = String::from_utf8_lossy(&out_thread.join().unwrap_or_default()).into_owned();
        let stderr = String::from_utf8_lossy(&err_thread.join().unwrap_or_default()).into_owned();
        Ok(Output {
            status,
            stdout,
            stderr,
        })
    }

    /// Runs and requires success; returns stdout.
    pub fn run(&self) -> Result<String, ExecError> {
        let out = self.output()?;
        if out.status.success() {
            Ok(out.stdout)
        } else {
            Err(self.failed(out.status, out.stderr))
        }
    }

    /// Runs and requires success like [`Cmd::run`], handing each line of stderr to
    /// `each_line` as it comes (compose's progress: created, started, healthy…);
    /// stderr is also kept whole for the error. Returns stdout.
    pub fn run_streaming(&self, mut each_line: impl FnMut(&str)) -> Result<String, ExecError> {
        let mut c = self.command()?;
        c.stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped());
        let mut child = c.spawn().map_err(|source| self.spawn_error(source))?;
        let out_thread = read_all(child.stdout.take());
        let mut stderr = String::new();
        if let Some(err) = child.stderr.take() {
            stderr = read_lines(err, &mut each_line);
        }
        let status = child.wait().map_err(|source| self.spawn_error(source))?;
        let stdout = String::from_utf8_lossy(&out_thread.join().unwrap_or_default()).into_owned();
        if status.success() {
            Ok(stdout)
        } else {
            Err(self.failed(status, stderr))
        }
    }

    /// Runs and requires success, handing each line it prints (stdout and stderr
    /// as one stream, in order: `docker build`'s classic builder writes progress to
    /// stdout) to `each_line`. The error carries the whole output.
    pub fn run_merged(&self, mut each_line: impl FnMut(&str)) -> Result<(), ExecError> {
        let mut c = self.command()?;
        let (reader, writer) = std::io::pipe().map_err(|source| self.spawn_error(source))?;
        let w2 = writer
            .try_clone()
            .map_err(|source| self.spawn_error(source))?;
        c.stdin(Stdio::null()).stdout(writer).stderr(w2);
        let mut child = c.spawn().map_err(|source| self.spawn_error(source))?;
        // The parent's copies of the writing end go, so the read ends with the child.
        drop(c);
        let all = read_lines(reader, &mut each_line);
        let status = child.wait().map_err(|source| self.spawn_error(source))?;
        if status.success() {
            Ok(())
        } else {
            Err(self.failed(status, all))
        }
    }

    /// Starts the command in its own process group with no stdio and does not wait
    /// for it: work that must outlive this command (a measurement after `up`) and
    /// must not delay its exit. A thread reaps it, so a long-lived caller (the MCP
    /// server) keeps no zombie.
    pub fn spawn_detached(&self) -> Result<(), ExecError> {
        use std::os::unix::process::CommandExt;
        let mut c = self.command()?;
        c.process_group(0)
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::null());
        let mut child = c.spawn().map_err(|source| self.spawn_error(source))?;
        std::thread::spawn(move || {
            let _ = child.wait();
        });
        Ok(())
    }

    /// Starts a long-lived service that outlives kinfra: its own process group
    /// (pid = group id, so a stop ends its children too), stdin closed, stdout and
    /// stderr appended to `log`. Returns its pid; a thread reaps it should it end
    /// while kinfra still runs (the MCP server).
    pub fn spawn_service(&self, log: std::fs::File) -> Result<u32, ExecError> {
        use std::os::unix::process::CommandExt;
        let mut c = self.command()?;
        let err = log.try_clone().map_err(|source| self.spawn_error(source))?;
        c.process_group(0)
            .stdin(Stdio::null())
            .stdout(log)
            .stderr(err);
        let mut child = c.spawn().map_err(|source| self.spawn_error(source))?;
        let pid = child.id();
        std::thread::spawn(move || {
            let _ = child.wait();
        });
        Ok(pid)
    }

    /// Runs `self | next`: this command's stdout feeds `next`'s stdin, directly
    /// (no copy through kinfra), both in process groups of their own. Stops both
    /// when `cancel` says so (polled every 50 ms) or at `self`'s time-out. Either
    /// failing is the error (the producer's first: a consumer's broken pipe
    /// follows from it); `next`'s stdout is returned.
    pub fn pipe_into(&self, next: &Cmd, cancel: impl Fn() -> bool) -> Result<String, ExecError> {
        use std::os::unix::process::CommandExt;
        enum Stop {
            Cancelled,
            TimedOut(Duration),
        }
        let mut a = self.command()?;
        a.process_group(0)
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped());
        let mut first = a.spawn().map_err(|source| self.spawn_error(source))?;
        let Some(feed) = first.stdout.take() else {
            end_group(&mut first);
            return Err(self.spawn_error(std::io::Error::other("no stdout pipe")));
        };
        let mut b = match next.command() {
            Ok(b) => b,
            Err(e) => {
                end_group(&mut first);
                return Err(e);
            }
        };
        b.process_group(0)
            .stdin(Stdio::from(feed))
            .stdout(Stdio::piped())
            .stderr(Stdio::piped());
        let mut second = match b.spawn() {
            Ok(c) => c,
            Err(source) => {
                end_group(&mut first);
                return Err(next.spawn_error(source));
            }
        };
        // The pipe's read end lives in `b` too: dropped, a consumer that ends early
        // leaves the producer a broken pipe rather than a full one.
        drop(b);
        let a_err = read_all(first.stderr.take());
        let b_out = read_all(second.stdout.take());
        let b_err = read_all(second.stderr.take());
        let started = std::time::Instant::now();
        let (mut sa, mut sb) = (None, None);
        let stopped = loop {
            // A wait that fails (it should not) ends both: none outlives the call.
            let polled = poll(&mut first, &mut sa)
                .map_err(|e| self.spawn_error(e))
                .and_then(|()| poll(&mut second, &mut sb).map_err(|e| next.spawn_error(e)));
            if let Err(e) = polled {
                end_group(&mut first);
                end_group(&mut second);
                return Err(e);
            }
            if sa.is_some() && sb.is_some() {
                break None;
            }
            if sa.is_none() && sb.is_some_and(|s| !s.success()) {
                // The consumer failed: nothing reads what the producer still makes.
                // Its kill is not the cause, so the consumer's failure is reported.
                end_group(&mut first);
                sa = Some(ExitStatus::default());
                break None;
            }
            if cancel() {
                break Some(Stop::Cancelled);
            }
            if let Some(t) = self.timeout
                && started.elapsed() > t
            {
                break Some(Stop::TimedOut(t));
            }
            std::thread::sleep(Duration::from_millis(50));
        };
        if let Some(why) = stopped {
            end_group(&mut first);
            end_group(&mut second);
            return Err(match why {
                Stop::TimedOut(t) => ExecError::TimedOut {
                    summary: self.summary(),
                    secs: t.as_secs(),
                },
                Stop::Cancelled => ExecError::Failed {
                    summary: self.summary(),
                    status: "stopped".into(),
                    code: None,
                    stderr: "interrupted".into(),
                },
            });
        }
        let text = |h: std::thread::JoinHandle<Vec<u8>>| {
            String::from_utf8_lossy(&h.join().unwrap_or_default()).into_owned()
        };
        let (a_err, out, b_err) = (text(a_err), text(b_out), text(b_err));
        match (sa, sb) {
            (Some(s), _) if !s.success() => Err(self.failed(s, a_err)),
            (_, Some(s)) if !s.success() => Err(next.failed(s, b_err)),
            _ => Ok(out),
        }
    }

    /// Runs with the terminal's stdin/stdout/stderr (logs -f, shell, live output).
    pub fn status_inherit(&self) -> Result<ExitStatus, ExecError> {
        let mut c = self.command()?;
        c.stdin(Stdio::inherit());
        c.status().map_err(|source| self.spawn_error(source))
    }

    fn spawn_error(&self, source: std::io::Error) -> ExecError {
        ExecError::Spawn {
            summary: self.summary(),
            source,
        }
    }

    fn failed(&self, status: ExitStatus, stderr: String) -> ExecError {
        ExecError::Failed {
            summary: self.summary(),
            status: describe_status(status),
            code: status.code(),
            stderr,
        }
    }
}

fn describe_status(status: ExitStatus) -> String {
    use std::os::unix::process::ExitStatusExt;
    match (status.code(), status.signal()) {
        (Some(c), _) => format!("exit code {c}"),
        (None, Some(s)) => format!("killed by signal {s}"),
        _ => "unknown status".into(),
    }
}

/// Reads a child's pipe to its end on a thread of its own (so stdout and stderr
/// never block each other).
fn read_all<R: Read + Send + 'static>(pipe: Option<R>) -> std::thread::JoinHandle<Vec<u8>> {
    std::thread::spawn(move || {
        let mut buf = Vec::new();
        if let Some(mut p) = pipe {
            let _ = p.read_to_end(&mut buf);
        }
        buf
    })
}

/// Kills a child started as the leader of its own process group, and the group.
/// Reads `r` to its end, handing each line to `each_line` as it comes (progress
/// that redraws with \r on some versions: each piece is a line); returns it all.
fn read_lines(r: impl std::io::Read, each_line: &mut impl FnMut(&str)) -> String {
    use std::io::BufRead;
    let mut all = String::new();
    for chunk in std::io::BufReader::new(r)
        .split(b'\n')
        .map_while(|c| c.ok())
    {
        let text = String::from_utf8_lossy(&chunk).into_owned();
        for piece in text
            .split('\r')
            .map(str::trim_end)
            .filter(|p| !p.trim().is_empty())
        {
            each_line(piece);
        }
        all.push_str(&text);
        all.push('\n');
    }
    all
}

/// Kills a group leader's whole group (as [`kill_group`]) and reaps the leader.
/// Notes `child`'s exit status once it has one.
fn poll(child: &mut std::process::Child, status: &mut Option<ExitStatus>) -> std::io::Result<()> {
    if status.is_none() {
        *status = child.try_wait()?;
    }
    Ok(())
}

fn end_group(child: &mut std::process::Child) {
    kill_group(child);
    let _ = child.wait();
}

fn kill_group(child: &mut std::process::Child) {
    use nix::sys::signal::{Signal, killpg};
    use nix::unistd::Pid;
    if let Ok(pid) = i32::try_from(child.id()) {
        let _ = killpg(Pid::from_raw(pid), Signal::SIGKILL);
    }
    let _ = child.kill();
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_threads_setting_reaches_its_programs_only() {
        let echo = || {
            Cmd::new("sh")
                .args(["-c", "printf %s \"${KINFRA_T_THREAD-unset}\""])
                .run()
                .unwrap()
        };
        set_thread_child_env("KINFRA_T_THREAD", Some(OsStr::new("here")));
        assert_eq!(echo(), "here");
        // Another thread's programs do not get it.
        assert_eq!(std::thread::spawn(echo).join().unwrap(), "unset");
        // A command's own value wins.
        let own = Cmd::new("sh")
            .args(["-c", "printf %s \"$KINFRA_T_THREAD\""])
            .env("KINFRA_T_THREAD", "own")
            .run()
            .unwrap();
        assert_eq!(own, "own");
        set_thread_child_env("KINFRA_T_THREAD", None);
        assert_eq!(echo(), "unset");
    }

    #[test]
    fn missing_program_is_typed() {
        let e = Cmd::new("kinfra-no-such-program").run().unwrap_err();
        assert_eq!(e.not_found(), Some("kinfra-no-such-program"));
    }

    #[test]
    fn failure_carries_stderr_and_code() {
        let e = Cmd::new("sh")
            .args(["-c", "echo boom >&2; exit 3"])
            .run()
            .unwrap_err();
        match &e {
            ExecError::Failed { code, stderr, .. } => {
                assert_eq!(*code, Some(3));
                assert_eq!(stderr.trim(), "boom");
            }
            other => panic!("unexpected {other:?}"),
        }
        assert!(e.to_string().contains("boom"), "{e}");
    }

    #[test]
    fn timeout_kills() {
        let e = Cmd::new("sleep")
            .arg("5")
            .timeout(Duration::from_millis(200))
            .run()
            .unwrap_err();
        assert!(matches!(e, ExecError::TimedOut { .. }), "{e:?}");
    }

    #[test]
    fn timeout_kills_the_grandchildren_too() {
        // sh starts a grandchild that would outlive a kill of sh alone (as the compose
        // plugin outlives `docker`); it writes its pid, then a file when it survives.
        let dir = tempfile::tempdir().unwrap();
        let survived = dir.path().join("survived");
        let script = format!("(sleep 1; touch {}) & wait", survived.display());
        let e = Cmd::new("sh")
            .args(["-c", &script])
            .timeout(Duration::from_millis(200))
            .run()
            .unwrap_err();
        assert!(matches!(e, ExecError::TimedOut { .. }), "{e:?}");
        std::thread::sleep(Duration::from_millis(1500));
        assert!(!survived.exists(), "a grandchild outlived the time-out");
    }

    #[test]
    fn streaming_hands_over_each_line_and_keeps_stderr() {
        let mut seen = Vec::new();
        let out = Cmd::new("sh")
            .args([
                "-c",
                "echo one >&2; printf 'two\\rthree\\n' >&2; echo result",
            ])
            .run_streaming(|l| seen.push(l.to_string()))
            .unwrap();
        assert_eq!(out, "result\n");
        assert_eq!(seen, vec!["one", "two", "three"]);
        let e = Cmd::new("sh")
            .args(["-c", "echo boom >&2; exit 3"])
            .run_streaming(|_| {})
            .unwrap_err();
        assert!(e.stderr().contains("boom"), "{e}");
        assert!(matches!(e, ExecError::Failed { code: Some(3), .. }));
    }

    #[test]
    fn a_pipe_feeds_one_into_the_other_and_names_the_failing_side() {
        let out = Cmd::new("sh")
            .args(["-c", "printf 'a\\nb\\nc\\n'"])
            .pipe_into(&Cmd::new("wc").arg("-l"), || false)
            .unwrap();
        assert_eq!(out.trim(), "3");
        let e = Cmd::new("sh")
            .args(["-c", "echo half; echo producer broke >&2; exit 4"])
            .pipe_into(&Cmd::new("cat"), || false)
            .unwrap_err();
        assert!(
            matches!(e, ExecError::Failed { code: Some(4), .. }),
            "{e:?}"
        );
        assert!(e.stderr().contains("producer broke"), "{e}");
        let e = Cmd::new("echo")
            .arg("x")
            .pipe_into(
                &Cmd::new("sh").args(["-c", "cat >/dev/null; echo no room >&2; exit 5"]),
                || false,
            )
            .unwrap_err();
        assert!(
            matches!(e, ExecError::Failed { code: Some(5), .. }),
            "{e:?}"
        );
        assert!(e.stderr().contains("no room"), "{e}");
        let t = std::time::Instant::now();
        let e = Cmd::new("sleep")
            .arg("5")
            .pipe_into(&Cmd::new("cat"), || {
                t.elapsed() > Duration::from_millis(200)
            })
            .unwrap_err();
        assert!(e.stderr().contains("interrupted"), "{e:?}");
        assert!(t.elapsed() < Duration::from_secs(3));
    }

    #[test]
    fn summary_quotes_spaces_and_hides_env() {
        let c = Cmd::new("/usr/bin/docker")
            .args(["compose", "a b"])
            .env("SECRET", "hunter2");
        assert_eq!(c.summary(), "docker compose 'a b'");
    }
}
