// Records the git commit the binary was built from, for the reproducibility record of every job.
use std::process::Command;

fn main() {
    // A build without the repository (e.g. in a container) passes the commit in SIMSCORE_GIT_SHA.
    let from_env = std::env::var("SIMSCORE_GIT_SHA")
        .ok()
        .filter(|s| !s.trim().is_empty());
    let sha = from_env
        .or_else(|| {
            Command::new("git")
                .args(["rev-parse", "HEAD"])
                .output()
                .ok()
                .filter(|o| o.status.success())
                .and_then(|o| String::from_utf8(o.stdout).ok())
                .map(|s| s.trim().to_string())
        })
        .unwrap_or_else(|| "unknown".to_string());
    println!("cargo:rustc-env=SIMSCORE_GIT_SHA={sha}");
    println!("cargo:rerun-if-changed=.git/HEAD");
    println!("cargo:rerun-if-changed=.git/refs/heads");
    println!("cargo:rerun-if-env-changed=SIMSCORE_GIT_SHA");
}
