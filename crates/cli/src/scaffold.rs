//! `temporal-lambda new <path>`: a ready Temporal Serverless Worker crate — `Cargo.toml` (bin
//! `bootstrap`, exact versions that build together), `src/main.rs` with `run_worker`, one
//! workflow and one activity in `src/lib.rs`, a commented `temporal.toml.example`, a README with
//! the next commands, and `tests/local_rig.rs`, which runs the crate's own `bootstrap` on the
//! local rig through `temporal-lambda-testing`.
//!
//! Refuses a target that exists and is not empty: nothing is ever overwritten.

use std::path::{Path, PathBuf};

use serde::Serialize;

/// Versions the generated crate pins: the ones this toolkit is built and tested with
/// (checked against the workspace's `Cargo.lock` by a test).
pub const TEMPORALIO_SDK: &str = "1.1.1";
/// See [`TEMPORALIO_SDK`].
pub const TEMPORALIO_MACROS: &str = "1.1.2";
/// See [`TEMPORALIO_SDK`].
pub const TEMPORALIO_COMMON: &str = "1.1.1";
/// See [`TEMPORALIO_SDK`].
pub const TEMPORALIO_WORKFLOW: &str = "1.1.1";
/// This toolkit's version (of `temporal-lambda-worker` and `temporal-lambda-testing`).
pub const TOOLKIT_VERSION: &str = env!("CARGO_PKG_VERSION");

/// Where the generated crate takes the toolkit crates from.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ToolkitSource {
    /// crates.io, at [`TOOLKIT_VERSION`].
    CratesIo,
    /// A local checkout of this repository (its `crates/lambda-worker`, `crates/testing`).
    Path(PathBuf),
    /// A git repository (optionally a branch, tag or rev is part of the URL as `URL#REV`).
    Git(String),
}

/// Options of [`new_project`].
#[derive(Debug, Clone)]
pub struct NewOptions {
    /// Directory to create (must not exist, or be empty).
    pub path: PathBuf,
    /// Crate name (default: the directory's name).
    pub crate_name: Option<String>,
    /// Worker Deployment name (default: the crate name).
    pub deployment_name: Option<String>,
    /// Build ID (default `build-1`).
    pub build_id: String,
    /// Task queue (default: the crate name).
    pub task_queue: Option<String>,
    /// Toolkit dependencies.
    pub toolkit: ToolkitSource,
    /// The Lambda architecture the project's commands build and deploy for.
    pub arch: temporal_lambda_package::Arch,
}

/// What [`new_project`] wrote.
#[derive(Debug, Clone, Serialize)]
pub struct NewReport {
    /// The crate directory.
    pub path: PathBuf,
    /// Crate name.
    pub crate_name: String,
    /// Deployment name.
    pub deployment_name: String,
    /// Build ID.
    pub build_id: String,
    /// Task queue.
    pub task_queue: String,
    /// Files written, relative to `path`.
    pub files: Vec<String>,
}

/// Why a project could not be created.
#[derive(Debug, thiserror::Error)]
pub enum NewError {
    /// The target exists and is not empty.
    #[error("{0} exists and is not empty: `temporal-lambda new` never overwrites files; choose a new directory (or empty this one)")]
    NotEmpty(PathBuf),
    /// The target is a file.
    #[error("{0} is a file; give a directory path for the new crate")]
    NotADirectory(PathBuf),
    /// Invalid crate name.
    #[error("`{0}` is not a valid crate name: use letters, digits, '-' and '_', starting with a letter (pass --name)")]
    CrateName(String),
    /// Invalid deployment name, build ID or task queue.
    #[error("{setting} `{value}` is invalid: {rule}")]
    Setting {
        /// Which option.
        setting: &'static str,
        /// Its value.
        value: String,
        /// The rule.
        rule: &'static str,
    },
    /// The toolkit checkout does not hold the crates.
    #[error("{0} is not a temporal-lambda checkout (no crates/lambda-worker/Cargo.toml); pass the repository's root to --toolkit-path")]
    NotACheckout(PathBuf),
    /// Writing failed.
    #[error("writing {path}: {source}")]
    Io {
        /// File.
        path: PathBuf,
        /// Cause.
        source: std::io::Error,
    },
}

fn io(path: &Path) -> impl FnOnce(std::io::Error) -> NewError + '_ {
    move |source| NewError::Io {
        path: path.to_path_buf(),
        source,
    }
}

