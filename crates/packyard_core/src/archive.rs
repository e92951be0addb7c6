//! The zip archives packages arrive as (nupkg, wheel, Composer dist, CRAN binary, ospx): bounds on their
//! central directories, and a reader that walks the directory record by record and keeps only the entries
//! the caller picks, so an archive of 65,000 entries costs no more memory than one of three.

use std::io::{Read, Seek, SeekFrom};

use rawzip::{CompressionMethod, RECOMMENDED_BUFFER_SIZE, ReaderAt, ZipArchive, ZipLocator};

use packyard_domain::limits::{ZIP_DIRECTORY_MAX, ZIP_ENTRIES_MAX};

/// The end-of-central-directory record: its signature and its length without the comment.
const EOCD_SIGNATURE: [u8; 4] = [0x50, 0x4b, 0x05, 0x06];
const EOCD_LENGTH: usize = 22;
/// The zip64 locator, which sits right before the end-of-central-directory record.
const ZIP64_LOCATOR_SIGNATURE: [u8; 4] = [0x50, 0x4b, 0x06, 0x07];
const ZIP64_LOCATOR_LENGTH: usize = 20;
const ZIP64_RECORD_SIGNATURE: [u8; 4] = [0x50, 0x4b, 0x06, 0x06];

fn u16_at(bytes: &[u8], at: usize) -> u64 {
    u64::from(u16::from_le_bytes([bytes[at], bytes[at + 1]]))
}

fn u32_at(bytes: &[u8], at: usize) -> u64 {
    u64::from(u32::from_le_bytes([
        bytes[at],
        bytes[at + 1],
        bytes[at + 2],
        bytes[at + 3],
    ]))
}

fn u64_at(bytes: &[u8], at: usize) -> u64 {
    let mut le = [0u8; 8];
    le.copy_from_slice(&bytes[at..at + 8]);
    u64::from_le_bytes(le)
}

/// Refuses a zip with more than [`ZIP_ENTRIES_MAX`] entries or a central directory larger than
/// [`ZIP_DIRECTORY_MAX`] bytes, reading only its end records; the error names the limit. Something that
/// is not a zip passes, for the zip reader to refuse in its own words. Leaves the reader at its start.
pub fn check_zip_directory<R: Read + Seek>(reader: &mut R) -> Result<(), String> {
    let unreadable = |e: std::io::Error| format!("the archive cannot be read: {e}");
    let length = reader.seek(SeekFrom::End(0)).map_err(unreadable)?;
    // The record ends the file, after a comment of at most 65,535 bytes.
    let tail_length = length.min((EOCD_LENGTH + usize::from(u16::MAX)) as u64);
    reader
        .seek(SeekFrom::Start(length - tail_length))
        .map_err(unreadable)?;
    let mut tail = vec![0u8; tail_length as usize];
    reader.read_exact(&mut tail).map_err(unreadable)?;
    reader.seek(SeekFrom::Start(0)).map_err(unreadable)?;
    let Some(eocd) = (0..=tail.len().saturating_sub(EOCD_LENGTH))
        .rev()
        .find(|&at| tail.len() >= at + EOCD_LENGTH && tail[at..at + 4] == EOCD_SIGNATURE)
    else {
        return Ok(());
    };
    let mut entries = u16_at(&tail, eocd + 10);
    let mut directory = u32_at(&tail, eocd + 12);
    if entries == u64::from(u16::MAX) || directory == u64::from(u32::MAX) {
        // Zip64: the real counts are in the zip64 record the locator points at.
        let locator = eocd.checked_sub(ZIP64_LOCATOR_LENGTH);
        if let Some(locator) = locator.filter(|&at| tail[at..at + 4] == ZIP64_LOCATOR_SIGNATURE) {
            let mut record = [0u8; 56];
            let offset = u64_at(&tail, locator + 8);
            let read = reader
                .seek(SeekFrom::Start(offset))
                .and_then(|_| reader.read_exact(&mut record));
            reader.seek(SeekFrom::Start(0)).map_err(unreadable)?;
            if read.is_ok() && record[..4] == ZIP64_RECORD_SIGNATURE {
                entries = u64_at(&record, 32);
                directory = u64_at(&record, 40);
            }
        }
    }
    if entries > ZIP_ENTRIES_MAX {
        return Err(format!(
            "the archive has more than {ZIP_ENTRIES_MAX} entries"
        ));
    }
    if directory > ZIP_DIRECTORY_MAX {
        return Err(format!(
            "the archive's central directory is larger than {ZIP_DIRECTORY_MAX} bytes"
        ));
    }
    Ok(())
}

/// A zip opened for inspection: its end records read and its bounds checked, nothing else held.
pub struct Zip<R> {
    archive: ZipArchive<Positioned<R>>,
}

/// Positioned reads over a seekable reader, for the zip reader (a seek and a read under a lock).
struct Positioned<R>(std::sync::Mutex<R>);

impl<R: Read + Seek> ReaderAt for Positioned<R> {
    fn read_at(&self, buf: &mut [u8], offset: u64) -> std::io::Result<usize> {
        let mut reader = self
            .0
            .lock()
            .map_err(|_| std::io::Error::other("a read of this archive failed midway"))?;
        reader.seek(SeekFrom::Start(offset))?;
        reader.read(buf)
    }
}

