//! POSIX ACLs as the `system.posix_acl_access` / `system.posix_acl_default`
//! xattr values (the kernel's `posix_acl_xattr` format, see
//! include/uapi/linux/posix_acl_xattr.h): a little-endian u32 version (2),
//! then one 8-byte entry per ACL entry: u16 tag, u16 perm, u32 id.
//!
//! The text form is a comma list of `TAG:ID:PERM` entries, as getfacl's
//! short form: `u::rw-,u:1000:r--,g::r--,g:1001:rw-,m::rw-,o::---`. Tags
//! `u`/`user`, `g`/`group`, `m`/`mask`, `o`/`other`; an empty ID on `u`/`g`
//! is the owner/owning group entry; PERM is made of `r`, `w`, `x` and `-`.

use crate::{cstr, lossy, out, usage, Fail, Res};
use std::ffi::OsStr;

const VERSION: u32 = 2;
const USER_OBJ: u16 = 0x01;
const USER: u16 = 0x02;
const GROUP_OBJ: u16 = 0x04;
const GROUP: u16 = 0x08;
const MASK: u16 = 0x10;
const OTHER: u16 = 0x20;
const UNDEFINED_ID: u32 = 0xffff_ffff;

/// One ACL entry: tag, permission bits (r=4 w=2 x=1), id.
#[derive(Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Debug)]
struct Entry {
    tag: u16,
    perm: u16,
    id: u32,
}

/// `access|default` as the xattr name.
fn xattr_name(kind: &OsStr) -> Res<&'static str> {
    match kind.to_str() {
        Some("access" | "a") => Ok("system.posix_acl_access"),
        Some("default" | "d") => Ok("system.posix_acl_default"),
        _ => usage(format!(
            "ACL kind must be access or default, not {}",
            lossy(kind)
        )),
    }
}

fn parse_perm(s: &str) -> Option<u16> {
    let mut p = 0;
    for ch in s.chars() {
        p |= match ch {
            'r' => 4,
            'w' => 2,
            'x' => 1,
            '-' => 0,
            _ => return None,
        };
    }
    Some(p)
}

/// The text form to entries, sorted by tag then id (the order the kernel
/// requires).
fn parse(spec: &str) -> Res<Vec<Entry>> {
    let mut v = Vec::new();
    for item in spec.split(',').map(str::trim).filter(|s| !s.is_empty()) {
        let bad = || {
            usage(format!(
                "bad ACL entry {item:?} (want TAG:[ID]:PERM, e.g. u:1000:r--)"
            ))
        };
        let mut parts = item.splitn(3, ':');
        let (Some(tag), Some(id), Some(perm)) = (parts.next(), parts.next(), parts.next()) else {
            return bad();
        };
        let Some(perm) = parse_perm(perm) else {
            return bad();
        };
        let id = if id.is_empty() {
            None
        } else {
            match id.parse::<u32>() {
                Ok(n) => Some(n),
                Err(_) => return bad(),
            }
        };
        let (tag, id) = match (tag, id) {
            ("u" | "user", None) => (USER_OBJ, UNDEFINED_ID),
            ("u" | "user", Some(n)) => (USER, n),
            ("g" | "group", None) => (GROUP_OBJ, UNDEFINED_ID),
            ("g" | "group", Some(n)) => (GROUP, n),
            ("m" | "mask", None) => (MASK, UNDEFINED_ID),
            ("o" | "other", None) => (OTHER, UNDEFINED_ID),
            _ => return bad(),
        };
        v.push(Entry { tag, perm, id });
    }
    if v.is_empty() {
        return usage("empty ACL");
    }
    v.sort_by_key(|e| (e.tag, e.id));
    Ok(v)
}

fn encode(entries: &[Entry]) -> Vec<u8> {
    let mut b = Vec::with_capacity(4 + 8 * entries.len());
    b.extend_from_slice(&VERSION.to_le_bytes());
    for e in entries {
        b.extend_from_slice(&e.tag.to_le_bytes());
        b.extend_from_slice(&e.perm.to_le_bytes());
        b.extend_from_slice(&e.id.to_le_bytes());
    }
    b
}

