//! Embeddings against candle: the gather exactly (it copies values), the
//! timestep embedding against FLUX's formula in candle ops, in f64.

use candle_core::{D, DType, Device, Tensor as Cpu};
use sculpt_gpu::{
    Gpu, GpuError,
    kernels::embed::{self, FLUX_TIME_FACTOR},
};

use crate::support::{assert_close, cpu, cpu_values, download, random, upload};

async fn embedding_gathers_table_rows(gpu: &Gpu) {
    // A width that is not a multiple of 64, repeated ids, the first and last rows.
    let (vocab, dim) = (50, 37);
    let table_data = random(1, vocab * dim, 3.0);
    let table = upload(gpu, &table_data, &[vocab, dim]);
    for ids in [vec![3u32, 0, 49, 3, 17], vec![49], (0..50).rev().collect()] {
        let got = download(gpu, &embed::embedding(gpu, &table, &ids).unwrap()).await;
        let reference = candle_nn::Embedding::new(cpu(&table_data, &[vocab, dim]), dim);
        let ids_cpu = Cpu::new(ids.as_slice(), &Device::Cpu).unwrap();
        let want = candle_core::Module::forward(&reference, &ids_cpu).unwrap();
        assert_eq!(got, cpu_values(&want), "ids {ids:?}");
    }
}
gpu_test!(embedding_gathers_table_rows);

async fn embedding_of_a_view_reads_its_rows(gpu: &Gpu) {
    let table_data = random(2, 10 * 8, 3.0);
    let table = upload(gpu, &table_data, &[10, 8]);
    let tail = table.narrow(4, 6).unwrap();
    let got = download(gpu, &embed::embedding(gpu, &tail, &[5, 0]).unwrap()).await;
    let want: Vec<f32> = [&table_data[72..80], &table_data[32..40]].concat();
    assert_eq!(got, want);
}
gpu_test!(embedding_of_a_view_reads_its_rows);

async fn a_table_in_row_chunks_gathers_like_one(gpu: &Gpu) {
    // 50 rows of 37 values in chunks of 8 rows (7 chunks, the last of 2):
    // ids in every chunk, repeated, and ids that leave some chunks unused.
    let (vocab, dim) = (50, 37);
    let table_data = random(4, vocab * dim, 3.0);
    let chunk_bytes = (8 * dim * 4) as u64;
    let table =
        embed::EmbeddingTable::from_f32_in_chunks(gpu, &table_data, vocab, dim, chunk_bytes)
            .unwrap();
    assert_eq!(table.chunk_count(), 7);
    assert_eq!(table.shape(), [vocab, dim]);
    let reference = candle_nn::Embedding::new(cpu(&table_data, &[vocab, dim]), dim);
    for ids in [
        vec![3u32, 0, 49, 3, 17, 8, 7, 48],
        vec![9],
        (0..50).rev().collect(),
    ] {
        let got = download(gpu, &table.gather(gpu, &ids).unwrap()).await;
        let ids_cpu = Cpu::new(ids.as_slice(), &Device::Cpu).unwrap();
        let want = candle_core::Module::forward(&reference, &ids_cpu).unwrap();
        assert_eq!(got, cpu_values(&want), "ids {ids:?}");
    }
    let err = table.gather(gpu, &[1, 50]).unwrap_err();
    assert!(err.to_string().contains("token id 50"), "{err}");
    // A chunk smaller than one row cannot be.
    let err = embed::EmbeddingTable::from_f32_in_chunks(gpu, &table_data, vocab, dim, 100)
        .err()
        .expect("a row of 148 bytes does not fit 100");
    assert!(matches!(err, GpuError::TooLarge { .. }), "{err}");
}
gpu_test!(a_table_in_row_chunks_gathers_like_one);

async fn out_of_range_ids_are_rejected_before_dispatch(gpu: &Gpu) {
    let table = upload(gpu, &random(3, 10 * 4, 1.0), &[10, 4]);
    let before = gpu.stats();
    let err = embed::embedding(gpu, &table, &[1, 10, 2]).unwrap_err();
    assert!(matches!(err, GpuError::Shape(_)), "{err}");
    assert!(err.to_string().contains("token id 10"), "{err}");
    let during = gpu.stats() - before;
    assert_eq!(during.dispatches, 0, "{during:?}");
    assert_eq!(during.bytes_uploaded, 0, "{during:?}");
    let not_a_table = upload(gpu, &[0.0; 8], &[8]);
    assert!(matches!(
        embed::embedding(gpu, &not_a_table, &[0]),
        Err(GpuError::Shape(_))
    ));
}
gpu_test!(out_of_range_ids_are_rejected_before_dispatch);

/// FLUX's `timestep_embedding`, with candle ops in f64.
fn reference_timestep_embedding(t: &[f32], dim: usize) -> Vec<f32> {
    let half = dim / 2;
    let frequencies = Cpu::arange(0u32, half as u32, &Device::Cpu)
        .unwrap()
        .to_dtype(DType::F64)
        .unwrap()
        .affine(-(10_000f64.ln()) / half as f64, 0.0)
        .unwrap()
        .exp()
        .unwrap()
        .unsqueeze(0)
        .unwrap();
    let angles = cpu(t, &[t.len(), 1])
        .to_dtype(DType::F64)
        .unwrap()
        .broadcast_mul(&frequencies)
        .unwrap()
        .affine(f64::from(FLUX_TIME_FACTOR), 0.0)
        .unwrap();
    let embedding = Cpu::cat(&[angles.cos().unwrap(), angles.sin().unwrap()], D::Minus1).unwrap();
    cpu_values(&embedding.to_dtype(DType::F32).unwrap())
}

async fn timestep_embedding_matches_flux(gpu: &Gpu) {
    // schnell's schedule and odd values; FLUX's 256 wide, and narrow ones.
    let t = [1.0f32, 0.75, 0.5, 0.25, 0.0, 0.123_456, 0.999];
    for dim in [256, 6, 2] {
        let got = download(
            gpu,
            &embed::timestep_embedding(gpu, &upload(gpu, &t, &[t.len()]), dim, FLUX_TIME_FACTOR)
                .unwrap(),
        )
        .await;
        // Angles reach 1000 rad, where an f32 ULP is 6e-5: t·f·1000 in f32
        // (two roundings, and `exp` a few ULPs off in f_k) is up to ~2e-4 rad
        // from the exact angle, as in every f32 implementation of FLUX.
        assert_close(
            &format!("timestep embedding, dim {dim}"),
            &got,
            &reference_timestep_embedding(&t, dim),
            4e-4,
            0.0,
        );
    }
}
gpu_test!(timestep_embedding_matches_flux);

async fn bad_timestep_shapes_are_errors(gpu: &Gpu) {
    let t = upload(gpu, &[0.5; 4], &[4]);
    let matrix = upload(gpu, &[0.5; 4], &[2, 2]);
    for (what, result) in [
        ("odd dim", embed::timestep_embedding(gpu, &t, 7, 1000.0)),
        ("zero dim", embed::timestep_embedding(gpu, &t, 0, 1000.0)),
        (
            "t as a matrix",
            embed::timestep_embedding(gpu, &matrix, 8, 1000.0),
        ),
    ] {
        assert!(matches!(result, Err(GpuError::Shape(_))), "{what}");
    }
}
gpu_test!(bad_timestep_shapes_are_errors);
