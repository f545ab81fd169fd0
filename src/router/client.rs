//! The CLI's side of the router's actions: one HTTP/1.1 request to 127.0.0.1 on
//! the port the running router wrote, with its token (no proxy, no library: the
//! router is local and answers small JSON).

use std::io::{Read, Write};
use std::net::{Ipv4Addr, SocketAddr, TcpStream};
use std::time::Duration;

use crate::router::error::{Result, RouterError};
use crate::state::context::Context;

/// The most of an answer read.
const MAX_ANSWER: u64 = 1024 * 1024;

/// `method path` with `body` to the running router; its status and body.
pub fn call(ctx: &Context, method: &str, path: &str, body: Option<&str>) -> Result<(u16, String)> {
    let info = super::lifecycle::read_info(ctx)
        .filter(|_| super::lifecycle::status(ctx).running)
        .ok_or(RouterError::NoRouter)?;
    let addr = SocketAddr::from((Ipv4Addr::LOCALHOST, info.port));
    let io = |e: std::io::Error| RouterError::io("could not reach the router", addr.to_string(), e);
    let mut s = TcpStream::connect_timeout(&addr, Duration::from_secs(5)).map_err(io)?;
    s.set_read_timeout(Some(Duration::from_secs(60)))
        .map_err(io)?;
    let body = body.unwrap_or("");
    let head = format!(
        "{method} {path} HTTP/1.1\r\nHost: 127.0.0.1:{}\r\n{}: {}\r\nContent-Type: application/json\r\nContent-Length: {}\r\nConnection: close\r\n\r\n",
        info.port,
        super::page::TOKEN_HEADER,
        info.token,
        body.len()
    );
    s.write_all(head.as_bytes()).map_err(io)?;
    s.write_all(body.as_bytes()).map_err(io)?;
    let mut out = Vec::new();
    s.take(MAX_ANSWER).read_to_end(&mut out).map_err(io)?;
    parse_answer(&String::from_utf8_lossy(&out)).ok_or(RouterError::RouterAnswerUnreadable)
}

/// Pure: an HTTP/1.1 answer with a Content-Length (or to its end) → status and body.
pub fn parse_answer(text: &str) -> Option<(u16, String)> {
    let (head, body) = text.split_once("\r\n\r\n")?;
    let status: u16 = head.split_whitespace().nth(1)?.parse().ok()?;
    Some((status, body.to_string()))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn answers_parse() {
        assert_eq!(
            parse_answer("HTTP/1.1 409 Conflict\r\ncontent-length: 2\r\n\r\n{}"),
            Some((409, "{}".into()))
        );
        assert_eq!(parse_answer("garbage"), None);
        assert_eq!(parse_answer("HTTP/1.1 x\r\n\r\n"), None);
    }
}
