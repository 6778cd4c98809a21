"""Reference images for `cargo xtask eval-tiny`, drawn by the training data's own code.

- glyphs.png + glyphs.json: every emoji glyph of the training set, composited on white as the
  plain-name captions show it, in a grid of 64x64 tiles (the concept eval's nearest-glyph search);
- scenes.png + scenes.json: one-shape scenes from data.py's `random_scene` and `draw_scene`
  (Lanczos-downsampled as in training) with their attributes, to measure the Rust checker on
  the real training images.

Usage: python eval_reference.py OUT_DIR [--scenes N] [--seed S]
"""

import argparse
import json
import os
import random

import numpy as np
from PIL import Image

import data

COLUMNS = 32


def atlas(tiles):
    rows = (len(tiles) + COLUMNS - 1) // COLUMNS
    sheet = np.full((rows * data.SIZE, COLUMNS * data.SIZE, 3), 255, np.uint8)
    for i, tile in enumerate(tiles):
        r, c = divmod(i, COLUMNS)
        sheet[r * data.SIZE:(r + 1) * data.SIZE, c * data.SIZE:(c + 1) * data.SIZE] = tile
    return Image.fromarray(sheet)


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("out")
    parser.add_argument("--scenes", type=int, default=300)
    parser.add_argument("--seed", type=int, default=1234)
    args = parser.parse_args()
    os.makedirs(args.out, exist_ok=True)

    glyphs = data.emoji_glyphs()
    atlas([data.composite(rgba, "white") for _, rgba in glyphs]).save(
        os.path.join(args.out, "glyphs.png"))
    with open(os.path.join(args.out, "glyphs.json"), "w") as f:
        json.dump({"tile": data.SIZE, "columns": COLUMNS, "names": [n for n, _ in glyphs]}, f)

    rng = random.Random(args.seed)
    scenes = []
    while len(scenes) < args.scenes:
        scene = data.random_scene(rng)
        if len(scene["shapes"]) == 1:
            scenes.append(scene)
    atlas([data.draw_scene(s) for s in scenes]).save(os.path.join(args.out, "scenes.png"))
    attrs = [{"bg": s["bg"], "shape": sh, "colour": colour, "position": position, "size": size}
             for s in scenes for sh, colour, position, size, _ in s["shapes"]]
    with open(os.path.join(args.out, "scenes.json"), "w") as f:
        json.dump({"tile": data.SIZE, "columns": COLUMNS, "scenes": attrs}, f)
    print(f"{len(glyphs)} glyphs, {len(scenes)} scenes -> {args.out}")


if __name__ == "__main__":
    main()
