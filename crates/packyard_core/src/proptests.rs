//! Property tests of the zip bounds check every package reader runs first: any bytes, real archives
//! (damaged or not) and forged end records never panic, always leave the reader at its start, and are
//! refused exactly when they declare more entries or a larger directory than the caps.

use std::io::Cursor;

use packyard_domain::limits::{ZIP_DIRECTORY_MAX, ZIP_ENTRIES_MAX};
use packyard_test_inputs::{ARCHIVE_CASES, CASES, config, damage, entry_name, zip_bytes};
use proptest::prelude::*;

use crate::archive::check_zip_directory;

fn check(bytes: Vec<u8>) -> Result<Result<(), String>, TestCaseError> {
    let mut reader = Cursor::new(bytes);
    let checked = check_zip_directory(&mut reader);
    prop_assert_eq!(reader.position(), 0);
    Ok(checked)
}

/// An end-of-central-directory record declaring `entries` and `directory`, after `prefix` and before
/// a comment.
fn end_record(prefix: &[u8], entries: u16, directory: u32, comment: &[u8]) -> Vec<u8> {
    let mut bytes = prefix.to_vec();
    bytes.extend([0x50, 0x4b, 0x05, 0x06]);
    bytes.extend([0u8; 6]);
    bytes.extend(entries.to_le_bytes());
    bytes.extend(directory.to_le_bytes());
    bytes.extend([0u8; 4]);
    bytes.extend((comment.len() as u16).to_le_bytes());
    bytes.extend(comment);
    bytes
}

/// A zip64 end: the zip64 record (declaring `entries` and `directory`), its locator pointing at
/// `record_at` (where the record is, or anywhere), and a classic record saying "see zip64".
fn zip64_end(entries: u64, directory: u64, record_at: Option<u64>) -> Vec<u8> {
    let mut bytes = b"local entries".to_vec();
    let at = bytes.len() as u64;
    bytes.extend([0x50, 0x4b, 0x06, 0x06]);
    bytes.extend([0u8; 28]);
    bytes.extend(entries.to_le_bytes());
    bytes.extend(directory.to_le_bytes());
    bytes.extend([0u8; 8]);
    bytes.extend([0x50, 0x4b, 0x06, 0x07]);
    bytes.extend([0u8; 4]);
    bytes.extend(record_at.unwrap_or(at).to_le_bytes());
    bytes.extend([0u8; 4]);
    end_record(&bytes, u16::MAX, u32::MAX, b"")
}

proptest! {
    #![proptest_config(config(CASES))]

    #[test]
    fn any_bytes_never_panic(bytes in prop::collection::vec(any::<u8>(), 0..1024)) {
        let _ = check(bytes)?;
    }

    #[test]
    fn forged_end_records_are_refused_exactly_beyond_the_caps(
        prefix in prop::collection::vec(any::<u8>(), 0..64),
        entries in any::<u16>(),
        directory in prop_oneof![any::<u32>(), 0..(ZIP_DIRECTORY_MAX as u32 + 2)],
        comment in prop::collection::vec(any::<u8>(), 0..64),
    ) {
        let bytes = end_record(&prefix, entries, directory, &comment);
        // Another signature after the record's start would be read as the record instead.
        let one_record = !bytes[prefix.len() + 1..].windows(4).any(|w| w == [0x50, 0x4b, 0x05, 0x06]);
        let checked = check(bytes)?;
        let zip64 = entries == u16::MAX || directory == u32::MAX;
        if !zip64 && one_record {
            let beyond = u64::from(entries) > ZIP_ENTRIES_MAX || u64::from(directory) > ZIP_DIRECTORY_MAX;
            prop_assert_eq!(checked.is_err(), beyond);
        }
    }

    #[test]
    fn zip64_counts_are_checked(
        entries in prop_oneof![any::<u64>(), 0..ZIP_ENTRIES_MAX + 2],
        directory in prop_oneof![any::<u64>(), 0..ZIP_DIRECTORY_MAX + 2],
        stray in prop::option::of(any::<u64>()),
    ) {
        let checked = check(zip64_end(entries, directory, stray))?;
        if stray.is_none() {
            prop_assert_eq!(checked.is_err(), entries > ZIP_ENTRIES_MAX || directory > ZIP_DIRECTORY_MAX);
        }
    }
}

proptest! {
    #![proptest_config(config(ARCHIVE_CASES))]

    #[test]
    fn real_archives_pass_and_damaged_ones_never_panic(
        entries in prop::collection::vec((entry_name(&["a.txt", "b/c.xml"]), prop::collection::vec(any::<u8>(), 0..64)), 0..8),
        deflate in any::<bool>(),
        damage in damage(),
    ) {
        let whole = zip_bytes(&entries, deflate);
        prop_assert_eq!(check(whole.clone())?, Ok(()));
        let _ = check(damage.apply(whole))?;
    }
}
