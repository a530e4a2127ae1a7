//! Mount and remount options.
//!
//! The mount data string is a comma-separated list of options. Inside an
//! option, `\` escapes the next byte, so `\,` `\:` `\=` and `\\` are literal.
//! Escapes survive [`split_options`] unchanged and are removed when a path is
//! taken out of an option.
//!
//! Options (`BR` is `path[=perm]`; a branch list is `BR[:BR...]`):
//!
//! | option                               | meaning                                  |
//! |--------------------------------------|------------------------------------------|
//! | `dirs=LIST`, `br=LIST`, `br:LIST`    | the branches, index 0 on top             |
//! | `udba=none`, `reval`, `notify`       | how to notice direct branch changes      |
//! | `xino=PATH`, `noxino`, `trunc_xino`  | the inode number translation file        |
//! | `dio`, `nodio`                       | allow (default) / refuse O_DIRECT        |
//! | AUFS's other options (`dirperm1`, `sum`, `diropq=`, `create=`, ...) | accepted, see [`aufs_option`] |
//! | `add:INDEX:BR`, `ins:INDEX:BR`       | remount: insert a branch at INDEX        |
//! | `append:BR`, `prepend:BR`            | remount: add at the bottom / top         |
//! | `del:PATH`                           | remount: remove a branch                 |
//! | `mod:PATH=PERM`                      | remount: change a branch's permission    |
//!
//! The remount operations also take `=` after the key (`append=BR`,
//! `add=INDEX:BR`, `mod=PATH=PERM`, ...), which is what the fsconfig path
//! produces. In `BR` the permission is after the *last* unescaped `=`.
//!
//! The parser accepts relative branch paths: AUFS resolved them against the
//! mounter's working directory and its users write `dirs=./upper:./lower`.
//! Whether rfs allows them is the kernel side's decision (it resolves the
//! paths). Everything here is a textual pre-check; the kernel does the
//! authoritative checks on the resolved dentries (existence, duplicates
//! through symlinks or bind mounts, nesting).

use super::hash::{hash_bytes, IndexTable};
use super::perm::Perm;
use super::vec::{vec_with_capacity, NoMem, Vec, VecExt};

/// Most branches one mount may have.
pub const MAX_BRANCHES: usize = 1024;

/// Longest accepted path in bytes (the kernel's `PATH_MAX` minus the NUL).
pub const MAX_PATH_LEN: usize = 4095;

/// The error number an [`OptError`] stands for.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Errno {
    /// `EINVAL`: bad syntax or a forbidden combination.
    Inval,
    /// `ENOENT`: no such branch (remount `del`/`mod`).
    NoEnt,
    /// `ENAMETOOLONG`: a path longer than [`MAX_PATH_LEN`].
    NameTooLong,
    /// `ENOMEM`: allocation failure.
    NoMem,
}

impl Errno {
    /// The (positive) Linux error number; the kernel returns its negation.
    pub const fn code(self) -> i32 {
        match self {
            Errno::Inval => 22,
            Errno::NoEnt => 2,
            Errno::NameTooLong => 36,
            Errno::NoMem => 12,
        }
    }
}

/// An option error: the error number and a short message for the log.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct OptError {
    /// What to return.
    pub errno: Errno,
    /// What went wrong, for the kernel log ("duplicate branch", ...).
    pub msg: &'static str,
}

impl OptError {
    /// An `EINVAL` error with message `msg`.
    pub const fn inval(msg: &'static str) -> OptError {
        OptError {
            errno: Errno::Inval,
            msg,
        }
    }
}

impl From<NoMem> for OptError {
    fn from(_: NoMem) -> Self {
        OptError {
            errno: Errno::NoMem,
            msg: "out of memory",
        }
    }
}

const TOO_LONG: OptError = OptError {
    errno: Errno::NameTooLong,
    msg: "path too long",
};

/// `udba=`: how rfs notices changes made directly to branches.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Udba {
    /// Trust the cache; never revalidate.
    None,
    /// Revalidate lower dentries (the default, as in AUFS).
    #[default]
    Reval,
    /// Watch the branch directories of cached union directories through
    /// fsnotify (vfs/notify.rs).
    Notify,
}

impl Udba {
    /// As a number (for an atomic).
    pub fn to_u8(self) -> u8 {
        match self {
            Udba::None => 0,
            Udba::Reval => 1,
            Udba::Notify => 2,
        }
    }

    /// From [`Udba::to_u8`] (anything else: the default).
    pub fn from_u8(v: u8) -> Self {
        match v {
            0 => Udba::None,
            2 => Udba::Notify,
            _ => Udba::Reval,
        }
    }

    /// `none`, `reval` or `notify`.
    pub fn as_str(&self) -> &'static str {
        match self {
            Udba::None => "none",
            Udba::Reval => "reval",
            Udba::Notify => "notify",
        }
    }
}

/// One branch as written in an option.
#[derive(Debug, PartialEq, Eq)]
pub struct BranchSpec {
    /// The path, escapes removed; not empty, no NUL, at most
    /// [`MAX_PATH_LEN`] bytes. May be relative.
    pub path: Vec<u8>,
    /// The permission given, or the default for the branch's position.
    pub perm: Perm,
    /// True if `=perm` was written.
    pub perm_given: bool,
}

