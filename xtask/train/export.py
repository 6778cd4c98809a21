"""Exports for Sculpt.

  parity  a small randomly initialised model of every stage (reduced widths, the same structure)
          with fixed inputs and PyTorch's outputs, as one safetensors fixture for
          crates/sculpt-flux/tests/gpu_builtin_parity.rs
  ship    the trained f32 masters (target/train) as the files Sculpt loads: the transformer's
          f32 safetensors for the Rust GGUF Q8_0 packer, the AE as F16 and the text encoders as
          F32 safetensors, both tokenizers, a config.json, and reference outputs of the trained
          model for the parity test of the shipped files.
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

PARITY_FLUX = dict(in_channels=64, vec_in_dim=32, context_in_dim=48, hidden_size=64, mlp_ratio=2.0, num_heads=2,
                   double_blocks=1, single_blocks=2, axes_dim=[8, 12, 12], theta=10000.0, qkv_bias=True,
                   guidance_embed=False)
PARITY_AE = dict(in_channels=3, out_channels=3, ch=32, ch_mult=[1, 1, 1], num_res_blocks=1, z_channels=4,
                 scale_factor=1.7, shift_factor=0.1)
PARITY_CLIP = dict(vocab_size=64, hidden_size=64, intermediate_size=128, num_heads=2, num_layers=2, max_positions=77)
PARITY_T5 = dict(vocab_size=64, d_model=64, d_kv=32, num_heads=2, d_ff=96, num_layers=2,
                 relative_attention_num_buckets=32, relative_attention_max_distance=128)


def perturb(module, gen, scale=0.1):
    """Random init with the norms' and biases' parameters moved off their defaults too, so that
    a parameter read wrongly cannot hide behind a 1 or a 0."""
    with torch.no_grad():
        for name, p in module.named_parameters():
            if p.dim() == 1:
                p.add_(torch.randn(p.shape, generator=gen) * scale)


def f16_round(module):
    with torch.no_grad():
        for p in module.parameters():
            p.copy_(p.half().float())


def parity(out_path):
    torch.manual_seed(1234)
    gen = torch.Generator().manual_seed(1235)
    tensors = {}
    flux = M.Flux(PARITY_FLUX)
    ae = M.AutoEncoder(PARITY_AE)
    clip = M.ClipText(PARITY_CLIP)
    t5 = M.T5Encoder(PARITY_T5)
    for prefix, m in [("flux.", flux), ("ae.", ae), ("clip.", clip), ("t5.", t5)]:
        perturb(m, gen)
        f16_round(m)  # weights are stored as F16; PyTorch computes in f32 with the same values
        m.eval()
        for k, v in m.state_dict().items():
            tensors[prefix + k] = v.half().contiguous()
    with torch.no_grad():
        # Transformer: 4x4 latent patches (16 image tokens), 8 text tokens, t = 0.7.
        img = torch.randn(1, 16, 64, generator=gen)
        txt = torch.randn(1, 8, 48, generator=gen)
        y = torch.randn(1, 32, generator=gen)
        out = flux(img, M.image_ids(1, 4, 4), txt, torch.zeros(1, 8, 3), torch.tensor([0.7]), y)
        tensors.update({"in.flux.img": img[0], "in.flux.txt": txt[0], "in.flux.y": y[0], "out.flux": out[0]})
        # Autoencoder: a 3x32x32 image in [-1, 1]; encode (mean, shifted, scaled) and decode.
        image = torch.rand(1, 3, 32, 32, generator=gen) * 2 - 1
        latent = ae.encode(image)
        decoded = ae.decode(latent)
        tensors.update({"in.ae.image": image[0], "out.ae.latent": latent[0], "out.ae.decoded": decoded[0]})
        # CLIP: 77 ids, the highest id (end of text) first at position 6, padding after it.
        ids = torch.randint(1, 62, (1, 77), generator=gen)
        ids[0, 0] = 62
        ids[0, 6:] = 63
        hidden, pooled = clip(ids)
        tensors.update({"in.clip.ids": ids[0].float(), "out.clip.hidden": hidden[0], "out.clip.pooled": pooled[0]})
        # T5: 32 ids, 11 prompt ids, </s> (1), then <pad> (0).
        ids = torch.zeros(1, 32, dtype=torch.long)
        ids[0, :11] = torch.randint(2, 64, (11,), generator=gen)
        ids[0, 11] = 1
        hidden = t5(ids)
        tensors.update({"in.t5.ids": ids[0].float(), "out.t5.hidden": hidden[0]})
    tensors = {k: v.contiguous() for k, v in tensors.items()}
    save_file(tensors, out_path, metadata={"configs": json.dumps(
        {"transformer": PARITY_FLUX, "autoencoder": PARITY_AE, "clip": PARITY_CLIP, "t5": PARITY_T5})})
    print(out_path, os.path.getsize(out_path), "bytes")


def ship(train_dir, out_dir):
    """Writes the non-transformer shipped files and the transformer's f32 master for packing."""
    sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
    import train as T

    os.makedirs(out_dir, exist_ok=True)
    ae_cfg = json.load(open(os.path.join(train_dir, "ae-config.json")))
    # The decoder fine-tuned beside the transformer stage, if it ran (same encoder, same latents).
    finetuned = os.path.join(train_dir, "ae-finetuned.safetensors")
    ae_sd = load_file(finetuned if os.path.exists(finetuned) else os.path.join(train_dir, "ae.safetensors"))
    # Only the parts Sculpt runs; encoder and decoder both ship (image-to-image needs the encoder).
    # F32: Sculpt's loaders take convolution weights as f32 values (no f16 conversion on the host yet).
    save_file({k: v.float().contiguous() for k, v in ae_sd.items()}, os.path.join(out_dir, "autoencoder.safetensors"))
    for name in ("clip", "t5"):
        sd = load_file(os.path.join(train_dir, f"{name}.safetensors"))
        save_file({k: v.float().contiguous() for k, v in sd.items()}, os.path.join(out_dir, f"{name}.safetensors"))
        shutil.copy(os.path.join(train_dir, f"{name}-tokenizer.json"), os.path.join(out_dir, f"{name}-tokenizer.json"))
    clip_ids, t5_ids, clip_cfg, t5_cfg = T.load_text(argparse.Namespace(out=train_dir))
    flux_cfg = T.flux_config(train_dir)
    config = {"transformer": flux_cfg, "autoencoder": ae_cfg, "clip": clip_cfg, "t5": t5_cfg,
              "t5_length": T.T5_LENGTH, "cfg_scale": T.DEFAULT_CFG}
    with open(os.path.join(train_dir, "ship-config.json"), "w") as f:
        json.dump(config, f, indent=1)
    # Reference outputs of the trained f32 model on one prompt, for the Rust check of the shipped files.
    flux = M.Flux(flux_cfg)
    flux.load_state_dict(load_file(os.path.join(train_dir, "flux.safetensors")))
    ae = M.AutoEncoder(ae_cfg)
    ae.load_state_dict(ae_sd)
    clip, t5 = M.ClipText(clip_cfg), M.T5Encoder(t5_cfg)
    clip.load_state_dict(load_file(os.path.join(train_dir, "clip.safetensors")))
    t5.load_state_dict(load_file(os.path.join(train_dir, "t5.safetensors")))
    for m in (flux, ae, clip, t5):
        m.eval()
    prompt = "a red circle on a blue background"
    gen = torch.Generator().manual_seed(7)
    with torch.no_grad():
        cids = torch.tensor([clip_ids(prompt, 77)])
        tids = torch.tensor([t5_ids(prompt, T.T5_LENGTH)])
        _, pooled = clip(cids)
        txt = t5(tids)
        rows, cols = T.token_grid(ae_cfg)
        noise = torch.randn(1, rows * cols, flux.cfg["in_channels"], generator=gen)
        v = flux(noise, M.image_ids(1, rows, cols), txt, torch.zeros(1, T.T5_LENGTH, 3), torch.tensor([1.0]), pooled)
        lat = M.unpack(noise - v, 2 * rows, 2 * cols)  # one Euler step from t = 1 to 0
        image = ae.decode(lat)
        enc = ae.encode(image.clamp(-1, 1))
    # Sample grids of exactly the shipped weights (EMA transformer and text encoders, final decoder).
    from PIL import Image

    text = T.TextModels(clip_cfg, t5_cfg)
    text.clip, text.t5 = clip, t5
    for steps in (20, 4):
        lat = T.sample(flux, text, clip_ids, t5_ids, T.SAMPLE_PROMPTS, steps, T.SEED + 99, T.DEFAULT_CFG,
                       *T.token_grid(ae_cfg))
        with torch.no_grad():
            imgs = T.to_uint8(ae.decode(lat))
        Image.fromarray(T.grid(list(imgs), 8)).save(os.path.join(train_dir, f"shipped-samples-{steps}steps.png"))
    ref = {"prompt_clip_ids": cids[0].float(), "prompt_t5_ids": tids[0].float(), "clip_pooled": pooled[0],
           "t5_hidden": txt[0], "noise": noise[0], "velocity": v[0], "decoded": image[0],
           "encoded": enc[0]}
    save_file({k: v.contiguous() for k, v in ref.items()}, os.path.join(train_dir, "reference.safetensors"),
              metadata={"prompt": prompt})
    print("ship: wrote", out_dir, "and", os.path.join(train_dir, "reference.safetensors"))


