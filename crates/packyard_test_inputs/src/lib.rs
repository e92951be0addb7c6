//! Generators for the parsers' property tests (a dev-dependency only): the shared case budget and
//! per-case timeout, XML documents with random nesting and element names, zip archives and gzipped
//! tarballs built in memory from random entries (optionally corrupted), and JSON of random shapes.
//!
//! Depends on no packyard crate, so every crate that owns a parser can use it.

use std::io::{Cursor, Write};

use proptest::prelude::*;
use proptest::test_runner::{Config, RngSeed};
use serde_json::Value;

/// How long one case may run before it counts as a hang, in milliseconds: generous, so that only a
/// parser that does not finish fails, never a busy machine.
pub const CASE_TIMEOUT_MS: u32 = 20_000;

/// Cases per property for cheap, in-memory parsers.
pub const CASES: u32 = 256;

/// Cases per property whose every case builds and reads an archive.
pub const ARCHIVE_CASES: u32 = 64;

/// Cases per property whose every case builds an archive with an entry as large as a size cap.
pub const OVERSIZED_CASES: u32 = 4;

/// Content just beyond `cap` bytes: one random byte repeated, so that it compresses to almost nothing.
pub fn oversized(cap: u64) -> impl Strategy<Value = Vec<u8>> {
    let cap = usize::try_from(cap).unwrap_or(usize::MAX);
    (1..4096usize, any::<u8>()).prop_map(move |(extra, byte)| vec![byte; cap + extra])
}

/// The configuration every property test uses: `cases` cases from a fixed seed, each in a forked runner that fails a case
/// running longer than [`CASE_TIMEOUT_MS`]. Failures are not saved to regression files: the minimal
/// failing input is printed, and it becomes a unit test next to the fix.
pub fn config(cases: u32) -> Config {
    let default = Config::default();
    // The same cases on every run, so that CI never fails by chance; `PROPTEST_RNG_SEED=<n>` explores
    // others.
    let rng_seed = if std::env::var_os("PROPTEST_RNG_SEED").is_some() {
        default.rng_seed
    } else {
        RngSeed::Fixed(FIXED_SEED)
    };
    Config {
        cases,
        timeout: CASE_TIMEOUT_MS,
        failure_persistence: None,
        rng_seed,
        ..default
    }
}

/// The seed of every run without `PROPTEST_RNG_SEED`.
const FIXED_SEED: u64 = 20_261_203;

/// Text that may appear between tags: plain words, entities (known, numeric, unknown, malformed),
/// CDATA, comments, processing instructions and stray markup.
fn xml_content_leaf() -> impl Strategy<Value = String> {
    prop_oneof![
        6 => "[a-zA-Z0-9 .:_${}-]{0,16}",
        1 => Just("&amp;".to_owned()),
        1 => Just("&#x41;".to_owned()),
        1 => Just("&#xD800;".to_owned()),
        1 => Just("&bogus;".to_owned()),
        1 => Just("&amp".to_owned()),
        1 => Just("<![CDATA[<x>]]>".to_owned()),
        1 => Just("<!-- a comment -->".to_owned()),
        1 => Just("<?pi data?>".to_owned()),
        1 => Just("<".to_owned()),
        1 => Just("]]>".to_owned()),
        1 => any::<String>(),
    ]
}

/// An attribute: a name from `names` or a random one, with a value that may hold entities.
fn xml_attribute(names: &'static [&'static str]) -> impl Strategy<Value = String> {
    (
        prop_oneof![3 => prop::sample::select(names).prop_map(str::to_owned), 1 => "[a-z:]{1,6}"],
        prop_oneof![4 => "[a-zA-Z0-9 .,\\[\\]()-]{0,12}", 1 => Just("a&amp;b".to_owned()), 1 => Just("&nope;".to_owned())],
        prop_oneof![8 => Just('"'), 1 => Just('\'')],
    )
        .prop_map(|(name, value, quote)| format!(" {name}={quote}{value}{quote}"))
}

