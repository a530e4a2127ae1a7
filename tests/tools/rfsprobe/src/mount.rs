//! mount(2), umount2(2) and the new mount API (fsopen/fsconfig/fsmount/move_mount).

use crate::{check, cstr, last_err, lossy, out, strerror, usage, Fail, Fd, Res};
use std::ffi::{CString, OsStr, OsString};
use std::os::unix::ffi::OsStrExt;

// Syscall numbers of the mount API (unified table, identical on every
// architecture but alpha) and constants from <linux/mount.h>.
const SYS_MOVE_MOUNT: libc::c_long = 429;
const SYS_FSOPEN: libc::c_long = 430;
const SYS_FSCONFIG: libc::c_long = 431;
const SYS_FSMOUNT: libc::c_long = 432;
const FSOPEN_CLOEXEC: libc::c_uint = 1;
const FSMOUNT_CLOEXEC: libc::c_uint = 1;
const FSCONFIG_SET_FLAG: libc::c_uint = 0;
const FSCONFIG_SET_STRING: libc::c_uint = 1;
const FSCONFIG_SET_BINARY: libc::c_uint = 2;
const FSCONFIG_SET_PATH: libc::c_uint = 3;
const FSCONFIG_SET_FD: libc::c_uint = 5;
const FSCONFIG_CMD_CREATE: libc::c_uint = 6;
const FSCONFIG_CMD_RECONFIGURE: libc::c_uint = 7;
const SYS_FSPICK: libc::c_long = 433;
const FSPICK_CLOEXEC: libc::c_uint = 1;
const MOVE_MOUNT_F_EMPTY_PATH: libc::c_uint = 4;

/// Generic mount flags, given as a separate comma-separated argument so the
/// data string (which may contain escaped commas) is passed untouched.
fn parse_flags(s: Option<&OsString>) -> Res<libc::c_ulong> {
    let mut f = 0;
    let Some(s) = s else { return Ok(0) };
    for tok in lossy(s).split(',').filter(|t| !t.is_empty()) {
        f |= match tok {
            "ro" | "rdonly" => libc::MS_RDONLY,
            "rw" => 0,
            "nosuid" => libc::MS_NOSUID,
            "nodev" => libc::MS_NODEV,
            "noexec" => libc::MS_NOEXEC,
            "sync" => libc::MS_SYNCHRONOUS,
            "dirsync" => libc::MS_DIRSYNC,
            "noatime" => libc::MS_NOATIME,
            "nodiratime" => libc::MS_NODIRATIME,
            "relatime" => libc::MS_RELATIME,
            "strictatime" => libc::MS_STRICTATIME,
            "silent" => libc::MS_SILENT,
            "bind" => libc::MS_BIND,
            "rec" => libc::MS_REC,
            "move" => libc::MS_MOVE,
            "private" => libc::MS_PRIVATE,
            "shared" => libc::MS_SHARED,
            "slave" => libc::MS_SLAVE,
            o => return usage(format!("unknown mount flag {o}")),
        };
    }
    Ok(f)
}

/// `s` as bytes with a NUL appended; interior NULs are kept (after `--pct`
/// decoding a test may pass them on purpose: the kernel stops at the first).
fn raw_c(s: &[u8]) -> Vec<u8> {
    let mut v = s.to_vec();
    v.push(0);
    v
}

fn do_mount(src: &CString, target: &OsStr, fstype: Option<&CString>, flags: libc::c_ulong, data: &OsStr) -> Res {
    let t = cstr(target)?;
    let d = raw_c(data.as_bytes());
    let ty = fstype.map_or(std::ptr::null(), |c| c.as_ptr());
    // SAFETY: all pointers are live C strings or null.
    let r = unsafe { libc::mount(src.as_ptr(), t.as_ptr(), ty, flags, d.as_ptr().cast()) };
    check(r, format!("mount {}", lossy(target))).map(drop)
}

pub fn mount(ty: &OsStr, src: &OsStr, target: &OsStr, data: &OsStr, flags: Option<&OsString>) -> Res {
    let f = parse_flags(flags)?;
    do_mount(&cstr(src)?, target, Some(&cstr(ty)?), f, data)
}

pub fn remount(target: &OsStr, data: &OsStr, flags: Option<&OsString>) -> Res {
    let f = parse_flags(flags)? | libc::MS_REMOUNT;
    do_mount(&CString::new("none").unwrap(), target, None, f, data)
}

