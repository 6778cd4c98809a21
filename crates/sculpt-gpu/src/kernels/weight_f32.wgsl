// Weight decoding for f32 weights: rows padded to whole vec4s.
fn weight4(row: u32, k: u32) -> vec4<f32> {
    let base = row * params.row_words + k;
    return vec4<f32>(
        bitcast<f32>(weights[base]),
        bitcast<f32>(weights[base + 1u]),
        bitcast<f32>(weights[base + 2u]),
        bitcast<f32>(weights[base + 3u]),
    );
}
