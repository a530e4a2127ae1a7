//! One small test per rule of the model.

use super::*;
use alloc::string::String;
use alloc::vec;

fn p(s: &str) -> Path {
    if s.is_empty() {
        return Vec::new();
    }
    s.split('/').map(|c| c.as_bytes().to_vec()).collect()
}

/// Builds a branch from "path" specs: "d/" a directory, "f=data" a file,
/// "l->target" a symlink; parents are made as needed.
fn br(m: &mut u64, serial: u32, perm: Perm, specs: &[&str]) -> Branch {
    let mut b = Branch::new(serial, perm);
    for s in specs {
        let (path, node) = if let Some(d) = s.strip_suffix('/') {
            (d, None)
        } else if let Some((a, t)) = s.split_once("->") {
            (a, Some(Kind::Symlink(t.as_bytes().to_vec())))
        } else {
            let (a, d) = s.split_once('=').unwrap_or((s, ""));
            (a, Some(Kind::File(d.as_bytes().to_vec())))
        };
        let path = p(path);
        for i in 1..path.len() {
            let d = b.dir_mut(&path[..i - 1]).unwrap();
            d.entries
                .entry(path[i - 1].clone())
                .or_insert(Node::Dir(Dir {
                    mode: 0o755,
                    ..Dir::default()
                }));
        }
        let (last, parent) = path.split_last().unwrap();
        let n = match node {
            None => Node::Dir(Dir {
                mode: 0o755,
                ..Dir::default()
            }),
            Some(k) => {
                *m += 1;
                b.inodes.insert(
                    *m,
                    Inode {
                        kind: k,
                        mode: 0o644,
                        xattrs: Xattrs::new(),
                        mtime: Some(7),
                    },
                );
                Node::Obj(*m)
            }
        };
        b.dir_mut(parent).unwrap().entries.insert(last.clone(), n);
    }
    b
}

fn model(b0: &[&str], b1: &[&str], b2: &[&str]) -> Model {
    let mut id = 0;
    Model::new(vec![
        br(&mut id, 0, Perm::Rw, b0),
        br(&mut id, 1, Perm::RoWh, b1),
        br(&mut id, 2, Perm::Ro, b2),
    ])
}

fn names(m: &Model, dir: &str) -> Vec<String> {
    let Some(Found::Dir(mem)) = m.lookup(&p(dir)).unwrap() else {
        panic!("not a dir")
    };
    m.readdir(&p(dir), &mem)
        .into_iter()
        .map(|(n, _)| String::from_utf8(n).unwrap())
        .collect()
}

fn data(m: &Model, path: &str) -> Vec<u8> {
    match m.lookup(&p(path)).unwrap() {
        Some(Found::Obj(b, id)) => match &m.inode(b, id).unwrap().kind {
            Kind::File(d) => d.clone(),
            Kind::Symlink(t) => t.clone(),
        },
        x => panic!("{x:?}"),
    }
}

fn has(m: &Model, b: usize, path: &str) -> bool {
    m.branches[b].entry(&p(path)).is_some()
}

#[test]
fn first_branch_wins_and_dirs_merge() {
    let m = model(&["f=0", "d/a=0"], &["f=1", "d/b=1"], &["d/c=2", "g=2"]);
    assert_eq!(data(&m, "f"), b"0");
    assert_eq!(names(&m, ""), ["d", "f", "g"]);
    assert_eq!(names(&m, "d"), ["a", "b", "c"]);
}

#[test]
fn non_dir_hides_and_stops_merge() {
    let m = model(&["d/a=0"], &["d=file"], &["d/c=2"]);
    assert_eq!(names(&m, "d"), ["a"]);
    assert_eq!(m.lookup(&p("d")).unwrap(), Some(Found::Dir(vec![0])));
    let m = model(&["d=file"], &["d/x"], &[]);
    assert_eq!(m.lookup(&p("d/x")), Err(ENOTDIR));
}

#[test]
fn whiteouts_count_only_in_rw_and_ro_wh() {
    let m = model(
        &[".wh.a="],
        &["a=1", ".wh.b=", "c=1"],
        &["b=2", ".wh.c=", "d=2"],
    );
    assert_eq!(names(&m, ""), ["c", "d"]);
    let m = model(&[], &[".wh.b="], &["b=2"]);
    assert_eq!(names(&m, ""), Vec::<String>::new());
}

