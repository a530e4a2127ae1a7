//! Container images as `docker save` writes them and as OCI image layouts
//! (a directory or a tar of one): which layers, in which order, with which
//! digests.
//!
//! - OCI (`oci-layout`, `index.json`): the index names a manifest (or
//!   another index, followed); the manifest names the config and the
//!   layers, each a blob `blobs/<alg>/<hex>` whose size and sha256 digest
//!   are checked as it is read. The config's `rootfs.diff_ids` (digests of
//!   the uncompressed layers) are checked too.
//! - `docker save` (`manifest.json`): the config file (checked against its
//!   name when that is a digest) and the layer files in order; each
//!   layer's uncompressed digest is checked against the config's
//!   `rootfs.diff_ids`.
//!
//! The layers come bottom first, as both formats list them.

use crate::layer::refuse;
use crate::stream::digest_of;
use crate::Fail;
use rustix::io::Errno;
use serde::Deserialize;
use std::collections::HashMap;
use std::fs::File;
use std::io::{Read, Seek, SeekFrom};
use std::path::{Path, PathBuf};

/// The most a JSON file of an image (index, manifest, config) may have.
pub const JSON_MAX: u64 = 16 << 20;

/// Where an image's files are read from.
pub trait Source {
    /// The file `name` (a path inside the layout) and its size.
    fn open(&mut self, name: &str) -> Result<(Box<dyn Read + '_>, u64), Fail>;
    /// Whether `name` is there.
    fn has(&mut self, name: &str) -> bool;
}

/// `a/./b/../c` as `a/c`; `None` if it climbs above the top.
fn normalize(dir: &[&str], name: &str) -> Option<String> {
    let mut parts: Vec<&str> = if name.starts_with('/') { Vec::new() } else { dir.to_vec() };
    for c in name.split('/') {
        match c {
            "" | "." => {}
            ".." => {
                parts.pop()?;
            }
            c => parts.push(c),
        }
    }
    Some(parts.join("/"))
}

fn not_found(name: &str) -> Fail {
    refuse(Errno::NOENT, format!("{name}: not in the image"))
}

/// An image layout in a directory.
pub struct DirSource {
    root: PathBuf,
}

impl DirSource {
    /// The layout at `root`.
    pub fn new(root: &Path) -> Self {
        DirSource { root: root.to_owned() }
    }

    fn path(&self, name: &str) -> Result<PathBuf, Fail> {
        let n = normalize(&[], name).ok_or_else(|| refuse(Errno::INVAL, format!("{name}: leads out of the image")))?;
        Ok(self.root.join(n))
    }
}

impl Source for DirSource {
    fn open(&mut self, name: &str) -> Result<(Box<dyn Read + '_>, u64), Fail> {
        let p = self.path(name)?;
        let f = File::open(&p).map_err(|e| crate::layer::read_fail(e, &p.display().to_string()))?;
        let m = f.metadata().map_err(|e| crate::layer::read_fail(e, &p.display().to_string()))?;
        if !m.is_file() {
            return Err(refuse(Errno::INVAL, format!("{}: not a regular file", p.display())));
        }
        Ok((Box::new(f), m.len()))
    }

