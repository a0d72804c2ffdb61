//! A chart as a PNG: plotters' bitmap backend, with text drawn from an
//! embedded DejaVu Sans through `ab_glyph`.
//!
//! plotters cannot draw text on wasm32-wasip2 by itself (its `ab_glyph`
//! feature is compiled out on wasm32 and `ttf` needs system fonts), so
//! [`TextBitmap`] forwards everything to [`BitMapBackend`] except text,
//! which it lays out and rasterises itself. The same code runs natively,
//! so tests and the component draw the same pixels.

use crate::{DrawError, Figure};
use ab_glyph::{Font, FontRef, GlyphId, PxScale, ScaleFont, point};
use plotters::prelude::*;
use plotters::style::text_anchor::{HPos, VPos};
use plotters_backend::{
    BackendColor, BackendCoord, BackendStyle, BackendTextStyle, DrawingErrorKind,
};

/// DejaVu Sans 2.37 (Debian's fonts-dejavu-core), unmodified; its licence
/// (Bitstream Vera, permits embedding) is next to it.
static FONT: &[u8] = include_bytes!("../fonts/DejaVuSans.ttf");

/// The largest figure drawn, in pixels a side (the API's 40 × 100 px).
pub const MAX_SIDE: u32 = 4_000;

/// [`BitMapBackend`] with text from the embedded font.
pub struct TextBitmap<'a> {
    inner: BitMapBackend<'a>,
    font: FontRef<'static>,
}

impl<'a> TextBitmap<'a> {
    /// Draws into `rgb`, `width × height` pixels of 3 bytes each.
    pub fn new(rgb: &'a mut [u8], (width, height): (u32, u32)) -> Self {
        TextBitmap {
            inner: BitMapBackend::with_buffer(rgb, (width, height)),
            font: FontRef::try_from_slice(FONT).expect("the embedded font parses"),
        }
    }

    /// Glyphs and their x positions, the advance width and the line's
    /// ascent and descent (descent negative), at `size` pixels.
    fn layout(&self, text: &str, size: f64) -> (Vec<(GlyphId, f32)>, f32, f32, f32) {
        let scaled = self.font.as_scaled(PxScale::from(size as f32));
        let mut glyphs = Vec::with_capacity(text.len());
        let mut x = 0.0f32;
        let mut previous: Option<GlyphId> = None;
        for c in text.chars() {
            let id = scaled.glyph_id(c);
            if let Some(previous) = previous {
                x += scaled.kern(previous, id);
            }
            glyphs.push((id, x));
            x += scaled.h_advance(id);
            previous = Some(id);
        }
        (glyphs, x, scaled.ascent(), scaled.descent())
    }
}

type Outcome<E> = Result<(), DrawingErrorKind<E>>;

