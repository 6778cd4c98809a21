//! One crafted GGUF file per bug class that public loaders have had (see
//! `shared/docs/peers.md`): each must be refused quickly, with a small
//! allocation, by an error that names the file, the field and the problem.

use sculpt_flux::formats::Problem;
use sculpt_flux::formats::gguf::MetadataValue;

use crate::common::*;

const F32: u32 = 0;
const Q4_0: u32 = 2;
const STRING: u32 = 8;
const ARRAY: u32 = 9;

/// A file with one metadata pair whose value the caller writes.
fn with_one_value(key: &str, value_type: u32) -> GgufBuilder {
    let mut file = GgufBuilder::header(3, 0, 1);
    file.string(key).u32(value_type);
    file
}

/// A file with one tensor info and `data_len` bytes of data.
fn with_one_tensor(dims: &[u64], ggml_type: u32, offset: u64, data_len: usize) -> Vec<u8> {
    let mut file = GgufBuilder::header(3, 1, 0);
    file.tensor_info("img_in.weight", dims, ggml_type, offset)
        .pad_to(32)
        .zeros(data_len);
    file.build()
}

#[test]
fn a_tensor_count_of_2_pow_63_in_40_bytes_is_refused_before_any_loop() {
    let mut file = GgufBuilder::header(3, 1 << 63, 0);
    file.zeros(40 - 24);
    let bytes = file.build();
    assert_eq!(bytes.len(), 40);
    let error = gguf_error(&bytes);
    assert!(matches!(error.problem(), Problem::CountTooLarge { count, .. } if *count == 1 << 63));
    assert!(
        error
            .to_string()
            .contains("the tensor count is 9223372036854775808"),
        "{error}"
    );
}

#[test]
fn a_metadata_count_of_2_pow_64_minus_1_is_refused() {
    let error = gguf_error(&GgufBuilder::header(3, 0, u64::MAX).zeros(64).build());
    assert!(matches!(error.problem(), Problem::CountTooLarge { .. }));
    assert!(error.to_string().contains("the metadata count"), "{error}");
}

#[test]
fn a_string_length_of_2_pow_62_is_refused_before_allocating() {
    let mut file = with_one_value("general.name", STRING);
    file.u64(1 << 62).zeros(16);
    let error = gguf_error(&file.build());
    assert!(matches!(error.problem(), Problem::StringTooLong { len, .. } if *len == 1 << 62));
    assert!(
        error
            .to_string()
            .contains("the value of 'general.name' is 4611686018427387904 bytes long"),
        "{error}"
    );
}

#[test]
fn a_key_length_past_the_spec_limit_is_refused() {
    let mut file = GgufBuilder::header(3, 0, 1);
    file.u64(1 << 62).zeros(16);
    let error = gguf_error(&file.build());
    assert!(matches!(error.problem(), Problem::NameTooLong { .. }));
    assert!(error.to_string().contains("metadata key #0"), "{error}");
}

#[test]
fn a_tensor_name_longer_than_256_bytes_is_refused() {
    let mut file = GgufBuilder::header(3, 1, 0);
    file.tensor_info(&"x".repeat(257), &[4], F32, 0)
        .pad_to(32)
        .zeros(16);
    let error = gguf_error(&file.build());
    assert!(
        matches!(
            error.problem(),
            Problem::NameTooLong {
                len: 257,
                limit: 256,
                ..
            }
        ),
        "{error}"
    );
    // Longer than the spec's 64 bytes, as ComfyUI-GGUF writes them: read.
    let long_name = "model.diffusion_model.single_transformer_blocks.37.attn.norm_k.weight";
    let mut file = GgufBuilder::header(3, 1, 0);
    file.tensor_info(long_name, &[4], F32, 0)
        .pad_to(32)
        .zeros(16);
    let gguf = read_gguf_bytes("long-names.gguf", &file.build()).unwrap();
    assert!(gguf.index.get(long_name).is_some());
}