/// One parsed mount or remount option.
#[derive(Debug, PartialEq, Eq)]
pub enum MountOption {
    /// `dirs=` / `br=`: the whole branch list, top first, with default
    /// permissions filled in; 1 to [`MAX_BRANCHES`] branches, no textual
    /// duplicates.
    Branches(Vec<BranchSpec>),
    /// `udba=`.
    Udba(Udba),
    /// `xino=PATH` (escapes removed).
    Xino(Vec<u8>),
    /// `noxino`.
    NoXino,
    /// `trunc_xino`.
    TruncXino,
    /// `dio` (true) / `nodio` (false): whether O_DIRECT opens are allowed.
    Dio(bool),
    /// `sum` (true) / `nosum` (false): statfs sums the branches'
    /// filesystems (AUFS's meaning) or shows the writable branch's.
    Sum(bool),
    /// `create=` / `create_policy=`: where new names go (logic/policy.rs).
    Create(super::policy::Create),
    /// `cpup=` / `copyup=` / `copyup_policy=`: where copy-ups go.
    Copyup(super::policy::Copyup),
    /// An AUFS option rfs accepts without a meaning of its own (fstab
    /// lines written for AUFS keep working), with a note for the kernel
    /// log when it has no effect (`None`: rfs already behaves so).
    Accepted(Option<&'static str>),
    /// `add:INDEX:BR` / `ins:INDEX:BR`: insert at `index` (0 = top). Default
    /// permission: `rw` at index 0, else `ro`. The index is not checked
    /// against the branch count here.
    Add {
        /// Where to insert; the new branch gets this index.
        index: usize,
        /// The branch.
        branch: BranchSpec,
    },
    /// `append:BR`: add below the bottom branch (default permission `ro`).
    Append(BranchSpec),
    /// `prepend:BR`: add above the top branch (default permission `rw`).
    Prepend(BranchSpec),
    /// `del:PATH`: remove the branch at PATH.
    Del(Vec<u8>),
    /// `mod:PATH=PERM`: change the permission of the branch at PATH.
    Mod {
        /// The branch's path.
        path: Vec<u8>,
        /// Its new permission.
        perm: Perm,
    },
}

impl MountOption {
    /// True for the branch operations of a remount (`add`, `append`,
    /// `prepend`, `del`, `mod`).
    pub fn is_branch_op(&self) -> bool {
        matches!(
            self,
            MountOption::Add { .. }
                | MountOption::Append(_)
                | MountOption::Prepend(_)
                | MountOption::Del(_)
                | MountOption::Mod { .. }
        )
    }
}

// ---------------------------------------------------------------------------
// Splitting with escapes.

/// Index of the first `sep` in `s` that is not escaped by `\`.
fn find_unescaped(s: &[u8], sep: u8) -> Option<usize> {
    let mut i = 0usize;
    while let Some(&b) = s.get(i) {
        if b == b'\\' {
            i = i.saturating_add(2);
        } else if b == sep {
            return Some(i);
        } else {
            i = i.saturating_add(1);
        }
    }
    None
}

/// Index of the last `sep` in `s` that is not escaped by `\`.
fn rfind_unescaped(s: &[u8], sep: u8) -> Option<usize> {
    let mut last = None;
    let mut i = 0usize;
    while let Some(&b) = s.get(i) {
        if b == b'\\' {
            i = i.saturating_add(2);
        } else {
            if b == sep {
                last = Some(i);
            }
            i = i.saturating_add(1);
        }
    }
    last
}

/// Splits `s` at `sep` (not escaped): `(before, Some(after))`, or `(s, None)`.
fn split_once_unescaped(s: &[u8], sep: u8, last: bool) -> (&[u8], Option<&[u8]>) {
    let at = if last {
        rfind_unescaped(s, sep)
    } else {
        find_unescaped(s, sep)
    };
    match at {
        Some(i) => (
            s.get(..i).unwrap_or_default(),
            Some(s.get(i.saturating_add(1)..).unwrap_or_default()),
        ),
        None => (s, None),
    }
}

/// Iterator over the pieces of a byte string split at an unescaped separator;
/// empty pieces included.
struct SplitUnescaped<'a> {
    rest: Option<&'a [u8]>,
    sep: u8,
}

impl<'a> Iterator for SplitUnescaped<'a> {
    type Item = &'a [u8];

    fn next(&mut self) -> Option<&'a [u8]> {
        let s = self.rest?;
        let (piece, rest) = split_once_unescaped(s, self.sep, false);
        self.rest = rest;
        Some(piece)
    }
}

fn split_unescaped(s: &[u8], sep: u8) -> SplitUnescaped<'_> {
    SplitUnescaped {
        rest: Some(s),
        sep,
    }
}

/// Iterator over the options of a mount data string; see [`split_options`].
#[derive(Debug, Clone)]
pub struct OptionSplit<'a> {
    rest: Option<&'a [u8]>,
}

impl<'a> Iterator for OptionSplit<'a> {
    type Item = &'a [u8];

    fn next(&mut self) -> Option<&'a [u8]> {
        loop {
            let s = self.rest?;
            let (piece, rest) = split_once_unescaped(s, b',', false);
            self.rest = rest;
            if !piece.is_empty() {
                return Some(piece);
            }
        }
    }
}

/// Splits a mount data string into raw options at unescaped commas.
///
/// Escapes stay in the pieces (pass them to [`parse_option`]); empty pieces
/// are skipped. A trailing lone `\` stays in the last piece, where
/// [`parse_option`] reports it.
pub fn split_options(data: &[u8]) -> OptionSplit<'_> {
    OptionSplit { rest: Some(data) }
}

/// Appends `s` with its escapes removed to `out`.
///
/// Fails with `EINVAL` "dangling escape" if `s` ends in a lone `\`.
pub fn unescape(s: &[u8], out: &mut Vec<u8>) -> Result<(), OptError> {
    out.try_reserve_more(s.len())?;
    let mut it = s.iter();
    while let Some(&b) = it.next() {
        if b == b'\\' {
            match it.next() {
                Some(&e) => out.try_push(e)?,
                None => return Err(OptError::inval("dangling escape")),
            }
        } else {
            out.try_push(b)?;
        }
    }
    Ok(())
}

/// True if `b` must be escaped in an option value.
fn needs_escape(b: u8) -> bool {
    matches!(b, b'\\' | b':' | b'=' | b',')
}

/// Appends `path` to `out`, escaping `\` `:` `=` and `,` with `\`, so that
/// the result parses back to `path` as a branch or xino path.
///
/// Whitespace is left alone: the kernel's `seq_show_option` escapes it (and
/// `\`) in octal for /proc/mounts, and readers of /proc/mounts undo that.
pub fn escape_path(path: &[u8], out: &mut Vec<u8>) -> Result<(), NoMem> {
    let specials = path.iter().filter(|&&b| needs_escape(b)).count();
    out.try_reserve_more(path.len().checked_add(specials).ok_or(NoMem)?)?;
    for &b in path {
        if needs_escape(b) {
            out.try_push(b'\\')?;
        }
        out.try_push(b)?;
    }
    Ok(())
}

/// Appends `path=perm` to `out` with the path escaped (one `BR`).
pub fn format_branch(path: &[u8], perm: Perm, out: &mut Vec<u8>) -> Result<(), NoMem> {
    escape_path(path, out)?;
    out.try_push(b'=')?;
    out.try_extend_from_slice(perm.as_str().as_bytes())
}

// ---------------------------------------------------------------------------
// Paths.

