//! `rfsctl import`: an image (or one layer) unpacked into a directory per
//! layer, and the rfs mount of the stack.
//!
//! DIR/layers/0 is the bottom layer, DIR/layers/N-1 the top one; DIR/upper
//! is the writable branch; DIR/image.json says what was imported (formats,
//! digests, counts) and DIR/branches is the branch list, top first, for
//! `rfsctl mount --branches-from`. `--layer` adds one more layer on top
//! (a tar as `rfsctl diff` writes it).

use crate::image::{self, LayerRef, Select, Source};
use crate::layer::{self, read_fail, refuse, Stats};
use crate::plan::BranchArg;
use crate::safefs::{self, Root};
use crate::stream::{decompress, Compression, HashReader, Limited};
use crate::Fail;
use indicatif::{ProgressBar, ProgressStyle};
use rustix::io::Errno;
use serde::{Deserialize, Serialize};
use std::fs::File;
use std::io::{IsTerminal, Read};
use std::path::{Path, PathBuf};

/// One imported layer.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct LayerInfo {
    /// Its number: 0 is the bottom.
    pub index: usize,
    /// Its directory.
    pub path: String,
    /// Where it came from (file in the image, or the layer tar).
    pub source: String,
    /// The digest of the file as stored (compressed).
    pub digest: String,
    /// The digest of the uncompressed tar (OCI's diff_id).
    pub diff_id: String,
    /// How it was compressed.
    pub compression: String,
    /// Its media type in the manifest (empty when none was given).
    #[serde(default)]
    pub media_type: String,
    /// What it held.
    #[serde(default)]
    pub stats: serde_json::Value,
}

/// What `import` did: DIR/image.json and the `--json` output.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Imported {
    /// The directory.
    pub dir: String,
    /// `oci`, `docker-save` or `layers` (only layer tars).
    pub format: String,
    /// The image config's digest (DIR/config.json), if from an image.
    pub config_digest: Option<String>,
    /// The layers, bottom first.
    pub layers: Vec<LayerInfo>,
    /// The writable branch.
    pub upper: String,
    /// The branches, top first, as PATH=PERM.
    pub branches: Vec<String>,
    /// The mount option that mounts the stack (`br:...`).
    pub mount_option: String,
    /// Where it was mounted (`--mount`).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub mounted: Option<String>,
}

/// What `import` is asked to do.
#[derive(Debug, Clone)]
pub struct Request {
    /// The image, the layer tar, or `-`.
    pub image: PathBuf,
    /// Where to.
    pub dir: PathBuf,
    /// IMAGE is one layer tar.
    pub layer: bool,
    /// Which image of several.
    pub select: Select,
    /// The most bytes the uncompressed layers may have, together.
    pub max_size: u64,
    /// The most entries one layer may have.
    pub max_entries: u64,
    /// Show a progress bar (on a terminal).
    pub progress: bool,
}

/// The layer directories DIR/layers/<n> there are (n from 0 without gaps).
fn existing_layers(layers: &Path) -> usize {
    (0..).take_while(|n| layers.join(n.to_string()).is_dir()).count()
}

fn io_fail(e: std::io::Error, what: &Path) -> Fail {
    read_fail(e, &what.display().to_string())
}

fn bar(progress: bool, len: Option<u64>, msg: String) -> ProgressBar {
    if !progress || !std::io::stderr().is_terminal() {
        return ProgressBar::hidden();
    }
    let b = match len {
        Some(n) => ProgressBar::new(n),
        None => ProgressBar::new_spinner(),
    };
    if let Ok(s) = ProgressStyle::with_template("{msg} {bytes}/{total_bytes} [{bar:30}] {bytes_per_sec}") {
        b.set_style(s.progress_chars("=> "));
    }
    b.set_message(msg);
    b
}

