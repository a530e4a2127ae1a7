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

// ---- several writable branches (rfs.rst "The writable branches") --------

use Perm::{Ro, RoWh, Rw};

/// A stack of branches (serial = index), top first.
fn stack(spec: &[(Perm, &[&str])]) -> Model {
    let mut id = 0;
    let mut v = Vec::new();
    for (i, (perm, specs)) in spec.iter().enumerate() {
        v.push(br(&mut id, i as u32, *perm, specs));
    }
    Model::new(v)
}

fn file_in(m: &Model, b: usize, path: &str) -> Vec<u8> {
    match m.branches[b].entry(&p(path)) {
        Some(Node::Obj(id)) => match &m.branches[b].inodes[id].kind {
            Kind::File(d) => d.clone(),
            Kind::Symlink(t) => t.clone(),
        },
        x => panic!("{path} in b{b}: {x:?}"),
    }
}

/// Only branch 0 writable: every change goes there, as before.
#[test]
fn single_rw_branch_takes_everything() {
    let m = model(&["u=0"], &["d/e/f=1", "g=1"], &["h=2", "d/x=2"]);
    for path in ["u", "d", "d/e", "d/e/f", "g", "h", "d/x", ""] {
        assert_eq!(m.change_target(&p(path)), Ok(0), "{path}");
    }
    for path in ["n", "d/n", "d/e/n"] {
        assert_eq!(m.create_target(&p(path), false), Ok(0), "{path}");
    }
}

/// An object whose top member is writable is changed in place, at any
/// index; nothing goes to the branches above it.
#[test]
fn changed_in_place_in_a_lower_rw_branch() {
    let mut m = stack(&[
        (Rw, &[]),
        (Ro, &["only1=in b1"]),
        (Rw, &["only2=in b2", "d2/f=d2 f", "deep/a/b/c=c"]),
    ]);
    m.append(&p("only2"), b" +x").unwrap();
    assert_eq!(file_in(&m, 2, "only2"), b"in b2 +x");
    assert!(!has(&m, 0, "only2"));
    m.chmod(&p("d2"), 0o700).unwrap();
    assert_eq!(m.branches[2].dir(&p("d2")).unwrap().mode, 0o700);
    assert!(!has(&m, 0, "d2"));
    m.setxattr(&p("deep/a/b/c"), b"user.k", b"v").unwrap();
    assert!(!has(&m, 0, "deep"));
    // A file of the read-only middle: copied to b0, the top-most writable
    // branch that holds the parent (the root).
    m.append(&p("only1"), b" +y").unwrap();
    assert_eq!(file_in(&m, 0, "only1"), b"in b1 +y");
    assert_eq!(file_in(&m, 1, "only1"), b"in b1");
}

/// cpup=tdp: the top-most writable branch between the parent's top and the
/// object that holds the parent; else the nearest writable branch above the
/// object, with the parents made there.
#[test]
fn copy_up_placement() {
    let mut m = stack(&[
        (Rw, &[]),
        (Ro, &["p/", "md/g=md g"]),
        (Rw, &["p/", "md/f=md f"]),
        (Ro, &["p/f=f in b3", "q/f=q f in b3"]),
    ]);
    assert_eq!(m.change_target(&p("p/f")), Ok(2));
    m.append(&p("p/f"), b" +1").unwrap();
    assert_eq!(file_in(&m, 2, "p/f"), b"f in b3 +1");
    assert!(!has(&m, 0, "p"));
    // q only in b3: the nearest writable branch above it, q made there.
    assert_eq!(m.change_target(&p("q/f")), Ok(2));
    m.truncate(&p("q/f"), 1).unwrap();
    assert_eq!(file_in(&m, 2, "q/f"), b"q");
    assert_eq!(m.lookup(&p("q")).unwrap(), Some(Found::Dir(vec![2, 3])));
    // md: b1 (its top, read-only) and b2; g in b1: no writable branch
    // between md's top and g, so the nearest above g (b0).
    assert_eq!(m.change_target(&p("md/g")), Ok(0));
    m.chmod(&p("md/g"), 0o600).unwrap();
    assert!(has(&m, 0, "md/g") && !has(&m, 2, "md/g"));
    assert_eq!(m.lookup(&p("md")).unwrap(), Some(Found::Dir(vec![0, 1, 2])));
    // f in b2 is changed in place.
    m.append(&p("md/f"), b"!").unwrap();
    assert_eq!(file_in(&m, 2, "md/f"), b"md f!");
    assert_eq!(names(&m, "md"), ["f", "g"]);
}

