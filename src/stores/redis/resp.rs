//! A minimal RESP2 client: enough to talk to a Redis server that cairn loads
//! an RDB into or restores to (PING, INFO, SCAN, MIGRATE, FLUSHALL), over TCP
//! or a unix socket, with timeouts so that a silent server cannot hang a run.

use std::io::{BufRead, BufReader, Read, Write};
use std::net::{TcpStream, ToSocketAddrs};
use std::os::unix::net::UnixStream;
use std::path::PathBuf;
use std::time::Duration;

/// The longest bulk string accepted, Redis's own default `proto-max-bulk-len`.
const MAX_BULK: usize = 512 * 1024 * 1024;

/// How long connecting may take.
const CONNECT_TIMEOUT: Duration = Duration::from_secs(10);

/// Where a server listens.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Address {
    Tcp { host: String, port: u16 },
    Unix(PathBuf),
}

/// One reply, as RESP2 sends it. Error replies are turned into
/// [`RespError::Server`] by [`Connection::command`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Reply {
    Simple(String),
    Error(String),
    Integer(i64),
    /// `None` is the null bulk string.
    Bulk(Option<Vec<u8>>),
    /// `None` is the null array.
    Array(Option<Vec<Reply>>),
}

impl Reply {
    /// The reply as text: a simple or bulk string.
    pub fn text(&self) -> Result<String, RespError> {
        match self {
            Reply::Simple(text) => Ok(text.clone()),
            Reply::Bulk(Some(bytes)) => Ok(String::from_utf8_lossy(bytes).into_owned()),
            other => Err(RespError::Protocol(format!(
                "expected a string, got {other:?}"
            ))),
        }
    }
}

#[derive(Debug, thiserror::Error)]
pub enum RespError {
    #[error("{0}")]
    Io(#[from] std::io::Error),
    /// The server answered with an error reply, e.g. `NOAUTH Authentication required.`
    #[error("the server answered `{0}`")]
    Server(String),
    #[error("the server's reply is not RESP: {0}")]
    Protocol(String),
}

enum Stream {
    Tcp(TcpStream),
    Unix(UnixStream),
}

impl Read for Stream {
    fn read(&mut self, buf: &mut [u8]) -> std::io::Result<usize> {
        match self {
            Stream::Tcp(stream) => stream.read(buf),
            Stream::Unix(stream) => stream.read(buf),
        }
    }
}

impl Write for Stream {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        match self {
            Stream::Tcp(stream) => stream.write(buf),
            Stream::Unix(stream) => stream.write(buf),
        }
    }

    fn flush(&mut self) -> std::io::Result<()> {
        match self {
            Stream::Tcp(stream) => stream.flush(),
            Stream::Unix(stream) => stream.flush(),
        }
    }
}

/// An open connection, authenticated when a password was given.
pub struct Connection {
    stream: BufReader<Stream>,
}

impl Connection {
    /// Connects to `address`, waiting at most `timeout` for each reply, and
    /// sends `AUTH [user] password` when there is a password.
    pub fn open(
        address: &Address,
        user: Option<&str>,
        password: Option<&str>,
        timeout: Duration,
    ) -> Result<Self, RespError> {
        let stream = match address {
            Address::Tcp { host, port } => Stream::Tcp(connect_tcp(host, *port)?),
            Address::Unix(path) => Stream::Unix(UnixStream::connect(path)?),
        };
        let mut connection = Connection {
            stream: BufReader::new(stream),
        };
        connection.set_timeout(timeout)?;
        if let Some(password) = password {
            match user {
                Some(user) => connection.command(&["AUTH", user, password])?,
                None => connection.command(&["AUTH", password])?,
            };
        }
        Ok(connection)
    }

    /// How long a read or write may wait, e.g. longer for FLUSHALL.
    pub fn set_timeout(&mut self, timeout: Duration) -> std::io::Result<()> {
        match self.stream.get_ref() {
            Stream::Tcp(stream) => {
                stream.set_read_timeout(Some(timeout))?;
                stream.set_write_timeout(Some(timeout))
            }
            Stream::Unix(stream) => {
                stream.set_read_timeout(Some(timeout))?;
                stream.set_write_timeout(Some(timeout))
            }
        }
    }

