//! The command line (clap derive). The man pages in Documentation/man/ are
//! generated from these definitions (`rfsctl man --dir Documentation/man`).

use clap::{Args, Parser, Subcommand};
use std::ffi::OsString;
use std::path::PathBuf;

/// Inspect and manage rfs union mounts.
///
/// rfsctl lists rfs unions with their branches and counters, mounts unions
/// of any number of branches through the new mount API, adds and removes
/// branches of a live union, tells which processes hold a branch, and runs
/// the pseudo-link flush. It is also
/// installed as `mount.rfs` (the mount(8) helper for `-t rfs`) and as
/// `auplink` (AUFS's pseudo-link tool: `auplink MNT flush|list|cpup`).
#[derive(Debug, Parser)]
#[command(name = "rfsctl", version, propagate_version = true, max_term_width = 100)]
pub struct Cli {
    /// The command.
    #[command(subcommand)]
    pub cmd: Cmd,
}

/// rfsctl's subcommands.
#[derive(Debug, Subcommand)]
pub enum Cmd {
    /// List rfs unions (and aufs-typed ones) with branches, options, counters.
    List(ListArgs),
    /// Mount a union of any number of branches.
    Mount(MountArgs),
    /// Change the branches of a mounted union (a remount through fspick).
    #[command(subcommand)]
    Branch(BranchCmd),
    /// Pseudo-links: flush them into the writable branch, or show them.
    #[command(subcommand)]
    Plink(PlinkCmd),
    /// Which processes hold a branch: working and root directories, open
    /// files and mappings in it (what AUFS's auibusy and verbose del told).
    Busy(BusyArgs),
    /// Unpack a container image (docker save, OCI layout) into a directory
    /// per layer, and mount the stack.
    Import(ImportArgs),
    /// Write the changes of a writable branch as an OCI layer tar.
    Diff(DiffArgs),
    /// Check branches offline: leftover temporaries, useless whiteouts,
    /// orphan pseudo-links, a stale xino file (what AUFS's auchk did).
    Check(CheckArgs),
    /// Print a shell completion script.
    Completions {
        /// The shell.
        shell: clap_complete::Shell,
    },
    /// Write rfsctl's man pages (rfsctl.1, rfsctl-SUBCOMMAND.1).
    Man {
        /// Directory to write them to.
        #[arg(long, default_value = ".")]
        dir: PathBuf,
    },
}

/// `rfsctl list`.
#[derive(Debug, Args)]
pub struct ListArgs {
    /// Only the union mounted here.
    pub mount: Option<PathBuf>,
    /// Print JSON (an array of unions).
    #[arg(long)]
    pub json: bool,
}