/// One remount per DATA, in order (several remounts without a process
/// each); stops at the first failure, naming the DATA that failed.
pub fn remount_seq(target: &OsStr, datas: &[OsString]) -> Res {
    for d in datas {
        remount(target, d, None).map_err(|e| match e {
            Fail::Sys(no, ctx) => Fail::SysDetail(no, format!("{ctx} ({})", lossy(d))),
            other => other,
        })?;
    }
    Ok(())
}

pub fn umount(target: &OsStr, how: Option<&OsString>) -> Res {
    let flags = match how.map(|h| lossy(h)).as_deref() {
        None | Some("") => 0,
        Some("detach") | Some("lazy") => libc::MNT_DETACH,
        Some("force") => libc::MNT_FORCE,
        Some(o) => return usage(format!("unknown umount flag {o}")),
    };
    let t = cstr(target)?;
    // SAFETY: t is a live C string.
    check(unsafe { libc::umount2(t.as_ptr(), flags) }, format!("umount {}", lossy(target))).map(drop)
}

/// Drain the fs_context message log (one message per read, ENODATA when empty).
fn read_log(fs: &Fd) -> Vec<String> {
    let mut msgs = Vec::new();
    let mut buf = [0u8; 4096];
    while msgs.len() < 64 {
        // SAFETY: buf is a valid buffer.
        let n = unsafe { libc::read(fs.0, buf.as_mut_ptr().cast(), buf.len()) };
        if n <= 0 {
            break;
        }
        msgs.push(String::from_utf8_lossy(&buf[..n as usize]).trim_end().to_string());
    }
    msgs
}

/// A failed syscall on the context `fs`, with the context's log appended.
fn with_log(e: Fail, fs: &Fd) -> Fail {
    match e {
        Fail::Sys(no, ctx) => {
            let mut s = format!("{ctx}: {}", strerror(no));
            for m in read_log(fs) {
                s.push_str(" | ");
                s.push_str(&m);
            }
            Fail::SysDetail(no, s)
        }
        other => other,
    }
}

/// fsconfig(2) each KEY[=VAL] of `params` on the context `fs`. A string
/// value by default, a flag without `=`; the prefixes `+bin:KEY=VAL`,
/// `+path:KEY=PATH` and `+fd:KEY` give FSCONFIG_SET_BINARY (VAL's bytes),
/// FSCONFIG_SET_PATH (relative to the cwd) and FSCONFIG_SET_FD (an fd of /).
fn set_params(fs: &Fd, params: &[OsString]) -> Res {
    for p in params {
        let mut bytes = p.as_bytes();
        let mut kind = FSCONFIG_SET_STRING;
        for (pre, k) in [(&b"+bin:"[..], FSCONFIG_SET_BINARY), (b"+path:", FSCONFIG_SET_PATH), (b"+fd:", FSCONFIG_SET_FD)] {
            if let Some(rest) = bytes.strip_prefix(pre) {
                bytes = rest;
                kind = k;
            }
        }
        let (key, val) = match bytes.iter().position(|&b| b == b'=') {
            Some(i) => (&bytes[..i], Some(&bytes[i + 1..])),
            None => (bytes, None),
        };
        let k = raw_c(key);
        let kp = k.as_ptr();
        let r = match (kind, val) {
            (FSCONFIG_SET_FD, _) => {
                let root = crate::open(OsStr::new("/"), libc::O_RDONLY | libc::O_DIRECTORY, 0)?;
                // SAFETY: live key, an fd we own.
                unsafe { libc::syscall(SYS_FSCONFIG, fs.0, FSCONFIG_SET_FD, kp, std::ptr::null::<u8>(), root.0) }
            }
            (FSCONFIG_SET_BINARY, Some(v)) => {
                // SAFETY: live key, a buffer of v.len() bytes.
                unsafe { libc::syscall(SYS_FSCONFIG, fs.0, FSCONFIG_SET_BINARY, kp, v.as_ptr(), v.len()) }
            }
            (FSCONFIG_SET_PATH, Some(v)) => {
                let v = raw_c(v);
                // SAFETY: live C strings.
                unsafe { libc::syscall(SYS_FSCONFIG, fs.0, FSCONFIG_SET_PATH, kp, v.as_ptr(), libc::AT_FDCWD) }
            }
            (_, Some(v)) => {
                let v = raw_c(v);
                // SAFETY: live C strings.
                unsafe { libc::syscall(SYS_FSCONFIG, fs.0, FSCONFIG_SET_STRING, kp, v.as_ptr(), 0) }
            }
            // SAFETY: live C string, null value as the flag form requires.
            (_, None) => unsafe {
                libc::syscall(SYS_FSCONFIG, fs.0, FSCONFIG_SET_FLAG, kp, std::ptr::null::<u8>(), 0)
            },
        };
        if r < 0 {
            return Err(last_err(format!("fsconfig {}", lossy(OsStr::from_bytes(key)))));
        }
    }
    Ok(())
}

