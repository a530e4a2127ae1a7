//! rfsctl: the command-line tool of the rfs union filesystem.
//!
//! One binary, three names (argv[0]): `rfsctl`, `mount.rfs` (the mount(8)
//! helper) and `auplink` (AUFS's pseudo-link tool). See `rfsctl --help`,
//! the man pages in Documentation/man/ and README.md.

mod busy;
mod check;
mod cli;
mod diff;
mod fsctx;
mod image;
mod import;
mod layer;
mod man;
mod mountinfo;
mod plan;
mod plink;
mod safefs;
mod stream;
mod sysfs;
#[cfg(test)]
mod tests_layers;
mod union;

use clap::{CommandFactory, Parser};
use cli::{BranchCmd, BusyArgs, CheckArgs, Cli, Cmd, DiffArgs, ImportArgs, MountArgs, MountHelper, PlinkCmd};
use plan::{BranchArg, BranchOp, MountOpts};
use rustix::io::Errno;
use std::ffi::{OsStr, OsString};
use std::io::Write as _;
use std::os::unix::ffi::OsStrExt;
use std::path::{Path, PathBuf};
use std::process::ExitCode;

/// A failure: what was being done, the error number if any, and the
/// messages the kernel left in the fs_context log.
#[derive(Debug)]
pub struct Fail {
    /// What went wrong.
    pub msg: String,
    /// The error number, if a system call failed.
    pub errno: Option<i32>,
    /// The fs_context log ("e ...", "w ...", "i ...").
    pub kernel_log: Vec<String>,
    /// A usage error (bad arguments, not an rfs mount).
    pub usage: bool,
    /// The exit status, when the command sets one (import, diff and
    /// check exit with the errno of what failed).
    pub exit: Option<i32>,
}

/// A system error's text without std's " (os error N)".
fn strerror(code: i32) -> String {
    let s = std::io::Error::from_raw_os_error(code).to_string();
    match s.find(" (os error") {
        Some(i) => s[..i].to_owned(),
        None => s,
    }
}

impl Fail {
    /// A failed system call.
    pub fn errno(e: Errno, what: String) -> Fail {
        let code = e.raw_os_error();
        Fail { msg: format!("{what}: {}", strerror(code)), errno: Some(code), kernel_log: Vec::new(), usage: false, exit: None }
    }

    /// A failed std I/O call.
    pub fn io(e: std::io::Error, what: String) -> Fail {
        match e.raw_os_error() {
            Some(code) => Fail::errno(Errno::from_raw_os_error(code), what),
            None => Fail { msg: format!("{what}: {e}"), errno: None, kernel_log: Vec::new(), usage: false, exit: None },
        }
    }

    /// Bad input.
    pub fn usage(msg: String) -> Fail {
        Fail { msg, errno: None, kernel_log: Vec::new(), usage: true, exit: None }
    }

    fn report(&self, prog: &str) {
        eprintln!("{prog}: {}", self.msg);
        for l in &self.kernel_log {
            eprintln!("{prog}: {}", kernel_line(l));
        }
    }
}

impl From<plan::PlanError> for Fail {
    fn from(e: plan::PlanError) -> Fail {
        Fail::usage(e.0)
    }
}

/// A line of the fs_context log for people: "e rfs: ..." -> "kernel: error: rfs: ...".
fn kernel_line(l: &str) -> String {
    let (kind, text) = match l.split_once(' ') {
        Some(("e", t)) => ("error", t),
        Some(("w", t)) => ("warning", t),
        Some(("i", t)) => ("info", t),
        _ => ("", l),
    };
    if kind.is_empty() {
        format!("kernel: {text}")
    } else {
        format!("kernel: {kind}: {text}")
    }
}

type Res<T = ()> = Result<T, Fail>;

fn print_json<T: serde::Serialize>(v: &T) -> Res {
    let s = serde_json::to_string_pretty(v).map_err(|e| Fail::usage(format!("JSON: {e}")))?;
    // A closed pipe (`| head`) is no failure of rfsctl's.
    let _ = writeln!(std::io::stdout(), "{s}");
    Ok(())
}

// ---------------------------------------------------------------------------
// list