/// A name and its whiteout in one branch: the name is shown (rfs creates
/// the object before it removes the whiteout), and the whiteout still hides
/// the name in every branch below, so a directory there merges nothing
/// (semantics.md, Lookup).
#[test]
fn name_and_its_whiteout_in_one_branch() {
    let m = model(&["d/x=0", ".wh.d="], &["d/y=1"], &[]);
    assert_eq!(names(&m, "d"), ["x"]);
    let m = model(&["f=0", ".wh.f="], &["f=1"], &[]);
    assert_eq!(names(&m, ""), ["f"]);
}

#[test]
fn opaque_dirs_and_root() {
    let m = model(&["d/a=0", "d/.wh..wh..opq="], &["d/b=1"], &[]);
    assert_eq!(names(&m, "d"), ["a"]);
    let m = model(&[], &[".wh..wh..opq=", "a=1"], &["b=2"]);
    assert_eq!(names(&m, ""), ["a"]);
    // Not honoured in an ro branch.
    let m = model(&[], &[], &["d/.wh..wh..opq=", "d/a="]);
    assert_eq!(names(&m, "d"), ["a"]);
}

#[test]
fn reserved_names_never_visible() {
    let m = model(&[".wh..wh.orph/", ".wh.x="], &[], &[".wh.y=", ".whx=1"]);
    assert_eq!(names(&m, ""), [".whx"]);
    assert_eq!(m.lookup(&p(".wh.y")), Ok(None));
}

#[test]
fn long_names() {
    let m = model(&[], &[], &[]);
    let long = "n".repeat(256);
    assert_eq!(m.lookup(&p(&long)), Err(ENAMETOOLONG));
    let mut m = m;
    assert_eq!(m.mkdir(&p(&long), 0o755), Err(ENAMETOOLONG));
}

#[test]
fn write_copies_up_with_parents() {
    let mut m = model(&[], &["d/e/f=lower"], &[]);
    m.branches[1].dir_mut(&p("d")).unwrap().mode = 0o700;
    m.write(&p("d/e/f"), 1, b"XY").unwrap();
    assert_eq!(data(&m, "d/e/f"), b"lXYer");
    assert!(has(&m, 0, "d/e/f"));
    assert_eq!(m.branches[0].dir(&p("d")).unwrap().mode, 0o700);
    assert_eq!(
        m.branches[1].inodes.values().next().unwrap().kind,
        Kind::File(b"lower".to_vec())
    );
    // Copy-up keeps the mtime; the write forgets it.
    let mut m = model(&[], &["f=x"], &[]);
    m.chmod(&p("f"), 0o600).unwrap();
    let v = m.view();
    assert_eq!(v[&p("f")].mtime, Some(7));
    assert_eq!(v[&p("f")].mode, 0o600);
}

#[test]
fn write_past_end_makes_a_hole() {
    let mut m = model(&[], &[], &[]);
    m.write(&p("f"), 3, b"a").unwrap();
    assert_eq!(data(&m, "f"), b"\0\0\0a");
    m.append(&p("f"), b"b").unwrap();
    m.truncate(&p("f"), 2).unwrap();
    assert_eq!(data(&m, "f"), b"\0\0");
}

#[test]
fn errnos_of_files() {
    let mut m = model(&["d/", "s->/nowhere/x"], &["f=1"], &[]);
    assert_eq!(m.write(&p("d"), 0, b"x"), Err(EISDIR));
    assert_eq!(m.write(&p("s"), 0, b"x"), Err(ENOENT));
    assert_eq!(m.write(&p("s/x"), 0, b"x"), Err(ENOENT));
    assert_eq!(m.write(&p("f/x"), 0, b"x"), Err(ENOTDIR));
    assert_eq!(m.write(&p("no/x"), 0, b"x"), Err(ENOENT));
    assert_eq!(m.write(&p(".wh.x"), 0, b"x"), Err(EPERM));
    assert_eq!(m.truncate(&p("nope"), 0), Err(ENOENT));
    assert_eq!(m.truncate(&p("d"), 0), Err(EISDIR));
    assert_eq!(m.chmod(&p("s"), 0o600), Err(ENOENT));
    assert_eq!(m.unlink(&p("d")), Err(EISDIR));
    assert_eq!(m.unlink(&p("nope")), Err(ENOENT));
    assert_eq!(m.rmdir(&p("f")), Err(ENOTDIR));
    assert_eq!(m.mkdir(&p("f"), 0o755), Err(EEXIST));
    assert_eq!(m.mkdir(&p(".wh.q"), 0o755), Err(EPERM));
    assert_eq!(m.symlink(b"t", &p("d")), Err(EEXIST));
    assert_eq!(m.link(&p("d"), &p("d2")), Err(EPERM));
    assert_eq!(m.link(&p("d"), &p("f")), Err(EEXIST));
    assert_eq!(m.link(&p("f"), &p(".wh.g")), Err(EPERM));
}

