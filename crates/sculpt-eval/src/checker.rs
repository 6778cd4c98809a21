//! The image-analysis checker: what a 64×64 scene shows, read back from its pixels alone.
//!
//! - background: the median colour of the two-pixel border, and the palette colour nearest it;
//! - foreground: pixels farther from that background than half the smallest distance between
//!   two palette colours (so any palette colour on any other stands out);
//! - main shape: the largest 8-connected foreground region; its colour is the mean of its core
//!   (the half of its pixels farthest from the background, free of blended edges), named by the
//!   nearest palette colour; its outline is then the pixels nearer that colour than the
//!   background (the 50% coverage line of an antialiased edge);
//! - position: the outline's area centroid, named by the nearest of the nine positions;
//! - shape class: the outline is compared (intersection over union) with each shape as data.py
//!   draws it, scaled to the same area, centred on the same centroid, at rotations across the
//!   shape's symmetry period; the best match names it. A blob matches the circle best;
//! - size: the radius the named shape has at that area, nearer small's or large's.

use std::collections::VecDeque;

use crate::image::RgbImage;
use crate::render::{area_per_radius_squared, centroid_offset, mask as shape_mask};
use crate::vocab::{COLOURS, Colour, Position, SHAPES, Shape, Size};

/// What the checker sees in an image.
#[derive(Clone, Debug, PartialEq)]
pub struct Analysis {
    pub background: Colour,
    pub background_rgb: [f32; 3],
    /// `None` when nothing stands out from the background.
    pub main: Option<MainShape>,
}

#[derive(Clone, Debug, PartialEq)]
pub struct MainShape {
    pub colour: Colour,
    pub rgb: [f32; 3],
    /// Area centroid, fractions of the side.
    pub centroid: [f32; 2],
    pub position: Position,
    pub shape: Shape,
    /// Intersection over union with each shape's best template, in `SHAPES` order.
    pub shape_scores: [f32; 4],
    pub size: Size,
    /// Pixels inside the outline.
    pub area: usize,
}

/// Regions smaller than this are specks, not a shape (a small star, the smallest shape the data
/// has, covers about 65 pixels at 64×64).
const MIN_SHAPE_PIXELS: usize = 16;
const BORDER: usize = 2;
/// Rotations tried per symmetry period of a shape.
const ROTATIONS: usize = 12;

/// Half the smallest distance between two palette colours.
fn foreground_threshold() -> f32 {
    let mut smallest = f32::MAX;
    for (i, (_, a)) in COLOURS.iter().enumerate() {
        for (_, b) in &COLOURS[i + 1..] {
            smallest = smallest.min(crate::vocab::distance(a.map(f32::from), *b));
        }
    }
    smallest / 2.0
}

fn rgb_f32(p: [u8; 3]) -> [f32; 3] {
    p.map(f32::from)
}

fn dist(a: [f32; 3], b: [f32; 3]) -> f32 {
    ((a[0] - b[0]).powi(2) + (a[1] - b[1]).powi(2) + (a[2] - b[2]).powi(2)).sqrt()
}

fn median(mut values: Vec<f32>) -> f32 {
    values.sort_by(f32::total_cmp);
    values[values.len() / 2]
}

pub fn analyse(image: &RgbImage) -> Analysis {
    let (w, h) = (image.width, image.height);
    let border: Vec<[f32; 3]> = (0..h)
        .flat_map(|y| (0..w).map(move |x| (x, y)))
        .filter(|&(x, y)| x < BORDER || y < BORDER || x >= w - BORDER || y >= h - BORDER)
        .map(|(x, y)| rgb_f32(image.get(x, y)))
        .collect();
    let background_rgb = [0, 1, 2].map(|c| median(border.iter().map(|p| p[c]).collect()));
    let background = Colour::nearest(background_rgb);

    let threshold = foreground_threshold();
    let far: Vec<bool> = image
        .pixels
        .iter()
        .map(|&p| dist(rgb_f32(p), background_rgb) > threshold)
        .collect();
    let Some(region) = largest_region(&far, w, h) else {
        return Analysis {
            background,
            background_rgb,
            main: None,
        };
    };
    if region.len() < MIN_SHAPE_PIXELS {
        return Analysis {
            background,
            background_rgb,
            main: None,
        };
    }

    let distance_of = |i: usize| dist(rgb_f32(image.pixels[i]), background_rgb);
    let core_from = median(region.iter().map(|&i| distance_of(i)).collect());
    let core: Vec<usize> = region
        .iter()
        .copied()
        .filter(|&i| distance_of(i) >= core_from)
        .collect();
    let rgb = [0, 1, 2].map(|c| {
        core.iter()
            .map(|&i| f32::from(image.pixels[i][c]))
            .sum::<f32>()
            / core.len() as f32
    });
    let colour = Colour::nearest(rgb);

    let outline = outline_mask(image, &region, background_rgb, rgb);
    let area = outline.iter().filter(|&&inside| inside).count();
    let side = w as f32;
    let (mut sx, mut sy) = (0.0, 0.0);
    for (i, _) in outline.iter().enumerate().filter(|(_, inside)| **inside) {
        sx += (i % w) as f32 + 0.5;
        sy += (i / w) as f32 + 0.5;
    }
    let centroid = [sx / area as f32 / side, sy / area as f32 / side];
    let position = Position::nearest(centroid);

    let shape_scores = SHAPES.map(|shape| best_match(shape, &outline, area, centroid, w));
    let best = (0..SHAPES.len())
        .max_by(|&a, &b| shape_scores[a].total_cmp(&shape_scores[b]))
        .expect("four shapes");
    let shape = SHAPES[best];
    let radius = (area as f32 / area_per_radius_squared(shape)).sqrt() / side;

    Analysis {
        background,
        background_rgb,
        main: Some(MainShape {
            colour,
            rgb,
            centroid,
            position,
            shape,
            shape_scores,
            size: Size::nearest(radius),
            area,
        }),
    }
}

