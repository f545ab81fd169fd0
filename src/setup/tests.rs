use super::*;

use std::sync::Arc;

use crate::state::context::Recorder;
use crate::support::prompt::Scripted;

/// A home, a work directory, a recorder and the scripted answers.
struct T {
    _dir: tempfile::TempDir,
    work: PathBuf,
    rec: Arc<Recorder>,
    answers: Arc<Scripted>,
    ctx: Context,
}

fn with_answers(answers: &[&str]) -> T {
    let dir = tempfile::tempdir().unwrap();
    let work = dir.path().join("work");
    std::fs::create_dir_all(&work).unwrap();
    let rec = Arc::new(Recorder::default());
    let answers = Arc::new(Scripted::new(answers.iter().copied()));
    let ctx =
        Context::new(&dir.path().join("home"), &work, rec.clone()).with_prompter(answers.clone());
    T {
        _dir: dir,
        work,
        rec,
        answers,
        ctx,
    }
}

impl T {
    fn said(&self) -> String {
        self.rec.lines.lock().unwrap().join("\n")
    }
}

fn repo() -> Repo {
    Repo {
        url: DEFAULT_REPO.into(),
        demo_origin: None,
    }
}

#[test]
fn a_bad_destination_is_asked_again_with_the_reason() {
    let w = tempfile::tempdir().unwrap();
    let file = w.path().join("a-file");
    std::fs::write(&file, "x").unwrap();
    let full = w.path().join("full");
    std::fs::create_dir_all(full.join("stuff")).unwrap();
    let good = w.path().join("new/ktrdr-prod");
    let t = with_answers(&[
        file.to_str().unwrap(),
        file.join("under").to_str().unwrap(),
        full.to_str().unwrap(),
        good.to_str().unwrap(),
    ]);
    let d = ask_destination(&t.ctx, &repo(), DEFAULT_PATH).unwrap();
    assert_eq!(d.dest, good);
    assert_eq!(
        d.missing_top.as_deref(),
        Some(w.path().join("new").as_path())
    );
    let said = t.said();
    assert!(
        said.contains("exists and is not a directory. Choose another path"),
        "{said}"
    );
    assert!(said.contains("is a file, so"), "{said}");
    assert!(said.contains("is not empty and is not a clone"), "{said}");
    // Four answers, four times the same question: never "Create …?" under a file.
    assert_eq!(
        t.answers.questions(),
        vec!["Where should local-prod live?"; 4]
    );
    assert!(!w.path().join("new").exists(), "checking creates nothing");
    assert_eq!(std::fs::read_to_string(&file).unwrap(), "x");
}

#[test]
fn the_plan_comes_first_and_cancel_changes_nothing() {
    let t = with_answers(&["made/here/ktrdr-prod", "", "n", "3"]);
    let r = choose(
        &t.ctx,
        &crate::stack::KTRDR,
        &Options::default(),
        &repo(),
        &onepassword::ItemState::Present,
    )
    .unwrap();
    assert!(r.is_none(), "cancelled");
    let said = t.said();
    for part in [
        "step: Plan",
        "destination",
        "(creates ",
        "8000",
        "do not start it",
        "create shared data",
    ] {
        assert!(said.contains(part), "{part} missing in\n{said}");
    }
    assert!(!t.work.join("made").exists(), "nothing made before proceed");
    assert_eq!(t.answers.left(), 0);
}

#[test]
fn change_asks_again_with_the_previous_answers_as_defaults() {
    // First round: a destination, shared "skip", start; then "change": Enter keeps
    // the destination, the rest is answered anew, then proceed.
    let t = with_answers(&["first/ktrdr-prod", "3", "y", "2", "", "", "n", "proceed"]);
    let (d, c) = choose(
        &t.ctx,
        &crate::stack::KTRDR,
        &Options::default(),
        &repo(),
        &onepassword::ItemState::Present,
    )
    .unwrap()
    .expect("proceeded");
    assert_eq!(d.dest, t.work.join("first/ktrdr-prod"));
    assert_eq!(c.shared, SharedChoice::Minimal);
    assert!(!c.start);
}

#[test]
fn a_missing_item_is_offered_and_shown_in_the_plan() {
    let t = with_answers(&["x/ktrdr-prod", "y", "", "", "1"]);
    let (_, c) = choose(
        &t.ctx,
        &crate::stack::KTRDR,
        &Options::default(),
        &repo(),
        &onepassword::ItemState::Missing,
    )
    .unwrap()
    .expect("proceeded");
    assert!(c.create_item && c.start);
    assert!(
        t.said().contains("create item ktrdr-local-prod"),
        "{}",
        t.said()
    );
}

