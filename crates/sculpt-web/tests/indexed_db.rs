//! The weight store on the browser's real IndexedDB (headless Chromium):
//! import, read back across chunk boundaries, detect a damaged chunk,
//! delete. The store's logic is covered in depth natively (tests/store.rs);
//! this checks the IndexedDB backend under it.
//!
//! `cargo xtask test --only wasm` runs it.
#![cfg(target_arch = "wasm32")]

use sculpt_flux::formats::{ByteSource, MemorySource};
use sculpt_web::store::{Backend, ChunkKey, IndexedDb, ModelStatus, StoreError, WeightStore};
use wasm_bindgen_test::{wasm_bindgen_test, wasm_bindgen_test_configure};

wasm_bindgen_test_configure!(run_in_browser);

fn file(name: &str, len: usize, seed: u8) -> MemorySource<Vec<u8>> {
    let bytes = (0..len)
        .map(|i| (i as u8).wrapping_mul(29).wrapping_add(seed) ^ (i >> 8) as u8)
        .collect();
    MemorySource::new(name, bytes)
}

/// A database of its own per test, so runs never see each other's data.
async fn store(test: &str) -> WeightStore<IndexedDb> {
    let name = format!("sculpt-test-{test}-{}", js_sys::Date::now());
    WeightStore::with_chunk_size(IndexedDb::open(&name).await.unwrap(), 1000)
}

#[wasm_bindgen_test]
async fn imports_reads_back_and_deletes() {
    let store = store("roundtrip").await;
    let mut files = vec![
        file("transformer.gguf", 2500, 1),
        file("ae.safetensors", 10, 2),
    ];
    let record = store.import("tiny", &mut files, |_| {}).await.unwrap();
    assert_eq!(record.status, ModelStatus::Verified);
    assert_eq!(record.files[0].chunks.len(), 3);
    assert_eq!(store.used_bytes().await.unwrap(), 2510);

    let mut stored = store.open("tiny", "transformer.gguf").await.unwrap();
    let mut bytes = vec![0; 1200];
    stored.read_at(900, &mut bytes).await.unwrap();
    assert_eq!(bytes, files[0].bytes()[900..2100]);

    // The records survive a new connection to the same database.
    let models = store.models().await.unwrap();
    assert_eq!(models.len(), 1);
    assert_eq!(models[0].total_bytes(), 2510);

    store.delete("tiny").await.unwrap();
    assert!(store.models().await.unwrap().is_empty());
    assert_eq!(store.used_bytes().await.unwrap(), 0);
    let gone = store
        .backend()
        .get_chunk(&ChunkKey {
            model: "tiny".into(),
            file: "transformer.gguf".into(),
            index: 0,
        })
        .await
        .unwrap();
    assert_eq!(gone, None);
}

#[wasm_bindgen_test]
async fn a_damaged_chunk_is_found() {
    let store = store("damage").await;
    let mut files = vec![file("t5.safetensors", 2100, 3)];
    store.import("t5", &mut files, |_| {}).await.unwrap();
    let key = ChunkKey {
        model: "t5".into(),
        file: "t5.safetensors".into(),
        index: 1,
    };
    let mut damaged = store.backend().get_chunk(&key).await.unwrap().unwrap();
    damaged[17] ^= 0x40;
    store.backend().put_chunk(&key, &damaged).await.unwrap();

    let error = store.verify("t5", |_| {}).await.unwrap_err();
    assert_eq!(
        error,
        StoreError::Corrupt {
            model: "t5".into(),
            file: "t5.safetensors".into(),
            chunk: 1,
        }
    );
    assert!(matches!(
        store.open("t5", "t5.safetensors").await,
        Err(StoreError::Corrupt { chunk: 1, .. })
    ));
}
