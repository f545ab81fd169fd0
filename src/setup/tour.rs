//! `kinfra demo`'s tour of the lifecycle on the embedded demo: local-prod init, up,
//! status, a sandbox created and started beside it, list, then teardown. Each step
//! is the library call the command of that name makes; what a step has to show goes
//! to the caller as a [`Shown`], which the CLI prints.

use std::path::Path;

use crate::instance::{
    self, CreateOptions, DestroyOptions, Destroyed, InitOptions, Instance, Kind, ListRow, Status,
    UpOptions,
};
use crate::setup::error::{Result, SetupError};
use crate::stack::Stack;
use crate::state::context::Context;

/// What a step of the tour shows.
pub enum Shown<'a> {
    /// A new instance's ports and URLs.
    Ports(&'a Instance),
    Status(&'a Status),
    List(&'a [ListRow]),
}

/// The demo is KTRDR-shaped wherever it is run from, kinfra.toml or not.
fn stack() -> &'static Stack {
    &crate::stack::KTRDR
}

/// The tour's steps in `base`'s home, local-prod cloned at `prod_dir`.
pub fn run(base: &Context, prod_dir: &Path, show: &mut dyn FnMut(Shown<'_>)) -> Result<()> {
    let stack = stack();
    let r = &base.reporter;
    let prod_ctx = base.with_cwd(prod_dir);
    let no_secrets = UpOptions {
        secrets: false,
        ..Default::default()
    };

    r.step("kinfra local-prod init");
    let prod =
        instance::init(&prod_ctx, stack, Kind::LocalProd, InitOptions::default()).map_err(|e| {
            match e {
                // That is most likely the user's real local-prod: never suggest removing it.
                crate::Error::ProjectInUse { project, what } => {
                    SetupError::DemoProjectInUse { project, what }
                }
                e => e.into(),
            }
        })?;
    show(Shown::Ports(&prod));
    r.step("kinfra local-prod up --no-secrets");
    instance::up(&prod_ctx, stack, &prod, &no_secrets)?;
    r.step("kinfra local-prod status");
    show(Shown::Status(&instance::status(&prod_ctx, &prod)?));

    r.step("kinfra sandbox create demo");
    let sb = instance::create(
        &prod_ctx,
        stack,
        &CreateOptions {
            name: "demo".into(),
            ..Default::default()
        },
    )?;
    show(Shown::Ports(&sb));
    r.step("kinfra sandbox up --no-secrets");
    instance::up(&base.with_cwd(&sb.dir), stack, &sb, &no_secrets)?;

    r.step("kinfra sandbox list");
    let listing = instance::list(base, stack)?;
    show(Shown::List(&listing.instances));
    Ok(())
}

/// Destroys the tour's sandbox and local-prod (both tried, whichever fails).
pub fn tear_down(base: &Context, prod_dir: &Path) -> Result<(Destroyed, Destroyed)> {
    base.reporter.step("Tearing down");
    let ctx = base.with_cwd(prod_dir);
    let sandbox = instance::destroy(
        &ctx,
        stack(),
        &DestroyOptions {
            name: Some("demo".into()),
            ..Default::default()
        },
    );
    let local_prod = instance::destroy_local_prod(&ctx, stack());
    Ok((sandbox?, local_prod?))
}
