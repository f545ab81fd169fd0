//! Files compiled into the binary: the stack definitions (`compose/`, including the
//! demo repository) and helper scripts (`embedded/`).

use rust_embed::RustEmbed;

#[derive(RustEmbed)]
#[folder = "compose/"]
pub struct Stacks;

#[derive(RustEmbed)]
#[folder = "embedded/"]
pub struct Scripts;

/// An embedded file as text ("" if missing, which the build guarantees it is not).
pub fn text<E: RustEmbed>(path: &str) -> String {
    E::get(path)
        .map(|f| String::from_utf8_lossy(&f.data).into_owned())
        .unwrap_or_default()
}
