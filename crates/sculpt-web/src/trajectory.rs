//! The latent trajectory of a run, made visible: its points (one latent
//! per step, thousands of numbers each) projected onto the plane that
//! shows most of their spread (principal component analysis), and how
//! straight the path is. Rectified flow learns paths that are nearly
//! straight lines from noise to image; this is what lets the visualizer
//! show it.
//!
//! Plain arithmetic on the latents the engine sent back, small enough for
//! the page (a run has at most a few dozen points): the principal
//! components come from the points' Gram matrix, so the work grows with
//! the number of points, not with the latent's size.

/// The points projected onto the first two principal components.
#[derive(Clone, Debug, PartialEq)]
pub struct Projection {
    /// One `[first, second]` pair per point, in the order given.
    pub points: Vec<[f64; 2]>,
    /// The share of the points' spread (variance) each component shows.
    pub explained: [f64; 2],
}

/// Projects `points` (each a latent, all of one length) onto their two
/// principal components. Distances between projected points are the
/// distances between the points as far as the plane shows them.
pub fn project(points: &[&[f32]]) -> Projection {
    let n = points.len();
    if n == 0 {
        return Projection {
            points: Vec::new(),
            explained: [0.0, 0.0],
        };
    }
    let dimension = points[0].len();
    let mut mean = vec![0.0_f64; dimension];
    for point in points {
        for (sum, &value) in mean.iter_mut().zip(point.iter()) {
            *sum += f64::from(value);
        }
    }
    for sum in &mut mean {
        *sum /= n as f64;
    }
    // The centred points' Gram matrix: its eigenvectors, scaled by the
    // square roots of their eigenvalues, are the projections.
    let mut gram = vec![0.0_f64; n * n];
    for i in 0..n {
        for j in 0..=i {
            let dot: f64 = points[i]
                .iter()
                .zip(points[j].iter())
                .zip(&mean)
                .map(|((&a, &b), &m)| (f64::from(a) - m) * (f64::from(b) - m))
                .sum();
            gram[i * n + j] = dot;
            gram[j * n + i] = dot;
        }
    }
    let (values, vectors) = symmetric_eigen(gram, n);
    let mut order: Vec<usize> = (0..n).collect();
    order.sort_by(|&a, &b| values[b].total_cmp(&values[a]));
    let total: f64 = values.iter().map(|value| value.max(0.0)).sum();
    let component = |rank: usize| order.get(rank).map(|&k| (values[k].max(0.0), k));
    let mut projected = vec![[0.0; 2]; n];
    let mut explained = [0.0; 2];
    for rank in 0..2 {
        let Some((value, k)) = component(rank) else {
            continue;
        };
        explained[rank] = if total > 0.0 { value / total } else { 0.0 };
        let scale = value.sqrt();
        for (i, point) in projected.iter_mut().enumerate() {
            point[rank] = vectors[i * n + k] * scale;
        }
    }
    Projection {
        points: projected,
        explained,
    }
}

/// The path's length through every point over the straight distance from
/// its first point to its last: 1 for a straight path, more the more it
/// bends (1 too for a path of fewer than two distinct points).
pub fn bend(path: &[&[f32]]) -> f64 {
    let distance = |a: &[f32], b: &[f32]| {
        a.iter()
            .zip(b)
            .map(|(&x, &y)| (f64::from(x) - f64::from(y)).powi(2))
            .sum::<f64>()
            .sqrt()
    };
    let (Some(first), Some(last)) = (path.first(), path.last()) else {
        return 1.0;
    };
    let straight = distance(first, last);
    if straight == 0.0 {
        return 1.0;
    }
    let length: f64 = path.windows(2).map(|pair| distance(pair[0], pair[1])).sum();
    length / straight
}

