//! Redis 7's multi-part append-only file, read without I/O of its own: the
//! manifest (`appendonly.aof.manifest`: one `file NAME seq N type b|i|h`
//! line per file) and where the commands of an incremental file end.
//!
//! An artifact of `method = "aof"` holds one stream, a tar of the AOF
//! directory: `APPENDDIRNAME/` with the manifest and the files it lists.

use std::io::BufRead;

/// The one stream of an AOF artifact.
pub const STREAM: &str = "appendonlydir.tar";

/// The suffix Redis gives the manifest: `APPENDFILENAME.manifest`.
pub const MANIFEST_SUFFIX: &str = ".manifest";

/// What a file listed in the manifest holds.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum FileKind {
    /// The base: an RDB or AOF the last rewrite wrote, never appended to.
    Base,
    /// An incremental file: the commands since its rewrite started; the
    /// last one is the file Redis appends to now.
    Incremental,
    /// A file of an earlier generation that Redis deletes; not loaded.
    History,
}

/// One line of the manifest.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ManifestFile {
    pub name: String,
    pub kind: FileKind,
}

/// The files a manifest lists, in its order (the base first, then the
/// incremental files in the order Redis loads them).
pub fn parse_manifest(text: &str) -> Result<Vec<ManifestFile>, String> {
    let mut files = Vec::new();
    for (number, line) in text.lines().enumerate() {
        let line = line.trim();
        if line.is_empty() || line.starts_with('#') {
            continue;
        }
        let bad = |why: &str| format!("line {} of the manifest ({line:?}) {why}", number + 1);
        let words = split_words(line).ok_or_else(|| bad("has an unclosed quote"))?;
        let mut name = None;
        let mut kind = None;
        for pair in words.chunks(2) {
            let [key, value] = pair else {
                return Err(bad("does not consist of key-value pairs"));
            };
            match key.as_str() {
                "file" => name = Some(value.clone()),
                "type" => {
                    kind = Some(match value.as_str() {
                        "b" => FileKind::Base,
                        "i" => FileKind::Incremental,
                        "h" => FileKind::History,
                        _ => return Err(bad("has an unknown file type")),
                    })
                }
                // `seq`, and what a newer Redis may add.
                _ => {}
            }
        }
        let (Some(name), Some(kind)) = (name, kind) else {
            return Err(bad("lacks `file` or `type`"));
        };
        if name.is_empty() || name.contains('/') || name == "." || name == ".." {
            return Err(bad("names a file outside the AOF directory"));
        }
        files.push(ManifestFile { name, kind });
    }
    if !files.iter().any(|file| file.kind != FileKind::History) {
        return Err("the manifest lists no base or incremental file".to_owned());
    }
    Ok(files)
}

/// The words of a manifest line as Redis's `sdssplitargs` reads them: a
/// name with spaces or odd bytes is double-quoted with `\"`, `\\`, `\n`,
/// `\r`, `\t`, `\b`, `\a` and `\xHH` escapes. `None` for an unclosed quote.
fn split_words(line: &str) -> Option<Vec<String>> {
    let mut words = Vec::new();
    let mut chars = line.chars().peekable();
    loop {
        while chars.next_if(|c| c.is_whitespace()).is_some() {}
        let Some(first) = chars.next() else {
            return Some(words);
        };
        let mut word = Vec::new();
        if first == '"' {
            loop {
                match chars.next()? {
                    '"' => break,
                    '\\' => {
                        let escaped = chars.next()?;
                        let byte = match escaped {
                            'n' => b'\n',
                            'r' => b'\r',
                            't' => b'\t',
                            'b' => 8,
                            'a' => 7,
                            'x' => {
                                let hex: String = [chars.next()?, chars.next()?].iter().collect();
                                u8::from_str_radix(&hex, 16).ok()?
                            }
                            other => {
                                let mut buffer = [0; 4];
                                word.extend_from_slice(other.encode_utf8(&mut buffer).as_bytes());
                                continue;
                            }
                        };
                        word.push(byte);
                    }
                    other => {
                        let mut buffer = [0; 4];
                        word.extend_from_slice(other.encode_utf8(&mut buffer).as_bytes());
                    }
                }
            }
        } else {
            let mut buffer = [0; 4];
            word.extend_from_slice(first.encode_utf8(&mut buffer).as_bytes());
            while let Some(c) = chars.next_if(|c| !c.is_whitespace()) {
                word.extend_from_slice(c.encode_utf8(&mut buffer).as_bytes());
            }
        }
        words.push(String::from_utf8_lossy(&word).into_owned());
    }
}

