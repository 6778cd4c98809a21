//! Data layout (`layout.wgsl`): concat and split along an axis, permutations
//! of up to 4 axes, and FLUX's 2×2 patch packing of latents into tokens.
//! These move values without arithmetic, so results are bit-exact.

use crate::{
    Gpu, GpuError, Tensor,
    runtime::{
        launch::{MAX_GRID_DIM, linear_grid},
        pipelines::KernelSource,
    },
};

const SOURCE: KernelSource = KernelSource {
    name: "layout.wgsl",
    parts: &[include_str!("layout.wgsl")],
    enables: &[],
};
const WORKGROUP: usize = 256;
/// Axes the permute kernel handles.
pub const MAX_PERMUTE_AXES: usize = 4;

fn word(value: usize) -> u32 {
    u32::try_from(value).expect("sizes fit the binding limit")
}

fn element_grid(len: usize) -> [u32; 3] {
    linear_grid(len.div_ceil(WORKGROUP))
}

/// Elements before `axis` (rows) and from `axis` on (one row) in `shape`.
fn split_at_axis(shape: &[usize], axis: usize) -> (usize, usize) {
    (
        shape[..axis].iter().product(),
        shape[axis..].iter().product(),
    )
}

/// Joins tensors along `axis`; all other axes must agree (FLUX: [txt; img]
/// tokens along axis 0, or per-head [heads, L, d] along axis 1).
pub fn concat(gpu: &Gpu, parts: &[&Tensor], axis: usize) -> Result<Tensor, GpuError> {
    let Some(first) = parts.first() else {
        return Err(GpuError::Shape("concat of no tensors".into()));
    };
    let rank = first.shape().len();
    if axis >= rank {
        return Err(GpuError::Shape(format!(
            "concat along axis {axis} of {:?}, which has {rank} axes",
            first.shape()
        )));
    }
    let mut shape = first.shape().to_vec();
    shape[axis] = 0;
    for part in parts {
        let agrees = part.shape().len() == rank
            && part
                .shape()
                .iter()
                .zip(first.shape())
                .enumerate()
                .all(|(a, (size, first_size))| a == axis || size == first_size);
        if !agrees {
            return Err(GpuError::Shape(format!(
                "concat along axis {axis}: {:?} and {:?} differ on another axis",
                first.shape(),
                part.shape()
            )));
        }
        shape[axis] += part.shape()[axis];
    }
    let out = Tensor::uninit(gpu, &shape)?;
    let (rows, out_row) = split_at_axis(&shape, axis);
    let mut column = 0;
    for part in parts {
        let (_, part_row) = split_at_axis(part.shape(), axis);
        copy_block(
            gpu,
            part,
            &out,
            [rows, part_row],
            [part_row, out_row],
            [part.offset(), out.offset() + word(column)],
        )?;
        column += part_row;
    }
    Ok(out)
}

/// Cuts `x` along `axis` into pieces of `sizes`, which must add up to the
/// axis. When every axis before `axis` has size 1 the pieces are contiguous
/// ranges of `x` and come back as views, copying nothing.
pub fn split(gpu: &Gpu, x: &Tensor, axis: usize, sizes: &[usize]) -> Result<Vec<Tensor>, GpuError> {
    let shape = x.shape();
    if axis >= shape.len() || sizes.iter().sum::<usize>() != shape[axis] {
        return Err(GpuError::Shape(format!(
            "split of {shape:?} along axis {axis} into {sizes:?}: the sizes must add up to that axis"
        )));
    }
    let (rows, row) = split_at_axis(shape, axis);
    let inner = row / shape[axis].max(1);
    let flat = x.reshape(&[x.elem_count()])?;
    let mut pieces = Vec::with_capacity(sizes.len());
    let mut start = 0;
    for &size in sizes {
        let mut piece_shape = shape.to_vec();
        piece_shape[axis] = size;
        let piece_row = size * inner;
        let piece = if rows == 1 {
            flat.narrow(start * inner, piece_row)?
                .reshape(&piece_shape)?
        } else {
            let piece = Tensor::uninit(gpu, &piece_shape)?;
            copy_block(
                gpu,
                x,
                &piece,
                [rows, piece_row],
                [row, piece_row],
                [x.offset() + word(start * inner), piece.offset()],
            )?;
            piece
        };
        pieces.push(piece);
        start += size;
    }
    Ok(pieces)
}

