//! What every instance of a project shares: the shared services' compose stack
//! ([`services`]) and the shared data directories ([`data`]).

pub mod data;
pub mod services;
