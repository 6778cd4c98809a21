//! Diversity: one prompt, several seeds; are the images visibly different from each other?
//!
//! A pixel has visibly changed when one of its channels moved by more than 32 of 255 levels
//! (an eighth of the range: well above the autoencoder's noise, far below the gap between two
//! palette colours); two images are visibly different when at least 1% of their pixels (41 at
//! 64×64) changed visibly — a 64×64 shape moved by one pixel changes about that many along its
//! edge.

use crate::image::RgbImage;

pub const VISIBLE_LEVELS: u8 = 32;
pub const VISIBLE_FRACTION: f32 = 0.01;

/// The fraction of pixels that changed visibly between two images of one size.
pub fn changed_fraction(a: &RgbImage, b: &RgbImage) -> f32 {
    assert_eq!((a.width, a.height), (b.width, b.height));
    let changed = a
        .pixels
        .iter()
        .zip(&b.pixels)
        .filter(|(p, q)| (0..3).any(|c| p[c].abs_diff(q[c]) > VISIBLE_LEVELS))
        .count();
    changed as f32 / a.pixels.len() as f32
}

/// Every pair's changed fraction, in (i, j) order with i < j.
pub fn pair_fractions(images: &[RgbImage]) -> Vec<f32> {
    let mut out = Vec::new();
    for i in 0..images.len() {
        for j in i + 1..images.len() {
            out.push(changed_fraction(&images[i], &images[j]));
        }
    }
    out
}

pub fn visibly_different(fraction: f32) -> bool {
    fraction >= VISIBLE_FRACTION
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::render::{Placed, draw};
    use crate::vocab::{Colour, Position, Shape, Size};

    fn circle(dx: f32) -> RgbImage {
        let mut placed = Placed::at(
            Shape::Circle,
            Colour::by_name("red").unwrap(),
            Position(4),
            Size::Small,
        );
        placed.centre[0] += dx;
        draw(Colour::by_name("blue").unwrap(), &[placed], 64)
    }

    #[test]
    fn same_image_is_not_different_and_a_small_move_is() {
        assert_eq!(changed_fraction(&circle(0.0), &circle(0.0)), 0.0);
        let one_pixel = changed_fraction(&circle(0.0), &circle(1.0 / 64.0));
        assert!(visibly_different(one_pixel), "{one_pixel}");
        // Two identical images among three: one pair of three is alike.
        let fractions = pair_fractions(&[circle(0.0), circle(0.0), circle(3.0 / 64.0)]);
        let distinct = fractions.iter().filter(|&&f| visibly_different(f)).count();
        assert_eq!((fractions.len(), distinct), (3, 2));
    }

    #[test]
    fn faint_noise_is_not_a_visible_change() {
        let a = circle(0.0);
        let mut b = a.clone();
        for (i, p) in b.pixels.iter_mut().enumerate() {
            let nudge = (i % 7) as u8 * 4;
            *p = p.map(|c| c.saturating_add(nudge));
        }
        assert_eq!(changed_fraction(&a, &b), 0.0);
    }
}