/// `rfsctl mount`.
#[derive(Debug, Args)]
#[command(after_help = "\
A BRANCH is PATH[=PERM] (PERM: rw, ro, ro+wh, rr, with AUFS's +attributes); \
the first is the top. Without a permission the top branch is rw and the \
others ro (rr on a read-only filesystem). Branches may also come from \
-o dirs=... in rfs's option syntax. Any number of branches works: they are \
passed as fsconfig(2) keys (dirs= and then append= for those that do not fit \
in one value), not as one mount(2) page.

Examples:
  rfsctl mount /upper /lower1 /lower2 /mnt
  rfsctl mount -o ro,udba=none --branches-from layers.txt /mnt")]
pub struct MountArgs {
    /// Options: rfs's (udba=, xino=, dirs=, ...) and generic ones (ro,
    /// nosuid, nodev, noexec, noatime, relatime, ...), comma-separated.
    #[arg(short = 'o', long = "options", value_name = "OPTS")]
    pub options: Vec<String>,
    /// Read the branches from FILE: one PATH[=PERM] a line, top first
    /// (# comments and empty lines are skipped; - is standard input).
    #[arg(long, value_name = "FILE")]
    pub branches_from: Option<PathBuf>,
    /// Show the fsconfig(2) calls and the kernel's messages.
    #[arg(short, long)]
    pub verbose: bool,
    /// BRANCH... MOUNTPOINT (only MOUNTPOINT with --branches-from or -o dirs=).
    #[arg(required = true, value_name = "BRANCH... MOUNTPOINT")]
    pub args: Vec<OsString>,
}

/// `rfsctl branch ...`.
#[derive(Debug, Subcommand)]
pub enum BranchCmd {
    /// Add branches at the bottom, in the order given.
    Append(BranchList),
    /// Add branches on top; the first one given ends up on top.
    Prepend(BranchList),
    /// Insert branches at INDEX (0 = top); the first one given gets INDEX.
    Add {
        /// The union's mount point.
        mount: PathBuf,
        /// Where the first new branch goes.
        index: usize,
        /// PATH[=PERM] each.
        #[arg(required = true)]
        branches: Vec<OsString>,
        /// Print the new state as JSON.
        #[arg(long)]
        json: bool,
    },
    /// Remove branches (any spelling of their root works).
    Del {
        /// The union's mount point.
        mount: PathBuf,
        /// The branch roots.
        #[arg(required = true)]
        paths: Vec<OsString>,
        /// Print the new state as JSON.
        #[arg(long)]
        json: bool,
    },
    /// Change branch permissions.
    Mod {
        /// The union's mount point.
        mount: PathBuf,
        /// PATH=PERM each.
        #[arg(required = true)]
        branches: Vec<OsString>,
        /// Print the new state as JSON.
        #[arg(long)]
        json: bool,
    },
}

/// A union and branches to add.
#[derive(Debug, Args)]
pub struct BranchList {
    /// The union's mount point.
    pub mount: PathBuf,
    /// PATH[=PERM] each.
    #[arg(required = true)]
    pub branches: Vec<OsString>,
    /// Print the new state as JSON.
    #[arg(long)]
    pub json: bool,
}

/// `rfsctl plink ...`.
#[derive(Debug, Subcommand)]
pub enum PlinkCmd {
    /// Make every name of each copied-up hard-linked file a real hard link
    /// in the writable branch and remove the pseudo-links (what AUFS's
    /// `auplink MNT flush` did; run it before committing the writable branch).
    Flush {
        /// The union's mount point.
        mount: PathBuf,
        /// Print JSON.
        #[arg(long)]
        json: bool,
    },
    /// The plink epoch and the number of pseudo-links.
    Info {
        /// The union's mount point.
        mount: PathBuf,
        /// Print JSON.
        #[arg(long)]
        json: bool,
    },
    /// The pseudo-links in the writable branch, one path a line.
    List {
        /// The union's mount point.
        mount: PathBuf,
        /// Print JSON.
        #[arg(long)]
        json: bool,
    },
}

/// `rfsctl busy`.
#[derive(Debug, Args)]
#[command(after_help = "\
BRANCH is a branch of the union: its root directory, however spelt (a \
relative path, a trailing slash, a symlink to it: what rfsctl branch del \
takes), or #INDEX (its position, 0 on top) or id:ID (its branch id), as \
rfsctl list shows them. Quote #INDEX in a shell; give a directory named \
like those as ./#1.

Every process in /proc but rfsctl itself is looked at: its working \
directory (cwd), its root directory (root), each open file descriptor \
(fd N) and each file mapping (mmap). They count when they are objects of \
the union (its st_dev); a mapping's object is reached through \
/proc/PID/map_files (root only; also a deleted file), else its path. Regular files and directories \
are opened read-only (O_NONBLOCK, nothing read; through an O_PATH file \
first, so nothing else is ever opened) and asked for their branches with \
rfs's RFS_IOC_MEMBERS ioctl. A file holds BRANCH when its top member is \
there, a directory when any of its members is. A mapping holds the branch \
whose file it maps, which the ioctl tells: a mapping made before a \
copy-up still maps the lower file (when the object was mapped both before \
and after its copy-up, each mapping is listed for both branches). FIFOs, \
sockets, device nodes and symlinks are never opened: they are listed as \
\"not checked\", as are objects the ioctl fails on.

rfs refuses to delete a branch (EBUSY) while files in it are open or \
mapped; a working directory in it does not keep it, but the process then \
sees the directory's old contents until it leaves it.

Not as root, only the processes that this user may inspect (ptrace \
access to /proc/PID/fd and /proc/PID/maps) are looked at, and a note on \
standard error says how many were not. Processes that exit meanwhile are \
skipped.

Exit status: 0 something holds BRANCH, 1 nothing does (as grep), 2 bad \
usage (MOUNT is no rfs mount, BRANCH none of its branches), else the errno \
of what failed: 25 (ENOTTY) when the rfs module loaded is older than \
rfsctl and has no RFS_IOC_MEMBERS.

Examples:
  rfsctl busy /mnt/u /srv/layers/1
  rfsctl busy --json /mnt/u '#2'
  rfsctl busy /mnt/u id:65 || rfsctl branch del /mnt/u /srv/layers/1")]
pub struct BusyArgs {
    /// The union's mount point.
    pub mount: PathBuf,
    /// The branch: its root (any spelling), #INDEX or id:ID.
    pub branch: OsString,
    /// Print JSON (an array of objects: pid, command, what, fd, path,
    /// type, holds, checked, branches, upper, note).
    #[arg(long)]
    pub json: bool,
}

/// `rfsctl import`.
#[derive(Debug, Args)]
#[command(after_help = "\
IMAGE is a `docker save` tar (manifest.json and layer tars), an OCI image \
layout as a directory or a tar (oci-layout, index.json, blobs/sha256/...), or \
such a tar compressed with gzip or zstd. Layers may be plain, gzip or zstd \
tars. The size and sha256 digest of every blob and the config's diff_ids are \
checked; a mismatch is refused.

DIR gets: layers/0 (the bottom layer) .. layers/N-1 (the top one), each \
holding the layer's files with its whiteouts (.wh.NAME) and opaque markers \
(.wh..wh..opq) as they are, which rfs reads in ro+wh branches; upper/ (the \
rw branch); config.json; image.json (what was imported, with digests); \
branches (the branch list, top first, for rfsctl mount --branches-from). \
Then the mount of the stack is printed, or done with --mount:

  br:DIR/upper=rw:DIR/layers/N-1=ro+wh:...:DIR/layers/0=ro+wh

With --layer, IMAGE is one layer tar (as rfsctl diff writes it, - for \
standard input), added on top as layers/N.

Refused, with nothing written outside DIR and what this run made in DIR \
removed: absolute paths and '..' (exit status 22, EINVAL), entries beneath \
a symlink (40, ELOOP), hard links to what is not an earlier file of the \
layer (18, EXDEV), names given twice and other odd entries (22), device \
nodes when not root (1, EPERM), more than --max-size or --max-entries \
(27, EFBIG), a digest mismatch (74, EBADMSG), DIR/layers already filled \
(17, EEXIST). Owners are set when run as root; modes, times, symlinks, \
hard links, FIFOs and extended attributes (PAX SCHILY.xattr.*) always, as \
far as the filesystem takes them.

Examples:
  rfsctl import busybox.tar /var/lib/stacks/bb
  rfsctl import --mount /mnt/bb oci-dir /var/lib/stacks/bb
  rfsctl diff /mnt/bb -o change.tar.gz && rfsctl import --layer change.tar.gz /var/lib/stacks/bb")]
pub struct ImportArgs {
    /// The image (file or directory); with --layer a layer tar or -.
    pub image: PathBuf,
    /// The directory to unpack into (made if missing).
    pub dir: PathBuf,
    /// IMAGE is one layer tar: add it on top of DIR's layers.
    #[arg(long)]
    pub layer: bool,
    /// Mount the stack here afterwards.
    #[arg(long, value_name = "MNT")]
    pub mount: Option<PathBuf>,
    /// More options for --mount (udba=, xino=, ro, nosuid, ...).
    #[arg(short = 'o', long = "options", value_name = "OPTS", requires = "mount")]
    pub options: Vec<String>,
    /// Which image of several: an OCI ref name or a docker RepoTag.
    #[arg(long = "ref", value_name = "NAME")]
    pub reference: Option<String>,
    /// Which platform of a multi-platform index (default linux/<this arch>).
    #[arg(long, value_name = "OS/ARCH")]
    pub platform: Option<String>,
    /// The most bytes the uncompressed layers may have together (K, M, G, T).
    #[arg(long, value_name = "SIZE", default_value = "64G", value_parser = crate::import::parse_size)]
    pub max_size: u64,
    /// The most entries one layer may have.
    #[arg(long, value_name = "N", default_value_t = 10_000_000)]
    pub max_entries: u64,
    /// Print JSON (what DIR/image.json holds).
    #[arg(long)]
    pub json: bool,
}

/// `rfsctl diff`.
#[derive(Debug, Args)]
#[command(after_help = "\
SOURCE is an rfs mount (its top rw branch is read, found in /sys/fs/rfs or \
the mount options) or a branch directory. The layer holds, in sorted order: \
directories, regular files, symlinks, FIFOs and device nodes with mode, \
owner and mtime; extended attributes as PAX SCHILY.xattr records; every \
further name of a hard-linked file as a tar hard link to the first; \
whiteouts (.wh.NAME) and opaque markers (.wh..wh..opq) as empty files. \
rfs's private names are left out: the work directory .wh..wh.orph, the \
pseudo-link directory .wh..wh.plnk, .wh..wh.aufs, the default xino file \
.wh..wh.xino and any other .wh..wh. name, and the xino file of the mount \
if it lies in the branch. Sockets are skipped. Pseudo-links not flushed \
(rfsctl plink flush) are warned about: the names that only they stand for \
are missing from the layer.

The same tree gives the same bytes (names sorted, no user or group names, \
gzip without a time stamp); --mtime-clamp caps every mtime. The digest of \
the output and of the uncompressed tar (OCI's diff_id) are printed.

Examples:
  rfsctl diff /mnt/bb -o change.tar.zst
  rfsctl diff --mtime-clamp 0 /var/lib/stacks/bb/upper -o - | gzip > l.tgz")]
pub struct DiffArgs {
    /// The union's mount point, or a branch directory.
    pub source: PathBuf,
    /// The output: FILE (.tar, .tar.gz/.tgz, .tar.zst) or - for stdout.
    #[arg(short = 'o', long = "output", value_name = "FILE")]
    pub output: PathBuf,
    /// The compression (default from FILE's name; none for -).
    #[arg(long, value_enum)]
    pub compression: Option<crate::stream::Compression>,
    /// Cap every mtime at this time (seconds since the epoch).
    #[arg(long, value_name = "SECONDS")]
    pub mtime_clamp: Option<i64>,
    /// Print the summary as JSON (to stderr when the layer goes to stdout).
    #[arg(long)]
    pub json: bool,
}

/// `rfsctl check`.
#[derive(Debug, Args)]
#[command(after_help = "\
BRANCH is PATH[=PERM], top first, as rfsctl mount takes them; without a \
permission the first is rw and the others ro+wh. Give the whole stack: a \
whiteout hides nothing only if no branch below has the name.

Found (each a line, or an object with --json):
  leftover       what an interrupted copy-up or rmdir left in the work \
directory .wh..wh.orph of an rw branch (rfs removes it at the next mount)
  whiteout       a whiteout .wh.NAME with no NAME in any branch below
  shadowed       a whiteout beside a real NAME in the same branch (a crash \
between making the name and removing its whiteout)
  orphan         a pseudo-link in .wh..wh.plnk with no other name, whose \
lower file is in no branch below
  xino           a default xino file .wh..wh.xino that is not rfs's, or does \
not replay (rfs would start it afresh), or in a branch that is not the top \
rw one
  foreign        a name in .wh..wh.plnk that is not a pseudo-link

--fix removes them in rw branches (a whiteout beside a directory becomes \
an opaque marker in it first, so the view stays the same); it refuses to \
run (exit status 16, EBUSY) while a branch is part of a mounted rfs union \
(/proc/self/mountinfo, /sys/fs/rfs). Exit status: 0 nothing found (or all \
fixed), 1 something found, else the errno of what failed.

Examples:
  rfsctl check /var/lib/stacks/bb/upper /var/lib/stacks/bb/layers/1 /var/lib/stacks/bb/layers/0
  rfsctl check --fix --json $(sed -n '/^[^#]/p' /var/lib/stacks/bb/branches)")]
pub struct CheckArgs {
    /// The branches, top first: PATH[=PERM].
    #[arg(required = true)]
    pub branches: Vec<OsString>,
    /// Repair what is found (rw branches only; never on a mounted union).
    #[arg(long)]
    pub fix: bool,
    /// Print JSON.
    #[arg(long)]
    pub json: bool,
}

/// `mount.rfs SOURCE DIR [-o OPTS]`, as mount(8) runs a helper.
#[derive(Debug, Parser)]
#[command(name = "mount.rfs", version, about = "mount(8) helper for rfs (rfsctl mount)")]
pub struct MountHelper {
    /// The source (ignored by rfs; `none` by convention).
    pub source: OsString,
    /// The mount point.
    pub dir: PathBuf,
    /// Mount options (the branches as dirs=...).
    #[arg(short = 'o', value_name = "OPTS")]
    pub options: Vec<String>,
    /// Sloppy: accepted, ignored.
    #[arg(short = 's')]
    pub sloppy: bool,
    /// Fake: check everything, mount nothing.
    #[arg(short = 'f')]
    pub fake: bool,
    /// No mtab: accepted, ignored.
    #[arg(short = 'n')]
    pub no_mtab: bool,
    /// Verbose.
    #[arg(short = 'v')]
    pub verbose: bool,
    /// The type (rfs or rfs.SUBTYPE).
    #[arg(short = 't', value_name = "TYPE")]
    pub fstype: Option<String>,
}