fn cmd_list(mount: Option<&Path>, json: bool) -> Res {
    let mut unions = union::all()?;
    if let Some(p) = mount {
        let m = union::find(p)?;
        unions.retain(|u| u.mount_point == m.mount_point);
        // Over-mounted: show the top one.
        if unions.len() > 1 {
            unions.drain(..unions.len() - 1);
        }
    }
    if json {
        return print_json(&unions);
    }
    if unions.is_empty() {
        println!("no rfs unions mounted");
    }
    for (i, u) in unions.iter().enumerate() {
        if i > 0 {
            println!();
        }
        print!("{}", union::table(u));
    }
    Ok(())
}

// ---------------------------------------------------------------------------
// mount

/// A directory that must exist (a branch or a mount point).
fn check_dir(what: &str, p: &Path) -> Res {
    match std::fs::metadata(p) {
        Ok(m) if m.is_dir() => Ok(()),
        Ok(_) => Err(Fail::usage(format!("{what} {}: not a directory", p.display()))),
        Err(e) => Err(Fail::io(e, format!("{what} {}", p.display()))),
    }
}

fn check_branch_dirs(branches: &[BranchArg]) -> Res {
    for b in branches {
        check_dir("branch", Path::new(OsStr::from_bytes(&b.path)))?;
    }
    Ok(())
}

fn branch_args(list: &[OsString]) -> Res<Vec<BranchArg>> {
    list.iter().map(|a| BranchArg::parse(a.as_bytes()).map_err(Fail::from)).collect()
}

/// What a mount asks for, however it was given.
struct MountRequest {
    opts: MountOpts,
    branches: Vec<BranchArg>,
    target: PathBuf,
    verbose: bool,
    fake: bool,
}

fn do_mount(r: MountRequest) -> Res {
    check_dir("mount point", &r.target)?;
    if r.opts.remount {
        return do_remount_opts(&r);
    }
    plan::check_branches(&r.branches)?;
    check_branch_dirs(&r.branches)?;
    let mut params = plan::branch_params(&r.branches)?;
    params.extend(r.opts.params.iter().cloned());
    if r.opts.attrs.rdonly {
        params.push(plan::Param { key: "ro".into(), value: None });
    }
    if r.verbose {
        for p in &params {
            eprintln!("rfsctl: fsconfig {p}");
        }
    }
    if r.fake {
        return Ok(());
    }
    let mut fc = fsctx::FsContext::open("rfs")?;
    for p in &params {
        fc.set(p)?;
    }
    fc.create_and_mount(&r.opts.attrs, &r.target)?;
    if r.verbose {
        for l in &fc.log {
            eprintln!("rfsctl: {}", kernel_line(l));
        }
        eprintln!("rfsctl: mounted {} branches on {}", r.branches.len(), r.target.display());
    }
    Ok(())
}

/// `-o remount,...` (mount.rfs): the options applied to the union at DIR.
fn do_remount_opts(r: &MountRequest) -> Res {
    let m = union::find(&r.target)?;
    let mut params = Vec::new();
    if let Some(b) = r.opts.branches.as_ref() {
        let t = b.iter().map(BranchArg::to_option_text).collect::<Vec<_>>().join(":");
        if t.len() > plan::FSCONFIG_VALUE_MAX {
            return Err(Fail::usage(
                "remount with a dirs= longer than 255 bytes: use rfsctl branch append/del instead".into(),
            ));
        }
        params.push(plan::Param { key: "dirs".into(), value: Some(t) });
    }
    params.extend(r.opts.params.iter().cloned());
    if r.opts.attrs.rdonly {
        params.push(plan::Param { key: "ro".into(), value: None });
    } else if r.opts.rw {
        params.push(plan::Param { key: "rw".into(), value: None });
    }
    if r.fake {
        return Ok(());
    }
    reconfigure(&m.mount_point, &params, r.verbose)
}

fn reconfigure(mount_point: &Path, params: &[plan::Param], verbose: bool) -> Res {
    let mut fc = fsctx::FsContext::pick(mount_point)?;
    for p in params {
        if verbose {
            eprintln!("rfsctl: fsconfig {p}");
        }
        fc.set(p)?;
    }
    fc.reconfigure().map_err(|mut f| {
        if f.errno == Some(Errno::BUSY.raw_os_error()) {
            f.msg.push_str(
                " (a branch to delete has files open or mapped, or one losing rw has files open for writing; \
                 close them and retry)",
            );
        }
        f
    })?;
    if verbose {
        for l in &fc.log {
            eprintln!("rfsctl: {}", kernel_line(l));
        }
    }
    Ok(())
}

