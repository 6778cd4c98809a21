"""Fills a training folder from the shipped model, so that a later sitting can continue from it
when the training folder that produced it is gone:

  python train.py data --out RUN            # the same seeded images, captions and tokenizers
  python from_shipped.py --out RUN          # this: weights, configs and latents
  python train.py flux --out RUN --init-weights --steps N ...

The autoencoder, the text encoders and their tokenizers come back exactly (f32 and JSON). The transformer ships as
Q8_0 GGUF, so its weights come back with Q8_0's rounding (the sitting's first updates absorb it).
The latents are the shipped encoder's means, shifted and scaled as the manifest says: the encoder
never changed after the autoencoder stage, so they are the latents the transformer learned.
"""

import argparse
import json
import os
import shutil
import sys

import numpy as np
import torch
from safetensors.torch import load_file, save_file

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import models as M  # noqa: E402
import train as T  # noqa: E402


def dequantized_transformer(gguf_path, like):
    """The GGUF's tensors as f32, shaped like the model's own state dict `like`."""
    from gguf import GGUFReader
    from gguf.quants import dequantize

    out = {}
    for tensor in GGUFReader(gguf_path).tensors:
        if tensor.name not in like:
            raise SystemExit(f"{gguf_path}: tensor {tensor.name} is not a parameter of the transformer")
        # The packer wrote each tensor's values in row-major order of its PyTorch shape.
        values = np.asarray(dequantize(tensor.data, tensor.tensor_type), dtype=np.float32).reshape(-1)
        shape = like[tensor.name].shape
        if values.size != like[tensor.name].numel():
            raise SystemExit(f"{gguf_path}: {tensor.name} has {values.size} values, the model wants {tuple(shape)}")
        out[tensor.name] = torch.from_numpy(values.copy()).reshape(shape)
    missing = sorted(set(like) - set(out))
    if missing:
        raise SystemExit(f"{gguf_path}: no tensor for {', '.join(missing)}")
    return out


def main():
    p = argparse.ArgumentParser()
    p.add_argument("--model", default="models/sculpt-tiny")
    p.add_argument("--out", required=True, help="a training folder `train.py data` has filled")
    p.add_argument("--threads", type=int, default=2)
    a = p.parse_args()
    torch.set_num_threads(a.threads)
    manifest = json.load(open(os.path.join(a.model, "manifest.json")))
    # The shipped tokenizers, not the data stage's: a rerun of `tokenizers`' trainers on the same
    # captions learned the same tokens under other ids (equally frequent merges in another order),
    # and the text encoders' embeddings belong to the shipped ids.
    for name in ("clip-tokenizer.json", "t5-tokenizer.json"):
        shutil.copy(os.path.join(a.model, name), os.path.join(a.out, name))

    ae_cfg = manifest["config"]["autoencoder"]
    ae = M.AutoEncoder(ae_cfg)
    ae_sd = load_file(os.path.join(a.model, manifest["files"]["autoencoder"]["path"]))
    ae.load_state_dict(ae_sd)
    ae.eval()
    save_file(ae_sd, os.path.join(a.out, "ae.safetensors"))
    save_file(ae_sd, os.path.join(a.out, "ae-finetuned.safetensors"))
    with open(os.path.join(a.out, "ae-config.json"), "w") as f:
        json.dump(ae_cfg, f)
    for name in ("clip", "t5"):
        sd = load_file(os.path.join(a.model, manifest["files"][name]["path"]))
        save_file(sd, os.path.join(a.out, f"{name}.safetensors"))

    # train.py's FLUX_CONFIG, or it grown by sittings that appended blocks (--grow-single).
    flux_cfg = manifest["config"]["transformer"]
    blocks = ("double_blocks", "single_blocks")
    if {k: v for k, v in flux_cfg.items() if k not in blocks} != \
            {k: v for k, v in json.loads(json.dumps(T.FLUX_CONFIG)).items() if k not in blocks}:
        raise SystemExit("the shipped transformer's config is not train.py's FLUX_CONFIG (block counts aside)")
    with open(os.path.join(a.out, "flux-config.json"), "w") as f:
        json.dump(flux_cfg, f)
    flux = M.Flux(flux_cfg)
    weights = dequantized_transformer(os.path.join(a.model, manifest["files"]["transformer"]["path"]),
                                      flux.state_dict())
    flux.load_state_dict(weights)
    save_file(M.state_dict_f32(flux), os.path.join(a.out, "flux.safetensors"))

    images = np.load(os.path.join(a.out, "images.npy"))
    means = T.encoder_means(ae, images)
    latents = (means - ae_cfg["shift_factor"]) * ae_cfg["scale_factor"]
    np.save(os.path.join(a.out, "latents.npy"), latents.numpy().astype(np.float32))
    T.log(f"from_shipped: {len(weights)} transformer tensors, {len(latents)} latents "
          f"(mean {latents.mean().item():.3f}, std {latents.std().item():.3f}) in {a.out}")


if __name__ == "__main__":
    main()