#[test]
fn array_lengths_larger_than_the_file_are_refused_before_allocating() {
    for (element_type, len) in [(STRING, 1u64 << 61), (0, u64::MAX), (12, 1 << 60), (4, 10)] {
        let mut file = with_one_value("tokenizer.ggml.tokens", ARRAY);
        file.u32(element_type).u64(len).zeros(32);
        let error = gguf_error(&file.build());
        assert!(
            matches!(error.problem(), Problem::CountTooLarge { count, .. } if *count == len),
            "{error}"
        );
        assert!(
            error
                .to_string()
                .contains("the length of array 'tokenizer.ggml.tokens'"),
            "{error}"
        );
    }
}

#[test]
fn nested_arrays_are_refused() {
    let mut file = with_one_value("nested", ARRAY);
    file.u32(ARRAY).u64(1).u32(0).u64(1).u8(7);
    let error = gguf_error(&file.build());
    assert!(matches!(error.problem(), Problem::NestedArray { key } if key == "nested"));
}

#[test]
fn unknown_value_types_are_refused() {
    for type_id in [13, 255, u32::MAX] {
        let mut file = with_one_value("mystery", type_id);
        file.zeros(16);
        let error = gguf_error(&file.build());
        assert!(
            matches!(error.problem(), Problem::UnknownValueType { type_id: found, .. } if *found == type_id)
        );
        assert!(
            error
                .to_string()
                .contains(&format!("'mystery' has value type {type_id}")),
            "{error}"
        );

        let mut file = with_one_value("mystery.array", ARRAY);
        file.u32(type_id).u64(1).zeros(16);
        let error = gguf_error(&file.build());
        assert!(
            matches!(error.problem(), Problem::UnknownValueType { .. }),
            "{error}"
        );
    }
}

#[test]
fn bools_other_than_0_and_1_are_refused() {
    let mut file = with_one_value("flag", 7);
    file.u8(2);
    assert!(matches!(
        gguf_error(&file.build()).problem(),
        Problem::InvalidBool { byte: 2, .. }
    ));
    let mut file = with_one_value("flags", ARRAY);
    file.u32(7).u64(3).u8(1).u8(0).u8(0xff);
    assert!(matches!(
        gguf_error(&file.build()).problem(),
        Problem::InvalidBool { byte: 0xff, .. }
    ));
}

#[test]
fn alignment_of_zero_or_not_a_power_of_two_is_refused() {
    for alignment in [0u32, 3, 48, u32::MAX] {
        let mut file = with_one_value("general.alignment", 4);
        file.u32(alignment).zeros(32);
        let error = gguf_error(&file.build());
        assert!(
            matches!(error.problem(), Problem::AlignmentNotPowerOfTwo { alignment: found } if *found == u64::from(alignment))
        );
        assert!(error.to_string().contains("general.alignment"), "{error}");
    }
}

#[test]
fn alignment_of_the_wrong_type_is_refused_not_cast() {
    // uint8, uint64, int32, float32, string: each a different reading of the
    // same bytes if the type were not checked.
    let values: [(u32, &[u8]); 5] = [
        (0, &[32]),
        (10, &32u64.to_le_bytes()),
        (5, &32i32.to_le_bytes()),
        (6, &32f32.to_le_bytes()),
        (STRING, &[2, 0, 0, 0, 0, 0, 0, 0, b'3', b'2']),
    ];
    for (value_type, value) in values {
        let mut file = with_one_value("general.alignment", value_type);
        file.bytes.extend_from_slice(value);
        file.zeros(32);
        let error = gguf_error(&file.build());
        assert!(
            matches!(error.problem(), Problem::AlignmentWrongType { .. }),
            "{error}"
        );
        assert!(error.to_string().contains("must be a uint32"), "{error}");
    }
    // An array of 1-byte values is not a 4-byte alignment either.
    let mut file = with_one_value("general.alignment", ARRAY);
    file.u32(0).u64(4).u32(32).zeros(32);
    let error = gguf_error(&file.build());
    assert!(
        matches!(
            error.problem(),
            Problem::AlignmentWrongType { found: "array" }
        ),
        "{error}"
    );
}

