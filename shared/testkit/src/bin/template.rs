//! Rewrites the generated part of template.yaml and the applications of
//! `applications/` from the function crates' manifests (`scripts/template`);
//! `--check` only says whether they are current.

use std::collections::BTreeSet;
use std::path::Path;
use std::process::ExitCode;
use testkit::applications::{render_all, Publisher, RenderedFile, DIRECTORY};
use testkit::functions::function_crates;
use testkit::template::regenerate;
use testkit::tools::workspace_root;

fn read(path: &Path) -> Result<String, String> {
    std::fs::read_to_string(path).map_err(|e| format!("{}: {e}", path.display()))
}

/// Every file scripts/template writes, rendered now.
fn render(root: &Path) -> Result<Vec<RenderedFile>, String> {
    let functions = function_crates();
    let main = read(&root.join("template.yaml"))?;
    let main = regenerate(&main, &functions).map_err(|e| e.to_string())?;
    let publisher = Publisher::from_manifest(&read(&root.join("Cargo.toml"))?)?;
    let mut files = render_all(&functions, &main, &publisher).map_err(|e| e.to_string())?;
    files.push(RenderedFile {
        path: "template.yaml".into(),
        text: main,
    });
    Ok(files)
}

/// Directories of `applications/` that no function renders.
fn stale_applications(root: &Path, files: &[RenderedFile]) -> Vec<String> {
    let rendered: BTreeSet<&str> = files
        .iter()
        .filter_map(|f| f.path.strip_prefix(&format!("{DIRECTORY}/")))
        .filter_map(|rest| rest.split('/').next())
        .collect();
    std::fs::read_dir(root.join(DIRECTORY))
        .map(|entries| {
            entries
                .flatten()
                .filter_map(|e| e.file_name().into_string().ok())
                .filter(|name| !rendered.contains(name.as_str()))
                .collect()
        })
        .unwrap_or_default()
}

fn main() -> ExitCode {
    let check = std::env::args().any(|a| a == "--check");
    let root = workspace_root();
    let files = match render(&root) {
        Ok(files) => files,
        Err(e) => {
            eprintln!("{e}");
            return ExitCode::from(2);
        }
    };
    let changed: Vec<&RenderedFile> = files
        .iter()
        .filter(|f| std::fs::read_to_string(root.join(&f.path)).ok().as_deref() != Some(&f.text))
        .collect();
    let stale = stale_applications(&root, &files);
    if changed.is_empty() && stale.is_empty() {
        println!(
            "template.yaml and {DIRECTORY}/ are current ({} files)",
            files.len()
        );
        return ExitCode::SUCCESS;
    }
    if check {
        for f in &changed {
            eprintln!("{} is not what scripts/template renders", f.path);
        }
        for name in &stale {
            eprintln!("{DIRECTORY}/{name} is no function's application");
        }
        eprintln!("run scripts/template");
        return ExitCode::FAILURE;
    }
    for f in &changed {
        let path = root.join(&f.path);
        let written = path
            .parent()
            .map_or(Ok(()), std::fs::create_dir_all)
            .and_then(|()| std::fs::write(&path, &f.text));
        if let Err(e) = written {
            eprintln!("{}: {e}", path.display());
            return ExitCode::from(2);
        }
        println!("{} rewritten", f.path);
    }
    for name in &stale {
        if let Err(e) = std::fs::remove_dir_all(root.join(DIRECTORY).join(name)) {
            eprintln!("{DIRECTORY}/{name}: {e}");
            return ExitCode::from(2);
        }
        println!("{DIRECTORY}/{name} removed (no function names it)");
    }
    ExitCode::SUCCESS
}