/// Eigenvalues and eigenvectors (column `k` of the row-major result) of a
/// symmetric `n` × `n` matrix, by cyclic Jacobi rotations: plain, exact to
/// rounding, and quick at the sizes a run has.
fn symmetric_eigen(mut a: Vec<f64>, n: usize) -> (Vec<f64>, Vec<f64>) {
    let mut v = vec![0.0; n * n];
    for i in 0..n {
        v[i * n + i] = 1.0;
    }
    let scale: f64 = a.iter().map(|x| x * x).sum::<f64>().sqrt();
    for _sweep in 0..64 {
        let off: f64 = (0..n)
            .flat_map(|i| (0..n).filter(move |&j| j != i).map(move |j| (i, j)))
            .map(|(i, j)| a[i * n + j].powi(2))
            .sum::<f64>()
            .sqrt();
        if off <= 1e-14 * scale.max(f64::MIN_POSITIVE) {
            break;
        }
        for p in 0..n {
            for q in p + 1..n {
                let apq = a[p * n + q];
                if apq == 0.0 {
                    continue;
                }
                let theta = (a[q * n + q] - a[p * n + p]) / (2.0 * apq);
                let t = theta.signum() / (theta.abs() + (theta * theta + 1.0).sqrt());
                let t = if theta == 0.0 { 1.0 } else { t };
                let c = 1.0 / (t * t + 1.0).sqrt();
                let s = t * c;
                for k in 0..n {
                    let (akp, akq) = (a[k * n + p], a[k * n + q]);
                    a[k * n + p] = c * akp - s * akq;
                    a[k * n + q] = s * akp + c * akq;
                }
                for k in 0..n {
                    let (apk, aqk) = (a[p * n + k], a[q * n + k]);
                    a[p * n + k] = c * apk - s * aqk;
                    a[q * n + k] = s * apk + c * aqk;
                }
                for k in 0..n {
                    let (vkp, vkq) = (v[k * n + p], v[k * n + q]);
                    v[k * n + p] = c * vkp - s * vkq;
                    v[k * n + q] = s * vkp + c * vkq;
                }
            }
        }
    }
    ((0..n).map(|i| a[i * n + i]).collect(), v)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn distance2(a: [f64; 2], b: [f64; 2]) -> f64 {
        ((a[0] - b[0]).powi(2) + (a[1] - b[1]).powi(2)).sqrt()
    }

    fn distance(a: &[f32], b: &[f32]) -> f64 {
        a.iter()
            .zip(b)
            .map(|(&x, &y)| (f64::from(x) - f64::from(y)).powi(2))
            .sum::<f64>()
            .sqrt()
    }

    #[test]
    fn points_in_a_plane_keep_their_distances() {
        // A 3 × 4 rectangle's corners and centre, turned into 5-D space by
        // two orthonormal directions worked out by hand, and shifted.
        let u = [0.6_f32, 0.0, 0.8, 0.0, 0.0];
        let w = [0.0_f32, 0.0, 0.0, 0.6, -0.8];
        let offset = [1.0_f32, -2.0, 0.5, 3.0, 0.25];
        let flat = [(0.0, 0.0), (3.0, 0.0), (3.0, 4.0), (0.0, 4.0), (1.5, 2.0)];
        let points: Vec<Vec<f32>> = flat
            .iter()
            .map(|&(x, y)| (0..5).map(|k| offset[k] + x * u[k] + y * w[k]).collect())
            .collect();
        let views: Vec<&[f32]> = points.iter().map(Vec::as_slice).collect();
        let projection = project(&views);
        assert!((projection.explained[0] + projection.explained[1] - 1.0).abs() < 1e-9);
        // The rectangle's long side (4) carries more of the spread.
        assert!(projection.explained[0] > projection.explained[1]);
        for i in 0..points.len() {
            for j in 0..points.len() {
                let want = distance(&points[i], &points[j]);
                let got = distance2(projection.points[i], projection.points[j]);
                assert!((want - got).abs() < 1e-5, "{i}–{j}: {want} vs {got}");
            }
        }
        // The diagonal of a 3 × 4 rectangle is 5.
        assert!((distance2(projection.points[0], projection.points[2]) - 5.0).abs() < 1e-5);
    }

    #[test]
    fn points_on_a_line_need_one_component() {
        let points: Vec<Vec<f32>> = (0..6)
            .map(|i| vec![i as f32, 2.0 * i as f32, -(i as f32)])
            .collect();
        let views: Vec<&[f32]> = points.iter().map(Vec::as_slice).collect();
        let projection = project(&views);
        assert!((projection.explained[0] - 1.0).abs() < 1e-9);
        assert!(projection.explained[1].abs() < 1e-9);
        // Evenly spaced along the line, √6 apart, in order.
        let along: Vec<f64> = projection.points.iter().map(|p| p[0]).collect();
        for pair in along.windows(2) {
            assert!(((pair[1] - pair[0]).abs() - 6.0_f64.sqrt()).abs() < 1e-6);
        }
        assert!(projection.points.iter().all(|p| p[1].abs() < 1e-6));
    }

    #[test]
    fn a_bent_path_is_longer_than_its_ends_are_apart() {
        let corner: [&[f32]; 3] = [&[0.0, 0.0], &[1.0, 0.0], &[1.0, 1.0]];
        assert!((bend(&corner) - 2.0_f64.sqrt()).abs() < 1e-12);
        let straight: [&[f32]; 3] = [&[0.0, 0.0], &[0.5, 1.0], &[1.0, 2.0]];
        assert!((bend(&straight) - 1.0).abs() < 1e-12);
        assert_eq!(bend(&[]), 1.0);
        assert_eq!(bend(&[&[1.0]]), 1.0);
    }

    #[test]
    fn no_points_or_one_point_project_to_nothing_much() {
        assert!(project(&[]).points.is_empty());
        let one = project(&[&[1.0, 2.0]]);
        assert_eq!(one.points, vec![[0.0, 0.0]]);
    }
}