fn valid_crate_name(n: &str) -> bool {
    n.chars().next().is_some_and(|c| c.is_ascii_alphabetic())
        && temporal_lambda_env::lambda_names::is_valid_function_name(n)
}

fn check_setting(setting: &'static str, v: &str) -> Result<(), NewError> {
    let ok = !v.is_empty()
        && v.len() <= 255
        && v.chars().all(|c| !c.is_control() && !c.is_whitespace())
        && !v.contains(':')
        && !v.contains('"')
        && !v.contains('\\');
    if ok {
        Ok(())
    } else {
        Err(NewError::Setting {
            setting,
            value: v.to_string(),
            rule: "1-255 characters, no spaces, quotes, backslashes or ':'",
        })
    }
}

fn dep(source: &ToolkitSource, crate_dir: &str) -> String {
    match source {
        ToolkitSource::CratesIo => format!("\"{TOOLKIT_VERSION}\""),
        ToolkitSource::Path(root) => format!(
            "{{ version = \"{TOOLKIT_VERSION}\", path = \"{}\" }}",
            toml_escape(&root.join("crates").join(crate_dir).display().to_string())
        ),
        ToolkitSource::Git(url) => match url.split_once('#') {
            Some((u, rev)) => format!(
                "{{ version = \"{TOOLKIT_VERSION}\", git = \"{}\", rev = \"{}\" }}",
                toml_escape(u),
                toml_escape(rev)
            ),
            None => format!(
                "{{ version = \"{TOOLKIT_VERSION}\", git = \"{}\" }}",
                toml_escape(url)
            ),
        },
    }
}

fn toml_escape(s: &str) -> String {
    s.replace('\\', "\\\\").replace('"', "\\\"")
}

/// Whether `dir` (not yet created) would sit inside another Cargo workspace, which would then
/// claim the new crate: the crate gets an empty `[workspace]` table to be its own root.
fn inside_a_workspace(dir: &Path) -> bool {
    dir.ancestors().skip(1).any(|a| {
        std::fs::read_to_string(a.join("Cargo.toml")).is_ok_and(|t| t.contains("[workspace]"))
    })
}

/// Creates the crate. Never overwrites: fails with [`NewError::NotEmpty`] if `path` holds
/// anything.
pub fn new_project(o: &NewOptions) -> Result<NewReport, NewError> {
    check_target(&o.path)?;
    let abs = if o.path.is_absolute() {
        o.path.clone()
    } else {
        std::env::current_dir().map_err(io(&o.path))?.join(&o.path)
    };
    let settings = settings(o, &abs)?;
    let files = render_files(o, &abs, &settings);
    let written = write_files(o, &abs, &files)?;
    Ok(NewReport {
        path: abs,
        crate_name: settings.crate_name,
        deployment_name: settings.deployment_name,
        build_id: o.build_id.clone(),
        task_queue: settings.task_queue,
        files: written,
    })
}

/// The target must not be a file nor a non-empty directory (it may not exist).
fn check_target(path: &Path) -> Result<(), NewError> {
    match std::fs::metadata(path) {
        Ok(m) if !m.is_dir() => Err(NewError::NotADirectory(path.to_path_buf())),
        Ok(_) => {
            let mut entries = std::fs::read_dir(path).map_err(io(path))?;
            if entries.next().is_some() {
                return Err(NewError::NotEmpty(path.to_path_buf()));
            }
            Ok(())
        }
        Err(_) => Ok(()),
    }
}

/// The crate's names, with their defaults, checked.
struct Settings {
    crate_name: String,
    deployment_name: String,
    task_queue: String,
}

/// Crate name (default: the directory's), deployment name and task queue (default: the crate
/// name), each checked, and a `--toolkit-path` that is a checkout.
fn settings(o: &NewOptions, abs: &Path) -> Result<Settings, NewError> {
    let crate_name = match &o.crate_name {
        Some(n) => n.clone(),
        None => abs
            .file_name()
            .map(|n| n.to_string_lossy().into_owned())
            .unwrap_or_default(),
    };
    if !valid_crate_name(&crate_name) {
        return Err(NewError::CrateName(crate_name));
    }
    let deployment_name = o
        .deployment_name
        .clone()
        .unwrap_or_else(|| crate_name.clone());
    let task_queue = o.task_queue.clone().unwrap_or_else(|| crate_name.clone());
    check_setting("--deployment-name", &deployment_name)?;
    check_setting("--build-id", &o.build_id)?;
    check_setting("--task-queue", &task_queue)?;
    if let ToolkitSource::Path(root) = &o.toolkit {
        if !root.join("crates/lambda-worker/Cargo.toml").is_file() {
            return Err(NewError::NotACheckout(root.clone()));
        }
    }
    Ok(Settings {
        crate_name,
        deployment_name,
        task_queue,
    })
}

