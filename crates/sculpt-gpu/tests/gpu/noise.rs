use sculpt_gpu::{
    Gpu,
    kernels::noise::{
        KNOTS, NoiseKernel, gaussian_cpu, inverse_normal, philox4x32_10, quantile_table,
    },
};

/// Philox4x32-10 known answers: (counter, key, output), from the `kat_vectors`
/// file of the Random123 distribution by D. E. Shaw Research (lines
/// `philox4x32 10 …`), as also pasted into DEShawResearch/fs123
/// `core123/ut/ut_philox.cpp`. The third is the digits of π.
const PHILOX_KNOWN_ANSWERS: [([u32; 4], [u32; 2], [u32; 4]); 3] = [
    (
        [0, 0, 0, 0],
        [0, 0],
        [0x6627_e8d5, 0xe169_c58d, 0xbc57_ac4c, 0x9b00_dbd8],
    ),
    (
        [0xffff_ffff; 4],
        [0xffff_ffff; 2],
        [0x408f_276d, 0x41c8_3b0e, 0xa20b_c7c6, 0x6d54_51fd],
    ),
    (
        [0x243f_6a88, 0x85a3_08d3, 0x1319_8a2e, 0x0370_7344],
        [0xa409_3822, 0x299f_31d0],
        [0xd16c_fe09, 0x94fd_cceb, 0x5001_e420, 0x2412_6ea1],
    ),
];

async fn philox_matches_random123_known_answers(gpu: &Gpu) {
    for (counter, key, want) in PHILOX_KNOWN_ANSWERS {
        assert_eq!(
            philox4x32_10(counter, key),
            want,
            "CPU, counter {counter:x?}"
        );
    }
    let kernel = NoiseKernel::new(gpu);
    let inputs: Vec<_> = PHILOX_KNOWN_ANSWERS
        .iter()
        .map(|&(counter, key, _)| (counter, key))
        .collect();
    let got = kernel.philox_blocks(gpu, &inputs).await.unwrap();
    for ((counter, _, want), got) in PHILOX_KNOWN_ANSWERS.iter().zip(&got) {
        assert_eq!(got, want, "GPU, counter {counter:x?}");
    }
}
gpu_test!(philox_matches_random123_known_answers);

fn first_bit_difference(got: &[f32], want: &[f32]) -> Option<String> {
    assert_eq!(got.len(), want.len());
    (0..got.len())
        .find(|&i| got[i].to_bits() != want[i].to_bits())
        .map(|i| format!("element {i}: GPU {} != CPU {}", got[i], want[i]))
}

async fn gpu_noise_equals_cpu_bit_for_bit(gpu: &Gpu) {
    let kernel = NoiseKernel::new(gpu);
    // Lengths below one block, not a multiple of 4, and past several 64-thread
    // workgroups without being a multiple of one.
    let lengths = [1, 3, 5, 1000, 64 * 4 * 3 + 7];
    let seeds = [0, 1, 42, 0x0123_4567_89ab_cdef, u64::MAX];
    for seed in seeds {
        for len in lengths {
            let got = kernel.gaussian(gpu, seed, len).await.unwrap();
            if let Some(difference) = first_bit_difference(&got, &gaussian_cpu(seed, len)) {
                panic!("seed {seed}, length {len}: {difference}");
            }
        }
    }
}
gpu_test!(gpu_noise_equals_cpu_bit_for_bit);

async fn sampled_latent_stays_on_the_gpu(gpu: &Gpu) {
    // The generation path: a latent-shaped tensor is filled on the GPU and
    // nothing is submitted or read back until someone asks for the values.
    let kernel = NoiseKernel::new(gpu);
    let shape = [1usize, 16, 6, 7];
    let before = gpu.stats();
    let latent = kernel.sample(gpu, 7, &shape).unwrap();
    let recorded = gpu.stats() - before;
    assert_eq!(recorded.dispatches, 1, "{recorded:?}");
    assert_eq!(recorded.submits, 0, "{recorded:?}");
    assert_eq!(recorded.bytes_read_back, 0, "{recorded:?}");
    assert_eq!(latent.shape(), &shape);
    let values = latent.to_vec(gpu).await.unwrap();
    if let Some(difference) = first_bit_difference(&values, &gaussian_cpu(7, 16 * 6 * 7)) {
        panic!("{difference}");
    }
}
gpu_test!(sampled_latent_stays_on_the_gpu);

