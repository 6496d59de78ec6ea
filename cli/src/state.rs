//! What a secret's labels say about its rotation, read without any value.

use serde::Serialize;
use std::time::{Duration, SystemTime};

/// One version as `ListSecretVersionIds` describes it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct VersionInfo {
    /// The version id.
    pub id: String,
    /// Its labels.
    pub stages: Vec<String>,
    /// When it was created.
    pub created: Option<SystemTime>,
    /// Whether the service lists KMS keys for it: a version holding a
    /// value was encrypted with one, an empty version with none.
    pub has_keys: bool,
}

/// The state of a secret's rotation, from its labels.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum RotationState {
    /// No `AWSPENDING`, or `AWSPENDING` on the `AWSCURRENT` version.
    Healthy,
    /// `AWSPENDING` on a version without a value: the rotation died in
    /// createSecret. Nothing on the backend changed.
    StuckEmpty,
    /// `AWSPENDING` on another version that holds a value (or whose value
    /// could not be told): the rotation stopped after createSecret; the
    /// backend may accept the pending value already.
    Stuck,
}

impl RotationState {
    /// The word shown in the table.
    pub fn as_str(self) -> &'static str {
        match self {
            RotationState::Healthy => "healthy",
            RotationState::StuckEmpty => "stuck-empty",
            RotationState::Stuck => "stuck",
        }
    }

    /// Whether a rotation is stuck.
    pub fn is_stuck(self) -> bool {
        self != RotationState::Healthy
    }
}

/// A stuck rotation's pending version.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Pending {
    /// The version carrying `AWSPENDING`.
    pub version_id: String,
    /// How long ago it was created, when known.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub age_seconds: Option<u64>,
    /// Whether it holds a value: `None` when the service's answer cannot
    /// tell (it lists keys for no version, not even `AWSCURRENT`'s).
    pub has_value: Option<bool>,
}

/// The version carrying `stage` in a `VersionIdsToStages` map.
pub fn version_with<'a>(
    stages: impl IntoIterator<Item = (&'a String, &'a Vec<String>)>,
    stage: &str,
) -> Option<&'a str> {
    stages
        .into_iter()
        .find(|(_, labels)| labels.iter().any(|l| l == stage))
        .map(|(id, _)| id.as_str())
}

/// Whether the labels (`VersionIdsToStages`) show `AWSPENDING` on a
/// version that is not `AWSCURRENT`: then [`classify`] needs the versions.
pub fn pending_elsewhere(current: Option<&str>, pending: Option<&str>) -> bool {
    matches!((current, pending), (c, Some(p)) if c != Some(p))
}

/// The state from the versions, at `now`.
pub fn classify(versions: &[VersionInfo], now: SystemTime) -> (RotationState, Option<Pending>) {
    let with = |stage: &str| {
        versions
            .iter()
            .find(|v| v.stages.iter().any(|s| s == stage))
    };
    let current = with("AWSCURRENT");
    let Some(pending) = with("AWSPENDING") else {
        return (RotationState::Healthy, None);
    };
    if current.is_some_and(|c| c.id == pending.id) {
        return (RotationState::Healthy, None);
    }
    // The service lists the keys that encrypted a version; when it lists
    // none even for AWSCURRENT (which always holds a value), the answer
    // cannot tell an empty version from a full one.
    let keys_listed = current.is_some_and(|c| c.has_keys);
    let has_value = keys_listed.then_some(pending.has_keys);
    let age_seconds = pending
        .created
        .and_then(|created| now.duration_since(created).ok())
        .map(|age| age.as_secs());
    let state = if has_value == Some(false) {
        RotationState::StuckEmpty
    } else {
        RotationState::Stuck
    };
    (
        state,
        Some(Pending {
            version_id: pending.id.clone(),
            age_seconds,
            has_value,
        }),
    )
}

