//! Host tests of import, diff and check: images and layers built here
//! with the tar crate (hostile ones too), branches made in temporary
//! directories.

use crate::image::Select;
use crate::import::{self, Request};
use crate::stream::{digest_of, Compression, Compressor};
use crate::{check, diff, layer, Fail};
use std::collections::BTreeMap;
use std::ffi::OsString;
use std::io::{Read, Write};
use std::os::unix::fs::{MetadataExt, PermissionsExt};
use std::path::{Path, PathBuf};

// ---------------------------------------------------------------------------
// building layers and images

/// A layer tar under construction.
struct Layer(tar::Builder<Vec<u8>>);

impl Layer {
    fn new() -> Self {
        Layer(tar::Builder::new(Vec::new()))
    }

    fn header(kind: tar::EntryType, mode: u32, size: u64) -> tar::Header {
        let mut h = tar::Header::new_gnu();
        h.set_entry_type(kind);
        h.set_mode(mode);
        h.set_size(size);
        h.set_mtime(1_600_000_000);
        h
    }

    fn dir(mut self, p: &str) -> Self {
        let mut h = Self::header(tar::EntryType::Directory, 0o755, 0);
        self.0.append_data(&mut h, p, std::io::empty()).unwrap();
        self
    }

    fn file(mut self, p: &str, data: &[u8]) -> Self {
        let mut h = Self::header(tar::EntryType::Regular, 0o644, data.len() as u64);
        self.0.append_data(&mut h, p, data).unwrap();
        self
    }

    fn file_xattr(mut self, p: &str, data: &[u8], k: &str, v: &[u8]) -> Self {
        let key = format!("SCHILY.xattr.{k}");
        self.0.append_pax_extensions([(key.as_str(), v)]).unwrap();
        self.file(p, data)
    }

    fn symlink(mut self, p: &str, target: &str) -> Self {
        let mut h = Self::header(tar::EntryType::Symlink, 0o777, 0);
        self.0.append_link(&mut h, p, target).unwrap();
        self
    }

    fn hardlink(mut self, p: &str, target: &str) -> Self {
        let mut h = Self::header(tar::EntryType::Link, 0o644, 0);
        self.0.append_link(&mut h, p, target).unwrap();
        self
    }

    fn fifo(mut self, p: &str) -> Self {
        let mut h = Self::header(tar::EntryType::Fifo, 0o600, 0);
        self.0.append_data(&mut h, p, std::io::empty()).unwrap();
        self
    }

    /// An entry with any name bytes (the tar crate refuses `..` and
    /// absolute names in its own setters), link name and declared size.
    fn raw(mut self, name: &[u8], kind: tar::EntryType, link: &[u8], size: u64, data: &[u8]) -> Self {
        let mut h = Self::header(kind, 0o644, size);
        h.as_gnu_mut().unwrap().name[..name.len()].copy_from_slice(name);
        h.as_gnu_mut().unwrap().linkname[..link.len()].copy_from_slice(link);
        h.set_cksum();
        self.0.append(&h, data).unwrap();
        self
    }

    fn tar(self) -> Vec<u8> {
        self.0.into_inner().unwrap()
    }
}

fn compress(data: &[u8], c: Compression) -> Vec<u8> {
    let mut z = Compressor::new(Vec::new(), c).unwrap();
    z.write_all(data).unwrap();
    z.finish().unwrap()
}

fn hex(d: &str) -> &str {
    d.strip_prefix("sha256:").unwrap()
}

