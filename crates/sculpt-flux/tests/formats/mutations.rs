//! A deterministic mutation sweep: valid files with bytes flipped, length
//! fields overwritten with huge values, and cuts at every length. Parsing
//! each variant may fail but must never panic, and must never allocate much
//! more than the file's size; whatever parses must read back within bounds.

use sculpt_flux::formats::{MemorySource, WeightFile, read_rows, read_tensor_bytes};

use crate::common::*;

/// Every variant of `valid` this sweep parses: single-byte changes and
/// 8-byte overwrites at every header position, and every truncation.
fn variants(valid: &[u8], header_len: usize) -> Vec<Vec<u8>> {
    let mut variants = Vec::new();
    for position in 0..header_len {
        for change in [
            |b: u8| b ^ 0xff,
            |_| 0,
            |_| 0xff,
            |b: u8| b.wrapping_add(1),
            |b: u8| b ^ 0x80,
        ] {
            let mut bytes = valid.to_vec();
            bytes[position] = change(bytes[position]);
            variants.push(bytes);
        }
        // Length and count fields are 8 bytes: overwrite every 8-byte window
        // with values that have broken public readers.
        for value in [u64::MAX, 1 << 62, 1 << 32, valid.len() as u64] {
            let mut bytes = valid.to_vec();
            let end = (position + 8).min(bytes.len());
            let window = &mut bytes[position..end];
            window.copy_from_slice(&value.to_le_bytes()[..window.len()]);
            variants.push(bytes);
        }
    }
    for len in 0..valid.len() {
        variants.push(valid[..len].to_vec());
    }
    variants
}

/// Parses one variant and, if it parses, reads every tensor whole and by rows.
fn parse_and_read(bytes: &[u8]) -> bool {
    let Ok(file) = read_weight_file_bytes("mutated", bytes) else {
        return false;
    };
    let mut source = MemorySource::new("mutated", bytes);
    for info in file.index().tensors() {
        let whole = pollster::block_on(read_tensor_bytes(&mut source, info)).unwrap();
        assert_eq!(whole.len() as u64, info.byte_len());
        if info.rows() > 0 {
            let first = pollster::block_on(read_rows(&mut source, info, 0, 1)).unwrap();
            assert_eq!(first.len() as u64, info.row_bytes());
        }
    }
    true
}

fn sweep(valid: &[u8], header_len: usize) -> (usize, usize) {
    let variants = variants(valid, header_len);
    let mut parsed = 0;
    for bytes in &variants {
        let (ok, largest) = largest_allocation(|| parse_and_read(bytes));
        assert!(
            largest <= SMALL_ALLOCATION + 4 * bytes.len(),
            "a {}-byte variant made the reader allocate {largest} bytes at once",
            bytes.len()
        );
        parsed += usize::from(ok);
    }
    (variants.len(), parsed)
}

#[test]
fn mutated_gguf_files_never_panic() {
    let valid = sample_gguf();
    let header_len = match read_weight_file_bytes("valid", &valid).unwrap() {
        WeightFile::Gguf(gguf) => gguf.data_start as usize,
        WeightFile::Safetensors(_) => unreachable!("the sample is GGUF"),
    };
    let (variants, parsed) = sweep(&valid, header_len);
    assert!(variants > 5000, "only {variants} variants");
    // Some changes (in metadata values, in padding) leave a valid file.
    assert!(
        parsed > 0 && parsed < variants,
        "{parsed} of {variants} parsed"
    );
}

#[test]
fn mutated_safetensors_files_never_panic() {
    let valid = sample_safetensors();
    let header_len = match read_weight_file_bytes("valid", &valid).unwrap() {
        WeightFile::Safetensors(file) => file.data_start as usize,
        WeightFile::Gguf(_) => unreachable!("the sample is safetensors"),
    };
    let (variants, parsed) = sweep(&valid, header_len);
    assert!(variants > 5000, "only {variants} variants");
    assert!(
        parsed > 0 && parsed < variants,
        "{parsed} of {variants} parsed"
    );
}
