"""sculpt-tiny's training recipe (CPU, PyTorch), in stages:

  data   build the data set (procedural scenes + Noto Color Emoji) and train both tokenizers
  ae     train the autoencoder, then encode every image once and set shift/scale factors
  flux   train the rectified-flow transformer jointly with the CLIP and T5 text encoders
  (export.py then writes the BFL-named safetensors the Rust side quantizes and ships;
   from_shipped.py goes the other way, for a sitting whose training folder is gone)

Every stage is seeded; `python train.py all` runs them in order. Outputs go to --out
(target/train): checkpoints, loss logs, loss-curve PNGs and sample grids.
"""

import argparse
import json
import math
import os
import random
import sys
import time

import numpy as np
import torch
import torch.nn.functional as F
from PIL import Image, ImageDraw
from safetensors.torch import load_file, save_file

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import data as D  # noqa: E402
import models as M  # noqa: E402
import tokenize_train as TT  # noqa: E402

SEED = 20261128
T5_LENGTH = 32
CLIP_TRAIN_LENGTH = 28  # causal attention: pooled output is the same as at 77 positions
# Classifier-free guidance scale the samples use and the manifest records. 2.0, not 3.0, since the
# eighth sitting: at 3.0 its seeds drew near-identical images (diversity 26/28 pairs, 28/28 at 2.0).
DEFAULT_CFG = 2.0

AE_CONFIG = dict(in_channels=3, out_channels=3, ch=32, ch_mult=[1, 2, 2, 2], num_res_blocks=1,
                 z_channels=16, scale_factor=1.0, shift_factor=0.0)
FLUX_CONFIG = dict(in_channels=64, vec_in_dim=128, context_in_dim=128, hidden_size=192, mlp_ratio=4.0,
                   num_heads=3, double_blocks=2, single_blocks=3, axes_dim=[8, 28, 28], theta=10000.0,
                   qkv_bias=True, guidance_embed=False)


def token_grid(ae_cfg):
    """(rows, cols) of the transformer's image tokens for one of the data set's images: the latent
    is 2^(levels - 1) times smaller than the image (8x for FLUX), packed in 2x2 patches."""
    side = D.SIZE // 2 ** (len(ae_cfg["ch_mult"]) - 1) // 2
    return side, side


def flux_config(out):
    """The transformer's config of the training folder `out`: FLUX_CONFIG unless a sitting grew it
    (--grow-single) or from_shipped.py wrote the shipped one (flux-config.json)."""
    path = os.path.join(out, "flux-config.json")
    return json.load(open(path)) if os.path.exists(path) else dict(FLUX_CONFIG)


CLIP_CONFIG = dict(vocab_size=None, hidden_size=128, intermediate_size=512, num_heads=4, num_layers=2,
                   max_positions=77)
T5_CONFIG = dict(vocab_size=None, d_model=128, d_kv=32, num_heads=4, d_ff=256, num_layers=2,
                 relative_attention_num_buckets=32, relative_attention_max_distance=128)

SAMPLE_PROMPTS = [
    "a red circle on a blue background", "small yellow star, bottom right, on black",
    "a large green square in the top left on a white background", "blue triangle at the top, on yellow",
    "a purple star in the centre on an orange background", "large white circle, left, on red",
    "a pink square, small, bottom left, on green", "cyan triangle in the top right (large), on black",
    "cat face", "red apple", "dragon", "fire", "an orange fire dragon", "rocket", "smiling face with sunglasses",
    "",
]


def log(msg):
    print(time.strftime("%H:%M:%S"), msg, flush=True)


def seed_all(seed):
    random.seed(seed)
    np.random.seed(seed)
    torch.manual_seed(seed)


def to_tensor(images):
    return torch.from_numpy(images).permute(0, 3, 1, 2).float() / 127.5 - 1.0


def to_uint8(x):
    return ((x.clamp(-1, 1) + 1) * 127.5).round().byte().permute(0, 2, 3, 1).numpy()


