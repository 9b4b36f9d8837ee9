//! Progress output of a backup: a live line per stream on a terminal,
//! plain log lines otherwise.

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::Duration;

use crate::output::Log;

/// Progress output: a live line on a terminal, plain log lines otherwise.
#[derive(Clone)]
pub(super) struct Progress {
    log: Log,
    terminal: bool,
}

impl Progress {
    pub(super) fn new(log: Log) -> Self {
        let terminal = log.terminal();
        Self { log, terminal }
    }

    pub(super) fn line(&self, text: &str) {
        self.log.progress(text);
    }

    pub(super) fn warn(&self, text: &str) {
        self.log.warn(text);
    }

    /// On a terminal, a live line for one stream: its label and the bytes
    /// read so far (`progress`), until the returned task is aborted.
    pub(super) fn ticker(
        &self,
        label: String,
        progress: Arc<AtomicU64>,
    ) -> Option<tokio::task::JoinHandle<()>> {
        if !self.terminal {
            return None;
        }
        let bar = indicatif::ProgressBar::new_spinner();
        bar.set_style(
            indicatif::ProgressStyle::with_template(
                "{spinner} {msg} {bytes} read ({bytes_per_sec})",
            )
            .expect("the template is valid"),
        );
        bar.set_message(label);
        Some(tokio::spawn(async move {
            let _finish = FinishOnDrop(bar.clone());
            loop {
                bar.set_position(progress.load(Ordering::Relaxed));
                bar.tick();
                tokio::time::sleep(Duration::from_millis(200)).await;
            }
        }))
    }
}

struct FinishOnDrop(indicatif::ProgressBar);

impl Drop for FinishOnDrop {
    fn drop(&mut self) {
        self.0.finish_and_clear();
    }
}
