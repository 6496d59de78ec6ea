//! What to do with a stuck rotation, from the function's probe: which
//! labelled version the backend accepts.

use rotation::operator::{ProbeReport, Verdict};
use serde::Serialize;

/// The way out of a stuck rotation.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(tag = "action", rename_all = "kebab-case")]
pub enum Plan {
    /// The backend accepts the pending value: move `AWSCURRENT` to it
    /// (and clear `AWSPENDING`), as finishSecret would have.
    RollForward {
        /// The pending version.
        pending: String,
        /// The current version (it becomes `AWSPREVIOUS`).
        current: String,
    },
    /// The backend accepts the current (or previous) value, or the pending
    /// version is empty: remove `AWSPENDING`; the next rotation starts
    /// afresh.
    RollBack {
        /// The pending version.
        pending: String,
        /// Why, and what the next rotation does.
        reason: String,
    },
    /// No stored value works: a person has to act.
    Manual {
        /// What the probe found and what to do.
        reason: String,
    },
}

impl Plan {
    /// The `aws` CLI commands that carry the plan out.
    pub fn commands(&self, secret_arn: &str) -> Vec<String> {
        let stage = |stage: &str, to: Option<&str>, from: &str| {
            let mut command = format!(
                "aws secretsmanager update-secret-version-stage --secret-id {secret_arn} \
                 --version-stage {stage}"
            );
            if let Some(to) = to {
                command.push_str(&format!(" --move-to-version-id {to}"));
            }
            command.push_str(&format!(" --remove-from-version-id {from}"));
            command
        };
        match self {
            Plan::RollForward { pending, current } => vec![
                stage("AWSCURRENT", Some(pending), current),
                stage("AWSPENDING", None, pending),
            ],
            Plan::RollBack { pending, .. } => vec![stage("AWSPENDING", None, pending)],
            Plan::Manual { .. } => Vec::new(),
        }
    }
}

/// The plan for a stuck rotation whose versions `probe` describes.
pub fn plan(probe: &ProbeReport) -> Plan {
    let verdict = |stage: &str| probe.with_stage(stage).map(|v| v.verdict);
    let (Some(pending), Some(current)) = (
        probe.with_stage("AWSPENDING"),
        probe.with_stage("AWSCURRENT"),
    ) else {
        return Plan::Manual {
            reason: "the secret has no AWSPENDING or no AWSCURRENT version: nothing to roll"
                .to_owned(),
        };
    };
    if pending.version_id == current.version_id {
        return Plan::Manual {
            reason: "AWSPENDING is on the AWSCURRENT version: the rotation is not stuck".to_owned(),
        };
    }
    if pending.verdict == Verdict::Accepted {
        return Plan::RollForward {
            pending: pending.version_id.clone(),
            current: current.version_id.clone(),
        };
    }
    let pending_state = match pending.verdict {
        Verdict::Empty => "the pending version holds no value (the rotation died in createSecret)",
        Verdict::Invalid => "the pending value does not parse",
        _ => "the backend refuses the pending value",
    };
    if current.verdict == Verdict::Accepted {
        return Plan::RollBack {
            pending: pending.version_id.clone(),
            reason: format!(
                "{pending_state}, and accepts AWSCURRENT: removing AWSPENDING loses nothing; \
                 the next rotation starts afresh"
            ),
        };
    }
    if verdict("AWSPREVIOUS") == Some(Verdict::Accepted) {
        return Plan::RollBack {
            pending: pending.version_id.clone(),
            reason: format!(
                "{pending_state} and AWSCURRENT, but accepts AWSPREVIOUS: remove AWSPENDING, \
                 then rotate; setSecret logs in with AWSPREVIOUS and sets a new password"
            ),
        };
    }
    let refusals: Vec<String> = probe
        .versions
        .iter()
        .map(|v| {
            format!(
                "{} ({}): {}{}",
                v.stages.join("+"),
                v.version_id,
                v.verdict.as_str(),
                if v.detail.is_empty() {
                    String::new()
                } else {
                    format!(", {}", v.detail)
                }
            )
        })
        .collect();
    Plan::Manual {
        reason: format!(
            "the backend accepts none of the stored values: {}. Fix the cause named above \
             (network path, TLS, the user's existence); if the password itself was lost, \
             reset the user's password on the backend by hand, store it with \
             `aws secretsmanager put-secret-value --secret-id … --version-stages AWSCURRENT`, \
             then remove AWSPENDING",
            refusals.join("; ")
        ),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use rotation::operator::VersionProbe;

    fn probe(versions: &[(&str, &[&str], Verdict)]) -> ProbeReport {
        ProbeReport {
            secret_arn: "arn".into(),
            versions: versions
                .iter()
                .map(|(id, stages, verdict)| VersionProbe {
                    version_id: id.to_string(),
                    stages: stages.iter().map(|s| s.to_string()).collect(),
                    verdict: *verdict,
                    detail: String::new(),
                    failure_kind: None,
                })
                .collect(),
        }
    }

    #[test]
    fn an_accepted_pending_value_rolls_forward() {
        let plan = plan(&probe(&[
            ("c", &["AWSCURRENT"], Verdict::Refused),
            ("p", &["AWSPENDING"], Verdict::Accepted),
        ]));
        assert_eq!(
            plan,
            Plan::RollForward {
                pending: "p".into(),
                current: "c".into()
            }
        );
        let commands = plan.commands("arn");
        assert_eq!(commands.len(), 2);
        assert!(commands[0].contains(
            "--version-stage AWSCURRENT --move-to-version-id p --remove-from-version-id c"
        ));
        assert!(commands[1].contains("--version-stage AWSPENDING --remove-from-version-id p"));
    }

    #[test]
    fn an_empty_or_refused_pending_value_rolls_back_when_current_works() {
        for verdict in [Verdict::Empty, Verdict::Refused, Verdict::Invalid] {
            let plan = plan(&probe(&[
                ("c", &["AWSCURRENT"], Verdict::Accepted),
                ("p", &["AWSPENDING"], verdict),
            ]));
            assert!(
                matches!(&plan, Plan::RollBack { pending, .. } if pending == "p"),
                "{plan:?}"
            );
            assert_eq!(plan.commands("arn").len(), 1);
        }
    }

    #[test]
    fn only_the_previous_value_working_rolls_back_and_says_so() {
        let plan = plan(&probe(&[
            ("c", &["AWSCURRENT"], Verdict::Refused),
            ("p", &["AWSPENDING"], Verdict::Refused),
            ("o", &["AWSPREVIOUS"], Verdict::Accepted),
        ]));
        assert!(matches!(&plan, Plan::RollBack { reason, .. } if reason.contains("AWSPREVIOUS")));
    }

    #[test]
    fn nothing_working_stops_with_the_manual_steps() {
        let plan = plan(&probe(&[
            ("c", &["AWSCURRENT"], Verdict::Refused),
            ("p", &["AWSPENDING"], Verdict::Empty),
        ]));
        assert!(matches!(&plan, Plan::Manual { reason } if reason.contains("put-secret-value")));
        assert!(plan.commands("arn").is_empty());
    }
}
