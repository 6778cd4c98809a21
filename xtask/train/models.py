"""sculpt-tiny's four networks in PyTorch, mirroring FLUX.1 (black-forest-labs/flux) and the
Hugging Face CLIP / T5 text encoders exactly, with the checkpoint tensor names Sculpt's loaders
read (crates/sculpt-flux/src/{flux,clip,t5}). Configs use the Rust structs' field names."""

import math

import torch
import torch.nn.functional as F
from torch import nn

# ---------------------------------------------------------------- FLUX transformer


def timestep_embedding(t, dim=256, max_period=10000, time_factor=1000.0):
    t = time_factor * t
    half = dim // 2
    freqs = torch.exp(-math.log(max_period) * torch.arange(half, dtype=torch.float32, device=t.device) / half)
    args = t[:, None].float() * freqs[None]
    return torch.cat([torch.cos(args), torch.sin(args)], dim=-1)


def rope(pos, dim, theta):
    scale = torch.arange(0, dim, 2, dtype=torch.float64, device=pos.device) / dim
    omega = 1.0 / (theta ** scale)
    out = pos.double()[..., None] * omega  # [B, N, dim/2]
    return torch.stack([torch.cos(out), torch.sin(out)], dim=-1).float()  # [B, N, dim/2, 2]


def positions(ids, axes_dim, theta):
    """cos/sin table [B, 1, N, head_dim/2, 2] of ids [B, N, n_axes]."""
    return torch.cat([rope(ids[..., i], d, theta) for i, d in enumerate(axes_dim)], dim=-2)[:, None]


def apply_rope(x, pe):
    # Interleaved pairs (x0, x1) rotate by the angle: FLUX's apply_rope.
    xs = x.float().reshape(*x.shape[:-1], -1, 2)
    cos, sin = pe[..., 0], pe[..., 1]
    out0 = cos * xs[..., 0] - sin * xs[..., 1]
    out1 = sin * xs[..., 0] + cos * xs[..., 1]
    return torch.stack([out0, out1], dim=-1).reshape(x.shape).type_as(x)


def attention(q, k, v, pe):
    q, k = apply_rope(q, pe), apply_rope(k, pe)
    x = F.scaled_dot_product_attention(q, k, v)
    b, h, l, d = x.shape
    return x.transpose(1, 2).reshape(b, l, h * d)


class RMSNorm(nn.Module):
    def __init__(self, dim):
        super().__init__()
        self.scale = nn.Parameter(torch.ones(dim))

    def forward(self, x):
        rrms = torch.rsqrt(torch.mean(x.float() ** 2, dim=-1, keepdim=True) + 1e-6)
        return (x.float() * rrms).type_as(x) * self.scale


class QKNorm(nn.Module):
    def __init__(self, dim):
        super().__init__()
        self.query_norm = RMSNorm(dim)
        self.key_norm = RMSNorm(dim)

    def forward(self, q, k):
        return self.query_norm(q), self.key_norm(k)