/// Unpacks the stream `r` of layer `l` into `dest` (made here), checking
/// its digests. Returns the layer's record and the uncompressed size.
fn unpack_one(
    r: Box<dyn Read + '_>,
    len: Option<u64>,
    l: &LayerRef,
    dest: &Path,
    index: usize,
    req: &Request,
    budget: u64,
) -> Result<(LayerInfo, u64), Fail> {
    std::fs::create_dir(dest).map_err(|e| io_fail(e, dest))?;
    let root = Root::open(dest).map_err(|e| layer::refuse(e, format!("{}: cannot open", dest.display())))?;
    let pb = bar(req.progress, len, format!("layer {index}"));
    let mut blob = HashReader::new(pb.wrap_read(r));
    let (comp, dec) = decompress(&mut blob).map_err(|e| read_fail(e, &l.path))?;
    let mut diff = HashReader::new(Limited::new(dec, budget));
    let opts = layer::Opts { root_user: rustix::process::geteuid().is_root(), max_entries: req.max_entries, max_bytes: budget };
    let st: Stats = layer::unpack(&mut diff, &root, &opts, &mut |_| {}).map_err(|mut f| {
        f.msg = format!("layer {index} ({}): {}", l.path, f.msg);
        f
    })?;
    let (diff_id, ulen) = diff.finish().map_err(|e| read_fail(e, &l.path))?;
    let (digest, blen) = blob.finish().map_err(|e| read_fail(e, &l.path))?;
    pb.finish_and_clear();
    if let Some(want) = &l.digest {
        if *want != digest {
            return Err(refuse(Errno::BADMSG, format!("layer {index} ({}): digest mismatch: the content is {digest}", l.path)));
        }
    }
    if let Some(want) = l.size {
        if want != blen {
            return Err(refuse(
                Errno::BADMSG,
                format!("layer {index} ({}): {blen} bytes where the manifest says {want}", l.path),
            ));
        }
    }
    if let Some(want) = &l.diff_id {
        if *want != diff_id {
            return Err(refuse(
                Errno::BADMSG,
                format!("layer {index} ({}): uncompressed digest {diff_id} is not the config's diff_id {want}", l.path),
            ));
        }
    }
    let info = LayerInfo {
        index,
        path: dest.display().to_string(),
        source: l.path.clone(),
        digest,
        diff_id,
        compression: format!("{comp:?}").to_lowercase(),
        media_type: l.media_type.clone(),
        stats: serde_json::to_value(&st).unwrap_or_default(),
    };
    for s in &st.skipped {
        eprintln!("rfsctl: layer {index}: skipped {s}");
    }
    if st.xattrs_not_set > 0 {
        eprintln!("rfsctl: layer {index}: {} extended attributes could not be set", st.xattrs_not_set);
    }
    Ok((info, ulen))
}

/// A digest mismatch of layer `l`'s blob, if it has one.
fn mismatch(src: &mut dyn Source, l: &LayerRef, i: usize) -> Option<Fail> {
    let want = l.digest.as_ref()?;
    let (r, _) = src.open(&l.path).ok()?;
    let (got, _) = HashReader::new(r).finish().ok()?;
    (got != *want).then(|| refuse(Errno::BADMSG, format!("layer {i} ({}): digest mismatch: the content is {got}", l.path)))
}

/// The branch list of DIR: upper rw, then the layers top first, ro+wh.
pub fn branches_of(dir: &Path, layers: usize) -> Vec<BranchArg> {
    let mut v = vec![BranchArg { path: dir.join("upper").as_os_str().as_encoded_bytes().to_vec(), perm: Some("rw".into()) }];
    for n in (0..layers).rev() {
        v.push(BranchArg {
            path: dir.join("layers").join(n.to_string()).as_os_str().as_encoded_bytes().to_vec(),
            perm: Some("ro+wh".into()),
        });
    }
    v
}

/// An image file that is a compressed tar, decompressed into `tmp`.
fn decompressed_copy(f: File, tmp: &Path, max: u64) -> Result<File, Fail> {
    let (c, mut r) = decompress(f).map_err(|e| io_fail(e, tmp))?;
    if c == Compression::None {
        return Err(refuse(Errno::INVAL, "internal: not compressed".into()));
    }
    let mut out = std::fs::OpenOptions::new()
        .read(true)
        .write(true)
        .create_new(true)
        .open(tmp)
        .map_err(|e| io_fail(e, tmp))?;
    std::io::copy(&mut Limited::new(&mut r, max), &mut out).map_err(|e| io_fail(e, tmp))?;
    std::io::Seek::rewind(&mut out).map_err(|e| io_fail(e, tmp))?;
    Ok(out)
}

