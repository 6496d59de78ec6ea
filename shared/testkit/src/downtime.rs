//! What a rotation costs the applications: a load harness that plays them
//! while rotations run back to back.
//!
//! Each client opens a new connection in a loop with the credential the
//! secret holds, read the way AWS's caching clients read it: `AWSCURRENT`,
//! kept for a while ([`LoadOptions::cache_ttl`]) or until a login fails,
//! then read again. Every attempt is counted
//! against the rotation running when it started (or the one that just
//! ended), with the failed logins and the longest stretch a client could
//! not log in.

use crate::server::TestServer;
use crate::world::World;
use serde_json::json;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::Mutex;
use std::time::{Duration, Instant};

/// How the load runs.
#[derive(Debug, Clone)]
pub struct LoadOptions {
    /// Clients logging in concurrently (default 20).
    pub clients: usize,
    /// Rotations, back to back (default 5).
    pub rotations: usize,
    /// Load before the first rotation and after each, counted with the
    /// rotation before it (default 300 ms).
    pub settle: Duration,
    /// How long a client keeps the credential it read before reading it
    /// again (default 100 ms). AWS's caching clients refresh every hour
    /// and rotations are at least four hours apart, so a cached credential
    /// is always younger than the last rotation; the harness compresses
    /// both (rotations here are `settle` plus a rotation's time apart).
    pub cache_ttl: Duration,
}

impl Default for LoadOptions {
    fn default() -> Self {
        Self {
            clients: 20,
            rotations: 5,
            settle: Duration::from_millis(300),
            cache_ttl: Duration::from_millis(100),
        }
    }
}

/// What the clients saw during one rotation (and the settle time after it).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct RotationLoad {
    /// Logins attempted.
    pub attempts: u64,
    /// Logins refused.
    pub failed: u64,
    /// The longest time one client could not log in, from its first failed
    /// attempt to its next successful one.
    pub longest_outage: Duration,
    /// How long `RotateSecret` took, all four steps.
    pub rotation_time: Duration,
}

/// Every rotation's load.
#[derive(Debug, Clone, Default)]
pub struct DowntimeReport {
    /// One entry per rotation, in order.
    pub rotations: Vec<RotationLoad>,
    /// Logins attempted before the first rotation (all must succeed).
    pub warm_up_attempts: u64,
    /// Logins refused before the first rotation.
    pub warm_up_failed: u64,
    /// For each rotation, the time from setSecret's answer to
    /// finishSecret's (from the runtime's invocation records): the window
    /// in which a single-user server has the new password and the secret's
    /// `AWSCURRENT` still the old one.
    pub set_to_finish: Vec<Duration>,
}

impl DowntimeReport {
    /// Logins attempted during the rotations.
    pub fn attempts(&self) -> u64 {
        self.rotations.iter().map(|r| r.attempts).sum()
    }
    /// Logins refused during the rotations.
    pub fn failed(&self) -> u64 {
        self.rotations.iter().map(|r| r.failed).sum()
    }
    /// The longest outage any client saw.
    pub fn longest_outage(&self) -> Duration {
        self.rotations
            .iter()
            .map(|r| r.longest_outage)
            .max()
            .unwrap_or_default()
    }
    /// The mean `RotateSecret` time.
    pub fn mean_rotation_time(&self) -> Duration {
        let n = self.rotations.len().max(1) as u32;
        self.rotations
            .iter()
            .map(|r| r.rotation_time)
            .sum::<Duration>()
            / n
    }
    /// The mean of [`DowntimeReport::set_to_finish`].
    pub fn mean_set_to_finish(&self) -> Duration {
        let n = self.set_to_finish.len().max(1) as u32;
        self.set_to_finish.iter().sum::<Duration>() / n
    }
    /// The figures as JSON, for the bench's output file.
    pub fn to_json(&self) -> serde_json::Value {
        json!({
            "rotations": self.rotations.len(),
            "attempts": self.attempts(),
            "failed_logins": self.failed(),
            "failed_logins_per_rotation": self.failed() as f64 / self.rotations.len().max(1) as f64,
            "longest_outage_ms": self.longest_outage().as_secs_f64() * 1000.0,
            "mean_rotation_ms": self.mean_rotation_time().as_secs_f64() * 1000.0,
            "warm_up_failed": self.warm_up_failed,
            "mean_set_to_finish_ms": self.mean_set_to_finish().as_secs_f64() * 1000.0,
        })
    }
}

/// A rotation strategy the harness sets up.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Strategy {
    /// The user changes its own password (Redis: keeps two).
    SingleUser,
    /// Two users take turns; an admin secret (`masterarn`) changes them.
    AlternatingUsers,
}

impl Strategy {
    /// Both, in table order.
    pub const ALL: [Strategy; 2] = [Strategy::SingleUser, Strategy::AlternatingUsers];

    /// Its name in tables.
    pub fn name(self) -> &'static str {
        match self {
            Strategy::SingleUser => "single user",
            Strategy::AlternatingUsers => "alternating users",
        }
    }
}

/// The name of the harness's application user.
pub const APP_USER: &str = "load_app";
/// The name of the harness's admin (alternating users).
pub const ADMIN_USER: &str = "load_admin";