/// A copy-up into a writable branch below a directory's read-only top:
/// the directory gains a member there (with the top's mode and xattrs).
#[test]
fn directory_made_below_its_read_only_top() {
    let mut m = stack(&[
        (Ro, &["a/top=a top", "rootfile=ro0"]),
        (Rw, &[]),
        (Ro, &["a/b/f=f in b2", "low=low"]),
    ]);
    m.branches[0].dir_mut(&p("a")).unwrap().mode = 0o750;
    assert_eq!(m.append(&p("rootfile"), b"x"), Err(EROFS));
    m.append(&p("low"), b" +1").unwrap();
    assert_eq!(file_in(&m, 1, "low"), b"low +1");
    m.append(&p("a/b/f"), b" +2").unwrap();
    assert_eq!(file_in(&m, 1, "a/b/f"), b"f in b2 +2");
    assert_eq!(m.branches[1].dir(&p("a")).unwrap().mode, 0o750);
    assert_eq!(m.lookup(&p("a")).unwrap(), Some(Found::Dir(vec![0, 1, 2])));
    assert_eq!(names(&m, "a"), ["b", "top"]);
    // a/b's top is b1 now: a new name there goes to b1.
    m.write(&p("a/b/new"), 0, b"n").unwrap();
    assert!(has(&m, 1, "a/b/new"));
    // Unlink: a whiteout in b1, where a change of a/b/f goes.
    m.unlink(&p("a/b/f")).unwrap();
    assert!(has(&m, 1, "a/b/.wh.f") && !has(&m, 1, "a/b/f"));
    assert_eq!(names(&m, "a/b"), ["new"]);
    assert_eq!(file_in(&m, 2, "a/b/f"), b"f in b2");
}

/// create=tdp: the parent's top branch when writable, else the nearest
/// writable branch above it (the parents made there); none: EROFS.
#[test]
fn creation_placement() {
    let mut m = stack(&[(Rw, &[]), (Rw, &["p1/"]), (Rw, &["p2/x=x"])]);
    m.write(&p("r"), 0, b"r").unwrap();
    m.write(&p("p1/n"), 0, b"1").unwrap();
    m.mkdir(&p("p2/d"), 0o755).unwrap();
    m.symlink(b"/nowhere/x", &p("p2/d/s")).unwrap();
    assert!(has(&m, 0, "r") && has(&m, 1, "p1/n") && has(&m, 2, "p2/d/s"));
    assert!(!has(&m, 0, "p1") && !has(&m, 0, "p2") && !has(&m, 1, "p2"));
    // rmdir of a directory only in b1: removed there, no whiteout.
    m.unlink(&p("p1/n")).unwrap();
    m.rmdir(&p("p1")).unwrap();
    assert!(!has(&m, 1, "p1") && !has(&m, 1, ".wh.p1") && !has(&m, 0, ".wh.p1"));

    let mut m = stack(&[(Ro, &["a/"]), (Rw, &[]), (Ro, &["b/c/", "a/"])]);
    assert_eq!(m.write(&p("new"), 0, b"x"), Err(EROFS));
    assert_eq!(m.mkdir(&p("new"), 0o755), Err(EROFS));
    assert_eq!(m.symlink(b"t", &p("a/s")), Err(EROFS));
    assert_eq!(m.create_target(&p("b/c/n"), true), Ok(1));
    m.mkdir(&p("b/c/n"), 0o700).unwrap();
    assert!(has(&m, 1, "b/c/n"));
    assert_eq!(m.lookup(&p("b/c")).unwrap(), Some(Found::Dir(vec![1, 2])));
}