/// Copies a [rows, cols] block: `strides` and `offsets` are (source, destination).
fn copy_block(
    gpu: &Gpu,
    src: &Tensor,
    dst: &Tensor,
    [rows, cols]: [usize; 2],
    [src_stride, dst_stride]: [usize; 2],
    [src_offset, dst_offset]: [u32; 2],
) -> Result<(), GpuError> {
    let len = rows * cols;
    if len == 0 {
        return Ok(());
    }
    gpu.launch(
        &SOURCE,
        "copy_block",
        &[],
        &[src.f32_buffer("concat and split")?, dst.buffer()],
        &[
            word(rows),
            word(cols),
            word(src_stride),
            word(dst_stride),
            src_offset,
            dst_offset,
        ],
        element_grid(len),
    );
    Ok(())
}

/// Reorders axes: output axis `a` is input axis `perm[a]` (as
/// `torch.permute`), for tensors of 1 to 4 axes. FLUX: [L, heads, d] →
/// [heads, L, d] is `perm = [1, 0, 2]`.
pub fn permute(gpu: &Gpu, x: &Tensor, perm: &[usize]) -> Result<Tensor, GpuError> {
    let shape = x.shape();
    let rank = shape.len();
    let mut seen = [false; MAX_PERMUTE_AXES];
    let is_permutation = perm.len() == rank
        && rank <= MAX_PERMUTE_AXES
        && perm
            .iter()
            .all(|&a| a < rank && !std::mem::replace(&mut seen[a], true));
    if !is_permutation || rank == 0 {
        return Err(GpuError::Shape(format!(
            "permute {perm:?} of {shape:?}: needs a permutation of 1 to {MAX_PERMUTE_AXES} axes matching the tensor's"
        )));
    }
    let out_shape: Vec<usize> = perm.iter().map(|&a| shape[a]).collect();
    let out = Tensor::uninit(gpu, &out_shape)?;
    let len = out.elem_count();
    if len == 0 {
        return Ok(out);
    }
    let in_strides = contiguous_strides(shape);
    if perm[rank - 1] != rank - 1
        && let Some(plan) = TransposePlan::new(shape, perm, &out_shape)
    {
        gpu.launch(
            &SOURCE,
            "transpose_tiled",
            &[],
            &[x.f32_buffer("permute")?, out.buffer()],
            &plan.params(x, &out),
            plan.grid,
        );
        return Ok(out);
    }
    // Leading axes of size 1 bring the rank to 4; their stride never counts.
    let pad = MAX_PERMUTE_AXES - rank;
    let mut words = [1u32; 2 * MAX_PERMUTE_AXES + 4];
    for a in 0..rank {
        words[pad + a] = word(out_shape[a]);
        words[MAX_PERMUTE_AXES + pad + a] = word(in_strides[perm[a]]);
    }
    let tail = 2 * MAX_PERMUTE_AXES;
    words[tail] = word(len);
    words[tail + 1] = x.offset();
    words[tail + 2] = out.offset();
    // Pads the params to the uniform struct's 16-byte multiple.
    words[tail + 3] = 0;
    gpu.launch(
        &SOURCE,
        "permute",
        &[],
        &[x.f32_buffer("permute")?, out.buffer()],
        &words,
        element_grid(len),
    );
    Ok(out)
}

fn contiguous_strides(shape: &[usize]) -> Vec<usize> {
    let mut strides = vec![1; shape.len()];
    for a in (0..shape.len().saturating_sub(1)).rev() {
        strides[a] = strides[a + 1] * shape[a + 1];
    }
    strides
}

/// Side of the tiles of `transpose_tiled`.
const TRANSPOSE_TILE: usize = 32;

/// A permutation that moves the last axis, as batches of strided matrix
/// transposes for `transpose_tiled` (see `layout.wgsl`).
struct TransposePlan {
    /// Size of the input axis that becomes the output's last (`a`), of the
    /// input's last axis (`b`), and their strides in input and output.
    rows: usize,
    cols: usize,
    src_row_stride: usize,
    dst_row_stride: usize,
    /// The remaining output axes, outer then inner (1 where absent), with
    /// their strides in input and output.
    batch: [usize; 2],
    src_batch_strides: [usize; 2],
    dst_batch_strides: [usize; 2],
    grid: [u32; 3],
}

