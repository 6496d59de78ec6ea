//! Where an RDS-managed master secret's database is, from the RDS API.
//!
//! RDS-managed master secrets hold only `username` and `password`; the
//! database is named by the tag `aws:rds:primaryDBInstanceArn` or
//! `aws:rds:primaryDBClusterArn`, as AWS's own functions read it.

use rotation::{AwsApiError, BackendError};

/// Tag naming the DB instance of an RDS-managed master secret.
pub const INSTANCE_TAG: &str = "aws:rds:primaryDBInstanceArn";
/// Tag naming the DB cluster of an RDS-managed master secret.
pub const CLUSTER_TAG: &str = "aws:rds:primaryDBClusterArn";

/// The writer endpoint of an RDS database and every host name that belongs
/// to it (reader endpoint, members, read replicas).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RdsEndpoint {
    /// Writer host name.
    pub host: String,
    /// Port.
    pub port: u16,
    /// Engine, e.g. `postgres` or `aurora-mysql`.
    pub engine: Option<String>,
    /// Every host a child secret of this database may name.
    pub accepted_hosts: Vec<String>,
}

impl RdsEndpoint {
    /// Whether `host` belongs to this database (case-insensitive).
    pub fn accepts(&self, host: &str) -> bool {
        self.accepted_hosts
            .iter()
            .any(|h| h.eq_ignore_ascii_case(host))
    }
}

fn rds_error(operation: &'static str, resource: &str, message: String) -> BackendError {
    BackendError::AwsApi(AwsApiError {
        service: "RDS",
        operation,
        resource: resource.to_owned(),
        message,
    })
}

fn sdk_error<'r, E: std::error::Error>(
    operation: &'static str,
    resource: &'r str,
) -> impl Fn(E) -> BackendError + 'r {
    move |error| BackendError::AwsApi(AwsApiError::from_sdk("RDS", operation, resource, error))
}

fn port_of(port: Option<i32>, default: u16) -> u16 {
    port.and_then(|p| u16::try_from(p).ok()).unwrap_or(default)
}

async fn instance_address(
    client: &aws_sdk_rds::Client,
    id: &str,
) -> Result<Option<String>, BackendError> {
    let out = client
        .describe_db_instances()
        .db_instance_identifier(id)
        .send()
        .await
        .map_err(sdk_error("DescribeDBInstances", id))?;
    Ok(out
        .db_instances()
        .first()
        .and_then(|i| i.endpoint())
        .and_then(|e| e.address())
        .map(str::to_owned))
}

/// Resolves the database named by an RDS-managed master secret's tags;
/// `Ok(None)` when the secret has neither tag. `default_port` is used when
/// RDS reports none.
pub async fn resolve(
    client: &aws_sdk_rds::Client,
    tags: &[(String, String)],
    default_port: u16,
) -> Result<Option<RdsEndpoint>, BackendError> {
    let tag = |key: &str| tags.iter().find(|(k, _)| k == key).map(|(_, v)| v.as_str());
    if let Some(arn) = tag(CLUSTER_TAG) {
        let out = client
            .describe_db_clusters()
            .db_cluster_identifier(arn)
            .send()
            .await
            .map_err(sdk_error("DescribeDBClusters", arn))?;
        let cluster = out.db_clusters().first().ok_or_else(|| {
            rds_error(
                "DescribeDBClusters",
                arn,
                format!("no such cluster (named by the tag {CLUSTER_TAG})"),
            )
        })?;
        let host = cluster.endpoint().unwrap_or_default().to_owned();
        let mut accepted = vec![host.clone()];
        accepted.extend(cluster.reader_endpoint().map(str::to_owned));
        for member in cluster.db_cluster_members() {
            if let Some(id) = member.db_instance_identifier() {
                accepted.extend(instance_address(client, id).await?);
            }
        }
        return Ok(Some(RdsEndpoint {
            host,
            port: port_of(cluster.port(), default_port),
            engine: cluster.engine().map(str::to_owned),
            accepted_hosts: accepted,
        }));
    }
    if let Some(arn) = tag(INSTANCE_TAG) {
        let out = client
            .describe_db_instances()
            .db_instance_identifier(arn)
            .send()
            .await
            .map_err(sdk_error("DescribeDBInstances", arn))?;
        let instance = out.db_instances().first().ok_or_else(|| {
            rds_error(
                "DescribeDBInstances",
                arn,
                format!("no such instance (named by the tag {INSTANCE_TAG})"),
            )
        })?;
        let endpoint = instance.endpoint();
        let host = endpoint
            .and_then(|e| e.address())
            .unwrap_or_default()
            .to_owned();
        let mut accepted = vec![host.clone()];
        for replica in instance.read_replica_db_instance_identifiers() {
            accepted.extend(instance_address(client, replica).await?);
        }
        return Ok(Some(RdsEndpoint {
            host,
            port: port_of(endpoint.and_then(|e| e.port()), default_port),
            engine: instance.engine().map(str::to_owned),
            accepted_hosts: accepted,
        }));
    }
    Ok(None)
}