    fn has(&mut self, name: &str) -> bool {
        self.path(name).is_ok_and(|p| p.is_file())
    }
}

#[derive(Debug, Clone)]
enum TarEnt {
    File { offset: u64, size: u64 },
    Link(String),
}

/// An image layout (or `docker save` output) in a tar file, read in place:
/// an index of its files' offsets, then reads at those offsets.
pub struct TarSource {
    file: File,
    index: HashMap<String, TarEnt>,
}

impl TarSource {
    /// Indexes the (uncompressed) tar `file`.
    pub fn new(file: File) -> Result<Self, Fail> {
        let mut index = HashMap::new();
        {
            let mut ar = tar::Archive::new(&file);
            let entries = ar.entries_with_seek().map_err(|e| crate::layer::read_fail(e, "image tar"))?;
            for e in entries {
                let e = e.map_err(|e| crate::layer::read_fail(e, "image tar"))?;
                let raw = String::from_utf8_lossy(&e.path_bytes()).into_owned();
                let Some(name) = normalize(&[], &raw) else {
                    return Err(refuse(Errno::INVAL, format!("image tar: entry {raw}: leads out of the image")));
                };
                let dir: Vec<&str> = name.split('/').collect();
                let dir = &dir[..dir.len().saturating_sub(1)];
                let link = e.link_name_bytes().map(|l| String::from_utf8_lossy(&l).into_owned()).unwrap_or_default();
                let ent = match e.header().entry_type() {
                    tar::EntryType::Regular | tar::EntryType::Continuous => {
                        TarEnt::File { offset: e.raw_file_position(), size: e.size() }
                    }
                    tar::EntryType::Symlink => match normalize(dir, &link) {
                        Some(t) => TarEnt::Link(t),
                        None => continue,
                    },
                    tar::EntryType::Link => match normalize(&[], &link) {
                        Some(t) => TarEnt::Link(t),
                        None => continue,
                    },
                    _ => continue,
                };
                if index.insert(name.clone(), ent).is_some() {
                    return Err(refuse(Errno::INVAL, format!("image tar: {name} given twice")));
                }
            }
        }
        Ok(TarSource { file, index })
    }

    fn resolve(&self, name: &str) -> Option<(u64, u64)> {
        let mut n = normalize(&[], name)?;
        for _ in 0..16 {
            match self.index.get(&n)? {
                TarEnt::File { offset, size } => return Some((*offset, *size)),
                TarEnt::Link(t) => n = t.clone(),
            }
        }
        None
    }
}

impl Source for TarSource {
    fn open(&mut self, name: &str) -> Result<(Box<dyn Read + '_>, u64), Fail> {
        let (offset, size) = self.resolve(name).ok_or_else(|| not_found(name))?;
        self.file.seek(SeekFrom::Start(offset)).map_err(|e| crate::layer::read_fail(e, name))?;
        Ok((Box::new((&self.file).take(size)), size))
    }