/// An OCI layout in `dir` with these layers (tar, compression), bottom
/// first.
fn oci_layout(dir: &Path, layers: &[(Vec<u8>, Compression)]) {
    let blobs = dir.join("blobs/sha256");
    std::fs::create_dir_all(&blobs).unwrap();
    let put = |data: &[u8]| {
        let d = digest_of(data);
        std::fs::write(blobs.join(hex(&d)), data).unwrap();
        d
    };
    let mut descs = Vec::new();
    let mut ids = Vec::new();
    for (tar, c) in layers {
        ids.push(digest_of(tar));
        let blob = compress(tar, *c);
        let d = put(&blob);
        descs.push(serde_json::json!({"mediaType": c.media_type(), "digest": d, "size": blob.len()}));
    }
    let config = serde_json::to_vec(&serde_json::json!({
        "architecture": "amd64", "os": "linux",
        "config": {"Cmd": ["/bin/sh"]},
        "rootfs": {"type": "layers", "diff_ids": ids}
    }))
    .unwrap();
    let cd = put(&config);
    let manifest = serde_json::to_vec(&serde_json::json!({
        "schemaVersion": 2,
        "mediaType": "application/vnd.oci.image.manifest.v1+json",
        "config": {"mediaType": "application/vnd.oci.image.config.v1+json", "digest": cd, "size": config.len()},
        "layers": descs
    }))
    .unwrap();
    let md = put(&manifest);
    let index = serde_json::json!({
        "schemaVersion": 2,
        "manifests": [{"mediaType": "application/vnd.oci.image.manifest.v1+json", "digest": md,
                       "size": manifest.len(), "annotations": {"org.opencontainers.image.ref.name": "latest"}}]
    });
    std::fs::write(dir.join("index.json"), serde_json::to_vec(&index).unwrap()).unwrap();
    std::fs::write(dir.join("oci-layout"), br#"{"imageLayoutVersion":"1.0.0"}"#).unwrap();
}

/// A tar of the directory `dir`'s contents.
fn tar_of_dir(dir: &Path) -> Vec<u8> {
    let mut b = tar::Builder::new(Vec::new());
    b.append_dir_all(".", dir).unwrap();
    b.into_inner().unwrap()
}

/// A `docker save` archive with these (uncompressed) layers.
fn docker_save(layers: &[Vec<u8>], bad_diff_id: bool) -> Vec<u8> {
    let mut ids: Vec<String> = layers.iter().map(|l| digest_of(l)).collect();
    if bad_diff_id {
        ids[0] = digest_of(b"something else");
    }
    let config = serde_json::to_vec(&serde_json::json!({"rootfs": {"type": "layers", "diff_ids": ids}})).unwrap();
    let cname = format!("{}.json", hex(&digest_of(&config)));
    let mut b = tar::Builder::new(Vec::new());
    let mut add = |name: &str, data: &[u8]| {
        let mut h = tar::Header::new_gnu();
        h.set_size(data.len() as u64);
        h.set_mode(0o644);
        b.append_data(&mut h, name, data).unwrap();
    };
    let mut paths = Vec::new();
    for (i, l) in layers.iter().enumerate() {
        let p = format!("id{i}/layer.tar");
        add(&p, l);
        paths.push(p);
    }
    add(&cname, &config);
    let m = serde_json::json!([{"Config": cname, "RepoTags": ["busybox:latest"], "Layers": paths}]);
    add("manifest.json", &serde_json::to_vec(&m).unwrap());
    b.into_inner().unwrap()
}

fn request(image: &Path, dir: &Path) -> Request {
    Request {
        image: image.to_owned(),
        dir: dir.to_owned(),
        layer: false,
        select: Select::default(),
        max_size: 1 << 30,
        max_entries: 100_000,
        progress: false,
    }
}

/// Every path under `dir` (sorted), for "nothing written outside".
fn all_paths(dir: &Path) -> Vec<PathBuf> {
    let mut out = Vec::new();
    fn rec(d: &Path, out: &mut Vec<PathBuf>) {
        let Ok(rd) = std::fs::read_dir(d) else { return };
        for e in rd.flatten() {
            out.push(e.path());
            if e.file_type().unwrap().is_dir() {
                rec(&e.path(), out);
            }
        }
    }
    rec(dir, &mut out);
    out.sort();
    out
}

fn xattrs_supported(dir: &Path) -> bool {
    let p = dir.join(".xattr-probe");
    std::fs::write(&p, b"").unwrap();
    let ok = rustix::fs::setxattr(&p, "user.probe", b"1", rustix::fs::XattrFlags::empty()).is_ok();
    std::fs::remove_file(&p).unwrap();
    ok
}

fn the_layers() -> (Vec<u8>, Vec<u8>) {
    let bottom = Layer::new()
        .dir("./")
        .dir("./etc/")
        .file("./etc/hosts", b"127.0.0.1 localhost\n")
        .file("./etc/gone", b"bye\n")
        .dir("./d/")
        .file("./d/old", b"old\n")
        .file("./bin/busybox", b"#!/bin/sh\necho hi\n")
        .hardlink("./bin/sh", "./bin/busybox")
        .symlink("./bin/ls", "busybox")
        .symlink("./abs", "/etc/hosts")
        .fifo("./run.fifo")
        .file_xattr("./x", b"x", "user.test", b"value")
        .tar();
    let top = Layer::new()
        .file("etc/.wh.gone", b"")
        .dir("d/")
        .file("d/.wh..wh..opq", b"")
        .file("d/new", b"new\n")
        .file(".wh..wh.plnk/_1_2_3", b"private")
        .tar();
    (bottom, top)
}

fn check_stack(dir: &Path) {
    let l0 = dir.join("layers/0");
    let l1 = dir.join("layers/1");
    assert_eq!(std::fs::read(l0.join("etc/hosts")).unwrap(), b"127.0.0.1 localhost\n");
    let a = std::fs::metadata(l0.join("bin/busybox")).unwrap();
    let b = std::fs::metadata(l0.join("bin/sh")).unwrap();
    assert_eq!(a.ino(), b.ino(), "hard link kept");
    assert_eq!(a.mtime(), 1_600_000_000);
    assert_eq!(std::fs::read_link(l0.join("bin/ls")).unwrap(), PathBuf::from("busybox"));
    assert_eq!(std::fs::read_link(l0.join("abs")).unwrap(), PathBuf::from("/etc/hosts"));
    assert!(std::fs::symlink_metadata(l0.join("run.fifo")).unwrap().file_type().is_fifo_like());
    assert_eq!(std::fs::metadata(l0.join("etc/hosts")).unwrap().permissions().mode() & 0o7777, 0o644);
    assert!(l1.join("etc/.wh.gone").is_file(), "whiteout kept");
    assert!(l1.join("d/.wh..wh..opq").is_file(), "opaque marker kept");
    assert!(!l1.join(".wh..wh.plnk").exists(), "private names skipped");
    if xattrs_supported(dir) {
        let mut v = [0u8; 16];
        let n = rustix::fs::getxattr(l0.join("x"), "user.test", &mut v[..]).unwrap();
        assert_eq!(&v[..n], b"value");
    }
    assert!(dir.join("upper").is_dir());
    let list = std::fs::read_to_string(dir.join("branches")).unwrap();
    let d = dir.display();
    assert!(list.contains(&format!("{d}/upper=rw\n{d}/layers/1=ro+wh\n{d}/layers/0=ro+wh\n")), "{list}");
}

trait FifoLike {
    fn is_fifo_like(&self) -> bool;
}

impl FifoLike for std::fs::FileType {
    fn is_fifo_like(&self) -> bool {
        std::os::unix::fs::FileTypeExt::is_fifo(self)
    }
}

// ---------------------------------------------------------------------------
// import

#[test]
fn imports_an_oci_layout_directory() {
    let t = tempfile::tempdir().unwrap();
    let (bottom, top) = the_layers();
    let img = t.path().join("img");
    oci_layout(&img, &[(bottom, Compression::Gzip), (top, Compression::Zstd)]);
    let dir = t.path().join("stack");
    let out = import::run(&request(&img, &dir)).unwrap();
    assert_eq!(out.format, "oci");
    assert_eq!(out.layers.len(), 2);
    assert_eq!(out.layers[0].compression, "gzip");
    assert_eq!(out.layers[1].compression, "zstd");
    assert_eq!(out.layers[1].stats["whiteouts"], 1);
    assert_eq!(out.layers[1].stats["opaque"], 1);
    let d = std::fs::canonicalize(&dir).unwrap();
    let d = d.display();
    assert_eq!(out.mount_option, format!("br:{d}/upper=rw:{d}/layers/1=ro+wh:{d}/layers/0=ro+wh"));
    check_stack(&dir);
    // image.json says the same.
    let j: serde_json::Value = serde_json::from_slice(&std::fs::read(dir.join("image.json")).unwrap()).unwrap();
    assert_eq!(j["layers"][0]["diff_id"], out.layers[0].diff_id);
    assert!(dir.join("config.json").is_file());
    // A second import into the same DIR is refused.
    let e = import::run(&request(&img, &dir)).unwrap_err();
    assert_eq!(e.exit, Some(17), "{}", e.msg);
}

#[test]
fn imports_an_oci_layout_tar_plain_and_compressed() {
    let t = tempfile::tempdir().unwrap();
    let (bottom, top) = the_layers();
    let img = t.path().join("img");
    oci_layout(&img, &[(bottom, Compression::None), (top, Compression::Gzip)]);
    let tar = tar_of_dir(&img);
    for (name, c) in [("img.tar", Compression::None), ("img.tar.zst", Compression::Zstd), ("img.tgz", Compression::Gzip)] {
        let f = t.path().join(name);
        std::fs::write(&f, compress(&tar, c)).unwrap();
        let dir = t.path().join(format!("stack-{name}"));
        let out = import::run(&request(&f, &dir)).unwrap_or_else(|e| panic!("{name}: {}", e.msg));
        assert_eq!(out.layers.len(), 2);
        check_stack(&dir);
        let left: Vec<_> = std::fs::read_dir(&dir).unwrap().flatten().map(|e| e.file_name()).collect();
        assert!(!left.iter().any(|n| n.to_string_lossy().starts_with(".rfsctl-image")), "{left:?}");
    }
}

#[test]
fn imports_docker_save_and_checks_diff_ids() {
    let t = tempfile::tempdir().unwrap();
    let (bottom, top) = the_layers();
    let f = t.path().join("save.tar");
    std::fs::write(&f, docker_save(&[bottom.clone(), top.clone()], false)).unwrap();
    let dir = t.path().join("stack");
    let out = import::run(&request(&f, &dir)).unwrap();
    assert_eq!(out.format, "docker-save");
    check_stack(&dir);
    // --ref picks by RepoTag.
    let mut r = request(&f, &t.path().join("s2"));
    r.select.reference = Some("nope:1".into());
    assert_eq!(import::run(&r).unwrap_err().exit, Some(2));
    // A layer that is not what the config says.
    let f2 = t.path().join("bad.tar");
    std::fs::write(&f2, docker_save(&[bottom, top], true)).unwrap();
    let dir2 = t.path().join("stack2");
    let e = import::run(&request(&f2, &dir2)).unwrap_err();
    assert_eq!(e.exit, Some(74), "{}", e.msg);
    assert!(e.msg.contains("diff_id"), "{}", e.msg);
    assert!(!dir2.exists(), "a refused import leaves nothing");
}

#[test]
fn refuses_blob_digest_mismatches() {
    let t = tempfile::tempdir().unwrap();
    let (bottom, _) = the_layers();
    let img = t.path().join("img");
    oci_layout(&img, &[(bottom, Compression::Gzip)]);
    // Swap the layer blob's bytes for another valid gzip of the same size class.
    let blobs = img.join("blobs/sha256");
    let index: serde_json::Value = serde_json::from_slice(&std::fs::read(img.join("index.json")).unwrap()).unwrap();
    let md = index["manifests"][0]["digest"].as_str().unwrap().to_owned();
    let m: serde_json::Value = serde_json::from_slice(&std::fs::read(blobs.join(hex(&md))).unwrap()).unwrap();
    let ld = m["layers"][0]["digest"].as_str().unwrap().to_owned();
    let mut data = std::fs::read(blobs.join(hex(&ld))).unwrap();
    let n = data.len();
    data[n - 5] ^= 0xff; // in the gzip trailer: the tar still reads
    std::fs::write(blobs.join(hex(&ld)), &data).unwrap();
    let dir = t.path().join("stack");
    let e = import::run(&request(&img, &dir)).unwrap_err();
    assert_eq!(e.exit, Some(74), "{}", e.msg);
    assert!(e.msg.contains("digest mismatch"), "{}", e.msg);
    assert!(!dir.exists());
    // A blob longer than its descriptor says.
    let mut data = std::fs::read(blobs.join(hex(&ld))).unwrap();
    data[n - 5] ^= 0xff;
    data.push(b'x');
    std::fs::write(blobs.join(hex(&ld)), &data).unwrap();
    let e = import::run(&request(&img, &dir)).unwrap_err();
    assert_eq!(e.exit, Some(74), "{}", e.msg);
    assert!(e.msg.contains("where the manifest says"), "{}", e.msg);
    // A manifest blob changed.
    let img2 = t.path().join("img2");
    oci_layout(&img2, &[(Layer::new().file("a", b"a").tar(), Compression::None)]);
    let index: serde_json::Value = serde_json::from_slice(&std::fs::read(img2.join("index.json")).unwrap()).unwrap();
    let md = index["manifests"][0]["digest"].as_str().unwrap().to_owned();
    let p = img2.join("blobs/sha256").join(hex(&md));
    let mut m = std::fs::read(&p).unwrap();
    m[0] = b' ';
    std::fs::write(&p, &m).unwrap();
    let e = import::run(&request(&img2, &t.path().join("stack2"))).unwrap_err();
    assert_eq!(e.exit, Some(74), "{}", e.msg);
    assert!(e.msg.contains("digest mismatch"), "{}", e.msg);
}

/// Imports `layer` as a layer tar into base/dir; asserts it is refused
/// with `code` and that nothing but base/dir (and the empty base/outside)
/// exists under base afterwards.
fn refused(name: &str, layer: Vec<u8>, code: i32, max_size: u64) -> Fail {
    let base = tempfile::tempdir().unwrap();
    let outside = base.path().join("outside");
    std::fs::create_dir(&outside).unwrap();
    let f = base.path().join("outside.tar");
    std::fs::write(&f, &layer).unwrap();
    let dir = base.path().join("dir");
    std::fs::create_dir(&dir).unwrap();
    let mut r = request(&f, &dir);
    r.layer = true;
    r.max_size = max_size;
    r.max_entries = 5;
    let e = import::run(&r).expect_err(name);
    assert_eq!(e.exit, Some(code), "{name}: {}", e.msg);
    let expect = [dir.clone(), dir.join("layers"), outside.clone(), f.clone()];
    let got = all_paths(base.path());
    assert!(
        got.iter().all(|p| expect.contains(p)),
        "{name}: written: {:?}",
        got.iter().filter(|p| !expect.contains(p)).collect::<Vec<_>>()
    );
    e
}

#[test]
fn refuses_hostile_layers() {
    use tar::EntryType as T;
    let g = 1u64 << 30;
    let cases: Vec<(&str, Vec<u8>, i32)> = vec![
        ("dotdot", Layer::new().raw(b"../evil", T::Regular, b"", 4, b"evil").tar(), 22),
        ("dotdot deep", Layer::new().dir("a/").raw(b"a/../../evil", T::Regular, b"", 4, b"evil").tar(), 22),
        ("absolute", Layer::new().raw(b"/tmp/evil", T::Regular, b"", 4, b"evil").tar(), 22),
        (
            "beneath a symlink out",
            Layer::new().symlink("lnk", "../../outside").raw(b"lnk/evil", T::Regular, b"", 4, b"evil").tar(),
            40,
        ),
        (
            "beneath an absolute symlink",
            Layer::new().symlink("lnk", "/tmp").raw(b"lnk/evil", T::Regular, b"", 4, b"evil").tar(),
            40,
        ),
        (
            "symlink then dir over it",
            Layer::new().symlink("lnk", "/tmp").raw(b"lnk/", T::Directory, b"", 0, b"").tar(),
            22,
        ),
        ("hard link out", Layer::new().raw(b"h", T::Link, b"../../outside.tar", 0, b"").tar(), 18),
        ("hard link absolute", Layer::new().raw(b"h", T::Link, b"/etc/passwd", 0, b"").tar(), 18),
        ("hard link to nothing", Layer::new().raw(b"h", T::Link, b"nothere", 0, b"").tar(), 18),
        ("hard link to a dir", Layer::new().dir("d/").raw(b"h", T::Link, b"d", 0, b"").tar(), 18),
        ("duplicate", Layer::new().file("f", b"1").file("f", b"2").tar(), 22),
        ("beneath a file", Layer::new().file("f", b"1").file("f/x", b"2").tar(), 40),
        ("file after its children", Layer::new().file("d/x", b"1").file("d", b"2").tar(), 22),
        ("huge entry", Layer::new().raw(b"big", T::Regular, b"", 10 * g, b"").tar(), 27),
        ("too many entries", (0..7).fold(Layer::new(), |l, i| l.file(&format!("f{i}"), b"")).tar(), 27),
        ("empty symlink", Layer::new().raw(b"s", T::Symlink, b"", 0, b"").tar(), 22),
    ];
    for (name, tar, code) in cases {
        let e = refused(name, tar, code, 1 << 20);
        assert!(!e.msg.is_empty());
    }
    // A decompression bomb: 8 MiB of zeros in a small gzip, 1 MiB allowed.
    let bomb = Layer::new().file("zeros", &vec![0u8; 8 << 20]).tar();
    let gz = compress(&bomb, Compression::Gzip);
    assert!(gz.len() < 100_000);
    refused("bomb", gz, 27, 1 << 20);
}

#[test]
fn refuses_devices_when_not_root() {
    let t = tempfile::tempdir().unwrap();
    let mut h = Layer::header(tar::EntryType::Char, 0o600, 0);
    h.set_device_major(1).unwrap();
    h.set_device_minor(3).unwrap();
    let mut b = tar::Builder::new(Vec::new());
    b.append_data(&mut h, "null", std::io::empty()).unwrap();
    let tar = b.into_inner().unwrap();
    let root = crate::safefs::Root::open(t.path()).unwrap();
    let o = layer::Opts { root_user: false, max_entries: 10, max_bytes: 1 << 20 };
    let e = layer::unpack(&tar[..], &root, &o, &mut |_| {}).unwrap_err();
    assert_eq!(e.exit, Some(1), "{}", e.msg);
    assert!(e.msg.contains("device node"), "{}", e.msg);
    assert!(!t.path().join("null").exists());
}

#[test]
fn directory_modes_do_not_block_their_contents() {
    let t = tempfile::tempdir().unwrap();
    let mut b = tar::Builder::new(Vec::new());
    let mut h = Layer::header(tar::EntryType::Directory, 0o555, 0);
    b.append_data(&mut h, "ro/", std::io::empty()).unwrap();
    let mut h = Layer::header(tar::EntryType::Regular, 0o400, 2);
    b.append_data(&mut h, "ro/f", &b"hi"[..]).unwrap();
    let tar = b.into_inner().unwrap();
    let root = crate::safefs::Root::open(t.path()).unwrap();
    let o = layer::Opts { root_user: false, max_entries: 10, max_bytes: 1 << 20 };
    layer::unpack(&tar[..], &root, &o, &mut |_| {}).unwrap();
    assert_eq!(std::fs::metadata(t.path().join("ro")).unwrap().permissions().mode() & 0o777, 0o555);
    assert_eq!(std::fs::read(t.path().join("ro/f")).unwrap(), b"hi");
    std::fs::set_permissions(t.path().join("ro"), std::fs::Permissions::from_mode(0o755)).unwrap();
}

// ---------------------------------------------------------------------------
// diff

/// A writable branch as rfs leaves it: changes, whiteouts, an opaque
/// directory, hard links, and rfs's private names.
fn fake_branch(b: &Path) {
    std::fs::create_dir_all(b.join("etc")).unwrap();
    std::fs::write(b.join("etc/hosts"), b"changed\n").unwrap();
    std::fs::write(b.join("etc/.wh.gone"), b"").unwrap();
    std::fs::create_dir_all(b.join("d")).unwrap();
    std::fs::write(b.join("d/.wh..wh..opq"), b"").unwrap();
    std::fs::write(b.join("d/new"), b"new\n").unwrap();
    std::fs::write(b.join("a1"), b"linked\n").unwrap();
    std::fs::hard_link(b.join("a1"), b.join("d/a2")).unwrap();
    std::os::unix::fs::symlink("../etc/hosts", b.join("d/sym")).unwrap();
    std::fs::set_permissions(b.join("a1"), std::fs::Permissions::from_mode(0o4755)).unwrap();
    for p in [".wh..wh.orph", ".wh..wh.plnk", ".wh..wh.aufs"] {
        std::fs::create_dir_all(b.join(p)).unwrap();
    }
    std::fs::write(b.join(".wh..wh.orph/#rfs.1.2"), b"tmp").unwrap();
    std::fs::hard_link(b.join("a1"), b.join(".wh..wh.plnk/_803_1a_0")).unwrap();
    std::fs::write(b.join(".wh..wh.xino"), b"RFSXINO1").unwrap();
    if xattrs_supported(b) {
        rustix::fs::setxattr(b.join("etc/hosts"), "user.mark", b"42", rustix::fs::XattrFlags::empty()).unwrap();
    }
}

/// An entry as the tests look at it: path, type, link name, PAX records.
type Ent = (String, tar::EntryType, String, Vec<(String, Vec<u8>)>);

fn entries_of(tar: &[u8]) -> Vec<Ent> {
    let mut ar = tar::Archive::new(tar);
    ar.entries()
        .unwrap()
        .map(|e| {
            let mut e = e.unwrap();
            let x = e
                .pax_extensions()
                .unwrap()
                .map(|p| p.flatten().map(|x| (x.key().unwrap().to_owned(), x.value_bytes().to_vec())).collect())
                .unwrap_or_default();
            let link = e.link_name_bytes().map(|l| String::from_utf8_lossy(&l).into_owned()).unwrap_or_default();
            (String::from_utf8_lossy(&e.path_bytes()).into_owned(), e.header().entry_type(), link, x)
        })
        .collect()
}

#[test]
fn diff_writes_the_branch_as_a_layer() {
    let t = tempfile::tempdir().unwrap();
    let b = t.path().join("upper");
    fake_branch(&b);
    let o = diff::Opts::default();
    let (s, tar) = diff::write_layer(&b, Vec::new(), Compression::None, &o).unwrap();
    let ents = entries_of(&tar);
    let names: Vec<&str> = ents.iter().map(|e| e.0.as_str()).collect();
    assert_eq!(
        names,
        ["a1", "d/", "d/.wh..wh..opq", "d/a2", "d/new", "d/sym", "etc/", "etc/.wh.gone", "etc/hosts"],
        "sorted, private names left out"
    );
    let a2 = ents.iter().find(|e| e.0 == "d/a2").unwrap();
    assert_eq!((a2.1, a2.2.as_str()), (tar::EntryType::Link, "a1"), "hard link to the first name");
    assert_eq!(ents.iter().find(|e| e.0 == "d/sym").unwrap().2, "../etc/hosts");
    if xattrs_supported(&b) {
        let hosts = ents.iter().find(|e| e.0 == "etc/hosts").unwrap();
        assert_eq!(hosts.3, vec![("SCHILY.xattr.user.mark".to_owned(), b"42".to_vec())]);
    }
    assert_eq!((s.whiteouts, s.opaque, s.hardlinks, s.symlinks), (1, 1, 1, 1));
    assert_eq!(s.pseudo_links, 1);
    assert_eq!(s.diff_id, digest_of(&tar));
    assert_eq!(s.skipped.len(), 4, "{:?}", s.skipped);
    // The same tree gives the same bytes; a clamp caps the times.
    let (_, again) = diff::write_layer(&b, Vec::new(), Compression::None, &o).unwrap();
    assert_eq!(tar, again);
    let (_, gz1) = diff::write_layer(&b, Vec::new(), Compression::Gzip, &o).unwrap();
    let (_, gz2) = diff::write_layer(&b, Vec::new(), Compression::Gzip, &o).unwrap();
    assert_eq!(gz1, gz2, "gzip output is deterministic");
    let clamp = diff::Opts { mtime_clamp: Some(100), ..diff::Opts::default() };
    let (_, c) = diff::write_layer(&b, Vec::new(), Compression::None, &clamp).unwrap();
    let mut ar = tar::Archive::new(&c[..]);
    for e in ar.entries().unwrap() {
        assert!(e.unwrap().header().mtime().unwrap() <= 100);
    }
}

#[test]
fn diff_refuses_an_output_inside_the_branch() {
    let t = tempfile::tempdir().unwrap();
    let e = diff::run(t.path(), &t.path().join("x.tar"), None, None).unwrap_err();
    assert_eq!(e.exit, Some(22), "{}", e.msg);
    assert!(!t.path().join("x.tar").exists());
}

/// A description of a tree: path -> (type, mode, content, link target,
/// user xattrs, hard-link group).
fn describe(root: &Path) -> BTreeMap<String, String> {
    let mut out = BTreeMap::new();
    let mut inodes: BTreeMap<u64, String> = BTreeMap::new();
    fn rec(root: &Path, d: &Path, out: &mut BTreeMap<String, String>, inodes: &mut BTreeMap<u64, String>) {
        let mut names: Vec<_> = std::fs::read_dir(d).unwrap().flatten().map(|e| e.file_name()).collect();
        names.sort();
        for n in names {
            if rfs_logic::whiteout::is_private(n.as_encoded_bytes())
                && !rfs_logic::whiteout::is_opaque_marker(n.as_encoded_bytes())
            {
                continue;
            }
            let p = d.join(&n);
            let rel = p.strip_prefix(root).unwrap().display().to_string();
            let m = std::fs::symlink_metadata(&p).unwrap();
            let ft = m.file_type();
            let what = if ft.is_dir() {
                "dir".to_owned()
            } else if ft.is_symlink() {
                format!("link {}", std::fs::read_link(&p).unwrap().display())
            } else {
                let first = inodes.entry(m.ino()).or_insert_with(|| rel.clone()).clone();
                format!("file {:?} first-name {first}", String::from_utf8_lossy(&std::fs::read(&p).unwrap()))
            };
            let mut x = Vec::new();
            if !ft.is_symlink() {
                let mut v = [0u8; 16];
                if let Ok(n) = rustix::fs::getxattr(&p, "user.mark", &mut v[..]) {
                    x = v[..n].to_vec();
                }
            }
            let mode = if ft.is_symlink() { 0 } else { m.permissions().mode() & 0o7777 };
            out.insert(rel, format!("{what} mode {mode:o} mtime {} xattr {x:?}", if ft.is_dir() { 0 } else { m.mtime() }));
            if ft.is_dir() {
                rec(root, &p, out, inodes);
            }
        }
    }
    rec(root, root, &mut out, &mut inodes);
    out
}

#[test]
fn diff_then_import_round_trips() {
    let t = tempfile::tempdir().unwrap();
    let b = t.path().join("upper");
    fake_branch(&b);
    for c in [Compression::None, Compression::Gzip, Compression::Zstd] {
        let (_, tar) = diff::write_layer(&b, Vec::new(), c, &diff::Opts::default()).unwrap();
        let f = t.path().join(format!("layer-{c:?}"));
        std::fs::write(&f, &tar).unwrap();
        let dir = t.path().join(format!("stack-{c:?}"));
        let mut r = request(&f, &dir);
        r.layer = true;
        let out = import::run(&r).unwrap();
        assert_eq!(out.layers.len(), 1);
        assert_eq!(describe(&b), describe(&dir.join("layers/0")), "{c:?}");
        // A second layer goes on top.
        let out = import::run(&r).unwrap();
        assert_eq!(out.layers.len(), 2);
        assert_eq!(out.layers[1].index, 1);
        assert!(out.branches[1].ends_with("layers/1=ro+wh"), "{:?}", out.branches);
    }
}

// ---------------------------------------------------------------------------
// check

fn kinds(r: &check::Report) -> Vec<(String, String)> {
    r.findings.iter().map(|f| (f.kind.to_owned(), f.path.clone())).collect()
}

#[test]
fn check_finds_and_fixes() {
    let t = tempfile::tempdir().unwrap();
    let up = t.path().join("upper");
    let lo = t.path().join("lower");
    std::fs::create_dir_all(lo.join("sub")).unwrap();
    std::fs::write(lo.join("f1"), b"1").unwrap();
    std::fs::write(lo.join("sub/hl1"), b"h").unwrap();
    std::fs::hard_link(lo.join("sub/hl1"), lo.join("sub/hl2")).unwrap();
    let hl = std::fs::metadata(lo.join("sub/hl1")).unwrap();
    std::fs::create_dir_all(up.join(".wh..wh.orph/#rfs.3.1d")).unwrap();
    std::fs::write(up.join(".wh..wh.orph/#rfs.3.1e"), b"").unwrap();
    std::fs::write(up.join(".wh.f1"), b"").unwrap(); // hides lower f1: fine
    std::fs::write(up.join(".wh.nothing"), b"").unwrap(); // hides nothing
    std::fs::write(up.join("real"), b"").unwrap();
    std::fs::write(up.join(".wh.real"), b"").unwrap(); // beside its name
    std::fs::create_dir_all(up.join("sub")).unwrap();
    std::fs::write(up.join("sub/.wh.sub"), b"").unwrap();
    std::fs::create_dir_all(up.join("dd")).unwrap();
    std::fs::write(up.join(".wh.dd"), b"").unwrap(); // beside a directory
    std::fs::create_dir_all(up.join(".wh..wh.plnk")).unwrap();
    let used = format!("_803_{:x}_0_1_{:x}.0_{:x}", hl.ino(), hl.mtime(), hl.size());
    std::fs::write(up.join(".wh..wh.plnk").join(&used), b"h").unwrap();
    std::fs::write(up.join(".wh..wh.plnk/_803_fffffff1_0"), b"x").unwrap(); // orphan
    std::fs::write(up.join(".wh..wh.plnk/notours"), b"x").unwrap();
    std::fs::write(up.join(".wh..wh.xino"), b"SOMETHING ELSE ENTIRELY").unwrap();
    let sys = t.path().join("sys");
    std::fs::create_dir(&sys).unwrap();
    let args: Vec<OsString> = vec![up.clone().into(), lo.clone().into()];
    let r = check::run(&args, false, &sys).unwrap();
    let k = kinds(&r);
    let want: Vec<(String, String)> = [
        ("leftover", ".wh..wh.orph/#rfs.3.1d"),
        ("leftover", ".wh..wh.orph/#rfs.3.1e"),
        ("foreign", ".wh..wh.plnk/notours"),
        ("orphan", ".wh..wh.plnk/_803_fffffff1_0"),
        ("xino", ".wh..wh.xino"),
        ("shadowed", ".wh.dd"),
        ("whiteout", ".wh.nothing"),
        ("shadowed", ".wh.real"),
        ("whiteout", "sub/.wh.sub"),
    ]
    .iter()
    .map(|(a, b)| (a.to_string(), b.to_string()))
    .collect();
    assert_eq!(k, want);
    assert_eq!(r.open(), 9);
    assert!(check::report(&r).contains("9 found, 0 fixed"));
    // A branch of a mounted union: --fix is refused.
    std::fs::create_dir(sys.join("si_1")).unwrap();
    std::fs::write(sys.join("si_1/br0"), format!("{}=rw\n", up.display())).unwrap();
    let e = check::run(&args, true, &sys).unwrap_err();
    assert_eq!(e.exit, Some(16), "{}", e.msg);
    assert!(up.join(".wh.nothing").exists());
    std::fs::remove_dir_all(sys.join("si_1")).unwrap();
    // --fix repairs what it can; the lower (ro+wh) branch is left alone.
    let r = check::run(&args, true, &sys).unwrap();
    assert_eq!(r.open(), 1, "{:?}", r.findings);
    assert!(!up.join(".wh.nothing").exists());
    assert!(up.join(".wh.f1").exists());
    assert!(!up.join(".wh.real").exists() && up.join("real").exists());
    assert!(up.join("dd/.wh..wh..opq").exists() && !up.join(".wh.dd").exists());
    assert!(up.join(".wh..wh.plnk").join(&used).exists());
    assert!(!up.join(".wh..wh.plnk/_803_fffffff1_0").exists());
    assert!(std::fs::read_dir(up.join(".wh..wh.orph")).unwrap().next().is_none());
    assert!(!up.join(".wh..wh.xino").exists());
    let r = check::run(&args, false, &sys).unwrap();
    assert_eq!(kinds(&r), vec![("foreign".to_owned(), ".wh..wh.plnk/notours".to_owned())]);
}

#[test]
fn check_reads_xino_files() {
    let t = tempfile::tempdir().unwrap();
    let up = t.path().join("up");
    std::fs::create_dir(&up).unwrap();
    let sys = t.path().join("sys");
    let args: Vec<OsString> = vec![up.clone().into()];
    let mut good = rfs_logic::xino::header().to_vec();
    let first = rfs_logic::inomap::InoMap::default().next_ino();
    good.extend_from_slice(&rfs_logic::xino::encode(rfs_logic::xino::Record::New { brid: 64, lower_ino: 5, ino: first }));
    std::fs::write(up.join(".wh..wh.xino"), &good).unwrap();
    assert!(check::run(&args, false, &sys).unwrap().findings.is_empty());
    let mut bad = good.clone();
    bad.extend_from_slice(&rfs_logic::xino::encode(rfs_logic::xino::Record::Alias { brid: 64, lower_ino: 6, ino: first + 9 }));
    std::fs::write(up.join(".wh..wh.xino"), &bad).unwrap();
    let r = check::run(&args, false, &sys).unwrap();
    assert!(r.findings[0].detail.contains("does not replay"), "{:?}", r.findings);
    std::fs::write(up.join(".wh..wh.xino"), [0u8; 40]).unwrap();
    let r = check::run(&args, false, &sys).unwrap();
    assert!(r.findings[0].detail.contains("cleared"), "{:?}", r.findings);
    // In a lower branch: stale.
    let lo = t.path().join("lo");
    std::fs::create_dir(&lo).unwrap();
    std::fs::write(lo.join(".wh..wh.xino"), &good).unwrap();
    std::fs::remove_file(up.join(".wh..wh.xino")).unwrap();
    let r = check::run(&[up.into(), lo.into()], false, &sys).unwrap();
    assert!(r.findings[0].detail.contains("stale"), "{:?}", r.findings);
}

#[test]
fn reads_compressed_streams_by_their_magic() {
    let tar = Layer::new().file("a", b"x").tar();
    for c in [Compression::None, Compression::Gzip, Compression::Zstd] {
        let (got, mut r) = crate::stream::decompress(std::io::Cursor::new(compress(&tar, c))).unwrap();
        assert_eq!(got, c);
        let mut v = Vec::new();
        r.read_to_end(&mut v).unwrap();
        assert_eq!(v, tar);
    }
}