#[test]
fn unlink_of_lower_leaves_whiteout() {
    let mut m = model(&["u=0"], &["d/f=1"], &["f=2"]);
    m.unlink(&p("d/f")).unwrap();
    assert!(has(&m, 0, "d/.wh.f"));
    assert!(names(&m, "d").is_empty());
    m.unlink(&p("u")).unwrap();
    assert!(!has(&m, 0, ".wh.u"));
    m.write(&p("f"), 0, b"up").unwrap();
    m.unlink(&p("f")).unwrap();
    assert!(has(&m, 0, ".wh.f") && !has(&m, 0, "f"));
    assert!(has(&m, 2, "f"));
}

#[test]
fn create_over_whiteout_removes_it() {
    let mut m = model(&[], &["f=1"], &[]);
    m.unlink(&p("f")).unwrap();
    m.write(&p("f"), 0, b"new").unwrap();
    assert!(!has(&m, 0, ".wh.f"));
    assert_eq!(data(&m, "f"), b"new");
}

#[test]
fn mkdir_over_whiteout_is_opaque() {
    let mut m = model(&[], &["d/x=1"], &[]);
    m.rmdir(&p("d")).unwrap_err();
    m.unlink(&p("d/x")).unwrap();
    m.rmdir(&p("d")).unwrap();
    assert!(has(&m, 0, ".wh.d"));
    m.mkdir(&p("d"), 0o755).unwrap();
    assert!(has(&m, 0, "d/.wh..wh..opq") && !has(&m, 0, ".wh.d"));
    assert!(names(&m, "d").is_empty());
    // A whiteout in ro+wh, not in rw: no marker needed.
    let mut m = model(&[], &[".wh.e="], &["e/x=2"]);
    m.mkdir(&p("e"), 0o755).unwrap();
    assert!(!has(&m, 0, "e/.wh..wh..opq"));
    assert!(names(&m, "e").is_empty());
}

#[test]
fn rmdir_needs_empty_union_view() {
    let mut m = model(&["d/"], &["d/x=1"], &[]);
    assert_eq!(m.rmdir(&p("d")), Err(ENOTEMPTY));
    m.unlink(&p("d/x")).unwrap();
    m.rmdir(&p("d")).unwrap();
    assert!(!has(&m, 0, "d") && has(&m, 0, ".wh.d"));
    assert_eq!(m.lookup(&p("d")), Ok(None));
}

#[test]
fn rename_file_rules() {
    let mut m = model(&["u=U"], &["l=L"], &["t=T"]);
    m.rename(&p("l"), &p("n"), false).unwrap();
    assert!(has(&m, 0, ".wh.l") && has(&m, 0, "n"));
    m.rename(&p("u"), &p("t"), false).unwrap();
    assert_eq!(data(&m, "t"), b"U");
    assert!(!has(&m, 0, ".wh.u"));
    m.rename(&p("n"), &p("l"), false).unwrap();
    assert!(!has(&m, 0, ".wh.l") && !has(&m, 0, ".wh.n"));
    assert_eq!(m.rename(&p("l"), &p("t"), true), Err(EEXIST));
    assert_eq!(m.rename(&p("l"), &p(".wh.z"), false), Err(EPERM));
    assert_eq!(m.rename(&p("nope"), &p("z"), false), Err(ENOENT));
}

