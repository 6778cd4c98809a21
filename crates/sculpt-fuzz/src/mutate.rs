//! Making a new input from corpus inputs: byte-level changes that hit
//! binary formats' length and count fields, and changes to a JSON
//! document's nodes that keep it JSON, so that the parser behind the JSON
//! syntax is reached too.

use rand::{Rng, seq::IndexedRandom};
use rand_chacha::ChaCha8Rng;
use serde_json::Value;

/// Integers that have broken public parsers as lengths, counts, offsets
/// and dimensions: zero, one, sign and width boundaries, and sizes whose
/// products overflow.
const INTERESTING: [u64; 14] = [
    0,
    1,
    2,
    0x7f,
    0xff,
    0x7fff,
    0xffff,
    0x7fff_ffff,
    0xffff_ffff,
    1 << 32,
    1 << 40,
    1 << 62,
    i64::MAX as u64,
    u64::MAX,
];

/// 1–4 byte-level changes to `input`, `other` (another corpus input) for
/// splicing.
pub fn bytes(rng: &mut ChaCha8Rng, input: &[u8], other: &[u8]) -> Vec<u8> {
    let mut out = input.to_vec();
    for _ in 0..rng.random_range(1..=4) {
        let len = out.len();
        match rng.random_range(0..9) {
            0 if len > 0 => {
                let at = rng.random_range(0..len);
                out[at] ^= 1 << rng.random_range(0..8);
            }
            1 if len > 0 => {
                let at = rng.random_range(0..len);
                out[at] = *[0u8, 1, 0x7f, 0x80, 0xff].choose(rng).unwrap();
            }
            2 if len > 0 => {
                // A little-endian (GGUF, safetensors' header length) or
                // big-endian (PNG) integer of 2, 4 or 8 bytes.
                let width = *[2usize, 4, 8].choose(rng).unwrap();
                let at = rng.random_range(0..len);
                let value = *INTERESTING.choose(rng).unwrap();
                let bytes = if rng.random_bool(0.5) {
                    value.to_le_bytes()
                } else {
                    value.to_be_bytes()
                };
                let end = (at + width).min(len);
                let start = if rng.random_bool(0.5) { 0 } else { 8 - width };
                out[at..end].copy_from_slice(&bytes[start..start + (end - at)]);
            }
            3 => {
                let at = rng.random_range(0..=len);
                let count = rng.random_range(1..=16);
                let inserted: Vec<u8> = (0..count).map(|_| rng.random()).collect();
                out.splice(at..at, inserted);
            }
            4 if len > 0 => {
                let at = rng.random_range(0..len);
                let end = (at + rng.random_range(1..=32)).min(len);
                out.drain(at..end);
            }
            5 if len > 0 => {
                let at = rng.random_range(0..len);
                let end = (at + rng.random_range(1..=64)).min(len);
                let copy = out[at..end].to_vec();
                let to = rng.random_range(0..=len);
                out.splice(to..to, copy);
            }
            6 if len > 0 => out.truncate(rng.random_range(0..len)),
            7 if !other.is_empty() => {
                // The start of this input, the rest of another.
                let cut = rng.random_range(0..=len);
                let from = rng.random_range(0..other.len());
                out.truncate(cut);
                out.extend_from_slice(&other[from..]);
            }
            _ => {
                let at = rng.random_range(0..=len);
                let value = *INTERESTING.choose(rng).unwrap();
                out.splice(at..at, value.to_string().into_bytes());
            }
        }
    }
    out
}

/// 1–3 changes to the nodes of `document`: a value replaced (by a scalar
/// at a boundary, an empty or nested container, or a copy of another
/// node), a key or element removed, or an element repeated.
pub fn json(rng: &mut ChaCha8Rng, document: &Value) -> Value {
    let mut out = document.clone();
    for _ in 0..rng.random_range(1..=3) {
        let count = node_count(&out);
        let donor = nth(&out, rng.random_range(0..count)).clone();
        let target = rng.random_range(0..count);
        let Some(node) = nth_mut(&mut out, target) else {
            continue;
        };
        match rng.random_range(0..6) {
            0 => *node = scalar(rng),
            1 => *node = donor,
            2 => {
                *node = if rng.random_bool(0.5) {
                    Value::Array(Vec::new())
                } else {
                    Value::Object(serde_json::Map::new())
                }
            }
            3 => match node {
                Value::Object(map) if !map.is_empty() => {
                    let key = map.keys().nth(rng.random_range(0..map.len())).cloned();
                    map.remove(&key.unwrap());
                }
                Value::Array(items) if !items.is_empty() => {
                    items.remove(rng.random_range(0..items.len()));
                }
                _ => *node = Value::Null,
            },
            4 => match node {
                Value::Array(items) if !items.is_empty() => {
                    let item = items[rng.random_range(0..items.len())].clone();
                    for _ in 0..rng.random_range(1..=8) {
                        items.push(item.clone());
                    }
                }
                Value::Object(map) => {
                    map.insert(scalar_key(rng), scalar(rng));
                }
                _ => *node = Value::Array(vec![donor]),
            },
            _ => *node = Value::Array(vec![node.clone(), scalar(rng)]),
        }
    }
    out
}