/// How many leading bytes of an incremental AOF file are whole commands,
/// outside an unfinished MULTI: the part Redis and `redis-check-aof`
/// accept as is.
///
/// Redis writes the file in the main thread with plain write(2) calls, so
/// a file that is copied while it grows can end in the middle of a command
/// (a size taken during a write), and that can split a MULTI ... EXEC
/// block. Redis itself loads such a file only with `aof-load-truncated
/// yes`, and `redis-check-aof` calls it invalid; cutting the copy at the
/// last whole command keeps exactly the writes that had completed.
///
/// Errors on bytes that are not the AOF's command format (`*N` arrays of
/// `$LEN` strings, and `#` annotation lines).
pub fn whole_commands(file: &mut dyn BufRead) -> Result<u64, String> {
    let mut reader = Counting {
        inner: file,
        read: 0,
    };
    let mut whole = 0;
    let mut in_multi = false;
    loop {
        let start = reader.read;
        let Some(first) = reader.peek_byte()? else {
            return Ok(whole);
        };
        match first {
            b'#' => {
                // An annotation (`#TS:...`), one line.
                if reader.line()?.is_none() {
                    return Ok(whole);
                }
                if !in_multi {
                    whole = reader.read;
                }
            }
            b'*' => {
                let Some(command) = reader.command(start)? else {
                    return Ok(whole);
                };
                if command.eq_ignore_ascii_case(b"MULTI") {
                    in_multi = true;
                } else if command.eq_ignore_ascii_case(b"EXEC") {
                    in_multi = false;
                }
                if !in_multi {
                    whole = reader.read;
                }
            }
            other => {
                return Err(format!(
                    "byte {start} is {:?}, where a command (`*`) should start",
                    char::from(other)
                ))
            }
        }
    }
}

/// A reader that counts the bytes taken from it.
struct Counting<'a> {
    inner: &'a mut dyn BufRead,
    read: u64,
}

