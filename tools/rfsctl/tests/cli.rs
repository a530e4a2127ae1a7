//! The rfsctl binary end to end on the host (no rfs mount needed): import
//! of a layer tar, diff of a branch directory, check, their JSON and exit
//! statuses.

use std::path::Path;
use std::process::{Command, Output};

fn rfsctl(args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_rfsctl")).args(args).output().expect("run rfsctl")
}

fn s(p: &Path) -> &str {
    p.to_str().unwrap()
}

#[test]
fn diff_import_check_through_the_binary() {
    let t = tempfile::tempdir().unwrap();
    let br = t.path().join("branch");
    std::fs::create_dir_all(br.join("etc")).unwrap();
    std::fs::write(br.join("etc/motd"), b"hello\n").unwrap();
    std::fs::write(br.join("etc/.wh.gone"), b"").unwrap();
    std::fs::create_dir_all(br.join(".wh..wh.orph")).unwrap();

    let out = t.path().join("layer.tar.zst");
    let o = rfsctl(&["diff", s(&br), "-o", s(&out), "--json"]);
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    let j: serde_json::Value = serde_json::from_slice(&o.stdout).unwrap();
    assert_eq!(j["compression"], "zstd");
    assert_eq!(j["whiteouts"], 1);
    assert!(j["digest"].as_str().unwrap().starts_with("sha256:"));

    // To stdout: the tar there, the summary on stderr.
    let o = rfsctl(&["diff", s(&br), "-o", "-"]);
    assert!(o.status.success());
    assert_eq!(&o.stdout[257..262], b"ustar", "a tar on stdout");
    assert!(String::from_utf8_lossy(&o.stderr).contains("diff_id sha256:"));

    let dir = t.path().join("stack");
    let o = rfsctl(&["import", "--layer", s(&out), s(&dir), "--json"]);
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    let j: serde_json::Value = serde_json::from_slice(&o.stdout).unwrap();
    assert_eq!(j["layers"][0]["compression"], "zstd");
    assert_eq!(std::fs::read(dir.join("layers/0/etc/motd")).unwrap(), b"hello\n");
    assert!(dir.join("layers/0/etc/.wh.gone").exists());
    assert!(!dir.join("layers/0/.wh..wh.orph").exists());

    // Not an image without --layer: EINVAL.
    let o = rfsctl(&["import", s(&out), s(&t.path().join("other"))]);
    assert_eq!(o.status.code(), Some(22), "{}", String::from_utf8_lossy(&o.stderr));
    assert!(String::from_utf8_lossy(&o.stderr).contains("use --layer"));
    assert!(!t.path().join("other").exists());

    // check: the layer's whiteout hides nothing below it: status 1.
    let o = rfsctl(&["check", s(&dir.join("upper")), s(&dir.join("layers/0"))]);
    assert_eq!(o.status.code(), Some(1));
    assert!(String::from_utf8_lossy(&o.stdout).contains("whiteout etc/.wh.gone: hides nothing"));
    let o = rfsctl(&["check", "--json", s(&dir.join("upper"))]);
    assert_eq!(o.status.code(), Some(0));
    let j: serde_json::Value = serde_json::from_slice(&o.stdout).unwrap();
    assert_eq!(j["findings"].as_array().unwrap().len(), 0);

    // A missing branch: ENOENT.
    let o = rfsctl(&["check", s(&t.path().join("nothing"))]);
    assert_eq!(o.status.code(), Some(2));
    // --help of each.
    for c in ["import", "diff", "check"] {
        assert!(rfsctl(&[c, "--help"]).status.success());
    }
}
