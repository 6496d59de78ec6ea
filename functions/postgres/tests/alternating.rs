//! End to end: alternating-users rotation of `rotate-postgres` through
//! `RotateSecret` on the emulator, against a real PostgreSQL.

use serde_json::{json, Value};
use testkit::PostgresWorld;

const FUNCTION: &str = "rotate-postgres";
const ADMIN: &str = "rotation_admin";
const ADMIN_PASSWORD: &str = "admin-Password-Secret-7";

fn field(value: &Value, name: &str) -> String {
    value[name].as_str().expect(name).to_owned()
}

/// An admin role (CREATEROLE, not superuser, like an RDS master user), an
/// application user `app` with grants on a schema, a table, and through a
/// group role, and the admin secret. Returns the admin secret's ARN.
async fn setup(world: &PostgresWorld, app: &str, app_password: &str) -> String {
    if !role_exists(world, ADMIN).await {
        world.db.create_user(ADMIN, ADMIN_PASSWORD).await;
    }
    world.db.create_user(app, app_password).await;
    let admin = world.db.admin().await;
    let app_ident = format!("\"{}\"", app.replace('"', "\"\""));
    admin
        .batch_execute(&format!(
            "ALTER ROLE {ADMIN} CREATEROLE;
             CREATE SCHEMA IF NOT EXISTS appdata;
             CREATE TABLE IF NOT EXISTS appdata.orders (id int);
             CREATE TABLE IF NOT EXISTS public.reports (id int);
             GRANT USAGE ON SCHEMA appdata TO {app_ident};
             GRANT SELECT, INSERT ON appdata.orders TO {app_ident};
             DO $$ BEGIN CREATE ROLE readers NOLOGIN; EXCEPTION WHEN duplicate_object THEN NULL; END $$;
             GRANT SELECT ON public.reports TO readers;
             GRANT readers TO {app_ident};"
        ))
        .await
        .expect("grants");
    let admin_secret = world.db_secret(ADMIN, ADMIN_PASSWORD);
    world
        .create_secret(&format!("admin-for-{app}"), &admin_secret)
        .await
}

async fn child_secret(
    world: &PostgresWorld,
    name: &str,
    app: &str,
    password: &str,
    master: &str,
) -> String {
    let mut value = world.db_secret(app, password);
    value["masterarn"] = json!(master);
    world.create_secret(name, &value).await
}

/// Effective privileges of `user`, to compare two users.
async fn privileges(world: &PostgresWorld, user: &str) -> Vec<bool> {
    let admin = world.db.admin().await;
    let row = admin
        .query_one(
            "SELECT has_schema_privilege($1, 'appdata', 'USAGE'),
                    has_schema_privilege($1, 'appdata', 'CREATE'),
                    has_table_privilege($1, 'appdata.orders', 'SELECT'),
                    has_table_privilege($1, 'appdata.orders', 'INSERT'),
                    has_table_privilege($1, 'appdata.orders', 'UPDATE'),
                    has_table_privilege($1, 'appdata.orders', 'DELETE'),
                    has_table_privilege($1, 'public.reports', 'SELECT'),
                    has_table_privilege($1, 'public.reports', 'INSERT')",
            &[&user],
        )
        .await
        .expect("privileges");
    (0..8).map(|i| row.get(i)).collect()
}

