// Workgroup-wide sums and maxima, the plain version: a tree over workgroup
// memory, log2(WORKGROUP) barriers. reduce_subgroups.wgsl has the same
// functions on subgroup operations; a kernel family is compiled with one or
// the other after its own file, which must define WORKGROUP (threads per
// workgroup, a power of two) and take an `Invocation` in its entry points.
//
// `Invocation` holds only per-invocation builtins: Chromium's uniformity
// analysis treats a whole struct parameter as non-uniform, so the workgroup's
// own ids (which decide early returns before barriers) must stay separate
// parameters.
//
// Every thread of the workgroup must call these, in uniform control flow, and
// gets the result.

struct Invocation {
    @builtin(local_invocation_index) local: u32,
}

var<workgroup> reduce_scratch: array<vec4<f32>, WORKGROUP>;

fn workgroup_sum4(id: Invocation, value: vec4<f32>) -> vec4<f32> {
    reduce_scratch[id.local] = value;
    workgroupBarrier();
    for (var stride = WORKGROUP / 2u; stride > 0u; stride >>= 1u) {
        if (id.local < stride) {
            reduce_scratch[id.local] += reduce_scratch[id.local + stride];
        }
        workgroupBarrier();
    }
    let total = reduce_scratch[0];
    // A following reduction overwrites the scratch: everyone must have read it.
    workgroupBarrier();
    return total;
}

fn workgroup_sum(id: Invocation, value: f32) -> f32 {
    return workgroup_sum4(id, vec4<f32>(value, 0.0, 0.0, 0.0)).x;
}

fn workgroup_max(id: Invocation, value: f32) -> f32 {
    reduce_scratch[id.local].x = value;
    workgroupBarrier();
    for (var stride = WORKGROUP / 2u; stride > 0u; stride >>= 1u) {
        if (id.local < stride) {
            reduce_scratch[id.local].x = max(reduce_scratch[id.local].x, reduce_scratch[id.local + stride].x);
        }
        workgroupBarrier();
    }
    let total = reduce_scratch[0].x;
    workgroupBarrier();
    return total;
}
