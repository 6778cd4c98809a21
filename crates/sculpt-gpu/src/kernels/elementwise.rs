//! Elementwise operations (`elementwise.wgsl`): activations, arithmetic with
//! broadcasting over rows, FLUX's fused modulation and gated residual, and
//! casts between f32 and f16. Every operand of one call has one dtype, which
//! the output keeps; f16 operands are computed on in f32.

use crate::{
    DType, Gpu, GpuError, Tensor,
    runtime::{
        launch::linear_grid,
        pipelines::{Enable, KernelSource},
    },
};

const SOURCE: KernelSource = KernelSource {
    name: "elementwise.wgsl",
    parts: &["alias act = f32;\n", include_str!("elementwise.wgsl")],
    enables: &[],
};
const SOURCE_F16: KernelSource = KernelSource {
    name: "elementwise.wgsl, f16",
    parts: &["alias act = f16;\n", include_str!("elementwise.wgsl")],
    enables: &[Enable::F16],
};

fn source(dtype: DType) -> &'static KernelSource {
    match dtype {
        DType::F32 => &SOURCE,
        DType::F16 => &SOURCE_F16,
    }
}

/// The dtype all of an operation's operands share (`op` is formatted only
/// for an error: this runs on every call).
fn common_dtype(op: std::fmt::Arguments, operands: &[&Tensor]) -> Result<DType, GpuError> {
    let dtype = operands[0].dtype();
    match operands.iter().find(|t| t.dtype() != dtype) {
        None => Ok(dtype),
        Some(other) => Err(GpuError::Unsupported(format!(
            "{op} mixes {:?} and {other:?}: cast one so both have one dtype",
            operands[0]
        ))),
    }
}
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
    /// The `OP` code in elementwise.wgsl, and the scalar operand.
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
    /// The `OP` code in elementwise.wgsl.
    fn code(self) -> u32 {
        match self {
            Binary::Add => 10,
            Binary::Mul => 11,
            Binary::Sub => 12,
            Binary::GeluGate => 13,
        }
    }
}

pub fn unary(gpu: &Gpu, op: Unary, x: &Tensor) -> Result<Tensor, GpuError> {
    let out = Tensor::uninit_as(gpu, x.shape(), x.dtype())?;
    let (code, scalar) = op.code_and_scalar();
    // Every element its own period: nothing repeats.
    launch(gpu, code, [x, x, x], &out, x.elem_count(), scalar);
    Ok(out)
}

/// `a op b`, where `b` has as many elements as `a` or repeats along it
/// (e.g. a bias [channels] over [rows, channels]).
pub fn binary(gpu: &Gpu, op: Binary, a: &Tensor, b: &Tensor) -> Result<Tensor, GpuError> {
    let period = broadcast_period(a, b)?;
    let dtype = common_dtype(format_args!("{op:?}"), &[a, b])?;
    let out = Tensor::uninit_as(gpu, a.shape(), dtype)?;
    launch(gpu, op.code(), [a, b, a], &out, period, 0.0);
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
    ternary(gpu, (20, "modulate"), x, scale, shift, period)
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
    ternary(gpu, (21, "gated residual"), x, gate, y, period)
}

fn ternary(
    gpu: &Gpu,
    (code, name): (u32, &str),
    a: &Tensor,
    b: &Tensor,
    c: &Tensor,
    period: usize,
) -> Result<Tensor, GpuError> {
    let dtype = common_dtype(format_args!("{name}"), &[a, b, c])?;
    let out = Tensor::uninit_as(gpu, a.shape(), dtype)?;
    launch(gpu, code, [a, b, c], &out, period, 0.0);
    Ok(out)
}

/// One launch of the `elementwise` entry point with `OP` = `code` (the
/// codes of elementwise.wgsl) over [a, b, c], writing `out`, of `a`'s size
/// and dtype. Operands the operation does not read are `a` again: one
/// layout serves every operation.
fn launch(gpu: &Gpu, code: u32, [a, b, c]: [&Tensor; 3], out: &Tensor, period: usize, scalar: f32) {
    let len = a.elem_count();
    gpu.launch(
        source(out.dtype()),
        "elementwise",
        &[("OP", f64::from(code))],
        &[a.buffer(), b.buffer(), c.buffer(), out.buffer()],
        &params(
            len,
            period,
            out,
            [a.offset(), b.offset(), c.offset()],
            scalar,
        ),
        linear_grid(len.div_ceil(WORKGROUP)),
    );
}

/// `x` stored as `dtype` (f16: rounded to nearest); `x` itself, copying
/// nothing, when it already is.
pub fn cast(gpu: &Gpu, x: &Tensor, dtype: DType) -> Result<Tensor, GpuError> {
    if x.dtype() == dtype {
        return Ok(x.clone());
    }
    let out = Tensor::uninit_as(gpu, x.shape(), dtype)?;
    // The f16 family's casts go between f32 and its `act`, f16.
    let entry = match dtype {
        DType::F16 => "to_act",
        DType::F32 => "from_act",
    };
    let len = x.elem_count();
    gpu.launch(
        &SOURCE_F16,
        entry,
        &[],
        &[x.buffer(), out.buffer()],
        &params(len, len, &out, [x.offset(), 0, 0], 0.0),
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
