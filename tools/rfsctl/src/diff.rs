//! `rfsctl diff`: a writable branch as an OCI layer tar.
//!
//! A writable branch of rfs already is a layer in AUFS's format, which is
//! the OCI layer format: what changed is there, deletions are `.wh.NAME`
//! whiteouts and directories made over deleted ones hold `.wh..wh..opq`.
//! So the layer is the branch's tree, walked in sorted order, without
//! rfs's private names (`.wh..wh.` names other than the opaque marker:
//! the work directory, the pseudo-link directory, the xino file, AUFS's
//! `.wh..wh.aufs`).

use crate::layer::refuse;
use crate::mountinfo;
use crate::safefs::{self, os};
use crate::stream::{Compression, Compressor, HashWriter};
use crate::Fail;
use rfs_logic::whiteout;
use rustix::fs::{AtFlags, FileType, Mode, OFlags};
use rustix::io::Errno;
use serde::Serialize;
use std::collections::HashMap;
use std::io::{self, Write};
use std::os::fd::{AsFd, OwnedFd};
use std::path::{Path, PathBuf};

/// What a diff wrote.
#[derive(Debug, Clone, Default, Serialize)]
pub struct Summary {
    /// The branch read.
    pub branch: String,
    /// Where the layer went (`-`: stdout).
    pub output: String,
    /// Its compression.
    pub compression: String,
    /// Its OCI media type.
    pub media_type: String,
    /// The digest of the output.
    pub digest: String,
    /// Its size.
    pub size: u64,
    /// The digest of the uncompressed tar (OCI's diff_id).
    pub diff_id: String,
    /// Entries in the tar.
    pub entries: u64,
    /// Regular files (not whiteouts or markers).
    pub files: u64,
    /// Directories.
    pub dirs: u64,
    /// Symlinks.
    pub symlinks: u64,
    /// Hard links (further names of a file).
    pub hardlinks: u64,
    /// FIFOs and device nodes.
    pub special: u64,
    /// Whiteouts.
    pub whiteouts: u64,
    /// Opaque markers.
    pub opaque: u64,
    /// Bytes of file data.
    pub bytes: u64,
    /// Extended attributes written.
    pub xattrs: u64,
    /// Names left out, with why.
    pub skipped: Vec<String>,
    /// Pseudo-links in the branch (not flushed).
    pub pseudo_links: u64,
}

/// Options of the walk.
#[derive(Debug, Clone, Default)]
pub struct Opts {
    /// Cap mtimes here.
    pub mtime_clamp: Option<i64>,
    /// Objects (device, inode) to leave out: the mount's xino file.
    pub skip: Vec<(u64, u64)>,
}

fn sys(e: Errno, what: String) -> Fail {
    let mut f = Fail::errno(e, what);
    f.exit = Some(e.raw_os_error());
    f
}

fn io_fail(e: io::Error, what: &str) -> Fail {
    crate::layer::read_fail(e, what)
}

/// Extended attributes that a layer does not carry: the host's SELinux
/// label and overlayfs's private ones.
fn xattr_kept(name: &[u8]) -> bool {
    name != b"security.selinux" && !name.starts_with(b"trusted.overlay.") && !name.starts_with(b"user.overlay.")
}

/// The most an attribute list or value can have (XATTR_LIST_MAX,
/// XATTR_SIZE_MAX).
const XATTR_MAX: usize = 65536;

/// The extended attributes of an open file, sorted by name.
fn xattrs_of(fd: impl AsFd) -> Vec<(String, Vec<u8>)> {
    let mut names = vec![0u8; XATTR_MAX];
    let Ok(n) = rustix::fs::flistxattr(&fd, &mut names[..]) else { return Vec::new() };
    names.truncate(n);
    let mut out = Vec::new();
    let mut v = vec![0u8; XATTR_MAX];
    for name in names.split(|&b| b == 0).filter(|n| !n.is_empty()) {
        if !xattr_kept(name) {
            continue;
        }
        let Ok(key) = std::str::from_utf8(name) else { continue };
        let Ok(len) = rustix::fs::fgetxattr(&fd, os(name), &mut v[..]) else { continue };
        out.push((key.to_owned(), v[..len].to_vec()));
    }
    out.sort();
    out
}

struct Walk<'a, W: Write> {
    b: tar::Builder<W>,
    o: &'a Opts,
    sum: Summary,
    links: HashMap<(u64, u64), Vec<u8>>,
}

