//! The weight store's promises, on the in-memory backend with simulated
//! quota and corruption: what was imported reads back byte for byte, an
//! interrupted import leaves a consistent record and resumes, damage is
//! found, deletion frees the space.

use std::io::ErrorKind;

use pollster::block_on;
use sculpt_flux::formats::{ByteSource, MemorySource};
use sculpt_web::store::{
    ChunkKey, ImportPhase, ImportProgress, MemoryBackend, ModelStatus, StoreError, WeightStore,
};

const CHUNK: u64 = 7;

/// Bytes that differ at every position, so a misplaced chunk cannot match.
fn file(name: &str, len: usize, seed: u8) -> MemorySource<Vec<u8>> {
    let bytes = (0..len)
        .map(|i| (i as u8).wrapping_mul(31).wrapping_add(seed) ^ (i >> 8) as u8)
        .collect();
    MemorySource::new(name, bytes)
}

fn model_files() -> Vec<MemorySource<Vec<u8>>> {
    // 30 bytes = 4 full chunks + 2; 7 bytes = exactly one chunk; 0 bytes = none.
    vec![
        file("transformer.gguf", 30, 1),
        file("ae.safetensors", 7, 2),
        file("empty.json", 0, 3),
    ]
}

fn store() -> WeightStore<MemoryBackend> {
    WeightStore::with_chunk_size(MemoryBackend::new(), CHUNK)
}

fn key(file: &str, index: usize) -> ChunkKey {
    ChunkKey {
        model: "tiny".into(),
        file: file.into(),
        index,
    }
}

async fn read_all(store: &WeightStore<MemoryBackend>, model: &str, name: &str) -> Vec<u8> {
    let mut stored = store.open(model, name).await.unwrap();
    let mut bytes = vec![0; stored.len() as usize];
    // Odd-sized reads that straddle chunk boundaries.
    let mut offset = 0;
    while offset < bytes.len() {
        let end = (offset + 5).min(bytes.len());
        stored
            .read_at(offset as u64, &mut bytes[offset..end])
            .await
            .unwrap();
        offset = end;
    }
    bytes
}

#[test]
fn imported_files_read_back_byte_for_byte() {
    block_on(async {
        let store = store();
        let mut files = model_files();
        let mut seen = Vec::new();
        let record = store
            .import("tiny", &mut files, |p: &ImportProgress| {
                seen.push(p.clone())
            })
            .await
            .unwrap();
        assert_eq!(record.status, ModelStatus::Verified);
        assert_eq!(record.total_bytes(), 37);
        assert_eq!(record.files[0].chunks.len(), 5);
        assert_eq!(record.files[0].chunks[4].bytes, 2);
        assert_eq!(store.backend().chunk_count(), 6);
        assert_eq!(store.used_bytes().await.unwrap(), 37);

        let last_store = seen
            .iter()
            .rfind(|p| p.phase == ImportPhase::Storing)
            .unwrap();
        let last_verify = seen.last().unwrap();
        assert_eq!((last_store.done, last_store.total), (37, 37));
        assert_eq!(
            (last_verify.phase, last_verify.done),
            (ImportPhase::Verifying, 37)
        );

        for source in &model_files() {
            assert_eq!(
                read_all(&store, "tiny", source.name()).await,
                source.bytes()
            );
        }
        // One read across three chunks at once.
        let mut stored = store.open("tiny", "transformer.gguf").await.unwrap();
        let mut middle = [0; 16];
        stored.read_at(5, &mut middle).await.unwrap();
        assert_eq!(&middle, &model_files()[0].bytes()[5..21]);
        let outside = stored.read_at(25, &mut [0; 6]).await.unwrap_err();
        assert_eq!(outside.kind(), ErrorKind::UnexpectedEof);
    });
}

#[test]
fn quota_error_leaves_a_consistent_record_that_resumes() {
    block_on(async {
        let store = store();
        // Room for 3 chunks (21 bytes) of the 37.
        store.backend().set_quota(Some(24));
        let error = store
            .import("tiny", &mut model_files(), |_| {})
            .await
            .unwrap_err();
        assert_eq!(
            error,
            StoreError::QuotaExceeded {
                model: "tiny".into(),
                needed: 16,
                stored: 21,
                total: 37,
            }
        );
        assert!(
            error.to_string().contains("16 more bytes are needed"),
            "{error}"
        );

        let record = &store.models().await.unwrap()[0];
        assert_eq!(record.status, ModelStatus::Importing);
        assert_eq!(record.stored_bytes(), 21);
        assert_eq!(store.backend().chunk_count(), 3);
        // Every chunk the record lists is there, with the hash it lists.
        assert!(matches!(
            store.open("tiny", "transformer.gguf").await,
            Err(StoreError::Incomplete(_))
        ));

        store.backend().set_quota(None);
        let writes_before = store.backend().chunk_writes();
        let mut phases = Vec::new();
        let record = store
            .import("tiny", &mut model_files(), |p: &ImportProgress| {
                phases.push(p.phase)
            })
            .await
            .unwrap();
        assert_eq!(record.status, ModelStatus::Verified);
        // Only the 3 missing chunks were written again.
        assert_eq!(store.backend().chunk_writes() - writes_before, 3);
        assert_eq!(
            phases
                .iter()
                .filter(|p| **p == ImportPhase::Resuming)
                .count(),
            3
        );
        for source in &model_files() {
            assert_eq!(
                read_all(&store, "tiny", source.name()).await,
                source.bytes()
            );
        }
    });
}

