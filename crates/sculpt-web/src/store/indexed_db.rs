//! The browser's backend: one IndexedDB database with two object stores,
//! `records` (model id → record as JSON) and `chunks` (encoded chunk key →
//! bytes).

use idb::{
    Database, DatabaseEvent, Factory, KeyRange, ObjectStoreParams, Transaction, TransactionMode,
    TransactionResult,
};
use js_sys::Uint8Array;
use wasm_bindgen::{JsCast, JsValue};
use web_sys::IdbTransaction;

use super::{Backend, BackendError, ChunkKey, ModelRecord};

const RECORDS: &str = "records";
const CHUNKS: &str = "chunks";
const VERSION: u32 = 1;

pub struct IndexedDb {
    database: Database,
}

impl IndexedDb {
    /// Opens (creating on first use) the database called `name`.
    pub async fn open(name: &str) -> Result<Self, BackendError> {
        let factory = Factory::new().map_err(other)?;
        let mut request = factory.open(name, Some(VERSION)).map_err(other)?;
        request.on_upgrade_needed(|event| {
            let Ok(database) = event.database() else {
                return;
            };
            for store in [RECORDS, CHUNKS] {
                if !database.store_names().iter().any(|name| name == store) {
                    let _ = database.create_object_store(store, ObjectStoreParams::new());
                }
            }
        });
        let database = request.await.map_err(other)?;
        Ok(Self { database })
    }

    /// Runs `write` in one read-write transaction over `stores` and waits for
    /// it to commit: the browser reports a full quota when the transaction
    /// aborts, not always when the request fails.
    async fn write(
        &self,
        stores: &[&str],
        write: impl FnOnce(&idb::Transaction) -> Result<(), idb::Error>,
    ) -> Result<(), BackendError> {
        let transaction = self
            .database
            .transaction(stores, TransactionMode::ReadWrite)
            .map_err(other)?;
        if let Err(error) = write(&transaction) {
            let _ = transaction.abort();
            return Err(classify(&error));
        }
        // A second handle on the same transaction, to read its error after
        // the future has consumed the first.
        let handle: JsValue = transaction.into();
        let observed: IdbTransaction = handle.clone().unchecked_into();
        let transaction = Transaction::try_from(handle).map_err(other)?;
        match transaction.await {
            Ok(TransactionResult::Committed) => Ok(()),
            Ok(TransactionResult::Aborted) => Err(match observed.error() {
                Some(exception) if exception.name() == "QuotaExceededError" => {
                    BackendError::QuotaExceeded
                }
                Some(exception) => BackendError::Other(exception.message()),
                None => BackendError::Other("the browser aborted the write".into()),
            }),
            Err(error) => Err(classify(&error)),
        }
    }

    async fn get(&self, store: &str, key: &JsValue) -> Result<Option<JsValue>, BackendError> {
        let transaction = self
            .database
            .transaction(&[store], TransactionMode::ReadOnly)
            .map_err(other)?;
        let value = transaction
            .object_store(store)
            .map_err(other)?
            .get(key.clone())
            .map_err(other)?
            .await
            .map_err(other)?;
        Ok(value)
    }
}

impl Backend for IndexedDb {
    async fn put_chunk(&self, key: &ChunkKey, bytes: &[u8]) -> Result<(), BackendError> {
        let key = JsValue::from_str(&key.encode());
        let value: JsValue = Uint8Array::from(bytes).into();
        self.write(&[CHUNKS], |transaction| {
            transaction
                .object_store(CHUNKS)?
                .put(&value, Some(&key))
                .map(drop)
        })
        .await
    }

    async fn get_chunk(&self, key: &ChunkKey) -> Result<Option<Vec<u8>>, BackendError> {
        let value = self.get(CHUNKS, &JsValue::from_str(&key.encode())).await?;
        Ok(value.and_then(|value| {
            value
                .dyn_into::<Uint8Array>()
                .ok()
                .map(|array| array.to_vec())
        }))
    }

    async fn put_record(&self, record: &ModelRecord) -> Result<(), BackendError> {
        let json = serde_json::to_string(record).map_err(|e| BackendError::Other(e.to_string()))?;
        let key = JsValue::from_str(&record.id);
        let value = JsValue::from_str(&json);
        self.write(&[RECORDS], |transaction| {
            transaction
                .object_store(RECORDS)?
                .put(&value, Some(&key))
                .map(drop)
        })
        .await
    }

    async fn get_record(&self, model: &str) -> Result<Option<ModelRecord>, BackendError> {
        match self.get(RECORDS, &JsValue::from_str(model)).await? {
            Some(value) => parse_record(&value).map(Some),
            None => Ok(None),
        }
    }

    async fn records(&self) -> Result<Vec<ModelRecord>, BackendError> {
        let transaction = self
            .database
            .transaction(&[RECORDS], TransactionMode::ReadOnly)
            .map_err(other)?;
        let values = transaction
            .object_store(RECORDS)
            .map_err(other)?
            .get_all(None, None)
            .map_err(other)?
            .await
            .map_err(other)?;
        values.iter().map(parse_record).collect()
    }

    async fn delete_model(&self, model: &str) -> Result<(), BackendError> {
        let (start, end) = ChunkKey::model_range(model);
        let range = KeyRange::bound(
            &JsValue::from_str(&start),
            &JsValue::from_str(&end),
            Some(false),
            Some(true),
        )
        .map_err(other)?;
        let key = JsValue::from_str(model);
        self.write(&[RECORDS, CHUNKS], |transaction| {
            transaction.object_store(CHUNKS)?.delete(range)?;
            transaction.object_store(RECORDS)?.delete(key)?;
            Ok(())
        })
        .await
    }

    async fn chunk_bytes(&self) -> Result<u64, BackendError> {
        // Summed from the records rather than by reading every chunk back.
        Ok(self
            .records()
            .await?
            .iter()
            .map(ModelRecord::stored_bytes)
            .sum())
    }
}

fn parse_record(value: &JsValue) -> Result<ModelRecord, BackendError> {
    let json = value
        .as_string()
        .ok_or_else(|| BackendError::Other("a stored model record is not text".into()))?;
    serde_json::from_str(&json)
        .map_err(|e| BackendError::Other(format!("a stored model record is unreadable: {e}")))
}

fn classify(error: &idb::Error) -> BackendError {
    let text = error.to_string();
    let quota = match error {
        idb::Error::DomException(exception) => exception.name() == "QuotaExceededError",
        _ => text.contains("QuotaExceededError"),
    };
    if quota {
        BackendError::QuotaExceeded
    } else {
        BackendError::Other(text)
    }
}

fn other(error: idb::Error) -> BackendError {
    classify(&error)
}
