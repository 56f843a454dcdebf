//! Plane geometry for zones and lines: points, segment intersection, which side of a line a
//! point lies on, point in polygon, and the checks that make a polygon or a line usable.
//! Pure functions on `f64`; callers scale the configuration's 0–1 coordinates to pixels first.

pub type Point = [f64; 2];

fn sub(a: Point, b: Point) -> Point {
    [a[0] - b[0], a[1] - b[1]]
}

/// The z component of `a × b`.
pub fn cross(a: Point, b: Point) -> f64 {
    a[0] * b[1] - a[1] * b[0]
}

/// Twice the signed area of the triangle `o, a, b`: positive when `b` is counter-clockwise of
/// `a` around `o` in y-up axes (clockwise on a screen, where y grows downwards).
pub fn orient(o: Point, a: Point, b: Point) -> f64 {
    cross(sub(a, o), sub(b, o))
}

/// Whether `p`, known to be collinear with `a`–`b`, lies within their bounding box.
fn within(a: Point, b: Point, p: Point) -> bool {
    p[0] >= a[0].min(b[0]) && p[0] <= a[0].max(b[0]) && p[1] >= a[1].min(b[1]) && p[1] <= a[1].max(b[1])
}

/// Whether the closed segments `p1–p2` and `q1–q2` share a point (touching ends count).
pub fn segments_meet(p1: Point, p2: Point, q1: Point, q2: Point) -> bool {
    let d1 = orient(q1, q2, p1);
    let d2 = orient(q1, q2, p2);
    let d3 = orient(p1, p2, q1);
    let d4 = orient(p1, p2, q2);
    if ((d1 > 0.0 && d2 < 0.0) || (d1 < 0.0 && d2 > 0.0)) && ((d3 > 0.0 && d4 < 0.0) || (d3 < 0.0 && d4 > 0.0)) {
        return true;
    }
    (d1 == 0.0 && within(q1, q2, p1))
        || (d2 == 0.0 && within(q1, q2, p2))
        || (d3 == 0.0 && within(p1, p2, q1))
        || (d4 == 0.0 && within(p1, p2, q2))
}

/// Signed distance of `p` from the line through `from`→`to`, negative on its left as seen on a
/// screen (y down): walking from `from` to `to`, the left-hand side is side `a`.
pub fn signed_distance(from: Point, to: Point, p: Point) -> f64 {
    let d = sub(to, from);
    let len = d[0].hypot(d[1]);
    if len == 0.0 { 0.0 } else { cross(d, sub(p, from)) / len }
}

/// Distance from `p` to the closed segment `a`–`b`.
fn distance_to_segment(a: Point, b: Point, p: Point) -> f64 {
    let d = sub(b, a);
    let len2 = d[0] * d[0] + d[1] * d[1];
    let t = if len2 == 0.0 { 0.0 } else { ((p[0] - a[0]) * d[0] + (p[1] - a[1]) * d[1]) / len2 };
    let t = t.clamp(0.0, 1.0);
    let q = [a[0] + t * d[0], a[1] + t * d[1]];
    (p[0] - q[0]).hypot(p[1] - q[1])
}

/// Whether `p` is inside the polygon or on its edge (closed polygon: a point on the boundary is
/// inside, so an object standing on a zone's edge is in the zone). `eps` is the edge's thickness.
pub fn in_polygon(poly: &[Point], p: Point, eps: f64) -> bool {
    let n = poly.len();
    if n < 3 {
        return false;
    }
    let mut inside = false;
    let mut j = n - 1;
    for i in 0..n {
        let (a, b) = (poly[j], poly[i]);
        if distance_to_segment(a, b, p) <= eps {
            return true;
        }
        // Even-odd rule, half-open in y so that a vertex is counted once.
        if (a[1] > p[1]) != (b[1] > p[1]) {
            let x = a[0] + (p[1] - a[1]) * (b[0] - a[0]) / (b[1] - a[1]);
            if p[0] < x {
                inside = !inside;
            }
        }
        j = i;
    }
    inside
}

/// Twice the polygon's signed area (shoelace).
pub fn doubled_area(poly: &[Point]) -> f64 {
    let n = poly.len();
    (0..n).map(|i| cross(poly[i], poly[(i + 1) % n])).sum()
}