/// An entry picked out of a [`Zip`]'s directory.
#[derive(Debug, Clone)]
pub struct ZipMember {
    /// The entry's name as stored (`/`-separated; names that are not UTF-8 are read lossily).
    pub name: String,
    /// Uncompressed size the directory declares; reading checks it.
    pub size: u64,
    wayfinder: rawzip::ZipArchiveEntryWayfinder,
    method: CompressionMethod,
    encrypted: bool,
}

/// Why an archive could not be opened.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ZipOpenError {
    /// It exceeds a bound of [`check_zip_directory`]; the text names it.
    Bounds(String),
    /// It is not a zip (or a damaged one); the text says what is wrong.
    NotAZip(String),
}

impl ZipOpenError {
    /// The message for the uploader: a bound as it is, anything else in the format's own words.
    pub fn explained(self, not_a_zip: impl FnOnce(String) -> String) -> String {
        match self {
            Self::Bounds(bound) => bound,
            Self::NotAZip(detail) => not_a_zip(detail),
        }
    }
}

/// Why a member could not be read.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ZipReadError {
    /// It holds more bytes than the caller's limit.
    TooLarge,
    /// It is damaged, encrypted or compressed in a way no package uses; the text says which.
    Unreadable(String),
}

impl<R: Read + Seek> Zip<R> {
    /// Checks the archive's bounds ([`check_zip_directory`]) and reads its end records.
    pub fn open(mut reader: R) -> Result<Self, ZipOpenError> {
        check_zip_directory(&mut reader).map_err(ZipOpenError::Bounds)?;
        let not_a_zip = |e: &dyn std::fmt::Display| ZipOpenError::NotAZip(e.to_string());
        let end = reader.seek(SeekFrom::End(0)).map_err(|e| not_a_zip(&e))?;
        let mut buffer = vec![0u8; RECOMMENDED_BUFFER_SIZE];
        let archive = ZipLocator::new()
            .locate_in_reader(Positioned(std::sync::Mutex::new(reader)), &mut buffer, end)
            .map_err(|(_, e)| not_a_zip(&e))?;
        Ok(Self { archive })
    }

    /// Walks the central directory in order, handing `pick` each entry's name, and returns the entries it
    /// picked. Only those are kept: a directory is never held whole.
    pub fn pick(&self, mut pick: impl FnMut(&str) -> bool) -> Result<Vec<ZipMember>, String> {
        let mut buffer = vec![0u8; RECOMMENDED_BUFFER_SIZE];
        let mut entries = self.archive.entries(&mut buffer);
        let mut picked = Vec::new();
        while let Some(entry) = entries.next_entry().map_err(|e| e.to_string())? {
            let raw = entry.file_path();
            let name = String::from_utf8_lossy(raw.as_ref());
            if pick(&name) {
                picked.push(ZipMember {
                    name: name.into_owned(),
                    size: entry.uncompressed_size_hint(),
                    wayfinder: entry.wayfinder(),
                    method: entry.compression_method(),
                    encrypted: entry.flags().is_encrypted(),
                });
            }
        }
        Ok(picked)
    }

