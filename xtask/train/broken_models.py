"""Deliberately broken copies of a shipped model, to check that the eval's CI floors fail them.

- bgr: the decoder's last convolution with its red and blue outputs swapped (a channel-order
  bug): every colour comes out wrong, shapes and places stay;
- random: the text encoders and the autoencoder re-drawn at random (each tensor normal with its
  trained mean and std), the transformer kept: what a model loaded with untrained weights gives.

Usage: python broken_models.py MODEL_DIR OUT_DIR
then:  cargo xtask eval-tiny --quick --model OUT_DIR/bgr/manifest.json   (must fail)
"""

import hashlib
import json
import os
import shutil
import sys

import numpy as np
from safetensors.numpy import load_file, save_file


def write_model(src, dst, edit):
    os.makedirs(dst, exist_ok=True)
    manifest = json.load(open(os.path.join(src, "manifest.json")))
    for role, entry in manifest["files"].items():
        path = os.path.join(dst, entry["path"])
        tensors = edit(role, os.path.join(src, entry["path"]))
        if tensors is None:
            shutil.copyfile(os.path.join(src, entry["path"]), path)
        else:
            save_file(tensors, path)
        data = open(path, "rb").read()
        entry["bytes"] = len(data)
        entry["sha256"] = hashlib.sha256(data).hexdigest()
    manifest["name"] += "-" + os.path.basename(dst)
    with open(os.path.join(dst, "manifest.json"), "w") as f:
        json.dump(manifest, f, indent=2)


def bgr(role, path):
    if role != "autoencoder":
        return None
    t = load_file(path)
    for name in ("decoder.conv_out.weight", "decoder.conv_out.bias"):
        t[name] = t[name][[2, 1, 0]].copy()
    return t


def random(role, path):
    if role not in ("autoencoder", "clip", "t5"):
        return None
    rng = np.random.default_rng(0)
    t = load_file(path)
    return {k: (rng.standard_normal(v.shape) * v.std() + v.mean()).astype(v.dtype)
            for k, v in t.items()}


if __name__ == "__main__":
    model, out = sys.argv[1], sys.argv[2]
    write_model(model, os.path.join(out, "bgr"), bgr)
    write_model(model, os.path.join(out, "random"), random)
    print("wrote", os.path.join(out, "bgr"), "and", os.path.join(out, "random"))