#[test]
fn a_rerun_defaults_to_the_registered_local_prod() {
    let t = with_answers(&["", "", "n", "1"]);
    let prod = t.work.join("registered-prod");
    t.ctx
        .registry()
        .update(|c| {
            c.local_prod = Some(crate::state::registry::Entry {
                instance_id: "ktrdr-prod".into(),
                slot: 0,
                path: prod.display().to_string(),
                created_at: "2026-01-01T00:00:00".into(),
                is_worktree: false,
                parent_repo: None,
            });
            Ok(())
        })
        .unwrap();
    let (d, _) = choose(
        &t.ctx,
        &crate::stack::KTRDR,
        &Options::default(),
        &repo(),
        &onepassword::ItemState::Present,
    )
    .unwrap()
    .expect("proceeded");
    assert_eq!(d.dest, prod);
    assert!(d.already_registered);
    // Another path is refused with the registered one named, and asked again.
    let t2 = with_answers(&["elsewhere", ""]);
    t2.ctx
        .registry()
        .update(|c| {
            c.local_prod = t.ctx.registry().load().unwrap().local_prod;
            Ok(())
        })
        .unwrap();
    let d = ask_destination(&t2.ctx, &repo(), &prod.display().to_string()).unwrap();
    assert_eq!(d.dest, prod);
    assert!(t2.said().contains("already exists at"), "{}", t2.said());
}

#[test]
fn shared_data_from_a_checkout_is_checked_and_enter_goes_back() {
    let t = with_answers(&["1", "", "1", "nowhere", "1", "old"]);
    std::fs::create_dir_all(t.work.join("old/models")).unwrap();
    let c = ask_shared(&t.ctx, &crate::stack::KTRDR).unwrap();
    assert_eq!(c, SharedChoice::From(t.work.join("old")));
    assert!(
        t.said().contains("has none of data/, models/, strategies/"),
        "{}",
        t.said()
    );
}

#[test]
fn a_demo_never_defaults_to_the_real_local_prod_path() {
    let t = with_answers(&["", "", "n", "1"]);
    let o = Options {
        demo: true,
        ..Options::default()
    };
    let (d, _) = choose(
        &t.ctx,
        &crate::stack::KTRDR,
        &o,
        &repo(),
        &onepassword::ItemState::Present,
    )
    .unwrap()
    .expect("proceeded");
    assert!(
        d.dest.ends_with("kinfra-demo/ktrdr-prod"),
        "{}",
        d.dest.display()
    );
}

#[test]
fn ssh_urls_are_refused_and_the_rest_pass() {
    for bad in [
        "git@github.com:kpiteira/ktrdr.git",
        "ssh://git@github.com/kpiteira/ktrdr.git",
        "git+ssh://git@github.com/kpiteira/ktrdr.git",
        "github.com:kpiteira/ktrdr",
    ] {
        let e = check_repo_url(bad).expect_err(bad).to_string();
        assert!(e.contains("SSH URL") && e.contains(DEFAULT_REPO), "{e}");
    }
    for good in [
        DEFAULT_REPO,
        "http://127.0.0.1:8080/ktrdr.git",
        "file:///srv/git/ktrdr.git",
        "git://example.org/ktrdr.git",
        "/srv/git/ktrdr.git",
        "./ktrdr.git",
        "../repos/ktrdr:v2.git",
    ] {
        assert!(check_repo_url(good).is_ok(), "{good}");
    }
}

#[test]
fn repo_urls_compare_loosely() {
    assert!(same_repo(
        "https://github.com/kpiteira/ktrdr.git",
        "https://github.com/kpiteira/ktrdr"
    ));
    assert!(same_repo(
        "/x/ktrdr-demo-origin.git/",
        "/x/ktrdr-demo-origin.git"
    ));
    assert!(!same_repo(
        "https://github.com/a/ktrdr",
        "https://github.com/b/ktrdr"
    ));
}

#[test]
fn paths_expand() {
    let cwd = Path::new("/w");
    assert_eq!(expand("rel/x", cwd).unwrap(), PathBuf::from("/w/rel/x"));
    assert_eq!(expand("/abs", cwd).unwrap(), PathBuf::from("/abs"));
    if let Some(h) = std::env::var_os("HOME") {
        assert_eq!(expand("~/d", cwd).unwrap(), PathBuf::from(h).join("d"));
    }
}
