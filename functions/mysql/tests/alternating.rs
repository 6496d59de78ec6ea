//! End to end: alternating-users rotation of `rotate-mysql` through
//! `RotateSecret` on the emulator, against a real MariaDB: grants and TLS
//! requirements follow the current user, odd names survive, limits hold.

use serde_json::{json, Value};
use testkit::mariadb::{account, identifier, literal};
use testkit::{MariaDbWorld, TestServer};

const FUNCTION: &str = "rotate-mysql";
const ADMIN: &str = "rotation_admin";
const ADMIN_PASSWORD: &str = "admin-Password-Secret-7";

fn field(value: &Value, name: &str) -> String {
    value[name].as_str().expect(name).to_owned()
}

/// An admin with every privilege and the grant option (like an RDS master
/// user), an application user with table, database, column and role grants
/// and `REQUIRE SSL`, and the admin secret. Returns the admin secret's ARN.
async fn setup(world: &MariaDbWorld, app: &str, app_password: &str) -> String {
    let db = &world.db;
    if db
        .query(&format!("SELECT 1 FROM mysql.user WHERE User = '{ADMIN}'"))
        .await
        .is_empty()
    {
        db.create_user(ADMIN, ADMIN_PASSWORD).await;
        db.execute(&format!(
            "GRANT ALL PRIVILEGES ON *.* TO {} WITH GRANT OPTION",
            account(ADMIN)
        ))
        .await;
        for sql in [
            "CREATE DATABASE IF NOT EXISTS appdata",
            "CREATE DATABASE IF NOT EXISTS reports",
            "CREATE TABLE IF NOT EXISTS appdata.orders (id int, note text)",
            "CREATE TABLE IF NOT EXISTS reports.daily (id int)",
            "CREATE ROLE IF NOT EXISTS readers",
            "GRANT SELECT ON reports.* TO readers",
        ] {
            db.execute(sql).await;
        }
        // Granting a role needs its admin option (RDS master users have it
        // for the roles they create).
        db.execute(&format!(
            "GRANT readers TO {} WITH ADMIN OPTION",
            account(ADMIN)
        ))
        .await;
    }
    db.create_user(app, app_password).await;
    let who = account(app);
    for sql in [
        format!("GRANT SELECT, INSERT ON appdata.orders TO {who}"),
        format!("GRANT UPDATE (note) ON appdata.orders TO {who}"),
        format!("GRANT readers TO {who}"),
        format!("SET DEFAULT ROLE readers FOR {who}"),
        format!("ALTER USER {who} REQUIRE SSL"),
    ] {
        db.execute(&sql).await;
    }
    world
        .create_secret(
            &format!("admin-for-{}", app.len()),
            &world.db_secret(ADMIN, ADMIN_PASSWORD),
        )
        .await
}

async fn child_secret(
    world: &MariaDbWorld,
    name: &str,
    app: &str,
    password: &str,
    master: &str,
) -> String {
    let mut value = world.db_secret(app, password);
    value["masterarn"] = json!(master);
    world.create_secret(name, &value).await
}

/// `user`'s grants as the server shows them, with the grantee written as
/// `<user>` and MariaDB's password hash dropped: equal for two users with
/// the same rights.
async fn grants(world: &MariaDbWorld, user: &str) -> Vec<String> {
    let mut lines: Vec<String> = world
        .db
        .query(&format!("SHOW GRANTS FOR {}", account(user)))
        .await
        .into_iter()
        .map(|row| {
            let line = row[0].replace(&account(user), "<user>");
            match line.find(" IDENTIFIED BY PASSWORD") {
                Some(at) => line[..at].to_owned(),
                None => line,
            }
        })
        .collect();
    lines.sort();
    lines
}

/// `user`'s TLS requirement (`mysql.user.ssl_type`).
async fn ssl_type(world: &MariaDbWorld, user: &str) -> String {
    world
        .db
        .query(&format!(
            "SELECT ssl_type FROM mysql.user WHERE User = {} AND Host = '%'",
            literal(user)
        ))
        .await
        .first()
        .map(|row| row[0].clone())
        .unwrap_or_else(|| panic!("no user {user:?}"))
}

