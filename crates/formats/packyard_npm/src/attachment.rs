//! The tarball inside an `npm publish` document, decoded straight out of the spooled document: a
//! scanner finds `_attachments.<file>.data` and decodes its base64 a chunk at a time, so the document is
//! never held in memory.

use std::io::BufRead;

use base64::Engine;
use base64::engine::general_purpose::STANDARD;
use bytes::Bytes;

/// Base64 characters decoded per chunk (a multiple of 4).
const DECODE_CHUNK: usize = 64 * 1024;
/// The longest object key the scanner reads (file names, field names).
const MAX_KEY: usize = 64 * 1024;

/// Why the attachment could not be decoded; the message is shown to the client.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AttachmentError(pub String);

fn fail(message: impl Into<String>) -> AttachmentError {
    AttachmentError(message.into())
}

struct Scanner<R> {
    reader: R,
}

impl<R: BufRead> Scanner<R> {
    fn peek(&mut self) -> Result<u8, AttachmentError> {
        let buffer = self
            .reader
            .fill_buf()
            .map_err(|e| fail(format!("the document could not be read: {e}")))?;
        buffer
            .first()
            .copied()
            .ok_or_else(|| fail("the document ends early"))
    }

    fn next(&mut self) -> Result<u8, AttachmentError> {
        let byte = self.peek()?;
        self.reader.consume(1);
        Ok(byte)
    }

    fn skip_whitespace(&mut self) -> Result<u8, AttachmentError> {
        loop {
            match self.peek()? {
                b' ' | b'\t' | b'\n' | b'\r' => self.reader.consume(1),
                byte => return Ok(byte),
            }
        }
    }

    fn expect(&mut self, wanted: u8) -> Result<(), AttachmentError> {
        if self.skip_whitespace()? == wanted {
            self.reader.consume(1);
            Ok(())
        } else {
            Err(fail(format!(
                "the document is not shaped as expected: no {:?}",
                wanted as char
            )))
        }
    }

    /// Reads a string whose opening quote was consumed (escapes kept as written: keys compared here
    /// have none).
    fn read_string(&mut self, limit: usize) -> Result<Vec<u8>, AttachmentError> {
        let mut text = Vec::new();
        loop {
            match self.next()? {
                b'"' => return Ok(text),
                b'\\' => {
                    text.push(b'\\');
                    text.push(self.next()?);
                }
                byte => text.push(byte),
            }
            if text.len() > limit {
                return Err(fail("a key in the document is too long"));
            }
        }
    }

    fn skip_string(&mut self) -> Result<(), AttachmentError> {
        loop {
            match self.next()? {
                b'"' => return Ok(()),
                b'\\' => {
                    self.next()?;
                }
                _ => {}
            }
        }
    }

    /// Skips one value of any kind.
    fn skip_value(&mut self) -> Result<(), AttachmentError> {
        match self.skip_whitespace()? {
            b'"' => {
                self.reader.consume(1);
                self.skip_string()
            }
            b'{' | b'[' => {
                let mut depth = 0usize;
                loop {
                    match self.next()? {
                        b'"' => self.skip_string()?,
                        b'{' | b'[' => depth += 1,
                        b'}' | b']' => {
                            depth -= 1;
                            if depth == 0 {
                                return Ok(());
                            }
                        }
                        _ => {}
                    }
                }
            }
            _ => loop {
                match self.peek()? {
                    b',' | b'}' | b']' => return Ok(()),
                    _ => self.reader.consume(1),
                }
            },
        }
    }

    /// In an object whose `{` was consumed, moves to the value of the first key `wanted` accepts.
    fn find_key(&mut self, wanted: impl Fn(&[u8]) -> bool) -> Result<(), AttachmentError> {
        loop {
            match self.skip_whitespace()? {
                b'"' => self.reader.consume(1),
                b',' => {
                    self.reader.consume(1);
                    continue;
                }
                _ => return Err(fail("the document has no attachment data")),
            }
            let key = self.read_string(MAX_KEY)?;
            self.expect(b':')?;
            if wanted(&key) {
                return Ok(());
            }
            self.skip_value()?;
        }
    }
}

/// Decodes the data of the first attachment of a publish document, handing the bytes to `sink` a
/// chunk at a time; `sink` answers false to stop.
pub fn decode_attachment(
    reader: impl BufRead,
    mut sink: impl FnMut(Bytes) -> bool,
) -> Result<(), AttachmentError> {
    let mut scanner = Scanner { reader };
    scanner.expect(b'{')?;
    scanner.find_key(|key| key == b"_attachments")?;
    scanner.expect(b'{')?;
    scanner.find_key(|_| true)?;
    scanner.expect(b'{')?;
    scanner.find_key(|key| key == b"data")?;
    scanner.expect(b'"')?;
    let mut chunk = Vec::with_capacity(DECODE_CHUNK);
    let mut flush = |chunk: &mut Vec<u8>| -> Result<bool, AttachmentError> {
        let decoded = STANDARD
            .decode(&chunk[..])
            .map_err(|e| fail(format!("the attachment is not valid base64: {e}")))?;
        chunk.clear();
        Ok(sink(Bytes::from(decoded)))
    };
    loop {
        let byte = match scanner.next()? {
            b'"' => break,
            b'\\' => match scanner.next()? {
                b'/' => b'/',
                other => {
                    return Err(fail(format!(
                        "the attachment is not valid base64: it has an escape \\{}",
                        other as char
                    )));
                }
            },
            byte => byte,
        };
        chunk.push(byte);
        if chunk.len() == DECODE_CHUNK && !flush(&mut chunk)? {
            return Ok(());
        }
    }
    if !chunk.is_empty() {
        flush(&mut chunk)?;
    }
    Ok(())
}

