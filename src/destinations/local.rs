//! A directory on this host: `PATH/JOB/ID/`, directories 0700, files 0600,
//! each file written under a temporary name, fsynced and renamed, the
//! manifest last.

use std::io::Write;
use std::os::unix::fs::{DirBuilderExt, OpenOptionsExt};
use std::path::{Path, PathBuf};

use async_trait::async_trait;
use tokio::sync::mpsc;

use super::{ArtifactWriter, Destination, DestinationError, Message, MANIFEST};
use crate::atomic;

pub struct LocalDestination {
    name: String,
    path: PathBuf,
}

impl LocalDestination {
    pub fn new(name: &str, path: &Path) -> Self {
        Self {
            name: name.to_owned(),
            path: path.to_owned(),
        }
    }
}

fn create_dirs(path: &Path) -> std::io::Result<()> {
    std::fs::DirBuilder::new()
        .recursive(true)
        .mode(0o700)
        .create(path)
}

#[async_trait]
impl Destination for LocalDestination {
    fn name(&self) -> &str {
        &self.name
    }

    async fn exists(&self, job: &str, id: &str) -> Result<bool, DestinationError> {
        Ok(self.path.join(job).join(id).exists())
    }

    async fn begin(
        &self,
        job: &str,
        id: &str,
    ) -> Result<Box<dyn ArtifactWriter>, DestinationError> {
        let dir = self.path.join(job).join(id);
        let job_dir = self.path.join(job);
        let created = dir.clone();
        tokio::task::spawn_blocking(move || {
            create_dirs(&created)?;
            atomic::sync_dir(&job_dir)
        })
        .await
        .expect("the blocking task does not panic")
        .map_err(|e| DestinationError::io(format!("cannot create {}", dir.display()), e))?;
        Ok(Box::new(LocalArtifact { dir }))
    }
}

struct LocalArtifact {
    dir: PathBuf,
}

#[async_trait]
impl ArtifactWriter for LocalArtifact {
    async fn write_stream(
        &mut self,
        name: &str,
        mut chunks: mpsc::Receiver<Message>,
    ) -> Result<(), DestinationError> {
        let partial = self.dir.join(format!(".{name}.partial"));
        let target = self.dir.join(name);
        let dir = self.dir.clone();
        tokio::task::spawn_blocking(move || {
            let result = (|| {
                let file = std::fs::OpenOptions::new()
                    .write(true)
                    .create_new(true)
                    .mode(0o600)
                    .open(&partial)
                    .map_err(|e| {
                        DestinationError::io(format!("cannot create {}", partial.display()), e)
                    })?;
                let mut file = std::io::BufWriter::with_capacity(1 << 20, file);
                while let Some(message) = chunks.blocking_recv() {
                    match message {
                        Message::Chunk(bytes) => file.write_all(&bytes).map_err(|e| {
                            DestinationError::io(format!("cannot write {}", partial.display()), e)
                        })?,
                        Message::Finish { .. } => {
                            let file = file.into_inner().map_err(|e| {
                                DestinationError::io(
                                    format!("cannot write {}", partial.display()),
                                    e.into_error(),
                                )
                            })?;
                            file.sync_all().map_err(|e| {
                                DestinationError::io(
                                    format!("cannot fsync {}", partial.display()),
                                    e,
                                )
                            })?;
                            std::fs::rename(&partial, &target)
                                .and_then(|()| atomic::sync_dir(&dir))
                                .map_err(|e| {
                                    DestinationError::io(
                                        format!("cannot rename to {}", target.display()),
                                        e,
                                    )
                                })?;
                            return Ok(());
                        }
                    }
                }
                Err(DestinationError::Aborted)
            })();
            if result.is_err() {
                let _ = std::fs::remove_file(&partial);
            }
            result
        })
        .await
        .expect("the blocking task does not panic")
    }

    async fn commit(&mut self, manifest: &[u8]) -> Result<(), DestinationError> {
        let path = self.dir.join(MANIFEST);
        let manifest = manifest.to_vec();
        tokio::task::spawn_blocking(move || {
            atomic::write_file(&path, &manifest, 0o600)
                .map_err(|e| DestinationError::io(format!("cannot write {}", path.display()), e))
        })
        .await
        .expect("the blocking task does not panic")
    }

    async fn abort(&mut self) {
        let dir = self.dir.clone();
        let _ = tokio::task::spawn_blocking(move || {
            let _ = std::fs::remove_dir_all(&dir);
            if let Some(parent) = dir.parent() {
                let _ = atomic::sync_dir(parent);
            }
        })
        .await;
    }
}
