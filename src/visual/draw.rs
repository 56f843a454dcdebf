//! Boxes and labels drawn into a packed 3-byte image (RGB or BGR), in place: the visualisation's
//! own small renderer, with the built-in 5×7 bitmap font of `crate::font`, so it needs no font
//! file or library. Self-contained: it knows nothing of frames or GStreamer.

use crate::font::glyph;
use crate::preprocess::ChannelOrder;

/// A packed 3-byte image borrowed for drawing.
pub struct Canvas<'a> {
    pub data: &'a mut [u8],
    pub width: usize,
    pub height: usize,
    /// Bytes from one row to the next (at least `width * 3`).
    pub stride: usize,
    pub order: ChannelOrder,
}

/// Colours of the classes, RGB: saturated, told apart on a street scene. Class 0 (COCO's
/// person) is pure green.
const PALETTE: [[u8; 3]; 8] = [
    [0, 255, 0],
    [255, 0, 255],
    [0, 255, 255],
    [255, 255, 0],
    [255, 128, 0],
    [0, 128, 255],
    [255, 0, 0],
    [128, 0, 255],
];

/// The RGB colour boxes of `class_id` are drawn in.
pub fn class_colour(class_id: u32) -> [u8; 3] {
    PALETTE[class_id as usize % PALETTE.len()]
}

/// Thickness of box edges, in pixels (even: chroma subsampling keeps the colour).
pub const LINE: usize = 4;
/// Scale of the 5x7 font: one font pixel is this many image pixels.
const FONT_SCALE: usize = 2;

impl Canvas<'_> {
    fn put(&mut self, x: usize, y: usize, rgb: [u8; 3]) {
        let i = y * self.stride + x * 3;
        let px = match self.order {
            ChannelOrder::Rgb => rgb,
            ChannelOrder::Bgr => [rgb[2], rgb[1], rgb[0]],
        };
        self.data[i..i + 3].copy_from_slice(&px);
    }

    /// Fills the rectangle `[x0, x1) × [y0, y1)`, clipped to the image.
    pub fn fill(&mut self, x0: i64, y0: i64, x1: i64, y1: i64, rgb: [u8; 3]) {
        let cx = |v: i64| v.clamp(0, self.width as i64) as usize;
        let cy = |v: i64| v.clamp(0, self.height as i64) as usize;
        let (x0, x1, y0, y1) = (cx(x0), cx(x1), cy(y0), cy(y1));
        for y in y0..y1 {
            for x in x0..x1 {
                self.put(x, y, rgb);
            }
        }
    }

    /// The outline of box `[x1, y1, x2, y2]` (pixels), `LINE` pixels thick, inside the box.
    pub fn rect(&mut self, b: [f32; 4], rgb: [u8; 3]) {
        let [x0, y0, x1, y1] = b.map(|v| v.round() as i64);
        let t = LINE as i64;
        self.fill(x0, y0, x1, y0 + t, rgb);
        self.fill(x0, y1 - t, x1, y1, rgb);
        self.fill(x0, y0, x0 + t, y1, rgb);
        self.fill(x1 - t, y0, x1, y1, rgb);
    }

    /// `text` in black on a `bg` band whose bottom-left corner is at (x, y) (above a box), or
    /// below y when there is no room above.
    pub fn label(&mut self, x: f32, y: f32, text: &str, bg: [u8; 3]) {
        let (cw, ch) = (6 * FONT_SCALE, 9 * FONT_SCALE);
        let w = (text.chars().count() * cw + FONT_SCALE) as i64;
        let x0 = x.round() as i64;
        let mut y0 = y.round() as i64 - ch as i64;
        if y0 < 0 {
            y0 = y.round() as i64;
        }
        self.fill(x0, y0, x0 + w, y0 + ch as i64, bg);
        for (i, c) in text.chars().enumerate() {
            let glyph = glyph(c);
            for (row, bits) in glyph.iter().enumerate() {
                for col in 0..5 {
                    if bits & (0x10 >> col) != 0 {
                        let px = x0 + (FONT_SCALE + i * cw + col * FONT_SCALE) as i64;
                        let py = y0 + (FONT_SCALE + row * FONT_SCALE) as i64;
                        self.fill(px, py, px + FONT_SCALE as i64, py + FONT_SCALE as i64, [0, 0, 0]);
                    }
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn canvas(buf: &mut [u8], w: usize, h: usize, order: ChannelOrder) -> Canvas<'_> {
        Canvas { data: buf, width: w, height: h, stride: w * 3, order }
    }

    #[test]
    fn a_box_outline_is_drawn_inside_the_box_and_clipped() {
        let (w, h) = (40, 30);
        let mut buf = vec![0u8; w * h * 3];
        let mut c = canvas(&mut buf, w, h, ChannelOrder::Bgr);
        c.rect([10.0, 5.0, 30.0, 25.0], [255, 0, 0]);
        c.rect([-10.0, -10.0, 100.0, 100.0], [0, 0, 255]);
        let px = |x: usize, y: usize| &buf[(y * w + x) * 3..(y * w + x) * 3 + 3];
        assert_eq!(px(10, 5), [0, 0, 255], "BGR order: red is the last byte");
        assert_eq!(px(29, 24), [0, 0, 255]);
        assert_eq!(px(20, 15), [0, 0, 0], "the inside stays");
        assert_eq!(px(30, 15), [0, 0, 0], "x2 is exclusive");
    }

    #[test]
    fn labels_draw_glyphs_on_a_band_and_stay_in_the_image() {
        let (w, h) = (100, 40);
        let mut buf = vec![7u8; w * h * 3];
        let mut c = canvas(&mut buf, w, h, ChannelOrder::Rgb);
        c.label(90.0, 2.0, "person #12 0.87", [0, 255, 0]);
        let green = buf.chunks(3).filter(|p| p == &[0, 255, 0]).count();
        let black = buf.chunks(3).filter(|p| p == &[0, 0, 0]).count();
        assert!(green > 0 && black > 0, "{green} band pixels, {black} glyph pixels");
        assert_eq!(class_colour(0), [0, 255, 0]);
    }
}
