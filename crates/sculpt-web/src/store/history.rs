//! Past images, kept in IndexedDB (database `sculpt-history`, one record per
//! image) so that they are there on the next visit. The newest
//! [`HISTORY_LIMIT`] are kept.

use idb::{Database, DatabaseEvent, Factory, KeyPath, ObjectStoreParams, TransactionMode};
use serde::{Deserialize, Serialize};

const HISTORY_DB: &str = "sculpt-history";
const HISTORY_STORE: &str = "images";
/// Past images kept; older ones are dropped.
pub const HISTORY_LIMIT: usize = 48;

/// One finished image and what it was made from.
#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct PastImage {
    #[serde(with = "serde_bytes")]
    pub png: Vec<u8>,
    pub prompt: String,
    pub seed: u32,
    pub steps: u32,
    /// When it was made, in milliseconds since 1970.
    #[serde(default)]
    pub created: f64,
}

/// Keeps `image`, dropping the oldest beyond [`HISTORY_LIMIT`].
pub async fn keep(image: &PastImage) -> Result<(), String> {
    let record = serde_wasm_bindgen::to_value(image)
        .map_err(|e| format!("cannot build the history record: {e}"))?;
    let database = open().await?;
    let transaction = database
        .transaction(&[HISTORY_STORE], TransactionMode::ReadWrite)
        .map_err(text)?;
    let store = transaction.object_store(HISTORY_STORE).map_err(text)?;
    store
        .add(&record, None)
        .map_err(text)?
        .await
        .map_err(text)?;
    // Keys grow, so the oldest come first.
    let keys = store
        .get_all_keys(None, None)
        .map_err(text)?
        .await
        .map_err(text)?;
    for key in keys.iter().take(keys.len().saturating_sub(HISTORY_LIMIT)) {
        store.delete(key.clone()).map_err(text)?;
    }
    transaction.commit().map_err(text)?.await.map_err(text)?;
    Ok(())
}

/// The kept images, oldest first. A record this version cannot read is
/// skipped rather than failing the rest.
pub async fn kept() -> Result<Vec<PastImage>, String> {
    let database = open().await?;
    let transaction = database
        .transaction(&[HISTORY_STORE], TransactionMode::ReadOnly)
        .map_err(text)?;
    let values = transaction
        .object_store(HISTORY_STORE)
        .map_err(text)?
        .get_all(None, None)
        .map_err(text)?
        .await
        .map_err(text)?;
    Ok(values
        .into_iter()
        .filter_map(|value| serde_wasm_bindgen::from_value(value).ok())
        .collect())
}

async fn open() -> Result<Database, String> {
    let factory = Factory::new().map_err(text)?;
    let mut request = factory.open(HISTORY_DB, Some(1)).map_err(text)?;
    request.on_upgrade_needed(|event| {
        if let Ok(database) = event.database() {
            let mut params = ObjectStoreParams::new();
            params.auto_increment(true);
            params.key_path(Some(KeyPath::new_single("id")));
            let _ = database.create_object_store(HISTORY_STORE, params);
        }
    });
    request.await.map_err(text)
}

fn text(error: idb::Error) -> String {
    error.to_string()
}
