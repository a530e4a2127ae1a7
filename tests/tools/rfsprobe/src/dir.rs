//! Directory reading: raw getdents64 listing and a telldir/seekdir/rewinddir
//! consistency check.

use crate::{check, cstr, last_err, lossy, open, out, Fail, Res};
use std::ffi::{CStr, OsStr};

fn dtype_name(t: u8) -> &'static str {
    match t {
        libc::DT_REG => "reg",
        libc::DT_DIR => "dir",
        libc::DT_LNK => "lnk",
        libc::DT_FIFO => "fifo",
        libc::DT_CHR => "chr",
        libc::DT_BLK => "blk",
        libc::DT_SOCK => "sock",
        _ => "unknown",
    }
}

/// Print every entry as `NAME TYPE INO`, in the order getdents64 returns
/// them, using a buffer of `bufsize` bytes (small sizes force many calls and
/// so exercise the directory position logic).
pub fn readdir(path: &OsStr, bufsize: usize) -> Res {
    let fd = open(path, libc::O_RDONLY | libc::O_DIRECTORY, 0)?;
    let mut buf = vec![0u8; bufsize.max(32)];
    let mut o = Vec::new();
    loop {
        // SAFETY: buf is a valid buffer of the given length.
        let n = unsafe { libc::syscall(libc::SYS_getdents64, fd.0, buf.as_mut_ptr(), buf.len()) };
        let n = check(n, format!("getdents64 {}", lossy(path)))? as usize;
        if n == 0 {
            break;
        }
        let mut off = 0;
        while off < n {
            // struct linux_dirent64 { u64 ino; s64 off; u16 reclen; u8 type; char name[]; }
            let rec = &buf[off..n];
            let ino = u64::from_ne_bytes(rec[0..8].try_into().unwrap());
            let reclen = u16::from_ne_bytes(rec[16..18].try_into().unwrap()) as usize;
            let ty = rec[18];
            if reclen < 20 || reclen > rec.len() {
                return Err(Fail::Check(format!("mismatch bad d_reclen {reclen} at buffer offset {off}")));
            }
            let name = &rec[19..reclen];
            let name = &name[..name.iter().position(|&b| b == 0).unwrap_or(name.len())];
            o.extend_from_slice(name);
            o.extend_from_slice(format!(" {} {}\n", dtype_name(ty), ino).as_bytes());
            off += reclen;
        }
    }
    out(&o)
}

#[derive(Clone, PartialEq, Debug)]
struct Ent {
    name: Vec<u8>,
    ino: u64,
    ty: u8,
}

struct Dir(*mut libc::DIR);

impl Drop for Dir {
    fn drop(&mut self) {
        // SAFETY: we own the stream.
        unsafe { libc::closedir(self.0) };
    }
}

impl Dir {
    fn next(&self) -> Res<Option<Ent>> {
        // SAFETY: errno reset so end-of-stream and failure can be told apart.
        unsafe { *libc::__errno_location() = 0 };
        // SAFETY: self.0 is an open stream.
        let d = unsafe { libc::readdir(self.0) };
        if d.is_null() {
            // SAFETY: reading errno.
            let e = unsafe { *libc::__errno_location() };
            return if e == 0 { Ok(None) } else { Err(Fail::Sys(e, "readdir".into())) };
        }
        // SAFETY: d points at a valid dirent until the next readdir call.
        let d = unsafe { &*d };
        // SAFETY: d_name is NUL-terminated.
        let name = unsafe { CStr::from_ptr(d.d_name.as_ptr()) }.to_bytes().to_vec();
        Ok(Some(Ent { name, ino: d.d_ino, ty: d.d_type }))
    }

    fn tell(&self) -> libc::c_long {
        // SAFETY: open stream.
        unsafe { libc::telldir(self.0) }
    }

    fn rest(&self) -> Res<Vec<Ent>> {
        let mut v = Vec::new();
        while let Some(e) = self.next()? {
            v.push(e);
            if v.len() > 10_000_000 {
                return Err(Fail::Check("mismatch directory never ends".into()));
            }
        }
        Ok(v)
    }
}

fn show(e: Option<&Ent>) -> String {
    match e {
        Some(e) => format!("{}({} ino {})", String::from_utf8_lossy(&e.name), dtype_name(e.ty), e.ino),
        None => "<end>".into(),
    }
}

/// First difference between two listings, if any.
fn diff(want: &[Ent], got: &[Ent]) -> Option<String> {
    let n = want.len().max(got.len());
    (0..n).find(|&i| want.get(i) != got.get(i)).map(|i| {
        format!("entry {i}: expected {} got {} (expected {} entries, got {})",
            show(want.get(i)), show(got.get(i)), want.len(), got.len())
    })
}

/// Read the whole directory recording telldir() before each entry; seekdir()
/// back to the first, middle, last, end and random positions and check the
/// entries that follow are the same; rewinddir() must give the same listing.
pub fn seekdir_check(path: &OsStr, seed: u64) -> Res {
    let p = cstr(path)?;
    // SAFETY: p is a live C string.
    let d = unsafe { libc::opendir(p.as_ptr()) };
    if d.is_null() {
        return Err(last_err(format!("opendir {}", lossy(path))));
    }
    let dir = Dir(d);
    let mut ents = Vec::new();
    let mut pos = Vec::new();
    loop {
        let t = dir.tell();
        match dir.next()? {
            Some(e) => {
                pos.push(t);
                ents.push(e);
            }
            None => {
                pos.push(t); // the end position
                break;
            }
        }
        if ents.len() > 10_000_000 {
            return Err(Fail::Check("mismatch directory never ends".into()));
        }
    }
    let n = ents.len();
    let mut idx = vec![0, n / 2, n.saturating_sub(1), n];
    let mut x = seed | 1;
    for _ in 0..12 {
        // xorshift64
        x ^= x << 13;
        x ^= x >> 7;
        x ^= x << 17;
        idx.push((x % (n as u64 + 1)) as usize);
    }
    // Visit in a scrambled order, not just forward.
    idx.swap(1, 3);
    for &i in &idx {
        // SAFETY: open stream, position obtained from telldir on it.
        unsafe { libc::seekdir(dir.0, pos[i]) };
        let got = dir.rest()?;
        if let Some(msg) = diff(&ents[i..], &got) {
            return Err(Fail::Check(format!(
                "mismatch after seekdir to index {i} (telldir {}) seed {seed}: {msg}",
                pos[i]
            )));
        }
    }
    // SAFETY: open stream.
    unsafe { libc::rewinddir(dir.0) };
    let again = dir.rest()?;
    if let Some(msg) = diff(&ents, &again) {
        return Err(Fail::Check(format!("mismatch after rewinddir: {msg}")));
    }
    out(format!("ok {n} entries\n").as_bytes())
}

#[cfg(test)]
mod tests {
    #[test]
    fn dtype() {
        assert_eq!(super::dtype_name(libc::DT_DIR), "dir");
        assert_eq!(super::dtype_name(200), "unknown");
    }
}
