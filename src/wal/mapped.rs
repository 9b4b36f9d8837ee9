//! The file `wal push` archives, mapped into memory rather than read into a
//! buffer. Reading a 16 MiB segment into fresh memory takes a page fault
//! per 4 KiB page, which cost as much as compressing it on the benchmark
//! machine (~17 ms against ~2 ms mapped); a mapping shares the page cache's
//! pages, with no copy.

use std::io::Read;
use std::os::fd::AsRawFd;
use std::path::Path;

/// The bytes of a file: mapped when it can be, else read.
pub struct FileBytes {
    inner: Inner,
}

enum Inner {
    Mapped {
        address: *mut libc::c_void,
        len: usize,
    },
    Read(Vec<u8>),
}

impl FileBytes {
    /// The contents of `path`. From here on, the process exits 1 if the
    /// file shrinks while mapped (the kernel then raises SIGBUS on the
    /// missing pages): PostgreSQL must see an ordinary failure, never a
    /// signal (it takes the archiver down above 125).
    pub fn open(path: &Path) -> std::io::Result<Self> {
        let mut file = fs_err::File::open(path)?;
        let metadata = file.metadata()?;
        if let Ok(len) = usize::try_from(metadata.len()) {
            if metadata.is_file() && len > 0 {
                exit_on_sigbus();
                // SAFETY: a read-only private mapping of a file this process
                // opened, of its length at the time; it is unmapped on drop
                // and only read through `Deref`. If the file shrinks, access
                // past its end raises SIGBUS, which `exit_on_sigbus` turns
                // into exit 1.
                let address = unsafe {
                    libc::mmap(
                        std::ptr::null_mut(),
                        len,
                        libc::PROT_READ,
                        libc::MAP_PRIVATE,
                        file.as_raw_fd(),
                        0,
                    )
                };
                if address != libc::MAP_FAILED {
                    return Ok(Self {
                        inner: Inner::Mapped { address, len },
                    });
                }
            }
        }
        // Empty, or not a file that maps (a pipe): read it.
        let mut bytes = Vec::new();
        file.read_to_end(&mut bytes)?;
        Ok(Self {
            inner: Inner::Read(bytes),
        })
    }
}

impl std::ops::Deref for FileBytes {
    type Target = [u8];

    fn deref(&self) -> &[u8] {
        match &self.inner {
            // SAFETY: `address` is a live mapping of `len` readable bytes
            // (see `open`), unmapped only when `self` drops.
            Inner::Mapped { address, len } => unsafe {
                std::slice::from_raw_parts(address.cast::<u8>(), *len)
            },
            Inner::Read(bytes) => bytes,
        }
    }
}

impl Drop for FileBytes {
    fn drop(&mut self) {
        if let Inner::Mapped { address, len } = self.inner {
            // SAFETY: the mapping made in `open`; no slice of it outlives
            // `self`.
            unsafe {
                libc::munmap(address, len);
            }
        }
    }
}

/// Installs, once, a SIGBUS handler that exits 1 with a message.
fn exit_on_sigbus() {
    static INSTALL: std::sync::Once = std::sync::Once::new();
    INSTALL.call_once(|| {
        extern "C" fn handler(_: libc::c_int) {
            const MESSAGE: &[u8] = b"cairn wal push: the file shrank while it was being read \
                (SIGBUS); nothing was archived\n";
            // SAFETY: write(2) and _exit(2) are async-signal-safe.
            unsafe {
                libc::write(2, MESSAGE.as_ptr().cast(), MESSAGE.len());
                libc::_exit(1);
            }
        }
        // SAFETY: a zeroed sigaction with a handler that only calls
        // async-signal-safe functions.
        unsafe {
            let mut action: libc::sigaction = std::mem::zeroed();
            action.sa_sigaction = handler as extern "C" fn(libc::c_int) as libc::sighandler_t;
            libc::sigemptyset(&mut action.sa_mask);
            libc::sigaction(libc::SIGBUS, &action, std::ptr::null_mut());
        }
    });
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn mapped_and_read_files_give_their_bytes() {
        let dir = tempfile::tempdir().unwrap();
        let full = dir.path().join("full");
        let data: Vec<u8> = (0..100_000u32).map(|i| (i % 251) as u8).collect();
        fs_err::write(&full, &data).unwrap();
        let bytes = FileBytes::open(&full).unwrap();
        assert!(matches!(bytes.inner, Inner::Mapped { .. }));
        assert_eq!(&bytes[..], &data[..]);
        let empty = dir.path().join("empty");
        fs_err::write(&empty, b"").unwrap();
        assert!(FileBytes::open(&empty).unwrap().is_empty());
        assert!(FileBytes::open(&dir.path().join("absent")).is_err());
    }
}
