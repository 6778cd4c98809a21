//! Drawing shapes as data.py draws them (`draw_scene`, `_polygon`): the same outlines, centres,
//! radii and rotations, antialiased by 4×4 supersampling (data.py draws at 4× and downsamples
//! with Lanczos). The checker's unit tests draw scenes of known attributes with it, and the
//! checker classifies shapes by comparing them with its outlines.

use std::f32::consts::PI;

use rand::Rng;

use crate::image::RgbImage;
use crate::vocab::{Colour, Position, Shape, Size};

/// One shape as drawn: centre and radius as fractions of the side, rotation in radians.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct Placed {
    pub shape: Shape,
    pub colour: Colour,
    pub centre: [f32; 2],
    pub radius: f32,
    pub rotation: f32,
}

impl Placed {
    /// Exactly at its named position and size, unrotated.
    pub fn at(shape: Shape, colour: Colour, position: Position, size: Size) -> Self {
        Self {
            shape,
            colour,
            centre: position.centre(),
            radius: size.radius(),
            rotation: 0.0,
        }
    }

    /// With data.py's jitter (`random_scene`): ±0.03 of the side in x and y, ±10% radius, and
    /// half of the time a rotation of ±0.2 rad.
    pub fn jittered(
        shape: Shape,
        colour: Colour,
        position: Position,
        size: Size,
        rng: &mut impl Rng,
    ) -> Self {
        let [x, y] = position.centre();
        let (jx, jy, jr) = (
            rng.random_range(-0.03..0.03),
            rng.random_range(-0.03..0.03),
            rng.random_range(-0.1..0.1),
        );
        let rotation = if rng.random_bool(0.5) {
            rng.random_range(-0.2..0.2)
        } else {
            0.0
        };
        Self {
            shape,
            colour,
            centre: [x + jx, y + jy],
            radius: size.radius() * (1.0 + jr),
            rotation,
        }
    }
}

/// The outline of a polygonal shape in the units of `centre` and `radius` (data.py's
/// `_polygon`); `None` for the circle.
pub fn polygon(
    shape: Shape,
    centre: [f32; 2],
    radius: f32,
    rotation: f32,
) -> Option<Vec<[f32; 2]>> {
    let [cx, cy] = centre;
    let r = radius;
    let points = match shape {
        Shape::Circle => return None,
        Shape::Square => (0..4)
            .map(|i| {
                let a = PI / 4.0 + rotation + 2.0 * PI * i as f32 / 4.0;
                [cx + r * a.cos(), cy + r * a.sin()]
            })
            .collect(),
        Shape::Triangle => (0..3)
            .map(|i| {
                let a = -PI / 2.0 + rotation + 2.0 * PI * i as f32 / 3.0;
                [cx + r * a.cos(), cy + r * 1.1 * a.sin() + r * 0.15]
            })
            .collect(),
        Shape::Star => (0..10)
            .map(|i| {
                let rad = r * if i % 2 == 0 { 1.05 } else { 0.45 };
                let a = -PI / 2.0 + rotation + PI * i as f32 / 5.0;
                [cx + rad * a.cos(), cy + rad * a.sin()]
            })
            .collect(),
    };
    Some(points)
}

/// A shape's area over its radius squared, for matching a template's size to a region's area.
pub fn area_per_radius_squared(shape: Shape) -> f32 {
    match shape {
        Shape::Circle => PI,
        // Half-diagonal r: side r·√2.
        Shape::Square => 2.0,
        // Equilateral of circumradius r, stretched 1.1× vertically.
        Shape::Triangle => 3.0 * 3f32.sqrt() / 4.0 * 1.1,
        // Ten triangles between radii 1.05 r and 0.45 r, 36° apart.
        Shape::Star => 5.0 * 1.05 * 0.45 * (PI / 5.0).sin(),
    }
}

/// Where a shape's area centroid lies relative to its drawing centre, in units of its radius:
/// data.py shifts the triangle down by 0.15 r, the others are symmetric.
pub fn centroid_offset(shape: Shape) -> [f32; 2] {
    match shape {
        Shape::Triangle => [0.0, 0.15],
        _ => [0.0, 0.0],
    }
}

fn inside_polygon(points: &[[f32; 2]], x: f32, y: f32) -> bool {
    let mut inside = false;
    let mut j = points.len() - 1;
    for i in 0..points.len() {
        let ([xi, yi], [xj, yj]) = (points[i], points[j]);
        if (yi > y) != (yj > y) && x < (xj - xi) * (y - yi) / (yj - yi) + xi {
            inside = !inside;
        }
        j = i;
    }
    inside
}

const SUPERSAMPLE: usize = 4;