/// The components of a path: no empty ones, no `.`; `..` is kept as is.
fn components(p: &[u8]) -> impl Iterator<Item = &[u8]> + '_ {
    p.split(|&b| b == b'/')
        .filter(|c| !c.is_empty() && *c != b".")
}

fn is_absolute(p: &[u8]) -> bool {
    p.first() == Some(&b'/')
}

/// The textual normal form of a path: `//` collapsed, `.` components and
/// trailing `/` removed (`/` stays `/`; an empty relative result is `.`).
/// `..` is kept: only the kernel can resolve it (symlinks).
pub fn normalize_path(p: &[u8]) -> Result<Vec<u8>, NoMem> {
    let mut out = vec_with_capacity(p.len().max(1))?;
    normalize_into(p, &mut out)?;
    Ok(out)
}

fn normalize_into(p: &[u8], out: &mut Vec<u8>) -> Result<(), NoMem> {
    let abs = is_absolute(p);
    let mut first = true;
    for c in components(p) {
        if abs || !first {
            out.try_push(b'/')?;
        }
        out.try_extend_from_slice(c)?;
        first = false;
    }
    if first {
        out.try_push(if abs { b'/' } else { b'.' })?;
    }
    Ok(())
}

/// True if `a` and `b` name the same path textually (after normalising as
/// [`normalize_path`] does). Does not allocate.
pub fn same_path(a: &[u8], b: &[u8]) -> bool {
    is_absolute(a) == is_absolute(b) && components(a).eq(components(b))
}

/// True if one of `a`, `b` equals the other or is an ancestor directory of
/// it, textually (`/a` and `/a/b` yes, `/a` and `/ab` no). An absolute and a
/// relative path are never nested here (only the kernel can tell). Does not
/// allocate.
pub fn is_nested(a: &[u8], b: &[u8]) -> bool {
    if is_absolute(a) != is_absolute(b) {
        return false;
    }
    let mut ca = components(a);
    let mut cb = components(b);
    loop {
        match (ca.next(), cb.next()) {
            (Some(x), Some(y)) if x == y => continue,
            (Some(_), Some(_)) => return false,
            _ => return true,
        }
    }
}

/// Takes a path out of an option value: unescapes and checks it.
fn parse_path(raw: &[u8], empty_msg: &'static str) -> Result<Vec<u8>, OptError> {
    if raw.is_empty() {
        return Err(OptError::inval(empty_msg));
    }
    // Unescaping at most halves the length.
    if raw.len() / 2 > MAX_PATH_LEN {
        return Err(TOO_LONG);
    }
    let mut path = Vec::new();
    unescape(raw, &mut path)?;
    if path.is_empty() {
        return Err(OptError::inval(empty_msg));
    }
    if path.len() > MAX_PATH_LEN {
        return Err(TOO_LONG);
    }
    if path.contains(&0) {
        return Err(OptError::inval("NUL byte in path"));
    }
    Ok(path)
}

/// Parses one `BR` (`path[=perm]`), with `default` if no perm is written.
fn parse_branch(raw: &[u8], default: Perm) -> Result<BranchSpec, OptError> {
    let (path, perm) = split_once_unescaped(raw, b'=', true);
    let (perm, perm_given) = match perm {
        Some(p) => (
            Perm::parse(p).ok_or(OptError::inval("unknown branch permission"))?,
            true,
        ),
        None => (default, false),
    };
    Ok(BranchSpec {
        path: parse_path(path, "empty branch path")?,
        perm,
        perm_given,
    })
}

/// A set of normalised paths, for the duplicate check of a `dirs=` list.
struct PathSet {
    arena: Vec<u8>,
    spans: Vec<(usize, usize)>,
    table: IndexTable,
}

impl PathSet {
    fn new() -> PathSet {
        PathSet {
            arena: Vec::new(),
            spans: Vec::new(),
            table: IndexTable::new(),
        }
    }

    /// Adds `path`; `Ok(false)` if an equal one was there already.
    fn insert(&mut self, path: &[u8]) -> Result<bool, NoMem> {
        let start = self.arena.len();
        normalize_into(path, &mut self.arena)?;
        let end = self.arena.len();
        let norm = self.arena.get(start..end).unwrap_or_default();
        let hash = hash_bytes(0x7266_735f_6272, norm);
        let (arena, spans) = (&self.arena, &self.spans);
        let found = self.table.find(hash, |i| {
            spans
                .get(i)
                .and_then(|&(s, e)| arena.get(s..e))
                .is_some_and(|other| other == norm)
        });
        if found.is_some() {
            // The arena only grows; the unused tail is harmless.
            return Ok(false);
        }
        self.table.reserve(1)?;
        self.spans.try_push((start, end))?;
        self.table.insert(hash, self.spans.len().wrapping_sub(1))?;
        Ok(true)
    }
}

/// Parses a branch list (`BR[:BR...]`).
fn parse_branch_list(value: &[u8]) -> Result<Vec<BranchSpec>, OptError> {
    if value.is_empty() {
        return Err(OptError::inval("no branches"));
    }
    let mut list: Vec<BranchSpec> = Vec::new();
    let mut seen = PathSet::new();
    for (i, raw) in split_unescaped(value, b':').enumerate() {
        if i >= MAX_BRANCHES {
            return Err(OptError::inval("too many branches"));
        }
        let spec = parse_branch(raw, Perm::default_for_index(i))?;
        if !seen.insert(&spec.path)? {
            return Err(OptError::inval("duplicate branch"));
        }
        list.try_push(spec)?;
    }
    Ok(list)
}

/// Parses `INDEX:BR`.
fn parse_add(value: &[u8]) -> Result<MountOption, OptError> {
    let (index, branch) = split_once_unescaped(value, b':', false);
    let branch = branch.ok_or(OptError::inval("branch missing"))?;
    if index.is_empty() || index.len() > 8 || !index.iter().all(u8::is_ascii_digit) {
        return Err(OptError::inval("bad branch index"));
    }
    let index = index.iter().fold(0usize, |acc, &d| {
        acc.saturating_mul(10).saturating_add(usize::from(d.wrapping_sub(b'0')))
    });
    if index >= MAX_BRANCHES {
        return Err(OptError::inval("bad branch index"));
    }
    Ok(MountOption::Add {
        index,
        branch: parse_branch(branch, Perm::default_for_index(index))?,
    })
}

