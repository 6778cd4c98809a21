// Fused attention: out = softmax(q·kᵀ · scale [+ relative bias] [causal]) · v
// per head, with an online softmax over key tiles, so no [Lq, Lk] score
// matrix ever exists in memory (the autoencoder's mid-block attends over
// 16,384 tokens at 1024²). Scores and sums stay in f32.
//
// Work split: a workgroup takes QUERIES queries of one head. Each query is
// owned by THREADS_PER_QUERY threads, each holding 32 of its HEAD_DIM
// dimensions of q and of the output accumulator in registers. Key tiles of
// KEYS keys are staged through workgroup memory, first K then V in the same
// array, which keeps the footprint within WebGPU's default 16 KiB.
//
// Any head width works: a head is laid out PADDED_DIM wide (HEAD_DIM rounded
// up to 32), its dimensions past HEAD_DIM read as zeros and never written,
// so they add nothing to a score. Widths that are multiples of 32 (CLIP's
// and T5's 64, FLUX's 128) have no padding at all.
//
// q, k and v are read through strides, so they can be separate [heads, L, d]
// tensors, [L, heads, d] tensors, or slices of one packed qkv projection.

struct Params {
    lq: u32,
    lk: u32,
    q_offset: u32,
    k_offset: u32,
    v_offset: u32,
    out_offset: u32,
    bias_offset: u32,
    q_row_stride: u32,
    q_head_stride: u32,
    k_row_stride: u32,
    k_head_stride: u32,
    v_row_stride: u32,
    v_head_stride: u32,
    out_row_stride: u32,
    out_head_stride: u32,
    scale: f32,
}

override HEAD_DIM: u32 = 128u;
override CAUSAL: bool = false;
// T5: a bias per head and relative position (key − query), [heads, lq + lk − 1].
override HAS_RELATIVE_BIAS: bool = false;

const THREADS: u32 = 64u;
const DIMS_PER_THREAD: u32 = 32u;
const STAGE_FLOATS: u32 = 2048u;
const MAX_KEYS: u32 = 16u;
override PADDED_DIM: u32 = (HEAD_DIM + DIMS_PER_THREAD - 1u) / DIMS_PER_THREAD * DIMS_PER_THREAD;
override THREADS_PER_QUERY: u32 = PADDED_DIM / DIMS_PER_THREAD;
override QUERIES: u32 = THREADS / THREADS_PER_QUERY;
override KEYS: u32 = min(STAGE_FLOATS / PADDED_DIM, MAX_KEYS);

// Far below any real score, yet finite: exp(NEG - NEG) stays 1, not NaN.
const NEG: f32 = -1.0e30;

@group(0) @binding(0) var<storage, read> q: array<f32>;
@group(0) @binding(1) var<storage, read> k: array<f32>;
@group(0) @binding(2) var<storage, read> v: array<f32>;
@group(0) @binding(3) var<storage, read> relative_bias: array<f32>;
@group(0) @binding(4) var<storage, read_write> out: array<f32>;
@group(0) @binding(5) var<uniform> params: Params;

var<workgroup> stage: array<f32, STAGE_FLOATS>;
// Per (query, thread part, key): partial dot products over 32 dimensions.
var<workgroup> partial: array<f32, 1024>;

