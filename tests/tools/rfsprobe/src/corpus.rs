//! `corpus-run`: run the option cases of tests/corpus/options.txt in one
//! process (a process per step costs a lot under TCG with a debug kernel).
//!
//! Input (CASES, made by tests/corpus.sh from options.txt): one case per
//! line, fields separated by \x01:
//! `LINENO EXPECT IFACE DESC BUG OPTIONS DIRS`; OPTIONS is percent-encoded
//! (see `--pct`), split into fsconfig(2) arguments at \x02 for the fsconfig
//! and reconf interfaces. Output: one line per case, fields separated by
//! \x01: `STATUS LINENO DESC DETAIL MESSAGE MS`, STATUS one of `ok`, `fail`,
//! `skip` (a known bug, BUG, that still fails) or `fixed` (a known bug that
//! passes now); DETAIL says what went wrong; MESSAGE is the "rfs: " message
//! the failure left (fs_context log, or kernel log for mount(2)); MS the
//! milliseconds the case took.
//!
//! Each case: the base union is mounted first for remount and reconf; the
//! kernel log is emptied; the call is made; then a failure must have mounted
//! or changed nothing and left a message, a success must show DIRS (when
//! given) in /proc/mounts and a readable root; the mount point is unmounted.

use crate::{lossy, mount, Fail, Res};
use std::ffi::{OsStr, OsString};
use std::os::unix::ffi::{OsStrExt, OsStringExt};

const SYSLOG_ACTION_READ_ALL: libc::c_int = 3;
const SYSLOG_ACTION_CLEAR: libc::c_int = 5;

fn pct(b: &[u8]) -> Vec<u8> {
    let mut o = Vec::with_capacity(b.len());
    let mut i = 0;
    while i < b.len() {
        if b[i] == b'%' && b.get(i + 1) == Some(&b'%') {
            o.push(b'%');
            i += 2;
        } else if b[i] == b'%' && i + 2 < b.len() {
            match std::str::from_utf8(&b[i + 1..i + 3]).ok().and_then(|h| u8::from_str_radix(h, 16).ok()) {
                Some(v) => {
                    o.push(v);
                    i += 3;
                }
                None => {
                    o.push(b'%');
                    i += 1;
                }
            }
        } else {
            o.push(b[i]);
            i += 1;
        }
    }
    o
}

/// The kernel log, then empty it.
fn klog_take() -> String {
    let mut buf = vec![0u8; 1 << 20];
    // SAFETY: buf is a valid buffer of that length.
    let n = unsafe { libc::klogctl(SYSLOG_ACTION_READ_ALL, buf.as_mut_ptr().cast(), buf.len() as libc::c_int) };
    // SAFETY: no buffer.
    unsafe { libc::klogctl(SYSLOG_ACTION_CLEAR, std::ptr::null_mut(), 0) };
    if n <= 0 {
        return String::new();
    }
    String::from_utf8_lossy(&buf[..n as usize]).into_owned()
}

/// The last "rfs: ..." message in `s` (the text from "rfs: " to the line end).
fn rfs_msg(s: &str) -> Option<String> {
    let i = s.rfind("rfs: ")?;
    Some(s[i..].lines().next().unwrap_or("").replace(" | ", " ").to_string())
}

/// The options field of `mnt` in /proc/mounts (last mount there), raw.
fn mount_opts(mnt: &[u8]) -> Option<Vec<u8>> {
    let m = std::fs::read("/proc/mounts").ok()?;
    let mut found = None;
    for line in m.split(|&b| b == b'\n') {
        let f: Vec<&[u8]> = line.split(|&b| b == b' ').collect();
        if f.len() >= 4 && f[1] == mnt {
            found = Some(f[3].to_vec());
        }
    }
    found
}

/// The dirs= value of a raw options field: commas escaped by rfs show as
/// `\134,` there and do not split.
fn dirs_of(opts: &[u8]) -> Vec<u8> {
    let mut tok = Vec::new();
    let mut res = Vec::new();
    let mut i = 0;
    let mut take = |tok: &mut Vec<u8>| {
        if tok.starts_with(b"dirs=") {
            res = tok[5..].to_vec();
        }
        tok.clear();
    };
    while i < opts.len() {
        if opts[i..].starts_with(b"\\134") && i + 4 < opts.len() {
            tok.extend_from_slice(&opts[i..i + 5]);
            i += 5;
            continue;
        }
        if opts[i] == b',' {
            take(&mut tok);
        } else {
            tok.push(opts[i]);
        }
        i += 1;
    }
    take(&mut tok);
    res
}

fn umount_any(mnt: &OsStr) {
    if mount::umount(mnt, None).is_err() {
        let _ = mount::umount(mnt, Some(&OsString::from("detach")));
    }
}

fn errname(e: &Fail) -> (String, String) {
    match e {
        Fail::Sys(no, ctx) => (crate::errno::name(*no), format!("{ctx}: {}", crate::strerror(*no))),
        Fail::SysDetail(no, d) => (crate::errno::name(*no), d.clone()),
        Fail::Check(m) => ("ECHECK".into(), m.clone()),
        Fail::Usage(m) => ("EUSAGE".into(), m.clone()),
    }
}