    fn has(&mut self, name: &str) -> bool {
        self.resolve(name).is_some()
    }
}

/// Reads a small file whole (at most [`JSON_MAX`]).
pub fn read_small(src: &mut dyn Source, name: &str) -> Result<Vec<u8>, Fail> {
    let (r, size) = src.open(name)?;
    if size > JSON_MAX {
        return Err(refuse(Errno::FBIG, format!("{name}: {size} bytes, too big for an image's JSON file")));
    }
    let mut v = Vec::new();
    r.take(JSON_MAX).read_to_end(&mut v).map_err(|e| crate::layer::read_fail(e, name))?;
    Ok(v)
}

fn json<T: for<'de> Deserialize<'de>>(bytes: &[u8], what: &str) -> Result<T, Fail> {
    serde_json::from_slice(bytes).map_err(|e| refuse(Errno::INVAL, format!("{what}: {e}")))
}

/// An OCI content descriptor.
#[derive(Debug, Clone, Deserialize)]
pub struct Descriptor {
    /// Its media type.
    #[serde(rename = "mediaType", default)]
    pub media_type: String,
    /// `sha256:<hex>`.
    pub digest: String,
    /// Its size in bytes.
    pub size: u64,
    /// For an index's manifests: the platform.
    #[serde(default)]
    pub platform: Option<Platform>,
    /// Annotations (`org.opencontainers.image.ref.name`, ...).
    #[serde(default)]
    pub annotations: HashMap<String, String>,
}

/// An OCI platform.
#[derive(Debug, Clone, Deserialize)]
pub struct Platform {
    /// `amd64`, `arm64`, ...
    pub architecture: String,
    /// `linux`, ...
    pub os: String,
    /// `v8`, ...
    #[serde(default)]
    pub variant: Option<String>,
}

#[derive(Debug, Deserialize)]
struct Index {
    #[serde(rename = "mediaType", default)]
    media_type: String,
    #[serde(default)]
    manifests: Vec<Descriptor>,
}

#[derive(Debug, Deserialize)]
struct Manifest {
    config: Descriptor,
    #[serde(default)]
    layers: Vec<Descriptor>,
}

#[derive(Debug, Deserialize)]
struct DockerEntry {
    #[serde(rename = "Config")]
    config: String,
    #[serde(rename = "RepoTags", default)]
    repo_tags: Option<Vec<String>>,
    #[serde(rename = "Layers")]
    layers: Vec<String>,
}

#[derive(Debug, Default, Deserialize)]
struct RootFs {
    #[serde(default)]
    diff_ids: Vec<String>,
}

#[derive(Debug, Default, Deserialize)]
struct ConfigFile {
    #[serde(default)]
    rootfs: RootFs,
}

/// One layer to unpack.
#[derive(Debug, Clone)]
pub struct LayerRef {
    /// Its file in the layout.
    pub path: String,
    /// The digest of that file, when the format gives one.
    pub digest: Option<String>,
    /// Its size, when the format gives one.
    pub size: Option<u64>,
    /// The digest of the uncompressed tar, when the config gives one.
    pub diff_id: Option<String>,
    /// Its media type (empty for `docker save`'s).
    pub media_type: String,
}

/// What an image is made of.
#[derive(Debug, Clone)]
pub struct Plan {
    /// `oci` or `docker-save`.
    pub format: &'static str,
    /// The config, verified.
    pub config: Vec<u8>,
    /// The config's digest.
    pub config_digest: String,
    /// The layers, bottom first.
    pub layers: Vec<LayerRef>,
}

/// How to pick one image of several.
#[derive(Debug, Clone, Default)]
pub struct Select {
    /// A name (`org.opencontainers.image.ref.name`, or a `docker save`
    /// RepoTag).
    pub reference: Option<String>,
    /// `os/arch[/variant]`; default this machine's `linux/<arch>`.
    pub platform: Option<String>,
}

/// The path of a blob, after checking the digest's form.
pub fn blob_path(digest: &str) -> Result<String, Fail> {
    let bad = || refuse(Errno::INVAL, format!("digest {digest}: not sha256:<64 hex digits>"));
    let (alg, hex) = digest.split_once(':').ok_or_else(bad)?;
    if alg != "sha256" {
        return Err(refuse(Errno::INVAL, format!("digest {digest}: algorithm {alg} is not supported (sha256 only)")));
    }
    if hex.len() != 64 || !hex.bytes().all(|b| b.is_ascii_digit() || (b'a'..=b'f').contains(&b)) {
        return Err(bad());
    }
    Ok(format!("blobs/sha256/{hex}"))
}

/// Reads a small blob and checks its size and digest.
fn read_blob(src: &mut dyn Source, d: &Descriptor) -> Result<Vec<u8>, Fail> {
    let p = blob_path(&d.digest)?;
    if d.size > JSON_MAX {
        return Err(refuse(Errno::FBIG, format!("{p}: {} bytes, too big for an image's JSON file", d.size)));
    }
    let data = read_small(src, &p)?;
    if data.len() as u64 != d.size {
        return Err(refuse(Errno::BADMSG, format!("{p}: {} bytes where the descriptor says {}", data.len(), d.size)));
    }
    let got = digest_of(&data);
    if got != d.digest {
        return Err(refuse(Errno::BADMSG, format!("{p}: digest mismatch: the content is {got}")));
    }
    Ok(data)
}

/// This machine's architecture in OCI's words.
fn host_arch() -> &'static str {
    match std::env::consts::ARCH {
        "x86_64" => "amd64",
        "aarch64" => "arm64",
        "x86" => "386",
        "powerpc64" => "ppc64le",
        other => other,
    }
}