/// Reconfigure the mount at `target` through fspick(2): each KEY[=VAL] is
/// one fsconfig(2) call, then FSCONFIG_CMD_RECONFIGURE. On failure the errno
/// name is followed by the failing step and the fs_context log.
pub fn fsreconfigure(target: &OsStr, params: &[OsString]) -> Res {
    let t = cstr(target)?;
    // SAFETY: live C string.
    let fd = unsafe { libc::syscall(SYS_FSPICK, libc::AT_FDCWD, t.as_ptr(), FSPICK_CLOEXEC) };
    let fs = Fd(check(fd as libc::c_int, format!("fspick {}", lossy(target)))?);
    set_params(&fs, params).map_err(|e| with_log(e, &fs))?;
    // SAFETY: plain syscall on our fd.
    let r = unsafe {
        libc::syscall(SYS_FSCONFIG, fs.0, FSCONFIG_CMD_RECONFIGURE, std::ptr::null::<u8>(), std::ptr::null::<u8>(), 0)
    };
    if r < 0 {
        return Err(with_log(last_err("fsconfig reconfigure"), &fs));
    }
    Ok(())
}

/// Create a mount of `ty` configured by KEY[=VAL] arguments and attach it at
/// `target` (or, with no target, stop after FSCONFIG_CMD_CREATE).  On failure
/// the errno name is followed by the failing step and the fs_context log,
/// joined by ` | ` on one line so the first word stays the errno name.
pub fn fsmount(ty: &OsStr, target: Option<&OsString>, params: &[OsString]) -> Res {
    let log = fsmount_log(ty, target, params)?;
    out(log.as_bytes())
}

/// `fsmount` without printing: the fs_context log on success.
pub fn fsmount_log(ty: &OsStr, target: Option<&OsString>, params: &[OsString]) -> Res<String> {
    let tyc = cstr(ty)?;
    // SAFETY: tyc is a live C string.
    let fd = unsafe { libc::syscall(SYS_FSOPEN, tyc.as_ptr(), FSOPEN_CLOEXEC) };
    let fs = Fd(check(fd as libc::c_int, format!("fsopen {}", lossy(ty)))?);


    set_params(&fs, params).map_err(|e| with_log(e, &fs))?;
    // SAFETY: plain syscall on our fd.
    let r = unsafe {
        libc::syscall(SYS_FSCONFIG, fs.0, FSCONFIG_CMD_CREATE, std::ptr::null::<u8>(), std::ptr::null::<u8>(), 0)
    };
    if r < 0 {
        return Err(with_log(last_err("fsconfig create"), &fs));
    }
    let Some(target) = target else {
        let log = read_log(&fs);
        let mut o = String::new();
        for m in log {
            o.push_str(&m);
            o.push('\n');
        }
        return Ok(o);
    };
    // SAFETY: plain syscall on our fd.
    let m = unsafe { libc::syscall(SYS_FSMOUNT, fs.0, FSMOUNT_CLOEXEC, 0) };
    if m < 0 {
        return Err(with_log(last_err("fsmount"), &fs));
    }
    let mnt = Fd(m as libc::c_int);
    let t = cstr(target)?;
    let empty = CString::new("").unwrap();
    // SAFETY: live C strings and our fds.
    let r = unsafe {
        libc::syscall(
            SYS_MOVE_MOUNT,
            mnt.0,
            empty.as_ptr(),
            libc::AT_FDCWD,
            t.as_ptr(),
            MOVE_MOUNT_F_EMPTY_PATH,
        )
    };
    if r < 0 {
        return Err(with_log(last_err(format!("move_mount {}", lossy(target))), &fs));
    }
    let log = read_log(&fs);
    let mut o = String::new();
    for m in log {
        o.push_str(&m);
        o.push('\n');
    }
    Ok(o)
}
