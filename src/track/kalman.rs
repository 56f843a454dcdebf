//! The constant-velocity Kalman filter of ByteTrack (and DeepSORT) on the box centre, aspect
//! ratio and height, `[cx, cy, a, h, vcx, vcy, va, vh]`, in fixed-size arrays: no allocation.
//!
//! ByteTrack steps one frame at a time. Here a step is any stretch of stream time: it is measured
//! in *reference frames* of 1/30 s (ByteTrack's MOT17 rate), so at 30 FPS every number equals the
//! paper's, and at 10 FPS or across dropped frames the motion and the process noise scale with the
//! time that really passed (the noise variance grows linearly with time, as a random walk does).

// Small fixed-size matrix algebra reads like its formulas with indices.
#![allow(clippy::needless_range_loop)]

/// The frame period ByteTrack's noise weights were tuned for.
pub const REFERENCE_FPS: f64 = 30.0;

/// ByteTrack's `_std_weight_position` and `_std_weight_velocity`: noise relative to the height.
const STD_POSITION: f64 = 1.0 / 20.0;
const STD_VELOCITY: f64 = 1.0 / 160.0;

pub type Mean = [f64; 8];
pub type Cov = [[f64; 8]; 8];

/// A box as `[x1, y1, x2, y2]` → the measurement `[cx, cy, w / h, h]`.
pub fn xyah(b: &[f32; 4]) -> [f64; 4] {
    let (w, h) = ((b[2] - b[0]) as f64, (b[3] - b[1]) as f64);
    let h = h.max(1e-3);
    [b[0] as f64 + w / 2.0, b[1] as f64 + h / 2.0, w / h, h]
}

/// The filter's state back to `[x1, y1, x2, y2]`.
pub fn to_xyxy(m: &Mean) -> [f32; 4] {
    let (h, w) = (m[3], m[2] * m[3]);
    [(m[0] - w / 2.0) as f32, (m[1] - h / 2.0) as f32, (m[0] + w / 2.0) as f32, (m[1] + h / 2.0) as f32]
}

fn diag(std: [f64; 8]) -> Cov {
    let mut c = [[0.0; 8]; 8];
    for i in 0..8 {
        c[i][i] = std[i] * std[i];
    }
    c
}

/// A new track's state from its first measurement: position as measured, velocity unknown.
pub fn initiate(z: [f64; 4]) -> (Mean, Cov) {
    let h = z[3];
    let mean = [z[0], z[1], z[2], z[3], 0.0, 0.0, 0.0, 0.0];
    let p = 2.0 * STD_POSITION * h;
    let v = 10.0 * STD_VELOCITY * h;
    (mean, diag([p, p, 1e-2, p, v, v, 1e-5, v]))
}

/// Moves the state `frames` reference frames ahead (fractions allowed).
pub fn predict(mean: &mut Mean, cov: &mut Cov, frames: f64) {
    if frames <= 0.0 {
        return;
    }
    let h = mean[3];
    for i in 0..4 {
        mean[i] += mean[i + 4] * frames;
    }
    // cov = F cov Fᵀ with F = [[I, dt·I], [0, I]]: rows then columns.
    for i in 0..4 {
        for j in 0..8 {
            cov[i][j] += frames * cov[i + 4][j];
        }
    }
    for row in cov.iter_mut() {
        for j in 0..4 {
            row[j] += frames * row[j + 4];
        }
    }
    let (p, v) = (STD_POSITION * h, STD_VELOCITY * h);
    let q = [p, p, 1e-2, p, v, v, 1e-5, v];
    for i in 0..8 {
        cov[i][i] += q[i] * q[i] * frames;
    }
}

/// Solves the 4×4 symmetric positive-definite `s · x = b` in place (Cholesky); false when `s` is
/// not positive definite (a degenerate box), and the update is then skipped.
pub(super) fn cholesky_solve(s: &[[f64; 4]; 4], b: &mut [f64; 4]) -> bool {
    let mut l = [[0.0; 4]; 4];
    for i in 0..4 {
        for j in 0..=i {
            let mut sum = s[i][j];
            for k in 0..j {
                sum -= l[i][k] * l[j][k];
            }
            if i == j {
                // Also false for NaN.
                if sum.partial_cmp(&0.0) != Some(std::cmp::Ordering::Greater) {
                    return false;
                }
                l[i][i] = sum.sqrt();
            } else {
                l[i][j] = sum / l[j][j];
            }
        }
    }
    for i in 0..4 {
        let mut sum = b[i];
        for k in 0..i {
            sum -= l[i][k] * b[k];
        }
        b[i] = sum / l[i][i];
    }
    for i in (0..4).rev() {
        let mut sum = b[i];
        for k in i + 1..4 {
            sum -= l[k][i] * b[k];
        }
        b[i] = sum / l[i][i];
    }
    true
}

/// Corrects the state with the measurement `z` (ByteTrack's `update`).
pub fn update(mean: &mut Mean, cov: &mut Cov, z: [f64; 4]) {
    let h = mean[3];
    let r = [STD_POSITION * h, STD_POSITION * h, 1e-1, STD_POSITION * h];
    // S = H cov Hᵀ + R: the top-left 4×4 block.
    let mut s = [[0.0; 4]; 4];
    for i in 0..4 {
        for j in 0..4 {
            s[i][j] = cov[i][j];
        }
        s[i][i] += r[i] * r[i];
    }
    // K = cov Hᵀ S⁻¹, one row at a time: row i of K solves S · kᵢ = (cov Hᵀ)ᵢ (S is symmetric).
    let mut k = [[0.0; 4]; 8];
    for i in 0..8 {
        let mut row = [cov[i][0], cov[i][1], cov[i][2], cov[i][3]];
        if !cholesky_solve(&s, &mut row) {
            return;
        }
        k[i] = row;
    }
    let innovation = [z[0] - mean[0], z[1] - mean[1], z[2] - mean[2], z[3] - mean[3]];
    for i in 0..8 {
        for j in 0..4 {
            mean[i] += k[i][j] * innovation[j];
        }
    }
    // cov -= K S Kᵀ = K (H cov): the first four rows of cov, as they were.
    let mut hc = [[0.0; 8]; 4];
    hc.copy_from_slice(&cov[..4]);
    for i in 0..8 {
        for j in 0..8 {
            let mut d = 0.0;
            for m in 0..4 {
                d += k[i][m] * hc[m][j];
            }
            cov[i][j] -= d;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn boxes_round_trip_through_the_state() {
        let b = [10.0, 20.0, 40.0, 80.0];
        let (m, _) = initiate(xyah(&b));
        assert_eq!(to_xyxy(&m), b);
    }

    /// A box moving at a constant speed: after a few updates the filter knows the velocity, and a
    /// prediction over twice the time moves twice as far (time, not frame count).
    #[test]
    fn learns_a_constant_velocity_and_predicts_over_time() {
        let at = |t: f64| [100.0 + 3.0 * t as f32, 50.0, 140.0 + 3.0 * t as f32, 150.0];
        let (mut m, mut c) = initiate(xyah(&at(0.0)));
        for t in 1..30 {
            predict(&mut m, &mut c, 1.0);
            update(&mut m, &mut c, xyah(&at(t as f64)));
        }
        assert!((m[4] - 3.0).abs() < 0.1, "velocity {}", m[4]);
        let (mut m1, mut c1) = (m, c);
        predict(&mut m1, &mut c1, 2.0);
        assert!((m1[0] - m[0] - 6.0).abs() < 0.2, "{} → {}", m[0], m1[0]);
        assert!(c1[0][0] > c[0][0], "uncertainty grows with time");
    }
}