fn cmd_mount(a: MountArgs) -> Res {
    let opts = plan::parse_mount_opts(&a.options.join(","))?;
    let mut args = a.args;
    let target = PathBuf::from(args.pop().ok_or_else(|| Fail::usage("no mount point".into()))?);
    let mut branches = branch_args(&args)?;
    let sources = [!branches.is_empty(), a.branches_from.is_some(), opts.branches.is_some()];
    if sources.iter().filter(|&&s| s).count() > 1 {
        return Err(Fail::usage("give the branches one way: as arguments, --branches-from or -o dirs=".into()));
    }
    if let Some(f) = &a.branches_from {
        let text = if f.as_os_str() == "-" {
            let mut v = Vec::new();
            std::io::Read::read_to_end(&mut std::io::stdin(), &mut v).map_err(|e| Fail::io(e, "stdin".into()))?;
            v
        } else {
            std::fs::read(f).map_err(|e| Fail::io(e, f.display().to_string()))?
        };
        branches = plan::parse_branch_list(&text)?;
    }
    if let Some(b) = &opts.branches {
        branches = b.clone();
    }
    do_mount(MountRequest { opts, branches, target, verbose: a.verbose, fake: false })
}

fn mount_helper(args: Vec<OsString>) -> ExitCode {
    let h = match MountHelper::try_parse_from(args) {
        Ok(h) => h,
        Err(e) => e.exit(),
    };
    let r = (|| {
        let opts = plan::parse_mount_opts(&h.options.join(","))?;
        let branches = opts.branches.clone().unwrap_or_default();
        if let Some(t) = &h.fstype {
            if t != "rfs" && !t.starts_with("rfs.") {
                return Err(Fail::usage(format!("type {t}: mount.rfs mounts rfs only")));
            }
        }
        do_mount(MountRequest { opts, branches, target: h.dir.clone(), verbose: h.verbose, fake: h.fake })
    })();
    match r {
        Ok(()) => ExitCode::SUCCESS,
        Err(f) => {
            f.report("mount.rfs");
            // mount(8)'s codes: 1 bad usage, 32 mount failure.
            ExitCode::from(if f.usage { 1 } else { 32 })
        }
    }
}

// ---------------------------------------------------------------------------
// branch

fn cmd_branch(c: BranchCmd) -> Res {
    let (mount, op, json) = match c {
        BranchCmd::Append(l) => (l.mount, BranchOp::Append(branch_args(&l.branches)?), l.json),
        BranchCmd::Prepend(l) => (l.mount, BranchOp::Prepend(branch_args(&l.branches)?), l.json),
        BranchCmd::Add { mount, index, branches, json } => (mount, BranchOp::Add(index, branch_args(&branches)?), json),
        BranchCmd::Del { mount, paths, json } => {
            (mount, BranchOp::Del(paths.iter().map(|p| p.as_bytes().to_vec()).collect()), json)
        }
        BranchCmd::Mod { mount, branches, json } => (mount, BranchOp::Mod(branch_args(&branches)?), json),
    };
    let m = union::find(&mount)?;
    if let BranchOp::Append(l) | BranchOp::Prepend(l) | BranchOp::Add(_, l) = &op {
        check_branch_dirs(l)?;
    }
    let params = plan::op_params(&op)?;
    reconfigure(&m.mount_point, &params, false)?;
    let u = union::describe(&m, Path::new(sysfs::SYSFS_ROOT));
    if json {
        return print_json(&u);
    }
    print!("{}", union::table(&u));
    Ok(())
}

// ---------------------------------------------------------------------------
// plink

/// The pseudo-links of the union at `m`: the names in the writable
/// branch's `.wh..wh.plnk/`.
fn plink_names(m: &mountinfo::Mount) -> Res<Vec<PathBuf>> {
    let u = union::describe(m, Path::new(sysfs::SYSFS_ROOT));
    let Some(rw) = u.rw_branch() else { return Ok(Vec::new()) };
    let plnk = format!("{}plnk", String::from_utf8_lossy(rfs_logic::whiteout::PRIVATE_PREFIX));
    let dir = Path::new(&rw.path).join(plnk);
    let mut v = match std::fs::read_dir(&dir) {
        Ok(rd) => rd.filter_map(|e| e.ok().map(|e| e.path())).collect::<Vec<_>>(),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Vec::new(),
        Err(e) => return Err(Fail::io(e, dir.display().to_string())),
    };
    v.sort();
    Ok(v)
}