class SelfAttention(nn.Module):
    def __init__(self, dim, num_heads, qkv_bias):
        super().__init__()
        self.num_heads = num_heads
        self.qkv = nn.Linear(dim, dim * 3, bias=qkv_bias)
        self.norm = QKNorm(dim // num_heads)
        self.proj = nn.Linear(dim, dim)


class MLPEmbedder(nn.Module):
    def __init__(self, in_dim, hidden_dim):
        super().__init__()
        self.in_layer = nn.Linear(in_dim, hidden_dim)
        self.out_layer = nn.Linear(hidden_dim, hidden_dim)

    def forward(self, x):
        return self.out_layer(F.silu(self.in_layer(x)))


class Modulation(nn.Module):
    def __init__(self, dim, double):
        super().__init__()
        self.multiplier = 6 if double else 3
        self.lin = nn.Linear(dim, self.multiplier * dim)

    def forward(self, vec):
        return self.lin(F.silu(vec))[:, None, :].chunk(self.multiplier, dim=-1)


def split_heads(qkv, heads):
    b, l, _ = qkv.shape
    qkv = qkv.reshape(b, l, 3, heads, -1).permute(2, 0, 3, 1, 4)
    return qkv[0], qkv[1], qkv[2]


def layer_norm(x):
    return F.layer_norm(x, x.shape[-1:], eps=1e-6)


def gelu(x):
    return F.gelu(x, approximate="tanh")


class DoubleStreamBlock(nn.Module):
    def __init__(self, hidden, heads, mlp_ratio, qkv_bias):
        super().__init__()
        mlp = int(hidden * mlp_ratio)
        self.heads = heads
        self.img_mod = Modulation(hidden, True)
        self.img_attn = SelfAttention(hidden, heads, qkv_bias)
        self.img_mlp = nn.Sequential(nn.Linear(hidden, mlp), nn.GELU(approximate="tanh"), nn.Linear(mlp, hidden))
        self.txt_mod = Modulation(hidden, True)
        self.txt_attn = SelfAttention(hidden, heads, qkv_bias)
        self.txt_mlp = nn.Sequential(nn.Linear(hidden, mlp), nn.GELU(approximate="tanh"), nn.Linear(mlp, hidden))

    def forward(self, img, txt, vec, pe):
        i_shift1, i_scale1, i_gate1, i_shift2, i_scale2, i_gate2 = self.img_mod(vec)
        t_shift1, t_scale1, t_gate1, t_shift2, t_scale2, t_gate2 = self.txt_mod(vec)
        img_q, img_k, img_v = split_heads(self.img_attn.qkv((1 + i_scale1) * layer_norm(img) + i_shift1), self.heads)
        img_q, img_k = self.img_attn.norm(img_q, img_k)
        txt_q, txt_k, txt_v = split_heads(self.txt_attn.qkv((1 + t_scale1) * layer_norm(txt) + t_shift1), self.heads)
        txt_q, txt_k = self.txt_attn.norm(txt_q, txt_k)
        q = torch.cat([txt_q, img_q], dim=2)
        k = torch.cat([txt_k, img_k], dim=2)
        v = torch.cat([txt_v, img_v], dim=2)
        attn = attention(q, k, v, pe)
        txt_a, img_a = attn[:, : txt.shape[1]], attn[:, txt.shape[1]:]
        img = img + i_gate1 * self.img_attn.proj(img_a)
        img = img + i_gate2 * self.img_mlp((1 + i_scale2) * layer_norm(img) + i_shift2)
        txt = txt + t_gate1 * self.txt_attn.proj(txt_a)
        txt = txt + t_gate2 * self.txt_mlp((1 + t_scale2) * layer_norm(txt) + t_shift2)
        return img, txt


class SingleStreamBlock(nn.Module):
    def __init__(self, hidden, heads, mlp_ratio):
        super().__init__()
        self.hidden, self.heads = hidden, heads
        self.mlp_hidden = int(hidden * mlp_ratio)
        self.linear1 = nn.Linear(hidden, hidden * 3 + self.mlp_hidden)
        self.linear2 = nn.Linear(hidden + self.mlp_hidden, hidden)
        self.norm = QKNorm(hidden // heads)
        self.modulation = Modulation(hidden, False)

    def forward(self, x, vec, pe):
        shift, scale, gate = self.modulation(vec)
        qkv, mlp = torch.split(self.linear1((1 + scale) * layer_norm(x) + shift),
                               [3 * self.hidden, self.mlp_hidden], dim=-1)
        q, k, v = split_heads(qkv, self.heads)
        q, k = self.norm(q, k)
        attn = attention(q, k, v, pe)
        return x + gate * self.linear2(torch.cat([attn, gelu(mlp)], dim=2))


class LastLayer(nn.Module):
    def __init__(self, hidden, out_channels):
        super().__init__()
        self.linear = nn.Linear(hidden, out_channels)
        self.adaLN_modulation = nn.Sequential(nn.SiLU(), nn.Linear(hidden, 2 * hidden))

    def forward(self, x, vec):
        shift, scale = self.adaLN_modulation(vec).chunk(2, dim=1)
        return self.linear((1 + scale[:, None, :]) * layer_norm(x) + shift[:, None, :])


class Flux(nn.Module):
    def __init__(self, cfg):
        super().__init__()
        assert not cfg["guidance_embed"]
        self.cfg = cfg
        h = cfg["hidden_size"]
        self.img_in = nn.Linear(cfg["in_channels"], h)
        self.time_in = MLPEmbedder(256, h)
        self.vector_in = MLPEmbedder(cfg["vec_in_dim"], h)
        self.txt_in = nn.Linear(cfg["context_in_dim"], h)
        self.double_blocks = nn.ModuleList(
            [DoubleStreamBlock(h, cfg["num_heads"], cfg["mlp_ratio"], cfg["qkv_bias"]) for _ in range(cfg["double_blocks"])])
        self.single_blocks = nn.ModuleList(
            [SingleStreamBlock(h, cfg["num_heads"], cfg["mlp_ratio"]) for _ in range(cfg["single_blocks"])])
        self.final_layer = LastLayer(h, cfg["in_channels"])

    def forward(self, img, img_ids, txt, txt_ids, timesteps, y):
        img = self.img_in(img)
        vec = self.time_in(timestep_embedding(timesteps, 256)) + self.vector_in(y)
        txt = self.txt_in(txt)
        pe = positions(torch.cat([txt_ids, img_ids], dim=1), self.cfg["axes_dim"], self.cfg["theta"])
        for block in self.double_blocks:
            img, txt = block(img, txt, vec, pe)
        x = torch.cat([txt, img], dim=1)
        for block in self.single_blocks:
            x = block(x, vec, pe)
        return self.final_layer(x[:, txt.shape[1]:], vec)


def grow_single_blocks(flux, extra, gen):
    """`flux` with `extra` single-stream blocks appended after its own. Each new block's gate (the
    third third of its modulation) starts at zero, so it adds nothing and the grown model computes
    exactly what `flux` did (adaLN-zero, as DiT starts its blocks); training opens the gates."""
    cfg = dict(flux.cfg, single_blocks=flux.cfg["single_blocks"] + extra)
    with torch.random.fork_rng():
        torch.manual_seed(int(torch.randint(0, 2**31, (1,), generator=gen)))
        grown = Flux(cfg)
    state = grown.state_dict()
    state.update(flux.state_dict())
    h = cfg["hidden_size"]
    for i in range(flux.cfg["single_blocks"], cfg["single_blocks"]):
        state[f"single_blocks.{i}.modulation.lin.weight"][2 * h:3 * h] = 0
        state[f"single_blocks.{i}.modulation.lin.bias"][2 * h:3 * h] = 0
    grown.load_state_dict(state)
    b = 2
    probe = (torch.randn(b, 16, cfg["in_channels"], generator=gen), image_ids(b, 4, 4),
             torch.randn(b, 8, cfg["context_in_dim"], generator=gen), torch.zeros(b, 8, 3),
             torch.rand(b, generator=gen), torch.randn(b, cfg["vec_in_dim"], generator=gen))
    with torch.no_grad():
        change = (grown(*probe) - flux(*probe)).abs().max().item()
    if change > 1e-5:
        raise AssertionError(f"growing the transformer changed its output by {change}")
    return grown


def image_ids(b, rows, cols):
    ids = torch.zeros(rows, cols, 3)
    ids[..., 1] = torch.arange(rows)[:, None]
    ids[..., 2] = torch.arange(cols)[None, :]
    return ids.reshape(1, rows * cols, 3).expand(b, -1, -1)


def pack(latent):
    """[B, C, H, W] -> [B, H/2*W/2, C*4] (feature c*4 + ph*2 + pw)."""
    b, c, h, w = latent.shape
    x = latent.reshape(b, c, h // 2, 2, w // 2, 2).permute(0, 2, 4, 1, 3, 5)
    return x.reshape(b, (h // 2) * (w // 2), c * 4)


def unpack(x, h, w):
    b, _, f = x.shape
    c = f // 4
    return x.reshape(b, h // 2, w // 2, c, 2, 2).permute(0, 3, 1, 4, 2, 5).reshape(b, c, h, w)


# ---------------------------------------------------------------- FLUX autoencoder


def group_norm(c):
    return nn.GroupNorm(32, c, eps=1e-6, affine=True)


class AttnBlock(nn.Module):
    def __init__(self, c):
        super().__init__()
        self.norm = group_norm(c)
        self.q = nn.Conv2d(c, c, 1)
        self.k = nn.Conv2d(c, c, 1)
        self.v = nn.Conv2d(c, c, 1)
        self.proj_out = nn.Conv2d(c, c, 1)

    def forward(self, x):
        h = self.norm(x)
        q, k, v = self.q(h), self.k(h), self.v(h)
        b, c, hh, ww = q.shape
        q, k, v = (t.reshape(b, 1, c, hh * ww).transpose(2, 3) for t in (q, k, v))
        a = F.scaled_dot_product_attention(q, k, v)
        a = a.transpose(2, 3).reshape(b, c, hh, ww)
        return x + self.proj_out(a)


class ResnetBlock(nn.Module):
    def __init__(self, cin, cout):
        super().__init__()
        self.norm1 = group_norm(cin)
        self.conv1 = nn.Conv2d(cin, cout, 3, padding=1)
        self.norm2 = group_norm(cout)
        self.conv2 = nn.Conv2d(cout, cout, 3, padding=1)
        if cin != cout:
            self.nin_shortcut = nn.Conv2d(cin, cout, 1)

    def forward(self, x):
        h = self.conv1(F.silu(self.norm1(x)))
        h = self.conv2(F.silu(self.norm2(h)))
        if hasattr(self, "nin_shortcut"):
            x = self.nin_shortcut(x)
        return x + h


class Downsample(nn.Module):
    def __init__(self, c):
        super().__init__()
        self.conv = nn.Conv2d(c, c, 3, stride=2, padding=0)

    def forward(self, x):
        return self.conv(F.pad(x, (0, 1, 0, 1)))


class Upsample(nn.Module):
    def __init__(self, c):
        super().__init__()
        self.conv = nn.Conv2d(c, c, 3, padding=1)

    def forward(self, x):
        return self.conv(F.interpolate(x, scale_factor=2.0, mode="nearest"))


class Mid(nn.Module):
    def __init__(self, c):
        super().__init__()
        self.block_1 = ResnetBlock(c, c)
        self.attn_1 = AttnBlock(c)
        self.block_2 = ResnetBlock(c, c)

    def forward(self, x):
        return self.block_2(self.attn_1(self.block_1(x)))


class Encoder(nn.Module):
    def __init__(self, cfg):
        super().__init__()
        ch, mult = cfg["ch"], cfg["ch_mult"]
        self.conv_in = nn.Conv2d(cfg["in_channels"], ch, 3, padding=1)
        in_mult = (1,) + tuple(mult)
        self.down = nn.ModuleList()
        block_in = ch
        for i, m in enumerate(mult):
            level = nn.Module()
            level.block = nn.ModuleList()
            block_in = ch * in_mult[i]
            for _ in range(cfg["num_res_blocks"]):
                level.block.append(ResnetBlock(block_in, ch * m))
                block_in = ch * m
            if i != len(mult) - 1:
                level.downsample = Downsample(block_in)
            self.down.append(level)
        self.mid = Mid(block_in)
        self.norm_out = group_norm(block_in)
        self.conv_out = nn.Conv2d(block_in, 2 * cfg["z_channels"], 3, padding=1)

    def forward(self, x):
        h = self.conv_in(x)
        for level in self.down:
            for block in level.block:
                h = block(h)
            if hasattr(level, "downsample"):
                h = level.downsample(h)
        h = self.mid(h)
        return self.conv_out(F.silu(self.norm_out(h)))


class Decoder(nn.Module):
    def __init__(self, cfg):
        super().__init__()
        ch, mult = cfg["ch"], cfg["ch_mult"]
        block_in = ch * mult[-1]
        self.conv_in = nn.Conv2d(cfg["z_channels"], block_in, 3, padding=1)
        self.mid = Mid(block_in)
        up = []
        for i in reversed(range(len(mult))):
            level = nn.Module()
            level.block = nn.ModuleList()
            for _ in range(cfg["num_res_blocks"] + 1):
                level.block.append(ResnetBlock(block_in, ch * mult[i]))
                block_in = ch * mult[i]
            if i != 0:
                level.upsample = Upsample(block_in)
            up.insert(0, level)
        self.up = nn.ModuleList(up)
        self.norm_out = group_norm(block_in)
        self.conv_out = nn.Conv2d(block_in, cfg["out_channels"], 3, padding=1)

    def forward(self, z):
        h = self.mid(self.conv_in(z))
        for level in reversed(self.up):
            for block in level.block:
                h = block(h)
            if hasattr(level, "upsample"):
                h = level.upsample(h)
        return self.conv_out(F.silu(self.norm_out(h)))


class AutoEncoder(nn.Module):
    def __init__(self, cfg):
        super().__init__()
        self.cfg = cfg
        self.encoder = Encoder(cfg)
        self.decoder = Decoder(cfg)

    def moments(self, x):
        mean, logvar = self.encoder(x).chunk(2, dim=1)
        return mean, logvar

    def encode(self, x):
        """The transformer's latent of images in [-1, 1]: the Gaussian's mean, shifted and scaled."""
        mean, _ = self.moments(x)
        return (mean - self.cfg["shift_factor"]) * self.cfg["scale_factor"]

    def decode(self, latent):
        return self.decoder(latent / self.cfg["scale_factor"] + self.cfg["shift_factor"])


# ---------------------------------------------------------------- CLIP text model


class ClipLayer(nn.Module):
    def __init__(self, cfg):
        super().__init__()
        d, m = cfg["hidden_size"], cfg["intermediate_size"]
        self.heads = cfg["num_heads"]
        self.self_attn = nn.Module()
        for p in ("q_proj", "k_proj", "v_proj", "out_proj"):
            setattr(self.self_attn, p, nn.Linear(d, d))
        self.layer_norm1 = nn.LayerNorm(d, eps=1e-5)
        self.mlp = nn.Module()
        self.mlp.fc1 = nn.Linear(d, m)
        self.mlp.fc2 = nn.Linear(m, d)
        self.layer_norm2 = nn.LayerNorm(d, eps=1e-5)

    def forward(self, x):
        b, l, d = x.shape
        h = self.layer_norm1(x)
        a = self.self_attn
        q, k, v = (p(h).reshape(b, l, self.heads, -1).transpose(1, 2) for p in (a.q_proj, a.k_proj, a.v_proj))
        o = F.scaled_dot_product_attention(q, k, v, is_causal=True).transpose(1, 2).reshape(b, l, d)
        x = x + a.out_proj(o)
        h = self.mlp.fc1(self.layer_norm2(x))
        return x + self.mlp.fc2(h * torch.sigmoid(1.702 * h))


class ClipText(nn.Module):
    def __init__(self, cfg):
        super().__init__()
        self.text_model = nn.Module()
        tm = self.text_model
        tm.embeddings = nn.Module()
        tm.embeddings.token_embedding = nn.Embedding(cfg["vocab_size"], cfg["hidden_size"])
        tm.embeddings.position_embedding = nn.Embedding(cfg["max_positions"], cfg["hidden_size"])
        tm.encoder = nn.Module()
        tm.encoder.layers = nn.ModuleList([ClipLayer(cfg) for _ in range(cfg["num_layers"])])
        tm.final_layer_norm = nn.LayerNorm(cfg["hidden_size"], eps=1e-5)
        nn.init.normal_(tm.embeddings.token_embedding.weight, std=0.02)
        nn.init.normal_(tm.embeddings.position_embedding.weight, std=0.01)

    def forward(self, ids):
        """(hidden [B, L, D], pooled [B, D]) of ids [B, L]; pooled at argmax(ids)."""
        tm = self.text_model
        x = tm.embeddings.token_embedding(ids) + tm.embeddings.position_embedding.weight[: ids.shape[1]]
        for layer in tm.encoder.layers:
            x = layer(x)
        hidden = tm.final_layer_norm(x)
        pooled = hidden[torch.arange(ids.shape[0]), ids.argmax(dim=-1)]
        return hidden, pooled


# ---------------------------------------------------------------- T5 encoder


def relative_position_bucket(relative_position, num_buckets, max_distance):
    num_buckets //= 2
    buckets = (relative_position > 0).long() * num_buckets
    n = relative_position.abs()
    max_exact = num_buckets // 2
    is_small = n < max_exact
    large = max_exact + (torch.log(n.float().clamp(min=1) / max_exact) / math.log(max_distance / max_exact)
                         * (num_buckets - max_exact)).long()
    large = torch.minimum(large, torch.full_like(large, num_buckets - 1))
    return buckets + torch.where(is_small, n, large)


class T5RMSNorm(nn.Module):
    def __init__(self, d):
        super().__init__()
        self.weight = nn.Parameter(torch.ones(d))

    def forward(self, x):
        return x * torch.rsqrt(x.float().pow(2).mean(-1, keepdim=True) + 1e-6) * self.weight


class T5Block(nn.Module):
    def __init__(self, cfg, has_bias):
        super().__init__()
        d, inner, ff = cfg["d_model"], cfg["num_heads"] * cfg["d_kv"], cfg["d_ff"]
        self.heads = cfg["num_heads"]
        self.layer = nn.ModuleList([nn.Module(), nn.Module()])
        att = self.layer[0]
        att.SelfAttention = nn.Module()
        sa = att.SelfAttention
        sa.q = nn.Linear(d, inner, bias=False)
        sa.k = nn.Linear(d, inner, bias=False)
        sa.v = nn.Linear(d, inner, bias=False)
        sa.o = nn.Linear(inner, d, bias=False)
        if has_bias:
            sa.relative_attention_bias = nn.Embedding(cfg["relative_attention_num_buckets"], cfg["num_heads"])
        att.layer_norm = T5RMSNorm(d)
        fwd = self.layer[1]
        fwd.DenseReluDense = nn.Module()
        fwd.DenseReluDense.wi_0 = nn.Linear(d, ff, bias=False)
        fwd.DenseReluDense.wi_1 = nn.Linear(d, ff, bias=False)
        fwd.DenseReluDense.wo = nn.Linear(ff, d, bias=False)
        fwd.layer_norm = T5RMSNorm(d)
        # T5's init: attention without 1/sqrt(d) scaling needs small q weights.
        nn.init.normal_(sa.q.weight, std=(d * cfg["d_kv"]) ** -0.5)
        for w in (sa.k, sa.v):
            nn.init.normal_(w.weight, std=d ** -0.5)
        nn.init.normal_(sa.o.weight, std=inner ** -0.5)

    def forward(self, x, bias):
        b, l, _ = x.shape
        sa = self.layer[0].SelfAttention
        h = self.layer[0].layer_norm(x)
        q, k, v = (p(h).reshape(b, l, self.heads, -1).transpose(1, 2) for p in (sa.q, sa.k, sa.v))
        scores = q @ k.transpose(-1, -2) + bias
        o = (scores.softmax(-1) @ v).transpose(1, 2).reshape(b, l, -1)
        x = x + sa.o(o)
        dd = self.layer[1].DenseReluDense
        h = self.layer[1].layer_norm(x)
        return x + dd.wo(gelu(dd.wi_0(h)) * dd.wi_1(h))


class T5Encoder(nn.Module):
    def __init__(self, cfg):
        super().__init__()
        self.cfg = cfg
        self.shared = nn.Embedding(cfg["vocab_size"], cfg["d_model"])
        self.encoder = nn.Module()
        self.encoder.block = nn.ModuleList([T5Block(cfg, i == 0) for i in range(cfg["num_layers"])])
        self.encoder.final_layer_norm = T5RMSNorm(cfg["d_model"])

    def forward(self, ids):
        l = ids.shape[1]
        pos = torch.arange(l, device=ids.device)
        buckets = relative_position_bucket(pos[None, :] - pos[:, None], self.cfg["relative_attention_num_buckets"],
                                           self.cfg["relative_attention_max_distance"])
        bias = self.encoder.block[0].layer[0].SelfAttention.relative_attention_bias(buckets).permute(2, 0, 1)[None]
        x = self.shared(ids)
        for block in self.encoder.block:
            x = block(x, bias)
        return self.encoder.final_layer_norm(x)


def state_dict_f32(module):
    return {k: v.detach().float().contiguous() for k, v in module.state_dict().items()}
