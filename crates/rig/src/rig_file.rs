//! The rig file (`--rig-file`): several functions on one rig.

use std::path::{Path, PathBuf};

use crate::{LocalError, WorkerSource};

/// A rig file (`local demo|up|watch --rig-file`): several functions — other crates, or other
/// builds of one crate — on one rig.
///
/// ```toml
/// [[function]]
/// manifest_path = "orders/Cargo.toml"      # relative to this file; default: its directory
/// package = "orders"                        # in a workspace
/// bin = "bootstrap"                         # default
/// name = "orders"                           # function name; default: the package name
/// task_queue = "orders"                     # TEMPORAL_TASK_QUEUE; default: the code's
/// env = { TEMPORAL_BUILD_ID = "build-2" }   # extra environment
/// ```
#[derive(Debug, Clone, serde::Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RigFile {
    /// The functions, deployed in this order (the first is the rig's primary function).
    #[serde(rename = "function")]
    pub functions: Vec<RigFileFunction>,
}

/// One `[[function]]` of a [`RigFile`].
#[derive(Debug, Clone, Default, serde::Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RigFileFunction {
    /// The crate's `Cargo.toml`, relative to the rig file.
    pub manifest_path: Option<PathBuf>,
    /// Package, in a workspace.
    pub package: Option<String>,
    /// Binary target (default `bootstrap`).
    pub bin: Option<String>,
    /// Function name (default: the package name).
    pub name: Option<String>,
    /// `TEMPORAL_TASK_QUEUE` of the function.
    pub task_queue: Option<String>,
    /// Extra environment variables.
    #[serde(default)]
    pub env: std::collections::BTreeMap<String, String>,
}

impl RigFile {
    /// Reads and checks a rig file: at least one function, unique function names. Relative
    /// manifest paths are resolved against the file's directory.
    pub fn load(path: &Path) -> Result<RigFile, LocalError> {
        let text = std::fs::read_to_string(path).map_err(|e| LocalError::Step {
            step: "reading the rig file",
            reason: format!("{}: {e}", path.display()),
        })?;
        let mut file: RigFile = toml::from_str(&text).map_err(|e| LocalError::Step {
            step: "reading the rig file",
            reason: format!(
                "{}: {}; each function is a [[function]] table with manifest_path, package, bin, name, task_queue, env",
                path.display(),
                e.message()
            ),
        })?;
        if file.functions.is_empty() {
            return Err(LocalError::Step {
                step: "reading the rig file",
                reason: format!(
                    "{} lists no function: add a [[function]] table",
                    path.display()
                ),
            });
        }
        let dir = path.parent().unwrap_or(Path::new("."));
        for f in &mut file.functions {
            let m = f
                .manifest_path
                .take()
                .unwrap_or_else(|| PathBuf::from("Cargo.toml"));
            f.manifest_path = Some(if m.is_absolute() { m } else { dir.join(m) });
        }
        Ok(file)
    }

    /// The worker source of each function (release applies to all).
    pub fn sources(&self, release: bool) -> Vec<WorkerSource> {
        self.functions
            .iter()
            .map(|f| WorkerSource {
                manifest_path: f.manifest_path.clone(),
                package: f.package.clone(),
                bin: f.bin.clone(),
                release,
            })
            .collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rig_files() {
        let dir = std::env::temp_dir().join(format!("rigfile-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let p = dir.join("rig.toml");
        std::fs::write(
            &p,
            "[[function]]\nname = \"a\"\n\n[[function]]\nmanifest_path = \"/abs/Cargo.toml\"\nenv = { TEMPORAL_BUILD_ID = \"b2\" }\n",
        )
        .unwrap();
        let f = RigFile::load(&p).unwrap();
        assert_eq!(f.functions.len(), 2);
        assert_eq!(f.functions[0].manifest_path, Some(dir.join("Cargo.toml")));
        assert_eq!(
            f.functions[1].manifest_path,
            Some(PathBuf::from("/abs/Cargo.toml"))
        );
        assert_eq!(f.functions[1].env["TEMPORAL_BUILD_ID"], "b2");
        std::fs::write(&p, "[[function]]\nnmae = \"typo\"\n").unwrap();
        let e = RigFile::load(&p).unwrap_err().to_string();
        assert!(e.contains("nmae") && e.contains("[[function]]"), "{e}");
        std::fs::write(&p, "").unwrap();
        assert!(RigFile::load(&p).is_err());
        std::fs::remove_dir_all(&dir).unwrap();
    }
}
