#!/usr/bin/env bash
# The kernel benchmark on a lent GPU machine (the `device` tool), natively
# through Vulkan. That machine has no Rust and no network, so it runs a
# binary built here:
#
#   here:  cargo build --release -p sculpt-cli
#          echo /.gl/ >> .git/info/exclude; mkdir -p .gl /tmp/amd64/partial
#          o='-oAPT::Architecture=amd64 -oAPT::Architectures=amd64 -oDir::State::Lists=/tmp/amd64'
#          apt-get $o update; (cd .gl && apt-get $o download libvulkan1)
#   there: run(command: "bash xtask/device/bench-gpu.sh", carry: [".gl", "target/release/sculpt"])
#
# Arguments go to `sculpt bench kernels` (e.g. --quick, --only linear).
# Results land in $OUT (or target/bench): the GPU's name and clocks, `sculpt
# info`, and the benchmark's Markdown, for BENCHMARKS.md with the card's
# fp32 peak and memory bandwidth; then the built-in model's stages (a step,
# its frame by the preview decoder and by the full one) as Markdown and as
# JSON (`sculpt bench stages --json`).
set -uo pipefail
out=${OUT:-target/bench}
mkdir -p "$out"
sculpt=${SCULPT_BIN:-target/release/sculpt}
if [ -d .gl ]; then
    for deb in .gl/*.deb; do dpkg -x "$deb" /; done
    ldconfig
fi
# The NVIDIA driver's Vulkan manifest, where the loader does not find it itself.
icd=/usr/local/nvidia/share/vulkan/icd.d/nvidia_icd.json
if [ -z "${VK_DRIVER_FILES:-}" ] && [ -f "$icd" ]; then
    export VK_DRIVER_FILES=$icd
fi
if command -v nvidia-smi >/dev/null; then
    nvidia-smi --query-gpu=name,driver_version,clocks.max.sm,clocks.max.mem,memory.total \
        --format=csv | tee "$out/gpu.csv"
fi
"$sculpt" info 2>&1 | tee "$out/info.txt" || exit 1
"$sculpt" bench kernels "$@" 2>&1 | tee "$out/kernels.md"
"$sculpt" bench stages --steps 8 2>&1 | tee "$out/stages.md"
"$sculpt" bench stages --steps 8 --json > "$out/stages.json" 2> "$out/stages.err"