async fn same_seed_repeats_and_other_seeds_differ(gpu: &Gpu) {
    let kernel = NoiseKernel::new(gpu);
    let len = 4096;
    let first = kernel.gaussian(gpu, 2024, len).await.unwrap();
    let again = kernel.gaussian(gpu, 2024, len).await.unwrap();
    assert_eq!(first, again);
    // A shorter request is a prefix: element i depends on (seed, i) alone.
    assert_eq!(kernel.gaussian(gpu, 2024, 10).await.unwrap(), first[..10]);
    // Seeds differing in the low word, in the high word only, and neighbours.
    for other in [2025, 2024 | (1 << 32), 2023] {
        let different = kernel.gaussian(gpu, other, len).await.unwrap();
        let equal = first.iter().zip(&different).filter(|(a, b)| a == b).count();
        // Independent draws on a 2^20-value grid rarely coincide.
        assert!(
            equal < 10,
            "seed {other}: {equal} of {len} values equal seed 2024's"
        );
    }
}
gpu_test!(same_seed_repeats_and_other_seeds_differ);

/// Φ(x) by Simpson's rule on the density, independent of the kernel's own
/// tables and of its Φ: accurate to about 1e-12 on [-6, 6].
fn reference_normal_cdf(x: f64) -> f64 {
    let density = |t: f64| (-0.5 * t * t).exp() / (2.0 * std::f64::consts::PI).sqrt();
    let steps = 2000;
    let h = x.abs() / steps as f64;
    let mut sum = density(0.0) + density(x.abs());
    for k in 1..steps {
        sum += density(k as f64 * h) * if k % 2 == 1 { 4.0 } else { 2.0 };
    }
    let half_mass = sum * h / 3.0;
    if x >= 0.0 {
        0.5 + half_mass
    } else {
        0.5 - half_mass
    }
}

async fn noise_statistics_match_the_standard_normal(gpu: &Gpu) {
    let kernel = NoiseKernel::new(gpu);
    let n = 1 << 20;
    let mut values = kernel.gaussian(gpu, 31_337, n).await.unwrap();
    let mean = values.iter().map(|&v| f64::from(v)).sum::<f64>() / n as f64;
    let variance = values
        .iter()
        .map(|&v| (f64::from(v) - mean).powi(2))
        .sum::<f64>()
        / n as f64;
    assert!(mean.abs() < 0.005, "mean {mean}");
    assert!(
        (variance.sqrt() - 1.0).abs() < 0.005,
        "std {}",
        variance.sqrt()
    );

    values.sort_by(f32::total_cmp);
    let mut largest_gap: f64 = 0.0;
    for k in 0..=800 {
        let x = -4.0 + 0.01 * f64::from(k);
        let below = values.partition_point(|&v| f64::from(v) <= x);
        let gap = (below as f64 / n as f64 - reference_normal_cdf(x)).abs();
        largest_gap = largest_gap.max(gap);
    }
    assert!(
        largest_gap < 0.003,
        "Kolmogorov–Smirnov distance {largest_gap}"
    );

    // Tails: P(|x| > 4) = 6.33e-5, about 66 of 2^20. Straight interpolation
    // over the end intervals of the body table would give about 500.
    let beyond_four = values.iter().filter(|v| v.abs() > 4.0).count();
    assert!(
        (30..=110).contains(&beyond_four),
        "{beyond_four} values beyond ±4"
    );
}
gpu_test!(noise_statistics_match_the_standard_normal);