#[test]
fn a_huge_alignment_puts_the_data_past_the_end() {
    let mut file = GgufBuilder::header(3, 1, 1);
    file.string("general.alignment").u32(4).u32(1 << 31);
    file.tensor_info("img_in.weight", &[4], F32, 0).zeros(64);
    let error = gguf_error(&file.build());
    assert!(
        matches!(error.problem(), Problem::TensorPastEnd { .. }),
        "{error}"
    );
}

#[test]
fn typed_metadata_access_does_not_convert_between_types() {
    assert_eq!(MetadataValue::U32(32).as_u32(), Some(32));
    assert_eq!(MetadataValue::U8(32).as_u32(), None);
    assert_eq!(MetadataValue::F32(32.0).as_u32(), None);
    assert_eq!(MetadataValue::String("32".into()).as_u32(), None);
}

#[test]
fn element_counts_that_overflow_64_bits_are_refused() {
    // 2^96 elements, and 2^62 elements whose 4-byte size wraps to 0 — the
    // wrap that let a tensor pass a bounds check in llama.cpp (PR #18674).
    let cases: [(&[u64], u32); 3] = [
        (&[1 << 32, 1 << 32, 1 << 32], F32),
        (&[1 << 62], F32),
        (&[1 << 32, 1 << 32], Q4_0),
    ];
    for (dims, ggml_type) in cases {
        let error = gguf_error(&with_one_tensor(dims, ggml_type, 0, 64));
        assert!(
            matches!(error.problem(), Problem::TensorSizeOverflow { .. }),
            "{error}"
        );
        assert!(
            error
                .to_string()
                .contains("tensor 'img_in.weight' of shape"),
            "{error}"
        );
    }
    // Element counts past int64, the type ggml counts in, overflow too.
    let error = gguf_error(&with_one_tensor(&[1 << 32, (1 << 31) + 1], Q4_0, 0, 64));
    assert!(
        matches!(error.problem(), Problem::TensorSizeOverflow { .. }),
        "{error}"
    );
}

#[test]
fn dimensions_past_int64_are_refused() {
    let error = gguf_error(&with_one_tensor(&[u64::MAX], F32, 0, 64));
    assert!(
        matches!(
            error.problem(),
            Problem::DimensionTooLarge { dim: u64::MAX, .. }
        ),
        "{error}"
    );
}

#[test]
fn dimension_counts_outside_1_to_4_are_refused() {
    for n_dims in [0u32, 5, u32::MAX] {
        let mut file = GgufBuilder::header(3, 1, 0);
        file.string("img_in.weight").u32(n_dims).zeros(64);
        let error = gguf_error(&file.build());
        assert!(
            matches!(error.problem(), Problem::BadDimensionCount { n_dims: found, .. } if *found == n_dims),
            "{error}"
        );
    }
}

#[test]
fn offsets_past_the_end_are_refused() {
    for offset in [64, 1 << 40, u64::MAX - 31] {
        let error = gguf_error(&with_one_tensor(&[4], F32, offset, 64));
        assert!(
            matches!(error.problem(), Problem::TensorPastEnd { .. }),
            "{error}"
        );
        assert!(
            error
                .to_string()
                .contains("tensor 'img_in.weight' takes bytes"),
            "{error}"
        );
    }
    // A tensor that starts inside the file but runs past its end.
    let error = gguf_error(&with_one_tensor(&[32], F32, 32, 64));
    assert!(
        matches!(error.problem(), Problem::TensorPastEnd { .. }),
        "{error}"
    );
}

#[test]
fn unaligned_offsets_are_refused() {
    let error = gguf_error(&with_one_tensor(&[4], F32, 4, 64));
    assert!(
        matches!(
            error.problem(),
            Problem::UnalignedOffset {
                offset: 4,
                alignment: 32,
                ..
            }
        ),
        "{error}"
    );
}

#[test]
fn rows_that_are_not_whole_blocks_are_refused() {
    let error = gguf_error(&with_one_tensor(&[16, 2], Q4_0, 0, 64));
    assert!(
        matches!(
            error.problem(),
            Problem::RowNotWholeBlocks {
                cols: 16,
                block: 32,
                ..
            }
        ),
        "{error}"
    );
}