/// Why a polygon cannot be a zone, with the corners (from 1) it concerns.
#[derive(Debug, Clone, PartialEq)]
pub enum PolygonProblem {
    TooFewCorners(usize),
    RepeatedCorner {
        first: usize,
        second: usize,
    },
    NoArea,
    /// Edges given by their first corner: edge k runs from corner k to corner k + 1.
    EdgesCross {
        a: usize,
        b: usize,
    },
}

impl PolygonProblem {
    /// The message after the key: what is wrong and what to do.
    pub fn describe(&self, corners: usize) -> String {
        let edge = |k: usize| format!("{k}→{}", if k == corners { 1 } else { k + 1 });
        match self {
            PolygonProblem::TooFewCorners(n) => {
                format!("has {n} corner(s); a zone needs at least 3 [x, y] corners, in order around it")
            }
            PolygonProblem::RepeatedCorner { first, second } => format!(
                "corners {first} and {second} are the same point; remove one (list each corner once, the polygon closes itself)"
            ),
            PolygonProblem::NoArea => {
                "encloses no area (its corners lie on one line); give corners that span the zone".to_string()
            }
            PolygonProblem::EdgesCross { a, b } => format!(
                "intersects itself: edges {} and {} cross; list the corners in order around the zone",
                edge(*a),
                edge(*b)
            ),
        }
    }
}

/// The smallest area (in the frame's 0–1 units squared) a zone may have: a zone of a 1000 × 1000
/// frame must cover about one pixel.
const MIN_AREA: f64 = 1e-6;

/// Whether `poly` is a simple polygon with area: at least 3 corners, no corner twice, edges that
/// meet only where consecutive edges share a corner.
pub fn polygon_problem(poly: &[Point]) -> Option<PolygonProblem> {
    let n = poly.len();
    if n < 3 {
        return Some(PolygonProblem::TooFewCorners(n));
    }
    for i in 0..n {
        for j in i + 1..n {
            if poly[i] == poly[j] {
                return Some(PolygonProblem::RepeatedCorner { first: i + 1, second: j + 1 });
            }
        }
    }
    // All corners on one line: every edge folds onto another, but the clearer fault is the area.
    if (2..n).all(|k| orient(poly[0], poly[1], poly[k]).abs() < MIN_AREA) {
        return Some(PolygonProblem::NoArea);
    }
    let edge = |k: usize| (poly[k], poly[(k + 1) % n]);
    for i in 0..n {
        for j in i + 1..n {
            let (a1, a2) = edge(i);
            let (b1, b2) = edge(j);
            let adjacent = j == i + 1 || (i == 0 && j == n - 1);
            if adjacent {
                // Consecutive edges share a corner; they may not fold back over each other.
                let (shared, p, q) = if j == i + 1 { (a2, a1, b2) } else { (a1, a2, b1) };
                let folds = orient(shared, p, q) == 0.0
                    && (p[0] - shared[0]) * (q[0] - shared[0]) + (p[1] - shared[1]) * (q[1] - shared[1]) > 0.0;
                if folds {
                    return Some(PolygonProblem::EdgesCross { a: i + 1, b: j + 1 });
                }
            } else if segments_meet(a1, a2, b1, b2) {
                return Some(PolygonProblem::EdgesCross { a: i + 1, b: j + 1 });
            }
        }
    }
    // After the crossings: a figure eight's halves cancel out in the signed area.
    if doubled_area(poly).abs() / 2.0 < MIN_AREA {
        return Some(PolygonProblem::NoArea);
    }
    None
}

/// The shortest line allowed, in the frame's 0–1 units (a pixel or two on common frames).
pub const MIN_LINE_LENGTH: f64 = 1e-3;

#[cfg(test)]
mod tests {
    use super::*;

    const SQUARE: [Point; 4] = [[0.0, 0.0], [1.0, 0.0], [1.0, 1.0], [0.0, 1.0]];

    #[test]
    fn segments_that_cross_touch_or_miss() {
        assert!(segments_meet([0.0, 0.0], [2.0, 2.0], [0.0, 2.0], [2.0, 0.0]));
        assert!(segments_meet([0.0, 0.0], [1.0, 1.0], [1.0, 1.0], [2.0, 0.0]), "shared end");
        assert!(segments_meet([0.0, 1.0], [2.0, 1.0], [1.0, 0.0], [1.0, 1.0]), "end on the other segment");
        assert!(!segments_meet([0.0, 0.0], [1.0, 1.0], [2.0, 0.0], [3.0, -1.0]));
        assert!(!segments_meet([0.0, 0.0], [1.0, 0.0], [2.0, 0.0], [3.0, 0.0]), "collinear, apart");
        assert!(segments_meet([0.0, 0.0], [2.0, 0.0], [1.0, 0.0], [3.0, 0.0]), "collinear, overlapping");
    }