/// The crate's files (path relative to the crate, text), from the templates.
fn render_files(o: &NewOptions, abs: &Path, s: &Settings) -> Vec<(&'static str, String)> {
    let vars: Vec<(&str, String)> = vec![
        ("crate_name", s.crate_name.clone()),
        ("crate_ident", s.crate_name.replace('-', "_")),
        ("deployment_name", s.deployment_name.clone()),
        ("build_id", o.build_id.clone()),
        ("task_queue", s.task_queue.clone()),
        ("arch_flag", arch_flag(o.arch)),
        ("arch_note", arch_note(o.arch)),
        ("worker_dep", dep(&o.toolkit, "lambda-worker")),
        ("testing_dep", dep(&o.toolkit, "testing")),
        ("toolkit_version", TOOLKIT_VERSION.to_string()),
        ("temporalio_sdk", TEMPORALIO_SDK.to_string()),
        ("temporalio_macros", TEMPORALIO_MACROS.to_string()),
        ("temporalio_common", TEMPORALIO_COMMON.to_string()),
        ("temporalio_workflow", TEMPORALIO_WORKFLOW.to_string()),
        (
            "workspace_table",
            if inside_a_workspace(abs) {
                "\n# Its own workspace, not a member of the one around it.\n[workspace]\n".into()
            } else {
                String::new()
            },
        ),
    ];
    let render = |t: &str| {
        let mut out = t.to_string();
        for (k, v) in &vars {
            out = out.replace(&format!("{{{{{k}}}}}"), v);
        }
        out
    };
    vec![
        (
            "Cargo.toml",
            render(include_str!("scaffold/Cargo.toml.tmpl")),
        ),
        ("src/main.rs", render(include_str!("scaffold/main.rs.tmpl"))),
        ("src/lib.rs", render(include_str!("scaffold/lib.rs.tmpl"))),
        (
            "tests/local_rig.rs",
            render(include_str!("scaffold/local_rig.rs.tmpl")),
        ),
        (
            "temporal.toml.example",
            include_str!("scaffold/temporal.toml.example").to_string(),
        ),
        ("README.md", render(include_str!("scaffold/README.md.tmpl"))),
        (
            ".gitignore",
            include_str!("scaffold/gitignore.tmpl").to_string(),
        ),
    ]
}

/// Writes `files` under `abs`, never replacing one, and (from a local checkout) its
/// `Cargo.lock`; returns the paths written, relative to `abs`.
fn write_files(
    o: &NewOptions,
    abs: &Path,
    files: &[(&str, String)],
) -> Result<Vec<String>, NewError> {
    std::fs::create_dir_all(abs.join("src")).map_err(io(abs))?;
    std::fs::create_dir_all(abs.join("tests")).map_err(io(abs))?;
    let mut written = Vec::new();
    for (rel, text) in files {
        let p = abs.join(rel);
        // create_new: never replace a file, even one that appeared meanwhile.
        let mut f = std::fs::OpenOptions::new()
            .write(true)
            .create_new(true)
            .open(&p)
            .map_err(io(&p))?;
        std::io::Write::write_all(&mut f, text.as_bytes()).map_err(io(&p))?;
        written.push(rel.to_string());
    }
    // From a local checkout: start from its Cargo.lock, so the crate resolves to the versions
    // the toolkit was tested with (and shares compiled dependencies with it).
    if let ToolkitSource::Path(root) = &o.toolkit {
        if let Ok(lock) = std::fs::read(root.join("Cargo.lock")) {
            let p = abs.join("Cargo.lock");
            std::fs::write(&p, lock).map_err(io(&p))?;
            written.push("Cargo.lock".into());
        }
    }
    Ok(written)
}

/// The `--arch` the generated README's commands pass: none for x86_64 (Lambda's default).
fn arch_flag(arch: temporal_lambda_package::Arch) -> String {
    match arch {
        temporal_lambda_package::Arch::X86_64 => String::new(),
        a => format!(" --arch {a}"),
    }
}

