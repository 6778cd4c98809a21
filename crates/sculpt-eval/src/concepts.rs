//! Emoji concepts: is the image generated for an emoji's name nearest to that emoji's training
//! glyph? "Nearest" in a deliberately simple feature space: the image averaged down to 8×8
//! RGB (192 numbers in 0..=1), Euclidean distance. At 8×8 the model's blur and the glyphs'
//! fine detail drop out and what is left is layout and colour, which is what a 64×64 model this
//! size can get right. The space's own ceiling is measured too: how often a blurred reference
//! glyph finds itself among its 5 nearest.

use rand::{SeedableRng, seq::index::sample};
use rand_chacha::ChaCha8Rng;

use crate::generator::Generator;
use crate::image::RgbImage;
use crate::reference::Glyphs;

pub const FEATURE_SIDE: usize = 8;
pub const TOP: usize = 5;

pub fn features(image: &RgbImage) -> Vec<f32> {
    let (cw, ch) = (image.width / FEATURE_SIDE, image.height / FEATURE_SIDE);
    let mut out = Vec::with_capacity(FEATURE_SIDE * FEATURE_SIDE * 3);
    for cy in 0..FEATURE_SIDE {
        for cx in 0..FEATURE_SIDE {
            let mut sum = [0f32; 3];
            for y in cy * ch..(cy + 1) * ch {
                for x in cx * cw..(cx + 1) * cw {
                    let p = image.get(x, y);
                    (0..3).for_each(|c| sum[c] += f32::from(p[c]));
                }
            }
            out.extend(sum.map(|s| s / (cw * ch) as f32 / 255.0));
        }
    }
    out
}

/// Every glyph's features, to rank images against.
pub struct GlyphIndex {
    pub names: Vec<String>,
    features: Vec<Vec<f32>>,
}

impl GlyphIndex {
    pub fn new(glyphs: &Glyphs) -> Self {
        Self {
            names: glyphs.names.clone(),
            features: glyphs.images.iter().map(features).collect(),
        }
    }

    /// Glyph indices, nearest first.
    pub fn ranking(&self, image: &RgbImage) -> Vec<usize> {
        let f = features(image);
        let d: Vec<f32> = self
            .features
            .iter()
            .map(|g| g.iter().zip(&f).map(|(a, b)| (a - b).powi(2)).sum())
            .collect();
        let mut order: Vec<usize> = (0..d.len()).collect();
        order.sort_by(|&a, &b| d[a].total_cmp(&d[b]));
        order
    }

    /// 0 when glyph `target` is the nearest to `image`.
    pub fn rank_of(&self, image: &RgbImage, target: usize) -> usize {
        self.ranking(image)
            .iter()
            .position(|&g| g == target)
            .expect("target is a glyph")
    }
}

/// `count` distinct glyphs drawn from `seed`.
pub fn choose(glyphs: usize, count: usize, seed: u64) -> Vec<usize> {
    let mut rng = ChaCha8Rng::seed_from_u64(seed);
    sample(&mut rng, glyphs, count.min(glyphs)).into_vec()
}

/// How often a glyph blurred `blur` times finds itself in its own top 5: the most the eval can
/// report for a model that draws every glyph as softly as that.
pub fn ceiling(index: &GlyphIndex, glyphs: &Glyphs, blur: usize) -> (usize, usize) {
    let hits = glyphs
        .images
        .iter()
        .enumerate()
        .filter(|(i, image)| index.rank_of(&image.box_blurred(blur), *i) < TOP)
        .count();
    (hits, glyphs.images.len())
}

pub struct ConceptOutcome {
    pub glyph: usize,
    pub name: String,
    pub seed: u64,
    pub image: RgbImage,
    pub rank: usize,
    /// The nearest glyphs' names, nearest first.
    pub nearest: Vec<String>,
}

/// Generates each chosen glyph's name as the prompt (the commonest training caption of a glyph
/// on white) with seed `first_seed + i`.
pub fn run(
    generator: &mut dyn Generator,
    index: &GlyphIndex,
    chosen: &[usize],
    steps: usize,
    first_seed: u64,
    mut progress: impl FnMut(usize, &ConceptOutcome),
) -> anyhow::Result<Vec<ConceptOutcome>> {
    let mut outcomes = Vec::new();
    for (i, &glyph) in chosen.iter().enumerate() {
        let name = index.names[glyph].clone();
        let seed = first_seed + i as u64;
        let image = generator.generate(&name, seed, steps)?;
        let ranking = index.ranking(&image);
        let rank = ranking.iter().position(|&g| g == glyph).expect("a glyph");
        let nearest = ranking[..TOP]
            .iter()
            .map(|&g| index.names[g].clone())
            .collect();
        outcomes.push(ConceptOutcome {
            glyph,
            name,
            seed,
            image,
            rank,
            nearest,
        });
        progress(i, outcomes.last().expect("just pushed"));
    }
    Ok(outcomes)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn tile(rgb: [u8; 3], dot: Option<(usize, usize, [u8; 3])>) -> RgbImage {
        let mut image = RgbImage::filled(64, 64, rgb);
        if let Some((x, y, c)) = dot {
            for dy in 0..16 {
                for dx in 0..16 {
                    image.set(x + dx, y + dy, c);
                }
            }
        }
        image
    }

    #[test]
    fn features_average_eight_by_eight_cells() {
        let f = features(&tile([255, 0, 51], Some((0, 0, [0, 0, 0]))));
        assert_eq!(f.len(), 192);
        assert_eq!(&f[..3], &[0.0, 0.0, 0.0]);
        assert_eq!(&f[189..], &[1.0, 0.0, 0.2]);
    }

    #[test]
    fn nearest_glyph_is_the_similar_one() {
        let glyphs = Glyphs {
            names: vec!["red dot".into(), "blue dot".into(), "blank".into()],
            images: vec![
                tile([255; 3], Some((8, 8, [220, 30, 30]))),
                tile([255; 3], Some((40, 40, [30, 80, 220]))),
                tile([255; 3], None),
            ],
        };
        let index = GlyphIndex::new(&glyphs);
        let generated = tile([250; 3], Some((10, 6, [200, 40, 40]))).box_blurred(2);
        assert_eq!(index.ranking(&generated), vec![0, 2, 1]);
        assert_eq!(index.rank_of(&generated, 1), 2);
        assert_eq!(ceiling(&index, &glyphs, 2), (3, 3));
    }

    #[test]
    fn choice_is_seeded_and_distinct() {
        let a = choose(1361, 50, 3);
        assert_eq!(a, choose(1361, 50, 3));
        assert_ne!(a, choose(1361, 50, 4));
        let mut unique = a.clone();
        unique.sort();
        unique.dedup();
        assert_eq!(unique.len(), 50);
    }
}