impl DrawingBackend for TextBitmap<'_> {
    type ErrorType = <BitMapBackend<'static> as DrawingBackend>::ErrorType;

    fn get_size(&self) -> (u32, u32) {
        self.inner.get_size()
    }

    fn ensure_prepared(&mut self) -> Outcome<Self::ErrorType> {
        self.inner.ensure_prepared()
    }

    fn present(&mut self) -> Outcome<Self::ErrorType> {
        self.inner.present()
    }

    fn draw_pixel(&mut self, point: BackendCoord, color: BackendColor) -> Outcome<Self::ErrorType> {
        self.inner.draw_pixel(point, color)
    }

    fn draw_line<S: BackendStyle>(
        &mut self,
        from: BackendCoord,
        to: BackendCoord,
        style: &S,
    ) -> Outcome<Self::ErrorType> {
        self.inner.draw_line(from, to, style)
    }

    fn draw_rect<S: BackendStyle>(
        &mut self,
        upper_left: BackendCoord,
        bottom_right: BackendCoord,
        style: &S,
        fill: bool,
    ) -> Outcome<Self::ErrorType> {
        self.inner.draw_rect(upper_left, bottom_right, style, fill)
    }

    fn draw_path<S: BackendStyle, I: IntoIterator<Item = BackendCoord>>(
        &mut self,
        path: I,
        style: &S,
    ) -> Outcome<Self::ErrorType> {
        self.inner.draw_path(path, style)
    }

    fn draw_circle<S: BackendStyle>(
        &mut self,
        center: BackendCoord,
        radius: u32,
        style: &S,
        fill: bool,
    ) -> Outcome<Self::ErrorType> {
        self.inner.draw_circle(center, radius, style, fill)
    }

    fn fill_polygon<S: BackendStyle, I: IntoIterator<Item = BackendCoord>>(
        &mut self,
        vertices: I,
        style: &S,
    ) -> Outcome<Self::ErrorType> {
        self.inner.fill_polygon(vertices, style)
    }

    fn blit_bitmap(
        &mut self,
        pos: BackendCoord,
        size: (u32, u32),
        src: &[u8],
    ) -> Outcome<Self::ErrorType> {
        self.inner.blit_bitmap(pos, size, src)
    }

    fn estimate_text_size<TStyle: BackendTextStyle>(
        &self,
        text: &str,
        style: &TStyle,
    ) -> Result<(u32, u32), DrawingErrorKind<Self::ErrorType>> {
        let (_, width, ascent, descent) = self.layout(text, style.size());
        Ok((width.ceil() as u32, (ascent - descent).ceil() as u32))
    }

    fn draw_text<TStyle: BackendTextStyle>(
        &mut self,
        text: &str,
        style: &TStyle,
        pos: BackendCoord,
    ) -> Outcome<Self::ErrorType> {
        let color = style.color();
        if color.alpha == 0.0 {
            return Ok(());
        }
        let (glyphs, width, ascent, descent) = self.layout(text, style.size());
        let (width, height) = (width.ceil() as i32, (ascent - descent).ceil() as i32);
        let anchor = style.anchor();
        let dx = match anchor.h_pos {
            HPos::Left => 0,
            HPos::Right => -width,
            HPos::Center => -width / 2,
        };
        let dy = match anchor.v_pos {
            VPos::Top => 0,
            VPos::Center => -height / 2,
            VPos::Bottom => -height,
        };
        let transform = style.transform();
        let (canvas_width, canvas_height) = self.get_size();
        let scale = PxScale::from(style.size() as f32);
        // Coverage first, pixels after: the rasteriser's callback cannot
        // return the backend's error.
        let mut coverage: Vec<(i32, i32, f32)> = Vec::new();
        for (id, x) in glyphs {
            let glyph = id.with_scale_and_position(scale, point(x, ascent));
            if let Some(outline) = self.font.outline_glyph(glyph) {
                let bounds = outline.px_bounds();
                outline.draw(|gx, gy, c| {
                    if c > 0.0 {
                        coverage.push((
                            bounds.min.x as i32 + gx as i32,
                            bounds.min.y as i32 + gy as i32,
                            c.min(1.0),
                        ));
                    }
                });
            }
        }
        for (x, y, c) in coverage {
            let (x, y) = transform.transform(x + dx, y + dy);
            let (x, y) = (pos.0 + x, pos.1 + y);
            if x >= 0 && y >= 0 && x < canvas_width as i32 && y < canvas_height as i32 {
                self.inner.draw_pixel(
                    (x, y),
                    BackendColor {
                        alpha: color.alpha * f64::from(c),
                        rgb: color.rgb,
                    },
                )?;
            }
        }
        Ok(())
    }
}

/// `figure` drawn at `width × height` pixels (each at most [`MAX_SIDE`]),
/// as a PNG.
pub fn render_png(figure: &Figure, width: u32, height: u32) -> Result<Vec<u8>, DrawError> {
    let rgb = render_rgb(figure, width, height)?;
    encode_png(&rgb, width, height)
}

/// `figure` drawn at `width × height` pixels, as RGB bytes row by row.
pub fn render_rgb(figure: &Figure, width: u32, height: u32) -> Result<Vec<u8>, DrawError> {
    render_rgb_themed(figure, width, height, crate::Theme::LIGHT)
}

/// [`render_rgb`] in `theme`.
pub fn render_rgb_themed(
    figure: &Figure,
    width: u32,
    height: u32,
    theme: crate::Theme,
) -> Result<Vec<u8>, DrawError> {
    if width == 0 || height == 0 || width > MAX_SIDE || height > MAX_SIDE {
        return Err(DrawError(format!(
            "{width} × {height} pixels is not a size this draws (1 to {MAX_SIDE} a side)"
        )));
    }
    let mut rgb = vec![255u8; width as usize * height as usize * 3];
    {
        let area = TextBitmap::new(&mut rgb, (width, height)).into_drawing_area();
        crate::draw_themed(&area, figure, theme)?;
        area.present()?;
    }
    Ok(rgb)
}

/// RGB bytes as a PNG, compressed for speed: fdeflate's fastest mode after
/// the Up filter (a chart is mostly flat colour, which compresses well
/// even so; adaptive filtering tripled the time for a few per cent).
pub fn encode_png(rgb: &[u8], width: u32, height: u32) -> Result<Vec<u8>, DrawError> {
    let failed = |error: png::EncodingError| DrawError(format!("PNG encoding: {error}"));
    let mut out = Vec::with_capacity(rgb.len() / 20);
    let mut encoder = png::Encoder::new(&mut out, width, height);
    encoder.set_color(png::ColorType::Rgb);
    encoder.set_depth(png::BitDepth::Eight);
    encoder.set_compression(png::Compression::Fastest);
    let mut writer = encoder.write_header().map_err(failed)?;
    writer.write_image_data(rgb).map_err(failed)?;
    writer.finish().map_err(failed)?;
    Ok(out)
}
