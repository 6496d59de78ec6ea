//! Helpers for secret values stored as JSON objects, which any backend's
//! parsed secret may hold.

use serde_json::{Map, Value};
use zeroize::Zeroize;

/// Overwrites every string inside `value`, at any depth (any field of a
/// secret may be secret, not only the password).
pub fn zeroize_strings(value: &mut Value) {
    match value {
        Value::String(s) => s.zeroize(),
        Value::Array(items) => items.iter_mut().for_each(zeroize_strings),
        Value::Object(fields) => fields.values_mut().for_each(zeroize_strings),
        _ => {}
    }
}

/// Overwrites every string of every field of `fields`.
pub fn zeroize_fields(fields: &mut Map<String, Value>) {
    fields.values_mut().for_each(zeroize_strings);
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn every_string_at_any_depth_is_overwritten() {
        let mut value = json!({"a": "secret", "b": ["x", {"c": "yy"}], "n": 3});
        zeroize_strings(&mut value);
        // zeroize empties a String after overwriting it.
        assert_eq!(value, json!({"a": "", "b": ["", {"c": ""}], "n": 3}));
    }
}
