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
    /// The descriptions the table read (instances with a port table), and when
    /// each was last changed: an edited table is routed without a restart.
    env_files: Vec<PathBuf>,
    env_stamp: Vec<Option<SystemTime>>,
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
        let env_stamp: Vec<_> = c.env_files.iter().map(modified).collect();
        if c.checked.is_none() || stamp != c.stamp || env_stamp != c.env_stamp {
            match self.ctx.registry().load() {
                Ok(contents) => {
                    let (declared, files) = super::declared::all(&self.ctx, &contents);
                    c.table = Arc::new(names::table(&contents, &declared));
                    c.env_stamp = files.iter().map(modified).collect();
                    c.env_files = files;
                }
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

    fn answered(&self, id: &str) {
        self.waking.answered(id);
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

    fn still_serves(&self, id: &str, port: u16) -> bool {
        self.table().iter().any(|r| {
            r.instance == id && (r.front == Some(port) || r.services.iter().any(|s| s.port == port))
        })
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

/// When each instance was last used (asked for by name, bytes through a checkout):
/// the monotonic time the idle stop compares, and the wall-clock time
/// `up --make-room` reads from `router/seen.json` (written by [`keep_seen`], not
/// per request).
#[derive(Default)]
pub struct LastSeen(Mutex<Seen>);

#[derive(Default)]
struct Seen {
    at: BTreeMap<String, (Instant, SystemTime)>,
    dirty: bool,
}

impl LastSeen {
    pub fn touch(&self, id: &str) {
        if let Ok(mut m) = self.0.lock() {
            let now = (Instant::now(), SystemTime::now());
            // The hot path: no allocation once the instance has been seen.
            match m.at.get_mut(id) {
                Some(t) => *t = now,
                None => {
                    m.at.insert(id.to_string(), now);
                }
            }
            m.dirty = true;
        }
    }
    pub fn get(&self, id: &str) -> Option<Instant> {
        self.0.lock().ok()?.at.get(id).map(|t| t.0)
    }
    /// What changed since the last call, as `seen.json` records it (`None`: nothing).
    pub fn changed(&self) -> Option<BTreeMap<String, u64>> {
        let mut m = self.0.lock().ok()?;
        if !m.dirty {
            return None;
        }
        m.dirty = false;
        Some(
            m.at.iter()
                .map(|(k, t)| (k.clone(), crate::instance::placement::room::epoch_ms(t.1)))
                .collect(),
        )
    }
}

/// How often the last requests by name are written for `up --make-room`.
const SEEN_EVERY: Duration = Duration::from_secs(1);

/// Writes `router/seen.json` when a request came since the last write.
pub async fn keep_seen(shared: Arc<Shared>) {
    loop {
        tokio::time::sleep(SEEN_EVERY).await;
        if let Some(seen) = shared.last_seen.changed() {
            let s = shared.clone();
            let _ = tokio::task::spawn_blocking(move || {
                crate::instance::placement::room::write_seen(&s.ctx.home, &seen)
            })
            .await;
        }
    }
}
