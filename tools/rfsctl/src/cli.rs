//! The command line (clap derive). The man pages in Documentation/man/ are
//! generated from these definitions (`rfsctl man --dir Documentation/man`).

use clap::{Args, Parser, Subcommand};
use std::ffi::OsString;
use std::path::PathBuf;

/// Inspect and manage rfs union mounts.
///
/// rfsctl lists rfs unions with their branches and counters, mounts unions
/// of any number of branches through the new mount API, adds and removes
/// branches of a live union, and runs the pseudo-link flush. It is also
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