fn clip(s: &str) -> String {
    let s = s.replace(['\x01', '\n'], " ");
    if s.len() > 300 {
        let mut end = 200;
        while !s.is_char_boundary(end) {
            end -= 1;
        }
        format!("{}...({} bytes)", &s[..end], s.len())
    } else {
        s
    }
}

pub fn run(cases: &OsStr, mnt: &OsStr, base: &OsStr) -> Res {
    let text = std::fs::read(cases).map_err(|e| Fail::Sys(e.raw_os_error().unwrap_or(libc::EIO), format!("read {}", lossy(cases))))?;
    let rfs = OsString::from("rfs");
    let none = OsString::from("none");
    let base_dirs = {
        let b = base.as_bytes();
        b.strip_prefix(b"dirs=").unwrap_or(b).to_vec()
    };
    let mut outbuf = Vec::new();
    for line in text.split(|&b| b == b'\n').filter(|l| !l.is_empty()) {
        let f: Vec<&[u8]> = line.split(|&b| b == 1).collect();
        if f.len() < 7 {
            continue;
        }
        let (ln, exp, iface, desc, bug, opts, dirs) = (f[0], f[1], f[2], f[3], f[4], f[5], f[6]);
        let exp = String::from_utf8_lossy(exp).into_owned();
        let want = exp.trim_end_matches("/vfs").to_string();
        let vfs = want.len() != exp.len();
        let iface = String::from_utf8_lossy(iface).into_owned();
        let mut why: Vec<String> = Vec::new();
        let start = std::time::Instant::now();
        if iface == "remount" || iface == "reconf" {
            if let Err(e) = mount::mount(&rfs, &none, mnt, base, None) {
                why.push(format!("base mount failed: {}", errname(&e).1));
            }
        }
        let _ = klog_take();
        let args: Vec<OsString> = opts.split(|&b| b == 2).map(|a| OsString::from_vec(pct(a))).collect();
        let data = OsString::from_vec(pct(opts));
        let res: Res<String> = match iface.as_str() {
            "mount" => mount::mount(&rfs, &none, mnt, &data, None).map(|_| String::new()),
            "remount" => mount::remount(mnt, &data, None).map(|_| String::new()),
            "fsconfig" => mount::fsmount_log(&rfs, Some(&mnt.to_os_string()), if opts.is_empty() { &[] } else { &args }),
            "reconf" => mount::fsreconfigure(mnt, if opts.is_empty() { &[] } else { &args }).map(|_| String::new()),
            o => Err(Fail::Usage(format!("unknown interface {o}"))),
        };
        let klog = klog_take();
        let (got, detail) = match &res {
            Ok(_) => ("OK".to_string(), String::new()),
            Err(e) => errname(e),
        };
        if want != "ANY" && !want.split('|').any(|w| w == got) {
            why.push(format!("expected {want}, got {got}: {}", clip(&detail)));
        }
        let cur = mount_opts(mnt.as_bytes());
        let mut msg = String::new();
        if res.is_err() {
            match iface.as_str() {
                "mount" | "fsconfig" => {
                    if cur.is_some() {
                        why.push("failed but mounted".into());
                    }
                }
                _ => {
                    let d = cur.as_deref().map(dirs_of).unwrap_or_default();
                    if d != base_dirs {
                        why.push(format!("failed but the stack changed to {}", clip(&String::from_utf8_lossy(&d))));
                    }
                }
            }
            let m = match iface.as_str() {
                "fsconfig" | "reconf" => rfs_msg(&detail),
                _ => rfs_msg(&klog),
            };
            match m {
                Some(m) => msg = m,
                None if !vfs && want != "ANY" => why.push("no 'rfs: ' message".into()),
                None => {}
            }
        } else {
            match &cur {
                None => why.push("succeeded but nothing mounted".into()),
                Some(o) => {
                    let d = dirs_of(o);
                    if !dirs.is_empty() && d != dirs {
                        why.push(format!(
                            "dirs={}, expected {}",
                            clip(&String::from_utf8_lossy(&d)),
                            clip(&String::from_utf8_lossy(dirs))
                        ));
                    }
                    if let Err(e) = std::fs::read_dir(mnt).and_then(|rd| rd.collect::<Result<Vec<_>, _>>()) {
                        why.push(format!("readdir of the union: {e}"));
                    }
                }
            }
        }
        if mount_opts(mnt.as_bytes()).is_some() {
            umount_any(mnt);
        }
        let status = match (why.is_empty(), bug.is_empty()) {
            (true, true) => "ok",
            (true, false) => "fixed",
            (false, true) => "fail",
            (false, false) => "skip",
        };
        outbuf.extend_from_slice(status.as_bytes());
        for field in [ln, desc] {
            outbuf.push(1);
            outbuf.extend_from_slice(field);
        }
        outbuf.push(1);
        let mut d = clip(&why.join("; "));
        if !bug.is_empty() {
            d = format!("{} ({d})", String::from_utf8_lossy(bug));
        }
        outbuf.extend_from_slice(d.as_bytes());
        outbuf.push(1);
        outbuf.extend_from_slice(clip(&msg).as_bytes());
        outbuf.push(1);
        outbuf.extend_from_slice(start.elapsed().as_millis().to_string().as_bytes());
        outbuf.push(b'\n');
    }
    crate::out(&outbuf)
}