async fn role_exists(world: &PostgresWorld, name: &str) -> bool {
    world
        .db
        .admin()
        .await
        .query_opt("SELECT 1 FROM pg_roles WHERE rolname = $1", &[&name])
        .await
        .unwrap()
        .is_some()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn ten_rotations_alternate_and_both_users_see_the_same_objects() {
    let world = PostgresWorld::start(FUNCTION).await;
    let master = setup(&world, "app", "app-Password-0").await;
    let secret = child_secret(&world, "app-alt", "app", "app-Password-0", &master).await;

    let mut previous = ("app".to_owned(), "app-Password-0".to_owned());
    for round in 1..=10 {
        let old_version = world.version_with(&secret, "AWSCURRENT").await.unwrap();
        world
            .rotate(&secret)
            .await
            .unwrap_or_else(|e| panic!("rotation {round}: {e}"));
        let value = world.value(&secret, "AWSCURRENT").await;
        let (user, password) = (field(&value, "username"), field(&value, "password"));
        let expected = if round % 2 == 1 { "app_clone" } else { "app" };
        assert_eq!(user, expected, "round {round}");
        assert_eq!(field(&value, "masterarn"), master, "masterarn carried over");
        assert!(
            world.db.can_login(&user, &password).await,
            "round {round}: new user"
        );
        // The other user keeps working until the next rotation changes it.
        assert!(
            world.db.can_login(&previous.0, &previous.1).await,
            "round {round}: the previous user must still log in"
        );
        let new_version = world.version_with(&secret, "AWSCURRENT").await.unwrap();
        let stages = world.stages(&secret).await;
        assert_eq!(
            stages.get(&new_version),
            Some(&vec!["AWSCURRENT".to_owned()])
        );
        assert_eq!(
            stages.get(&old_version),
            Some(&vec!["AWSPREVIOUS".to_owned()])
        );
        assert!(
            !stages.values().flatten().any(|s| s == "AWSPENDING"),
            "{stages:?}"
        );
        previous = (user, password);
    }
    assert_eq!(
        privileges(&world, "app").await,
        privileges(&world, "app_clone").await
    );
    assert_eq!(
        privileges(&world, "app_clone").await,
        vec![true, false, true, true, false, false, true, false]
    );
    // The clone really reads and writes what the original can.
    let value = world.value(&secret, "AWSPREVIOUS").await;
    assert_eq!(field(&value, "username"), "app_clone");
    let clone = world
        .db
        .try_login("app_clone", &field(&value, "password"), "postgres")
        .await
        .unwrap();
    clone
        .batch_execute("INSERT INTO appdata.orders VALUES (1); SELECT * FROM public.reports")
        .await
        .unwrap();
    // Nothing was created twice: exactly one clone, one membership each.
    let admin = world.db.admin().await;
    let count: i64 = admin
        .query_one(
            "SELECT count(*) FROM pg_roles WHERE rolname LIKE 'app%'",
            &[],
        )
        .await
        .unwrap()
        .get(0);
    assert_eq!(count, 2);
    let admin_log_leak = testkit::leaked(&world.all_logs(), &[ADMIN_PASSWORD]);
    assert!(
        admin_log_leak.is_empty(),
        "the admin password reached a log"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_open_application_connection_keeps_working_through_a_rotation() {
    let world = PostgresWorld::start(FUNCTION).await;
    let master = setup(&world, "svc", "svc-Password-0").await;
    let secret = child_secret(&world, "svc-alt", "svc", "svc-Password-0", &master).await;
    let app = world
        .db
        .try_login("svc", "svc-Password-0", "postgres")
        .await
        .unwrap();
    app.batch_execute("INSERT INTO appdata.orders VALUES (1)")
        .await
        .unwrap();
    for round in 1..=3 {
        world
            .rotate(&secret)
            .await
            .unwrap_or_else(|e| panic!("rotation {round}: {e}"));
        app.batch_execute(
            "INSERT INTO appdata.orders VALUES (2); SELECT count(*) FROM appdata.orders",
        )
        .await
        .unwrap_or_else(|e| panic!("the open connection broke in round {round}: {e}"));
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn admin_secret_problems_fail_clearly_and_change_nothing() {
    let world = PostgresWorld::start(FUNCTION).await;
    let good_master = setup(&world, "victim", "victim-Password-0").await;
    let wrong_password = world
        .create_secret(
            "admin-wrong-password",
            &world.db_secret(ADMIN, "not-the-Admin-Password"),
        )
        .await;
    let unreadable = world
        .create_secret(
            "admin-unreadable",
            &Value::String(format!("{{\"password\": \"{ADMIN_PASSWORD}\"")),
        )
        .await;
    let mut other_host = world.db_secret(ADMIN, ADMIN_PASSWORD);
    other_host["host"] = json!("localhost"); // same server, but not the host the secret names
    let other_host = world.create_secret("admin-other-host", &other_host).await;
    let missing =
        "arn:aws:secretsmanager:us-east-1:123456789012:secret:no-such-admin-AbCdEf".to_owned();

    let cases = [
        ("missing", missing.clone(), "has no AWSCURRENT value"),
        ("unreadable", unreadable.clone(), "not a valid JSON object"),
        ("wrong-password", wrong_password.clone(), "admin credential"),
        (
            "other-host",
            other_host.clone(),
            "refusing to use an admin credential of another server",
        ),
    ];
    for (name, master, expected) in cases {
        let secret = child_secret(
            &world,
            &format!("child-{name}"),
            "victim",
            "victim-Password-0",
            &master,
        )
        .await;
        let before = world.stages(&secret).await;
        let error = world.rotate(&secret).await.expect_err(name);
        assert!(error.contains(expected), "{name}: {error}");
        assert!(
            error.contains(&secret),
            "{name}: must name the secret: {error}"
        );
        assert!(
            !error.contains(ADMIN_PASSWORD),
            "{name}: leaks the admin password"
        );
        if name != "wrong-password" {
            assert!(
                error.contains(&master),
                "{name}: must name the admin secret: {error}"
            );
        } else {
            assert!(error.contains("authentication failed"), "{error}");
        }
        let after = world.stages(&secret).await;
        for (version, stages) in &before {
            assert_eq!(after.get(version), Some(stages), "{name}: AWSCURRENT moved");
        }
        assert!(
            !role_exists(&world, "victim_clone").await,
            "{name}: the clone was created"
        );
        assert!(
            world.db.can_login("victim", "victim-Password-0").await,
            "{name}"
        );
    }
    // With the right admin secret the same child rotates.
    let secret = child_secret(
        &world,
        "child-good",
        "victim",
        "victim-Password-0",
        &good_master,
    )
    .await;
    world
        .rotate(&secret)
        .await
        .expect("rotation with a good admin secret");
    assert!(testkit::leaked(&world.all_logs(), &[ADMIN_PASSWORD]).is_empty());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn names_over_the_limit_are_refused_before_anything_is_stored() {
    let world = PostgresWorld::start(FUNCTION).await;
    let long = "l".repeat(58); // + "_clone" = 64 bytes
    let master = setup(&world, &long, "long-Password-0").await;
    let secret = child_secret(&world, "too-long", &long, "long-Password-0", &master).await;
    let error = world.rotate(&secret).await.expect_err("over the limit");
    assert!(error.contains("limit for names of 63 bytes"), "{error}");
    assert!(error.contains("createSecret"), "{error}");
    let pending = world.version_with(&secret, "AWSPENDING").await.unwrap();
    assert_eq!(world.raw_value(&secret, Some(&pending), None).await, None);

    // At the limit exactly it works.
    let fits = "f".repeat(57);
    let master = setup(&world, &fits, "fits-Password-0").await;
    let secret = child_secret(&world, "fits", &fits, "fits-Password-0", &master).await;
    world.rotate(&secret).await.expect("57 + 6 = 63 bytes fits");
    assert_eq!(
        field(&world.value(&secret, "AWSCURRENT").await, "username"),
        format!("{fits}_clone")
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_strategy_can_be_pinned_by_configuration() {
    let mut world =
        PostgresWorld::start_with_env(FUNCTION, &[("ROTATION_STRATEGY", "alternating-users")])
            .await;
    let secret = world
        .user_with_secret("pinned", "pinned", "pinned-Password-0")
        .await;
    let error = world.rotate(&secret).await.expect_err("no masterarn");
    assert!(error.contains("field `masterarn` is missing"), "{error}");

    // Pinned to single user, a secret with masterarn changes its own password.
    world.restart_function(&[("ROTATION_STRATEGY", "single-user")]);
    let master = setup(&world, "solo", "solo-Password-0").await;
    let secret = child_secret(&world, "solo", "solo", "solo-Password-0", &master).await;
    world.rotate(&secret).await.expect("single-user rotation");
    let value = world.value(&secret, "AWSCURRENT").await;
    assert_eq!(field(&value, "username"), "solo");
    assert!(world.db.can_login("solo", &field(&value, "password")).await);
    assert!(!role_exists(&world, "solo_clone").await);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn mid_rotation_both_users_work_and_each_step_can_run_twice() {
    let world = PostgresWorld::start(FUNCTION).await;
    let master = setup(&world, "mid", "mid-Password-0").await;
    let secret = child_secret(&world, "mid-alt", "mid", "mid-Password-0", &master).await;
    world.emulator.set_rotation_steps(&[]).await;
    world.rotate(&secret).await.expect("staging");
    let token = world.version_with(&secret, "AWSPENDING").await.unwrap();
    let step = |name: &'static str| {
        let event = json!({"SecretId": secret, "ClientRequestToken": token, "Step": name});
        let lambda = &world.lambda;
        async move {
            lambda
                .invoke(&event)
                .await
                .unwrap_or_else(|e| panic!("{name}: {e}"))
        }
    };
    for name in ["createSecret", "createSecret", "setSecret", "setSecret"] {
        step(name).await;
    }
    // Between setSecret and finishSecret: AWSCURRENT still names the old
    // user, and both users log in and see the same rows.
    let pending: Value =
        serde_json::from_str(&world.raw_value(&secret, Some(&token), None).await.unwrap()).unwrap();
    assert_eq!(field(&pending, "username"), "mid_clone");
    assert_eq!(
        field(&world.value(&secret, "AWSCURRENT").await, "username"),
        "mid"
    );
    let old = world
        .db
        .try_login("mid", "mid-Password-0", "postgres")
        .await
        .unwrap();
    let new = world
        .db
        .try_login("mid_clone", &field(&pending, "password"), "postgres")
        .await
        .unwrap();
    old.batch_execute("INSERT INTO appdata.orders VALUES (42)")
        .await
        .unwrap();
    for client in [&old, &new] {
        let n: i64 = client
            .query_one("SELECT count(*) FROM appdata.orders WHERE id = 42", &[])
            .await
            .unwrap()
            .get(0);
        assert_eq!(n, 1);
    }
    for name in ["testSecret", "testSecret", "finishSecret", "finishSecret"] {
        step(name).await;
    }
    let value = world.value(&secret, "AWSCURRENT").await;
    assert_eq!(field(&value, "username"), "mid_clone");
    assert!(!world
        .stages(&secret)
        .await
        .values()
        .flatten()
        .any(|s| s == "AWSPENDING"));
    assert_eq!(
        privileges(&world, "mid").await,
        privileges(&world, "mid_clone").await
    );
}