/// Whether the next rotation is overdue at `now`: rotation is on and its
/// date has passed.
pub fn overdue(rotation_enabled: bool, next: Option<SystemTime>, now: SystemTime) -> bool {
    rotation_enabled && next.is_some_and(|next| next < now)
}

/// A short age: `42s`, `7m`, `3h`, `2d`.
pub fn short_age(seconds: u64) -> String {
    match seconds {
        s if s < 120 => format!("{s}s"),
        s if s < 2 * 3600 => format!("{}m", s / 60),
        s if s < 2 * 86400 => format!("{}h", s / 3600),
        s => format!("{}d", s / 86400),
    }
}

/// A date for a table: `2026-12-03 01:22` (UTC).
pub fn short_date(time: SystemTime) -> String {
    let text = humantime::format_rfc3339_seconds(time).to_string();
    text.get(..16).unwrap_or(&text).replace('T', " ")
}

/// The time `seconds` after the Unix epoch.
pub fn from_epoch(seconds: f64) -> Option<SystemTime> {
    (seconds.is_finite() && seconds >= 0.0)
        .then(|| SystemTime::UNIX_EPOCH + Duration::from_secs_f64(seconds))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn version(id: &str, stages: &[&str], has_keys: bool) -> VersionInfo {
        VersionInfo {
            id: id.into(),
            stages: stages.iter().map(|s| s.to_string()).collect(),
            created: Some(SystemTime::UNIX_EPOCH + Duration::from_secs(1000)),
            has_keys,
        }
    }

    fn at(seconds: u64) -> SystemTime {
        SystemTime::UNIX_EPOCH + Duration::from_secs(seconds)
    }

    #[test]
    fn pending_on_current_or_nowhere_is_healthy() {
        let alone = [version("a", &["AWSCURRENT"], true)];
        assert_eq!(classify(&alone, at(2000)).0, RotationState::Healthy);
        let same = [version("a", &["AWSCURRENT", "AWSPENDING"], true)];
        assert_eq!(classify(&same, at(2000)).0, RotationState::Healthy);
    }

    #[test]
    fn an_empty_pending_version_is_stuck_empty_with_its_age() {
        let versions = [
            version("a", &["AWSCURRENT"], true),
            version("b", &["AWSPENDING"], false),
        ];
        let (state, pending) = classify(&versions, at(1090));
        assert_eq!(state, RotationState::StuckEmpty);
        let pending = pending.unwrap();
        assert_eq!(pending.version_id, "b");
        assert_eq!(pending.age_seconds, Some(90));
        assert_eq!(pending.has_value, Some(false));
    }

    #[test]
    fn a_full_pending_version_is_stuck() {
        let versions = [
            version("a", &["AWSCURRENT"], true),
            version("b", &["AWSPENDING"], true),
        ];
        assert_eq!(classify(&versions, at(2000)).0, RotationState::Stuck);
    }

    #[test]
    fn without_keys_listed_anywhere_the_value_is_unknown_and_it_is_stuck() {
        let versions = [
            version("a", &["AWSCURRENT"], false),
            version("b", &["AWSPENDING"], false),
        ];
        let (state, pending) = classify(&versions, at(2000));
        assert_eq!(state, RotationState::Stuck);
        assert_eq!(pending.unwrap().has_value, None);
    }

    #[test]
    fn overdue_only_when_rotation_is_on_and_the_date_passed() {
        assert!(overdue(true, Some(at(10)), at(20)));
        assert!(!overdue(true, Some(at(30)), at(20)));
        assert!(!overdue(false, Some(at(10)), at(20)));
        assert!(!overdue(true, None, at(20)));
    }

    #[test]
    fn ages_and_dates_are_short() {
        assert_eq!(short_age(42), "42s");
        assert_eq!(short_age(600), "10m");
        assert_eq!(short_age(3 * 3600), "3h");
        assert_eq!(short_age(3 * 86400), "3d");
        assert_eq!(short_date(at(0)), "1970-01-01 00:00");
    }
}