/// Runs an import. On failure what this run made in DIR is removed.
pub fn run(req: &Request) -> Result<Imported, Fail> {
    let made_dir = !req.dir.exists();
    std::fs::create_dir_all(&req.dir).map_err(|e| io_fail(e, &req.dir))?;
    let dir = std::fs::canonicalize(&req.dir).map_err(|e| io_fail(e, &req.dir))?;
    let layers_dir = dir.join("layers");
    let mut created: Vec<PathBuf> = Vec::new();
    let r = run_in(req, &dir, &layers_dir, &mut created);
    if r.is_err() {
        for p in created.iter().rev() {
            let _ = safefs::remove_tree(p);
        }
        if made_dir {
            let _ = std::fs::remove_dir(&dir);
        }
    }
    r
}

fn run_in(req: &Request, dir: &Path, layers_dir: &Path, created: &mut Vec<PathBuf>) -> Result<Imported, Fail> {
    if !layers_dir.exists() {
        std::fs::create_dir(layers_dir).map_err(|e| io_fail(e, layers_dir))?;
        created.push(layers_dir.to_owned());
    }
    let first = existing_layers(layers_dir);
    let mut previous: Option<Imported> = None;
    if first > 0 {
        if !req.layer {
            return Err(refuse(
                Errno::EXIST,
                format!("{}: holds {first} layers already (--layer adds one on top)", layers_dir.display()),
            ));
        }
        previous = std::fs::read(dir.join("image.json")).ok().and_then(|b| serde_json::from_slice(&b).ok());
    }
    let mut budget = req.max_size;
    let mut infos = Vec::new();
    let (format, config_digest) = if req.layer {
        let l = LayerRef {
            path: req.image.display().to_string(),
            digest: None,
            size: None,
            diff_id: None,
            media_type: String::new(),
        };
        let (r, len): (Box<dyn Read>, Option<u64>) = if req.image.as_os_str() == "-" {
            (Box::new(std::io::stdin().lock()), None)
        } else {
            let f = File::open(&req.image).map_err(|e| io_fail(e, &req.image))?;
            let len = f.metadata().ok().map(|m| m.len());
            (Box::new(f), len)
        };
        let dest = layers_dir.join(first.to_string());
        created.push(dest.clone());
        let (info, _) = unpack_one(r, len, &l, &dest, first, req, budget)?;
        infos.push(info);
        ("layers".to_owned(), None)
    } else {
        let meta = std::fs::metadata(&req.image).map_err(|e| io_fail(e, &req.image))?;
        let tmp = dir.join(format!(".rfsctl-image-{}.tar", std::process::id()));
        let mut src: Box<dyn Source> = if meta.is_dir() {
            Box::new(image::DirSource::new(&req.image))
        } else {
            let mut f = File::open(&req.image).map_err(|e| io_fail(e, &req.image))?;
            let mut head = [0u8; 4];
            let n = f.read(&mut head).map_err(|e| io_fail(e, &req.image))?;
            let f = File::open(&req.image).map_err(|e| io_fail(e, &req.image))?;
            if Compression::sniff(&head[..n]) == Compression::None {
                Box::new(image::TarSource::new(f)?)
            } else {
                created.push(tmp.clone());
                let out = decompressed_copy(f, &tmp, req.max_size.saturating_add(image::JSON_MAX))?;
                Box::new(image::TarSource::new(out)?)
            }
        };
        let plan = image::plan(src.as_mut(), &req.select)?;
        for (i, l) in plan.layers.iter().enumerate() {
            let dest = layers_dir.join(i.to_string());
            created.push(dest.clone());
            let (r, len) = src.open(&l.path)?;
            if let Some(want) = l.size.filter(|&w| w != len) {
                return Err(refuse(
                    Errno::BADMSG,
                    format!("layer {i} ({}): {len} bytes where the manifest says {want}", l.path),
                ));
            }
            let (info, ulen) = match unpack_one(r, Some(len), l, &dest, i, req, budget) {
                Ok(x) => x,
                // A blob that is not what its digest says fails as that,
                // whatever its bytes made the unpacking trip over.
                Err(f) => return Err(mismatch(src.as_mut(), l, i).unwrap_or(f)),
            };
            budget = budget.saturating_sub(ulen);
            infos.push(info);
        }
        drop(src);
        if tmp.exists() {
            let _ = std::fs::remove_file(&tmp);
        }
        let cfg = dir.join("config.json");
        std::fs::write(&cfg, &plan.config).map_err(|e| io_fail(e, &cfg))?;
        (plan.format.to_owned(), Some(plan.config_digest))
    };
    let upper = dir.join("upper");
    if !upper.exists() {
        std::fs::create_dir(&upper).map_err(|e| io_fail(e, &upper))?;
        created.push(upper.clone());
    }
    let total = first + infos.len();
    let mut layers = previous.as_ref().map(|p| p.layers.clone()).unwrap_or_default();
    layers.truncate(first);
    layers.extend(infos);
    let branches = branches_of(dir, total);
    let out = Imported {
        dir: dir.display().to_string(),
        format: match &previous {
            Some(p) if req.layer => p.format.clone(),
            _ => format,
        },
        config_digest: config_digest.or_else(|| previous.as_ref().and_then(|p| p.config_digest.clone())),
        layers,
        upper: upper.display().to_string(),
        branches: branches.iter().map(|b| b.display() + "=" + b.perm.as_deref().unwrap_or("")).collect(),
        mount_option: format!("br:{}", branches.iter().map(BranchArg::to_option_text).collect::<Vec<_>>().join(":")),
        mounted: None,
    };
    let j = dir.join("image.json");
    let text = serde_json::to_string_pretty(&out).unwrap_or_default();
    std::fs::write(&j, text + "\n").map_err(|e| io_fail(e, &j))?;
    let b = dir.join("branches");
    let mut list = String::from("# rfsctl mount --branches-from this file MNT (top first)\n");
    for l in &out.branches {
        list.push_str(l);
        list.push('\n');
    }
    std::fs::write(&b, list).map_err(|e| io_fail(e, &b))?;
    Ok(out)
}