impl<W: Write> Walk<'_, W> {
    fn header(&self, st: &rustix::fs::Stat, kind: tar::EntryType) -> tar::Header {
        let mut h = tar::Header::new_gnu();
        h.set_entry_type(kind);
        h.set_mode(st.st_mode & 0o7777);
        h.set_uid(u64::from(st.st_uid));
        h.set_gid(u64::from(st.st_gid));
        let mut mtime = st.st_mtime;
        if let Some(c) = self.o.mtime_clamp {
            mtime = mtime.min(c);
        }
        h.set_mtime(u64::try_from(mtime).unwrap_or(0));
        h.set_size(0);
        h
    }

    fn pax(&mut self, xattrs: &[(String, Vec<u8>)]) -> io::Result<()> {
        if xattrs.is_empty() {
            return Ok(());
        }
        let recs: Vec<(String, &[u8])> =
            xattrs.iter().map(|(k, v)| (format!("SCHILY.xattr.{k}"), v.as_slice())).collect();
        self.b.append_pax_extensions(recs.iter().map(|(k, v)| (k.as_str(), *v)))?;
        self.sum.xattrs += xattrs.len() as u64;
        Ok(())
    }

    fn dir(&mut self, dir: &OwnedFd, prefix: &[u8], top: bool) -> Result<(), Fail> {
        let shown = |n: &[u8]| String::from_utf8_lossy(&[prefix, n].concat()).into_owned();
        let names = safefs::list_dir(dir).map_err(|e| sys(e, format!("read {}", shown(b""))))?;
        for name in names {
            let path = [prefix, &name].concat();
            if whiteout::is_private(&name) && !whiteout::is_opaque_marker(&name) {
                if top {
                    self.sum.skipped.push(format!("{}: rfs's private name", shown(&name)));
                } else {
                    self.sum.skipped.push(format!("{}: a private .wh..wh. name", shown(&name)));
                }
                continue;
            }
            let st = rustix::fs::statat(dir, os(&name), AtFlags::SYMLINK_NOFOLLOW)
                .map_err(|e| sys(e, format!("stat {}", shown(&name))))?;
            if self.o.skip.contains(&(st.st_dev, st.st_ino)) {
                self.sum.skipped.push(format!("{}: the union's xino file", shown(&name)));
                continue;
            }
            let ft = FileType::from_raw_mode(st.st_mode);
            let ppath = Path::new(os(&path));
            let io_err = |e: io::Error| io_fail(e, &shown(&name));
            let marker = whiteout::is_opaque_marker(&name);
            let wh = whiteout::whiteout_target(&name).is_some();
            if marker || wh {
                // Whiteouts and markers of any type go as empty files.
                let mut h = self.header(&st, tar::EntryType::Regular);
                if ft != FileType::RegularFile {
                    h.set_mode(0o644);
                }
                self.b.append_data(&mut h, ppath, io::empty()).map_err(io_err)?;
                if marker {
                    self.sum.opaque += 1;
                } else {
                    self.sum.whiteouts += 1;
                }
                self.sum.entries += 1;
                continue;
            }
            match ft {
                FileType::Directory => {
                    let sub = safefs::open_dir_at(dir, &name).map_err(|e| sys(e, format!("open {}", shown(&name))))?;
                    let x = xattrs_of(&sub);
                    self.pax(&x).map_err(io_err)?;
                    let mut h = self.header(&st, tar::EntryType::Directory);
                    let mut dpath = path.clone();
                    dpath.push(b'/');
                    self.b.append_data(&mut h, Path::new(os(&dpath)), io::empty()).map_err(io_err)?;
                    self.sum.dirs += 1;
                    self.sum.entries += 1;
                    self.dir(&sub, &dpath, false)?;
                }
                FileType::RegularFile => {
                    if st.st_nlink > 1 {
                        if let Some(first) = self.links.get(&(st.st_dev, st.st_ino)) {
                            let mut h = self.header(&st, tar::EntryType::Link);
                            let first = first.clone();
                            self.b.append_link(&mut h, ppath, Path::new(os(&first))).map_err(io_err)?;
                            self.sum.hardlinks += 1;
                            self.sum.entries += 1;
                            continue;
                        }
                        self.links.insert((st.st_dev, st.st_ino), path.clone());
                    }
                    let fd = rustix::fs::openat(
                        dir,
                        os(&name),
                        OFlags::RDONLY | OFlags::NOFOLLOW | OFlags::CLOEXEC | OFlags::NOATIME,
                        Mode::empty(),
                    )
                    .or_else(|_| {
                        rustix::fs::openat(dir, os(&name), OFlags::RDONLY | OFlags::NOFOLLOW | OFlags::CLOEXEC, Mode::empty())
                    })
                    .map_err(|e| sys(e, format!("open {}", shown(&name))))?;
                    let x = xattrs_of(&fd);
                    self.pax(&x).map_err(io_err)?;
                    let mut h = self.header(&st, tar::EntryType::Regular);
                    let size = u64::try_from(st.st_size).unwrap_or(0);
                    h.set_size(size);
                    let f = std::fs::File::from(fd);
                    // The size in the header is what was stat'ed: a file
                    // that changes meanwhile is cut or padded to it.
                    let mut r = io::Read::take(io::Read::chain(io::Read::take(f, size), io::repeat(0)), size);
                    self.b.append_data(&mut h, ppath, &mut r).map_err(io_err)?;
                    self.sum.files += 1;
                    self.sum.bytes += size;
                    self.sum.entries += 1;
                }
                FileType::Symlink => {
                    let target = rustix::fs::readlinkat(dir, os(&name), Vec::new())
                        .map_err(|e| sys(e, format!("readlink {}", shown(&name))))?;
                    let mut h = self.header(&st, tar::EntryType::Symlink);
                    self.b.append_link(&mut h, ppath, Path::new(os(target.as_bytes()))).map_err(io_err)?;
                    self.sum.symlinks += 1;
                    self.sum.entries += 1;
                }
                FileType::Fifo | FileType::CharacterDevice | FileType::BlockDevice => {
                    let kind = match ft {
                        FileType::Fifo => tar::EntryType::Fifo,
                        FileType::CharacterDevice => tar::EntryType::Char,
                        _ => tar::EntryType::Block,
                    };
                    let mut h = self.header(&st, kind);
                    if kind != tar::EntryType::Fifo {
                        h.set_device_major(rustix::fs::major(st.st_rdev)).map_err(io_err)?;
                        h.set_device_minor(rustix::fs::minor(st.st_rdev)).map_err(io_err)?;
                    }
                    self.b.append_data(&mut h, ppath, io::empty()).map_err(io_err)?;
                    self.sum.special += 1;
                    self.sum.entries += 1;
                }
                _ => {
                    self.sum.skipped.push(format!("{}: a socket", shown(&name)));
                }
            }
        }
        Ok(())
    }
}

