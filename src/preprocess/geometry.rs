//! Letterbox geometry: the one place that knows how source pixels map to model-input pixels.
//!
//! The preprocessor uses it forwards (where to draw the resized image), the decoders' boxes go
//! through it backwards (model-input pixels to source-frame pixels), so both always agree.

use super::spec::Letterbox;

/// Placement of a `src_w × src_h` frame inside a `dst_w × dst_h` model input.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Geometry {
    pub src_w: u32,
    pub src_h: u32,
    /// Top-left corner of the resized image inside the model input.
    pub off_x: u32,
    pub off_y: u32,
    /// Size of the resized image inside the model input.
    pub new_w: u32,
    pub new_h: u32,
    /// Source pixels per model-input pixel, per axis (1 / r for letterbox modes).
    pub inv_scale_x: f32,
    pub inv_scale_y: f32,
}

impl Geometry {
    /// Computes the placement. `src_w`, `src_h`, `dst_w`, `dst_h` must be non-zero.
    pub fn new(src_w: u32, src_h: u32, dst_w: u32, dst_h: u32, mode: Letterbox) -> Geometry {
        let (sw, sh) = (src_w.max(1) as f64, src_h.max(1) as f64);
        let (dw, dh) = (dst_w.max(1) as f64, dst_h.max(1) as f64);
        match mode {
            Letterbox::Stretch => Geometry {
                src_w,
                src_h,
                off_x: 0,
                off_y: 0,
                new_w: dst_w,
                new_h: dst_h,
                inv_scale_x: (sw / dw) as f32,
                inv_scale_y: (sh / dh) as f32,
            },
            Letterbox::TopLeft | Letterbox::Center => {
                let r = (dw / sw).min(dh / sh);
                // Round like the reference implementations (Python's round(w * r): half to even),
                // never past the input.
                let new_w = ((sw * r).round_ties_even() as u32).clamp(1, dst_w.max(1));
                let new_h = ((sh * r).round_ties_even() as u32).clamp(1, dst_h.max(1));
                let (off_x, off_y) =
                    if mode == Letterbox::Center { ((dst_w - new_w) / 2, (dst_h - new_h) / 2) } else { (0, 0) };
                Geometry {
                    src_w,
                    src_h,
                    off_x,
                    off_y,
                    new_w,
                    new_h,
                    inv_scale_x: (1.0 / r) as f32,
                    inv_scale_y: (1.0 / r) as f32,
                }
            }
        }
    }

    /// Maps a box `[x1, y1, x2, y2]` in model-input pixels to source-frame pixels, clipped to the frame.
    pub fn to_source(&self, b: [f32; 4]) -> [f32; 4] {
        let (ox, oy) = (self.off_x as f32, self.off_y as f32);
        let (w, h) = (self.src_w as f32, self.src_h as f32);
        [
            ((b[0] - ox) * self.inv_scale_x).clamp(0.0, w),
            ((b[1] - oy) * self.inv_scale_y).clamp(0.0, h),
            ((b[2] - ox) * self.inv_scale_x).clamp(0.0, w),
            ((b[3] - oy) * self.inv_scale_y).clamp(0.0, h),
        ]
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn top_left_letterbox_of_pal_frame() {
        let g = Geometry::new(768, 576, 416, 416, Letterbox::TopLeft);
        assert_eq!((g.new_w, g.new_h, g.off_x, g.off_y), (416, 312, 0, 0));
        let b = g.to_source([0.0, 0.0, 416.0, 312.0]);
        assert!((b[2] - 768.0).abs() < 1e-3 && (b[3] - 576.0).abs() < 1e-3);
    }

    #[test]
    fn centred_letterbox_pads_both_sides_and_maps_back() {
        let g = Geometry::new(640, 480, 640, 640, Letterbox::Center);
        assert_eq!((g.new_w, g.new_h, g.off_x, g.off_y), (640, 480, 0, 80));
        assert_eq!(g.to_source([10.0, 90.0, 20.0, 100.0]), [10.0, 10.0, 20.0, 20.0]);
    }

    #[test]
    fn stretch_scales_axes_independently() {
        let g = Geometry::new(600, 300, 300, 300, Letterbox::Stretch);
        assert_eq!(g.to_source([150.0, 150.0, 300.0, 300.0]), [300.0, 150.0, 600.0, 300.0]);
    }

    #[test]
    fn boxes_are_clipped_to_the_frame() {
        let g = Geometry::new(100, 100, 100, 100, Letterbox::TopLeft);
        assert_eq!(g.to_source([-5.0, -1.0, 120.0, 101.0]), [0.0, 0.0, 100.0, 100.0]);
    }

    #[test]
    fn portrait_frame_in_landscape_input() {
        let g = Geometry::new(300, 600, 640, 320, Letterbox::Center);
        assert_eq!((g.new_w, g.new_h), (160, 320));
        assert_eq!(g.off_x, 240);
        // Both x coordinates lose the left padding before scaling back (× 600/320).
        let b = g.to_source([240.0 + 16.0, 32.0, 240.0 + 80.0, 64.0]);
        let want = [30.0, 60.0, 150.0, 120.0];
        assert!(b.iter().zip(want).all(|(g, w)| (g - w).abs() < 1e-3), "{b:?}");
    }
}
