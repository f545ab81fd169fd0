//! `kinfra router`: one small local process per kinfra home that reaches every
//! instance by name (`http://SERVICE.INSTANCE.localhost:PORT/`), listens on
//! 127.0.0.1 only, and follows the registry as instances come and go. One file
//! per concern: its life and records, the names (pure), the HTTP forwarding, the
//! pages it answers itself, and the server loop.

pub mod checkout;
pub mod client;
pub mod counted;
pub mod declared;
pub mod error;
pub mod events;
pub mod holder;
pub mod html;
pub mod idle;
pub mod lifecycle;
pub mod names;
pub mod note;
pub mod page;
pub mod proxy;
pub mod server;
pub mod shared;
pub mod urls;
pub mod wake;

pub use lifecycle::{
    DEFAULT_PORT, RouterStatus, Started, Stopped, auto_start, start, status, stop, wanted_port,
};
pub use server::run;