/// The human report of an import.
pub fn report(i: &Imported, mount_hint: bool) -> String {
    let mut s = format!(
        "imported {} layer{} ({}) into {}: layers/0 is the bottom, upper/ takes the changes\n",
        i.layers.len(),
        if i.layers.len() == 1 { "" } else { "s" },
        i.format,
        i.dir
    );
    for l in &i.layers {
        let st = &l.stats;
        let n = |k: &str| st.get(k).and_then(|v| v.as_u64()).unwrap_or(0);
        s.push_str(&format!(
            "  layer {}: {} ({}), {} files, {} dirs, {} symlinks, {} hard links, {} whiteouts, {} opaque, {} bytes\n",
            l.index,
            l.diff_id,
            l.compression,
            n("files"),
            n("dirs"),
            n("symlinks"),
            n("hardlinks"),
            n("whiteouts"),
            n("opaque"),
            n("bytes")
        ));
    }
    if mount_hint {
        s.push_str(&format!("mount it with:\n  mount -t rfs -o {} none MNT\n", i.mount_option));
        s.push_str(&format!("  rfsctl mount --branches-from {}/branches MNT\n", i.dir));
    }
    if let Some(m) = &i.mounted {
        s.push_str(&format!("mounted on {m}\n"));
    }
    s
}

/// `64G`, `10M`, `4096`, `1.5G` as bytes.
pub fn parse_size(s: &str) -> Result<u64, String> {
    let t = s.trim();
    let (num, mult) = match t.char_indices().last() {
        Some((i, c)) if c.is_ascii_alphabetic() => {
            let m: u64 = match c.to_ascii_uppercase() {
                'K' => 1 << 10,
                'M' => 1 << 20,
                'G' => 1 << 30,
                'T' => 1 << 40,
                _ => return Err(format!("{s}: unknown unit {c} (K, M, G, T)")),
            };
            (&t[..i], m)
        }
        _ => (t, 1),
    };
    let v: f64 = num.parse().map_err(|_| format!("{s}: not a size"))?;
    if v.is_nan() || v < 0.0 || !v.is_finite() {
        return Err(format!("{s}: not a size"));
    }
    let bytes = v * mult as f64;
    if bytes > u64::MAX as f64 {
        return Err(format!("{s}: too big"));
    }
    Ok(bytes as u64)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sizes() {
        assert_eq!(parse_size("4096"), Ok(4096));
        assert_eq!(parse_size("10M"), Ok(10 << 20));
        assert_eq!(parse_size("1.5k"), Ok(1536));
        assert!(parse_size("x").is_err());
        assert!(parse_size("5Q").is_err());
    }
}
