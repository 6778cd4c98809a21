//! The training data's vocabulary, mirrored from xtask/train/data.py (COLOURS, SHAPES,
//! POSITIONS, SIZES). The unit tests below parse data.py itself, so the two cannot drift apart
//! without a failing test, and CI needs no Python for it.

/// A named colour of the training palette, in data.py's order.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct Colour(pub usize);

pub const COLOURS: [(&str, [u8; 3]); 12] = [
    ("red", [220, 30, 30]),
    ("orange", [245, 140, 20]),
    ("yellow", [245, 220, 30]),
    ("green", [40, 170, 60]),
    ("blue", [30, 80, 220]),
    ("purple", [140, 50, 190]),
    ("pink", [245, 130, 190]),
    ("brown", [130, 80, 40]),
    ("white", [250, 250, 250]),
    ("black", [15, 15, 15]),
    ("gray", [128, 128, 128]),
    ("cyan", [40, 210, 220]),
];

impl Colour {
    pub fn all() -> impl Iterator<Item = Colour> {
        (0..COLOURS.len()).map(Colour)
    }

    pub fn name(self) -> &'static str {
        COLOURS[self.0].0
    }

    pub fn rgb(self) -> [u8; 3] {
        COLOURS[self.0].1
    }

    pub fn by_name(name: &str) -> Option<Colour> {
        COLOURS.iter().position(|(n, _)| *n == name).map(Colour)
    }

    /// The palette colour nearest to `rgb` (Euclidean in sRGB, as the palette was chosen).
    pub fn nearest(rgb: [f32; 3]) -> Colour {
        Colour::all()
            .min_by(|a, b| distance(rgb, a.rgb()).total_cmp(&distance(rgb, b.rgb())))
            .expect("the palette is not empty")
    }
}

pub fn distance(a: [f32; 3], b: [u8; 3]) -> f32 {
    let d = |i: usize| a[i] - f32::from(b[i]);
    (d(0) * d(0) + d(1) * d(1) + d(2) * d(2)).sqrt()
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Shape {
    Circle,
    Square,
    Triangle,
    Star,
}

pub const SHAPES: [Shape; 4] = [Shape::Circle, Shape::Square, Shape::Triangle, Shape::Star];

impl Shape {
    pub fn name(self) -> &'static str {
        match self {
            Shape::Circle => "circle",
            Shape::Square => "square",
            Shape::Triangle => "triangle",
            Shape::Star => "star",
        }
    }
}

/// A named position: its centre as fractions of the side (x, y), data.py's order.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct Position(pub usize);

pub const POSITIONS: [(&str, [f32; 2]); 9] = [
    ("top left", [0.25, 0.25]),
    ("top", [0.5, 0.25]),
    ("top right", [0.75, 0.25]),
    ("left", [0.25, 0.5]),
    ("centre", [0.5, 0.5]),
    ("right", [0.75, 0.5]),
    ("bottom left", [0.25, 0.75]),
    ("bottom", [0.5, 0.75]),
    ("bottom right", [0.75, 0.75]),
];

impl Position {
    pub fn all() -> impl Iterator<Item = Position> {
        (0..POSITIONS.len()).map(Position)
    }

    pub fn name(self) -> &'static str {
        POSITIONS[self.0].0
    }

    pub fn centre(self) -> [f32; 2] {
        POSITIONS[self.0].1
    }

    /// The named position nearest to a point given as fractions of the side.
    pub fn nearest(point: [f32; 2]) -> Position {
        let d = |p: Position| {
            let [x, y] = p.centre();
            (x - point[0]).powi(2) + (y - point[1]).powi(2)
        };
        Position::all()
            .min_by(|a, b| d(*a).total_cmp(&d(*b)))
            .expect("positions are not empty")
    }
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Size {
    Small,
    Large,
}

pub const SIZES: [Size; 2] = [Size::Small, Size::Large];