/// Each pixel's covered fraction (0..=1) by the shape, on a `size`×`size` grid, from
/// `samples`×`samples` points per pixel.
fn sampled(
    shape: Shape,
    centre: [f32; 2],
    radius: f32,
    rotation: f32,
    size: usize,
    samples: usize,
) -> Vec<f32> {
    let side = size as f32;
    let (c, r) = ([centre[0] * side, centre[1] * side], radius * side);
    let outline = polygon(shape, c, r, rotation);
    // Only pixels within the shape's reach are tested (the triangle reaches 1.25 r downwards).
    let reach = r * 1.3 + 1.0;
    let lo = |v: f32| ((v - reach).floor().max(0.0)) as usize;
    let hi = |v: f32| ((v + reach).ceil().max(0.0) as usize).min(size);
    let mut out = vec![0.0; size * size];
    let per_sample = 1.0 / (samples * samples) as f32;
    for py in lo(c[1])..hi(c[1]) {
        for px in lo(c[0])..hi(c[0]) {
            let mut covered = 0.0;
            for sy in 0..samples {
                for sx in 0..samples {
                    let x = px as f32 + (sx as f32 + 0.5) / samples as f32;
                    let y = py as f32 + (sy as f32 + 0.5) / samples as f32;
                    let hit = match &outline {
                        None => (x - c[0]).powi(2) + (y - c[1]).powi(2) <= r * r,
                        Some(points) => inside_polygon(points, x, y),
                    };
                    if hit {
                        covered += per_sample;
                    }
                }
            }
            out[py * size + px] = covered;
        }
    }
    out
}

/// Each pixel's covered fraction (0..=1) by the shape, on a `size`×`size` grid.
pub fn coverage(
    shape: Shape,
    centre: [f32; 2],
    radius: f32,
    rotation: f32,
    size: usize,
) -> Vec<f32> {
    sampled(shape, centre, radius, rotation, size, SUPERSAMPLE)
}

/// The pixels whose centre the shape covers: its outline at pixel resolution.
pub fn mask(shape: Shape, centre: [f32; 2], radius: f32, rotation: f32, size: usize) -> Vec<bool> {
    sampled(shape, centre, radius, rotation, size, 1)
        .into_iter()
        .map(|c| c > 0.5)
        .collect()
}

/// A scene as data.py draws it: the shapes in order over a background colour.
pub fn draw(background: Colour, shapes: &[Placed], size: usize) -> RgbImage {
    let mut image = RgbImage::filled(size, size, background.rgb());
    for placed in shapes {
        let cover = coverage(
            placed.shape,
            placed.centre,
            placed.radius,
            placed.rotation,
            size,
        );
        let fg = placed.colour.rgb();
        for (pixel, &a) in image.pixels.iter_mut().zip(&cover) {
            if a > 0.0 {
                for ch in 0..3 {
                    let blended = f32::from(pixel[ch]) * (1.0 - a) + f32::from(fg[ch]) * a;
                    pixel[ch] = blended.round() as u8;
                }
            }
        }
    }
    image
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn covered_area_matches_the_formula() {
        for shape in crate::vocab::SHAPES {
            let radius = 0.3;
            let cover = coverage(shape, [0.5, 0.5], radius, 0.1, 128);
            let area: f32 = cover.iter().sum();
            let expected = area_per_radius_squared(shape) * (radius * 128.0).powi(2);
            assert!(
                (area - expected).abs() < 0.01 * expected,
                "{shape:?}: {area} px, formula {expected}"
            );
        }
    }

    #[test]
    fn triangle_centroid_is_below_its_centre() {
        let cover = coverage(Shape::Triangle, [0.5, 0.5], 0.3, 0.0, 128);
        let area: f32 = cover.iter().sum();
        let cy: f32 = cover
            .iter()
            .enumerate()
            .map(|(i, a)| a * ((i / 128) as f32 + 0.5))
            .sum::<f32>()
            / area;
        let expected = (0.5 + 0.3 * centroid_offset(Shape::Triangle)[1]) * 128.0;
        assert!(
            (cy - expected).abs() < 0.3,
            "centroid y {cy}, expected {expected}"
        );
    }

    #[test]
    fn draw_blends_edges_and_fills_the_inside() {
        let red = Colour::by_name("red").unwrap();
        let blue = Colour::by_name("blue").unwrap();
        let placed = Placed::at(Shape::Triangle, red, Position(4), Size::Large);
        let image = draw(blue, &[placed], 64);
        assert_eq!(image.get(32, 34), red.rgb());
        assert_eq!(image.get(0, 0), blue.rgb());
        let blended = image
            .pixels
            .iter()
            .filter(|&&p| p != red.rgb() && p != blue.rgb())
            .count();
        // The two slanted sides cross about 2 × 28 rows.
        assert!(
            (30..120).contains(&blended),
            "{blended} blended edge pixels"
        );
    }
}