/// A reader that counts the bytes consumed through it.
struct Counted<R> {
    inner: R,
    consumed: u64,
}

impl<R: std::io::Read> std::io::Read for Counted<R> {
    fn read(&mut self, buf: &mut [u8]) -> std::io::Result<usize> {
        let read = self.inner.read(buf)?;
        self.consumed += read as u64;
        Ok(read)
    }
}

impl<R: BufRead> BufRead for Counted<R> {
    fn fill_buf(&mut self) -> std::io::Result<&[u8]> {
        self.inner.fill_buf()
    }

    fn consume(&mut self, amount: usize) {
        self.consumed += amount as u64;
        self.inner.consume(amount);
    }
}

/// How large the parts of a package document that are read into memory are.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct DocumentSize {
    /// Bytes outside `_attachments` (the name, the version documents, the dist-tags).
    pub without_attachments: u64,
    /// Bytes of the largest version document.
    pub largest_version: u64,
}

/// Measures a package document without keeping any of it.
pub fn measure_document(reader: impl BufRead) -> Result<DocumentSize, AttachmentError> {
    let mut scanner = Scanner {
        reader: Counted {
            inner: reader,
            consumed: 0,
        },
    };
    let (mut attachments, mut largest_version) = (0, 0);
    scanner.expect(b'{')?;
    while let Some(key) = scanner.next_key()? {
        let before = scanner.reader.consumed;
        if key == b"versions" && scanner.skip_whitespace()? == b'{' {
            scanner.reader.consume(1);
            while scanner.next_key()?.is_some() {
                let start = scanner.reader.consumed;
                scanner.skip_value()?;
                largest_version = largest_version.max(scanner.reader.consumed - start);
            }
        } else {
            scanner.skip_value()?;
        }
        if key == b"_attachments" {
            attachments += scanner.reader.consumed - before;
        }
    }
    Ok(DocumentSize {
        without_attachments: scanner.reader.consumed - attachments,
        largest_version,
    })
}

impl<R: BufRead> Scanner<R> {
    /// In an object, the next key (its value comes next), or `None` after the closing `}`.
    fn next_key(&mut self) -> Result<Option<Vec<u8>>, AttachmentError> {
        loop {
            match self.skip_whitespace()? {
                b'"' => self.reader.consume(1),
                b',' => {
                    self.reader.consume(1);
                    continue;
                }
                b'}' => {
                    self.reader.consume(1);
                    return Ok(None);
                }
                _ => return Err(fail("the document is not shaped as expected")),
            }
            let key = self.read_string(MAX_KEY)?;
            self.expect(b':')?;
            return Ok(Some(key));
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn measures_the_document_without_its_attachments() {
        let document = br#"{"name":"a","_attachments":{"a-1.0.0.tgz":{"data":"AAAA"}},
            "versions":{"1.0.0":{"readme":"12345"},"2.0.0":{}}}"#;
        let attachments = br#"{"a-1.0.0.tgz":{"data":"AAAA"}}"#.len() as u64;
        assert_eq!(
            measure_document(&document[..]),
            Ok(DocumentSize {
                without_attachments: document.len() as u64 - attachments,
                largest_version: br#"{"readme":"12345"}"#.len() as u64,
            })
        );
    }
    use serde_json::json;

    fn decode(document: &str) -> Result<Vec<u8>, AttachmentError> {
        let mut bytes = Vec::new();
        decode_attachment(document.as_bytes(), |chunk| {
            bytes.extend_from_slice(&chunk);
            true
        })?;
        Ok(bytes)
    }

    #[test]
    fn finds_the_data_wherever_it_is() {
        let big: Vec<u8> = (0..200_000u32).map(|i| (i % 251) as u8).collect();
        let document = json!({
            "name": "demo",
            "versions": {"1.0.0": {"data": "not this", "nested": [{"_attachments": 1}, "\"}"]}},
            "readme": "text with \"quotes\" and } braces",
            "count": 12.5e3,
            "flag": true,
            "_attachments": {"demo-1.0.0.tgz": {
                "content_type": "application/octet-stream",
                "length": big.len(),
                "data": STANDARD.encode(&big),
            }},
        })
        .to_string();
        assert_eq!(decode(&document).unwrap(), big);
        // Pretty-printed, with an escaped '/', and the attachments first.
        let pretty = "{\n  \"_attachments\" : { \"x.tgz\" : { \"data\" : \"aGVsbG8\\/\" } },\n  \"name\": \"x\"\n}";
        assert_eq!(
            decode(pretty).unwrap(),
            STANDARD.decode("aGVsbG8/").unwrap()
        );
    }

    #[test]
    fn refuses_what_is_not_an_attachment() {
        assert!(decode(r#"{"name": "demo"}"#).is_err());
        assert!(decode(r#"{"_attachments": {"x.tgz": {"length": 1}}}"#).is_err());
        assert!(
            decode(r#"{"_attachments": {"x.tgz": {"data": "!!!!"}}}"#)
                .unwrap_err()
                .0
                .contains("base64")
        );
        assert!(decode(r#"{"_attachments": {"x.tgz": {"data": "aGVs"#).is_err());
    }

    #[test]
    fn stops_when_the_sink_does() {
        let data = STANDARD.encode(vec![7u8; DECODE_CHUNK * 3]);
        let document = format!(r#"{{"_attachments": {{"x.tgz": {{"data": "{data}"}}}}}}"#);
        let mut calls = 0;
        decode_attachment(document.as_bytes(), |_| {
            calls += 1;
            false
        })
        .unwrap();
        assert_eq!(calls, 1);
    }
}
