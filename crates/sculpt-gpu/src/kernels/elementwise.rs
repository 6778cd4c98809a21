//! Elementwise operations (`elementwise.wgsl`): activations, arithmetic with
//! broadcasting over rows, and FLUX's fused modulation and gated residual.

use crate::{
    Gpu, GpuError, Tensor,
    runtime::{launch::linear_grid, pipelines::KernelSource},
};

const SOURCE: KernelSource = KernelSource {
    name: "elementwise.wgsl",
    parts: &[include_str!("elementwise.wgsl")],
    enables: &[],
};
const WORKGROUP: usize = 256;

#[derive(Clone, Copy, Debug, PartialEq)]
pub enum Unary {
    /// x · s
    Scale(f32),
    /// x + s
    AddScalar(f32),
    /// x · sigmoid(x)
    Silu,
    /// GELU with the tanh approximation (FLUX's MLPs, T5).
    GeluTanh,
    /// x · sigmoid(1.702 x) (CLIP).
    QuickGelu,
}

impl Unary {
    fn code_and_scalar(self) -> (u32, f32) {
        match self {
            Unary::Scale(s) => (0, s),
            Unary::Silu => (1, 0.0),
            Unary::GeluTanh => (2, 0.0),
            Unary::QuickGelu => (3, 0.0),
            Unary::AddScalar(s) => (4, s),
        }
    }
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Binary {
    Add,
    Mul,
    Sub,
    /// gelu_tanh(a) · b (T5's gated-GELU feed-forward).
    GeluGate,
}

impl Binary {
    fn code(self) -> u32 {
        match self {
            Binary::Add => 0,
            Binary::Mul => 1,
            Binary::Sub => 2,
            Binary::GeluGate => 3,
        }
    }
}

pub fn unary(gpu: &Gpu, op: Unary, x: &Tensor) -> Result<Tensor, GpuError> {
    let out = Tensor::uninit(gpu, x.shape())?;
    let (code, scalar) = op.code_and_scalar();
    let len = x.elem_count();
    gpu.launch(
        &SOURCE,
        "unary",
        &[("OP", f64::from(code))],
        &[x.buffer(), out.buffer()],
        &params(len, len, &out, [x.offset(), 0, 0], scalar),
        linear_grid(len.div_ceil(WORKGROUP)),
    );
    Ok(out)
}

/// `a op b`, where `b` has as many elements as `a` or repeats along it
/// (e.g. a bias [channels] over [rows, channels]).
pub fn binary(gpu: &Gpu, op: Binary, a: &Tensor, b: &Tensor) -> Result<Tensor, GpuError> {
    let period = broadcast_period(a, b)?;
    let out = Tensor::uninit(gpu, a.shape())?;
    let len = a.elem_count();
    gpu.launch(
        &SOURCE,
        "binary",
        &[("OP", f64::from(op.code()))],
        &[a.buffer(), b.buffer(), out.buffer()],
        &params(len, period, &out, [a.offset(), b.offset(), 0], 0.0),
        linear_grid(len.div_ceil(WORKGROUP)),
    );
    Ok(out)
}

/// FLUX's adaLN modulation, `x · (1 + scale) + shift`, with `scale` and
/// `shift` of the size of x's last axis.
pub fn modulate(gpu: &Gpu, x: &Tensor, shift: &Tensor, scale: &Tensor) -> Result<Tensor, GpuError> {
    let period = broadcast_period(x, scale)?;
    if shift.elem_count() != scale.elem_count() {
        return Err(GpuError::Shape(format!(
            "modulate: shift {:?} and scale {:?} differ",
            shift.shape(),
            scale.shape()
        )));
    }
    ternary(gpu, 0, x, scale, shift, period)
}

/// The gated residual `x + gate · y`, with `gate` of the size of the last axis.
pub fn gated_residual(
    gpu: &Gpu,
    x: &Tensor,
    gate: &Tensor,
    y: &Tensor,
) -> Result<Tensor, GpuError> {
    let period = broadcast_period(x, gate)?;
    if y.shape() != x.shape() {
        return Err(GpuError::Shape(format!(
            "gated residual: x {:?} and y {:?} differ",
            x.shape(),
            y.shape()
        )));
    }
    ternary(gpu, 1, x, gate, y, period)
}

fn ternary(
    gpu: &Gpu,
    code: u32,
    a: &Tensor,
    b: &Tensor,
    c: &Tensor,
    period: usize,
) -> Result<Tensor, GpuError> {
    let out = Tensor::uninit(gpu, a.shape())?;
    let len = a.elem_count();
    gpu.launch(
        &SOURCE,
        "ternary",
        &[("OP", f64::from(code))],
        &[a.buffer(), b.buffer(), c.buffer(), out.buffer()],
        &params(len, period, &out, [a.offset(), b.offset(), c.offset()], 0.0),
        linear_grid(len.div_ceil(WORKGROUP)),
    );
    Ok(out)
}

fn broadcast_period(a: &Tensor, b: &Tensor) -> Result<usize, GpuError> {
    let (len, period) = (a.elem_count(), b.elem_count());
    if period == 0 || len % period != 0 || (period != len && period != a.last_dim()) {
        return Err(GpuError::Shape(format!(
            "{:?} cannot be broadcast over {:?}: it needs as many elements, or the size of the last axis",
            b.shape(),
            a.shape()
        )));
    }
    Ok(period)
}

fn params(len: usize, period: usize, out: &Tensor, offsets: [u32; 3], scalar: f32) -> [u32; 7] {
    [
        len as u32,
        period as u32,
        out.offset(),
        offsets[0],
        offsets[1],
        offsets[2],
        scalar.to_bits(),
    ]
}
