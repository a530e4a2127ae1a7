//! Byte streams of layers: sha256 digests while reading or writing, a
//! size limit, and the compression (gzip, zstd or none) of a layer, told
//! by its first bytes when reading.

use sha2::{Digest, Sha256};
use std::io::{self, BufRead, BufReader, Read, Write};

/// `sha256:<hex>` of a finished hasher.
pub fn digest_string(h: Sha256) -> String {
    let d = h.finalize();
    let mut s = String::with_capacity(7 + 64);
    s.push_str("sha256:");
    for b in d {
        s.push_str(&format!("{b:02x}"));
    }
    s
}

/// The sha256 digest of `data` as `sha256:<hex>`.
pub fn digest_of(data: &[u8]) -> String {
    let mut h = Sha256::new();
    h.update(data);
    digest_string(h)
}

/// A reader that hashes and counts what goes through it.
pub struct HashReader<R> {
    inner: R,
    hash: Sha256,
    /// Bytes read so far.
    pub count: u64,
}

impl<R: Read> HashReader<R> {
    /// Wraps `inner`.
    pub fn new(inner: R) -> Self {
        HashReader { inner, hash: Sha256::new(), count: 0 }
    }

    /// Reads the rest (to EOF), then gives the digest and the count.
    pub fn finish(mut self) -> io::Result<(String, u64)> {
        io::copy(&mut self, &mut io::sink())?;
        Ok((digest_string(self.hash), self.count))
    }
}

impl<R: Read> Read for HashReader<R> {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        let n = self.inner.read(buf)?;
        self.hash.update(&buf[..n]);
        self.count += n as u64;
        Ok(n)
    }
}

/// A writer that hashes and counts what goes through it.
pub struct HashWriter<W> {
    inner: W,
    hash: Sha256,
    /// Bytes written so far.
    pub count: u64,
}

impl<W: Write> HashWriter<W> {
    /// Wraps `inner`.
    pub fn new(inner: W) -> Self {
        HashWriter { inner, hash: Sha256::new(), count: 0 }
    }

    /// The digest, the count and the inner writer.
    pub fn finish(self) -> (String, u64, W) {
        (digest_string(self.hash), self.count, self.inner)
    }
}

impl<W: Write> Write for HashWriter<W> {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        let n = self.inner.write(buf)?;
        self.hash.update(&buf[..n]);
        self.count += n as u64;
        Ok(n)
    }

    fn flush(&mut self) -> io::Result<()> {
        self.inner.flush()
    }
}

/// The error a [`Limited`] reader gives past its limit.
#[derive(Debug)]
pub struct TooBig(pub u64);

impl std::fmt::Display for TooBig {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "more than {} bytes (the --max-size limit)", self.0)
    }
}

impl std::error::Error for TooBig {}

/// A reader that fails (with [`TooBig`] inside an `io::Error`) once more
/// than `limit` bytes came through: a decompression bomb stops there.
pub struct Limited<R> {
    inner: R,
    left: u64,
    limit: u64,
}

impl<R: Read> Limited<R> {
    /// At most `limit` bytes of `inner`.
    pub fn new(inner: R, limit: u64) -> Self {
        Limited { inner, left: limit, limit }
    }
}

impl<R: Read> Read for Limited<R> {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        if buf.is_empty() {
            return Ok(0);
        }
        // One byte more than allowed tells "too big" from "exactly full".
        let want = buf.len().min(usize::try_from(self.left.saturating_add(1)).unwrap_or(usize::MAX));
        let n = self.inner.read(&mut buf[..want])?;
        if n as u64 > self.left {
            return Err(io::Error::new(io::ErrorKind::FileTooLarge, TooBig(self.limit)));
        }
        self.left -= n as u64;
        Ok(n)
    }
}

/// How a layer is compressed.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize, clap::ValueEnum)]
#[serde(rename_all = "lowercase")]
pub enum Compression {
    /// A plain tar.
    None,
    /// gzip.
    Gzip,
    /// zstd.
    Zstd,
}

impl Compression {
    /// Told by the first bytes of a stream.
    pub fn sniff(head: &[u8]) -> Compression {
        if head.starts_with(&[0x1f, 0x8b]) {
            Compression::Gzip
        } else if head.starts_with(&[0x28, 0xb5, 0x2f, 0xfd]) {
            Compression::Zstd
        } else {
            Compression::None
        }
    }