/// An element name: one the parser looks for (`names`), a namespaced one, or a random one.
fn xml_name(names: &'static [&'static str]) -> impl Strategy<Value = String> {
    prop_oneof![
        6 => prop::sample::select(names).prop_map(str::to_owned),
        1 => prop::sample::select(names).prop_map(|n| format!("ns:{n}")),
        1 => "[a-zA-Z_][a-zA-Z0-9._-]{0,8}",
    ]
}

/// Wraps `children` in an element named `name`, closed properly, by another name, left open, or
/// written as an empty element.
fn xml_element(
    names: &'static [&'static str],
    children: impl Strategy<Value = Vec<String>>,
) -> impl Strategy<Value = String> {
    (
        xml_name(names),
        prop::collection::vec(xml_attribute(names), 0..3),
        children,
        prop_oneof![16 => Just(0u8), 1 => Just(1), 1 => Just(2), 2 => Just(3)],
        xml_name(names),
    )
        .prop_map(|(name, attributes, children, close, other)| {
            let attributes = attributes.concat();
            let children = children.concat();
            match close {
                0 => format!("<{name}{attributes}>{children}</{name}>"),
                1 => format!("<{name}{attributes}>{children}</{other}>"),
                2 => format!("<{name}{attributes}>{children}"),
                _ => format!("<{name}{attributes}/>"),
            }
        })
}

/// An XML document whose root is usually `root` and whose elements are usually named from `names`,
/// nested a few levels at random, with entities, CDATA, comments and now and then a mistake (a wrong or
/// missing end tag, a stray `<`, an unknown entity).
pub fn xml_document(
    root: &'static str,
    names: &'static [&'static str],
) -> impl Strategy<Value = String> {
    let content = xml_content_leaf().prop_recursive(6, 96, 6, move |inner| {
        prop_oneof![
            1 => xml_content_leaf(),
            3 => xml_element(names, prop::collection::vec(inner, 0..6)),
        ]
    });
    (
        prop_oneof![3 => Just("<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n"), 1 => Just(""), 1 => Just("\u{feff}")],
        prop_oneof![8 => Just(root.to_owned()), 1 => xml_name(names)],
        prop::collection::vec(xml_attribute(names), 0..2),
        prop::collection::vec(content, 0..8),
        prop_oneof![12 => Just(""), 1 => Just("<extra/>"), 1 => Just("trailing text")],
    )
        .prop_map(|(prolog, root, attributes, children, tail)| {
            format!(
                "{prolog}<{root}{}>{}</{root}>{tail}",
                attributes.concat(),
                children.concat()
            )
        })
}

/// Elements named `names`, each nested in the one before, inside `root`, each closed.
pub fn nested_xml(root: &str, names: &[String]) -> String {
    let mut open = String::new();
    let mut close = String::new();
    for name in names {
        open.push_str(&format!("<{name}>"));
        close.insert_str(0, &format!("</{name}>"));
    }
    format!("<{root}>{open}{close}</{root}>")
}

/// A change to an archive's bytes: none, one byte overwritten, or the tail cut off.
#[derive(Debug, Clone)]
pub enum Damage {
    /// The archive as written.
    None,
    /// The byte at this fraction (in 1/65536ths) of the length replaced by this value.
    Byte(u16, u8),
    /// Only this fraction (in 1/65536ths) of the bytes kept.
    Truncate(u16),
}

impl Damage {
    /// Applies the damage.
    pub fn apply(&self, mut bytes: Vec<u8>) -> Vec<u8> {
        let at = |fraction: u16, len: usize| len * usize::from(fraction) / 65_536;
        match *self {
            Damage::None => {}
            Damage::Byte(fraction, value) => {
                let index = at(fraction, bytes.len());
                if let Some(byte) = bytes.get_mut(index) {
                    *byte = value;
                }
            }
            Damage::Truncate(fraction) => bytes.truncate(at(fraction, bytes.len())),
        }
        bytes
    }
}

