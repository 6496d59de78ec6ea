//! RDS-managed admin secrets: the admin endpoint is found through the RDS API
//! (the emulator's), and only the database's own hosts are accepted.

use database::alternating::admin_credential;
use database::DatabaseSecret;
use rotate_postgres::backend::SHAPE;
use rotation::SecretsManager;
use secrecy::SecretString;
use serde_json::json;
use testkit::PostgresWorld;

fn child(host: &str) -> DatabaseSecret {
    DatabaseSecret::parse(
        &SecretString::from(
            json!({"engine": "postgres", "host": host, "username": "app", "password": "p",
               "dbname": "appdb", "masterarn": "rds-admin"})
            .to_string(),
        ),
        &SHAPE,
    )
    .unwrap()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn rds_managed_admin_secrets_resolve_through_the_rds_api() {
    let world = PostgresWorld::start("rotate-postgres").await;
    let rds = world.emulator.rds_client();
    let primary = rds
        .create_db_instance()
        .db_instance_identifier("primary")
        .engine("postgres")
        .db_instance_class("db.t3.micro")
        .master_username("admin")
        .master_user_password("ignored-Password-1")
        .allocated_storage(20)
        .send()
        .await
        .expect("CreateDBInstance")
        .db_instance
        .expect("instance");
    let replica = rds
        .create_db_instance_read_replica()
        .db_instance_identifier("replica")
        .source_db_instance_identifier("primary")
        .send()
        .await
        .expect("CreateDBInstanceReadReplica")
        .db_instance
        .expect("replica");
    let primary_host = primary
        .endpoint()
        .and_then(|e| e.address())
        .unwrap()
        .to_owned();
    let replica_host = replica
        .endpoint()
        .and_then(|e| e.address())
        .unwrap()
        .to_owned();
    let instance_arn = primary.db_instance_arn().unwrap().to_owned();

    world
        .sm
        .create_secret()
        .name("rds-admin")
        .secret_string(json!({"username": "admin", "password": "admin-Password-1"}).to_string())
        .tags(
            aws_sdk_secretsmanager::types::Tag::builder()
                .key("aws:rds:primaryDBInstanceArn")
                .value(&instance_arn)
                .build(),
        )
        .send()
        .await
        .unwrap();
    let secrets = SecretsManager::new(world.sm.clone());
    let rds_client = || async { world.emulator.rds_client() };

    for host in [&primary_host, &replica_host] {
        let admin = admin_credential(&child(host), &secrets, rds_client())
            .await
            .expect(host);
        assert_eq!(admin.host, primary_host, "the admin logs in on the writer");
        assert_eq!(admin.dbname.as_deref(), Some("appdb"), "the child's dbname");
        assert_eq!(admin.username, "admin");
    }
    let error = admin_credential(&child("elsewhere.example.com"), &secrets, rds_client())
        .await
        .unwrap_err()
        .to_string();
    assert!(error.contains("another server"), "{error}");

    // A cluster: writer, reader endpoint and member instances are accepted.
    let cluster = rds
        .create_db_cluster()
        .db_cluster_identifier("cluster")
        .engine("aurora-postgresql")
        .master_username("admin")
        .master_user_password("ignored-Password-1")
        .send()
        .await
        .expect("CreateDBCluster")
        .db_cluster
        .expect("cluster");
    let member = rds
        .create_db_instance()
        .db_instance_identifier("cluster-member")
        .db_cluster_identifier("cluster")
        .engine("aurora-postgresql")
        .db_instance_class("db.r6g.large")
        .send()
        .await
        .expect("CreateDBInstance in cluster")
        .db_instance
        .expect("member");
    world
        .sm
        .create_secret()
        .name("rds-cluster-admin")
        .secret_string(json!({"username": "admin", "password": "admin-Password-2"}).to_string())
        .tags(
            aws_sdk_secretsmanager::types::Tag::builder()
                .key("aws:rds:primaryDBClusterArn")
                .value(cluster.db_cluster_arn().unwrap())
                .build(),
        )
        .send()
        .await
        .unwrap();
    let writer = cluster.endpoint().unwrap().to_owned();
    let reader = cluster.reader_endpoint().unwrap().to_owned();
    let member_host = member
        .endpoint()
        .and_then(|e| e.address())
        .unwrap()
        .to_owned();
    let cluster_child = |host: &str| {
        DatabaseSecret::parse(
        &SecretString::from(
            json!({"host": host, "username": "app", "password": "p", "masterarn": "rds-cluster-admin"})
                .to_string(),
        ),
        &SHAPE,
        )
        .unwrap()
    };
    for host in [&writer, &reader, &member_host] {
        let admin = admin_credential(&cluster_child(host), &secrets, rds_client())
            .await
            .unwrap_or_else(|e| panic!("{host}: {e}"));
        assert_eq!(admin.host, writer);
        assert_eq!(admin.port, cluster.port().unwrap() as u16);
    }

    // Neither a host nor an RDS tag: a clear error.
    world
        .sm
        .create_secret()
        .name("hostless-admin")
        .secret_string(json!({"username": "admin", "password": "admin-Password-3"}).to_string())
        .send()
        .await
        .unwrap();
    let hostless = DatabaseSecret::parse(
        &SecretString::from(
        json!({"host": "db", "username": "app", "password": "p", "masterarn": "hostless-admin"})
            .to_string(),
    ),
    &SHAPE,
    )
    .unwrap();
    let error = admin_credential(&hostless, &secrets, rds_client())
        .await
        .unwrap_err()
        .to_string();
    assert!(error.contains("not an RDS-managed secret"), "{error}");
}