/// Checks rfs makes before the placement come first: EEXIST, EPERM, the
/// VFS's type checks; EROFS then comes before ENOTEMPTY and EXDEV.
#[test]
fn erofs_and_its_order() {
    let mut m = stack(&[(RoWh, &["f=0", "d/x=0", "e/", "s->/nowhere/x"]), (Rw, &["g=1"])]);
    assert_eq!(m.write(&p("f"), 0, b"x"), Err(EROFS));
    assert_eq!(m.truncate(&p("f"), 0), Err(EROFS));
    assert_eq!(m.chmod(&p("d"), 0o700), Err(EROFS));
    assert_eq!(m.utimes(&p("f"), 5), Err(EROFS));
    assert_eq!(m.setxattr(&p("e"), b"user.a", b"1"), Err(EROFS));
    assert_eq!(m.unlink(&p("f")), Err(EROFS));
    assert_eq!(m.rmdir(&p("d")), Err(EROFS));
    assert_eq!(m.rmdir(&p("e")), Err(EROFS));
    assert_eq!(m.rename(&p("d"), &p("d2"), false), Err(EROFS));
    assert_eq!(m.link(&p("f"), &p("f2")), Err(EROFS));
    assert_eq!(m.mkdir(&p("f"), 0o755), Err(EEXIST));
    assert_eq!(m.write(&p(".wh.z"), 0, b"x"), Err(EPERM));
    assert_eq!(m.unlink(&p("d")), Err(EISDIR));
    assert_eq!(m.rmdir(&p("f")), Err(ENOTDIR));
    assert_eq!(m.chmod(&p("s"), 0o600), Err(ENOENT));
    // g, in the writable branch 1 under a read-only root top: in place;
    // a new name at the root cannot be made (the root's top is b0).
    m.append(&p("g"), b"+").unwrap();
    assert_eq!(file_in(&m, 1, "g"), b"1+");
    // A link goes where g is: b1 holds the root, so the name shows.
    m.link(&p("g"), &p("h")).unwrap();
    assert!(has(&m, 1, "h"));
    m.unlink(&p("g")).unwrap();
    assert!(!has(&m, 1, "g") && !has(&m, 1, ".wh.g"));
    // Nothing changed in the read-only branch.
    assert!(has(&m, 0, "f") && has(&m, 0, "d/x") && !has(&m, 0, ".wh.g"));
}

/// Whiteouts go to the branch the change went to and hide names only in
/// the branches below it.
#[test]
fn whiteout_placement() {
    let mut m = stack(&[
        (Rw, &[]),
        (Ro, &["both=b1"]),
        (Rw, &["both=b2", "d2/f=d2", "x=b2", "dd/"]),
        (Ro, &["x=b3", "dd/y=y"]),
    ]);
    // Only in b2, nothing below: removed, no whiteout.
    m.unlink(&p("d2/f")).unwrap();
    assert!(!has(&m, 2, "d2/f") && !has(&m, 2, "d2/.wh.f"));
    // In b2 and b3: removed from b2, whiteout in b2 (not b0).
    m.unlink(&p("x")).unwrap();
    assert!(!has(&m, 2, "x") && has(&m, 2, ".wh.x") && !has(&m, 0, ".wh.x"));
    assert_eq!(m.lookup(&p("x")), Ok(None));
    // A whiteout in b2 hides nothing above it: x made directly in b0 shows.
    let id = m.new_id();
    let ino = Inode {
        kind: Kind::File(b"b0".to_vec()),
        mode: 0o644,
        xattrs: Xattrs::new(),
        mtime: None,
    };
    assert!(m.direct_add(0, &p("x"), Node::Obj(id), Some(ino)));
    assert_eq!(data(&m, "x"), b"b0");
    // Top read-only (b1): the change would go to b0, so the whiteout too.
    m.unlink(&p("both")).unwrap();
    assert!(has(&m, 0, ".wh.both") && has(&m, 1, "both") && has(&m, 2, "both"));
    assert_eq!(m.lookup(&p("both")), Ok(None));
    // rmdir of dd (top in b2, entries in b3): whiteouts in b2.
    assert_eq!(m.rmdir(&p("dd")), Err(ENOTEMPTY));
    m.unlink(&p("dd/y")).unwrap();
    assert!(has(&m, 2, "dd/.wh.y"));
    m.rmdir(&p("dd")).unwrap();
    assert!(has(&m, 2, ".wh.dd") && !has(&m, 2, "dd") && !has(&m, 0, ".wh.dd"));
    // A new dd goes to the root's top, b0: the whiteout in b2 still hides
    // b3's dd, no marker needed.
    m.mkdir(&p("dd"), 0o755).unwrap();
    assert!(has(&m, 0, "dd") && !has(&m, 0, "dd/.wh..wh..opq") && has(&m, 2, ".wh.dd"));
    assert_eq!(m.lookup(&p("dd")).unwrap(), Some(Found::Dir(vec![0])));
    // A directory made over a whiteout in b2 (its parent's top) is opaque.
    let mut m = stack(&[(Rw, &[]), (Rw, &["q/.wh.e="]), (Ro, &["q/e/z=z"])]);
    m.mkdir(&p("q/e"), 0o755).unwrap();
    assert!(has(&m, 1, "q/e/.wh..wh..opq") && !has(&m, 1, "q/.wh.e"));
    assert!(names(&m, "q/e").is_empty());
}

