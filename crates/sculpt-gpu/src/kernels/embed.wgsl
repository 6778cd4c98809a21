// Embeddings: gathering rows of a table by token id, and the sinusoidal
// timestep embedding. Both one thread per output element.

struct GatherParams {
    len: u32,
    dim: u32,
    table_offset: u32,
    // The table may be one chunk of rows of a larger one: it holds rows
    // first_row..first_row + rows, and only tokens among those are written.
    first_row: u32,
    rows: u32,
}

struct TimestepParams {
    len: u32,
    half_dim: u32,
    t_offset: u32,
    time_factor: f32,
    // -ln(max_period) / half_dim
    log_frequency_step: f32,
}

@group(0) @binding(0) var<storage, read> table: array<f32>;
// Token ids, checked against the vocabulary on the CPU before dispatch.
@group(0) @binding(1) var<storage, read> ids: array<u32>;
@group(0) @binding(2) var<storage, read_write> gather_out: array<f32>;
@group(0) @binding(3) var<uniform> gather_params: GatherParams;

fn element_index(wg: vec3<u32>, local: u32, groups: vec3<u32>) -> u32 {
    return (wg.x + wg.y * groups.x) * 256u + local;
}

@compute @workgroup_size(256)
fn gather(
    @builtin(workgroup_id) wg: vec3<u32>,
    @builtin(local_invocation_index) local: u32,
    @builtin(num_workgroups) groups: vec3<u32>,
) {
    let p = gather_params;
    let i = element_index(wg, local, groups);
    if (i >= p.len) {
        return;
    }
    let id = ids[i / p.dim];
    if (id < p.first_row || id - p.first_row >= p.rows) {
        return;
    }
    gather_out[i] = table[p.table_offset + (id - p.first_row) * p.dim + i % p.dim];
}

@group(0) @binding(0) var<storage, read> timesteps: array<f32>;
@group(0) @binding(1) var<storage, read_write> timestep_out: array<f32>;
@group(0) @binding(2) var<uniform> timestep_params: TimestepParams;

// 2π as a short head (exact in a few bits, so k · TWO_PI_HEAD is exact for
// the k that occur) plus the remainder: Cody–Waite reduction.
const TWO_PI_HEAD: f32 = 6.28125;
const TWO_PI_TAIL: f32 = 0.0019353071795864769;
const INVERSE_TWO_PI: f32 = 0.15915494309189535;

// WGSL only bounds sin/cos error on [-π, π]; angles here reach 1000 rad.
fn reduce_angle(angle: f32) -> f32 {
    let turns = round(angle * INVERSE_TWO_PI);
    return (angle - turns * TWO_PI_HEAD) - turns * TWO_PI_TAIL;
}

// FLUX: [cos(t · 1000 · f_k) for k < half, then sin(...)], f_k = exp(-ln(10000) k / half).
@compute @workgroup_size(256)
fn timestep(
    @builtin(workgroup_id) wg: vec3<u32>,
    @builtin(local_invocation_index) local: u32,
    @builtin(num_workgroups) groups: vec3<u32>,
) {
    let p = timestep_params;
    let i = element_index(wg, local, groups);
    if (i >= p.len) {
        return;
    }
    let dim = 2u * p.half_dim;
    let row = i / dim;
    let column = i % dim;
    let k = column % p.half_dim;
    let frequency = exp(f32(k) * p.log_frequency_step);
    // The reference's order of operations: (t · f) · factor.
    let angle = reduce_angle(timesteps[p.t_offset + row] * frequency * p.time_factor);
    if (column < p.half_dim) {
        timestep_out[i] = cos(angle);
    } else {
        timestep_out[i] = sin(angle);
    }
}
