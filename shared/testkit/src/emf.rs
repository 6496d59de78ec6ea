//! A checker of CloudWatch Embedded Metric Format (EMF) records, written from
//! AWS's specification ("Specification: Embedded metric format", CloudWatch
//! User Guide) rather than from the code that writes them, and what
//! CloudWatch would extract from a record.
//!
//! What it checks: the record is a JSON object with an `_aws` metadata
//! object holding `Timestamp` (whole milliseconds since the epoch, within the
//! 14 days back and 2 hours ahead CloudWatch accepts) and a non-empty
//! `CloudWatchMetrics` array of directives; a directive has exactly
//! `Namespace` (1 to 255 ASCII characters, not `AWS/…`), `Dimensions` (an
//! array of dimension sets, each at most 30 names) and `Metrics` (at most 100
//! definitions of `Name`, optional `Unit` from CloudWatch's list, optional
//! `StorageResolution` 1 or 60); every dimension a set names is a top-level
//! member whose value is a non-empty ASCII string of at most 1024 characters;
//! every metric a definition names is a top-level member holding a number or
//! an array of at most 100 numbers.

use serde_json::{Map, Value};
use std::collections::BTreeMap;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

/// CloudWatch's units (`MetricDatum.Unit`).
pub const UNITS: &[&str] = &[
    "Seconds",
    "Microseconds",
    "Milliseconds",
    "Bytes",
    "Kilobytes",
    "Megabytes",
    "Gigabytes",
    "Terabytes",
    "Bits",
    "Kilobits",
    "Megabits",
    "Gigabits",
    "Terabits",
    "Percent",
    "Count",
    "Bytes/Second",
    "Kilobytes/Second",
    "Megabytes/Second",
    "Gigabytes/Second",
    "Terabytes/Second",
    "Bits/Second",
    "Kilobits/Second",
    "Megabits/Second",
    "Gigabits/Second",
    "Terabits/Second",
    "Count/Second",
    "None",
];

/// One metric value CloudWatch extracts from a record.
#[derive(Debug, Clone, PartialEq)]
pub struct Datum {
    /// The namespace.
    pub namespace: String,
    /// The metric's name.
    pub name: String,
    /// Its unit (`None` when the definition gives none).
    pub unit: String,
    /// The dimensions, name to value.
    pub dimensions: BTreeMap<String, String>,
    /// The values (one, or the array's).
    pub values: Vec<f64>,
}

/// Every line of `log` that is a JSON object with an `_aws` member: the
/// lines CloudWatch Logs reads as EMF.
pub fn records(log: &str) -> Vec<Value> {
    log.lines()
        .filter_map(|line| serde_json::from_str::<Value>(line.trim()).ok())
        .filter(|value| value.get("_aws").is_some())
        .collect()
}

/// Checks `record` against the specification at `now`; on success, the
/// data CloudWatch would extract from it.
pub fn validate(record: &Value, now: SystemTime) -> Result<Vec<Datum>, String> {
    let root = record
        .as_object()
        .ok_or("the record is not a JSON object")?;
    let aws = object(root, "_aws", "the root")?;
    only_members(
        aws,
        &["Timestamp", "CloudWatchMetrics", "LogGroupName"],
        "_aws",
    )?;
    let timestamp = aws
        .get("Timestamp")
        .and_then(Value::as_u64)
        .ok_or("_aws.Timestamp must be a whole number of milliseconds")?;
    let now_ms = now
        .duration_since(UNIX_EPOCH)
        .map_err(|e| e.to_string())?
        .as_millis() as u64;
    let two_weeks = Duration::from_secs(14 * 24 * 3600).as_millis() as u64;
    let two_hours = Duration::from_secs(2 * 3600).as_millis() as u64;
    if timestamp + two_weeks < now_ms || timestamp > now_ms + two_hours {
        return Err(format!(
            "_aws.Timestamp {timestamp} is not milliseconds near now ({now_ms})"
        ));
    }
    let directives = aws
        .get("CloudWatchMetrics")
        .and_then(Value::as_array)
        .filter(|d| !d.is_empty())
        .ok_or("_aws.CloudWatchMetrics must be a non-empty array")?;

    let mut data = Vec::new();
    for (i, directive) in directives.iter().enumerate() {
        let at = format!("_aws.CloudWatchMetrics[{i}]");
        let directive = directive
            .as_object()
            .ok_or(format!("{at} is not an object"))?;
        only_members(directive, &["Namespace", "Dimensions", "Metrics"], &at)?;
        let namespace = directive
            .get("Namespace")
            .and_then(Value::as_str)
            .ok_or(format!("{at}.Namespace must be a string"))?;
        if namespace.is_empty()
            || namespace.len() > 255
            || !namespace.is_ascii()
            || namespace.trim().is_empty()
            || namespace.starts_with("AWS/")
        {
            return Err(format!("{at}.Namespace {namespace:?} is not allowed"));
        }
        let sets = directive
            .get("Dimensions")
            .and_then(Value::as_array)
            .ok_or(format!("{at}.Dimensions must be an array"))?;
        let mut dimension_sets = Vec::new();
        for (j, set) in sets.iter().enumerate() {
            let names = set
                .as_array()
                .ok_or(format!("{at}.Dimensions[{j}] must be an array"))?;
            if names.len() > 30 {
                return Err(format!("{at}.Dimensions[{j}] has more than 30 dimensions"));
            }
            let mut dimensions = BTreeMap::new();
            for name in names {
                let name = name
                    .as_str()
                    .ok_or(format!("{at}.Dimensions[{j}] holds a non-string"))?;
                let value = root.get(name).and_then(Value::as_str).ok_or(format!(
                    "dimension {name:?} ({at}) is not a top-level string member"
                ))?;
                if value.is_empty() || value.len() > 1024 || !value.is_ascii() {
                    return Err(format!(
                        "dimension {name:?} has a value CloudWatch refuses: {value:?}"
                    ));
                }
                dimensions.insert(name.to_owned(), value.to_owned());
            }
            dimension_sets.push(dimensions);
        }
        let metrics = directive
            .get("Metrics")
            .and_then(Value::as_array)
            .ok_or(format!("{at}.Metrics must be an array"))?;
        if metrics.len() > 100 {
            return Err(format!("{at}.Metrics has more than 100 definitions"));
        }
        for (k, definition) in metrics.iter().enumerate() {
            let here = format!("{at}.Metrics[{k}]");
            let definition = definition
                .as_object()
                .ok_or(format!("{here} is not an object"))?;
            only_members(definition, &["Name", "Unit", "StorageResolution"], &here)?;
            let name = definition
                .get("Name")
                .and_then(Value::as_str)
                .filter(|n| !n.is_empty() && n.len() <= 1024)
                .ok_or(format!("{here}.Name must be a non-empty string"))?;
            let unit = match definition.get("Unit") {
                None => "None",
                Some(unit) => unit
                    .as_str()
                    .filter(|u| UNITS.contains(u))
                    .ok_or(format!("{here}.Unit {unit} is not a CloudWatch unit"))?,
            };
            if let Some(resolution) = definition.get("StorageResolution") {
                if resolution != 1 && resolution != 60 {
                    return Err(format!("{here}.StorageResolution must be 1 or 60"));
                }
            }
            let values = match root.get(name) {
                Some(Value::Number(n)) => vec![n.as_f64().unwrap_or(f64::NAN)],
                Some(Value::Array(items)) if items.len() <= 100 => items
                    .iter()
                    .map(|v| {
                        v.as_f64()
                            .ok_or(format!("metric {name:?} holds a non-number"))
                    })
                    .collect::<Result<_, _>>()?,
                _ => {
                    return Err(format!(
                        "metric {name:?} ({here}) is not a top-level number or array of numbers"
                    ))
                }
            };
            for dimensions in &dimension_sets {
                data.push(Datum {
                    namespace: namespace.to_owned(),
                    name: name.to_owned(),
                    unit: unit.to_owned(),
                    dimensions: dimensions.clone(),
                    values: values.clone(),
                });
            }
        }
    }
    Ok(data)
}