/// Rename happens in the source's branch; where the new name would not
/// show from there, a file goes up to where it does (copied up first, the
/// original staying below, hidden).
#[test]
fn rename_across_writable_branches() {
    let mut m = stack(&[
        (Rw, &["top=top b0", ".wh.hidden=", "n0/"]),
        (Ro, &[]),
        (Rw, &["d2/new=new", "only2=in b2", "hidden=old", "sub/"]),
        (Ro, &["n3/", "sub/z=z"]),
    ]);
    m.rename(&p("d2/new"), &p("d2/renamed"), false).unwrap();
    assert!(has(&m, 2, "d2/renamed") && !has(&m, 2, "d2/new"));
    // Into the root (b0 on top of it): from b2, in b2.
    m.rename(&p("only2"), &p("moved"), false).unwrap();
    assert_eq!(file_in(&m, 2, "moved"), b"in b2");
    assert_eq!(data(&m, "moved"), b"in b2");
    // Over a name whose top is b0: in b0, the file copied up there first
    // and a whiteout of its old name there.
    let mut m2 = m.clone();
    m2.rename(&p("moved"), &p("top"), false).unwrap();
    assert_eq!(file_in(&m2, 0, "top"), b"in b2");
    assert!(has(&m2, 0, ".wh.moved") && has(&m2, 2, "moved"));
    assert_eq!(m2.lookup(&p("moved")), Ok(None));
    // A name whited out in b0 would not show from b2: in b0 too.
    let mut m2 = m.clone();
    m2.rename(&p("moved"), &p("hidden"), false).unwrap();
    assert_eq!(data(&m2, "hidden"), b"in b2");
    assert!(!has(&m2, 0, ".wh.hidden") && has(&m2, 0, ".wh.moved") && has(&m2, 2, "hidden"));
    // A file with two names stays where it is: EXDEV.
    let mut m2 = m.clone();
    m2.link(&p("moved"), &p("moved2")).unwrap();
    assert_eq!(m2.rename(&p("moved"), &p("top"), false), Err(EXDEV));
    // The new parent only in b0: made in b2 too, under its (writable)
    // top, where the union shows it.
    m.link(&p("moved"), &p("n0/y")).unwrap();
    assert!(has(&m, 2, "n0/y"));
    assert_eq!(m.lookup(&p("n0")).unwrap(), Some(Found::Dir(vec![0, 2])));
    // The new parent only in b3: made in b2, above its top.
    m.rename(&p("moved"), &p("n3/x"), false).unwrap();
    assert_eq!(file_in(&m, 2, "n3/x"), b"in b2");
    assert_eq!(m.lookup(&p("n3")).unwrap(), Some(Found::Dir(vec![2, 3])));
    // A directory with entries below its (writable) top: EXDEV.
    assert_eq!(m.rename(&p("sub"), &p("sub2"), false), Err(EXDEV));
    // One with entries only in b2 renames there.
    m.rename(&p("d2"), &p("d3"), false).unwrap();
    assert!(has(&m, 2, "d3/renamed") && !has(&m, 2, "d2") && !has(&m, 0, "d3"));
    // Link in b2.
    m.link(&p("d3/renamed"), &p("d3/hard")).unwrap();
    assert_eq!(m.view()[&p("d3/hard")].nlink, Some(2));
}