const REF_NAME: &str = "org.opencontainers.image.ref.name";

fn is_index(media_type: &str) -> bool {
    media_type.contains("image.index") || media_type.contains("manifest.list")
}

/// Picks one manifest descriptor of an index.
fn pick<'a>(list: &'a [Descriptor], sel: &Select) -> Result<&'a Descriptor, Fail> {
    let mut cands: Vec<&Descriptor> = list.iter().collect();
    if let Some(r) = &sel.reference {
        let named: Vec<&Descriptor> = cands
            .iter()
            .copied()
            .filter(|d| d.annotations.get(REF_NAME).is_some_and(|n| n == r || r.ends_with(&format!(":{n}"))))
            .collect();
        if !named.is_empty() {
            cands = named;
        }
    }
    if cands.len() > 1 {
        let want = sel.platform.clone().unwrap_or_else(|| format!("linux/{}", host_arch()));
        let matching: Vec<&Descriptor> = cands
            .iter()
            .copied()
            .filter(|d| {
                d.platform.as_ref().is_none_or(|p| {
                    let full = match &p.variant {
                        Some(v) => format!("{}/{}/{v}", p.os, p.architecture),
                        None => format!("{}/{}", p.os, p.architecture),
                    };
                    full == want || format!("{}/{}", p.os, p.architecture) == want
                })
            })
            .collect();
        cands = matching;
    }
    match cands.as_slice() {
        [one] => Ok(one),
        [] => Err(refuse(Errno::NOENT, "no image in the index matches --ref/--platform".into())),
        many => Err(refuse(
            Errno::INVAL,
            format!("{} images in the index: pick one with --ref NAME or --platform OS/ARCH", many.len()),
        )),
    }
}

fn diff_ids(config: &[u8]) -> Result<Vec<String>, Fail> {
    let c: ConfigFile = json(config, "image config")?;
    Ok(c.rootfs.diff_ids)
}

/// The plan of an OCI layout.
pub fn plan_oci(src: &mut dyn Source, sel: &Select) -> Result<Plan, Fail> {
    let layout = read_small(src, "oci-layout")?;
    let v: serde_json::Value = json(&layout, "oci-layout")?;
    if v.get("imageLayoutVersion").and_then(|x| x.as_str()).is_none() {
        return Err(refuse(Errno::INVAL, "oci-layout: no imageLayoutVersion".into()));
    }
    let mut index: Index = json(&read_small(src, "index.json")?, "index.json")?;
    let _ = &index.media_type;
    let mut depth = 0;
    let manifest = loop {
        let d = pick(&index.manifests, sel)?.clone();
        let data = read_blob(src, &d)?;
        let is_idx = is_index(&d.media_type)
            || serde_json::from_slice::<serde_json::Value>(&data)
                .ok()
                .and_then(|v| v.get("manifests").map(|_| ()))
                .is_some();
        if is_idx {
            depth += 1;
            if depth > 4 {
                return Err(refuse(Errno::INVAL, "index.json: indexes nested more than 4 deep".into()));
            }
            index = json(&data, &d.digest)?;
            continue;
        }
        break json::<Manifest>(&data, &d.digest)?;
    };
    let config = read_blob(src, &manifest.config)?;
    let ids = diff_ids(&config)?;
    if !ids.is_empty() && ids.len() != manifest.layers.len() {
        return Err(refuse(
            Errno::BADMSG,
            format!("the config names {} layers, the manifest {}", ids.len(), manifest.layers.len()),
        ));
    }
    let mut layers = Vec::new();
    for (i, l) in manifest.layers.iter().enumerate() {
        if !l.media_type.is_empty() && !l.media_type.contains("tar") {
            return Err(refuse(Errno::INVAL, format!("layer {}: media type {} is not a layer", l.digest, l.media_type)));
        }
        layers.push(LayerRef {
            path: blob_path(&l.digest)?,
            digest: Some(l.digest.clone()),
            size: Some(l.size),
            diff_id: ids.get(i).cloned(),
            media_type: l.media_type.clone(),
        });
    }
    Ok(Plan { format: "oci", config_digest: manifest.config.digest.clone(), config, layers })
}