async fn knots_match_known_quantiles(_gpu: &Gpu) {
    // Φ⁻¹ at hand-known points.
    assert!(inverse_normal(0.5).abs() < 1e-15);
    assert!((inverse_normal(0.975) - 1.959_963_984_540_054).abs() < 1e-6);
    assert!((inverse_normal(0.841_344_7) - 1.0).abs() < 1e-6);
    assert!((inverse_normal(0.75) - 0.674_489_750_196_081_7).abs() < 1e-12);

    // Knots in fixed point (× 2^20, rounded), from CPython's
    // statistics.NormalDist().inv_cdf (Wichura's AS 241), an independent
    // implementation.
    let table = quantile_table();
    assert_eq!(table.body[512], 0);
    assert_eq!(table.body[0], -5_139_033); // p = 2^-21
    assert_eq!(table.body[1], -3_247_722); // p = 1/1024
    assert_eq!(table.body[768], 707_254); // p = 3/4
    assert_eq!(table.body[896], 1_206_229); // p = 7/8
    assert_eq!(table.body[1024], 5_139_033); // p = 1 − 2^-21
    assert_eq!(table.tail[0], -6_418_078); // p = 2^-31
    assert_eq!(table.tail[1], -4_994_369); // p = 2^-20
    // The tail table refines the body's first interval: it ends where that does.
    assert_eq!(table.tail[KNOTS - 1], table.body[1]);
    for j in 0..KNOTS {
        assert_eq!(table.body[j], -table.body[KNOTS - 1 - j], "symmetry at {j}");
    }
}
gpu_test!(knots_match_known_quantiles);

/// FNV-1a over 32-bit words: a short fingerprint of a long bit pattern.
fn fingerprint(words: impl IntoIterator<Item = u32>) -> u64 {
    words.into_iter().fold(0xcbf2_9ce4_8422_2325, |hash, word| {
        word.to_le_bytes().iter().fold(hash, |hash, &byte| {
            (hash ^ u64::from(byte)).wrapping_mul(0x0100_0000_01b3)
        })
    })
}

async fn noise_bits_are_pinned_on_every_platform(gpu: &Gpu) {
    // The constants come from an independent model of the stream written in
    // Python: knots from CPython's statistics.NormalDist().inv_cdf (Wichura's
    // AS 241, not this crate's Acklam + Halley), Philox4x32-10 from the SC11
    // paper with Python's big integers. Checked natively and in the browser,
    // they prove that both build the same knots and draw the same noise, and
    // any change to the stream (which would change every shared seed's
    // image) fails here.
    let table = quantile_table();
    let knot_fingerprint = fingerprint(table.gpu_layout().iter().map(|&k| k as u32));
    assert_eq!(
        knot_fingerprint, 0xefa1_729b_0ed2_286b,
        "knot fingerprint {knot_fingerprint:#x}"
    );
    let first: Vec<u32> = gaussian_cpu(42, 6).iter().map(|v| v.to_bits()).collect();
    assert_eq!(
        first,
        [
            0x3e92_f720,
            0xbda1_6f00,
            0xbfb9_dfa8,
            0xbed1_fa60,
            0x400f_e6e8,
            0xbee5_6560
        ],
        "first values {first:#x?}"
    );
    let gpu_noise = NoiseKernel::new(gpu)
        .gaussian(gpu, 42, 100_003)
        .await
        .unwrap();
    let noise_fingerprint = fingerprint(gpu_noise.iter().map(|v| v.to_bits()));
    assert_eq!(
        noise_fingerprint, 0xd84f_1431_efa3_4188,
        "noise fingerprint {noise_fingerprint:#x}"
    );
}
gpu_test!(noise_bits_are_pinned_on_every_platform);

async fn long_noise_folds_a_two_dimensional_dispatch_back_in_order(gpu: &Gpu) {
    // Past the per-dimension workgroup limit (65,535 on lavapipe and in
    // Chromium; GPUs offering more skip the fold, and the test still checks
    // ordinary long noise) the dispatch gets a second dimension. Elements on
    // both sides of the first row boundary, and the very last ones, must still
    // be element i of the stream; they are computed here straight from Philox
    // and the table.
    let limit = gpu.device.limits().max_compute_workgroups_per_dimension;
    let max_x = limit.min(65_535) as usize;
    let row = max_x * 64 * 4;
    let len = row + 4 * 64 * 5 + 3;
    let got = NoiseKernel::new(gpu).gaussian(gpu, 99, len).await.unwrap();
    let table = quantile_table();
    let key = sculpt_gpu::kernels::noise::seed_key(99);
    let expected = |i: usize| {
        let words = philox4x32_10([(i / 4) as u32, 0, 0, 0], key);
        table.normal_from_bits(words[i % 4])
    };
    for i in (0..16).chain(row - 300..len) {
        assert_eq!(
            got[i].to_bits(),
            expected(i).to_bits(),
            "element {i} of {len}, workgroup limit {limit}"
        );
    }
}
gpu_test!(long_noise_folds_a_two_dimensional_dispatch_back_in_order);
