//! The bottom layer: helpers every other layer uses and that know nothing of
//! kinfra's state, tools or stacks. Nothing here imports from above.

pub mod assets;
pub mod env_vars;
pub mod error;
pub mod exec;
pub mod fsutil;
pub mod process;
pub mod prompt;
pub mod slug;
pub mod stdio;
pub mod timeout;
pub mod units;
pub mod validate;
