//! The README's reference tables match the code they describe.

use std::path::Path;

fn readme() -> String {
    let path = Path::new(env!("CARGO_MANIFEST_DIR"))
        .parent()
        .expect("the repository root")
        .join("README.md");
    std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("{}: {e}", path.display()))
}

/// The first column of the table whose header starts with `| {header} |`.
fn first_column(text: &str, header: &str) -> Vec<String> {
    let start = format!("| {header} |");
    let mut lines = text.lines().skip_while(|l| !l.starts_with(&start));
    assert!(
        lines.next().is_some(),
        "no table headed {start:?} in README.md"
    );
    lines
        .skip(1) // the |---| row
        .take_while(|l| l.starts_with('|'))
        .filter_map(|l| l.split('|').nth(1))
        .map(|cell| cell.trim().trim_matches('`').to_owned())
        .collect()
}

#[test]
fn the_failure_kind_table_lists_exactly_the_kinds_the_code_logs() {
    let documented = first_column(&readme(), "`failure_kind`");
    let emitted: Vec<String> = rotation::FAILURE_KINDS
        .iter()
        .map(|(kind, _)| (*kind).to_owned())
        .collect();
    assert_eq!(
        documented, emitted,
        "README.md's failure_kind table and rotation::FAILURE_KINDS"
    );
}

#[test]
fn every_tls_and_log_variable_is_documented() {
    let variables = first_column(&readme(), "variable");
    let joined = variables.join(" ");
    for name in [
        database::tls::TLS_MODE_VAR,
        database::tls::PUBLIC_ROOTS_VAR,
        database::tls::RDS_ROOTS_VAR,
        database::tls::EXTRA_CA_VAR,
        database::settings::CONNECT_TIMEOUT_VAR,
        rotation::logging::LOG_LEVEL_VAR,
        rotation::logging::LOG_FORMAT_VAR,
    ] {
        assert!(
            joined.contains(name),
            "{name} is missing from README.md's configuration table"
        );
    }
}