/// The xattr value as text; anything malformed is described, not hidden.
pub fn decode(b: &[u8]) -> String {
    if b.len() < 4 || !(b.len() - 4).is_multiple_of(8) {
        return format!("malformed ACL ({} bytes)", b.len());
    }
    let version = u32::from_le_bytes([b[0], b[1], b[2], b[3]]);
    if version != VERSION {
        return format!("malformed ACL (version {version})");
    }
    let mut items = Vec::new();
    for c in b[4..].chunks_exact(8) {
        let tag = u16::from_le_bytes([c[0], c[1]]);
        let perm = u16::from_le_bytes([c[2], c[3]]);
        let id = u32::from_le_bytes([c[4], c[5], c[6], c[7]]);
        let p = format!(
            "{}{}{}",
            if perm & 4 != 0 { 'r' } else { '-' },
            if perm & 2 != 0 { 'w' } else { '-' },
            if perm & 1 != 0 { 'x' } else { '-' },
        );
        let extra = if perm & !7 != 0 {
            format!("(perm {perm:#x})")
        } else {
            String::new()
        };
        let item = match tag {
            USER_OBJ => format!("u::{p}"),
            USER => format!("u:{id}:{p}"),
            GROUP_OBJ => format!("g::{p}"),
            GROUP => format!("g:{id}:{p}"),
            MASK => format!("m::{p}"),
            OTHER => format!("o::{p}"),
            t => format!("tag{t:#x}:{id}:{p}"),
        };
        items.push(item + &extra);
    }
    items.join(",")
}

/// `setacl PATH access|default SPEC`: setxattr of the encoded ACL.
pub fn set(path: &OsStr, kind: &OsStr, spec: &OsStr) -> Res {
    let name = xattr_name(kind)?;
    let value = encode(&parse(&lossy(spec))?);
    let (p, n) = (cstr(path)?, cstr(OsStr::new(name))?);
    // SAFETY: valid C strings and a live buffer.
    let r = unsafe {
        libc::setxattr(
            p.as_ptr(),
            n.as_ptr(),
            value.as_ptr().cast(),
            value.len(),
            0,
        )
    };
    crate::check(r, format!("setxattr {} {name}", lossy(path))).map(drop)
}

/// `getacl PATH access|default`: getxattr, printed in the text form.
pub fn get(path: &OsStr, kind: &OsStr) -> Res {
    let name = xattr_name(kind)?;
    let (p, n) = (cstr(path)?, cstr(OsStr::new(name))?);
    let mut buf = vec![0u8; 65536];
    // SAFETY: valid C strings and buffer.
    let len = unsafe { libc::getxattr(p.as_ptr(), n.as_ptr(), buf.as_mut_ptr().cast(), buf.len()) };
    let len = crate::check(len, format!("getxattr {} {name}", lossy(path)))? as usize;
    let text = decode(&buf[..len]);
    if text.starts_with("malformed") {
        return Err(Fail::Check(text));
    }
    out(format!("{text}\n").as_bytes())
}

/// `rmacl PATH access|default`: removexattr.
pub fn remove(path: &OsStr, kind: &OsStr) -> Res {
    let name = xattr_name(kind)?;
    let (p, n) = (cstr(path)?, cstr(OsStr::new(name))?);
    // SAFETY: valid C strings.
    let r = unsafe { libc::removexattr(p.as_ptr(), n.as_ptr()) };
    crate::check(r, format!("removexattr {} {name}", lossy(path))).map(drop)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn round_trip_sorted() {
        let e =
            parse("o::---,m::r--,g::r--,u:1000:r--,u::rw-,g:7:rwx").unwrap_or_else(|_| panic!());
        let b = encode(&e);
        assert_eq!(&b[..4], &[2, 0, 0, 0]);
        assert_eq!(&b[4..12], &[1, 0, 6, 0, 0xff, 0xff, 0xff, 0xff]);
        assert_eq!(&b[12..20], &[2, 0, 4, 0, 0xe8, 0x03, 0, 0]);
        assert_eq!(decode(&b), "u::rw-,u:1000:r--,g::r--,g:7:rwx,m::r--,o::---");
    }

    #[test]
    fn users_sorted_by_id() {
        let e = parse("u::rwx,u:1001:r,user:1000:w,g::-,o::").unwrap_or_else(|_| panic!());
        assert_eq!(
            decode(&encode(&e)),
            "u::rwx,u:1000:-w-,u:1001:r--,g::---,o::---"
        );
    }

    #[test]
    fn rejects_bad_entries() {
        assert!(parse("m:5:r--").is_err());
        assert!(parse("u::rq-").is_err());
        assert!(parse("z::r--").is_err());
        assert!(parse("u:r--").is_err());
        assert!(parse("").is_err());
    }

    #[test]
    fn malformed_values() {
        assert!(decode(&[2, 0, 0]).starts_with("malformed"));
        assert!(decode(&[1, 0, 0, 0]).starts_with("malformed"));
    }
}
