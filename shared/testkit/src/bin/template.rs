//! Rewrites the generated part of template.yaml from the function crates'
//! manifests (`scripts/template`); `--check` only says whether it is current.

use std::process::ExitCode;
use testkit::functions::function_crates;
use testkit::template::regenerate;
use testkit::tools::workspace_root;

fn main() -> ExitCode {
    let check = std::env::args().any(|a| a == "--check");
    let path = workspace_root().join("template.yaml");
    let text = match std::fs::read_to_string(&path) {
        Ok(text) => text,
        Err(e) => {
            eprintln!("{}: {e}", path.display());
            return ExitCode::from(2);
        }
    };
    let functions = function_crates();
    let rendered = match regenerate(&text, &functions) {
        Ok(rendered) => rendered,
        Err(e) => {
            eprintln!("{e}");
            return ExitCode::from(2);
        }
    };
    if rendered == text {
        println!("template.yaml is current ({} functions)", functions.len());
        return ExitCode::SUCCESS;
    }
    if check {
        eprintln!("template.yaml is not what scripts/template renders: run scripts/template");
        return ExitCode::FAILURE;
    }
    if let Err(e) = std::fs::write(&path, rendered) {
        eprintln!("{}: {e}", path.display());
        return ExitCode::from(2);
    }
    println!(
        "template.yaml: resources of {} functions rewritten",
        functions.len()
    );
    ExitCode::SUCCESS
}
