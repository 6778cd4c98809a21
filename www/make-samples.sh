#!/bin/sh
# Makes the visualizer's sample images with the built-in model, as
# samples.json lists them (its caption is the prompt, with its seed).
# Run from the repository root: sh www/make-samples.sh
set -eu
python3 - <<'PY' | while IFS='|' read -r file seed caption; do
import json
for s in json.load(open("www/samples/samples.json"))["samples"]:
    print(f'{s["file"]}|{s["seed"]}|{s["caption"]}')
PY
  cargo run -q -p sculpt-cli -- generate --cpu --steps 20 --seed "$seed" \
    --prompt "$caption" --out "www/samples/$file"
done