/// Parses `PATH=PERM`.
fn parse_mod(value: &[u8]) -> Result<MountOption, OptError> {
    let (path, perm) = split_once_unescaped(value, b'=', true);
    let perm = perm.ok_or(OptError::inval("branch permission missing"))?;
    let perm = Perm::parse(perm).ok_or(OptError::inval("unknown branch permission"))?;
    Ok(MountOption::Mod {
        path: parse_path(path, "empty branch path")?,
        perm,
    })
}

/// Parses one raw option as returned by [`split_options`].
pub fn parse_option(raw: &[u8]) -> Result<MountOption, OptError> {
    let sep_at = raw.iter().position(|&b| b == b'=' || b == b':');
    let (key, sep, value) = match sep_at {
        Some(i) => (
            raw.get(..i).unwrap_or_default(),
            raw.get(i).copied(),
            raw.get(i.saturating_add(1)..).unwrap_or_default(),
        ),
        None => (raw, None, &b""[..]),
    };
    match (key, sep) {
        (b"noxino", None) => Ok(MountOption::NoXino),
        (b"trunc_xino", None) => Ok(MountOption::TruncXino),
        (b"dio", None) => Ok(MountOption::Dio(true)),
        (b"nodio", None) => Ok(MountOption::Dio(false)),
        (b"noxino" | b"dio" | b"nodio", Some(_)) | (b"trunc_xino", Some(b':')) => {
            Err(OptError::inval("option takes no value"))
        }
        (b"dirs" | b"br", Some(_)) => Ok(MountOption::Branches(parse_branch_list(value)?)),
        (b"udba", Some(b'=')) => match value {
            b"none" => Ok(MountOption::Udba(Udba::None)),
            b"reval" => Ok(MountOption::Udba(Udba::Reval)),
            // AUFS spells it both ways.
            b"notify" | b"fsnotify" => Ok(MountOption::Udba(Udba::Notify)),
            _ => Err(OptError::inval("unknown udba mode")),
        },
        (b"xino", Some(b'=')) => Ok(MountOption::Xino(parse_path(value, "empty xino path")?)),
        (b"add" | b"ins", Some(_)) => parse_add(value),
        (b"append", Some(_)) => Ok(MountOption::Append(parse_branch(value, Perm::Ro)?)),
        (b"prepend", Some(_)) => Ok(MountOption::Prepend(parse_branch(value, Perm::Rw)?)),
        (b"del", Some(_)) => Ok(MountOption::Del(parse_path(value, "empty branch path")?)),
        (b"mod", Some(_)) => parse_mod(value),
        (
            b"dirs" | b"br" | b"udba" | b"xino" | b"add" | b"ins" | b"append" | b"prepend"
            | b"del" | b"mod",
            None,
        ) => Err(OptError::inval("option value missing")),
        _ => aufs_option(key, sep, value).unwrap_or(Err(OptError::inval("unknown option"))),
    }
}

/// Why an AUFS option has no effect in rfs (the kernel logs it).
const NOTE_NONE: &str = "rfs behaves so already";
const NOTE_XINO: &str = "rfs keeps its inode-number file small itself";

/// AUFS's options that rfs accepts without a meaning of its own, so that
/// fstab lines and scripts written for AUFS mount (`None`: not one of
/// them). Each gives [`MountOption::Accepted`] with a note for the kernel
/// log when it has no effect, or none when rfs already behaves so. Values
/// are checked as AUFS checks them.
fn aufs_option(key: &[u8], sep: Option<u8>, value: &[u8]) -> Option<Result<MountOption, OptError>> {
    let acc = |note: Option<&'static str>| Some(Ok(MountOption::Accepted(note)));
    let no_value = sep.is_none();
    let number = value.iter().all(u8::is_ascii_digit) && !value.is_empty();
    match (key, no_value) {
        // rfs's behaviour: the union inode and the top member are checked,
        // pseudo-links are on, opaque only over a whiteout, ACLs follow the
        // branches, whiteouts are hidden, no statfs sum, no dirren.
        (b"dirperm1" | b"plink" | b"noshwh" | b"acl" | b"nodirren" | b"notrunc_xino" | b"notrunc_xib", true) => {
            acc(None)
        }
        (b"nodirperm1", true) => acc(Some("rfs checks directory permissions on the top branch only (dirperm1)")),
        (b"warn_perm" | b"nowarn_perm", true) => acc(Some("rfs does not compare branch root permissions")),
        (b"verbose" | b"v" | b"noverbose" | b"quiet" | b"q" | b"silent", true) => {
            acc(Some("busy files of a deleted branch are not listed"))
        }
        (b"sum", true) => Some(Ok(MountOption::Sum(true))),
        (b"nosum", true) => Some(Ok(MountOption::Sum(false))),
        (b"wsum", true) => acc(Some("AUFS does not implement it either; use sum")),
        (b"shwh", true) => acc(Some("whiteouts are never shown")),
        (b"noplink", true) => acc(Some("pseudo-links are always on")),
        (b"clean_plink" | b"list_plink", true) => acc(Some("pseudo-links have no maintenance mode")),
        (b"noacl", true) => acc(Some("POSIX ACLs follow the branches")),
        (b"dirren", true) => acc(Some("directories with entries in a lower branch still give EXDEV")),
        (b"trunc_xib", true) => acc(Some(NOTE_XINO)),
        (b"nodlgt", true) => acc(Some(NOTE_NONE)),
        (b"diropq", false) => match value {
            b"w" | b"whiteouted" => acc(None),
            b"a" | b"always" => acc(Some("directories are made opaque only over a whiteout (diropq=w)")),
            _ => Some(Err(OptError::inval("unknown diropq mode"))),
        },
        (b"rdcache" | b"dirwh" | b"fhsm_sec" | b"itrunc_xino", false) => {
            if number {
                acc(Some("not used by rfs"))
            } else {
                Some(Err(OptError::inval("option value must be a number")))
            }
        }
        (b"rdblk" | b"rdhash", false) => {
            if number || value == b"def" {
                acc(Some("not used by rfs"))
            } else {
                Some(Err(OptError::inval("option value must be a number or def")))
            }
        }
        (b"trunc_xino", false) => {
            if value.is_empty() {
                Some(Err(OptError::inval("empty branch path")))
            } else {
                acc(Some(NOTE_XINO))
            }
        }
        (b"create" | b"create_policy", false) => Some(super::policy::Create::parse(value).map(MountOption::Create).map_err(
            |e| match e {
                super::policy::PolicyError::Unknown => OptError::inval("unknown create policy"),
                super::policy::PolicyError::BadNumber => {
                    OptError::inval("bad number in create policy (LOW in bytes, SEC from 0 to 3600)")
                }
            },
        )),
        (b"cpup" | b"copyup" | b"copyup_policy", false) => Some(
            super::policy::Copyup::parse(value)
                .map(MountOption::Copyup)
                .map_err(|_| OptError::inval("unknown copy-up policy")),
        ),
        (b"debug" | b"delete" | b"imap", false) => acc(Some(NOTE_NONE)),
        (
            b"dirperm1" | b"nodirperm1" | b"warn_perm" | b"nowarn_perm" | b"verbose" | b"v" | b"noverbose"
            | b"quiet" | b"q" | b"silent" | b"sum" | b"wsum" | b"nosum" | b"shwh" | b"noshwh" | b"plink"
            | b"noplink" | b"clean_plink" | b"list_plink" | b"acl" | b"noacl" | b"dirren" | b"nodirren"
            | b"trunc_xib" | b"notrunc_xib" | b"notrunc_xino" | b"nodlgt",
            false,
        ) => Some(Err(OptError::inval("option takes no value"))),
        (
            b"diropq" | b"rdcache" | b"dirwh" | b"fhsm_sec" | b"itrunc_xino" | b"rdblk" | b"rdhash" | b"create"
            | b"create_policy" | b"cpup" | b"copyup" | b"copyup_policy",
            true,
        ) => Some(Err(OptError::inval("option value missing"))),
        _ => None,
    }
}