    /// Sends one command and reads its reply; an error reply is an `Err`.
    pub fn command<S: AsRef<[u8]>>(&mut self, args: &[S]) -> Result<Reply, RespError> {
        let stream = self.stream.get_mut();
        stream.write_all(&encode(args))?;
        stream.flush()?;
        match read_reply(&mut self.stream)? {
            Reply::Error(message) => Err(RespError::Server(message)),
            reply => Ok(reply),
        }
    }

    /// Sends one command and returns its reply as text.
    pub fn text<S: AsRef<[u8]>>(&mut self, args: &[S]) -> Result<String, RespError> {
        self.command(args)?.text()
    }
}

fn connect_tcp(host: &str, port: u16) -> std::io::Result<TcpStream> {
    let mut last_error = None;
    for address in (host, port).to_socket_addrs()? {
        match TcpStream::connect_timeout(&address, CONNECT_TIMEOUT) {
            Ok(stream) => {
                stream.set_nodelay(true)?;
                return Ok(stream);
            }
            Err(error) => last_error = Some(error),
        }
    }
    Err(last_error.unwrap_or_else(|| {
        std::io::Error::new(
            std::io::ErrorKind::NotFound,
            format!("{host} has no address"),
        )
    }))
}

/// A command as RESP sends it: an array of bulk strings.
pub fn encode<S: AsRef<[u8]>>(args: &[S]) -> Vec<u8> {
    let mut out = format!("*{}\r\n", args.len()).into_bytes();
    for arg in args {
        let arg = arg.as_ref();
        out.extend_from_slice(format!("${}\r\n", arg.len()).as_bytes());
        out.extend_from_slice(arg);
        out.extend_from_slice(b"\r\n");
    }
    out
}

/// How deeply arrays may nest (SCAN's reply nests two deep).
const MAX_DEPTH: usize = 8;

/// Reads one reply.
pub fn read_reply(input: &mut impl BufRead) -> Result<Reply, RespError> {
    read_nested(input, 0)
}

fn read_nested(input: &mut impl BufRead, depth: usize) -> Result<Reply, RespError> {
    if depth > MAX_DEPTH {
        return Err(RespError::Protocol(format!(
            "arrays nested more than {MAX_DEPTH} deep"
        )));
    }
    let line = read_line(input)?;
    let (kind, rest) = line
        .split_first()
        .ok_or_else(|| RespError::Protocol("an empty line".to_owned()))?;
    let rest = String::from_utf8_lossy(rest).into_owned();
    match kind {
        b'+' => Ok(Reply::Simple(rest)),
        b'-' => Ok(Reply::Error(rest)),
        b':' => Ok(Reply::Integer(number(&rest)?)),
        b'$' => match number(&rest)? {
            -1 => Ok(Reply::Bulk(None)),
            length => {
                let length = usize::try_from(length)
                    .ok()
                    .filter(|length| *length <= MAX_BULK)
                    .ok_or_else(|| RespError::Protocol(format!("a bulk length of {length}")))?;
                let mut bytes = vec![0; length + 2];
                input.read_exact(&mut bytes)?;
                if !bytes.ends_with(b"\r\n") {
                    return Err(RespError::Protocol(
                        "a bulk string not ended by CRLF".to_owned(),
                    ));
                }
                bytes.truncate(length);
                Ok(Reply::Bulk(Some(bytes)))
            }
        },
        b'*' => match number(&rest)? {
            -1 => Ok(Reply::Array(None)),
            count if count >= 0 => {
                let items = (0..count)
                    .map(|_| read_nested(input, depth + 1))
                    .collect::<Result<_, _>>()?;
                Ok(Reply::Array(Some(items)))
            }
            count => Err(RespError::Protocol(format!("an array of {count} items"))),
        },
        other => Err(RespError::Protocol(format!(
            "a reply starting with {:?}",
            char::from(*other)
        ))),
    }
}

/// One CRLF-terminated line without its CRLF; the connection closing first
/// is an error.
fn read_line(input: &mut impl BufRead) -> Result<Vec<u8>, RespError> {
    let mut line = Vec::new();
    input.read_until(b'\n', &mut line)?;
    if line.is_empty() {
        return Err(RespError::Io(std::io::Error::new(
            std::io::ErrorKind::UnexpectedEof,
            "the server closed the connection",
        )));
    }
    if !line.ends_with(b"\r\n") {
        return Err(RespError::Protocol("a line not ended by CRLF".to_owned()));
    }
    line.truncate(line.len() - 2);
    Ok(line)
}

