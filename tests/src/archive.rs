//! Reproducible release archives (tar, gzip) for the release server and registry layers, such as
//! helm's `helm-v3.16.2-linux-amd64.tar.gz` holding `linux-amd64/helm`.

use std::io::Write;

/// One file of an archive.
#[derive(Clone, Copy, Debug)]
pub struct Entry<'a> {
    /// The path inside the archive (`linux-amd64/helm`).
    pub path: &'a str,
    /// The content.
    pub content: &'a [u8],
    /// The Unix mode (`0o755` for executables).
    pub mode: u32,
}

/// A tar archive of `entries`, with fixed metadata (mtime 0, uid/gid 0): the same entries always
/// give the same bytes.
pub fn tar(entries: &[Entry<'_>]) -> Vec<u8> {
    let mut builder = tar::Builder::new(Vec::new());
    for entry in entries {
        let mut header = tar::Header::new_gnu();
        header.set_size(entry.content.len() as u64);
        header.set_mode(entry.mode);
        header.set_mtime(0);
        header.set_uid(0);
        header.set_gid(0);
        header.set_cksum();
        builder
            .append_data(&mut header, entry.path, entry.content)
            .unwrap_or_else(|err| panic!("adding {} to a tar archive: {err}", entry.path));
    }
    builder.into_inner().expect("finishing a tar archive")
}

/// `bytes` gzip-compressed (reproducible: no name, mtime 0).
pub fn gzip(bytes: &[u8]) -> Vec<u8> {
    let mut encoder = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::fast());
    encoder
        .write_all(bytes)
        .expect("gzip-compressing in memory");
    encoder.finish().expect("gzip-compressing in memory")
}

/// A `.tar.gz` of `entries`.
pub fn tar_gz(entries: &[Entry<'_>]) -> Vec<u8> {
    gzip(&tar(entries))
}