impl Size {
    pub fn name(self) -> &'static str {
        match self {
            Size::Small => "small",
            Size::Large => "large",
        }
    }

    /// The shape's radius as a fraction of the side (before data.py's ±10% jitter).
    pub fn radius(self) -> f32 {
        match self {
            Size::Small => 0.12,
            Size::Large => 0.22,
        }
    }

    /// The size whose radius is nearer to `radius` on a log scale (the sizes are a ratio apart).
    pub fn nearest(radius: f32) -> Size {
        let boundary = (Size::Small.radius() * Size::Large.radius()).sqrt();
        if radius < boundary {
            Size::Small
        } else {
            Size::Large
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const DATA_PY: &str = include_str!("../../../xtask/train/data.py");

    /// The lines of data.py's `NAME = {…}` literal, without the braces.
    fn dict_block(name: &str) -> Vec<&'static str> {
        let start = DATA_PY
            .lines()
            .position(|line| line.starts_with(&format!("{name} = {{")))
            .unwrap_or_else(|| panic!("data.py has no {name} dict"));
        DATA_PY
            .lines()
            .skip(start + 1)
            .take_while(|line| !line.starts_with('}'))
            .filter(|line| !line.trim_start().starts_with('#'))
            .collect()
    }

    /// `"name": (a, b, c),` → ("name", [a, b, c]).
    fn entry(line: &str) -> (String, Vec<f32>) {
        let (key, value) = line.split_once(':').expect("a dict entry");
        let key = key.trim().trim_matches('"').to_string();
        let numbers = value
            .trim()
            .trim_end_matches(',')
            .trim_start_matches('(')
            .trim_end_matches(')')
            .split(',')
            .map(|n| n.trim().parse().expect("a number"))
            .collect();
        (key, numbers)
    }

    #[test]
    fn colours_are_data_py_colours() {
        let parsed: Vec<_> = dict_block("COLOURS").into_iter().map(entry).collect();
        let ours: Vec<_> = COLOURS
            .iter()
            .map(|(name, rgb)| {
                (
                    name.to_string(),
                    rgb.iter().map(|&c| f32::from(c)).collect(),
                )
            })
            .collect();
        assert_eq!(parsed, ours);
    }

    #[test]
    fn positions_are_data_py_positions() {
        let parsed: Vec<_> = dict_block("POSITIONS").into_iter().map(entry).collect();
        let ours: Vec<_> = POSITIONS
            .iter()
            .map(|(name, xy)| (name.to_string(), xy.to_vec()))
            .collect();
        assert_eq!(parsed, ours);
    }

    #[test]
    fn shapes_and_sizes_are_data_py_ones() {
        let shapes = DATA_PY
            .lines()
            .find(|line| line.starts_with("SHAPES = "))
            .expect("data.py has SHAPES");
        let names: Vec<String> = SHAPES.iter().map(|s| format!("{:?}", s.name())).collect();
        assert_eq!(shapes, format!("SHAPES = [{}]", names.join(", ")));

        let sizes = DATA_PY
            .lines()
            .find(|line| line.starts_with("SIZES = "))
            .expect("data.py has SIZES");
        let sizes = sizes.split('#').next().unwrap().trim();
        let ours: Vec<String> = SIZES
            .iter()
            .map(|s| format!("\"{}\": {}", s.name(), s.radius()))
            .collect();
        assert_eq!(sizes, format!("SIZES = {{{}}}", ours.join(", ")));
    }

    #[test]
    fn nearest_colour_and_position_round_trip() {
        for colour in Colour::all() {
            let [r, g, b] = colour.rgb();
            let shifted = [f32::from(r) + 10.0, f32::from(g) - 10.0, f32::from(b)];
            assert_eq!(Colour::nearest(shifted), colour);
        }
        for position in Position::all() {
            let [x, y] = position.centre();
            assert_eq!(Position::nearest([x + 0.1, y - 0.1]), position);
        }
        assert_eq!(Size::nearest(0.13), Size::Small);
        assert_eq!(Size::nearest(0.2), Size::Large);
    }
}