/// A copy-up for a link stays when the new name then gives EXDEV (rfs
/// copies the source before it checks a link's new name). Here the new
/// name shows only from b0, and the copy's directory d, now topped by b2,
/// cannot get a member there (no directory moves up): EXDEV; rename checks
/// first and copies nothing. With d in b0 the file goes up to b0.
#[test]
fn link_exdev_after_copy_up() {
    let spec: [(Perm, &[&str]); 4] = [(Rw, &[".wh.w="]), (Ro, &[]), (Rw, &["d/"]), (Ro, &["d/f=f", "w=3"])];
    // The new name shows only from b0: d (top b2, writable) is made in
    // b0 over it (AUFS's au_cpup_dirs), f copied there, the link made
    // there (before issue 17's directory promotion: EXDEV).
    let mut m = stack(&spec);
    m.link(&p("d/f"), &p("w")).unwrap();
    assert_eq!(file_in(&m, 0, "d/f"), b"f");
    // One copy, straight to b0 (before: a copy-up to b2 first, left there
    // hidden).
    assert!(has(&m, 0, "w") && !has(&m, 0, ".wh.w") && !has(&m, 2, "d/f"));
    assert_eq!(m.lookup(&p("d")).unwrap(), Some(Found::Dir(vec![0, 2, 3])));
    assert_eq!(m.view()[&p("w")].nlink, Some(2));
    let mut m2 = stack(&spec);
    m2.rename(&p("d/f"), &p("w"), false).unwrap();
    assert_eq!(file_in(&m2, 0, "w"), b"f");
    assert!(has(&m2, 0, "d/.wh.f") && !has(&m2, 2, "d/f") && has(&m2, 3, "d/f"));
    assert_eq!(names(&m2, "d"), Vec::<String>::new());
    let mut m = stack(&[(Rw, &[".wh.w=", "d/"]), (Ro, &[]), (Rw, &["d/f=f"]), (Ro, &["w=3"])]);
    m.link(&p("d/f"), &p("w")).unwrap();
    assert_eq!(file_in(&m, 0, "d/f"), b"f");
    assert!(has(&m, 2, "d/f") && has(&m, 0, "w") && !has(&m, 0, ".wh.w"));
    assert_eq!(m.view()[&p("w")].nlink, Some(2));
    // rename of a directory copied up: whiteout at the old name and opaque
    // at a new name that exists below, all in the branch of the copy.
    let mut m = stack(&[
        (Rw, &[]),
        (Ro, &[]),
        (Rw, &["p/"]),
        (Ro, &["p/e/", "p/t/"]),
    ]);
    m.rmdir(&p("p/t")).unwrap();
    assert!(has(&m, 2, "p/.wh.t"));
    m.rename(&p("p/e"), &p("p/t"), false).unwrap();
    assert!(has(&m, 2, "p/t/.wh..wh..opq") && has(&m, 2, "p/.wh.e"));
    assert!(!has(&m, 2, "p/.wh.t") && !has(&m, 0, "p"));
    assert_eq!(names(&m, "p"), ["t"]);
}

/// The last writable branch deleted: changes fail with EROFS.
#[test]
fn no_writable_branch_left() {
    let mut m = stack(&[(RoWh, &["f=0"]), (Rw, &["d/g=1"]), (Ro, &[])]);
    m.append(&p("d/g"), b"+").unwrap();
    m.del_branch(1).unwrap();
    assert_eq!(m.append(&p("f"), b"+"), Err(EROFS));
    assert_eq!(m.mkdir(&p("n"), 0o755), Err(EROFS));
    assert_eq!(m.lookup(&p("d")), Ok(None));
    let mut m = stack(&[(Rw, &[]), (Ro, &["g=2"])]);
    m.append_branch(br(&mut 100, 5, Rw, &["h=5"]));
    m.append(&p("h"), b"+").unwrap();
    assert_eq!(file_in(&m, 2, "h"), b"5+");
}

