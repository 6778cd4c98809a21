"""Sculpt-tiny's training data: procedural shape scenes and Noto Color Emoji glyphs.

Everything is generated here from a seeded RNG; nothing is downloaded. An
item is an RGB image (64x64, uint8) plus the attributes its captions are
phrased from; captions are drawn afresh (several phrasings) every time an
item is used, see `caption`.
"""

import math
import os
import random
import unicodedata

import numpy as np
from PIL import Image, ImageDraw, ImageFont

SIZE = 64
EMOJI_FONT = "/usr/share/fonts/truetype/noto/NotoColorEmoji.ttf"

COLOURS = {
    "red": (220, 30, 30),
    "orange": (245, 140, 20),
    "yellow": (245, 220, 30),
    "green": (40, 170, 60),
    "blue": (30, 80, 220),
    "purple": (140, 50, 190),
    "pink": (245, 130, 190),
    "brown": (130, 80, 40),
    "white": (250, 250, 250),
    "black": (15, 15, 15),
    "gray": (128, 128, 128),
    "cyan": (40, 210, 220),
}
SHAPES = ["circle", "square", "triangle", "star"]
# Name -> centre as fractions of the side (x, y).
POSITIONS = {
    "top left": (0.25, 0.25),
    "top": (0.5, 0.25),
    "top right": (0.75, 0.25),
    "left": (0.25, 0.5),
    "centre": (0.5, 0.5),
    "right": (0.75, 0.5),
    "bottom left": (0.25, 0.75),
    "bottom": (0.5, 0.75),
    "bottom right": (0.75, 0.75),
}
SIZES = {"small": 0.12, "large": 0.22}  # radius as a fraction of the side


def _polygon(shape, cx, cy, r, rot):
    if shape == "square":
        k, start, radius = 4, math.pi / 4, r * 1.0
        pts = [(cx + radius * math.cos(start + rot + 2 * math.pi * i / k),
                cy + radius * math.sin(start + rot + 2 * math.pi * i / k)) for i in range(k)]
    elif shape == "triangle":
        pts = [(cx + r * math.cos(-math.pi / 2 + rot + 2 * math.pi * i / 3),
                cy + r * 1.1 * math.sin(-math.pi / 2 + rot + 2 * math.pi * i / 3) + r * 0.15)
               for i in range(3)]
    elif shape == "star":
        pts = []
        for i in range(10):
            rad = r * (1.05 if i % 2 == 0 else 0.45)
            a = -math.pi / 2 + rot + math.pi * i / 5
            pts.append((cx + rad * math.cos(a), cy + rad * math.sin(a)))
    else:
        raise ValueError(shape)
    return pts


def draw_scene(attrs, size=SIZE, supersample=4):
    """Renders one scene: attrs = dict(bg, shapes=[(shape, colour, position, size, jitter)])."""
    s = size * supersample
    img = Image.new("RGB", (s, s), COLOURS[attrs["bg"]])
    d = ImageDraw.Draw(img)
    for shape, colour, position, sz, (jx, jy, jr, rot) in attrs["shapes"]:
        fx, fy = POSITIONS[position]
        r = SIZES[sz] * (1 + jr) * s
        cx, cy = (fx + jx) * s, (fy + jy) * s
        if shape == "circle":
            d.ellipse([cx - r, cy - r, cx + r, cy + r], fill=COLOURS[colour])
        else:
            d.polygon(_polygon(shape, cx, cy, r, rot), fill=COLOURS[colour])
    return np.asarray(img.resize((size, size), Image.LANCZOS))


def random_scene(rng):
    names = list(COLOURS)
    bg = rng.choice(names)
    n = 1 if rng.random() < 0.85 else 2
    shapes, used = [], set()
    for _ in range(n):
        colour = rng.choice([c for c in names if c != bg])
        position = rng.choice([p for p in POSITIONS if p not in used])
        if n == 2:
            # Two shapes: opposite-ish corners/edges so that they do not overlap much.
            position = rng.choice([p for p in POSITIONS if p not in used and p != "centre"])
        used.add(position)
        for p in list(POSITIONS):  # forbid neighbours of a used position for the second shape
            a, b = POSITIONS[p], POSITIONS[position]
            if abs(a[0] - b[0]) + abs(a[1] - b[1]) < 0.3:
                used.add(p)
        sz = "small" if n == 2 else rng.choice(list(SIZES))
        jitter = (rng.uniform(-0.03, 0.03), rng.uniform(-0.03, 0.03), rng.uniform(-0.1, 0.1),
                  rng.uniform(-0.2, 0.2) if rng.random() < 0.5 else 0.0)
        shapes.append((rng.choice(SHAPES), colour, position, sz, jitter))
    return {"kind": "scene", "bg": bg, "shapes": shapes}


def article(word):
    return "an" if word[0] in "aeiou" else "a"


