//! One crafted safetensors file per bug class of public loaders: each is
//! refused quickly, with a small allocation, by an error naming the file,
//! the entry and the problem.

use sculpt_flux::formats::Problem;

use crate::common::*;

#[test]
fn a_header_length_past_the_file_is_refused() {
    let mut bytes = 1000u64.to_le_bytes().to_vec();
    bytes.extend_from_slice(b"{}");
    let error = safetensors_error(&bytes);
    assert!(
        matches!(error.problem(), Problem::Truncated { needed: 1000, .. }),
        "{error}"
    );
    assert!(
        error.to_string().contains("the 1000-byte header"),
        "{error}"
    );
}

#[test]
fn absurd_header_lengths_are_refused_before_allocating() {
    for header_len in [u64::MAX, 1 << 40, (100 << 20) + 1] {
        let mut bytes = header_len.to_le_bytes().to_vec();
        bytes.extend_from_slice(b"{}");
        let error = safetensors_error(&bytes);
        assert!(
            matches!(error.problem(), Problem::HeaderTooLarge { .. }),
            "{error}"
        );
    }
}

#[test]
fn files_shorter_than_the_length_field_are_refused() {
    for len in 0..8 {
        let error = safetensors_error(&vec![0; len]);
        assert!(
            error.to_string().contains("the 8-byte header length"),
            "{error}"
        );
    }
}

#[test]
fn headers_that_are_not_utf8_are_refused() {
    let mut bytes = safetensors_with_header("{\"a?\":1}", 0);
    bytes[8 + 3] = 0xff; // the '?': a byte that starts no UTF-8 sequence
    let error = safetensors_error(&bytes);
    assert!(
        matches!(error.problem(), Problem::HeaderNotUtf8 { valid_up_to: 3 }),
        "{error}"
    );
}

#[test]
fn headers_that_are_not_json_are_refused() {
    for header in ["{not json", "{\"a\": }", "{}}", "{\"a\":1", "{} trailing"] {
        let error = safetensors_error(&safetensors_with_header(header, 0));
        assert!(
            matches!(error.problem(), Problem::HeaderNotJson { .. }),
            "{header}: {error}"
        );
    }
}

#[test]
fn headers_that_do_not_start_with_a_brace_are_refused() {
    for header in ["[]", " {}", "", "\"x\"", "null"] {
        let error = safetensors_error(&safetensors_with_header(header, 0));
        assert!(
            matches!(error.problem(), Problem::HeaderNotAnObject),
            "{header}: {error}"
        );
    }
}

#[test]
fn deeply_nested_json_is_refused_without_exhausting_the_stack() {
    let depth = 100_000;
    let header = format!("{{\"a\":{}{}}}", "[".repeat(depth), "]".repeat(depth));
    let error = safetensors_error(&safetensors_with_header(&header, 0));
    assert!(
        matches!(
            error.problem(),
            Problem::MalformedEntry { .. } | Problem::HeaderNotJson { .. }
        ),
        "{error}"
    );
}

#[test]
fn malformed_entries_name_their_key() {
    let entries = [
        r#"{"w":{"shape":[1],"data_offsets":[0,4]}}"#,
        r#"{"w":{"dtype":"F32","shape":[-1],"data_offsets":[0,4]}}"#,
        r#"{"w":{"dtype":"F32","shape":[1],"data_offsets":[0,4,8]}}"#,
        r#"{"w":{"dtype":"F32","shape":["1"],"data_offsets":[0,4]}}"#,
        r#"{"w":{"dtype":"F32","shape":[1],"data_offsets":[0,18446744073709551616]}}"#,
        r#"{"w":[1,2]}"#,
    ];
    for header in entries {
        let error = safetensors_error(&safetensors_with_header(header, 4));
        assert!(
            matches!(error.problem(), Problem::MalformedEntry { key, .. } if key == "w"),
            "{header}: {error}"
        );
        assert!(
            error.to_string().contains("entry 'w' is malformed"),
            "{error}"
        );
    }
}

#[test]
fn metadata_that_is_not_strings_is_refused() {
    let header = r#"{"__metadata__":{"format":1}}"#;
    let error = safetensors_error(&safetensors_with_header(header, 0));
    assert!(
        matches!(error.problem(), Problem::MalformedEntry { key, .. } if key == "__metadata__"),
        "{error}"
    );
}