fn object<'a>(
    parent: &'a Map<String, Value>,
    key: &str,
    what: &str,
) -> Result<&'a Map<String, Value>, String> {
    parent
        .get(key)
        .and_then(Value::as_object)
        .ok_or(format!("{what} has no object member {key:?}"))
}

fn only_members(object: &Map<String, Value>, allowed: &[&str], what: &str) -> Result<(), String> {
    match object.keys().find(|k| !allowed.contains(&k.as_str())) {
        Some(extra) => Err(format!(
            "{what} has a member the specification does not define: {extra:?}"
        )),
        None => Ok(()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn valid() -> Value {
        json!({
            "_aws": {
                "Timestamp": SystemTime::now().duration_since(UNIX_EPOCH).unwrap().as_millis() as u64,
                "CloudWatchMetrics": [{
                    "Namespace": "Test",
                    "Dimensions": [["function", "step"], ["function"]],
                    "Metrics": [{"Name": "Latency", "Unit": "Milliseconds"}]
                }]
            },
            "function": "f",
            "step": "s",
            "Latency": 12.5
        })
    }

    #[test]
    fn a_valid_record_gives_one_datum_per_dimension_set() {
        let data = validate(&valid(), SystemTime::now()).unwrap();
        assert_eq!(data.len(), 2);
        assert_eq!(data[1].dimensions.len(), 1);
        assert_eq!(data[0].values, vec![12.5]);
    }

    #[test]
    fn each_rule_of_the_specification_is_checked() {
        type Breaking = fn(&mut Value);
        let broken: Vec<(&str, Breaking)> = vec![
            ("seconds", |v| v["_aws"]["Timestamp"] = json!(1_700_000_000)),
            ("string timestamp", |v| {
                v["_aws"]["Timestamp"] = json!("now")
            }),
            ("no directives", |v| {
                v["_aws"]["CloudWatchMetrics"] = json!([])
            }),
            ("missing dimension", |v| {
                v.as_object_mut().unwrap().remove("step");
            }),
            ("numeric dimension", |v| v["step"] = json!(3)),
            ("missing metric", |v| {
                v.as_object_mut().unwrap().remove("Latency");
            }),
            ("string metric", |v| v["Latency"] = json!("12")),
            ("bad unit", |v| {
                v["_aws"]["CloudWatchMetrics"][0]["Metrics"][0]["Unit"] = json!("ms")
            }),
            ("extra member", |v| {
                v["_aws"]["CloudWatchMetrics"][0]["Extra"] = json!(1)
            }),
            ("reserved namespace", |v| {
                v["_aws"]["CloudWatchMetrics"][0]["Namespace"] = json!("AWS/Lambda")
            }),
        ];
        for (name, breaking) in broken {
            let mut record = valid();
            breaking(&mut record);
            assert!(
                validate(&record, SystemTime::now()).is_err(),
                "{name}: accepted"
            );
        }
    }
}