fn number(text: &str) -> Result<i64, RespError> {
    text.parse()
        .map_err(|_| RespError::Protocol(format!("`{text}` is not a number")))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse(bytes: &[u8]) -> Result<Reply, RespError> {
        read_reply(&mut &bytes[..])
    }

    fn bulk(text: &str) -> Reply {
        Reply::Bulk(Some(text.as_bytes().to_vec()))
    }

    #[test]
    fn commands_are_arrays_of_bulk_strings() {
        assert_eq!(
            encode(&["SET", "k", "two words"]),
            b"*3\r\n$3\r\nSET\r\n$1\r\nk\r\n$9\r\ntwo words\r\n"
        );
        assert_eq!(
            encode(&["MIGRATE", ""]),
            b"*2\r\n$7\r\nMIGRATE\r\n$0\r\n\r\n"
        );
    }

    #[test]
    fn every_reply_type_parses() {
        assert_eq!(parse(b"+PONG\r\n").unwrap(), Reply::Simple("PONG".into()));
        assert_eq!(
            parse(b"-LOADING Redis is loading\r\n").unwrap(),
            Reply::Error("LOADING Redis is loading".into())
        );
        assert_eq!(parse(b":-42\r\n").unwrap(), Reply::Integer(-42));
        assert_eq!(parse(b"$5\r\na\r\nb\r\r\n").unwrap(), bulk("a\r\nb\r"));
        assert_eq!(parse(b"$0\r\n\r\n").unwrap(), bulk(""));
        assert_eq!(parse(b"$-1\r\n").unwrap(), Reply::Bulk(None));
        assert_eq!(parse(b"*-1\r\n").unwrap(), Reply::Array(None));
        assert_eq!(parse(b"*0\r\n").unwrap(), Reply::Array(Some(vec![])));
    }

    #[test]
    fn a_scan_reply_nests_arrays() {
        let reply = parse(b"*2\r\n$2\r\n17\r\n*3\r\n$1\r\na\r\n$0\r\n\r\n:3\r\n").unwrap();
        assert_eq!(
            reply,
            Reply::Array(Some(vec![
                bulk("17"),
                Reply::Array(Some(vec![bulk("a"), bulk(""), Reply::Integer(3)])),
            ]))
        );
    }

    #[test]
    fn replies_are_read_one_at_a_time() {
        let mut input = &b"+OK\r\n:1\r\n"[..];
        assert_eq!(read_reply(&mut input).unwrap(), Reply::Simple("OK".into()));
        assert_eq!(read_reply(&mut input).unwrap(), Reply::Integer(1));
        assert!(matches!(read_reply(&mut input), Err(RespError::Io(_))));
    }

    #[test]
    fn broken_replies_are_errors() {
        for broken in [
            &b"$5\r\nabc\r\n"[..],
            b"$3\r\nabcde",
            b"*2\r\n:1\r\n",
            b"PONG\r\n",
            b"+PONG\n",
            b":x\r\n",
            b"$-2\r\n",
            b"$9999999999\r\n",
            b"",
        ] {
            assert!(
                parse(broken).is_err(),
                "{:?}",
                String::from_utf8_lossy(broken)
            );
        }
    }

    #[test]
    fn arrays_nest_only_so_deep() {
        let nested = |depth: usize| [b"*1\r\n".repeat(depth), b":1\r\n".to_vec()].concat();
        assert!(parse(&nested(MAX_DEPTH)).is_ok());
        let error = parse(&nested(MAX_DEPTH + 2)).unwrap_err();
        assert!(error.to_string().contains("nested"), "{error}");
    }

    #[test]
    fn text_reads_simple_and_bulk_strings_only() {
        assert_eq!(bulk("db0:keys=1").text().unwrap(), "db0:keys=1");
        assert_eq!(Reply::Simple("OK".into()).text().unwrap(), "OK");
        assert!(Reply::Integer(1).text().is_err());
        assert!(Reply::Bulk(None).text().is_err());
    }
}