/// What the generated README says about the architecture: nothing for x86_64.
fn arch_note(arch: temporal_lambda_package::Arch) -> String {
    match arch {
        temporal_lambda_package::Arch::X86_64 => String::new(),
        a => format!(
            "\nBuilt for {a} (Graviton: 20 % less per GB-s than x86_64). `package`/`ship` build with \
             rustup's `{}` target: `rustup target add {}`.\n",
            a.triple(),
            a.triple()
        ),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn pinned_versions_are_the_ones_in_the_workspace_lock() {
        let lock =
            std::fs::read_to_string(concat!(env!("CARGO_MANIFEST_DIR"), "/../../Cargo.lock"))
                .unwrap();
        for (name, v) in [
            ("temporalio-sdk", TEMPORALIO_SDK),
            ("temporalio-macros", TEMPORALIO_MACROS),
            ("temporalio-common", TEMPORALIO_COMMON),
            ("temporalio-workflow", TEMPORALIO_WORKFLOW),
        ] {
            assert!(
                lock.contains(&format!("name = \"{name}\"\nversion = \"{v}\"")),
                "{name} {v} is not what Cargo.lock has: update scaffold.rs"
            );
        }
    }

    #[test]
    fn refuses_a_non_empty_target_and_bad_names() {
        let dir = std::env::temp_dir().join(format!("tl-new-unit-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir_all(&dir).unwrap();
        std::fs::write(dir.join("keep.txt"), "mine").unwrap();
        let o = NewOptions {
            path: dir.clone(),
            crate_name: Some("w".into()),
            deployment_name: None,
            build_id: "build-1".into(),
            task_queue: None,
            toolkit: ToolkitSource::CratesIo,
            arch: temporal_lambda_package::Arch::X86_64,
        };
        assert!(matches!(new_project(&o), Err(NewError::NotEmpty(_))));
        assert_eq!(
            std::fs::read_to_string(dir.join("keep.txt")).unwrap(),
            "mine"
        );
        let o = NewOptions {
            path: dir.join("x"),
            crate_name: Some("9bad name".into()),
            ..o
        };
        assert!(matches!(new_project(&o), Err(NewError::CrateName(_))));
        let o = NewOptions {
            crate_name: Some("ok".into()),
            build_id: "has space".into(),
            ..o
        };
        assert!(matches!(new_project(&o), Err(NewError::Setting { .. })));
        let _ = std::fs::remove_dir_all(&dir);
    }

    #[test]
    fn renders_every_placeholder() {
        let dir = std::env::temp_dir().join(format!("tl-new-render-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        let r = new_project(&NewOptions {
            path: dir.join("my-worker"),
            crate_name: None,
            deployment_name: Some("orders".into()),
            build_id: "b7".into(),
            task_queue: Some("orders-q".into()),
            toolkit: ToolkitSource::Git("https://example.invalid/t.git#abc123".into()),
            arch: temporal_lambda_package::Arch::Arm64,
        })
        .unwrap();
        assert_eq!(r.crate_name, "my-worker");
        for f in &r.files {
            let t = std::fs::read_to_string(r.path.join(f)).unwrap();
            assert!(!t.contains("{{"), "{f} has an unrendered placeholder");
        }
        let lib = std::fs::read_to_string(r.path.join("src/lib.rs")).unwrap();
        assert!(
            lib.contains("\"orders\"") && lib.contains("\"b7\"") && lib.contains("\"orders-q\"")
        );
        let main = std::fs::read_to_string(r.path.join("src/main.rs")).unwrap();
        assert!(main.contains("use my_worker::"));
        let manifest = std::fs::read_to_string(r.path.join("Cargo.toml")).unwrap();
        assert!(manifest.contains("rev = \"abc123\""), "{manifest}");
        // arm64: the README's commands build and deploy for it, and say what rustup needs.
        let readme = std::fs::read_to_string(r.path.join("README.md")).unwrap();
        assert!(
            readme.contains("ship --function-name my-worker --arch arm64"),
            "{readme}"
        );
        assert!(
            readme.contains("rustup target add aarch64-unknown-linux-gnu"),
            "{readme}"
        );
        let _ = std::fs::remove_dir_all(&dir);
    }
}