/// Parses an option given as key and value (the fsconfig path):
/// the same as [`parse_option`] on `key=value` (or `key` alone).
pub fn parse_option_kv(key: &[u8], value: Option<&[u8]>) -> Result<MountOption, OptError> {
    let vlen = value.map_or(0, |v| v.len().saturating_add(1));
    let mut raw: Vec<u8> = vec_with_capacity(key.len().saturating_add(vlen))?;
    raw.try_extend_from_slice(key)?;
    if let Some(v) = value {
        raw.try_push(b'=')?;
        raw.try_extend_from_slice(v)?;
    }
    parse_option(&raw)
}

#[cfg(test)]
mod tests {
    use std::format;
    use super::*;

    fn v(s: &[u8]) -> Vec<u8> {
        super::super::vec::vec_from_slice(s).unwrap()
    }

    fn spec(path: &[u8], perm: Perm, perm_given: bool) -> BranchSpec {
        BranchSpec {
            path: v(path),
            perm,
            perm_given,
        }
    }

    fn err(raw: &[u8]) -> OptError {
        match parse_option(raw) {
            Err(e) => e,
            Ok(o) => panic!("{:?} parsed as {o:?}", core::str::from_utf8(raw)),
        }
    }

    fn branches(raw: &[u8]) -> Vec<BranchSpec> {
        match parse_option(raw) {
            Ok(MountOption::Branches(b)) => b,
            other => panic!("{other:?}"),
        }
    }

    fn pieces(data: &[u8]) -> std::vec::Vec<&[u8]> {
        split_options(data).collect()
    }

