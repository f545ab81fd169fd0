//! Kinfra's own state: its home directory, the registry of instances and the
//! `.env.sandbox` file format, and the context every command runs against.
//! Imports only [`crate::support`].

pub mod context;
pub mod envfile;
pub mod error;
pub mod home;
pub mod kind;
pub mod registry;