#[test]
fn unknown_ggml_types_name_the_tensor_and_the_type() {
    let mut file = GgufBuilder::header(3, 1, 0);
    file.tensor_info("double_blocks.0.img_attn.qkv.weight", &[32], 99, 0)
        .pad_to(32)
        .zeros(64);
    let error = read_gguf_bytes("model.gguf", &file.build()).unwrap_err();
    assert_eq!(
        error.to_string(),
        "model.gguf: tensor 'double_blocks.0.img_attn.qkv.weight' has ggml type 99, which Sculpt cannot read"
    );
    // Q2_K: a real ggml type the GPU kernels do not read.
    let error = gguf_error(&with_one_tensor(&[256], 10, 0, 128));
    assert!(
        matches!(
            error.problem(),
            Problem::UnsupportedGgmlType { type_id: 10, .. }
        ),
        "{error}"
    );
}

#[test]
fn overlapping_tensors_are_refused() {
    let mut file = GgufBuilder::header(3, 2, 0);
    file.tensor_info("a", &[16], F32, 0)
        .tensor_info("b", &[8], F32, 32)
        .pad_to(32)
        .zeros(64);
    let error = gguf_error(&file.build());
    assert!(
        matches!(error.problem(), Problem::TensorsOverlap { .. }),
        "{error}"
    );
    assert!(
        error.to_string().contains("tensor 'b'") && error.to_string().contains("'a'"),
        "{error}"
    );
}

#[test]
fn repeated_names_and_keys_are_refused() {
    let mut file = GgufBuilder::header(3, 2, 0);
    file.tensor_info("a", &[8], F32, 0)
        .tensor_info("a", &[8], F32, 32)
        .pad_to(32)
        .zeros(64);
    assert!(matches!(
        gguf_error(&file.build()).problem(),
        Problem::DuplicateTensor { .. }
    ));
    let mut file = GgufBuilder::header(3, 0, 2);
    file.string("k").u32(0).u8(1).string("k").u32(0).u8(2);
    assert!(matches!(
        gguf_error(&file.build()).problem(),
        Problem::DuplicateKey { .. }
    ));
}

#[test]
fn names_that_are_not_utf8_are_refused() {
    let mut file = GgufBuilder::header(3, 0, 1);
    file.u64(2).u8(0xc3).u8(0x28).u32(0).u8(0);
    let error = gguf_error(&file.build());
    assert!(
        matches!(error.problem(), Problem::NotUtf8 { .. }),
        "{error}"
    );
}

#[test]
fn wrong_magic_versions_and_byte_order_are_refused() {
    let error = gguf_error(b"GGML\x03\0\0\0");
    assert!(
        matches!(error.problem(), Problem::BadMagic { .. }),
        "{error}"
    );
    for version in [0u32, 1, 4, 1000] {
        let error = gguf_error(&GgufBuilder::header(version, 0, 0).build());
        assert!(
            matches!(error.problem(), Problem::UnsupportedVersion { .. }),
            "{error}"
        );
    }
    let error = gguf_error(&GgufBuilder::header(3u32.swap_bytes(), 0, 0).build());
    assert!(
        matches!(error.problem(), Problem::BigEndian { version: 3 }),
        "{error}"
    );
}

#[test]
fn files_cut_short_say_what_is_missing() {
    let error = gguf_error(b"GGUF\x03\0");
    assert!(
        matches!(error.problem(), Problem::Truncated { .. }),
        "{error}"
    );
    assert!(error.to_string().contains("the version"), "{error}");
    let error = gguf_error(&[]);
    assert!(error.to_string().contains("the magic"), "{error}");
}

#[test]
fn version_2_files_are_read() {
    let mut file = GgufBuilder::header(2, 1, 1);
    file.string("general.architecture")
        .u32(STRING)
        .string("flux");
    file.tensor_info("img_in.bias", &[4], F32, 0)
        .pad_to(32)
        .zeros(16);
    let gguf = read_gguf_bytes("v2.gguf", &file.build()).unwrap();
    assert_eq!(gguf.version, 2);
    assert_eq!(
        gguf.metadata_value("general.architecture")
            .and_then(MetadataValue::as_str),
        Some("flux")
    );
    assert_eq!(gguf.index.get("img_in.bias").unwrap().shape, [4]);
}