fn scalar(rng: &mut ChaCha8Rng) -> Value {
    match rng.random_range(0..8) {
        0 => Value::Null,
        1 => Value::Bool(rng.random()),
        2 => Value::from(*INTERESTING.choose(rng).unwrap()),
        3 => Value::from(-(rng.random_range(1..=1_000_000i64))),
        4 => Value::from(*[0.5, -0.0, 1e300, -1e-300, 3.5].choose(rng).unwrap()),
        5 => Value::from(""),
        6 => Value::from("\u{0}\u{202e}<b>é💥".repeat(rng.random_range(1..=4))),
        _ => Value::from("x".repeat(rng.random_range(1..=300))),
    }
}

fn scalar_key(rng: &mut ChaCha8Rng) -> String {
    [
        "",
        "type",
        "dtype",
        "shape",
        "data_offsets",
        "__metadata__",
        "files",
        "x",
    ]
    .choose(rng)
    .unwrap()
    .to_string()
}

fn node_count(value: &Value) -> usize {
    1 + match value {
        Value::Array(items) => items.iter().map(node_count).sum(),
        Value::Object(map) => map.values().map(node_count).sum(),
        _ => 0,
    }
}

/// The `index`th node in depth-first order (0 is the document itself).
fn nth(value: &Value, index: usize) -> &Value {
    fn walk<'a>(value: &'a Value, index: &mut usize) -> Option<&'a Value> {
        if *index == 0 {
            return Some(value);
        }
        *index -= 1;
        match value {
            Value::Array(items) => items.iter().find_map(|child| walk(child, index)),
            Value::Object(map) => map.values().find_map(|child| walk(child, index)),
            _ => None,
        }
    }
    walk(value, &mut { index }).unwrap_or(value)
}

fn nth_mut(value: &mut Value, index: usize) -> Option<&mut Value> {
    fn walk<'a>(value: &'a mut Value, index: &mut usize) -> Option<&'a mut Value> {
        if *index == 0 {
            return Some(value);
        }
        *index -= 1;
        match value {
            Value::Array(items) => items.iter_mut().find_map(|child| walk(child, index)),
            Value::Object(map) => map.values_mut().find_map(|child| walk(child, index)),
            _ => None,
        }
    }
    walk(value, &mut { index })
}

#[cfg(test)]
mod tests {
    use super::*;
    use rand::SeedableRng;

    #[test]
    fn nodes_are_numbered_depth_first() {
        let document: Value = serde_json::json!({"a": [1, 2], "b": {"c": 3}});
        assert_eq!(node_count(&document), 6);
        assert_eq!(nth(&document, 2), &Value::from(1));
        assert_eq!(nth(&document, 5), &Value::from(3));
    }

    #[test]
    fn mutations_change_inputs_and_are_deterministic() {
        let input = b"GGUF\x03\x00\x00\x00 some header bytes";
        let document: Value = serde_json::json!({"a": [1, 2], "b": "c"});
        let run = || {
            let mut rng = ChaCha8Rng::seed_from_u64(7);
            let changed: Vec<_> = (0..50).map(|_| bytes(&mut rng, input, b"other")).collect();
            let documents: Vec<_> = (0..50).map(|_| json(&mut rng, &document)).collect();
            (changed, documents)
        };
        let (changed, documents) = run();
        assert_eq!((changed.clone(), documents.clone()), run());
        assert!(changed.iter().filter(|c| c.as_slice() != input).count() > 40);
        assert!(documents.iter().filter(|d| **d != document).count() > 40);
    }
}