#[test]
fn resuming_with_changed_contents_rewrites_from_the_first_difference() {
    block_on(async {
        let store = store();
        store.backend().set_quota(Some(21));
        store
            .import("tiny", &mut model_files(), |_| {})
            .await
            .unwrap_err();
        store.backend().set_quota(None);

        // Same names and sizes, but the second chunk of the transformer differs.
        let mut changed = model_files();
        let mut bytes = changed[0].bytes().to_vec();
        bytes[9] ^= 0xff;
        changed[0] = MemorySource::new("transformer.gguf", bytes.clone());
        let writes_before = store.backend().chunk_writes();
        store.import("tiny", &mut changed, |_| {}).await.unwrap();
        // Chunks 1..5 of the transformer and the one of the autoencoder.
        assert_eq!(store.backend().chunk_writes() - writes_before, 5);
        assert_eq!(read_all(&store, "tiny", "transformer.gguf").await, bytes);
    });
}

#[test]
fn damaged_or_missing_chunks_are_found_and_named() {
    block_on(async {
        let store = store();
        store
            .import("tiny", &mut model_files(), |_| {})
            .await
            .unwrap();

        // Damage after verification is caught while reading.
        assert!(store.backend().corrupt(&key("transformer.gguf", 2), 3));
        let mut stored = store.open("tiny", "transformer.gguf").await.unwrap();
        let mut first = [0; 14];
        stored.read_at(0, &mut first).await.unwrap();
        let error = stored.read_at(14, &mut [0; 1]).await.unwrap_err();
        assert_eq!(error.kind(), ErrorKind::InvalidData);
        assert!(
            error
                .to_string()
                .contains("chunk 2 of \"transformer.gguf\""),
            "{error}"
        );

        // A verify pass marks the model and names the chunk.
        let damaged = StoreError::Corrupt {
            model: "tiny".into(),
            file: "transformer.gguf".into(),
            chunk: 2,
        };
        assert_eq!(store.verify("tiny", |_| {}).await.unwrap_err(), damaged);
        let status = store.models().await.unwrap()[0].status.clone();
        assert_eq!(
            status,
            ModelStatus::Corrupt {
                file: "transformer.gguf".into(),
                chunk: 2
            }
        );
        assert_eq!(
            store.open("tiny", "ae.safetensors").await.err(),
            Some(damaged)
        );

        // A missing chunk is damage too.
        let other = self::store();
        other
            .import("tiny", &mut model_files(), |_| {})
            .await
            .unwrap();
        assert!(other.backend().remove_chunk(&key("ae.safetensors", 0)));
        assert!(matches!(
            other.verify("tiny", |_| {}).await,
            Err(StoreError::Corrupt { chunk: 0, .. })
        ));
    });
}

#[test]
fn deleting_frees_the_space_and_touches_nothing_else() {
    block_on(async {
        let store = store();
        store
            .import("tiny", &mut model_files(), |_| {})
            .await
            .unwrap();
        let mut other = vec![file("tiny", 12, 9)];
        store.import("tiny 2", &mut other, |_| {}).await.unwrap();
        assert_eq!(store.used_bytes().await.unwrap(), 49);

        store.delete("tiny").await.unwrap();
        assert_eq!(store.used_bytes().await.unwrap(), 12);
        let names: Vec<_> = store
            .models()
            .await
            .unwrap()
            .into_iter()
            .map(|m| m.id)
            .collect();
        assert_eq!(names, ["tiny 2"]);
        assert_eq!(read_all(&store, "tiny 2", "tiny").await, other[0].bytes());
        assert_eq!(
            store.delete("tiny").await,
            Err(StoreError::NoSuchModel("tiny".into()))
        );
    });
}

#[test]
fn bad_requests_are_refused_before_anything_is_stored() {
    block_on(async {
        let store = store();
        store
            .import("tiny", &mut model_files(), |_| {})
            .await
            .unwrap();
        let again = store.import("tiny", &mut model_files(), |_| {}).await;
        assert_eq!(again.unwrap_err(), StoreError::AlreadyStored("tiny".into()));

        let empty: &mut [MemorySource<Vec<u8>>] = &mut [];
        assert_eq!(
            store.import("x", empty, |_| {}).await.unwrap_err(),
            StoreError::NoFiles
        );
        assert!(matches!(
            store.import("", &mut model_files(), |_| {}).await,
            Err(StoreError::BadModelName(_))
        ));
        let mut repeated = vec![file("a", 3, 0), file("a", 4, 0)];
        assert_eq!(
            store.import("x", &mut repeated, |_| {}).await.unwrap_err(),
            StoreError::BadFileName("a".into())
        );

        // A partial import only resumes with the same files.
        store
            .backend()
            .set_quota(Some(store.used_bytes().await.unwrap() + 7));
        store
            .import("part", &mut model_files(), |_| {})
            .await
            .unwrap_err();
        let mut different = vec![file("transformer.gguf", 31, 1)];
        assert!(matches!(
            store.import("part", &mut different, |_| {}).await,
            Err(StoreError::DifferentFiles { .. })
        ));
        assert_eq!(store.models().await.unwrap().len(), 2);
        assert_eq!(
            store.open("nope", "a").await.err(),
            Some(StoreError::NoSuchModel("nope".into()))
        );
    });
}