def grid(images, cols):
    rows = math.ceil(len(images) / cols)
    h, w = images[0].shape[:2]
    out = np.full((rows * h, cols * w, 3), 255, np.uint8)
    for i, im in enumerate(images):
        out[(i // cols) * h:(i // cols + 1) * h, (i % cols) * w:(i % cols + 1) * w] = im
    return out


def loss_curve_png(path, series, title):
    """A plain loss curve (log y) drawn with PIL: series = {name: [(step, loss)]}."""
    W, H, pad = 640, 360, 48
    img = Image.new("RGB", (W, H), "white")
    d = ImageDraw.Draw(img)
    pts_all = [p for s in series.values() for p in s if p[1] > 0]
    if len(pts_all) < 2:
        img.save(path)
        return
    xmax = max(p[0] for p in pts_all) or 1
    ylo, yhi = math.log10(min(p[1] for p in pts_all)), math.log10(max(p[1] for p in pts_all))
    yhi = yhi if yhi > ylo else ylo + 1
    def xy(s, l):
        return (pad + (W - 2 * pad) * s / xmax, H - pad - (H - 2 * pad) * (math.log10(l) - ylo) / (yhi - ylo))
    d.rectangle([pad, pad, W - pad, H - pad], outline="black")
    for k in range(5):
        yv = ylo + (yhi - ylo) * k / 4
        y = H - pad - (H - 2 * pad) * k / 4
        d.text((2, y - 6), f"{10 ** yv:.3g}", fill="black")
    d.text((W - pad - 40, H - pad + 8), f"step {xmax}", fill="black")
    d.text((pad, 12), title, fill="black")
    colours = ["#1f77b4", "#d62728", "#2ca02c", "#9467bd"]
    for (name, s), c in zip(series.items(), colours):
        s = [p for p in s if p[1] > 0]
        if len(s) > 1:
            d.line([xy(*p) for p in s], fill=c, width=2)
        d.text((W - pad - 150, pad + 6 + 14 * list(series).index(name)), name, fill=c)
    img.save(path)


def smooth(points, k=20):
    out = []
    for i in range(len(points)):
        window = points[max(0, i - k + 1):i + 1]
        out.append((points[i][0], sum(p[1] for p in window) / len(window)))
    return out


# ---------------------------------------------------------------- stage: data


def stage_data(args):
    seed_all(SEED)
    t0 = time.time()
    images, attrs = D.build_dataset(args.scenes, SEED, emoji_variants=2)
    np.save(os.path.join(args.out, "images.npy"), images)
    with open(os.path.join(args.out, "attrs.json"), "w") as f:
        json.dump(attrs, f)
    captions = D.all_captions(attrs, SEED + 1, per_item=3)
    captions += [a["name"] for a in attrs if a["kind"] == "emoji"]
    clip_tok = TT.train_clip(captions, args.clip_vocab)
    t5_tok = TT.train_t5(captions, args.t5_vocab)
    TT.save(clip_tok, os.path.join(args.out, "clip-tokenizer.json"))
    TT.save(t5_tok, os.path.join(args.out, "t5-tokenizer.json"))
    Image.fromarray(grid(list(images[:32]) + list(images[-64::2]), 16)).save(os.path.join(args.out, "data-preview.png"))
    log(f"data: {len(images)} images ({args.scenes} scenes), clip vocab {clip_tok.get_vocab_size()}, "
        f"t5 vocab {t5_tok.get_vocab_size()}, {time.time() - t0:.0f}s")


# ---------------------------------------------------------------- stage: autoencoder


@torch.no_grad()
def encoder_means(ae, images):
    """Every image encoded once: the Gaussian's mean, as Sculpt's encoder gives it."""
    return torch.cat([ae.moments(to_tensor(images[i:i + 256]))[0] for i in range(0, len(images), 256)])


def stage_ae(args):
    seed_all(SEED + 10)
    torch.set_num_threads(args.threads)
    images = np.load(os.path.join(args.out, "images.npy"))
    base_cfg = dict(AE_CONFIG, ch_mult=[int(c) for c in args.ae_ch_mult.split(",")])
    ae = M.AutoEncoder(base_cfg)
    factor = 2 ** (len(base_cfg["ch_mult"]) - 1)
    opt = torch.optim.AdamW(ae.parameters(), lr=args.ae_lr, weight_decay=0.0)
    gen = torch.Generator().manual_seed(SEED + 11)
    losses, t0 = [], time.time()
    for step in range(1, args.ae_steps + 1):
        lr = args.ae_lr * min(1.0, step / 50) * (0.1 + 0.9 * 0.5 * (1 + math.cos(math.pi * step / args.ae_steps)))
        for g in opt.param_groups:
            g["lr"] = lr
        idx = torch.randint(0, len(images), (args.ae_batch,), generator=gen)
        x = to_tensor(images[idx.numpy()])
        if step <= args.ae_steps * args.ae_crop_frac:
            # Most steps see 32x32 crops (4x cheaper; the network is convolutional), aligned to
            # the latent grid (8 pixels for FLUX's three downsamplings); the last steps see whole images.
            oy, ox = (int(v) * factor for v in torch.randint(0, 32 // factor + 1, (2,), generator=gen))
            x = x[:, :, oy:oy + 32, ox:ox + 32]
        mean, logvar = ae.moments(x)
        logvar = logvar.clamp(-30, 20)
        z = mean + torch.randn(mean.shape, generator=gen) * torch.exp(0.5 * logvar)
        rec = ae.decoder(z)
        mse = F.mse_loss(rec, x)
        l1 = (rec - x).abs().mean()
        kl = 0.5 * (mean.pow(2) + logvar.exp() - 1 - logvar).mean()
        loss = mse + 0.5 * l1 + args.ae_kl * kl
        opt.zero_grad(set_to_none=True)
        loss.backward()
        torch.nn.utils.clip_grad_norm_(ae.parameters(), 1.0)
        opt.step()
        losses.append((step, mse.item(), l1.item(), kl.item()))
        if step % 25 == 0 or step == args.ae_steps:
            el = time.time() - t0
            log(f"ae step {step}/{args.ae_steps} mse {np.mean([l[1] for l in losses[-25:]]):.5f} "
                f"kl {kl.item():.3f} {step * args.ae_batch / el:.1f} img/s")
            loss_curve_png(os.path.join(args.out, "ae-loss.png"),
                           {"mse": smooth([(s, m) for s, m, _, _ in losses]),
                            "l1": smooth([(s, l) for s, _, l, _ in losses])}, "autoencoder")
    with open(os.path.join(args.out, "ae-loss.json"), "w") as f:
        json.dump({"losses": losses, "seconds": time.time() - t0}, f)
    ae.eval()
    means = encoder_means(ae, images)
    shift = means.mean().item()
    scale = 1.0 / (means - shift).std().item()
    cfg = dict(base_cfg, shift_factor=shift, scale_factor=scale)
    ae.cfg = cfg
    np.save(os.path.join(args.out, "latents.npy"), ((means - shift) * scale).numpy().astype(np.float32))
    save_file(M.state_dict_f32(ae), os.path.join(args.out, "ae.safetensors"))
    with open(os.path.join(args.out, "ae-config.json"), "w") as f:
        json.dump(cfg, f)
    with torch.no_grad():
        sel = np.linspace(0, len(images) - 1, 16).astype(int)
        x = to_tensor(images[sel])
        rec = ae.decode(ae.encode(x))
        mse = F.mse_loss(rec, x).item()
    Image.fromarray(grid(list(images[sel]) + list(to_uint8(rec)), 16)).save(os.path.join(args.out, "ae-recon.png"))
    log(f"ae done: shift {shift:.4f} scale {scale:.4f}, recon mse {mse:.5f}, {time.time() - t0:.0f}s")


# ---------------------------------------------------------------- stage: decoder fine-tuning


def gradient_difference(rec, x):
    """Mean |difference| between the images' horizontal and vertical pixel differences: MSE and L1
    alone let a decoder blur edges (a blurred square reads as a circle, a star as a blob); this
    term is only zero when every edge is as sharp as the original's."""
    dx = lambda t: t[..., :, 1:] - t[..., :, :-1]
    dy = lambda t: t[..., 1:, :] - t[..., :-1, :]
    return (dx(rec) - dx(x)).abs().mean() + (dy(rec) - dy(x)).abs().mean()


def focus_indices(attrs, spec):
    """Indices of the scenes holding a shape `spec` names: comma-separated SHAPE or SHAPE:SIZE
    (e.g. "star,square:small"), for sittings that over-sample what the model gets wrong."""
    wanted = [tuple(item.split(":")) for item in spec.split(",")]
    for w in wanted:
        if w[0] not in D.SHAPES or (len(w) == 2 and w[1] not in D.SIZES) or len(w) > 2:
            raise SystemExit(f"focus {spec!r}: {':'.join(w)} is not SHAPE or SHAPE:SIZE "
                             f"(shapes {D.SHAPES}, sizes {list(D.SIZES)})")
    def matches(s):
        return any(s[0] == w[0] and (len(w) == 1 or s[3] == w[1]) for w in wanted)
    idx = [i for i, a in enumerate(attrs) if a["kind"] == "scene" and any(matches(s) for s in a["shapes"])]
    if not idx:
        raise SystemExit(f"focus {spec!r}: no scene in the data set has such a shape")
    return torch.tensor(idx)


def foreground_token_weights(images, extra, patch=16, threshold=48, min_share=0.02):
    """Per image, one loss weight per transformer token (16×16 pixels at 64×64): 1 + `extra` where
    the token holds some of the drawing (pixels farther than `threshold` levels in a channel from
    the median colour of the 2-pixel border, as the checker finds the background), 1 elsewhere.
    A small shape covers one or two of the 16 tokens, so plain MSE spends most of its weight on
    flat background; this moves it onto the corners and points the sampler loses."""
    n, h, w, _ = images.shape
    out = np.empty((n, (h // patch) * (w // patch)), np.float32)
    for lo in range(0, n, 1024):
        im = images[lo:lo + 1024].astype(np.int16)
        border = np.concatenate([im[:, :2].reshape(len(im), -1, 3), im[:, -2:].reshape(len(im), -1, 3),
                                 im[:, :, :2].reshape(len(im), -1, 3), im[:, :, -2:].reshape(len(im), -1, 3)], 1)
        bg = np.median(border, axis=1)
        fg = (np.abs(im - bg[:, None, None, :]).max(-1) > threshold).astype(np.float32)
        share = fg.reshape(len(im), h // patch, patch, w // patch, patch).mean((2, 4)).reshape(len(im), -1)
        out[lo:lo + 1024] = 1.0 + extra * (share >= min_share)
    return torch.from_numpy(out)


class Denoiser:
    """The trained transformer finishing generations from training latents noised to a time t, on
    the sampler's evenly spaced 20-step grid with the same guidance: the latents the decoder meets
    at sampling time (blunter points, softer corners than the encoder's), each paired with the
    image it should decode to. t stays low enough that the shape and its place are the image's."""

    GRID_STEPS = 20

    def __init__(self, args, ae_cfg):
        self.clip_ids, self.t5_ids, clip_cfg, t5_cfg = load_text(args)
        self.flux = M.Flux(flux_config(args.out))
        self.flux.load_state_dict(load_file(os.path.join(args.out, "flux.safetensors")))
        self.text = TextModels(clip_cfg, t5_cfg)
        self.text.clip.load_state_dict(load_file(os.path.join(args.out, "clip.safetensors")))
        self.text.t5.load_state_dict(load_file(os.path.join(args.out, "t5.safetensors")))
        self.flux.eval(), self.text.eval()
        self.ae_cfg, self.cfg_scale = ae_cfg, args.cfg_scale
        lo, hi = (float(v) for v in args.dec_denoise_from.split(","))
        grid = torch.linspace(1, 0, self.GRID_STEPS + 1)
        self.grid = grid
        self.starts = [k for k in range(self.GRID_STEPS) if lo - 1e-6 <= grid[k] <= hi + 1e-6]
        if not self.starts:
            raise SystemExit(f"--dec-denoise-from {args.dec_denoise_from}: no step of the "
                             f"{self.GRID_STEPS}-step grid starts in it")

    @torch.no_grad()
    def __call__(self, means, prompts, gen):
        """Encoder means (the autoencoder's units) → the transformer's denoised latents, same units."""
        k = self.starts[torch.randint(0, len(self.starts), (1,), generator=gen).item()]
        h, w = means.shape[-2:]
        x0 = M.pack((means - self.ae_cfg["shift_factor"]) * self.ae_cfg["scale_factor"])
        t0 = self.grid[k]
        x = (1 - t0) * x0 + t0 * torch.randn(x0.shape, generator=gen)
        x = euler_cfg(self.flux, self.text, self.clip_ids, self.t5_ids, prompts, x, self.grid[k:], self.cfg_scale,
                      h // 2, w // 2)
        return M.unpack(x, h, w) / self.ae_cfg["scale_factor"] + self.ae_cfg["shift_factor"]


def stage_decoder(args):
    """Fine-tunes the decoder alone on whole images with the encoder frozen, so that the latent
    space the transformer learns (latents.npy, shift and scale) stays exactly the same. Runs
    beside the transformer stage, one thread each (see `all`)."""
    seed_all(SEED + 30)
    torch.set_num_threads(args.threads)
    images = np.load(os.path.join(args.out, "images.npy"))
    cfg = json.load(open(os.path.join(args.out, "ae-config.json")))
    ae = M.AutoEncoder(cfg)
    finetuned = os.path.join(args.out, "ae-finetuned.safetensors")
    start = finetuned if args.dec_resume and os.path.exists(finetuned) else os.path.join(args.out, "ae.safetensors")
    log(f"decoder fine-tuning from {start}")
    ae.load_state_dict(load_file(start))
    ae.encoder.eval()
    for p in ae.encoder.parameters():
        p.requires_grad_(False)
    opt = torch.optim.AdamW(ae.decoder.parameters(), lr=args.dec_lr, weight_decay=0.0)
    gen = torch.Generator().manual_seed(SEED + 31)
    # A later sitting can draw a share of each batch from one kind of scene the decoder renders
    # badly (small stars: their encoder latents tell them from circles, the decoder draws blobs).
    focus, n_focus = None, 0
    if args.dec_focus:
        with open(os.path.join(args.out, "attrs.json")) as f:
            focus = focus_indices(json.load(f), args.dec_focus)
        n_focus = round(args.ae_batch * args.dec_focus_share)
        log(f"{n_focus} of every {args.ae_batch} images drawn from the {len(focus)} scenes with {args.dec_focus}")
    # A share of each batch decoded from the transformer's own latents (see Denoiser).
    denoiser, n_denoised = None, 0
    if args.dec_denoised:
        with open(os.path.join(args.out, "attrs.json")) as f:
            attrs = json.load(f)
        denoiser = Denoiser(args, cfg)
        n_denoised = round(args.ae_batch * args.dec_denoised)
        caption_rng = random.Random(SEED + 32)
        log(f"{n_denoised} of every {args.ae_batch} latents denoised by the transformer from t in "
            f"{args.dec_denoise_from} (grid starts {[round(float(denoiser.grid[k]), 2) for k in denoiser.starts]})")
    losses, t0 = [], time.time()
    for step in range(1, args.dec_steps + 1):
        lr = args.dec_lr * min(1.0, step / 20) * (0.05 + 0.95 * 0.5 * (1 + math.cos(math.pi * step / args.dec_steps)))
        for g in opt.param_groups:
            g["lr"] = lr
        idx = torch.randint(0, len(images), (args.ae_batch - n_focus,), generator=gen)
        if n_focus:
            idx = torch.cat([idx, focus[torch.randint(0, len(focus), (n_focus,), generator=gen)]])
        x = to_tensor(images[idx.numpy()])
        with torch.no_grad():
            mean, _ = ae.moments(x)
            mean_clean = mean
            # A little noise in the transformer's units: its samples are never exact latents.
            mean = mean + torch.randn(mean.shape, generator=gen) * (args.dec_noise / cfg["scale_factor"])
            if n_denoised:
                picked = idx[-n_denoised:].tolist()
                prompts = [D.caption(attrs[i], caption_rng) for i in picked]
                mean[-n_denoised:] = denoiser(mean_clean[-n_denoised:], prompts, gen)
        rec = ae.decoder(mean)
        mse = F.mse_loss(rec, x)
        loss = mse + 0.5 * (rec - x).abs().mean() + args.dec_edge * gradient_difference(rec, x)
        opt.zero_grad(set_to_none=True)
        loss.backward()
        torch.nn.utils.clip_grad_norm_(ae.decoder.parameters(), 1.0)
        opt.step()
        losses.append((step, mse.item()))
        if step % 25 == 0 or step == args.dec_steps:
            log(f"decoder step {step}/{args.dec_steps} mse {np.mean([l[1] for l in losses[-25:]]):.5f} "
                f"{step * args.ae_batch / (time.time() - t0):.1f} img/s")
        if step % 250 == 0 or step == args.dec_steps:
            save_file(M.state_dict_f32(ae), os.path.join(args.out, "ae-finetuned.safetensors"))
            with open(os.path.join(args.out, "decoder-loss.json"), "w") as f:
                json.dump({"losses": losses, "seconds": time.time() - t0, "step": step}, f)
    ae.eval()
    with torch.no_grad():
        sel = np.linspace(0, len(images) - 1, 16).astype(int)
        x = to_tensor(images[sel])
        rec = ae.decode(ae.encode(x))
    Image.fromarray(grid(list(images[sel]) + list(to_uint8(rec)), 16)).save(
        os.path.join(args.out, "ae-recon-finetuned.png"))
    log(f"decoder done: recon mse {F.mse_loss(rec, x).item():.5f}, {time.time() - t0:.0f}s")


# ---------------------------------------------------------------- stage: transformer + text encoders


class TextModels(torch.nn.Module):
    def __init__(self, clip_cfg, t5_cfg):
        super().__init__()
        self.clip = M.ClipText(clip_cfg)
        self.t5 = M.T5Encoder(t5_cfg)

    def forward(self, clip_ids, t5_ids):
        _, pooled = self.clip(clip_ids)
        return self.t5(t5_ids), pooled


def load_text(args):
    from tokenizers import Tokenizer

    clip_tok = Tokenizer.from_file(os.path.join(args.out, "clip-tokenizer.json"))
    t5_tok = Tokenizer.from_file(os.path.join(args.out, "t5-tokenizer.json"))
    clip_cfg = dict(CLIP_CONFIG, vocab_size=clip_tok.get_vocab_size())
    t5_cfg = dict(T5_CONFIG, vocab_size=t5_tok.get_vocab_size())
    return TT.ClipIds(clip_tok), TT.T5Ids(t5_tok), clip_cfg, t5_cfg


def encode_prompts(text, clip_ids, t5_ids, prompts):
    c = torch.tensor([clip_ids(p, CLIP_TRAIN_LENGTH) for p in prompts])
    t = torch.tensor([t5_ids(p, T5_LENGTH) for p in prompts])
    return text(c, t)


@torch.no_grad()
def sample(flux, text, clip_ids, t5_ids, prompts, steps, seed, cfg_scale, rows, cols):
    gen = torch.Generator().manual_seed(seed)
    x = torch.randn(len(prompts), rows * cols, flux.cfg["in_channels"], generator=gen)
    x = euler_cfg(flux, text, clip_ids, t5_ids, prompts, x, torch.linspace(1, 0, steps + 1), cfg_scale, rows, cols)
    return M.unpack(x, 2 * rows, 2 * cols)


@torch.no_grad()
def euler_cfg(flux, text, clip_ids, t5_ids, prompts, x, times, cfg_scale, rows, cols):
    """Euler steps of the packed latents `x` through `times` (falling), with true CFG against the
    empty prompt unless `cfg_scale` is None or 1: Sculpt's sampler, for samples and the decoder."""
    b = len(prompts)
    txt, y = encode_prompts(text, clip_ids, t5_ids, prompts)
    txt_u, y_u = encode_prompts(text, clip_ids, t5_ids, [""] * b)
    img_ids, txt_ids = M.image_ids(b, rows, cols), torch.zeros(b, T5_LENGTH, 3)
    for t_curr, t_next in zip(times[:-1], times[1:]):
        t = torch.full((b,), float(t_curr))
        v = flux(x, img_ids, txt, txt_ids, t, y)
        if cfg_scale and cfg_scale != 1.0:
            v_u = flux(x, img_ids, txt_u, txt_ids, t, y_u)
            v = v_u + cfg_scale * (v - v_u)
        x = x + (t_next - t_curr) * v
    return x


class Ema:
    def __init__(self, modules, decay):
        self.decay = decay
        self.params = [p for m in modules for p in m.parameters()]
        self.shadow = [p.detach().clone() for p in self.params]

    @torch.no_grad()
    def update(self, step):
        d = min(self.decay, (1 + step) / (10 + step))
        for s, p in zip(self.shadow, self.params):
            s.mul_(d).add_(p.detach(), alpha=1 - d)

    @torch.no_grad()
    def swap(self):
        for s, p in zip(self.shadow, self.params):
            tmp = p.detach().clone()
            p.copy_(s)
            s.copy_(tmp)


def write_samples(args, flux, text, ema, ae, clip_ids, t5_ids, tag):
    ema.swap()
    flux.eval(), text.eval()
    try:
        for steps in (20, 4):
            lat = sample(flux, text, clip_ids, t5_ids, SAMPLE_PROMPTS, steps, SEED + 99, args.cfg_scale,
                         *token_grid(ae.cfg))
            imgs = to_uint8(ae.decode(lat))
            Image.fromarray(grid(list(imgs), 8)).save(os.path.join(args.out, f"samples-{tag}-{steps}steps.png"))
    finally:
        ema.swap()
        flux.train(), text.train()


def save_flux(args, flux, text, ema, step, opt=None):
    ema.swap()
    save_file(M.state_dict_f32(flux), os.path.join(args.out, "flux.safetensors"))
    save_file(M.state_dict_f32(text.clip), os.path.join(args.out, "clip.safetensors"))
    save_file(M.state_dict_f32(text.t5), os.path.join(args.out, "t5.safetensors"))
    ema.swap()
    if opt is not None:
        torch.save({"step": step, "flux": flux.state_dict(), "text": text.state_dict(), "opt": opt.state_dict(),
                    "ema": ema.shadow, "rng": torch.get_rng_state()}, os.path.join(args.out, "flux-train-state.pt"))
    with open(os.path.join(args.out, "flux-step.json"), "w") as f:
        json.dump({"step": step}, f)


def stage_flux(args):
    seed_all(SEED + 20)
    torch.set_num_threads(args.threads)
    latents = torch.from_numpy(np.load(os.path.join(args.out, "latents.npy")))
    with open(os.path.join(args.out, "attrs.json")) as f:
        attrs = json.load(f)
    ae_cfg = json.load(open(os.path.join(args.out, "ae-config.json")))
    ae = M.AutoEncoder(ae_cfg)
    ae.load_state_dict(load_file(os.path.join(args.out, "ae.safetensors")))
    ae.eval()
    clip_ids, t5_ids, clip_cfg, t5_cfg = load_text(args)
    flux_cfg = flux_config(args.out)
    flux = M.Flux(flux_cfg)
    # adaLN-zero style start for the final layer keeps early predictions small.
    torch.nn.init.zeros_(flux.final_layer.linear.weight)
    torch.nn.init.zeros_(flux.final_layer.linear.bias)
    text = TextModels(clip_cfg, t5_cfg)
    state_path = os.path.join(args.out, "flux-train-state.pt")
    resuming = args.resume and os.path.exists(state_path)
    if args.grow_single and (resuming or not args.init_weights):
        raise SystemExit("--grow-single grows the weights --init-weights starts from: give --init-weights, "
                         "and no --resume of a saved train state")
    if args.init_weights and not resuming:
        # A sitting that starts from exported weights (from_shipped.py writes them from the shipped
        # model) rather than a train state: fresh optimiser moments, the EMA starting at the weights.
        flux.load_state_dict(load_file(os.path.join(args.out, "flux.safetensors")))
        text.clip.load_state_dict(load_file(os.path.join(args.out, "clip.safetensors")))
        text.t5.load_state_dict(load_file(os.path.join(args.out, "t5.safetensors")))
        log(f"initialised from {args.out}/flux.safetensors, clip.safetensors and t5.safetensors")
        if args.grow_single:
            flux = M.grow_single_blocks(flux, args.grow_single, torch.Generator().manual_seed(SEED + 23))
            flux_cfg = flux.cfg
            with open(os.path.join(args.out, "flux-config.json"), "w") as f:
                json.dump(flux_cfg, f)
            log(f"grown to {flux_cfg['single_blocks']} single-stream blocks, the new ones the identity at first")
    params = list(flux.parameters()) + list(text.parameters())
    opt = torch.optim.AdamW(params, lr=args.lr, weight_decay=0.01, betas=(0.9, 0.99))
    ema = Ema([flux, text], args.ema)
    start = 1
    if args.resume and os.path.exists(state_path):
        st = torch.load(state_path)
        flux.load_state_dict(st["flux"]), text.load_state_dict(st["text"]), opt.load_state_dict(st["opt"])
        ema.shadow = st["ema"]
        torch.set_rng_state(st["rng"])
        start = st["step"] + 1
        log(f"resumed at step {start}")
    rng = random.Random(SEED + 21 + start)
    gen = torch.Generator().manual_seed(SEED + 22 + start)
    n_params = {k: sum(p.numel() for p in m.parameters()) for k, m in
                [("flux", flux), ("clip", text.clip), ("t5", text.t5), ("ae", ae)]}
    log(f"parameters {n_params}, {len(latents)} latents")
    b = args.batch
    rows, cols = latents.shape[2] // 2, latents.shape[3] // 2
    img_ids, txt_ids = M.image_ids(b, rows, cols), torch.zeros(b, T5_LENGTH, 3)
    log_path = os.path.join(args.out, "flux-loss.jsonl")
    losses = []
    if start > 1 and os.path.exists(log_path):
        losses = [tuple(json.loads(l)) for l in open(log_path)][: start - 1]
    # Emoji are 12% of the images but half of what the concept eval asks for; a later sitting can
    # draw a fixed share of each batch from them (None keeps uniform draws, the original stream).
    emoji_idx = torch.tensor([i for i, a in enumerate(attrs) if a["kind"] == "emoji"])
    scene_idx = torch.tensor([i for i, a in enumerate(attrs) if a["kind"] != "emoji"])
    n_emoji = None if args.emoji_share is None else round(b * args.emoji_share)
    if n_emoji is not None:
        log(f"{n_emoji} of every {b} samples drawn from the {len(emoji_idx)} emoji images")
    # Likewise a share from the scenes with the shapes --focus names (small squares, stars).
    focus_idx, n_focus = None, 0
    if args.focus:
        focus_idx = focus_indices(attrs, args.focus)
        n_focus = round(b * args.focus_share)
        log(f"{n_focus} of every {b} samples drawn from the {len(focus_idx)} scenes with {args.focus}")
        if n_emoji is None:
            raise SystemExit("--focus needs --emoji-share (the rest of each batch is split by kind)")
    token_weights = None
    if args.fg_weight:
        token_weights = foreground_token_weights(np.load(os.path.join(args.out, "images.npy"), mmap_mode="r"),
                                                 args.fg_weight)
        log(f"loss weight 1 + {args.fg_weight} on tokens with foreground; mean weight {token_weights.mean():.2f}")
    t0, seen = time.time(), 0
    for step in range(start, args.steps + 1):
        lr = args.lr * min(1.0, step / args.warmup) * (
            0.1 + 0.9 * 0.5 * (1 + math.cos(math.pi * min(1.0, step / args.steps))))
        for g in opt.param_groups:
            g["lr"] = lr
        if n_emoji is None:
            idx = torch.randint(0, len(latents), (b,), generator=gen)
        else:
            parts = [emoji_idx[torch.randint(0, len(emoji_idx), (n_emoji,), generator=gen)]]
            if n_focus:
                parts.append(focus_idx[torch.randint(0, len(focus_idx), (n_focus,), generator=gen)])
            parts.append(scene_idx[torch.randint(0, len(scene_idx), (b - n_emoji - n_focus,), generator=gen)])
            idx = torch.cat(parts)
        prompts = ["" if rng.random() < args.drop else D.caption(attrs[i], rng) for i in idx.tolist()]
        x0 = M.pack(latents[idx])
        noise = torch.randn(x0.shape, generator=gen)
        t = torch.sigmoid(torch.randn(b, generator=gen))  # logit-normal(0, 1)
        xt = (1 - t[:, None, None]) * x0 + t[:, None, None] * noise
        txt, y = encode_prompts(text, clip_ids, t5_ids, prompts)
        v = flux(xt, img_ids, txt, txt_ids, t, y)
        if token_weights is None:
            loss = F.mse_loss(v, noise - x0)
        else:
            w = token_weights[idx][:, :, None]
            loss = (w * (v - (noise - x0)) ** 2).mean() / w.mean()
        opt.zero_grad(set_to_none=True)
        loss.backward()
        torch.nn.utils.clip_grad_norm_(params, 1.0)
        opt.step()
        ema.update(step)
        seen += b
        losses.append((step, loss.item()))
        with open(log_path, "a") as f:
            f.write(json.dumps([step, loss.item()]) + "\n")
        if step % 25 == 0:
            el = time.time() - t0
            log(f"flux step {step}/{args.steps} loss {np.mean([l[1] for l in losses[-25:]]):.4f} "
                f"lr {lr:.2e} {seen / el:.1f} samples/s")
        if step % args.sample_every == 0 or step == args.steps:
            loss_curve_png(os.path.join(args.out, "flux-loss.png"), {"loss": smooth(losses, 50)},
                           "rectified-flow loss (transformer + text encoders)")
            save_flux(args, flux, text, ema, step, opt)
            write_samples(args, flux, text, ema, ae, clip_ids, t5_ids, "latest")
            log(f"samples and checkpoint at step {step}")
    loss_curve_png(os.path.join(args.out, "flux-loss.png"), {"loss": smooth(losses, 50)},
                   "rectified-flow loss (transformer + text encoders)")
    save_flux(args, flux, text, ema, args.steps, opt)
    write_samples(args, flux, text, ema, ae, clip_ids, t5_ids, "final")
    with open(os.path.join(args.out, "flux-done.json"), "w") as f:
        json.dump({"steps": args.steps, "seconds_this_run": time.time() - t0, "batch": b}, f)
    log(f"flux done, {time.time() - t0:.0f}s this run")


def main():
    p = argparse.ArgumentParser()
    p.add_argument("stage", choices=["data", "ae", "decoder", "flux", "all"])
    p.add_argument("--out", default="target/train")
    p.add_argument("--threads", type=int, default=2)
    p.add_argument("--scenes", type=int, default=20000)
    p.add_argument("--clip-vocab", type=int, default=4096)
    p.add_argument("--t5-vocab", type=int, default=4096)
    p.add_argument("--ae-steps", type=int, default=2000)
    p.add_argument("--ae-batch", type=int, default=32)
    p.add_argument("--ae-lr", type=float, default=1e-3)
    p.add_argument("--ae-crop-frac", type=float, default=0.75)
    p.add_argument("--dec-steps", type=int, default=2500)
    p.add_argument("--dec-lr", type=float, default=5e-4)
    p.add_argument("--dec-resume", action="store_true", help="continue from ae-finetuned.safetensors")
    p.add_argument("--dec-edge", type=float, default=1.0,
                   help="weight of the gradient-difference (edge sharpness) loss")
    p.add_argument("--dec-noise", type=float, default=0.05,
                   help="std of the Gaussian noise added to the decoder's latents, in the transformer's units")
    p.add_argument("--dec-focus", default=None,
                   help="SHAPE or SHAPE:SIZE, comma-separated (e.g. star:small): scenes the decoder "
                        "fine-tuning over-samples")
    p.add_argument("--dec-focus-share", type=float, default=0.25,
                   help="fraction of each decoder batch drawn from the --dec-focus scenes")
    p.add_argument("--dec-denoised", type=float, default=0.0,
                   help="fraction of each decoder batch whose latents the transformer denoised from the "
                        "image's own latent noised to a t in --dec-denoise-from (needs --out's flux, clip and "
                        "t5 weights)")
    p.add_argument("--dec-denoise-from", default="0.1,0.6",
                   help="LO,HI: the times the --dec-denoised latents start from (steps of the 20-step grid)")
    p.add_argument("--ae-ch-mult", default=",".join(str(c) for c in AE_CONFIG["ch_mult"]),
                   help="the autoencoder's channel multipliers, one per resolution level; each level after "
                        "the first halves the side (1,2,2,2: 8x as FLUX; 1,2,2: 4x, a 16x16 latent at 64x64)")
    p.add_argument("--ae-kl", type=float, default=1e-6)
    p.add_argument("--steps", type=int, default=5000)
    p.add_argument("--batch", type=int, default=64)
    p.add_argument("--lr", type=float, default=6e-4)
    p.add_argument("--warmup", type=int, default=100)
    p.add_argument("--drop", type=float, default=0.1)
    p.add_argument("--emoji-share", type=float, default=None,
                   help="fraction of each transformer batch drawn from the emoji images (default: uniform)")
    p.add_argument("--focus", default=None,
                   help="SHAPE or SHAPE:SIZE, comma-separated (e.g. star,square:small): scenes a transformer "
                        "sitting over-samples")
    p.add_argument("--focus-share", type=float, default=0.25,
                   help="fraction of each transformer batch drawn from the --focus scenes")
    p.add_argument("--fg-weight", type=float, default=0.0,
                   help="extra loss weight on the transformer tokens that hold part of the drawing "
                        "(1 + this there, 1 elsewhere; 0 keeps plain MSE)")
    p.add_argument("--init-weights", action="store_true",
                   help="without a train state to resume, start the transformer and text encoders from "
                        "--out's flux.safetensors, clip.safetensors and t5.safetensors (see from_shipped.py)")
    p.add_argument("--grow-single", type=int, default=0,
                   help="with --init-weights: append this many single-stream blocks that start as the identity "
                        "(zero gates), so that the sitting starts from the same function with more capacity")
    p.add_argument("--ema", type=float, default=0.998)
    p.add_argument("--cfg-scale", type=float, default=DEFAULT_CFG)
    p.add_argument("--sample-every", type=int, default=250)
    p.add_argument("--resume", action="store_true")
    args = p.parse_args()
    os.makedirs(args.out, exist_ok=True)
    if args.stage == "all":
        stage_data(args)
        stage_ae(args)
        # The decoder fine-tuning runs beside the transformer stage (the latent space is fixed).
        import subprocess
        decoder = subprocess.Popen([sys.executable, os.path.abspath(__file__), "decoder"] + [
            a for a in sys.argv[2:] if a != "--resume"])
        stage_flux(args)
        if decoder.wait() != 0:
            raise SystemExit("the decoder stage failed")
        return
    log(f"stage {args.stage}")
    {"data": stage_data, "ae": stage_ae, "decoder": stage_decoder, "flux": stage_flux}[args.stage](args)


if __name__ == "__main__":
    main()