#[test]
fn unknown_dtypes_are_refused() {
    for dtype in ["F4", "Q4_0", "f32", ""] {
        let header = format!(r#"{{"w":{{"dtype":"{dtype}","shape":[1],"data_offsets":[0,4]}}}}"#);
        let error = safetensors_error(&safetensors_with_header(&header, 4));
        assert!(
            matches!(error.problem(), Problem::UnknownDtype { .. }),
            "{error}"
        );
        assert!(
            error
                .to_string()
                .contains(&format!("tensor 'w' has dtype '{dtype}'")),
            "{error}"
        );
    }
}

#[test]
fn reversed_data_offsets_are_refused() {
    let header = r#"{"w":{"dtype":"F32","shape":[1],"data_offsets":[8,4]}}"#;
    let error = safetensors_error(&safetensors_with_header(header, 8));
    assert!(
        matches!(
            error.problem(),
            Problem::ReversedRange {
                begin: 8,
                end: 4,
                ..
            }
        ),
        "{error}"
    );
}

#[test]
fn shapes_that_do_not_match_their_byte_range_are_refused() {
    let header = r#"{"w":{"dtype":"BF16","shape":[3,2],"data_offsets":[0,8]}}"#;
    let error = safetensors_error(&safetensors_with_header(header, 8));
    assert!(
        matches!(
            error.problem(),
            Problem::RangeSizeMismatch {
                expected: 12,
                actual: 8,
                ..
            }
        ),
        "{error}"
    );
    assert!(
        error
            .to_string()
            .contains("tensor 'w' of shape [3, 2] in BF16 takes 12 bytes"),
        "{error}"
    );
}

#[test]
fn shapes_whose_size_overflows_64_bits_are_refused() {
    // 2^64 * 4 bytes would wrap to 0 and match an empty range.
    let header = r#"{"w":{"dtype":"F32","shape":[4294967296,4294967296],"data_offsets":[0,0]}}"#;
    let error = safetensors_error(&safetensors_with_header(header, 0));
    assert!(
        matches!(error.problem(), Problem::TensorSizeOverflow { .. }),
        "{error}"
    );
}

#[test]
fn overlapping_ranges_are_refused() {
    let header = r#"{"a":{"dtype":"F32","shape":[2],"data_offsets":[0,8]},"b":{"dtype":"F32","shape":[2],"data_offsets":[4,12]}}"#;
    let error = safetensors_error(&safetensors_with_header(header, 12));
    assert!(
        matches!(error.problem(), Problem::RangesOverlap { .. }),
        "{error}"
    );
    assert!(
        error
            .to_string()
            .contains("tensor 'b' starts at data offset 4, but tensor 'a' ends at 8"),
        "{error}"
    );
    // The same bytes claimed by two tensors.
    let header = r#"{"a":{"dtype":"F32","shape":[2],"data_offsets":[0,8]},"b":{"dtype":"U8","shape":[8],"data_offsets":[0,8]}}"#;
    let error = safetensors_error(&safetensors_with_header(header, 8));
    assert!(
        matches!(error.problem(), Problem::RangesOverlap { .. }),
        "{error}"
    );
}

#[test]
fn holes_between_tensors_are_refused() {
    let header = r#"{"a":{"dtype":"F32","shape":[1],"data_offsets":[0,4]},"b":{"dtype":"F32","shape":[1],"data_offsets":[8,12]}}"#;
    let error = safetensors_error(&safetensors_with_header(header, 12));
    assert!(
        matches!(
            error.problem(),
            Problem::RangeGap {
                begin: 8,
                gap_start: 4,
                ..
            }
        ),
        "{error}"
    );
}

#[test]
fn ranges_past_the_end_are_refused() {
    let header = r#"{"w":{"dtype":"F32","shape":[4],"data_offsets":[0,16]}}"#;
    let error = safetensors_error(&safetensors_with_header(header, 8));
    assert!(
        matches!(
            error.problem(),
            Problem::RangePastEnd {
                end: 16,
                data_len: 8,
                ..
            }
        ),
        "{error}"
    );
    let header = r#"{"w":{"dtype":"U8","shape":[1],"data_offsets":[18446744073709551614,18446744073709551615]}}"#;
    let error = safetensors_error(&safetensors_with_header(header, 8));
    assert!(
        matches!(error.problem(), Problem::RangePastEnd { .. }),
        "{error}"
    );
}

#[test]
fn bytes_no_tensor_indexes_are_refused() {
    let header = r#"{"w":{"dtype":"F32","shape":[1],"data_offsets":[0,4]}}"#;
    let error = safetensors_error(&safetensors_with_header(header, 12));
    assert!(
        matches!(
            error.problem(),
            Problem::DataNotCovered {
                indexed: 4,
                data_len: 12
            }
        ),
        "{error}"
    );
    let error = safetensors_error(&safetensors_with_header("{}", 1));
    assert!(
        matches!(
            error.problem(),
            Problem::DataNotCovered {
                indexed: 0,
                data_len: 1
            }
        ),
        "{error}"
    );
}

#[test]
fn repeated_keys_are_refused() {
    let header = r#"{"w":{"dtype":"U8","shape":[1],"data_offsets":[0,1]},"w":{"dtype":"U8","shape":[1],"data_offsets":[1,2]}}"#;
    let error = safetensors_error(&safetensors_with_header(header, 2));
    assert!(
        matches!(error.problem(), Problem::DuplicateHeaderKey { key } if key == "w"),
        "{error}"
    );
}

#[test]
fn headers_padded_with_spaces_and_tensors_in_any_order_are_read() {
    let header = r#"{"b":{"dtype":"U8","shape":[2],"data_offsets":[4,6]},"a":{"dtype":"F16","shape":[2],"data_offsets":[0,4]}}     "#;
    let file =
        read_safetensors_bytes("padded.safetensors", &safetensors_with_header(header, 6)).unwrap();
    let names: Vec<&str> = file.index.names().collect();
    assert_eq!(names, ["a", "b"], "the index follows the data order");
    assert_eq!(
        file.index.get("b").unwrap().bytes,
        file.data_start + 4..file.data_start + 6
    );
}
