//! The strategies that should cost the applications nothing, under light
//! load (`testkit::downtime`): clients log in in a loop with the credential
//! the secret holds (read as AWS's caching clients read it) while rotations
//! run. Not timed: a failed login is the regression. `scripts/bench
//! --downtime` measures every function and strategy under the full load.

use testkit::downtime::{prepare, run, DowntimeReport, LoadOptions, Strategy};
use testkit::{MariaDbWorld, PostgresWorld, RedisWorld, TestServer, World};

/// Light load. The settle time after each rotation is long (1 s) so that
/// every client reads the secret again before the next rotation even when
/// the machine is busy with the rest of the suite: a client that did not
/// would hold a credential two rotations old, which no strategy promises.
fn light() -> LoadOptions {
    LoadOptions {
        clients: 4,
        rotations: 3,
        settle: std::time::Duration::from_secs(1),
        ..LoadOptions::default()
    }
}

fn assert_seamless(what: &str, report: &DowntimeReport) {
    assert_eq!(report.rotations.len(), 3, "{what}: {report:?}");
    assert_eq!(
        report.set_to_finish.len(),
        3,
        "{what}: one setSecret-to-finishSecret window per rotation: {report:?}"
    );
    assert!(
        report.warm_up_attempts > 0 && report.warm_up_failed == 0,
        "{what}: the clients could not log in before any rotation: {report:?}"
    );
    for (index, rotation) in report.rotations.iter().enumerate() {
        assert!(
            rotation.attempts > 0,
            "{what}: no login was attempted during rotation {index}: {report:?}"
        );
    }
    assert_eq!(
        report.failed(),
        0,
        "{what}: {} of {} logins failed during the rotations (longest outage {:?}): {report:?}",
        report.failed(),
        report.attempts(),
        report.longest_outage()
    );
}

/// Runs the light load on `world` with `strategy` and asserts no login failed.
async fn assert_strategy_is_seamless<D: TestServer>(world: &World<D>, strategy: Strategy) {
    let what = format!("{}, {}", world.lambda.name, strategy.name());
    let secret = prepare(world, strategy)
        .await
        .unwrap_or_else(|| panic!("{what}: the server has no such strategy"));
    let report = run(world, &secret, &light()).await;
    assert_seamless(&what, &report);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn postgres_alternating_users_lose_no_login() {
    let world = PostgresWorld::start("rotate-postgres").await;
    assert_strategy_is_seamless(&world, Strategy::AlternatingUsers).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn mariadb_alternating_users_lose_no_login() {
    let world = MariaDbWorld::start("rotate-mysql").await;
    assert_strategy_is_seamless(&world, Strategy::AlternatingUsers).await;
}

/// Redis: single user, with the two passwords it keeps; it has no
/// alternating users.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn redis_two_passwords_lose_no_login() {
    let world = RedisWorld::start("rotate-redis").await;
    assert_strategy_is_seamless(&world, Strategy::SingleUser).await;
    let world = RedisWorld::start("rotate-redis").await;
    assert!(prepare(&world, Strategy::AlternatingUsers).await.is_none());
}

/// The harness counts what fails: a secret whose password the server
/// refuses fails every login, and the clients keep trying.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_harness_counts_refused_logins() {
    let world = PostgresWorld::start("rotate-postgres").await;
    world
        .db
        .create_user(testkit::downtime::APP_USER, "the-Real-Password-1")
        .await;
    let secret = world
        .create_secret(
            "wrong",
            &world.db_secret(testkit::downtime::APP_USER, "a-Wrong-Password-2"),
        )
        .await;
    let options = LoadOptions {
        clients: 2,
        rotations: 0,
        ..LoadOptions::default()
    };
    let report = run(&world, &secret, &options).await;
    assert!(report.warm_up_attempts >= 2, "{report:?}");
    assert_eq!(report.warm_up_failed, report.warm_up_attempts, "{report:?}");
}