/// The largest 8-connected region of `mask`, as pixel indices.
fn largest_region(mask: &[bool], w: usize, h: usize) -> Option<Vec<usize>> {
    let mut seen = vec![false; mask.len()];
    let mut best: Option<Vec<usize>> = None;
    for start in 0..mask.len() {
        if !mask[start] || seen[start] {
            continue;
        }
        seen[start] = true;
        let mut region = vec![];
        let mut queue = VecDeque::from([start]);
        while let Some(i) = queue.pop_front() {
            region.push(i);
            let (x, y) = ((i % w) as isize, (i / w) as isize);
            for dy in -1..=1 {
                for dx in -1..=1 {
                    let (nx, ny) = (x + dx, y + dy);
                    if nx < 0 || ny < 0 || nx >= w as isize || ny >= h as isize {
                        continue;
                    }
                    let j = ny as usize * w + nx as usize;
                    if mask[j] && !seen[j] {
                        seen[j] = true;
                        queue.push_back(j);
                    }
                }
            }
        }
        if best.as_ref().is_none_or(|b| region.len() > b.len()) {
            best = Some(region);
        }
    }
    best
}

/// The pixels within two pixels of `region` that are nearer the shape's colour than the
/// background's along the line between them (coverage above one half).
fn outline_mask(
    image: &RgbImage,
    region: &[usize],
    background: [f32; 3],
    shape: [f32; 3],
) -> Vec<bool> {
    let (w, h) = (image.width, image.height);
    let mut near = vec![false; w * h];
    for &i in region {
        let (x, y) = ((i % w) as isize, (i / w) as isize);
        for dy in -2..=2 {
            for dx in -2..=2 {
                let (nx, ny) = (x + dx, y + dy);
                if nx >= 0 && ny >= 0 && nx < w as isize && ny < h as isize {
                    near[ny as usize * w + nx as usize] = true;
                }
            }
        }
    }
    let axis = [0, 1, 2].map(|c| shape[c] - background[c]);
    let length2: f32 = axis.iter().map(|a| a * a).sum();
    near.iter()
        .enumerate()
        .map(|(i, &near)| {
            if !near {
                return false;
            }
            let p = rgb_f32(image.pixels[i]);
            let t: f32 = (0..3)
                .map(|c| (p[c] - background[c]) * axis[c])
                .sum::<f32>()
                / length2;
            t > 0.5
        })
        .collect()
}

/// The best intersection over union of `mask` with `shape` drawn at the same area and
/// centroid, over rotations across one symmetry period.
fn best_match(shape: Shape, mask: &[bool], area: usize, centroid: [f32; 2], size: usize) -> f32 {
    let side = size as f32;
    let radius = (area as f32 / area_per_radius_squared(shape)).sqrt() / side;
    let [ox, oy] = centroid_offset(shape);
    let centre = [centroid[0] - ox * radius, centroid[1] - oy * radius];
    let (period, tries) = match shape {
        Shape::Circle => (0.0, 1),
        Shape::Square => (std::f32::consts::FRAC_PI_2, ROTATIONS),
        Shape::Triangle => (2.0 * std::f32::consts::PI / 3.0, ROTATIONS),
        Shape::Star => (2.0 * std::f32::consts::PI / 5.0, ROTATIONS),
    };
    (0..tries)
        .map(|k| {
            let rotation = period * k as f32 / tries as f32;
            let template = shape_mask(shape, centre, radius, rotation, size);
            let (mut both, mut either) = (0usize, 0usize);
            for (&m, &t) in mask.iter().zip(&template) {
                both += usize::from(m && t);
                either += usize::from(m || t);
            }
            both as f32 / either.max(1) as f32
        })
        .fold(0.0, f32::max)
}

/// What a prompt asks for, as the checker can verify it.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct Expected {
    pub shape: Shape,
    pub colour: Colour,
    pub position: Position,
    /// `None` where the prompt leaves it unsaid.
    pub size: Option<Size>,
    pub background: Option<Colour>,
}

/// Each attribute's agreement; `None` for an attribute the prompt leaves unsaid.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Verdict {
    pub colour: bool,
    pub position: bool,
    pub shape: bool,
    pub size: Option<bool>,
    pub background: Option<bool>,
}

impl Verdict {
    /// Adherence as the eval counts it: the main shape's colour, position and class.
    pub fn adheres(&self) -> bool {
        self.colour && self.position && self.shape
    }
}

pub fn verdict(analysis: &Analysis, expected: &Expected) -> Verdict {
    let background = expected.background.map(|b| b == analysis.background);
    match &analysis.main {
        None => Verdict {
            colour: false,
            position: false,
            shape: false,
            size: expected.size.map(|_| false),
            background,
        },
        Some(main) => Verdict {
            colour: main.colour == expected.colour,
            position: main.position == expected.position,
            shape: main.shape == expected.shape,
            size: expected.size.map(|s| s == main.size),
            background,
        },
    }
}