fn cmd_plink(c: PlinkCmd) -> Res {
    match c {
        PlinkCmd::Flush { mount, json } => {
            let m = union::find(&mount)?;
            let r = plink::flush(&m.mount_point)?;
            if json {
                return print_json(&r);
            }
            println!("linked {} removed {}", r.linked, r.removed);
        }
        PlinkCmd::Info { mount, json } => {
            let m = union::find(&mount)?;
            let fd = plink::open_root(&m.mount_point)?;
            let i = plink::info(&fd).map_err(|e| plink::ioctl_fail(e, format!("PLINK_INFO {}", mount.display())))?;
            if json {
                return print_json(&i);
            }
            println!("epoch {} count {}", i.epoch, i.count);
        }
        PlinkCmd::List { mount, json } => {
            let m = union::find(&mount)?;
            let names = plink_names(&m)?;
            if json {
                return print_json(&names);
            }
            for n in names {
                println!("{}", n.display());
            }
        }
    }
    Ok(())
}

// ---------------------------------------------------------------------------
// busy

fn cmd_busy(a: BusyArgs) -> Res {
    let m = union::find(&a.mount)?;
    let u = union::describe(&m, Path::new(sysfs::SYSFS_ROOT));
    let t = busy::target(&m.mount_point, u.branches, &busy::parse_which(&a.branch))?;
    let s = busy::scan(&t, Path::new("/proc"))?;
    if a.json {
        print_json(&s.entries)?;
    } else {
        // A closed pipe (`| head`) is no failure of rfsctl's.
        let _ = write!(std::io::stdout(), "{}", busy::table(&s.entries));
    }
    if s.unreadable > 0 && !rustix::process::geteuid().is_root() {
        eprintln!(
            "rfsctl: note: {} processes not (wholly) readable by this user were skipped; run as root to see all",
            s.unreadable
        );
    }
    if !s.holds() {
        // Nothing holds it: status 1, as grep.
        return Err(Fail { msg: String::new(), errno: None, kernel_log: Vec::new(), usage: false, exit: Some(1) });
    }
    Ok(())
}

// ---------------------------------------------------------------------------
// import, diff, check

fn cmd_import(a: ImportArgs) -> Res {
    let req = import::Request {
        image: a.image,
        dir: a.dir,
        layer: a.layer,
        select: image::Select { reference: a.reference, platform: a.platform },
        max_size: a.max_size,
        max_entries: a.max_entries,
        progress: !a.json,
    };
    // The mount options are checked before anything is unpacked.
    let opts = plan::parse_mount_opts(&a.options.join(","))?;
    if opts.branches.is_some() {
        return Err(Fail::usage("import --mount: the branches come from DIR, not -o dirs=".into()));
    }
    let mut out = import::run(&req)?;
    if let Some(mnt) = &a.mount {
        let branches = import::branches_of(Path::new(&out.dir), out.layers.len());
        do_mount(MountRequest { opts, branches, target: mnt.clone(), verbose: false, fake: false })?;
        out.mounted = Some(mnt.display().to_string());
    }
    if a.json {
        return print_json(&out);
    }
    print!("{}", import::report(&out, a.mount.is_none()));
    Ok(())
}

fn cmd_diff(a: DiffArgs) -> Res {
    let s = diff::run(&a.source, &a.output, a.compression, a.mtime_clamp)?;
    let text = if a.json {
        serde_json::to_string_pretty(&s).map_err(|e| Fail::usage(format!("JSON: {e}")))? + "\n"
    } else {
        diff::report(&s)
    };
    if a.output.as_os_str() == "-" {
        eprint!("{text}");
    } else {
        print!("{text}");
    }
    if s.pseudo_links > 0 && a.json {
        eprintln!("rfsctl: warning: {} pseudo-links not flushed (rfsctl plink flush first)", s.pseudo_links);
    }
    Ok(())
}

fn cmd_check(a: CheckArgs) -> Res {
    let r = check::run(&a.branches, a.fix, Path::new(sysfs::SYSFS_ROOT))?;
    if a.json {
        print_json(&r)?;
    } else {
        print!("{}", check::report(&r));
    }
    if r.open() > 0 {
        // Found and not fixed: status 1, no message (the report said it).
        return Err(Fail { msg: String::new(), errno: None, kernel_log: Vec::new(), usage: false, exit: Some(1) });
    }
    Ok(())
}