/// Writes the layer of `branch` to `w`. Returns the summary and `w`.
pub fn write_layer<W: Write>(branch: &Path, w: W, c: Compression, o: &Opts) -> Result<(Summary, W), Fail> {
    let root = safefs::Root::open(branch).map_err(|e| sys(e, branch.display().to_string()))?;
    let outer = HashWriter::new(w);
    let z = Compressor::new(outer, c).map_err(|e| io_fail(e, "compressor"))?;
    let inner = HashWriter::new(z);
    let mut b = tar::Builder::new(inner);
    b.mode(tar::HeaderMode::Complete);
    let mut walk = Walk { b, o, sum: Summary::default(), links: HashMap::new() };
    walk.dir(root.fd(), b"", true)?;
    let Walk { b, mut sum, .. } = walk;
    let inner = b.into_inner().map_err(|e| io_fail(e, "tar"))?;
    let (diff_id, _, z) = inner.finish();
    let outer = z.finish().map_err(|e| io_fail(e, "compressor"))?;
    let (digest, size, mut w) = outer.finish();
    w.flush().map_err(|e| io_fail(e, "output"))?;
    sum.branch = branch.display().to_string();
    sum.compression = format!("{c:?}").to_lowercase();
    sum.media_type = c.media_type().to_owned();
    sum.digest = digest;
    sum.size = size;
    sum.diff_id = diff_id;
    let plnk = branch.join(String::from_utf8_lossy(whiteout::PLINK_DIR_NAME).as_ref());
    sum.pseudo_links = std::fs::read_dir(plnk).map(|d| d.count() as u64).unwrap_or(0);
    Ok((sum, w))
}