impl TransposePlan {
    /// None when the tiles would not fit one dispatch; the gather handles those.
    fn new(shape: &[usize], perm: &[usize], out_shape: &[usize]) -> Option<Self> {
        let rank = shape.len();
        let in_strides = contiguous_strides(shape);
        let out_strides = contiguous_strides(out_shape);
        let last = rank - 1;
        let rows_axis = perm[last];
        let cols_position = perm.iter().position(|&a| a == last)?;
        let mut batch = [1; 2];
        let mut src_batch_strides = [0; 2];
        let mut dst_batch_strides = [0; 2];
        let batch_positions: Vec<usize> = (0..last).filter(|&i| i != cols_position).collect();
        let pad = 2 - batch_positions.len();
        for (slot, &i) in batch_positions.iter().enumerate() {
            batch[pad + slot] = out_shape[i];
            src_batch_strides[pad + slot] = in_strides[perm[i]];
            dst_batch_strides[pad + slot] = out_strides[i];
        }
        let grid = [
            shape[rows_axis].div_ceil(TRANSPOSE_TILE),
            shape[last].div_ceil(TRANSPOSE_TILE),
            batch[0] * batch[1],
        ];
        let limit = MAX_GRID_DIM as usize;
        if grid.iter().any(|&g| g > limit) {
            return None;
        }
        Some(Self {
            rows: shape[rows_axis],
            cols: shape[last],
            src_row_stride: in_strides[rows_axis],
            dst_row_stride: out_strides[cols_position],
            batch,
            src_batch_strides,
            dst_batch_strides,
            grid: grid.map(word),
        })
    }

    fn params(&self, src: &Tensor, dst: &Tensor) -> [u32; 11] {
        [
            word(self.rows),
            word(self.cols),
            word(self.src_row_stride),
            word(self.dst_row_stride),
            word(self.batch[1]),
            word(self.src_batch_strides[0]),
            word(self.src_batch_strides[1]),
            word(self.dst_batch_strides[0]),
            word(self.dst_batch_strides[1]),
            src.offset(),
            dst.offset(),
        ]
    }
}

/// Swaps two axes.
pub fn transpose(gpu: &Gpu, x: &Tensor, a: usize, b: usize) -> Result<Tensor, GpuError> {
    let mut perm: Vec<usize> = (0..x.shape().len()).collect();
    if a >= perm.len() || b >= perm.len() {
        return Err(GpuError::Shape(format!(
            "transpose of axes {a} and {b} of {:?}",
            x.shape()
        )));
    }
    perm.swap(a, b);
    permute(gpu, x, &perm)
}

/// FLUX's patchify: latent [C, H, W] (H, W even) → tokens [(H/2)·(W/2), 4C],
/// token `h·(W/2) + w`, feature `c·4 + ph·2 + pw` = latent `(c, 2h+ph, 2w+pw)`.
pub fn pack_patches(gpu: &Gpu, latent: &Tensor) -> Result<Tensor, GpuError> {
    let &[channels, height, width] = latent.shape() else {
        return Err(GpuError::Shape(format!(
            "pack_patches: {:?} is not a latent [channels, height, width]",
            latent.shape()
        )));
    };
    if !height.is_multiple_of(2) || !width.is_multiple_of(2) {
        return Err(GpuError::Shape(format!(
            "pack_patches: latent {:?} has an odd height or width; patches are 2×2",
            latent.shape()
        )));
    }
    let out = Tensor::uninit(gpu, &[(height / 2) * (width / 2), 4 * channels])?;
    patches(gpu, "pack_patches", latent, &out, [channels, height, width])?;
    Ok(out)
}

/// The inverse of [`pack_patches`]: tokens [(H/2)·(W/2), 4C] → latent [C, H, W].
pub fn unpack_patches(
    gpu: &Gpu,
    tokens: &Tensor,
    height: usize,
    width: usize,
) -> Result<Tensor, GpuError> {
    let shape_error = || {
        GpuError::Shape(format!(
            "unpack_patches: {:?} are not the tokens of an even {height}×{width} latent, [{}, 4·channels]",
            tokens.shape(),
            (height / 2) * (width / 2)
        ))
    };
    let &[token_count, features] = tokens.shape() else {
        return Err(shape_error());
    };
    if !height.is_multiple_of(2)
        || !width.is_multiple_of(2)
        || token_count != (height / 2) * (width / 2)
        || !features.is_multiple_of(4)
    {
        return Err(shape_error());
    }
    let channels = features / 4;
    let out = Tensor::uninit(gpu, &[channels, height, width])?;
    patches(
        gpu,
        "unpack_patches",
        tokens,
        &out,
        [channels, height, width],
    )?;
    Ok(out)
}

fn patches(
    gpu: &Gpu,
    entry: &'static str,
    src: &Tensor,
    dst: &Tensor,
    latent: [usize; 3],
) -> Result<(), GpuError> {
    let len = dst.elem_count();
    if len == 0 {
        return Ok(());
    }
    let [channels, height, width] = latent.map(word);
    gpu.launch(
        &SOURCE,
        entry,
        &[],
        &[src.f32_buffer(entry)?, dst.buffer()],
        &[
            word(len),
            channels,
            height,
            width,
            src.offset(),
            dst.offset(),
        ],
        element_grid(len),
    );
    Ok(())
}
