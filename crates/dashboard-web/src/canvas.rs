//! plotters' canvas backend with text measured by the canvas itself.
//!
//! `CanvasBackend` leaves `estimate_text_size` to plotters' web font, which
//! measures every label by adding a styled `<span>` to the page and reading
//! its box back: a forced layout per label, and an inline style that the
//! page's Content-Security-Policy (`style-src 'self'`) refuses. The canvas'
//! own `measureText`, with the font `draw_text` sets, is exact for what is
//! drawn and touches no DOM.
//!
//! Lines of an odd width are stroked through pixel centres (`x + 0.5`), as
//! the bitmap backend fills them: `CanvasBackend` strokes paths along pixel
//! edges, which smears a 1-pixel line over two half-tone rows (a dense
//! chart's joins looked dotted) and puts its grid lines a row off the PNG's.

use plotters_backend::{
    BackendColor, BackendCoord, BackendStyle, BackendTextStyle, DrawingBackend, DrawingErrorKind,
};
use plotters_canvas::CanvasBackend;
use wasm_bindgen::JsCast;
use web_sys::{CanvasRenderingContext2d, HtmlCanvasElement};

pub struct CanvasText {
    inner: CanvasBackend,
    context: CanvasRenderingContext2d,
}

impl CanvasText {
    /// `None` when the browser gives no 2D context.
    pub fn new(canvas: HtmlCanvasElement) -> Option<CanvasText> {
        let context = canvas
            .get_context("2d")
            .ok()
            .flatten()?
            .dyn_into::<CanvasRenderingContext2d>()
            .ok()?;
        let inner = CanvasBackend::with_canvas_object(canvas)?;
        Some(CanvasText { inner, context })
    }
}

type Error = <CanvasBackend as DrawingBackend>::ErrorType;
type Outcome = Result<(), DrawingErrorKind<Error>>;

impl DrawingBackend for CanvasText {
    type ErrorType = Error;

    fn get_size(&self) -> (u32, u32) {
        self.inner.get_size()
    }

    fn ensure_prepared(&mut self) -> Outcome {
        self.inner.ensure_prepared()
    }

    fn present(&mut self) -> Outcome {
        self.inner.present()
    }

    fn draw_pixel(&mut self, point: BackendCoord, color: BackendColor) -> Outcome {
        self.inner.draw_pixel(point, color)
    }

    fn draw_line<S: BackendStyle>(
        &mut self,
        from: BackendCoord,
        to: BackendCoord,
        style: &S,
    ) -> Outcome {
        self.draw_path([from, to], style)
    }

    fn draw_rect<S: BackendStyle>(
        &mut self,
        upper_left: BackendCoord,
        bottom_right: BackendCoord,
        style: &S,
        fill: bool,
    ) -> Outcome {
        self.inner.draw_rect(upper_left, bottom_right, style, fill)
    }

    fn draw_path<S: BackendStyle, I: IntoIterator<Item = BackendCoord>>(
        &mut self,
        path: I,
        style: &S,
    ) -> Outcome {
        let color = style.color();
        if color.alpha == 0.0 {
            return Ok(());
        }
        let width = style.stroke_width();
        let offset = if width % 2 == 1 { 0.5 } else { 0.0 };
        let (r, g, b) = color.rgb;
        self.context
            .set_stroke_style_str(&format!("rgba({r},{g},{b},{})", color.alpha));
        self.context.set_line_width(f64::from(width));
        // Square ends cover the end pixels whole, as the bitmap does.
        self.context
            .set_line_cap(if offset > 0.0 { "square" } else { "butt" });
        self.context.begin_path();
        let mut points = path.into_iter();
        if let Some((x, y)) = points.next() {
            self.context
                .move_to(f64::from(x) + offset, f64::from(y) + offset);
            for (x, y) in points {
                self.context
                    .line_to(f64::from(x) + offset, f64::from(y) + offset);
            }
        }
        self.context.stroke();
        Ok(())
    }

    fn draw_circle<S: BackendStyle>(
        &mut self,
        center: BackendCoord,
        radius: u32,
        style: &S,
        fill: bool,
    ) -> Outcome {
        self.inner.draw_circle(center, radius, style, fill)
    }

    fn fill_polygon<S: BackendStyle, I: IntoIterator<Item = BackendCoord>>(
        &mut self,
        vertices: I,
        style: &S,
    ) -> Outcome {
        self.inner.fill_polygon(vertices, style)
    }

    fn draw_text<S: BackendTextStyle>(
        &mut self,
        text: &str,
        style: &S,
        pos: BackendCoord,
    ) -> Outcome {
        self.inner.draw_text(text, style, pos)
    }

    fn estimate_text_size<S: BackendTextStyle>(
        &self,
        text: &str,
        style: &S,
    ) -> Result<(u32, u32), DrawingErrorKind<Error>> {
        // The font string `CanvasBackend::draw_text` sets.
        self.context.set_font(&format!(
            "{} {}px {}",
            style.style().as_str(),
            style.size(),
            style.family().as_str(),
        ));
        let Ok(metrics) = self.context.measure_text(text) else {
            return self.inner.estimate_text_size(text, style);
        };
        let height = metrics.font_bounding_box_ascent() + metrics.font_bounding_box_descent();
        Ok((metrics.width().ceil() as u32, height.ceil() as u32))
    }
}
