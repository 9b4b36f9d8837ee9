//! Stopping a run from outside (timeout, SIGINT, SIGTERM): a flag the
//! pipeline checks, and the dump processes to terminate.

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};

#[derive(Clone, Default)]
pub struct Cancel {
    inner: Arc<Inner>,
}

#[derive(Default)]
struct Inner {
    cancelled: AtomicBool,
    reason: Mutex<Option<String>>,
    children: Mutex<Vec<u32>>,
}

impl Cancel {
    /// Cancels the run: records why (the first reason wins) and sends
    /// SIGTERM to every registered child process.
    pub fn trigger(&self, reason: impl Into<String>) {
        {
            let mut slot = self.inner.reason.lock().expect("lock is not poisoned");
            if slot.is_none() {
                *slot = Some(reason.into());
            }
        }
        self.inner.cancelled.store(true, Ordering::SeqCst);
        for pid in self
            .inner
            .children
            .lock()
            .expect("lock is not poisoned")
            .iter()
        {
            terminate(*pid);
        }
    }

    pub fn is_cancelled(&self) -> bool {
        self.inner.cancelled.load(Ordering::SeqCst)
    }

    pub fn reason(&self) -> Option<String> {
        self.inner
            .reason
            .lock()
            .expect("lock is not poisoned")
            .clone()
    }

    /// `error` with the reason of the cancel added when it does not say it
    /// already: a dump that died of the timeout's SIGTERM reads
    /// "pg_dump exited 143 (timed out after 1h)".
    pub fn explain(&self, error: String) -> String {
        match self.reason() {
            Some(reason) if !error.contains(&reason) => format!("{error} ({reason})"),
            _ => error,
        }
    }

    /// An error for the pipeline to stop with, when cancelled.
    pub fn check(&self) -> std::io::Result<()> {
        if self.is_cancelled() {
            // Not ErrorKind::Interrupted: write_all and io::copy retry those.
            Err(std::io::Error::other(
                self.reason().unwrap_or_else(|| "cancelled".to_owned()),
            ))
        } else {
            Ok(())
        }
    }

    /// Registers a child process to terminate on cancel (at once when the
    /// run is already cancelled).
    pub fn register(&self, pid: u32) {
        self.inner
            .children
            .lock()
            .expect("lock is not poisoned")
            .push(pid);
        if self.is_cancelled() {
            terminate(pid);
        }
    }

    pub fn unregister(&self, pid: u32) {
        self.inner
            .children
            .lock()
            .expect("lock is not poisoned")
            .retain(|p| *p != pid);
    }
}

/// Sends SIGTERM to the process group a dump tool leads, so that whatever
/// it started (an `exec` prefix's shell, `docker exec`) stops too.
fn terminate(pid: u32) {
    signal_group(pid, libc::SIGTERM);
}

/// Sends `signal` to the process group led by `pid` (see `ToolCommand`,
/// which starts each tool as the leader of its own group).
pub fn signal_group(pid: u32, signal: libc::c_int) {
    if let Ok(pid) = libc::pid_t::try_from(pid) {
        // SAFETY: kill(2) on the group of a child we spawned and have not reaped.
        unsafe {
            libc::kill(-pid, signal);
        }
    }
}

impl Cancel {
    /// Cancels on SIGINT, SIGTERM, or when `timeout` has passed, from a task
    /// on `runtime`; abort the returned handle when the work is done.
    pub fn watch(
        &self,
        runtime: &tokio::runtime::Handle,
        timeout: Option<std::time::Duration>,
    ) -> tokio::task::JoinHandle<()> {
        let cancel = self.clone();
        runtime.spawn(async move {
            let mut terminate =
                tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()).ok();
            let sleep = async {
                match timeout {
                    Some(timeout) => tokio::time::sleep(timeout).await,
                    None => std::future::pending().await,
                }
            };
            let sigterm = async {
                match terminate.as_mut() {
                    Some(signal) => {
                        signal.recv().await;
                    }
                    None => std::future::pending().await,
                }
            };
            tokio::select! {
                () = sleep => cancel.trigger(format!(
                    "timed out after {}",
                    crate::duration::Duration::from_seconds(timeout.map_or(0, |t| t.as_secs()))
                )),
                _ = tokio::signal::ctrl_c() => cancel.trigger("interrupted (SIGINT)"),
                () = sigterm => cancel.trigger("terminated (SIGTERM)"),
            }
        })
    }
}
