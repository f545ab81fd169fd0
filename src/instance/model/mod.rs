//! What an instance is: its `.env.sandbox` as kinfra means it ([`env`]), its
//! identity, which is its registry entry's ([`identity`]), and the lock that lets one
//! operation act on it at a time ([`lock`]).

pub mod env;
pub mod identity;
pub(super) mod lock;