/// The branch to read for SOURCE: the top rw branch of the union mounted
/// there, or SOURCE itself; and what to leave out (the xino file).
pub fn resolve(source: &Path) -> Result<(PathBuf, Opts), Fail> {
    let canon = std::fs::canonicalize(source).map_err(|e| io_fail(e, &source.display().to_string()))?;
    let mounts = mountinfo::read().map_err(|e| io_fail(e, "/proc/self/mountinfo"))?;
    let mut o = Opts::default();
    if let Some(m) = mounts.iter().rev().find(|m| m.mount_point == canon && m.is_union()) {
        let u = crate::union::describe(m, Path::new(crate::sysfs::SYSFS_ROOT));
        let Some(rw) = u.rw_branch() else {
            return Err(refuse(Errno::ROFS, format!("{}: the union has no rw branch", source.display())));
        };
        if let Some(x) = u.xino_path.as_deref().filter(|x| !x.is_empty()) {
            if let Ok(st) = rustix::fs::stat(x) {
                o.skip.push((st.st_dev, st.st_ino));
            }
        }
        return Ok((PathBuf::from(&rw.path), o));
    }
    let holder = mounts.iter().filter(|m| canon.starts_with(&m.mount_point)).max_by_key(|m| m.mount_point.as_os_str().len());
    if let Some(m) = holder.filter(|m| m.is_union()) {
        return Err(refuse(
            Errno::INVAL,
            format!(
                "{}: inside the union mounted at {}; give its mount point or a branch directory",
                source.display(),
                m.mount_point.display()
            ),
        ));
    }
    if !canon.is_dir() {
        return Err(refuse(Errno::NOTDIR, format!("{}: not a directory", source.display())));
    }
    Ok((canon, o))
}

/// `rfsctl diff`: SOURCE to OUTPUT.
pub fn run(source: &Path, output: &Path, c: Option<Compression>, clamp: Option<i64>) -> Result<Summary, Fail> {
    let (branch, mut o) = resolve(source)?;
    o.mtime_clamp = clamp;
    let to_stdout = output.as_os_str() == "-";
    let c = c.unwrap_or_else(|| if to_stdout { Compression::None } else { Compression::of_name(&output.to_string_lossy()) });
    let mut sum = if to_stdout {
        let out = io::BufWriter::new(io::stdout().lock());
        write_layer(&branch, out, c, &o)?.0
    } else {
        let abs = std::path::absolute(output).map_err(|e| io_fail(e, &output.display().to_string()))?;
        let parent = abs.parent().unwrap_or(Path::new("/"));
        let cparent = std::fs::canonicalize(parent).map_err(|e| io_fail(e, &parent.display().to_string()))?;
        if cparent.starts_with(&branch) {
            return Err(refuse(
                Errno::INVAL,
                format!("{}: inside the branch {} that is being read", output.display(), branch.display()),
            ));
        }
        let name = abs.file_name().map(|n| n.to_string_lossy().into_owned()).unwrap_or_default();
        let tmp = cparent.join(format!(".{name}.rfsctl-{}", std::process::id()));
        let f = std::fs::File::create(&tmp).map_err(|e| io_fail(e, &tmp.display().to_string()))?;
        let r = write_layer(&branch, io::BufWriter::new(f), c, &o).and_then(|(s, w)| {
            let f = w.into_inner().map_err(|e| io_fail(e.into_error(), "output"))?;
            f.sync_all().map_err(|e| io_fail(e, "output"))?;
            std::fs::rename(&tmp, cparent.join(&name)).map_err(|e| io_fail(e, &output.display().to_string()))?;
            Ok(s)
        });
        if r.is_err() {
            let _ = std::fs::remove_file(&tmp);
        }
        r?
    };
    sum.output = output.display().to_string();
    Ok(sum)
}

/// The human summary.
pub fn report(s: &Summary) -> String {
    let mut t = format!(
        "{}: {} entries from {} ({} files, {} dirs, {} symlinks, {} hard links, {} whiteouts, {} opaque, {} bytes)\n  \
         digest {} ({}, {} bytes)\n  diff_id {}\n",
        s.output,
        s.entries,
        s.branch,
        s.files,
        s.dirs,
        s.symlinks,
        s.hardlinks,
        s.whiteouts,
        s.opaque,
        s.bytes,
        s.digest,
        s.compression,
        s.size,
        s.diff_id
    );
    if s.pseudo_links > 0 {
        t.push_str(&format!(
            "  warning: {} pseudo-links not flushed (run rfsctl plink flush on the union first)\n",
            s.pseudo_links
        ));
    }
    t
}