impl Counting<'_> {
    fn peek_byte(&mut self) -> Result<Option<u8>, String> {
        let buffer = self.inner.fill_buf().map_err(|e| e.to_string())?;
        Ok(buffer.first().copied())
    }

    /// One `\n`-terminated line without its `\r\n`; `None` at the end of
    /// the data before the line ends.
    fn line(&mut self) -> Result<Option<Vec<u8>>, String> {
        let mut line = Vec::new();
        let n = self
            .inner
            .read_until(b'\n', &mut line)
            .map_err(|e| e.to_string())?;
        self.read += n as u64;
        if line.last() != Some(&b'\n') {
            return Ok(None);
        }
        line.pop();
        if line.last() == Some(&b'\r') {
            line.pop();
        }
        Ok(Some(line))
    }

    /// A number after a type byte (`*3`, `$5`).
    fn header(&mut self, marker: u8, start: u64) -> Result<Option<u64>, String> {
        let Some(line) = self.line()? else {
            return Ok(None);
        };
        let number = line
            .strip_prefix(&[marker])
            .and_then(|digits| std::str::from_utf8(digits).ok())
            .and_then(|digits| digits.parse().ok());
        match number {
            Some(number) => Ok(Some(number)),
            None => Err(format!(
                "the command at byte {start} has a malformed header {:?}",
                String::from_utf8_lossy(&line)
            )),
        }
    }

    /// One command (`*N` and N strings); its name, or `None` when the data
    /// ends inside it.
    fn command(&mut self, start: u64) -> Result<Option<Vec<u8>>, String> {
        let Some(count) = self.header(b'*', start)? else {
            return Ok(None);
        };
        let mut name = Vec::new();
        for index in 0..count {
            let Some(length) = self.header(b'$', start)? else {
                return Ok(None);
            };
            // The string and its \r\n.
            let mut left = length + 2;
            while left > 0 {
                let buffer = self.inner.fill_buf().map_err(|e| e.to_string())?;
                if buffer.is_empty() {
                    return Ok(None);
                }
                let take = buffer
                    .len()
                    .min(usize::try_from(left).unwrap_or(usize::MAX));
                if index == 0 {
                    // The first 16 bytes of the name are enough to tell MULTI and EXEC.
                    let passed = length + 2 - left;
                    let wanted = length.min(16).saturating_sub(passed) as usize;
                    name.extend_from_slice(&buffer[..wanted.min(take)]);
                }
                self.inner.consume(take);
                self.read += take as u64;
                left -= take as u64;
            }
        }
        Ok(Some(name))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_manifest_lists_base_and_incremental_files_in_order() {
        let text = "file appendonly.aof.3.base.rdb seq 3 type b\n\
                    file appendonly.aof.2.incr.aof seq 2 type h\n\
                    file appendonly.aof.4.incr.aof seq 4 type i\n\
                    file appendonly.aof.5.incr.aof seq 5 type i\n";
        let files = parse_manifest(text).unwrap();
        let kinds: Vec<_> = files.iter().map(|f| (f.name.as_str(), f.kind)).collect();
        assert_eq!(
            kinds,
            [
                ("appendonly.aof.3.base.rdb", FileKind::Base),
                ("appendonly.aof.2.incr.aof", FileKind::History),
                ("appendonly.aof.4.incr.aof", FileKind::Incremental),
                ("appendonly.aof.5.incr.aof", FileKind::Incremental),
            ]
        );
    }

    #[test]
    fn quoted_names_are_unescaped() {
        let text = "file \"my aof\\x21.1.base.rdb\" seq 1 type b\n";
        assert_eq!(parse_manifest(text).unwrap()[0].name, "my aof!.1.base.rdb");
    }

    #[test]
    fn a_bad_manifest_is_refused_with_its_line() {
        for (text, why) in [
            (
                "file ../etc/passwd seq 1 type b\n",
                "outside the AOF directory",
            ),
            ("file a seq 1 type x\n", "unknown file type"),
            ("file \"a seq 1 type b\n", "unclosed quote"),
            ("file a seq 1\n", "lacks `file` or `type`"),
            ("file a seq 1 type h\n", "no base or incremental file"),
            ("", "no base or incremental file"),
        ] {
            let error = parse_manifest(text).unwrap_err();
            assert!(error.contains(why), "{text:?}: {error}");
        }
    }

    fn command(words: &[&str]) -> Vec<u8> {
        let mut out = format!("*{}\r\n", words.len()).into_bytes();
        for word in words {
            out.extend(format!("${}\r\n{word}\r\n", word.len()).into_bytes());
        }
        out
    }

    fn whole(data: &[u8]) -> Result<u64, String> {
        whole_commands(&mut std::io::BufReader::with_capacity(7, data))
    }

    #[test]
    fn whole_commands_end_before_a_torn_one() {
        let mut data = command(&["SELECT", "0"]);
        data.extend(b"#TS:1700000000\r\n");
        data.extend(command(&["SET", "k", "a value"]));
        let complete = data.len() as u64;
        assert_eq!(whole(&data), Ok(complete));
        let next = command(&["SET", "k2", "v2"]);
        for cut in 0..next.len() {
            let mut torn = data.clone();
            torn.extend(&next[..cut]);
            assert_eq!(whole(&torn), Ok(complete), "cut at {cut}");
        }
    }

    #[test]
    fn an_unfinished_multi_is_left_out() {
        let mut data = command(&["SET", "a", "1"]);
        let before = data.len() as u64;
        data.extend(command(&["MULTI"]));
        data.extend(command(&["SET", "b", "2"]));
        assert_eq!(whole(&data), Ok(before));
        data.extend(command(&["exec"]));
        assert_eq!(whole(&data), Ok(data.len() as u64));
    }

    #[test]
    fn bytes_that_are_no_command_are_an_error() {
        let mut data = command(&["SET", "a", "1"]);
        let at = format!("byte {} is 'g'", data.len());
        data.extend(b"garbage\r\n");
        let error = whole(&data).unwrap_err();
        assert!(error.contains(&at), "{error}");
        assert!(whole(b"*x\r\n").unwrap_err().contains("malformed header"));
    }
}
