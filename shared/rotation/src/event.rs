//! The event Secrets Manager sends to a rotation function.

use serde::{Deserialize, Serialize};
use std::fmt;

/// One invocation of a rotation function:
/// `{"SecretId", "ClientRequestToken", "Step", "RotationToken"?}`. Its
/// `Debug` never shows the `RotationToken`, which AWS marks sensitive.
#[derive(Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct RotationEvent {
    /// The secret's ARN or name.
    #[serde(rename = "SecretId")]
    pub secret_id: String,
    /// The version being rotated in (it carries `AWSPENDING`).
    #[serde(rename = "ClientRequestToken")]
    pub client_request_token: String,
    /// Which of the four steps to run.
    #[serde(rename = "Step")]
    pub step: Step,
    /// Sent by the service on newer rotations; must be passed on to
    /// `PutSecretValue`.
    #[serde(
        rename = "RotationToken",
        default,
        skip_serializing_if = "Option::is_none"
    )]
    pub rotation_token: Option<String>,
}

impl fmt::Debug for RotationEvent {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("RotationEvent")
            .field("secret_id", &self.secret_id)
            .field("client_request_token", &self.client_request_token)
            .field("step", &self.step)
            .field(
                "rotation_token",
                &self.rotation_token.as_ref().map(|_| "[REDACTED]"),
            )
            .finish()
    }
}

/// The four rotation steps.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub enum Step {
    /// Store a new pending value under `AWSPENDING`.
    #[serde(rename = "createSecret")]
    Create,
    /// Make the backend accept the pending credential.
    #[serde(rename = "setSecret")]
    Set,
    /// Check that the pending credential works.
    #[serde(rename = "testSecret")]
    Test,
    /// Move `AWSCURRENT` to the pending version.
    #[serde(rename = "finishSecret")]
    Finish,
}

impl Step {
    /// The step's name as Secrets Manager spells it.
    pub fn as_str(self) -> &'static str {
        match self {
            Step::Create => "createSecret",
            Step::Set => "setSecret",
            Step::Test => "testSecret",
            Step::Finish => "finishSecret",
        }
    }

    /// All four steps, in the order the service runs them.
    pub const ALL: [Step; 4] = [Step::Create, Step::Set, Step::Test, Step::Finish];
}

impl fmt::Display for Step {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl RotationEvent {
    /// Reads an event from the JSON the runtime hands over. Errors name what is
    /// missing or wrong; an event holds no secret, so they may quote it.
    pub fn from_json(value: serde_json::Value) -> Result<Self, String> {
        // serde would also read a struct from an array of its fields in order.
        if !value.is_object() {
            return Err("the event is not a JSON object".into());
        }
        let event: RotationEvent = serde_json::from_value(value).map_err(|e| e.to_string())?;
        if event.secret_id.is_empty() {
            return Err("field `SecretId` is empty".into());
        }
        if event.client_request_token.is_empty() {
            return Err("field `ClientRequestToken` is empty".into());
        }
        Ok(event)
    }
}

#[cfg(test)]
mod tests {

    #[test]
    fn debug_never_shows_the_rotation_token() {
        let event = RotationEvent::from_json(serde_json::json!({
            "SecretId": "s", "ClientRequestToken": "t", "Step": "createSecret",
            "RotationToken": "sensitive-rotation-token"
        }))
        .unwrap();
        let shown = format!("{event:?}");
        assert!(!shown.contains("sensitive-rotation-token"), "{shown}");
        assert!(shown.contains("REDACTED"), "{shown}");
    }

    use super::*;
    use serde_json::json;

    #[test]
    fn reads_the_service_event() {
        let event = RotationEvent::from_json(json!({
            "SecretId": "arn:aws:secretsmanager:us-east-1:1:secret:s",
            "ClientRequestToken": "t",
            "Step": "setSecret",
        }))
        .unwrap();
        assert_eq!(event.step, Step::Set);
        assert_eq!(event.rotation_token, None);
    }

    #[test]
    fn keeps_the_rotation_token() {
        let event = RotationEvent::from_json(json!({
            "SecretId": "s", "ClientRequestToken": "t", "Step": "createSecret", "RotationToken": "rt"
        }))
        .unwrap();
        assert_eq!(event.rotation_token.as_deref(), Some("rt"));
    }

    #[test]
    fn refuses_bad_events_with_the_reason() {
        let unknown = RotationEvent::from_json(json!({
            "SecretId": "s", "ClientRequestToken": "t", "Step": "dropSecret"
        }))
        .unwrap_err();
        assert!(unknown.contains("dropSecret"), "{unknown}");
        let missing =
            RotationEvent::from_json(json!({"SecretId": "s", "Step": "testSecret"})).unwrap_err();
        assert!(missing.contains("ClientRequestToken"), "{missing}");
        let empty = RotationEvent::from_json(json!({
            "SecretId": "", "ClientRequestToken": "t", "Step": "testSecret"
        }))
        .unwrap_err();
        assert!(empty.contains("SecretId"), "{empty}");
        assert!(RotationEvent::from_json(json!([1, 2])).is_err());
    }

    #[test]
    fn step_names_round_trip() {
        for step in Step::ALL {
            let text = serde_json::to_value(step).unwrap();
            assert_eq!(text, json!(step.as_str()));
            assert_eq!(serde_json::from_value::<Step>(text).unwrap(), step);
        }
    }

    /// Arbitrary JSON values for the event parser.
    fn json_value() -> impl proptest::strategy::Strategy<Value = serde_json::Value> {
        use proptest::prelude::*;
        let leaf = prop_oneof![
            Just(json!(null)),
            any::<bool>().prop_map(|b| json!(b)),
            any::<i64>().prop_map(|n| json!(n)),
            ".{0,30}".prop_map(|s| json!(s)),
            prop_oneof![
                Just("createSecret"),
                Just("setSecret"),
                Just("testSecret"),
                Just("finishSecret")
            ]
            .prop_map(|s| json!(s)),
        ];
        leaf.prop_recursive(3, 24, 6, |inner| {
            prop_oneof![
                proptest::collection::vec(inner.clone(), 0..4).prop_map(serde_json::Value::Array),
                proptest::collection::btree_map(
                    prop_oneof![
                        Just("SecretId".to_owned()),
                        Just("ClientRequestToken".to_owned()),
                        Just("Step".to_owned()),
                        Just("RotationToken".to_owned()),
                        ".{0,10}"
                    ],
                    inner,
                    0..6
                )
                .prop_map(|m| serde_json::Value::Object(m.into_iter().collect())),
            ]
        })
    }

    proptest::proptest! {
        #![proptest_config(proptest::test_runner::Config::with_cases(2000))]

        /// Whatever arrives: an event with all three required fields, or a
        /// reason; never a panic.
        #[test]
        fn arbitrary_events_never_panic(value in json_value()) {
            match RotationEvent::from_json(value.clone()) {
                Ok(event) => {
                    proptest::prop_assert_eq!(
                        value["SecretId"].as_str(),
                        Some(event.secret_id.as_str())
                    );
                    proptest::prop_assert_eq!(value["Step"].as_str(), Some(event.step.as_str()));
                }
                Err(reason) => proptest::prop_assert!(!reason.is_empty()),
            }
        }
    }
}
