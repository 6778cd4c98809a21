//! The checker on scenes drawn with known attributes (data.py's geometry and jitter), and on
//! images that must not pass.

use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;
use sculpt_eval::checker::{Expected, analyse, verdict};
use sculpt_eval::image::RgbImage;
use sculpt_eval::render::{Placed, draw};
use sculpt_eval::vocab::{COLOURS, Colour, POSITIONS, Position, SHAPES, SIZES, Shape, Size};

const SIDE: usize = 64;

fn colour(name: &str) -> Colour {
    Colour::by_name(name).unwrap()
}

fn position(name: &str) -> Position {
    Position::all().find(|p| p.name() == name).unwrap()
}

fn expected(placed: &Placed, position: Position, size: Size, background: Colour) -> Expected {
    Expected {
        shape: placed.shape,
        colour: placed.colour,
        position,
        size: Some(size),
        background: Some(background),
    }
}

#[test]
fn reads_a_drawn_scene_exactly() {
    let (bg, position, size) = (colour("blue"), position("top left"), Size::Large);
    for shape in SHAPES {
        let placed = Placed::at(shape, colour("red"), position, size);
        let analysis = analyse(&draw(bg, &[placed], SIDE));
        assert_eq!(analysis.background, bg);
        let main = analysis.main.as_ref().expect("a shape");
        assert_eq!(main.colour, colour("red"));
        assert_eq!(main.position, position);
        assert_eq!(main.shape, shape, "scores {:?}", main.shape_scores);
        assert_eq!(main.size, size);
        let [x, y] = main.centroid;
        let drawn_centroid_y = 0.25 + 0.22 * sculpt_eval::render::centroid_offset(shape)[1];
        assert!(
            (x - 0.25).abs() < 0.01 && (y - drawn_centroid_y).abs() < 0.01,
            "{x} {y}"
        );
        let verdict = verdict(&analysis, &expected(&placed, position, size, bg));
        assert!(
            verdict.adheres() && verdict.size == Some(true) && verdict.background == Some(true)
        );
    }
}

/// Every attribute, as the training data varies it: random colours, positions, sizes, shapes,
/// backgrounds, with data.py's jitter and rotation.
#[test]
fn reads_jittered_training_like_scenes() {
    read_scenes(0, 1000, 99);
}

/// Blurred as the autoencoder blurs, the scenes are still read.
#[test]
fn reads_blurred_scenes() {
    read_scenes(2, 300, 93);
}

fn read_scenes(blur: usize, scenes: usize, percent: usize) {
    let mut rng = ChaCha8Rng::seed_from_u64(11);
    let (mut adheres, mut sizes, mut backgrounds) = (0, 0, 0);
    let mut confusions = Vec::new();
    for _ in 0..scenes {
        let bg = Colour(rng.random_range(0..COLOURS.len()));
        let fg = loop {
            let c = Colour(rng.random_range(0..COLOURS.len()));
            if c != bg {
                break c;
            }
        };
        let position = Position(rng.random_range(0..POSITIONS.len()));
        let size = SIZES[rng.random_range(0..2)];
        let shape = SHAPES[rng.random_range(0..4)];
        let placed = Placed::jittered(shape, fg, position, size, &mut rng);
        let analysis = analyse(&draw(bg, &[placed], SIDE).box_blurred(blur));
        let v = verdict(&analysis, &expected(&placed, position, size, bg));
        adheres += usize::from(v.adheres());
        sizes += usize::from(v.size == Some(true));
        backgrounds += usize::from(v.background == Some(true));
        if !v.adheres() {
            confusions.push(format!(
                "{:?} {} {} {:?} → {:?}",
                shape,
                fg.name(),
                position.name(),
                size,
                analysis.main.map(|m| (
                    m.shape,
                    m.colour.name(),
                    m.position.name(),
                    m.shape_scores
                ))
            ));
        }
    }
    println!("blur {blur}: adheres {adheres}/{scenes}, sizes {sizes}, backgrounds {backgrounds}");
    for c in &confusions {
        println!("{c}");
    }
    assert_eq!(backgrounds, scenes);
    assert!(adheres >= scenes * percent / 100, "{adheres} of {scenes}");
    assert!(sizes >= scenes * percent / 100, "{sizes} of {scenes}");
}

#[test]
fn the_largest_shape_is_the_main_one() {
    let small = Placed::at(
        Shape::Star,
        colour("yellow"),
        position("top right"),
        Size::Small,
    );
    let large = Placed::at(
        Shape::Circle,
        colour("pink"),
        position("bottom left"),
        Size::Large,
    );
    let analysis = analyse(&draw(colour("black"), &[small, large], SIDE));
    let main = analysis.main.unwrap();
    assert_eq!(
        (main.shape, main.colour, main.position),
        (Shape::Circle, colour("pink"), position("bottom left"))
    );
}

#[test]
fn a_plain_image_has_no_shape_and_fails() {
    let image = RgbImage::filled(SIDE, SIDE, colour("gray").rgb());
    let analysis = analyse(&image);
    assert_eq!(analysis.background, colour("gray"));
    assert!(analysis.main.is_none());
    let wanted = Expected {
        shape: Shape::Circle,
        colour: colour("red"),
        position: position("centre"),
        size: None,
        background: Some(colour("gray")),
    };
    let v = verdict(&analysis, &wanted);
    assert!(!v.adheres() && !v.colour && !v.position && !v.shape);
    assert_eq!(v.background, Some(true));
}

#[test]
fn wrong_colour_position_or_shape_each_fail() {
    let bg = colour("white");
    let placed = Placed::at(
        Shape::Triangle,
        colour("green"),
        position("right"),
        Size::Large,
    );
    let analysis = analyse(&draw(bg, &[placed], SIDE));
    let right = expected(&placed, position("right"), Size::Large, bg);
    assert!(verdict(&analysis, &right).adheres());
    let cases = [
        Expected {
            colour: colour("cyan"),
            ..right
        },
        Expected {
            position: position("left"),
            ..right
        },
        Expected {
            shape: Shape::Square,
            ..right
        },
    ];
    for wrong in cases {
        assert!(!verdict(&analysis, &wrong).adheres(), "{wrong:?}");
    }
    let small = Expected {
        size: Some(Size::Small),
        background: Some(colour("black")),
        ..right
    };
    let v = verdict(&analysis, &small);
    assert_eq!((v.size, v.background), (Some(false), Some(false)));
}

/// Noise (what an untrained model's decoder gives) almost never passes: its largest region is a
/// ragged blob.
#[test]
fn noise_rarely_passes() {
    let mut rng = ChaCha8Rng::seed_from_u64(5);
    let mut passed = 0;
    for _ in 0..100 {
        let mut image = RgbImage::filled(SIDE, SIDE, [0; 3]);
        for p in &mut image.pixels {
            *p = [rng.random(), rng.random(), rng.random()];
        }
        let wanted = Expected {
            shape: SHAPES[rng.random_range(0..4)],
            colour: Colour(rng.random_range(0..COLOURS.len())),
            position: Position(rng.random_range(0..POSITIONS.len())),
            size: None,
            background: None,
        };
        passed += usize::from(verdict(&analyse(&image), &wanted).adheres());
    }
    assert!(passed <= 3, "{passed} of 100 noise images passed");
}