/// Makes the user, the admin where `strategy` needs one, and the secret;
/// `None` when the server has no such strategy (no admin that can clone
/// users).
pub async fn prepare<D: TestServer>(world: &World<D>, strategy: Strategy) -> Option<String> {
    match strategy {
        Strategy::SingleUser => Some(
            world
                .user_with_secret("load", APP_USER, "load-Password-0")
                .await,
        ),
        Strategy::AlternatingUsers => {
            let admin_password = "load-Admin-Password-1";
            if !world.db.create_admin(ADMIN_USER, admin_password).await {
                return None;
            }
            let admin = world
                .create_secret("load-admin", &world.db_secret(ADMIN_USER, admin_password))
                .await;
            world.db.create_user(APP_USER, "load-Password-0").await;
            let mut value = world.db_secret(APP_USER, "load-Password-0");
            value["masterarn"] = json!(admin);
            Some(world.create_secret("load", &value).await)
        }
    }
}

/// The shared counters of a run.
struct Counters {
    rotation: AtomicUsize,
    stop: AtomicBool,
    loads: Vec<Mutex<RotationLoad>>,
}

impl Counters {
    /// The load of rotation `index` (the last entry is the warm-up's).
    fn at(&self, index: usize) -> std::sync::MutexGuard<'_, RotationLoad> {
        self.loads[index].lock().expect("the counters")
    }
}

/// Runs `options.clients` clients against `secret` while `options.rotations`
/// rotations run back to back; returns what they saw.
pub async fn run<D: TestServer>(
    world: &World<D>,
    secret: &str,
    options: &LoadOptions,
) -> DowntimeReport {
    // One slot per rotation, and the warm-up's last: the slot the clients
    // count in until the first rotation starts.
    let counters = Counters {
        rotation: AtomicUsize::new(options.rotations),
        stop: AtomicBool::new(false),
        loads: (0..=options.rotations)
            .map(|_| Mutex::new(RotationLoad::default()))
            .collect(),
    };
    let ttl = options.cache_ttl;

    let client = |_: usize| {
        let counters = &counters;
        async move {
            let mut cached: Option<(String, String, Instant)> = None;
            let mut outage: Option<(Instant, usize)> = None;
            while !counters.stop.load(Ordering::SeqCst) {
                let (user, password) = match &cached {
                    Some((user, password, read)) if read.elapsed() < ttl => {
                        (user.clone(), password.clone())
                    }
                    _ => {
                        let value = world.value(secret, "AWSCURRENT").await;
                        let user = value["username"].as_str().unwrap_or_default().to_owned();
                        let password = value["password"].as_str().unwrap_or_default().to_owned();
                        cached = Some((user.clone(), password.clone(), Instant::now()));
                        (user, password)
                    }
                };
                let index = counters.rotation.load(Ordering::SeqCst);
                let ok = world.db.can_login(&user, &password).await;
                let mut load = counters.at(index);
                load.attempts += 1;
                if ok {
                    if let Some((start, at)) = outage.take() {
                        drop(load);
                        let mut load = counters.at(at);
                        load.longest_outage = load.longest_outage.max(start.elapsed());
                    }
                } else {
                    load.failed += 1;
                    outage.get_or_insert((Instant::now(), index));
                    // As a caching client does: read the secret again.
                    cached = None;
                }
            }
            if let Some((start, at)) = outage {
                let mut load = counters.at(at);
                load.longest_outage = load.longest_outage.max(start.elapsed());
            }
        }
    };
    let rotations = async {
        tokio::time::sleep(options.settle).await;
        for index in 0..options.rotations {
            counters.rotation.store(index, Ordering::SeqCst);
            let started = Instant::now();
            world
                .rotate(secret)
                .await
                .unwrap_or_else(|e| panic!("rotation {index} under load: {e}"));
            counters.at(index).rotation_time = started.elapsed();
            tokio::time::sleep(options.settle).await;
        }
        counters.stop.store(true, Ordering::SeqCst);
    };
    futures::future::join(
        rotations,
        futures::future::join_all((0..options.clients).map(client)),
    )
    .await;

    let mut loads: Vec<RotationLoad> = counters
        .loads
        .into_iter()
        .map(|m| m.into_inner().expect("the counters"))
        .collect();
    let warm = loads.pop().unwrap_or_default();
    DowntimeReport {
        rotations: loads,
        warm_up_attempts: warm.attempts,
        warm_up_failed: warm.failed,
        set_to_finish: set_to_finish(world).await,
    }
}

/// From setSecret's answer to the next finishSecret's, for each rotation.
async fn set_to_finish<D: TestServer>(world: &World<D>) -> Vec<Duration> {
    let answered: std::collections::HashMap<String, u64> = world
        .lambda
        .invocations()
        .await
        .into_iter()
        .filter_map(|i| Some((i.request_id, i.answered_ms?)))
        .collect();
    let mut steps: Vec<(u64, String)> = crate::semantics::step_lines(world)
        .into_iter()
        .filter_map(|line| {
            let at = *answered.get(line["request_id"].as_str()?)?;
            Some((at, line["step"].as_str()?.to_owned()))
        })
        .collect();
    steps.sort();
    let mut windows = Vec::new();
    let mut set_at = None;
    for (at, step) in steps {
        match step.as_str() {
            "setSecret" => set_at = Some(at),
            "finishSecret" => {
                if let Some(set) = set_at.take() {
                    windows.push(Duration::from_millis(at.saturating_sub(set)));
                }
            }
            _ => {}
        }
    }
    windows
}
