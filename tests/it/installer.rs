//! installer/install.sh and installer/package.sh, against a throwaway HTTP server on
//! 127.0.0.1 serving what package.sh produced.

use std::net::TcpListener;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};

use crate::harness::{BIN, Env, output_with_stdin};

fn repo() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
}

struct Server(Child);
impl Drop for Server {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

/// Serves `dir` on 127.0.0.1 and returns the base URL.
fn serve(dir: &Path) -> (Server, String) {
    let port = TcpListener::bind(("127.0.0.1", 0))
        .expect("bind")
        .local_addr()
        .expect("addr")
        .port();
    let child = Command::new("python3")
        .args([
            "-m",
            "http.server",
            "--bind",
            "127.0.0.1",
            &port.to_string(),
            "--directory",
        ])
        .arg(dir)
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .expect("python3 http.server");
    let server = Server(child);
    for _ in 0..100 {
        if std::net::TcpStream::connect(("127.0.0.1", port)).is_ok() {
            break;
        }
        std::thread::sleep(std::time::Duration::from_millis(50));
    }
    (server, format!("http://127.0.0.1:{port}"))
}

/// The built binaries without their debug information, in a directory of the
/// test's: a debug build's are ~180 MB each, and compressing them cost each test
/// 25 to 50 s. Where `strip` is missing or fails, the binaries are copied whole
/// (slower, the same test).
fn stripped_bins(env: &Env) -> PathBuf {
    let from = Path::new(BIN).parent().expect("bin dir");
    let dir = env.base().join("stripped");
    std::fs::create_dir_all(&dir).expect("mkdir");
    for name in ["kinfra", "kinfra-setup"] {
        let (src, dst) = (from.join(name), dir.join(name));
        let stripped = Command::new("strip")
            .arg("-o")
            .arg(&dst)
            .arg(&src)
            .stderr(Stdio::null())
            .status()
            .is_ok_and(|s| s.success());
        if !stripped {
            std::fs::copy(&src, &dst).expect("copy the binary");
        }
    }
    dir
}

fn package(env: &Env) -> PathBuf {
    let out = env.base().join("dist");
    let bin_dir = stripped_bins(env);
    let st = Command::new("bash")
        .arg(repo().join("installer/package.sh"))
        .arg(&out)
        .arg("--bin-dir")
        .arg(&bin_dir)
        .status()
        .expect("package.sh");
    assert!(st.success());
    out
}

fn install(
    env: &Env,
    base: &str,
    dir: &Path,
    args: &[&str],
    extra: &[(&str, &str)],
) -> std::process::Output {
    let mut c = Command::new("sh");
    c.arg(repo().join("installer/install.sh"))
        .args(args)
        .env("HOME", &env.home)
        .env("KINFRA_HOME", &env.kinfra_home)
        .env("KINFRA_INSTALL_BASE_URL", base)
        .env("KINFRA_INSTALL_DIR", dir)
        .stdin(Stdio::null());
    for (k, v) in extra {
        c.env(k, v);
    }
    c.output().expect("install.sh")
}

fn show(o: &std::process::Output) -> String {
    format!(
        "exit {:?}\n--- stdout ---\n{}\n--- stderr ---\n{}",
        o.status,
        String::from_utf8_lossy(&o.stdout),
        String::from_utf8_lossy(&o.stderr)
    )
}

#[test]
fn install_sh_installs_verified_binaries_and_refuses_tampered_ones() {
    let env = Env::new();
    let dist = package(&env);
    let asset = dist
        .join("latest/download")
        .read_dir()
        .expect("ls")
        .flatten()
        .map(|e| e.file_name().to_string_lossy().into_owned())
        .find(|n| n.ends_with(".tar.gz"))
        .expect("an archive");
    assert!(
        dist.join("latest/download")
            .join(format!("{asset}.sha256"))
            .is_file()
    );
    let (_server, base) = serve(&dist);

    // Latest, installed and runnable.
    let dir = env.base().join("installed");
    let o = install(&env, &base, &dir, &["--install-only"], &[]);
    assert!(o.status.success(), "{}", show(&o));
    for b in ["kinfra", "kinfra-setup"] {
        let v = Command::new(dir.join(b))
            .arg("--version")
            .output()
            .expect("run");
        assert!(
            v.status.success() && String::from_utf8_lossy(&v.stdout).contains("0.1.0"),
            "{b}"
        );
    }
    assert!(
        String::from_utf8_lossy(&o.stderr).contains("is not on your PATH"),
        "{}",
        show(&o)
    );

    // Pinned version, through a pipe as `curl … | sh -s -- ARGS` does, running setup.
    let dir2 = env.base().join("installed2");
    let script = std::fs::read(repo().join("installer/install.sh")).expect("read");
    let o = output_with_stdin(
        Command::new("sh")
            .args(["-s", "--", "--check-only"])
            .env("HOME", &env.home)
            .env("KINFRA_HOME", &env.kinfra_home)
            .env("KINFRA_INSTALL_BASE_URL", &base)
            .env("KINFRA_INSTALL_DIR", &dir2)
            .env("KINFRA_VERSION", "0.1.0"),
        &script,
    );
    assert!(dir2.join("kinfra-setup").is_file(), "{}", show(&o));
    assert!(
        String::from_utf8_lossy(&o.stderr).contains("] Prerequisites"),
        "setup ran\n{}",
        show(&o)
    );

    // One altered byte: refused, nothing installed.
    let tampered = env.base().join("tampered");
    let copy = Command::new("cp")
        .arg("-r")
        .arg(&dist)
        .arg(&tampered)
        .status()
        .expect("cp");
    assert!(copy.success());
    let archive = tampered.join("latest/download").join(&asset);
    let mut bytes = std::fs::read(&archive).expect("read");
    let mid = bytes.len() / 2;
    bytes[mid] ^= 0x01;
    std::fs::write(&archive, bytes).expect("write");
    let (_s2, base2) = serve(&tampered);
    let dir3 = env.base().join("installed3");
    let o = install(&env, &base2, &dir3, &["--install-only"], &[]);
    assert!(!o.status.success(), "{}", show(&o));
    assert!(
        String::from_utf8_lossy(&o.stderr).contains("checksum mismatch"),
        "{}",
        show(&o)
    );
    assert!(!dir3.join("kinfra").exists() && !dir3.join("kinfra-setup").exists());

    // A version that does not exist: a clear failure, nothing installed.
    let o = install(
        &env,
        &base,
        &dir3,
        &["--install-only"],
        &[("KINFRA_VERSION", "9.9.9")],
    );
    assert!(
        !o.status.success() && String::from_utf8_lossy(&o.stderr).contains("download of"),
        "{}",
        show(&o)
    );
    assert!(!dir3.join("kinfra").exists());
}

#[test]
fn install_sh_refuses_without_a_checksum_tool() {
    let env = Env::new();
    let dist = package(&env);
    let (_server, base) = serve(&dist);
    // A PATH with everything the script uses except sha256sum and shasum.
    let farm = env.base().join("farm");
    std::fs::create_dir_all(&farm).expect("mkdir");
    for tool in [
        "sh", "curl", "wget", "tar", "gzip", "cut", "mkdir", "mktemp", "cp", "chmod", "mv", "rm",
        "uname", "grep", "cat",
    ] {
        if let Ok(out) = Command::new("sh")
            .args(["-c", &format!("command -v {tool}")])
            .output()
        {
            let p = String::from_utf8_lossy(&out.stdout).trim().to_string();
            if !p.is_empty() {
                let _ = std::os::unix::fs::symlink(p, farm.join(tool));
            }
        }
    }
    let dir = env.base().join("installed");
    let o = install(
        &env,
        &base,
        &dir,
        &["--install-only"],
        &[("PATH", farm.to_str().expect("utf8"))],
    );
    assert!(!o.status.success(), "{}", show(&o));
    assert!(
        String::from_utf8_lossy(&o.stderr).contains("no SHA-256 tool"),
        "{}",
        show(&o)
    );
    assert!(!dir.join("kinfra").exists());
}

/// A `bin` directory whose `uname` and `sysctl` say what a Mac would, first on PATH.
fn fake_platform(env: &Env, os: &str, arch: &str, arm64_hw: bool) -> String {
    let dir = env.base().join(format!("fake-{os}-{arch}"));
    std::fs::create_dir_all(&dir).expect("mkdir");
    let script = |name: &str, body: String| {
        let p = dir.join(name);
        std::fs::write(&p, body).expect("write");
        use std::os::unix::fs::PermissionsExt;
        std::fs::set_permissions(&p, std::fs::Permissions::from_mode(0o755)).expect("chmod");
    };
    script(
        "uname",
        format!(
            "#!/bin/sh\ncase \"$1\" in -s) echo {os} ;; -m) echo {arch} ;; *) echo {os} ;; esac\n"
        ),
    );
    script(
        "sysctl",
        format!(
            "#!/bin/sh\n[ \"$2\" = hw.optional.arm64 ] && echo {}\n",
            u8::from(arm64_hw)
        ),
    );
    format!(
        "{}:{}",
        dir.display(),
        std::env::var("PATH").unwrap_or_default()
    )
}

#[test]
fn install_sh_picks_the_platform_and_says_when_no_archive_exists() {
    let env = Env::new();
    let dist = package(&env);
    let (_server, base) = serve(&dist);
    let dir = env.base().join("installed");
    // A Rosetta shell on Apple silicon says x86_64: the arm64 archive is fetched,
    // and (none being served here) the failure names the platform plainly.
    let path = fake_platform(&env, "Darwin", "x86_64", true);
    let o = install(&env, &base, &dir, &["--install-only"], &[("PATH", &path)]);
    let err = String::from_utf8_lossy(&o.stderr);
    assert!(!o.status.success(), "{}", show(&o));
    assert!(err.contains("kinfra-macos-arm64.tar.gz"), "{}", show(&o));
    assert!(
        err.contains("no kinfra release exists for macos-arm64"),
        "{}",
        show(&o)
    );
    assert!(!dir.join("kinfra").exists());
    // An Intel Mac gets the x86_64 one.
    let path = fake_platform(&env, "Darwin", "x86_64", false);
    let o = install(&env, &base, &dir, &["--install-only"], &[("PATH", &path)]);
    assert!(
        String::from_utf8_lossy(&o.stderr).contains("kinfra-macos-x86_64.tar.gz"),
        "{}",
        show(&o)
    );

    // This host: installed; no profile is touched unless asked.
    let o = install(
        &env,
        &base,
        &dir,
        &["--install-only"],
        &[("SHELL", "/bin/zsh")],
    );
    assert!(o.status.success(), "{}", show(&o));
    for f in [".zshrc", ".bashrc", ".bash_profile", ".profile"] {
        assert!(
            !env.home.join(f).exists(),
            "{f} written without --modify-path"
        );
    }
    // Asked: the file the user's shell reads, once.
    for _ in 0..2 {
        let o = install(
            &env,
            &base,
            &dir,
            &["--install-only", "--modify-path"],
            &[("SHELL", "/bin/zsh")],
        );
        assert!(o.status.success(), "{}", show(&o));
    }
    let zshrc = std::fs::read_to_string(env.home.join(".zshrc")).expect(".zshrc");
    assert_eq!(
        zshrc.matches(&dir.display().to_string()).count(),
        1,
        "{zshrc}"
    );
    assert!(!env.home.join(".bashrc").exists());
}