    #[test]
    fn side_a_is_on_the_left_of_the_directed_line_on_a_screen() {
        // A line drawn left to right: on a screen (y down), its left is above it.
        let (from, to) = ([0.0, 5.0], [10.0, 5.0]);
        assert!(signed_distance(from, to, [3.0, 2.0]) < 0.0, "above: side a");
        assert!(signed_distance(from, to, [3.0, 8.0]) > 0.0, "below: side b");
        assert_eq!(signed_distance(from, to, [3.0, 8.0]), 3.0);
        // Drawn top to bottom: its left on a screen is the right-hand part of the picture.
        assert!(signed_distance([5.0, 0.0], [5.0, 10.0], [8.0, 3.0]) < 0.0);
    }

    #[test]
    fn points_on_the_edge_or_a_corner_are_inside() {
        assert!(in_polygon(&SQUARE, [0.5, 0.5], 1e-9));
        assert!(in_polygon(&SQUARE, [1.0, 0.5], 1e-9), "on an edge");
        assert!(in_polygon(&SQUARE, [0.0, 0.0], 1e-9), "on a corner");
        assert!(in_polygon(&SQUARE, [0.5, 1.0], 1e-9), "on the bottom edge");
        assert!(!in_polygon(&SQUARE, [1.0 + 1e-6, 0.5], 1e-9));
        assert!(!in_polygon(&SQUARE, [-0.1, -0.1], 1e-9));
        // A concave polygon: the notch is outside.
        let u = [[0.0, 0.0], [3.0, 0.0], [3.0, 3.0], [2.0, 3.0], [2.0, 1.0], [1.0, 1.0], [1.0, 3.0], [0.0, 3.0]];
        assert!(!in_polygon(&u, [1.5, 2.0], 1e-9));
        assert!(in_polygon(&u, [0.5, 2.0], 1e-9));
        assert!(in_polygon(&u, [1.5, 0.5], 1e-9));
        // A ray through a vertex is counted once.
        let diamond = [[1.0, 0.0], [2.0, 1.0], [1.0, 2.0], [0.0, 1.0]];
        assert!(in_polygon(&diamond, [1.0, 1.0], 1e-9));
        assert!(!in_polygon(&diamond, [-0.5, 1.0], 1e-9));
    }

    #[test]
    fn polygon_problems_name_the_corners_and_edges() {
        assert_eq!(polygon_problem(&SQUARE), None);
        assert_eq!(polygon_problem(&SQUARE[..2]), Some(PolygonProblem::TooFewCorners(2)));
        assert_eq!(polygon_problem(&[[0.0, 0.0], [0.5, 0.5], [1.0, 1.0]]), Some(PolygonProblem::NoArea));
        let bow = [[0.0, 0.0], [1.0, 1.0], [1.0, 0.0], [0.0, 1.0]];
        let p = polygon_problem(&bow).unwrap();
        assert_eq!(p, PolygonProblem::EdgesCross { a: 1, b: 3 });
        assert_eq!(
            p.describe(4),
            "intersects itself: edges 1→2 and 3→4 cross; list the corners in order around the zone"
        );
        let repeated = [[0.0, 0.0], [1.0, 0.0], [1.0, 1.0], [0.0, 0.0]];
        assert_eq!(polygon_problem(&repeated), Some(PolygonProblem::RepeatedCorner { first: 1, second: 4 }));
        // A spike: the third corner goes back along the second edge.
        let spike = [[0.0, 0.0], [2.0, 0.0], [1.0, 0.0], [1.0, 1.0]];
        assert!(matches!(polygon_problem(&spike), Some(PolygonProblem::EdgesCross { .. })));
        // The last edge crossing the first.
        let z = [[0.0, 0.0], [2.0, 0.0], [2.0, 2.0], [1.0, -1.0]];
        assert!(matches!(polygon_problem(&z), Some(PolygonProblem::EdgesCross { .. })), "{:?}", polygon_problem(&z));
    }
}