def manifest(train_dir, out_dir):
    """models/<name>/manifest.json: the files with their sizes and hashes, and every stage's config
    under the Rust structs' field names."""
    import hashlib

    cfg = json.load(open(os.path.join(train_dir, "ship-config.json")))
    files = {}
    for key, name in [("transformer", "transformer.gguf"), ("autoencoder", "autoencoder.safetensors"),
                      ("clip", "clip.safetensors"), ("t5", "t5.safetensors"),
                      ("clip_tokenizer", "clip-tokenizer.json"), ("t5_tokenizer", "t5-tokenizer.json")]:
        data = open(os.path.join(out_dir, name), "rb").read()
        files[key] = {"path": name, "bytes": len(data), "sha256": hashlib.sha256(data).hexdigest()}
    # The preview decoder is fitted to the shipped autoencoder afterwards
    # (`sculpt-eval --fit-preview models/sculpt-tiny/preview.safetensors`); refit it when the
    # autoencoder changes.
    preview = os.path.join(out_dir, "preview.safetensors")
    if os.path.exists(preview):
        data = open(preview, "rb").read()
        files["preview"] = {"path": "preview.safetensors", "bytes": len(data),
                            "sha256": hashlib.sha256(data).hexdigest()}
    m = {"name": "sculpt-tiny", "version": 1, "resolution": [64, 64], "default_steps": 20, "schedule_shift": None,
         "cfg_scale": cfg["cfg_scale"], "t5_length": cfg["t5_length"], "files": files,
         "config": {k: cfg[k] for k in ("transformer", "autoencoder", "clip", "t5")}}
    with open(os.path.join(out_dir, "manifest.json"), "w") as f:
        json.dump(m, f, indent=2)
        f.write("\n")
    total = sum(v["bytes"] for v in files.values()) + os.path.getsize(os.path.join(out_dir, "manifest.json"))
    print(f"manifest: {len(files)} files, {total} bytes in all")
    assert total <= 20_000_000, "the shipped model must stay within 20 MB"


if __name__ == "__main__":
    p = argparse.ArgumentParser()
    p.add_argument("what", choices=["parity", "ship", "manifest"])
    p.add_argument("--out")
    p.add_argument("--train-dir", default="target/train")
    a = p.parse_args()
    if a.what == "parity":
        parity(a.out or "crates/sculpt-flux/tests/data/builtin-parity.safetensors")
    elif a.what == "ship":
        ship(a.train_dir, a.out or "models/sculpt-tiny")
    else:
        manifest(a.train_dir, a.out or "models/sculpt-tiny")