@compute @workgroup_size(64)
fn attention(
    @builtin(workgroup_id) wg: vec3<u32>,
    @builtin(local_invocation_index) thread: u32,
) {
    let head = wg.y;
    let query_in_group = thread / THREADS_PER_QUERY;
    let part = thread % THREADS_PER_QUERY;
    let query = wg.x * QUERIES + query_in_group;
    // Where THREADS_PER_QUERY does not divide THREADS (heads of 3 parts, say
    // 72 to 96 wide), the last threads own no query of this group: they take
    // part in the barriers and nothing else.
    let in_group = query_in_group < QUERIES;
    let has_query = in_group && query < params.lq;
    let d0 = part * DIMS_PER_THREAD;

    var q_part: array<f32, DIMS_PER_THREAD>;
    var acc: array<f32, DIMS_PER_THREAD>;
    if (has_query) {
        let base = params.q_offset + query * params.q_row_stride + head * params.q_head_stride + d0;
        for (var x = 0u; x < DIMS_PER_THREAD; x++) {
            if (d0 + x < HEAD_DIM) {
                q_part[x] = q[base + x] * params.scale;
            }
        }
    }
    var running_max = NEG;
    var running_sum = 0.0;

    // With a causal mask no query of this group sees keys past its last query.
    var key_end = params.lk;
    if (CAUSAL) {
        key_end = min(params.lk, (wg.x + 1u) * QUERIES);
    }
    for (var tile = 0u; tile < key_end; tile += KEYS) {
        for (var i = thread; i < KEYS * PADDED_DIM; i += THREADS) {
            let key = tile + i / PADDED_DIM;
            let dim = i % PADDED_DIM;
            var value = 0.0;
            if (key < params.lk && dim < HEAD_DIM) {
                value = k[params.k_offset + key * params.k_row_stride + head * params.k_head_stride + dim];
            }
            stage[i] = value;
        }
        workgroupBarrier();

        for (var j = 0u; j < KEYS; j++) {
            var dot_part = 0.0;
            for (var x = 0u; x < DIMS_PER_THREAD; x++) {
                dot_part = fma(q_part[x], stage[j * PADDED_DIM + d0 + x], dot_part);
            }
            partial[thread * KEYS + j] = dot_part;
        }
        workgroupBarrier();

        var p: array<f32, MAX_KEYS>;
        var tile_max = NEG;
        for (var j = 0u; j < KEYS; j++) {
            let key = tile + j;
            var score = NEG;
            if (in_group && key < params.lk && (!CAUSAL || key <= query)) {
                score = 0.0;
                for (var t = 0u; t < THREADS_PER_QUERY; t++) {
                    score += partial[(query_in_group * THREADS_PER_QUERY + t) * KEYS + j];
                }
                if (HAS_RELATIVE_BIAS) {
                    score += relative_bias[params.bias_offset + head * (params.lq + params.lk - 1u)
                        + key + params.lq - 1u - query];
                }
            }
            p[j] = score;
            tile_max = max(tile_max, score);
        }
        let new_max = max(running_max, tile_max);
        let correction = exp(running_max - new_max);
        running_sum *= correction;
        for (var x = 0u; x < DIMS_PER_THREAD; x++) {
            acc[x] *= correction;
        }
        for (var j = 0u; j < KEYS; j++) {
            var weight = 0.0;
            if (p[j] > NEG) {
                weight = exp(p[j] - new_max);
            }
            p[j] = weight;
            running_sum += weight;
        }
        running_max = new_max;
        workgroupBarrier();

        for (var i = thread; i < KEYS * PADDED_DIM; i += THREADS) {
            let key = tile + i / PADDED_DIM;
            let dim = i % PADDED_DIM;
            var value = 0.0;
            if (key < params.lk && dim < HEAD_DIM) {
                value = v[params.v_offset + key * params.v_row_stride + head * params.v_head_stride + dim];
            }
            stage[i] = value;
        }
        workgroupBarrier();

        for (var j = 0u; j < KEYS; j++) {
            for (var x = 0u; x < DIMS_PER_THREAD; x++) {
                acc[x] = fma(p[j], stage[j * PADDED_DIM + d0 + x], acc[x]);
            }
        }
        workgroupBarrier();
    }

    if (has_query) {
        let base = params.out_offset + query * params.out_row_stride + head * params.out_head_stride + d0;
        for (var x = 0u; x < DIMS_PER_THREAD; x++) {
            if (d0 + x < HEAD_DIM) {
                out[base + x] = acc[x] / running_sum;
            }
        }
    }
}