/// The digest a `docker save` file name carries (`<hex>.json`,
/// `blobs/sha256/<hex>`), if any.
fn digest_in_name(name: &str) -> Option<String> {
    let base = name.rsplit('/').next()?;
    let hex = base.strip_suffix(".json").unwrap_or(base);
    (hex.len() == 64 && hex.bytes().all(|b| b.is_ascii_hexdigit())).then(|| format!("sha256:{hex}"))
}

/// The plan of a `docker save` archive.
pub fn plan_docker(src: &mut dyn Source, sel: &Select) -> Result<Plan, Fail> {
    let list: Vec<DockerEntry> = json(&read_small(src, "manifest.json")?, "manifest.json")?;
    let chosen: Vec<&DockerEntry> = match &sel.reference {
        Some(r) => list.iter().filter(|e| e.repo_tags.as_ref().is_some_and(|t| t.iter().any(|t| t == r))).collect(),
        None => list.iter().collect(),
    };
    let e = match chosen.as_slice() {
        [one] => *one,
        [] => return Err(refuse(Errno::NOENT, "manifest.json: no image (matching --ref)".into())),
        many => {
            return Err(refuse(Errno::INVAL, format!("manifest.json: {} images: pick one with --ref REPO:TAG", many.len())))
        }
    };
    let config = read_small(src, &e.config)?;
    let config_digest = digest_of(&config);
    if let Some(want) = digest_in_name(&e.config) {
        if want != config_digest {
            return Err(refuse(Errno::BADMSG, format!("{}: digest mismatch: the content is {config_digest}", e.config)));
        }
    }
    let ids = diff_ids(&config)?;
    if ids.len() != e.layers.len() {
        return Err(refuse(
            Errno::BADMSG,
            format!("the config names {} layers, manifest.json {}", ids.len(), e.layers.len()),
        ));
    }
    let layers = e
        .layers
        .iter()
        .zip(ids)
        .map(|(p, id)| LayerRef {
            path: p.clone(),
            digest: p.starts_with("blobs/").then(|| digest_in_name(p)).flatten(),
            size: None,
            diff_id: Some(id),
            media_type: String::new(),
        })
        .collect();
    Ok(Plan { format: "docker-save", config, config_digest, layers })
}

/// The plan of whatever image `src` holds (OCI preferred when an archive
/// has both, as Docker 25's `docker save` writes).
pub fn plan(src: &mut dyn Source, sel: &Select) -> Result<Plan, Fail> {
    if src.has("oci-layout") && src.has("index.json") {
        plan_oci(src, sel)
    } else if src.has("manifest.json") {
        plan_docker(src, sel)
    } else {
        Err(refuse(
            Errno::INVAL,
            "not an image: no oci-layout + index.json, no manifest.json (a single layer tar: use --layer)".into(),
        ))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn normalizes() {
        assert_eq!(normalize(&[], "./a/b/../c").as_deref(), Some("a/c"));
        assert_eq!(normalize(&["x"], "../y").as_deref(), Some("y"));
        assert_eq!(normalize(&[], "../y"), None);
        assert_eq!(normalize(&["x"], "/abs").as_deref(), Some("abs"));
    }

    #[test]
    fn blob_paths() {
        let hex = "a".repeat(64);
        assert_eq!(blob_path(&format!("sha256:{hex}")).unwrap(), format!("blobs/sha256/{hex}"));
        assert!(blob_path("sha256:../../etc/passwd").is_err());
        assert!(blob_path(&format!("sha512:{hex}")).is_err());
        assert_eq!(digest_in_name(&format!("{hex}.json")), Some(format!("sha256:{hex}")));
        assert_eq!(digest_in_name("abc/layer.tar"), None);
    }
}
