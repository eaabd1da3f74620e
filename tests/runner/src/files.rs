//! Component `files` mounts. Directory mappings are mounted in place; glob
//! entries (and single-file mappings) are copied into a staging directory
//! mounted at `/`, globs keeping their manifest-relative paths, as `spin up` does.

use crate::manifest::FileMount;
use anyhow::{Context, Result, bail};
use std::path::{Path, PathBuf};
use tempfile::TempDir;

/// Mounts ready for preopening; `staging` must outlive the app.
pub struct PreparedMounts {
    pub mounts: Vec<(PathBuf, String)>,
    pub staging: Option<TempDir>,
}

pub fn prepare(component: &str, manifest_dir: &Path, files: &[FileMount]) -> Result<PreparedMounts> {
    // WASI can only preopen directories, so globs and single files are staged.
    let needs_staging = files.iter().any(|f| match f {
        FileMount::Glob(_) => true,
        FileMount::Mapping { source, .. } => source.is_file(),
    });
    let staging = match needs_staging {
        true => Some(tempfile::Builder::new().prefix("unlatch-files-").tempdir()?),
        false => None,
    };
    let mut mounts = Vec::new();
    for f in files {
        match f {
            FileMount::Mapping { source, destination } => {
                if !destination.starts_with('/') {
                    bail!("component `{component}`: files destination `{destination}` must be absolute");
                }
                let inside = |dir: &TempDir| dir.path().join(destination.trim_start_matches('/'));
                match &staging {
                    _ if !source.exists() => {
                        bail!("component `{component}`: files source {} does not exist", source.display())
                    }
                    Some(dir) if source.is_file() => {
                        let target = inside(dir);
                        std::fs::create_dir_all(target.parent().unwrap_or(dir.path()))?;
                        std::fs::copy(source, &target).with_context(|| format!("cannot copy {}", source.display()))?;
                    }
                    // One tree at `/` when staging, so mounts cannot shadow each other.
                    Some(dir) => copy_tree(source, &inside(dir))?,
                    None => mounts.push((source.clone(), destination.clone())),
                }
            }
            FileMount::Glob(pattern) => {
                let dir = staging.as_ref().expect("staging exists when globs do");
                copy_glob(component, manifest_dir, pattern, dir.path())?;
            }
        }
    }
    if let Some(dir) = &staging {
        mounts.push((dir.path().to_path_buf(), "/".to_string()));
    }
    Ok(PreparedMounts { mounts, staging })
}

fn copy_glob(component: &str, base: &Path, pattern: &str, dest: &Path) -> Result<()> {
    if pattern.starts_with('/') || pattern.split('/').any(|p| p == "..") {
        bail!("component `{component}`: files pattern `{pattern}` must stay inside the app directory");
    }
    let full = base.join(pattern);
    let full = full.to_str().context("non-UTF-8 path")?;
    for entry in glob::glob(full).with_context(|| format!("invalid files pattern `{pattern}`"))? {
        let path = entry?;
        if !path.is_file() {
            continue;
        }
        let rel = path.strip_prefix(base).context("glob match outside the app directory")?;
        let target = dest.join(rel);
        if let Some(parent) = target.parent() {
            std::fs::create_dir_all(parent)?;
        }
        std::fs::copy(&path, &target).with_context(|| format!("cannot copy {}", path.display()))?;
    }
    Ok(())
}

fn copy_tree(from: &Path, to: &Path) -> Result<()> {
    std::fs::create_dir_all(to)?;
    for entry in std::fs::read_dir(from)? {
        let entry = entry?;
        let target = to.join(entry.file_name());
        if entry.file_type()?.is_dir() {
            copy_tree(&entry.path(), &target)?;
        } else {
            std::fs::copy(entry.path(), &target)?;
        }
    }
    Ok(())
}
