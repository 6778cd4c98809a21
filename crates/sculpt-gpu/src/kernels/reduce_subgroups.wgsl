// Workgroup-wide sums and maxima on subgroup operations (the `subgroups`
// feature): each subgroup reduces in registers, its first invocation leaves
// the result in workgroup memory, and every thread adds up the subgroups'
// results — two barriers whatever the workgroup size, instead of the
// log2(WORKGROUP) of reduce.wgsl's tree. Same functions, same contract.
//
// Subgroups are found by `subgroup_id`, never by local_invocation_index /
// subgroup_size: WGSL does not promise that invocations are laid out in
// subgroups in index order. Subgroup sizes run from 4 (SwiftShader) to 128,
// so the scratch has room for a subgroup of one.

struct Invocation {
    @builtin(local_invocation_index) local: u32,
    @builtin(subgroup_id) subgroup: u32,
    @builtin(num_subgroups) subgroups: u32,
    @builtin(subgroup_invocation_id) lane: u32,
}

var<workgroup> reduce_scratch: array<vec4<f32>, WORKGROUP>;

fn workgroup_sum4(id: Invocation, value: vec4<f32>) -> vec4<f32> {
    let subgroup_total = subgroupAdd(value);
    if (id.lane == 0u) {
        reduce_scratch[id.subgroup] = subgroup_total;
    }
    workgroupBarrier();
    // The same order in every thread and every run: the result is the same
    // in all of them.
    var total = vec4<f32>(0.0);
    for (var i = 0u; i < id.subgroups; i++) {
        total += reduce_scratch[i];
    }
    // A following reduction overwrites the scratch: everyone must have read it.
    workgroupBarrier();
    return total;
}

fn workgroup_sum(id: Invocation, value: f32) -> f32 {
    let subgroup_total = subgroupAdd(value);
    if (id.lane == 0u) {
        reduce_scratch[id.subgroup].x = subgroup_total;
    }
    workgroupBarrier();
    var total = 0.0;
    for (var i = 0u; i < id.subgroups; i++) {
        total += reduce_scratch[i].x;
    }
    workgroupBarrier();
    return total;
}

fn workgroup_max(id: Invocation, value: f32) -> f32 {
    let subgroup_max = subgroupMax(value);
    if (id.lane == 0u) {
        reduce_scratch[id.subgroup].x = subgroup_max;
    }
    workgroupBarrier();
    var total = reduce_scratch[0].x;
    for (var i = 1u; i < id.subgroups; i++) {
        total = max(total, reduce_scratch[i].x);
    }
    workgroupBarrier();
    return total;
}
