// Elementwise kernels over contiguous tensors of `act`, which the part
// compiled before this file declares: f32, or f16 where the device has
// shader-f16. Arithmetic is in f32 either way; f16 is only what is stored.
// `OP` (an override constant) picks the operation, so each specialization
// compiles to straight code. Operands shorter than the output repeat along it (`period`), which
// is how a bias, a per-channel scale or a modulation vector is broadcast
// over the rows of [rows, channels].

struct Params {
    len: u32,
    period: u32,
    out_offset: u32,
    a_offset: u32,
    b_offset: u32,
    c_offset: u32,
    scalar: f32,
}

override OP: u32 = 0u;

@group(0) @binding(0) var<storage, read> a: array<act>;
@group(0) @binding(1) var<storage, read> b: array<act>;
@group(0) @binding(2) var<storage, read> c: array<act>;

// Unary: out = f(a).
const UNARY_SCALE: u32 = 0u;
const UNARY_SILU: u32 = 1u;
const UNARY_GELU_TANH: u32 = 2u;
const UNARY_QUICK_GELU: u32 = 3u;
const UNARY_ADD_SCALAR: u32 = 4u;

// Binary: out = a op b[i % period].
const BINARY_ADD: u32 = 0u;
const BINARY_MUL: u32 = 1u;
const BINARY_SUB: u32 = 2u;
const BINARY_GELU_GATE: u32 = 3u; // gelu_tanh(a) * b: T5's gated-GELU feed-forward

// Ternary, fused so that each is one pass over the activations:
// modulate: out = a * (1 + b[i % period]) + c[i % period]  (FLUX adaLN: b = scale, c = shift)
// gated residual: out = a + b[i % period] * c               (FLUX: a = x, b = gate, c = y)
const TERNARY_MODULATE: u32 = 0u;
const TERNARY_GATED_RESIDUAL: u32 = 1u;

fn silu(x: f32) -> f32 {
    return x / (1.0 + exp(-x));
}

fn gelu_tanh(x: f32) -> f32 {
    // tanh saturates; clamping its argument keeps exp() in range on GPUs
    // whose tanh is built from exp and would return NaN for large |x|.
    let inner = clamp(0.7978845608028654 * (x + 0.044715 * x * x * x), -15.0, 15.0);
    return 0.5 * x * (1.0 + tanh(inner));
}

fn quick_gelu(x: f32) -> f32 {
    return x / (1.0 + exp(-1.702 * x));
}

fn element_index(wg: vec3<u32>, local: u32, groups: vec3<u32>) -> u32 {
    return (wg.x + wg.y * groups.x) * 256u + local;
}

@group(0) @binding(1) var<storage, read_write> unary_out: array<act>;
@group(0) @binding(2) var<uniform> unary_params: Params;

@compute @workgroup_size(256)
fn unary(
    @builtin(workgroup_id) wg: vec3<u32>,
    @builtin(local_invocation_index) local: u32,
    @builtin(num_workgroups) groups: vec3<u32>,
) {
    let p = unary_params;
    let i = element_index(wg, local, groups);
    if (i >= p.len) {
        return;
    }
    let x = f32(a[p.a_offset + i]);
    var y: f32;
    switch OP {
        case UNARY_SCALE: { y = x * p.scalar; }
        case UNARY_SILU: { y = silu(x); }
        case UNARY_GELU_TANH: { y = gelu_tanh(x); }
        case UNARY_QUICK_GELU: { y = quick_gelu(x); }
        case UNARY_ADD_SCALAR: { y = x + p.scalar; }
        default: { y = x; }
    }
    unary_out[p.out_offset + i] = act(y);
}

@group(0) @binding(2) var<storage, read_write> binary_out: array<act>;
@group(0) @binding(3) var<uniform> binary_params: Params;

@compute @workgroup_size(256)
fn binary(
    @builtin(workgroup_id) wg: vec3<u32>,
    @builtin(local_invocation_index) local: u32,
    @builtin(num_workgroups) groups: vec3<u32>,
) {
    let p = binary_params;
    let i = element_index(wg, local, groups);
    if (i >= p.len) {
        return;
    }
    let x = f32(a[p.a_offset + i]);
    let w = f32(b[p.b_offset + i % p.period]);
    var y: f32;
    switch OP {
        case BINARY_ADD: { y = x + w; }
        case BINARY_MUL: { y = x * w; }
        case BINARY_SUB: { y = x - w; }
        case BINARY_GELU_GATE: { y = gelu_tanh(x) * w; }
        default: { y = x; }
    }
    binary_out[p.out_offset + i] = act(y);
}

@group(0) @binding(3) var<storage, read_write> ternary_out: array<act>;
@group(0) @binding(4) var<uniform> ternary_params: Params;

@compute @workgroup_size(256)
fn ternary(
    @builtin(workgroup_id) wg: vec3<u32>,
    @builtin(local_invocation_index) local: u32,
    @builtin(num_workgroups) groups: vec3<u32>,
) {
    let p = ternary_params;
    let i = element_index(wg, local, groups);
    if (i >= p.len) {
        return;
    }
    let x = f32(a[p.a_offset + i]);
    let channel = i % p.period;
    var y: f32;
    switch OP {
        case TERNARY_MODULATE: {
            y = x * (1.0 + f32(b[p.b_offset + channel])) + f32(c[p.c_offset + channel]);
        }
        case TERNARY_GATED_RESIDUAL: {
            y = x + f32(b[p.b_offset + channel]) * f32(c[p.c_offset + i]);
        }
        default: { y = x; }
    }
    ternary_out[p.out_offset + i] = act(y);
}

// Casts between f32 and `act` (unary's parameters; `a` and `unary_out`
// seen as the other type).
@group(0) @binding(0) var<storage, read> wide_in: array<f32>;
@group(0) @binding(1) var<storage, read_write> wide_out: array<f32>;

@compute @workgroup_size(256)
fn to_act(
    @builtin(workgroup_id) wg: vec3<u32>,
    @builtin(local_invocation_index) local: u32,
    @builtin(num_workgroups) groups: vec3<u32>,
) {
    let p = unary_params;
    let i = element_index(wg, local, groups);
    if (i < p.len) {
        unary_out[p.out_offset + i] = act(wide_in[p.a_offset + i]);
    }
}

@compute @workgroup_size(256)
fn from_act(
    @builtin(workgroup_id) wg: vec3<u32>,
    @builtin(local_invocation_index) local: u32,
    @builtin(num_workgroups) groups: vec3<u32>,
) {
    let p = unary_params;
    let i = element_index(wg, local, groups);
    if (i < p.len) {
        wide_out[p.out_offset + i] = f32(a[p.a_offset + i]);
    }
}