def _shape_phrase(rng, shape, colour, position, sz, style):
    """One shape's phrase; `sz` None leaves the size unsaid."""
    centre = rng.choice(["centre", "center", "middle"]) if position == "centre" else position
    if style == 0:
        where = ("in the " if position == "centre" or " " in position else "at the ") + centre
        adj = f"{sz} {colour}" if sz else colour
        return f"{article(adj)} {adj} {shape} {where}"
    if style == 1:
        return f"{sz + ' ' if sz else ''}{colour} {shape}, {centre}"
    if style == 2:
        return f"{colour} {shape} {rng.choice(['at', 'in the'])} {centre}" + (f" ({sz})" if sz else "")
    return f"{article(colour)} {colour} {shape}, " + (f"{sz}, " if sz else "") + centre


def caption(attrs, rng):
    """One phrasing of an item's caption, drawn with `rng`."""
    if attrs["kind"] == "emoji":
        name = attrs["name"]
        if attrs["bg"] == "white":
            return rng.choice([name, name, f"an emoji of {name}", f"{name} emoji", f"{name}, on white",
                               f"{article(name)} {name}"])
        bg = attrs["bg"]
        return rng.choice([f"{name} on a {bg} background", f"{name}, on {bg}", f"{name} emoji on {bg}"])
    bg = attrs["bg"]
    shapes = attrs["shapes"]
    style = rng.randrange(4)
    omit_size = rng.random() < 0.3
    phrases = []
    for shape, colour, position, sz, _ in shapes:
        phrases.append(_shape_phrase(rng, shape, colour, position, None if omit_size else sz, style))
    text = " and ".join(phrases)
    if rng.random() < 0.1 and len(shapes) == 1:
        return text  # background left unsaid
    return rng.choice([f"{text} on a {bg} background", f"{text}, on {bg}", f"{text}, {bg} background"])


def emoji_glyphs(font_path=EMOJI_FONT, size=SIZE):
    """(name, RGBA array size x size) for every single-code-point emoji the font maps."""
    from fontTools.ttLib import TTFont

    cmap = TTFont(font_path).getBestCmap()
    font = ImageFont.truetype(font_path, 109)
    out = []
    for cp in sorted(cmap):
        if cp < 0x2000 or 0xFE00 <= cp <= 0xFE0F or 0xE0000 <= cp or 0x1F1E6 <= cp <= 0x1F1FF:
            continue  # ASCII/keycap bases, variation selectors, tags, regional indicators
        ch = chr(cp)
        try:
            name = unicodedata.name(ch).lower()
        except ValueError:
            continue
        if "skin tone" in name or "component" in name:
            continue
        canvas = Image.new("RGBA", (160, 160), (0, 0, 0, 0))
        ImageDraw.Draw(canvas).text((80, 80), ch, font=font, embedded_color=True, anchor="mm")
        bbox = canvas.getbbox()
        if bbox is None:
            continue
        glyph = canvas.crop(bbox)
        w, h = glyph.size
        scale = (size * 0.8) / max(w, h)
        glyph = glyph.resize((max(1, round(w * scale)), max(1, round(h * scale))), Image.LANCZOS)
        tile = Image.new("RGBA", (size, size), (0, 0, 0, 0))
        tile.paste(glyph, ((size - glyph.size[0]) // 2, (size - glyph.size[1]) // 2))
        out.append((name, np.asarray(tile)))
    return out


def composite(rgba, bg):
    a = rgba[..., 3:4].astype(np.float32) / 255.0
    back = np.array(COLOURS[bg], np.float32)
    return (rgba[..., :3].astype(np.float32) * a + back * (1 - a)).round().astype(np.uint8)


def build_dataset(n_scenes, seed, emoji_variants=2):
    """Images (N,64,64,3) uint8 and attrs; scenes from `seed`, then every emoji glyph on
    white plus `emoji_variants - 1` random named backgrounds."""
    rng = random.Random(seed)
    images, attrs = [], []
    for _ in range(n_scenes):
        a = random_scene(rng)
        images.append(draw_scene(a))
        attrs.append(a)
    for name, rgba in emoji_glyphs():
        for v in range(emoji_variants):
            bg = "white" if v == 0 else rng.choice([c for c in COLOURS if c not in ("white",)])
            images.append(composite(rgba, bg))
            attrs.append({"kind": "emoji", "name": name, "bg": bg})
    return np.stack(images), attrs


def all_captions(attrs, seed, per_item=3):
    rng = random.Random(seed)
    return [caption(a, rng) for a in attrs for _ in range(per_item)]


if __name__ == "__main__":
    import sys

    out = sys.argv[1] if len(sys.argv) > 1 else "target/train/data-preview"
    os.makedirs(out, exist_ok=True)
    rng = random.Random(0)
    scenes = [random_scene(rng) for _ in range(32)]
    tiles = [draw_scene(a) for a in scenes]
    glyphs = emoji_glyphs()
    print(len(glyphs), "emoji glyphs")
    for i in range(32):
        name, rgba = glyphs[rng.randrange(len(glyphs))]
        tiles.append(composite(rgba, rng.choice(["white", "blue", "black"])))
    grid = np.concatenate([np.concatenate(tiles[r * 8:(r + 1) * 8], 1) for r in range(8)], 0)
    Image.fromarray(grid).save(os.path.join(out, "preview.png"))
    for a in scenes[:8]:
        print(caption(a, rng))