/// A directory whose top is writable lower down gets a member above it
/// when a rename or link needs one there (AUFS's au_cpup_dirs; kernel:
/// copyup.rs `copy_up_one`, inode.rs `promote_dir`): it merges over its
/// old top. A directory renamed within its own parent does not move up
/// (EXDEV: the VFS does not lock it then).
#[test]
fn directories_move_up() {
    let mut m = stack(&[(Rw, &[]), (Rw, &["c/a/"]), (Rw, &["a/d/x=x"])]);
    m.rename(&p("c/a"), &p("a/d/d"), false).unwrap();
    assert!(has(&m, 1, "a/d/d") && !has(&m, 1, "c/a") && has(&m, 2, "a/d/x"));
    assert_eq!(m.lookup(&p("a/d")).unwrap(), Some(Found::Dir(vec![1, 2])));
    assert_eq!(names(&m, "a/d"), ["d", "x"]);
    // An empty directory whose top is b2 renamed over an empty one whose
    // top is b0: moves up to b0 (to another directory), or EXDEV within
    // its own.
    let mut m = stack(&[(Rw, &["t/", "p/"]), (Ro, &[]), (Rw, &["p/s/", "s/"])]);
    m.rename(&p("p/s"), &p("t"), false).unwrap();
    assert!(has(&m, 0, "t") && has(&m, 0, "p/.wh.s") && has(&m, 2, "p/s"));
    assert_eq!(names(&m, "p"), Vec::<String>::new());
    let before = m.clone();
    assert_eq!(m.rename(&p("s"), &p("t"), false), Err(EXDEV));
    assert_eq!(m, before);
    // Not empty: EXDEV (its entries would be below the branch).
    let mut m = stack(&[(Rw, &["t/"]), (Ro, &[]), (Rw, &["p/s/f=f"])]);
    assert_eq!(m.rename(&p("p/s"), &p("t"), false), Err(EXDEV));
}

/// A directory whited out in its own branch merges nothing below that
/// branch, so a name moved into it from a writable branch below would be
/// hidden there (`reach_of` counts the cut at the last member, as
/// `lookup_in` does): the file goes up to b0 instead. Found by rfsmodel's
/// every_shape test: seed 1 rw:ro+wh:rw:ro, rename b/a a/b/d.
#[test]
fn no_move_below_a_dir_whited_out_in_its_own_branch() {
    let spec: [(Perm, &[&str]); 3] = [(Rw, &["n/s/"]), (RoWh, &["n/s/", ".wh.n="]), (Rw, &["f=f"])];
    let mut m = stack(&spec);
    assert_eq!(m.lookup(&p("n")).unwrap(), Some(Found::Dir(vec![0, 1])));
    let mut m2 = m.clone();
    m2.rename(&p("f"), &p("n/g"), false).unwrap();
    assert!(has(&m2, 0, "n/g") && has(&m2, 0, ".wh.f") && !has(&m2, 2, "n"));
    assert_eq!(data(&m2, "n/g"), b"f");
    let mut m2 = m.clone();
    m2.link(&p("f"), &p("n/g")).unwrap();
    assert!(has(&m2, 0, "n/g") && has(&m2, 0, "f") && has(&m2, 2, "f"));
    assert_eq!(m2.view()[&p("f")].nlink, Some(2));
    // An empty directory moves up there too (made in b0 over its top in
    // b2, then renamed in b0; the original stays, whited out).
    let mut m = stack(&[(Rw, &["n/s/"]), (RoWh, &["n/s/", ".wh.n="]), (Rw, &["e/"])]);
    m.rename(&p("e"), &p("n/s/e"), false).unwrap();
    assert!(has(&m, 0, "n/s/e") && has(&m, 0, ".wh.e") && has(&m, 2, "e"));
    assert_eq!(m.lookup(&p("e")), Ok(None));
    // Without the whiteout b2 is a member's branch below: made there, shown.
    let mut m = stack(&[(Rw, &["n/s/"]), (RoWh, &["n/s/"]), (Rw, &["f=f"])]);
    m.rename(&p("f"), &p("n/s/g"), false).unwrap();
    assert!(has(&m, 2, "n/s/g"));
    assert_eq!(data(&m, "n/s/g"), b"f");
}