    #[test]
    fn split_basic() {
        assert_eq!(pieces(b"a,b,c"), [&b"a"[..], b"b", b"c"]);
        assert_eq!(pieces(b",,a,,b,"), [&b"a"[..], b"b"]);
        assert!(pieces(b"").is_empty());
        assert!(pieces(b",,,,").is_empty());
        assert_eq!(pieces(br"dirs=/a\,b:/c,udba=none"), [&br"dirs=/a\,b:/c"[..], b"udba=none"]);
        assert_eq!(pieces(br"x\\,y"), [&br"x\\"[..], b"y"]);
        assert_eq!(pieces(br"x\"), [&br"x\"[..]]);
        assert_eq!(pieces(br"x\,"), [&br"x\,"[..]]);
    }

    #[test]
    fn dirs_defaults_and_perms() {
        let b = branches(b"dirs=/rw:/l1:/l2=ro+wh:/l3=rr:/l4=rr+wh");
        assert_eq!(b.len(), 5);
        assert_eq!(b[0], spec(b"/rw", Perm::Rw, false));
        assert_eq!(b[1], spec(b"/l1", Perm::Ro, false));
        assert_eq!(b[2], spec(b"/l2", Perm::RoWh, true));
        assert_eq!(b[3], spec(b"/l3", Perm::Rr, true));
        assert_eq!(b[4], spec(b"/l4", Perm::RoWh, true));
        let b = branches(b"br=/a=ro:/b=rw");
        assert_eq!(b[0], spec(b"/a", Perm::Ro, true));
        assert_eq!(b[1], spec(b"/b", Perm::Rw, true));
        // Docker's spelling.
        let b = branches(b"br:/var/lib/docker/aufs/diff/x=rw:/var/lib/docker/aufs/diff/x-init=ro+wh");
        assert_eq!(b[1], spec(b"/var/lib/docker/aufs/diff/x-init", Perm::RoWh, true));
    }

    #[test]
    fn relative_paths_are_kept() {
        let b = branches(b"dirs=./container-layer/:./image-layer1/:image-layer2/");
        assert_eq!(b[0].path.as_slice(), b"./container-layer/");
        assert_eq!(b[2].path.as_slice(), b"image-layer2/");
        assert_eq!(err(b"dirs=./a:a/").msg, "duplicate branch");
    }

    #[test]
    fn escapes_in_paths() {
        let b = branches(br"dirs=/a\:b=rw:/c\=d:/e\=f=ro:/g\\:/h\,i");
        assert_eq!(b[0], spec(b"/a:b", Perm::Rw, true));
        assert_eq!(b[1], spec(b"/c=d", Perm::Ro, false));
        assert_eq!(b[2], spec(b"/e=f", Perm::Ro, true));
        assert_eq!(b[3], spec(br"/g\", Perm::Ro, false));
        assert_eq!(b[4], spec(b"/h,i", Perm::Ro, false));
        // The last unescaped '=' separates the perm.
        let b = branches(b"dirs=/x=y=rw");
        assert_eq!(b[0], spec(b"/x=y", Perm::Rw, true));
        assert_eq!(err(b"dirs=/x=y").msg, "unknown branch permission");
        // Escaped other bytes are literal.
        let b = branches(br"dirs=/\a\b");
        assert_eq!(b[0].path.as_slice(), b"/ab");
    }

    #[test]
    fn dirs_errors() {
        assert_eq!(err(b"dirs=").msg, "no branches");
        assert_eq!(err(b"br:").msg, "no branches");
        assert_eq!(err(b"dirs").msg, "option value missing");
        assert_eq!(err(b"dirs=/a::/b").msg, "empty branch path");
        assert_eq!(err(b"dirs=/a:").msg, "empty branch path");
        assert_eq!(err(b"dirs=:").msg, "empty branch path");
        assert_eq!(err(b"dirs==rw").msg, "empty branch path");
        assert_eq!(err(b"dirs=/a=").msg, "unknown branch permission");
        assert_eq!(err(b"dirs=/a=xx").msg, "unknown branch permission");
        assert_eq!(err(b"dirs=/a=RW").msg, "unknown branch permission");
        assert_eq!(err(b"dirs=/a:/b:/a").msg, "duplicate branch");
        assert_eq!(err(b"dirs=/a:/b://a//").msg, "duplicate branch");
        assert_eq!(err(b"dirs=/a/./b:/a/b/").msg, "duplicate branch");
        assert_eq!(err(b"dirs=/a=rw:/a=ro").msg, "duplicate branch");
        assert_eq!(err(br"dirs=/a\").msg, "dangling escape");
        assert_eq!(err(b"dirs=/a\0b").msg, "NUL byte in path");
        assert_eq!(err(b"dirs=/a\\\0").msg, "NUL byte in path");
        for e in [err(b"dirs="), err(b"dirs=/a:/a"), err(br"dirs=\")] {
            assert_eq!(e.errno, Errno::Inval);
            assert_eq!(e.errno.code(), 22);
        }
        // Not duplicates: nesting is the kernel's check.
        assert_eq!(branches(b"dirs=/a:/a/b:/ab").len(), 3);
    }

    #[test]
    fn path_length_limits() {
        let mut raw = std::vec::Vec::from(&b"dirs=/"[..]);
        raw.extend(std::iter::repeat_n(b'x', MAX_PATH_LEN - 1));
        assert_eq!(branches(&raw)[0].path.len(), MAX_PATH_LEN);
        raw.push(b'x');
        let e = err(&raw);
        assert_eq!((e.errno, e.errno.code()), (Errno::NameTooLong, 36));
        // Escapes count once.
        let mut raw = std::vec::Vec::from(&b"append:/"[..]);
        for _ in 0..MAX_PATH_LEN - 1 {
            raw.extend_from_slice(br"\:");
        }
        match parse_option(&raw).unwrap() {
            MountOption::Append(b) => assert_eq!(b.path.len(), MAX_PATH_LEN),
            o => panic!("{o:?}"),
        }
        let mut raw = std::vec::Vec::from(&b"xino="[..]);
        raw.extend(std::iter::repeat_n(b'/', 64 * 1024));
        assert_eq!(err(&raw).errno, Errno::NameTooLong);
    }

    #[test]
    fn too_many_branches() {
        let mut raw = std::vec::Vec::from(&b"dirs="[..]);
        for i in 0..MAX_BRANCHES {
            if i > 0 {
                raw.push(b':');
            }
            raw.extend_from_slice(format!("/b{i}").as_bytes());
        }
        assert_eq!(branches(&raw).len(), MAX_BRANCHES);
        raw.extend_from_slice(b":/one-more");
        assert_eq!(err(&raw).msg, "too many branches");
        let mut raw = std::vec::Vec::from(&b"br="[..]);
        for i in 0..2000 {
            raw.extend_from_slice(format!("/var/lib/layers/{i:064}=ro+wh:").as_bytes());
        }
        raw.pop();
        assert_eq!(err(&raw).msg, "too many branches");
    }

    #[test]
    fn aufs_options_are_accepted() {
        let silent = |raw: &[u8]| assert_eq!(parse_option(raw), Ok(MountOption::Accepted(None)), "{:?}", core::str::from_utf8(raw));
        let noted = |raw: &[u8]| match parse_option(raw) {
            Ok(MountOption::Accepted(Some(_))) => {}
            o => panic!("{:?}: {o:?}", core::str::from_utf8(raw)),
        };
        assert_eq!(parse_option(b"sum"), Ok(MountOption::Sum(true)));
        assert_eq!(parse_option(b"nosum"), Ok(MountOption::Sum(false)));
        for raw in [&b"dirperm1"[..], b"plink", b"noshwh", b"acl", b"nodirren", b"notrunc_xino", b"notrunc_xib",
            b"diropq=w", b"diropq=whiteouted"] {
            silent(raw);
        }
        for raw in [&b"nodirperm1"[..], b"warn_perm", b"nowarn_perm", b"verbose", b"v", b"quiet", b"silent", b"wsum",
            b"shwh", b"noplink", b"clean_plink", b"noacl", b"dirren", b"trunc_xib", b"diropq=a", b"diropq=always",
            b"rdcache=10", b"rdblk=def", b"rdhash=32", b"dirwh=3", b"fhsm_sec=5", b"trunc_xino=/br", b"itrunc_xino=0",
            b"nodlgt", b"debug=1"] {
            noted(raw);
        }
        assert_eq!(err(b"diropq=x").msg, "unknown diropq mode");
        assert_eq!(err(b"rdcache=ten").msg, "option value must be a number");
        assert_eq!(err(b"rdblk=").msg, "option value must be a number or def");
        use super::super::policy::{Copyup, Create};
        assert_eq!(parse_option(b"create=tdp"), Ok(MountOption::Create(Create::Tdp)));
        assert_eq!(parse_option(b"create_policy=top-down-parent"), Ok(MountOption::Create(Create::Tdp)));
        assert_eq!(parse_option(b"create=mfsrr:1000"), Ok(MountOption::Create(Create::MfsRr { low: 1000, sec: 30 })));
        assert_eq!(parse_option(b"cpup=tdp"), Ok(MountOption::Copyup(Copyup::Tdp)));
        assert_eq!(parse_option(b"copyup=bu"), Ok(MountOption::Copyup(Copyup::Bu)));
        assert_eq!(parse_option(b"copyup_policy=bottom-up-parent"), Ok(MountOption::Copyup(Copyup::Bup)));
        assert_eq!(err(b"create=mfsrr").msg, "bad number in create policy (LOW in bytes, SEC from 0 to 3600)");
        assert_eq!(err(b"create=bogus").msg, "unknown create policy");
        assert_eq!(err(b"cpup=x").msg, "unknown copy-up policy");
        assert_eq!(err(b"sum=1").msg, "option takes no value");
        assert_eq!(err(b"dirwh").msg, "option value missing");
        assert_eq!(err(b"trunc_xino:x").msg, "option takes no value");
        assert_eq!(err(b"bogus").msg, "unknown option");
        // Branch attributes in a list.
        let list = match parse_option(b"br:/a=rw+nolwh:/b=ro+wh+unpin:/c=rr+icex") {
            Ok(MountOption::Branches(l)) => l,
            o => panic!("{o:?}"),
        };
        let perms: std::vec::Vec<Perm> = list.iter().map(|b| b.perm).collect();
        assert_eq!(perms, [Perm::Rw, Perm::RoWh, Perm::Rr]);
    }

    #[test]
    fn simple_options() {
        assert_eq!(parse_option(b"udba=none"), Ok(MountOption::Udba(Udba::None)));
        assert_eq!(parse_option(b"udba=reval"), Ok(MountOption::Udba(Udba::Reval)));
        assert_eq!(Udba::default(), Udba::Reval);
        assert_eq!(Udba::None.as_str(), "none");
        assert_eq!(parse_option(b"udba=notify"), Ok(MountOption::Udba(Udba::Notify)));
        assert_eq!(Udba::Notify.as_str(), "notify");
        assert_eq!(parse_option(b"udba=fsnotify"), Ok(MountOption::Udba(Udba::Notify)));
        for u in [Udba::None, Udba::Reval, Udba::Notify] {
            assert_eq!(Udba::from_u8(u.to_u8()), u);
        }
        assert_eq!(err(b"udba=inotify").msg, "unknown udba mode");
        assert_eq!(err(b"udba=").msg, "unknown udba mode");
        assert_eq!(err(b"udba").msg, "option value missing");
        assert_eq!(err(b"udba:none").msg, "unknown option");
        assert_eq!(parse_option(b"noxino"), Ok(MountOption::NoXino));
        assert_eq!(parse_option(b"trunc_xino"), Ok(MountOption::TruncXino));
        assert_eq!(parse_option(b"dio"), Ok(MountOption::Dio(true)));
        assert_eq!(parse_option(b"nodio"), Ok(MountOption::Dio(false)));
        assert_eq!(err(b"dio=1").msg, "option takes no value");
        assert_eq!(err(b"noxino=1").msg, "option takes no value");
        assert_eq!(err(b"trunc_xino:").msg, "option takes no value");
        assert_eq!(
            parse_option(br"xino=/dev/shm/aufs.xino"),
            Ok(MountOption::Xino(v(b"/dev/shm/aufs.xino")))
        );
        assert_eq!(parse_option(br"xino=/a\,b"), Ok(MountOption::Xino(v(b"/a,b"))));
        assert_eq!(err(b"xino=").msg, "empty xino path");
        assert_eq!(err(b"xino").msg, "option value missing");
        for bad in [&b""[..], b"=", b":", b"rw", b"DIRS=/a", b"dirs2=/a", b"dio2", b"\0", b"si=1"] {
            assert_eq!(err(bad).msg, "unknown option", "{bad:?}");
        }
    }

    #[test]
    fn remount_ops() {
        assert_eq!(
            parse_option(b"add:1:/x=ro+wh"),
            Ok(MountOption::Add { index: 1, branch: spec(b"/x", Perm::RoWh, true) })
        );
        assert_eq!(
            parse_option(b"ins:0:/x"),
            Ok(MountOption::Add { index: 0, branch: spec(b"/x", Perm::Rw, false) })
        );
        assert_eq!(
            parse_option(b"add=3:/x"),
            Ok(MountOption::Add { index: 3, branch: spec(b"/x", Perm::Ro, false) })
        );
        assert_eq!(
            parse_option(b"ins=2:/x:y=rw"),
            Ok(MountOption::Add { index: 2, branch: spec(b"/x:y", Perm::Rw, true) })
        );
        assert_eq!(parse_option(b"append:/x"), Ok(MountOption::Append(spec(b"/x", Perm::Ro, false))));
        assert_eq!(
            parse_option(b"append=/x=ro+wh"),
            Ok(MountOption::Append(spec(b"/x", Perm::RoWh, true)))
        );
        assert_eq!(parse_option(b"prepend:/x"), Ok(MountOption::Prepend(spec(b"/x", Perm::Rw, false))));
        assert_eq!(
            parse_option(b"prepend=/x=ro"),
            Ok(MountOption::Prepend(spec(b"/x", Perm::Ro, true)))
        );
        assert_eq!(parse_option(b"del:/x"), Ok(MountOption::Del(v(b"/x"))));
        assert_eq!(parse_option(br"del=/x\=y"), Ok(MountOption::Del(v(b"/x=y"))));
        assert_eq!(
            parse_option(b"mod:/x=ro+wh"),
            Ok(MountOption::Mod { path: v(b"/x"), perm: Perm::RoWh })
        );
        assert_eq!(
            parse_option(b"mod=/x=y=rw"),
            Ok(MountOption::Mod { path: v(b"/x=y"), perm: Perm::Rw })
        );
        assert!(parse_option(b"mod:/x=rw").unwrap().is_branch_op());
        assert!(!parse_option(b"noxino").unwrap().is_branch_op());
    }

    #[test]
    fn remount_op_errors() {
        assert_eq!(err(b"add:").msg, "branch missing");
        assert_eq!(err(b"add:1").msg, "branch missing");
        assert_eq!(err(b"add::/x").msg, "bad branch index");
        assert_eq!(err(b"add:x:/x").msg, "bad branch index");
        assert_eq!(err(b"add:-1:/x").msg, "bad branch index");
        assert_eq!(err(b"add:+1:/x").msg, "bad branch index");
        assert_eq!(err(b"add:1024:/x").msg, "bad branch index");
        assert_eq!(err(b"add:99999999999999999999999:/x").msg, "bad branch index");
        assert_eq!(err(b"add:1:").msg, "empty branch path");
        assert_eq!(err(b"add:1:/x=bad").msg, "unknown branch permission");
        assert_eq!(err(b"append:").msg, "empty branch path");
        assert_eq!(err(b"append").msg, "option value missing");
        assert_eq!(err(b"prepend=").msg, "empty branch path");
        assert_eq!(err(b"del:").msg, "empty branch path");
        assert_eq!(err(b"del").msg, "option value missing");
        assert_eq!(err(b"mod:/x").msg, "branch permission missing");
        assert_eq!(err(br"mod:/x\=rw").msg, "branch permission missing");
        assert_eq!(err(b"mod:/x=").msg, "unknown branch permission");
        assert_eq!(err(b"mod:=rw").msg, "empty branch path");
        assert_eq!(err(br"append:/x\").msg, "dangling escape");
    }

    #[test]
    fn kv_form() {
        assert_eq!(parse_option_kv(b"noxino", None), Ok(MountOption::NoXino));
        assert_eq!(parse_option_kv(b"noxino", Some(b"")).unwrap_err().msg, "option takes no value");
        assert_eq!(parse_option_kv(b"udba", Some(b"none")), Ok(MountOption::Udba(Udba::None)));
        assert_eq!(parse_option_kv(b"dirs", Some(b"/a:/b")).map(|o| match o {
            MountOption::Branches(b) => b.len(),
            _ => 0,
        }), Ok(2));
        // fsconfig values need no comma escapes.
        assert_eq!(parse_option_kv(b"del", Some(b"/a,b")), Ok(MountOption::Del(v(b"/a,b"))));
        assert_eq!(
            parse_option_kv(b"add", Some(b"0:/x")),
            Ok(MountOption::Add { index: 0, branch: spec(b"/x", Perm::Rw, false) })
        );
        // What the VFS makes of legacy "append:/x=rw": key "append:/x", value "rw".
        assert_eq!(
            parse_option_kv(b"append:/x", Some(b"rw")),
            Ok(MountOption::Append(spec(b"/x", Perm::Rw, true)))
        );
        assert_eq!(parse_option_kv(b"bogus", None).unwrap_err().msg, "unknown option");
        assert_eq!(parse_option_kv(b"dirs", None).unwrap_err().msg, "option value missing");
    }

    #[test]
    fn escape_round_trip() {
        let paths: [&[u8]; 8] = [
            b"/plain",
            b"/a:b",
            b"/a=b",
            b"/a,b",
            br"/a\b",
            br"/\:=,\\",
            b"/with space\ttab\nnl",
            b"/\xff\xfe",
        ];
        for p in paths {
            let mut e = Vec::new();
            escape_path(p, &mut e).unwrap();
            let mut data = std::vec::Vec::from(&b"dirs="[..]);
            data.extend_from_slice(&e);
            data.extend_from_slice(b"=ro+wh:");
            data.extend_from_slice(&e);
            data.extend_from_slice(b"2,xino=");
            data.extend_from_slice(&e);
            let opts: std::vec::Vec<_> = split_options(&data).collect();
            assert_eq!(opts.len(), 2, "{p:?}");
            let b = branches(opts[0]);
            assert_eq!(b[0], spec(p, Perm::RoWh, true));
            let mut p2 = std::vec::Vec::from(p);
            p2.push(b'2');
            assert_eq!(b[1].path.as_slice(), &p2[..]);
            assert_eq!(parse_option(opts[1]), Ok(MountOption::Xino(v(p))));
            let mut un = Vec::new();
            unescape(&e, &mut un).unwrap();
            assert_eq!(un.as_slice(), p);
        }
        let mut out = Vec::new();
        format_branch(b"/a:b", Perm::RoWh, &mut out).unwrap();
        assert_eq!(out.as_slice(), br"/a\:b=ro+wh");
    }

    #[test]
    fn normalize_and_nesting() {
        let n = |p: &[u8]| normalize_path(p).unwrap();
        assert_eq!(n(b"/").as_slice(), b"/");
        assert_eq!(n(b"//").as_slice(), b"/");
        assert_eq!(n(b"/a//b/").as_slice(), b"/a/b");
        assert_eq!(n(b"/a/./b/.").as_slice(), b"/a/b");
        assert_eq!(n(b"/a/../b").as_slice(), b"/a/../b");
        assert_eq!(n(b"./x/").as_slice(), b"x");
        assert_eq!(n(b"./").as_slice(), b".");
        assert_eq!(n(b"").as_slice(), b".");
        assert!(same_path(b"/a/b", b"//a/./b/"));
        assert!(!same_path(b"/a/b", b"a/b"));
        assert!(!same_path(b"/a/b", b"/a/bc"));
        assert!(is_nested(b"/a", b"/a/b"));
        assert!(is_nested(b"/a/b/", b"/a"));
        assert!(is_nested(b"/a", b"//a/"));
        assert!(is_nested(b"/", b"/x"));
        assert!(!is_nested(b"/a", b"/ab"));
        assert!(!is_nested(b"/a/b", b"/a/c"));
        assert!(!is_nested(b"/a", b"a"));
        assert!(is_nested(b"a", b"./a/b"));
    }

    /// Random option strings over a hostile alphabet never panic, and every
    /// error has a message.
    #[test]
    fn hostile_input() {
        let alphabet = b"\\:=,/ar+wh\0.dirsbrxinoaddelmodpend0123456789";
        let mut seed = 0x1234_5678_9abc_def0u64;
        let mut next = move || {
            seed ^= seed << 13;
            seed ^= seed >> 7;
            seed ^= seed << 17;
            seed
        };
        let prefixes: [&[u8]; 12] = [
            b"dirs=", b"br:", b"add:", b"ins=", b"append:", b"prepend=", b"del:", b"mod:",
            b"xino=", b"udba=", b"noxino", b"",
        ];
        for round in 0..20_000 {
            let mut s = std::vec::Vec::new();
            s.extend_from_slice(prefixes[round % prefixes.len()]);
            let len = (next() % 64) as usize;
            for _ in 0..len {
                s.push(alphabet[(next() % alphabet.len() as u64) as usize]);
            }
            for piece in split_options(&s) {
                if let Err(e) = parse_option(piece) {
                    assert!(!e.msg.is_empty());
                }
            }
            let _ = parse_option(&s);
            let _ = parse_option_kv(&s, Some(&s));
        }
        // Big strings: only separators, only backslashes, 64 KiB of commas.
        let commas = std::vec![b','; 64 * 1024];
        assert_eq!(split_options(&commas).count(), 0);
        let slashes = std::vec![b'\\'; 64 * 1024];
        assert_eq!(split_options(&slashes).count(), 1);
        let colons = [&b"dirs="[..], &std::vec![b':'; 64 * 1024]].concat();
        assert_eq!(err(&colons).msg, "empty branch path");
        let mut big = std::vec::Vec::from(&b"dirs="[..]);
        big.extend(std::iter::repeat_n(b"/x\\:".iter().copied(), 16 * 1024).flatten());
        assert_eq!(err(&big).errno, Errno::NameTooLong);
    }
}
