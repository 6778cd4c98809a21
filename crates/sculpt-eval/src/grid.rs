//! A contact sheet of generated images: labelled rows of tiles (the labels go in the report).

use crate::image::RgbImage;

const GAP: usize = 2;
const BACKDROP: [u8; 3] = [255, 255, 255];

/// Rows of tiles of one size, up to `columns` a row, separated by a white gap; a section longer
/// than a row wraps onto the next.
pub fn sheet(sections: &[Vec<&RgbImage>], columns: usize) -> Option<RgbImage> {
    let first = sections.iter().flatten().next()?;
    let (tw, th) = (first.width, first.height);
    let rows: Vec<&[&RgbImage]> = sections
        .iter()
        .flat_map(|section| section.chunks(columns))
        .collect();
    let width = columns * (tw + GAP) - GAP;
    let height = rows.len() * (th + GAP) - GAP;
    let mut out = RgbImage::filled(width, height, BACKDROP);
    for (r, row) in rows.iter().enumerate() {
        for (c, tile) in row.iter().enumerate() {
            out.paste(tile, c * (tw + GAP), r * (th + GAP));
        }
    }
    Some(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sections_wrap_into_rows() {
        let red = RgbImage::filled(4, 4, [255, 0, 0]);
        let blue = RgbImage::filled(4, 4, [0, 0, 255]);
        let sheet = sheet(&[vec![&red, &red, &red], vec![&blue]], 2).unwrap();
        assert_eq!((sheet.width, sheet.height), (10, 16));
        assert_eq!(sheet.get(0, 0), [255, 0, 0]);
        assert_eq!(sheet.get(6, 0), [255, 0, 0]);
        assert_eq!(sheet.get(4, 0), BACKDROP);
        assert_eq!(sheet.get(0, 6), [255, 0, 0]);
        assert_eq!(sheet.get(6, 6), BACKDROP);
        assert_eq!(sheet.get(6, 12), BACKDROP);
        assert_eq!(sheet.get(0, 12), [0, 0, 255]);
        assert!(super::sheet(&[], 2).is_none());
    }
}
