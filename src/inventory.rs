//! The artifacts at every destination, read from their manifests: what
//! `cairn inventory` prints and what plans prune.

use std::collections::BTreeMap;

use serde::Serialize;

use crate::config::model::Config;
use crate::destinations::{self, Destination, Found, FoundState, Listing};
use crate::manifest::Reason;

/// Every destination's listing, or why it could not be read.
pub struct Inventory {
    pub destinations: BTreeMap<String, Result<Listing, String>>,
}

/// Opens every destination of the configuration.
pub async fn open_all(config: &Config) -> BTreeMap<String, Result<Box<dyn Destination>, String>> {
    let mut opened = BTreeMap::new();
    for (name, destination) in &config.destinations {
        let result = destinations::open(name.as_str(), destination)
            .await
            .map_err(|e| e.to_string());
        opened.insert(name.to_string(), result);
    }
    opened
}

/// Lists every destination (concurrently), for one job or all.
pub async fn read(
    opened: &BTreeMap<String, Result<Box<dyn Destination>, String>>,
    job: Option<&str>,
) -> Inventory {
    let listings = futures::future::join_all(opened.iter().map(|(name, destination)| async move {
        let listing = match destination {
            Ok(destination) => destination.list(job).await.map_err(|e| e.to_string()),
            Err(error) => Err(error.clone()),
        };
        (name.clone(), listing)
    }))
    .await;
    Inventory {
        destinations: listings.into_iter().collect(),
    }
}

/// One row of `cairn inventory --json`.
#[derive(Debug, Serialize)]
pub struct Row {
    pub destination: String,
    pub job: String,
    pub id: String,
    pub time: String,
    /// `complete`, `incomplete` (data without a manifest), `unreadable`
    /// (a manifest that does not parse) or `upload` (an open multipart upload).
    pub status: &'static str,
    /// The manifest's reason: scheduled, manual or safety.
    pub reason: Option<Reason>,
    pub stored_size: u64,
    /// Per stream: name, stored size and SHA-256, from the manifest.
    pub streams: Vec<RowStream>,
}

#[derive(Debug, Serialize)]
pub struct RowStream {
    pub name: String,
    pub stored_size: u64,
    pub sha256: String,
}

impl Inventory {
    /// Flat rows, by destination, job and time.
    pub fn rows(&self) -> Vec<Row> {
        let mut rows = Vec::new();
        for (destination, listing) in &self.destinations {
            let Ok(listing) = listing else { continue };
            for found in &listing.artifacts {
                rows.push(row(destination, found));
            }
            for upload in &listing.uploads {
                rows.push(Row {
                    destination: destination.clone(),
                    job: upload.job.clone(),
                    id: upload.id.clone(),
                    time: destinations::id_time(&upload.id)
                        .map(|t| t.to_rfc3339())
                        .unwrap_or_default(),
                    status: "upload",
                    reason: None,
                    stored_size: 0,
                    streams: Vec::new(),
                });
            }
        }
        rows
    }

    /// Destinations that could not be read, with why.
    /// `cairn inventory --json`: the rows and the destinations that could
    /// not be read.
    pub fn to_json(&self) -> serde_json::Value {
        serde_json::json!({
            "artifacts": self.rows(),
            "errors": self.errors().iter().map(|(d, e)| serde_json::json!({"destination": d, "error": e})).collect::<Vec<_>>(),
        })
    }

    /// `cairn inventory`: one line per artifact.
    pub fn table(&self) -> String {
        let rows = self.rows();
        if rows.is_empty() {
            return "No artifacts found.\n".to_owned();
        }
        let mut out = format!(
            "{:<14} {:<18} {:<20} {:<12} {:>10}  {:<16}  {}\n",
            "DESTINATION", "JOB", "ID", "STATUS", "STORED", "SHA256", "REASON"
        );
        for row in &rows {
            out.push_str(&format!(
                "{:<14} {:<18} {:<20} {:<12} {:>10}  {:<16}  {}\n",
                row.destination,
                row.job,
                row.id,
                row.status,
                crate::format::human_bytes(row.stored_size),
                row.streams
                    .first()
                    .map(|s| &s.sha256[..16.min(s.sha256.len())])
                    .unwrap_or("-"),
                row.reason
                    .map(|r| format!("{r:?}").to_lowercase())
                    .unwrap_or_default()
            ));
        }
        out
    }

    /// The warnings about what the listings ignored (see [`ignored`]).
    pub fn ignored(&self) -> Vec<String> {
        ignored(&self.destinations)
    }

    pub fn errors(&self) -> Vec<(String, String)> {
        self.destinations
            .iter()
            .filter_map(|(name, listing)| listing.as_ref().err().map(|e| (name.clone(), e.clone())))
            .collect()
    }
}

/// One warning per key a destination's listing ignored (a key that could
/// step out of the destination, a link, a manifest that cannot be
/// trusted), naming the destination and the key.
pub fn ignored(listings: &BTreeMap<String, Result<Listing, String>>) -> Vec<String> {
    listings
        .iter()
        .filter_map(|(name, listing)| Some((name, listing.as_ref().ok()?)))
        .flat_map(|(name, listing)| {
            listing
                .ignored
                .iter()
                .map(move |ignored| format!("destination `{name}`: {ignored}"))
        })
        .collect()
}

fn row(destination: &str, found: &Found) -> Row {
    let (status, reason, streams) = match &found.state {
        FoundState::Complete(manifest) => (
            "complete",
            Some(manifest.reason),
            manifest
                .streams
                .iter()
                .map(|s| RowStream {
                    name: s.name.clone(),
                    stored_size: s.stored_size,
                    sha256: s.sha256.clone(),
                })
                .collect(),
        ),
        FoundState::Incomplete => ("incomplete", None, Vec::new()),
        FoundState::Unreadable(_) => ("unreadable", None, Vec::new()),
    };
    Row {
        destination: destination.to_owned(),
        job: found.job.clone(),
        id: found.id.clone(),
        time: found.time.to_rfc3339(),
        status,
        reason,
        stored_size: found.stored_size,
        streams,
    }
}