    /// Reads a picked entry whole, at most `max` bytes, checking its size and CRC-32 against the
    /// directory's. Stored and deflated entries are read; packages use nothing else.
    pub fn read(&self, member: &ZipMember, max: u64) -> Result<Vec<u8>, ZipReadError> {
        if member.size > max {
            return Err(ZipReadError::TooLarge);
        }
        let unreadable = |e: &dyn std::fmt::Display| ZipReadError::Unreadable(e.to_string());
        if member.encrypted {
            return Err(ZipReadError::Unreadable("it is encrypted".into()));
        }
        let entry = self
            .archive
            .get_entry(member.wayfinder)
            .map_err(|e| unreadable(&e))?;
        let compressed = entry.reader();
        let decompressed: Box<dyn Read + '_> = match member.method {
            CompressionMethod::STORE => Box::new(compressed),
            CompressionMethod::DEFLATE => Box::new(flate2::read::DeflateDecoder::new(compressed)),
            other => {
                return Err(ZipReadError::Unreadable(format!(
                    "compression method {other} is not supported"
                )));
            }
        };
        let mut bytes = Vec::new();
        // One byte past the limit tells a member that holds more than its directory says.
        entry
            .verifying_reader(decompressed)
            .take(max + 1)
            .read_to_end(&mut bytes)
            .map_err(|e| unreadable(&e))?;
        if bytes.len() as u64 > max {
            return Err(ZipReadError::TooLarge);
        }
        Ok(bytes)
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used, reason = "tests fail loudly")]

    use std::io::Cursor;

    use super::*;

    /// A zip of these entries, deflated or stored.
    fn zip_of(entries: &[(&str, &[u8])], deflated: bool) -> Vec<u8> {
        use std::io::Write;
        let method = if deflated {
            zip::CompressionMethod::Deflated
        } else {
            zip::CompressionMethod::Stored
        };
        let options = zip::write::SimpleFileOptions::default().compression_method(method);
        let mut writer = zip::ZipWriter::new(Cursor::new(Vec::new()));
        for (name, bytes) in entries {
            writer.start_file(*name, options).unwrap();
            writer.write_all(bytes).unwrap();
        }
        writer.finish().unwrap().into_inner()
    }

    #[test]
    fn picked_entries_are_read_whole_and_the_others_only_named() {
        for deflated in [false, true] {
            let archive = zip_of(
                &[
                    ("a/one.txt", b"first"),
                    ("b.nuspec", b"<package/>"),
                    ("c", b""),
                ],
                deflated,
            );
            let zip = Zip::open(Cursor::new(archive)).unwrap();
            let mut seen = Vec::new();
            let picked = zip
                .pick(|name| {
                    seen.push(name.to_owned());
                    name.ends_with(".nuspec")
                })
                .unwrap();
            assert_eq!(seen, ["a/one.txt", "b.nuspec", "c"]);
            assert_eq!(picked.len(), 1);
            assert_eq!(zip.read(&picked[0], 100).unwrap(), b"<package/>");
            assert_eq!(zip.read(&picked[0], 9), Err(ZipReadError::TooLarge));
        }
    }

    #[test]
    fn a_member_whose_bytes_do_not_match_its_checksum_is_refused() {
        let mut archive = zip_of(&[("x.txt", b"the original bytes")], false);
        let at = archive.windows(8).position(|w| w == b"original").unwrap();
        archive[at..at + 8].copy_from_slice(b"tampered");
        let zip = Zip::open(Cursor::new(archive)).unwrap();
        let picked = zip.pick(|_| true).unwrap();
        assert!(matches!(
            zip.read(&picked[0], 100),
            Err(ZipReadError::Unreadable(_))
        ));
    }

    #[test]
    fn a_member_that_inflates_past_its_declared_size_is_refused() {
        let zeros = vec![0u8; 8 << 20];
        let mut archive = zip_of(&[("bomb", &zeros)], true);
        // Let the directory claim a small size: the reader must not trust it.
        let directory = archive
            .windows(4)
            .rposition(|w| w == [0x50, 0x4b, 0x01, 0x02])
            .unwrap();
        archive[directory + 24..directory + 28].copy_from_slice(&10u32.to_le_bytes());
        let zip = Zip::open(Cursor::new(archive)).unwrap();
        let picked = zip.pick(|_| true).unwrap();
        assert_eq!(picked[0].size, 10);
        assert!(matches!(
            zip.read(&picked[0], 1024),
            Err(ZipReadError::Unreadable(_) | ZipReadError::TooLarge)
        ));
    }

    #[test]
    fn bounds_and_garbage_are_told_apart() {
        assert!(matches!(
            Zip::open(Cursor::new(b"not a zip".to_vec())),
            Err(ZipOpenError::NotAZip(_))
        ));
        assert!(matches!(
            Zip::open(Cursor::new(zip64(ZIP_ENTRIES_MAX + 1, 0))),
            Err(ZipOpenError::Bounds(_))
        ));
    }

    fn eocd(entries: u16, directory: u32) -> Vec<u8> {
        let mut record = EOCD_SIGNATURE.to_vec();
        record.extend([0u8; 6]);
        record.extend(entries.to_le_bytes());
        record.extend(directory.to_le_bytes());
        record.extend([0u8; 6]);
        record
    }

    fn zip64(entries: u64, directory: u64) -> Vec<u8> {
        let mut file = b"local entries".to_vec();
        let record_at = file.len() as u64;
        file.extend(ZIP64_RECORD_SIGNATURE);
        file.extend([0u8; 28]);
        file.extend(entries.to_le_bytes());
        file.extend(directory.to_le_bytes());
        file.extend([0u8; 8]);
        file.extend(ZIP64_LOCATOR_SIGNATURE);
        file.extend([0u8; 4]);
        file.extend(record_at.to_le_bytes());
        file.extend([0u8; 4]);
        file.extend(eocd(u16::MAX, u32::MAX));
        file
    }

    fn check(bytes: Vec<u8>) -> Result<(), String> {
        let mut reader = Cursor::new(bytes);
        let checked = check_zip_directory(&mut reader);
        assert_eq!(reader.position(), 0);
        checked
    }

    #[test]
    fn refuses_too_many_entries_or_too_large_a_directory() {
        assert_eq!(check(eocd(1000, 64_000)), Ok(()));
        assert_eq!(check(zip64(65_535, 1 << 20)), Ok(()));
        assert_eq!(
            check(zip64(1_000_000, 1 << 20)),
            Err("the archive has more than 65535 entries".into())
        );
        assert_eq!(
            check(eocd(1000, 20 << 20)),
            Err("the archive's central directory is larger than 16777216 bytes".into())
        );
        // A comment after the record, and things that are not zips, pass.
        let mut commented = eocd(10, 1000);
        commented.extend(b"a comment");
        assert_eq!(check(commented), Ok(()));
        assert_eq!(check(b"not a zip".to_vec()), Ok(()));
        assert_eq!(check(Vec::new()), Ok(()));
    }
}