#[test]
fn rename_dir_rules() {
    let mut m = model(&["u/c=0", "e/", "f=0", "w/k=0", "w/.wh.g=0", "s/a=0"], &["l/c=1", "m/", "t/x=1", "w/g=1", "s/a=1"], &[]);
    // Entries only in the writable branch: it renames (AUFS's rule).
    m.rename(&p("u"), &p("v"), false).unwrap();
    assert!(has(&m, 0, "v/c") && !has(&m, 0, "u") && !has(&m, 0, ".wh.u"));
    assert_eq!(data(&m, "v/c"), b"0");
    // Lower entries all whited out: it renames, a whiteout at the old name
    // hides the lower directory there.
    m.rename(&p("w"), &p("w2"), false).unwrap();
    assert!(has(&m, 0, ".wh.w") && has(&m, 0, "w2/k"));
    assert_eq!(names(&m, "w2"), ["k"]);
    assert_eq!(m.lookup(&p("w")), Ok(None));
    // An entry below, even shadowed by the writable branch: EXDEV.
    assert_eq!(m.rename(&p("s"), &p("s2"), false), Err(EXDEV));
    assert_eq!(m.rename(&p("l"), &p("v2"), false), Err(EXDEV));
    assert_eq!(m.rename(&p("e"), &p("f"), false), Err(ENOTDIR));
    assert_eq!(m.rename(&p("f"), &p("e"), false), Err(EISDIR));
    assert_eq!(m.rename(&p("e"), &p("t"), false), Err(ENOTEMPTY));
    assert_eq!(m.rename(&p("e"), &p("e/x"), false), Err(EINVAL));
    assert_eq!(m.rename(&p("v/c"), &p("v"), false), Err(ENOTEMPTY));
    // Empty lower dir: copied up, whiteout at the old name.
    m.rename(&p("m"), &p("m2"), false).unwrap();
    assert!(has(&m, 0, ".wh.m") && has(&m, 0, "m2"));
    // Onto a name that exists below: opaque.
    m.unlink(&p("t/x")).unwrap();
    m.rename(&p("e"), &p("t"), false).unwrap();
    assert!(has(&m, 0, "t/.wh..wh..opq") && !has(&m, 0, "t/.wh.x"));
    assert!(names(&m, "t").is_empty());
}

#[test]
fn link_copies_up_and_counts() {
    let mut m = model(&[], &["f=1"], &[]);
    m.link(&p("f"), &p("g")).unwrap();
    let v = m.view();
    assert_eq!(v[&p("f")].nlink, Some(2));
    assert_eq!(v[&p("g")].nlink, Some(2));
    m.append(&p("g"), b"x").unwrap();
    assert_eq!(data(&m, "f"), b"1x");
    // Renaming one link onto another is a no-op.
    m.rename(&p("f"), &p("g"), false).unwrap();
    assert!(has(&m, 0, "f"));
}

#[test]
fn dir_nlink() {
    let m = model(&["a/b/", "a/c=1"], &["m/", "a/"], &["m/"]);
    let v = m.view();
    assert_eq!(v[&p("m")].nlink, Some(1));
    let m = model(&["a/b/", "a/c=1"], &[], &[]);
    assert_eq!(m.view()[&p("a")].nlink, Some(3));
}

#[test]
fn xattrs_follow_copy_up() {
    let mut m = model(&[], &["d/f=1"], &[]);
    m.branches[1]
        .dir_mut(&p("d"))
        .unwrap()
        .xattrs
        .insert(b"user.a".to_vec(), b"1".to_vec());
    m.setxattr(&p("d/f"), b"user.k", b"v").unwrap();
    assert_eq!(m.branches[0].dir(&p("d")).unwrap().xattrs.len(), 1);
    assert_eq!(m.view()[&p("d/f")].xattrs.len(), 1);
}

#[test]
fn direct_edits_and_remount() {
    let mut m = model(&[], &["f=1"], &["g=2"]);
    let id = m.new_id();
    let wh = Inode {
        kind: Kind::File(Vec::new()),
        mode: 0o644,
        xattrs: Xattrs::new(),
        mtime: None,
    };
    assert!(m.direct_add(1, &p(".wh.g"), Node::Obj(id), Some(wh)));
    assert_eq!(names(&m, ""), ["f"]);
    assert!(m.direct_remove(1, &p(".wh.g")));
    assert_eq!(names(&m, ""), ["f", "g"]);
    assert!(!m.direct_add(1, &p("no/x"), Node::Obj(id), None));
    let mut id = 100;
    m.append_branch(br(&mut id, 3, Perm::Ro, &["h=3"]));
    assert_eq!(names(&m, ""), ["f", "g", "h"]);
    m.del_branch(1).unwrap();
    assert_eq!(names(&m, ""), ["g", "h"]);
    assert!(m.del_branch(0).is_none());
}

#[test]
fn whiteout_name_too_long() {
    let long = "n".repeat(253);
    let mut m = model(&[], &[&alloc::format!("{long}=1")], &[]);
    assert_eq!(m.unlink(&p(&long)), Err(ENAMETOOLONG));
    assert!(m.lookup(&p(&long)).unwrap().is_some());
}
