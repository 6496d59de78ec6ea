//! The nodes a secret's user lives on. ACL users are not replicated
//! between Redis nodes: a secret whose servers each keep their own users
//! lists them in `hosts`, and every node gets the same change.

use database::DatabaseSecret;
use rotation::BackendError;
use serde_json::Value;
use std::fmt;

/// The secret field listing every node.
pub const HOSTS_FIELD: &str = "hosts";
/// The most nodes a secret may list.
pub const MAX_NODES: usize = 64;

/// One server: a host and a port.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Node {
    /// Host name or IP address.
    pub host: String,
    /// TCP port.
    pub port: u16,
}

impl fmt::Display for Node {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if self.host.contains(':') {
            write!(f, "[{}]:{}", self.host, self.port)
        } else {
            write!(f, "{}:{}", self.host, self.port)
        }
    }
}

fn hosts_error(index: usize, what: impl fmt::Display) -> BackendError {
    BackendError::field(HOSTS_FIELD, format!("entry {index} {what}"))
}

/// Reads one entry: `"host"`, `"host:port"`, `"[v6]:port"`, or
/// `{"host": …, "port": …}`; a missing port is `default_port`.
fn parse_node(index: usize, value: &Value, default_port: u16) -> Result<Node, BackendError> {
    let port_of = |raw: &Value| -> Result<u16, BackendError> {
        let parsed = match raw {
            Value::Number(n) => n.as_u64().and_then(|n| u16::try_from(n).ok()),
            Value::String(s) => s.trim().parse::<u16>().ok(),
            _ => None,
        };
        parsed
            .filter(|p| *p > 0)
            .ok_or_else(|| hosts_error(index, "has a port that is not a number from 1 to 65535"))
    };
    let (host, port) = match value {
        Value::String(text) => {
            let text = text.trim();
            if let Some(rest) = text.strip_prefix('[') {
                let (host, after) = rest.split_once(']').ok_or_else(|| {
                    hosts_error(index, "opens an IPv6 address with [ but never closes it")
                })?;
                let port = match after.strip_prefix(':') {
                    Some(port) => port_of(&Value::String(port.to_owned()))?,
                    None if after.is_empty() => default_port,
                    None => return Err(hosts_error(index, "has text after the IPv6 address")),
                };
                (host.to_owned(), port)
            } else if text.matches(':').count() == 1 {
                let (host, port) = text.split_once(':').unwrap_or((text, ""));
                (host.to_owned(), port_of(&Value::String(port.to_owned()))?)
            } else {
                (text.to_owned(), default_port)
            }
        }
        Value::Object(fields) => {
            let host = match fields.get("host") {
                Some(Value::String(h)) => h.trim().to_owned(),
                _ => return Err(hosts_error(index, "has no `host` string")),
            };
            let port = match fields.get("port") {
                None | Some(Value::Null) => default_port,
                Some(raw) => port_of(raw)?,
            };
            (host, port)
        }
        _ => {
            return Err(hosts_error(
                index,
                "must be \"host\", \"host:port\" or {\"host\": …, \"port\": …}",
            ))
        }
    };
    if host.is_empty() {
        return Err(hosts_error(index, "has an empty host"));
    }
    if host.len() > 253 || host.chars().any(|c| c.is_whitespace() || c.is_control()) {
        return Err(hosts_error(index, "is not a host name"));
    }
    Ok(Node { host, port })
}

/// The nodes of `secret`: every entry of `hosts` when the field is there
/// (ports default to the secret's `port`), else its `host` and `port`.
/// Errors name the field and the entry.
pub fn nodes(secret: &DatabaseSecret) -> Result<Vec<Node>, BackendError> {
    let Some(raw) = secret.field(HOSTS_FIELD).filter(|v| !v.is_null()) else {
        return Ok(vec![Node {
            host: secret.host.clone(),
            port: secret.port,
        }]);
    };
    let Value::Array(entries) = raw else {
        return Err(BackendError::field(
            HOSTS_FIELD,
            "must be a list of nodes (\"host:port\" strings or {\"host\", \"port\"} objects)",
        ));
    };
    if entries.is_empty() {
        return Err(BackendError::field(HOSTS_FIELD, "is an empty list"));
    }
    if entries.len() > MAX_NODES {
        return Err(BackendError::field(
            HOSTS_FIELD,
            format!(
                "lists {} nodes; at most {MAX_NODES} are allowed",
                entries.len()
            ),
        ));
    }
    let mut nodes: Vec<Node> = Vec::with_capacity(entries.len());
    for (index, entry) in entries.iter().enumerate() {
        let node = parse_node(index, entry, secret.port)?;
        if nodes.contains(&node) {
            return Err(hosts_error(index, format!("lists {node} a second time")));
        }
        nodes.push(node);
    }
    Ok(nodes)
}

#[cfg(test)]
mod tests {
    use super::*;
    use database::SecretShape;
    use secrecy::SecretString;
    use serde_json::json;

    static SHAPE: SecretShape = SecretShape {
        family: "Redis",
        engines: &["redis"],
        default_port: 6379,
        default_dbname: None,
    };

    fn secret(value: Value) -> DatabaseSecret {
        DatabaseSecret::parse(&SecretString::from(value.to_string()), &SHAPE).expect("parses")
    }

    fn base() -> Value {
        json!({"host": "a.example", "username": "app", "password": "pw", "port": 7000})
    }

    #[test]
    fn without_hosts_the_secret_is_one_node() {
        assert_eq!(
            nodes(&secret(base())).unwrap(),
            vec![Node {
                host: "a.example".into(),
                port: 7000
            }]
        );
    }

    #[test]
    fn every_form_of_entry_is_read_and_ports_default_to_the_secrets() {
        let mut value = base();
        value["hosts"] = json!([
            "a.example",
            "b.example:7001",
            {"host": "c.example", "port": "7002"},
            {"host": "d.example"},
            "[::1]:7003",
            "[fe80::1]",
            "::1"
        ]);
        let found = nodes(&secret(value)).unwrap();
        let shown: Vec<String> = found.iter().map(Node::to_string).collect();
        assert_eq!(
            shown,
            [
                "a.example:7000",
                "b.example:7001",
                "c.example:7002",
                "d.example:7000",
                "[::1]:7003",
                "[fe80::1]:7000",
                "[::1]:7000"
            ]
        );
    }

    #[test]
    fn bad_lists_name_the_field_and_the_entry() {
        for (hosts, expected) in [
            (json!("a.example"), "must be a list"),
            (json!([]), "empty list"),
            (
                json!(["a.example", "a.example:7000"]),
                "entry 1 lists a.example:7000 a second time",
            ),
            (json!(["b:0"]), "entry 0 has a port"),
            (json!(["b:x"]), "entry 0 has a port"),
            (json!([{"port": 1}]), "entry 0 has no `host`"),
            (json!([7]), "entry 0 must be"),
            (json!([""]), "entry 0 has an empty host"),
            (json!(["a b"]), "entry 0 is not a host name"),
            (json!(["[::1"]), "entry 0 opens an IPv6 address"),
        ] {
            let mut value = base();
            value["hosts"] = hosts;
            let error = nodes(&secret(value)).unwrap_err().to_string();
            assert!(
                error.contains("hosts") && error.contains(expected),
                "{error}"
            );
        }
        let mut value = base();
        value["hosts"] = Value::Array(vec![json!("x"); MAX_NODES + 1]);
        assert!(nodes(&secret(value))
            .unwrap_err()
            .to_string()
            .contains("at most"));
    }
}