    /// Told by a file name's ending (`.gz`, `.tgz`, `.zst`).
    pub fn of_name(name: &str) -> Compression {
        if name.ends_with(".gz") || name.ends_with(".tgz") {
            Compression::Gzip
        } else if name.ends_with(".zst") || name.ends_with(".zstd") {
            Compression::Zstd
        } else {
            Compression::None
        }
    }

    /// The OCI media type of a layer so compressed.
    pub fn media_type(self) -> &'static str {
        match self {
            Compression::None => "application/vnd.oci.image.layer.v1.tar",
            Compression::Gzip => "application/vnd.oci.image.layer.v1.tar+gzip",
            Compression::Zstd => "application/vnd.oci.image.layer.v1.tar+zstd",
        }
    }
}

/// The decompressed stream of `r`, its compression told by its first bytes.
pub fn decompress<'a, R: Read + 'a>(r: R) -> io::Result<(Compression, Box<dyn Read + 'a>)> {
    let mut br = BufReader::with_capacity(64 * 1024, r);
    let c = Compression::sniff(br.fill_buf()?);
    let out: Box<dyn Read + 'a> = match c {
        Compression::None => Box::new(br),
        Compression::Gzip => Box::new(flate2::bufread::MultiGzDecoder::new(br)),
        Compression::Zstd => Box::new(zstd::stream::read::Decoder::with_buffer(br)?),
    };
    Ok((c, out))
}

/// A writer that compresses into `w`; [`Compressor::finish`] ends the stream.
pub enum Compressor<W: Write> {
    /// As is.
    None(W),
    /// gzip (no name, mtime 0: the same input gives the same bytes).
    Gzip(flate2::write::GzEncoder<W>),
    /// zstd (level 3).
    Zstd(zstd::stream::write::Encoder<'static, W>),
}

impl<W: Write> Compressor<W> {
    /// Starts a stream.
    pub fn new(w: W, c: Compression) -> io::Result<Self> {
        Ok(match c {
            Compression::None => Compressor::None(w),
            Compression::Gzip => Compressor::Gzip(flate2::GzBuilder::new().mtime(0).write(w, flate2::Compression::default())),
            Compression::Zstd => Compressor::Zstd(zstd::stream::write::Encoder::new(w, 3)?),
        })
    }

    /// Ends the stream and gives the writer back.
    pub fn finish(self) -> io::Result<W> {
        match self {
            Compressor::None(w) => Ok(w),
            Compressor::Gzip(g) => g.finish(),
            Compressor::Zstd(z) => z.finish(),
        }
    }
}

impl<W: Write> Write for Compressor<W> {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        match self {
            Compressor::None(w) => w.write(buf),
            Compressor::Gzip(g) => g.write(buf),
            Compressor::Zstd(z) => z.write(buf),
        }
    }

    fn flush(&mut self) -> io::Result<()> {
        match self {
            Compressor::None(w) => w.flush(),
            Compressor::Gzip(g) => g.flush(),
            Compressor::Zstd(z) => z.flush(),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn digests() {
        assert_eq!(digest_of(b""), "sha256:e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855");
        let (d, n) = HashReader::new(&b"abc"[..]).finish().unwrap();
        assert_eq!(n, 3);
        assert_eq!(d, digest_of(b"abc"));
    }

    #[test]
    fn limit() {
        let mut v = Vec::new();
        Limited::new(&b"abcd"[..], 4).read_to_end(&mut v).unwrap();
        assert_eq!(v, b"abcd");
        let e = Limited::new(&b"abcde"[..], 4).read_to_end(&mut Vec::new()).unwrap_err();
        assert_eq!(e.kind(), io::ErrorKind::FileTooLarge);
    }

    #[test]
    fn round_trips_each_compression() {
        for c in [Compression::None, Compression::Gzip, Compression::Zstd] {
            let mut z = Compressor::new(Vec::new(), c).unwrap();
            z.write_all(b"hello layer").unwrap();
            let bytes = z.finish().unwrap();
            let (got, mut r) = decompress(&bytes[..]).unwrap();
            assert_eq!(got, c);
            let mut out = Vec::new();
            r.read_to_end(&mut out).unwrap();
            assert_eq!(out, b"hello layer");
        }
        assert_eq!(Compression::of_name("x.tar.gz"), Compression::Gzip);
        assert_eq!(Compression::of_name("x.tar.zst"), Compression::Zstd);
        assert_eq!(Compression::of_name("-"), Compression::None);
    }
}
