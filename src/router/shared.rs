//! What every connection of the router shares: the context, the description
//! `/api/instances` lists with, the port and token, and the routing table, read
//! again from the registry when its files change.

use std::collections::BTreeMap;
use std::path::PathBuf;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant, SystemTime};

use super::names::{self, Route};
use crate::stack::Stack;
use crate::state::context::Context;

/// How often the registry's files are looked at for a change.
const TABLE_FRESH: Duration = Duration::from_millis(200);

/// What every connection shares.
pub struct Shared {
    pub ctx: Context,
    pub stack: Stack,
    pub port: u16,
    pub token: String,
    cache: Mutex<Cache>,
    /// The canonical ports and where they go (`kinfra checkout`).
    pub checkout: tokio::sync::Mutex<super::checkout::State>,
    /// Sandboxes a request is waking.
    pub waking: super::wake::Waking,
    /// When each instance was last asked for by name (idle stop).
    pub last_seen: LastSeen,
    /// Open `/api/events` streams: each holds a connection slot for good and asks
    /// Docker every 2 s, so a few are served (a page or two), not 1024.
    pub streams: Arc<tokio::sync::Semaphore>,
}

/// The most `/api/events` streams served at once.
pub const MAX_STREAMS: usize = 16;

#[derive(Default)]
struct Cache {
    checked: Option<Instant>,
    stamp: Vec<Option<SystemTime>>,
    table: Arc<Vec<Route>>,
}

fn modified(p: &PathBuf) -> Option<SystemTime> {
    std::fs::metadata(p).and_then(|m| m.modified()).ok()
}

impl Shared {
    pub fn new(ctx: Context, stack: Stack, port: u16, token: String) -> Shared {
        Shared {
            ctx,
            stack,
            port,
            token,
            cache: Mutex::default(),
            checkout: tokio::sync::Mutex::default(),
            waking: super::wake::Waking::default(),
            last_seen: LastSeen::default(),
            streams: Arc::new(tokio::sync::Semaphore::new(MAX_STREAMS)),
        }
    }

    /// The routing table, read again when the registry's files changed.
    pub fn table(&self) -> Arc<Vec<Route>> {
        let Ok(mut c) = self.cache.lock() else {
            return Arc::default();
        };
        if c.checked.is_some_and(|t| t.elapsed() < TABLE_FRESH) {
            return c.table.clone();
        }
        let reg = self.ctx.home.registry_file();
        let side = reg.with_file_name(crate::state::registry::SIDE_FILE);
        let stamp = vec![modified(&reg), modified(&side)];
        if c.checked.is_none() || stamp != c.stamp {
            match self.ctx.registry().load() {
                Ok(contents) => c.table = Arc::new(names::table(&contents)),
                Err(e) => crate::errln!(
                    "kinfra router: the registry could not be read ({e}); the last table stays"
                ),
            }
            c.stamp = stamp;
        }
        c.checked = Some(Instant::now());
        c.table.clone()
    }
}

/// What checked-out connections ask of the router.
impl super::checkout::Instances for Shared {
    fn used(&self, id: &str) {
        self.last_seen.touch(id);
    }

    fn wake(&self, id: &str) -> Result<(), String> {
        let table = self.table();
        let route = table
            .iter()
            .find(|r| r.instance == id)
            .ok_or("it is no longer registered")?;
        super::wake::start(
            &self.ctx,
            &self.waking,
            route,
            "a connection to a checked-out port came",
        )
        .map(|_| ())
        .map_err(|why| why.to_string())
    }

    fn still_wanted(&self, id: &str) -> Result<(), String> {
        let table = self.table();
        let route = table
            .iter()
            .find(|r| r.instance == id)
            .ok_or("it was removed from the registry")?;
        match super::wake::check(&self.ctx, route) {
            Err(why @ super::wake::NotWoken::Removing(_)) => Err(why.to_string()),
            _ => Ok(()),
        }
    }
}

/// When each instance was last used (asked for by name, bytes through a checkout).
#[derive(Default)]
pub struct LastSeen(Mutex<BTreeMap<String, Instant>>);

impl LastSeen {
    pub fn touch(&self, id: &str) {
        if let Ok(mut m) = self.0.lock() {
            m.insert(id.to_string(), Instant::now());
        }
    }
    pub fn get(&self, id: &str) -> Option<Instant> {
        self.0.lock().ok()?.get(id).copied()
    }
}
