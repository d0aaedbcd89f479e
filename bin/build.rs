//! Puts the git commit into `xfrmdiag --version`: `0.1.0 (git 1a2b3c4)`.
//!
//! Outside a git checkout (a source tarball, a package build) the commit comes from
//! XFRMDIAG_GIT_COMMIT when set, else the version says `(git unknown)`.

use std::path::Path;
use std::process::Command;

fn git(args: &[&str]) -> Option<String> {
    let out = Command::new("git")
        .args(args)
        .current_dir(env!("CARGO_MANIFEST_DIR"))
        .output()
        .ok()?;
    let text = String::from_utf8(out.stdout).ok()?.trim().to_string();
    (out.status.success() && !text.is_empty()).then_some(text)
}

fn main() {
    println!("cargo:rerun-if-env-changed=XFRMDIAG_GIT_COMMIT");
    let commit = std::env::var("XFRMDIAG_GIT_COMMIT")
        .ok()
        .filter(|c| !c.is_empty())
        .or_else(|| git(&["rev-parse", "--short=10", "HEAD"]));
    // Rebuild when HEAD moves: HEAD itself (checkout) and the branch it points at (commit).
    for name in ["HEAD", "packed-refs"] {
        if let Some(path) = git(&["rev-parse", "--git-path", name]) {
            rerun_if_exists(&path);
        }
    }
    if let Some(branch) = git(&["symbolic-ref", "-q", "HEAD"]) {
        if let Some(path) = git(&["rev-parse", "--git-path", &branch]) {
            rerun_if_exists(&path);
        }
    }
    println!(
        "cargo:rustc-env=XFRMDIAG_VERSION={} (git {})",
        env!("CARGO_PKG_VERSION"),
        commit.as_deref().unwrap_or("unknown")
    );
}

fn rerun_if_exists(path: &str) {
    // Relative paths from git are relative to the directory it ran in.
    let full = Path::new(env!("CARGO_MANIFEST_DIR")).join(path);
    if full.exists() {
        println!("cargo:rerun-if-changed={}", full.display());
    }
}