/// The exit status of a failure of import, diff, check or busy: the errno.
fn errno_exit(mut f: Fail) -> Fail {
    if f.exit.is_none() {
        f.exit = Some(if f.usage { 2 } else { f.errno.unwrap_or(1) });
    }
    f
}

// ---------------------------------------------------------------------------
// auplink

/// Exit status of auplink for bad arguments (EINVAL, as aufs-util's).
const AUPLINK_EINVAL: u8 = 22;

fn auplink(args: Vec<OsString>) -> ExitCode {
    let usage = || {
        eprintln!("usage: auplink MOUNTPOINT flush|list|cpup");
        ExitCode::from(AUPLINK_EINVAL)
    };
    let [_, mnt, cmd] = args.as_slice() else { return usage() };
    let mnt = Path::new(mnt);
    let r = match cmd.to_str() {
        Some("flush") => union::find(mnt).and_then(|m| plink::flush(&m.mount_point).map(drop)),
        Some("cpup") => union::find(mnt).and_then(|m| {
            let dev = std::fs::metadata(&m.mount_point)
                .map_err(|e| Fail::io(e, m.mount_point.display().to_string()))?;
            let mut linked = 0;
            plink::link_all(&m.mount_point, std::os::unix::fs::MetadataExt::dev(&dev), &mut linked)
        }),
        Some("list") => union::find(mnt).and_then(|m| {
            for n in plink_names(&m)? {
                println!("{}", n.display());
            }
            Ok(())
        }),
        _ => return usage(),
    };
    match r {
        Ok(()) => ExitCode::SUCCESS,
        Err(f) => {
            f.report("auplink");
            let code = if f.usage { i32::from(AUPLINK_EINVAL) } else { f.errno.unwrap_or(1) };
            ExitCode::from(u8::try_from(code).unwrap_or(1))
        }
    }
}

// ---------------------------------------------------------------------------

fn run(cli: Cli) -> Res {
    match cli.cmd {
        Cmd::List(a) => cmd_list(a.mount.as_deref(), a.json),
        Cmd::Mount(a) => cmd_mount(a),
        Cmd::Branch(c) => cmd_branch(c),
        Cmd::Plink(c) => cmd_plink(c),
        Cmd::Busy(a) => cmd_busy(a).map_err(errno_exit),
        Cmd::Import(a) => cmd_import(a).map_err(errno_exit),
        Cmd::Diff(a) => cmd_diff(a).map_err(errno_exit),
        Cmd::Check(a) => cmd_check(a).map_err(errno_exit),
        Cmd::Completions { shell } => {
            clap_complete::generate(shell, &mut Cli::command(), "rfsctl", &mut std::io::stdout());
            Ok(())
        }
        Cmd::Man { dir } => {
            for (name, text) in man::pages().map_err(|e| Fail::io(e, "render".into()))? {
                let p = dir.join(&name);
                std::fs::write(&p, text).map_err(|e| Fail::io(e, p.display().to_string()))?;
                println!("{}", p.display());
            }
            Ok(())
        }
    }
}

fn main() -> ExitCode {
    let args: Vec<OsString> = std::env::args_os().collect();
    let argv0 = args.first().map(|a| Path::new(a).file_name().unwrap_or(a).to_owned()).unwrap_or_default();
    match argv0.to_str() {
        Some("mount.rfs") => return mount_helper(args),
        Some("auplink") => return auplink(args),
        _ => {}
    }
    match run(Cli::parse_from(args)) {
        Ok(()) => ExitCode::SUCCESS,
        Err(f) => {
            if !f.msg.is_empty() {
                f.report("rfsctl");
            }
            let code = f.exit.unwrap_or(if f.usage { 2 } else { 1 });
            ExitCode::from(u8::try_from(code).ok().filter(|&c| c != 0).unwrap_or(1))
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cli_is_consistent() {
        Cli::command().debug_assert();
        MountHelper::command().debug_assert();
    }

    #[test]
    fn mount_helper_args() {
        let h = MountHelper::try_parse_from(["mount.rfs", "none", "/mnt", "-o", "dirs=/a:/b", "-n"]).unwrap();
        assert_eq!(h.dir, PathBuf::from("/mnt"));
        assert_eq!(h.options, vec!["dirs=/a:/b".to_string()]);
        assert!(h.no_mtab);
    }

    #[test]
    fn kernel_lines() {
        assert_eq!(kernel_line("e rfs: no such branch"), "kernel: error: rfs: no such branch");
        assert_eq!(kernel_line("odd"), "kernel: odd");
    }
}
