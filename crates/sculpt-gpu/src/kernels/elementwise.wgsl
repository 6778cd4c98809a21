// Elementwise kernels over contiguous tensors of `act`, which the part
// compiled before this file declares: f32, or f16 where the device has
// shader-f16. Arithmetic is in f32 either way; f16 is only what is stored.
// `OP` (an override constant) picks the operation of the one `elementwise`
// entry point, so each specialization compiles to straight code. Operands
// shorter than the output repeat along it (`period`), which is how a bias, a
// per-channel scale or a modulation vector is broadcast over the rows of
// [rows, channels].

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
const SCALE: u32 = 0u;
const SILU: u32 = 1u;
const GELU_TANH: u32 = 2u;
const QUICK_GELU: u32 = 3u;
const ADD_SCALAR: u32 = 4u;

// Binary: out = a op b[i % period].
const ADD: u32 = 10u;
const MUL: u32 = 11u;
const SUB: u32 = 12u;
const GELU_GATE: u32 = 13u; // gelu_tanh(a) * b: T5's gated-GELU feed-forward

// Ternary, fused so that each is one pass over the activations:
// modulate: out = a * (1 + b[i % period]) + c[i % period]  (FLUX adaLN: b = scale, c = shift)
// gated residual: out = a + b[i % period] * c               (FLUX: a = x, b = gate, c = y)
const MODULATE: u32 = 20u;
const GATED_RESIDUAL: u32 = 21u;

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

// Every operation is this one entry point specialised by OP. The operands
// an operation does not read are bound to `a`, so that one layout serves all.
@group(0) @binding(3) var<storage, read_write> elementwise_out: array<act>;
@group(0) @binding(4) var<uniform> elementwise_params: Params;

@compute @workgroup_size(256)
fn elementwise(
    @builtin(workgroup_id) wg: vec3<u32>,
    @builtin(local_invocation_index) local: u32,
    @builtin(num_workgroups) groups: vec3<u32>,
) {
    let p = elementwise_params;
    let i = element_index(wg, local, groups);
    if (i >= p.len) {
        return;
    }
    let x = f32(a[p.a_offset + i]);
    let channel = i % p.period;
    var y: f32;
    switch OP {
        case SCALE: { y = x * p.scalar; }
        case SILU: { y = silu(x); }
        case GELU_TANH: { y = gelu_tanh(x); }
        case QUICK_GELU: { y = quick_gelu(x); }
        case ADD_SCALAR: { y = x + p.scalar; }
        case ADD: { y = x + f32(b[p.b_offset + channel]); }
        case MUL: { y = x * f32(b[p.b_offset + channel]); }
        case SUB: { y = x - f32(b[p.b_offset + channel]); }
        case GELU_GATE: { y = gelu_tanh(x) * f32(b[p.b_offset + channel]); }
        case MODULATE: {
            y = x * (1.0 + f32(b[p.b_offset + channel])) + f32(c[p.c_offset + channel]);
        }
        case GATED_RESIDUAL: {
            y = x + f32(b[p.b_offset + channel]) * f32(c[p.c_offset + i]);
        }
        default: { y = x; }
    }
    elementwise_out[p.out_offset + i] = act(y);
}

// Casts between f32 and `act`: `a` and `cast_out` seen as the other type.
@group(0) @binding(0) var<storage, read> wide_in: array<f32>;
@group(0) @binding(1) var<storage, read_write> wide_out: array<f32>;
@group(0) @binding(1) var<storage, read_write> cast_out: array<act>;
@group(0) @binding(2) var<uniform> cast_params: Params;

@compute @workgroup_size(256)
fn to_act(
    @builtin(workgroup_id) wg: vec3<u32>,
    @builtin(local_invocation_index) local: u32,
    @builtin(num_workgroups) groups: vec3<u32>,
) {
    let p = cast_params;
    let i = element_index(wg, local, groups);
    if (i < p.len) {
        cast_out[p.out_offset + i] = act(wide_in[p.a_offset + i]);
    }
}

@compute @workgroup_size(256)
fn from_act(
    @builtin(workgroup_id) wg: vec3<u32>,
    @builtin(local_invocation_index) local: u32,
    @builtin(num_workgroups) groups: vec3<u32>,
) {
    let p = cast_params;
    let i = element_index(wg, local, groups);
    if (i < p.len) {
        wide_out[p.out_offset + i] = f32(a[p.a_offset + i]);
    }
}