/// Mostly no damage, sometimes a changed byte or a cut.
pub fn damage() -> impl Strategy<Value = Damage> {
    prop_oneof![
        4 => Just(Damage::None),
        1 => (any::<u16>(), any::<u8>()).prop_map(|(at, value)| Damage::Byte(at, value)),
        1 => any::<u16>().prop_map(Damage::Truncate),
    ]
}

/// Entry names: from `names` (the ones a reader looks for), in a folder, with traversal, or random.
pub fn entry_name(names: &'static [&'static str]) -> impl Strategy<Value = String> {
    prop_oneof![
        4 => prop::sample::select(names).prop_map(str::to_owned),
        2 => ("[a-zA-Z0-9._-]{1,10}", prop::sample::select(names))
            .prop_map(|(folder, name)| format!("{folder}/{name}")),
        1 => prop::sample::select(names).prop_map(|name| format!("../{name}")),
        1 => prop::sample::select(names).prop_map(|name| format!("./a/{name}")),
        2 => "[a-zA-Z0-9._/-]{1,20}",
    ]
}

/// A zip archive of `entries`, stored or deflated, written in memory. Entries the writer refuses (a
/// duplicate name) are left out.
pub fn zip_bytes(entries: &[(String, Vec<u8>)], deflate: bool) -> Vec<u8> {
    let mut writer = zip::ZipWriter::new(Cursor::new(Vec::new()));
    let method = if deflate {
        zip::CompressionMethod::Deflated
    } else {
        zip::CompressionMethod::Stored
    };
    let options = zip::write::SimpleFileOptions::default().compression_method(method);
    for (name, data) in entries {
        if writer.start_file(name.as_str(), options).is_ok() {
            let _ = writer.write_all(data);
        }
    }
    writer.finish().map(Cursor::into_inner).unwrap_or_default()
}

/// A gzipped tarball of `entries`. Names are written into the header as given (`..` included), so the
/// reader sees what a hostile client could send; names longer than a header holds are cut.
pub fn tar_gz_bytes(entries: &[(String, Vec<u8>)]) -> Vec<u8> {
    let encoder = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::fast());
    let mut builder = tar::Builder::new(encoder);
    for (name, data) in entries {
        let mut header = tar::Header::new_gnu();
        let raw = name.as_bytes();
        let stored = &raw[..raw.len().min(99)];
        if let Some(gnu) = header.as_gnu_mut() {
            gnu.name[..stored.len()].copy_from_slice(stored);
        }
        header.set_size(data.len() as u64);
        header.set_mode(0o644);
        header.set_entry_type(tar::EntryType::Regular);
        header.set_cksum();
        let _ = builder.append(&header, data.as_slice());
    }
    builder
        .into_inner()
        .and_then(flate2::write::GzEncoder::finish)
        .unwrap_or_default()
}

/// JSON of random shape: scalars of every kind, arrays and objects nested a few levels, with keys
/// from `keys` or random ones.
pub fn json_value(keys: &'static [&'static str]) -> impl Strategy<Value = Value> {
    let leaf = prop_oneof![
        Just(Value::Null),
        any::<bool>().prop_map(Value::Bool),
        any::<i64>().prop_map(Value::from),
        any::<f64>().prop_map(Value::from),
        any::<u64>().prop_map(Value::from),
        any::<String>().prop_map(Value::String),
        "[a-z0-9.@/_-]{0,12}".prop_map(Value::String),
    ];
    leaf.prop_recursive(5, 64, 8, move |inner| {
        prop_oneof![
            prop::collection::vec(inner.clone(), 0..6).prop_map(Value::Array),
            prop::collection::vec((json_key(keys), inner), 0..8)
                .prop_map(|fields| Value::Object(fields.into_iter().collect())),
        ]
    })
}

/// An object key: one a reader looks for, or a random one.
pub fn json_key(keys: &'static [&'static str]) -> impl Strategy<Value = String> {
    prop_oneof![
        3 => prop::sample::select(keys).prop_map(str::to_owned),
        1 => any::<String>(),
    ]
}