async fn user_exists(world: &MariaDbWorld, user: &str) -> bool {
    !world
        .db
        .query(&format!(
            "SELECT 1 FROM mysql.user WHERE User = {}",
            literal(user)
        ))
        .await
        .is_empty()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn rotations_alternate_and_grants_follow_the_current_user() {
    let world = MariaDbWorld::start(FUNCTION).await;
    let master = setup(&world, "app", "app-Password-0").await;
    let secret = child_secret(&world, "app-alt", "app", "app-Password-0", &master).await;

    let mut previous = ("app".to_owned(), "app-Password-0".to_owned());
    for round in 1..=6 {
        world
            .rotate(&secret)
            .await
            .unwrap_or_else(|e| panic!("rotation {round}: {e}"));
        let value = world.value(&secret, "AWSCURRENT").await;
        let (user, password) = (field(&value, "username"), field(&value, "password"));
        assert_eq!(
            user,
            if round % 2 == 1 { "app_clone" } else { "app" },
            "round {round}"
        );
        assert_eq!(field(&value, "masterarn"), master, "masterarn carried over");
        assert!(
            world.db.can_login(&user, &password).await,
            "round {round}: new user"
        );
        assert!(
            world.db.can_login(&previous.0, &previous.1).await,
            "round {round}: the previous user must still log in"
        );
        assert_eq!(
            grants(&world, "app").await,
            grants(&world, "app_clone").await,
            "round {round}: grants differ"
        );
        assert_eq!(ssl_type(&world, &user).await, "ANY", "REQUIRE SSL copied");
        // Between rotations the current user gains a grant and loses one;
        // the next rotation makes the other user match.
        match round {
            2 => {
                world
                    .db
                    .execute(&format!("GRANT DELETE ON appdata.* TO {}", account(&user)))
                    .await
            }
            4 => {
                world
                    .db
                    .execute(&format!(
                        "REVOKE UPDATE (note) ON appdata.orders FROM {}",
                        account(&user)
                    ))
                    .await
            }
            _ => {}
        }
        previous = (user, password);
    }
    let final_grants = grants(&world, "app_clone").await;
    assert!(
        final_grants
            .iter()
            .any(|g| g.contains("GRANT DELETE ON `appdata`.*")),
        "the grant added between rotations did not follow: {final_grants:?}"
    );
    assert!(
        !final_grants.iter().any(|g| g.contains("UPDATE (`note`)")),
        "the grant revoked between rotations did not follow: {final_grants:?}"
    );
    // The clone really uses its rights: the table grant and the default role.
    let value = world.value(&secret, "AWSCURRENT").await;
    let mut conn = world
        .db
        .try_login(&field(&value, "username"), &field(&value, "password"))
        .await
        .unwrap();
    use mysql_async::prelude::Queryable;
    conn.query_drop("INSERT INTO appdata.orders VALUES (1, 'x')")
        .await
        .unwrap();
    conn.query_drop("SELECT * FROM reports.daily")
        .await
        .unwrap();
    let _ = conn.disconnect().await;
    assert!(testkit::leaked(&world.all_logs(), &[ADMIN_PASSWORD]).is_empty());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn usernames_with_quotes_backticks_and_unicode_alternate() {
    let world = MariaDbWorld::start(FUNCTION).await;
    // 10 characters (more bytes): + "_clone" = 16, the default limit.
    let user = "ó'b`r\"\\ü;é";
    assert_eq!(user.chars().count(), 10);
    let master = setup(&world, user, "odd-Password-0").await;
    let secret = child_secret(&world, "odd", user, "odd-Password-0", &master).await;
    for round in 1..=2 {
        world
            .rotate(&secret)
            .await
            .unwrap_or_else(|e| panic!("rotation {round}: {e}"));
        let value = world.value(&secret, "AWSCURRENT").await;
        let name = field(&value, "username");
        assert!(world.db.can_login(&name, &field(&value, "password")).await);
    }
    let clone = format!("{user}_clone");
    assert_eq!(grants(&world, user).await, grants(&world, &clone).await);
    assert!(world.db.admin_works().await);
    assert_eq!(identifier("a`b"), "`a``b`");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn usernames_at_the_limit_work_and_over_it_are_refused() {
    let mut world = MariaDbWorld::start(FUNCTION).await;
    let fits = "f".repeat(10); // + "_clone" = 16 characters
    let master = setup(&world, &fits, "fits-Password-0").await;
    let secret = child_secret(&world, "fits", &fits, "fits-Password-0", &master).await;
    world
        .rotate(&secret)
        .await
        .expect("10 + 6 = 16 characters fits");

    let long = "l".repeat(11);
    let master = setup(&world, &long, "long-Password-0").await;
    let secret = child_secret(&world, "too-long", &long, "long-Password-0", &master).await;
    let error = world.rotate(&secret).await.expect_err("over the limit");
    assert!(
        error.contains("USERNAME_CHARACTER_LIMIT of 16 characters"),
        "{error}"
    );
    assert!(error.contains("createSecret"), "{error}");
    let pending = world.version_with(&secret, "AWSPENDING").await.unwrap();
    assert_eq!(world.raw_value(&secret, Some(&pending), None).await, None);
    assert!(!user_exists(&world, &format!("{long}_clone")).await);

    // A larger limit, as MySQL 5.7+ and MariaDB allow.
    world.restart_function(&[("USERNAME_CHARACTER_LIMIT", "32")]);
    let secret = child_secret(&world, "long-ok", &long, "long-Password-0", &master).await;
    world.rotate(&secret).await.expect("with a limit of 32");
    assert_eq!(
        field(&world.value(&secret, "AWSCURRENT").await, "username"),
        format!("{long}_clone")
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn admin_secret_problems_fail_clearly_and_change_nothing() {
    let world = MariaDbWorld::start(FUNCTION).await;
    let good_master = setup(&world, "victim", "victim-Password-0").await;
    let wrong_password = world
        .create_secret(
            "admin-wrong-password",
            &world.db_secret(ADMIN, "not-the-Admin-Password"),
        )
        .await;
    let mut other_host = world.db_secret(ADMIN, ADMIN_PASSWORD);
    other_host["host"] = json!("localhost");
    let other_host = world.create_secret("admin-other-host", &other_host).await;
    let mut wrong_engine = world.db_secret(ADMIN, ADMIN_PASSWORD);
    wrong_engine["engine"] = json!("postgres");
    let wrong_engine = world
        .create_secret("admin-wrong-engine", &wrong_engine)
        .await;
    let cases = [
        ("wrong-password", wrong_password, "authentication failed"),
        (
            "other-host",
            other_host,
            "refusing to use an admin credential",
        ),
        (
            "wrong-engine",
            wrong_engine,
            "field `engine` is \"postgres\"",
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
        let after = world.stages(&secret).await;
        for (version, stages) in &before {
            assert_eq!(after.get(version), Some(stages), "{name}: labels moved");
        }
        assert!(
            !user_exists(&world, "victim_clone").await,
            "{name}: clone created"
        );
        assert!(
            world.db.can_login("victim", "victim-Password-0").await,
            "{name}"
        );
    }
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
async fn mid_rotation_both_users_work_and_each_step_can_run_twice() {
    let world = MariaDbWorld::start(FUNCTION).await;
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
    let pending: Value =
        serde_json::from_str(&world.raw_value(&secret, Some(&token), None).await.unwrap()).unwrap();
    assert_eq!(field(&pending, "username"), "mid_clone");
    assert!(world.db.can_login("mid", "mid-Password-0").await);
    assert!(
        world
            .db
            .can_login("mid_clone", &field(&pending, "password"))
            .await
    );
    for name in ["testSecret", "testSecret", "finishSecret", "finishSecret"] {
        step(name).await;
    }
    assert_eq!(
        field(&world.value(&secret, "AWSCURRENT").await, "username"),
        "mid_clone"
    );
    assert_eq!(
        grants(&world, "mid").await,
        grants(&world, "mid_clone").await
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn dual_passwords_are_refused_clearly_where_the_server_has_none() {
    let world = MariaDbWorld::start_with_env(FUNCTION, &[("DUAL_PASSWORD", "true")]).await;
    let secret = world
        .user_with_secret("dual", "dual_user", "dual-Password-0")
        .await;
    let before = world.stages(&secret).await;
    let error = world
        .rotate(&secret)
        .await
        .expect_err("MariaDB has no dual passwords");
    assert!(error.contains("DUAL_PASSWORD"), "{error}");
    assert!(error.contains("MariaDB"), "names the server: {error}");
    assert!(error.contains("nothing was changed"), "{error}");
    let after = world.stages(&secret).await;
    for (version, stages) in &before {
        assert_eq!(after.get(version), Some(stages), "labels moved");
    }
    assert!(world.db.can_login("dual_user", "dual-Password-0").await);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_admin_without_enough_privileges_is_named_with_the_reason() {
    let world = MariaDbWorld::start(FUNCTION).await;
    setup(&world, "weak_app", "weak-App-Password-0").await;
    // Can create users, cannot grant what the application holds.
    world
        .db
        .create_user("weak_admin", "weak-Admin-Password-1")
        .await;
    world
        .db
        .execute(&format!(
            "GRANT CREATE USER, SELECT ON *.* TO {}",
            account("weak_admin")
        ))
        .await;
    let weak = world
        .create_secret(
            "weak-admin",
            &world.db_secret("weak_admin", "weak-Admin-Password-1"),
        )
        .await;
    let secret = child_secret(
        &world,
        "weak-child",
        "weak_app",
        "weak-App-Password-0",
        &weak,
    )
    .await;
    let before = world.stages(&secret).await;
    let error = world.rotate(&secret).await.expect_err("weak admin");
    assert!(error.contains("permission denied"), "{error}");
    assert!(
        error.contains("\"weak_app_clone\""),
        "names the user: {error}"
    );
    assert!(error.contains("GRANT "), "names the grant: {error}");
    assert!(!error.contains("weak-Admin-Password-1"), "{error}");
    let after = world.stages(&secret).await;
    for (version, stages) in &before {
        assert_eq!(after.get(version), Some(stages), "labels moved");
    }
    assert!(world.db.can_login("weak_app", "weak-App-Password-0").await);
    // The clone was created (with a throw-away password) but cannot log in
    // with the pending one: its grants are not complete.
    let token = world.version_with(&secret, "AWSPENDING").await.unwrap();
    let pending: Value =
        serde_json::from_str(&world.raw_value(&secret, Some(&token), None).await.unwrap()).unwrap();
    assert!(user_exists(&world, "weak_app_clone").await);
    assert!(
        !world
            .db
            .can_login("weak_app_clone", &field(&pending, "password"))
            .await
    );

    // Once the admin may grant, the service's reattempt of the same version
    // finishes the half-made clone.
    world
        .db
        .execute(&format!(
            "GRANT ALL PRIVILEGES ON *.* TO {} WITH GRANT OPTION",
            account("weak_admin")
        ))
        .await;
    world
        .db
        .execute(&format!(
            "GRANT readers TO {} WITH ADMIN OPTION",
            account("weak_admin")
        ))
        .await;
    for step in ["setSecret", "testSecret", "finishSecret"] {
        let event = json!({"SecretId": secret, "ClientRequestToken": token, "Step": step});
        world
            .lambda
            .invoke(&event)
            .await
            .unwrap_or_else(|e| panic!("{step}: {e}"));
    }
    assert_eq!(
        field(&world.value(&secret, "AWSCURRENT").await, "username"),
        "weak_app_clone"
    );
    assert_eq!(
        grants(&world, "weak_app").await,
        grants(&world, "weak_app_clone").await
    );
}
