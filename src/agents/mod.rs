//! What coding agents talk to: the MCP server and the Claude Code hooks. Both call
//! the same instance and data functions the CLI does; their own failures are
//! [`error::AgentsError`].

pub mod error;
pub mod hook;
pub mod mcp;
