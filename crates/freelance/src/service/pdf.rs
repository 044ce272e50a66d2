//! PDFs of invoices, contracts and resumes, laid out here and written by krilla with DejaVu Sans
//! embedded (subset), so the text is real text: selectable, searchable and extractable. Long
//! documents continue on further pages (an invoice's table header repeated) with "page i of n"
//! on each.

use krilla::Document;
use krilla::geom::{PathBuilder, Point};
use krilla::page::PageSettings;
use krilla::text::{Font, TextDirection};
use std::sync::Arc;

const REGULAR: &[u8] = include_bytes!("../../fonts/DejaVuSans.ttf");
const BOLD: &[u8] = include_bytes!("../../fonts/DejaVuSans-Bold.ttf");

/// A4 in points.
const WIDTH: f32 = 595.0;
const HEIGHT: f32 = 842.0;
const LEFT: f32 = 50.0;
const RIGHT: f32 = WIDTH - 50.0;
const TOP: f32 = 60.0;
/// Content stops here; the footer sits below.
const BOTTOM: f32 = HEIGHT - 70.0;
/// The description column's width; the three numbers end at these x positions.
const DESCRIPTION_WIDTH: f32 = 265.0;
const QUANTITY_RIGHT: f32 = 385.0;
const PRICE_RIGHT: f32 = 465.0;
const BODY: f32 = 10.0;
const LEADING: f32 = 14.0;

/// The fonts, parsed once when the first PDF is made (not at start-up: 1.4 MB of font data
/// stays on disk until an invoice needs it).
pub struct Fonts {
    /// Renders at once, one per core: a flood of PDF requests queues here instead of taking
    /// every blocking thread.
    renders: tokio::sync::Semaphore,
    regular: Font,
    bold: Font,
    regular_face: ttf_parser::Face<'static>,
    bold_face: ttf_parser::Face<'static>,
}

impl Fonts {
    /// Parses the embedded fonts.
    pub fn load() -> Option<Self> {
        let cores = platform::config::cores();
        Some(Self {
            renders: tokio::sync::Semaphore::new(cores),
            regular: Font::new(REGULAR.into(), 0)?,
            bold: Font::new(BOLD.into(), 0)?,
            regular_face: ttf_parser::Face::parse(REGULAR, 0).ok()?,
            bold_face: ttf_parser::Face::parse(BOLD, 0).ok()?,
        })
    }

    /// The advance width of `text` at `size` points (no kerning: enough to align columns). A
    /// character the font lacks is drawn as its missing-glyph box and measured as one.
    fn width(&self, text: &str, size: f32, bold: bool) -> f32 {
        let face = if bold { &self.bold_face } else { &self.regular_face };
        let missing = face.glyph_hor_advance(ttf_parser::GlyphId(0)).map_or(0, u32::from);
        let units: u32 = text
            .chars()
            .map(|c| face.glyph_index(c).and_then(|g| face.glyph_hor_advance(g)).map_or(missing, u32::from))
            .sum();
        units as f32 * size / f32::from(face.units_per_em())
    }

    /// `text` cut into lines at most `max` points wide, at spaces where it can, inside words
    /// where a word alone is too wide; line breaks in `text` are kept.
    fn wrap(&self, text: &str, size: f32, max: f32) -> Vec<String> {
        let mut lines = Vec::new();
        for paragraph in text.lines() {
            let mut line = String::new();
            for word in paragraph.split(' ') {
                let candidate = if line.is_empty() { word.to_string() } else { format!("{line} {word}") };
                if self.width(&candidate, size, false) <= max {
                    line = candidate;
                    continue;
                }
                if !line.is_empty() {
                    lines.push(std::mem::take(&mut line));
                }
                for c in word.chars() {
                    line.push(c);
                    if self.width(&line, size, false) > max {
                        line.pop();
                        lines.push(std::mem::replace(&mut line, c.to_string()));
                    }
                }
            }
            lines.push(line);
        }
        if lines.is_empty() {
            lines.push(String::new());
        }
        lines
    }
}

/// What an invoice PDF shows, already formatted.
#[derive(Debug, Clone, Default)]
pub struct InvoiceDocument {
    /// "Invoice" or "Draft invoice".
    pub title: String,
    /// `INV-00001`; none on drafts.
    pub number: Option<String>,
    /// The freelancer: name, email.
    pub from: Vec<String>,
    /// The client: name, company, address lines, email, tax id.
    pub to: Vec<String>,
    /// Label and value: issue date, due date, terms, status.
    pub facts: Vec<(String, String)>,
    /// Description, quantity, unit price, amount.
    pub lines: Vec<[String; 4]>,
    /// Label, amount, bold: subtotal, discount, taxes, total, paid, balance.
    pub totals: Vec<(String, String, bool)>,
    pub notes: Option<String>,
}

/// An RGB colour.
pub type Rgb = (u8, u8, u8);

const BLACK: Rgb = (0, 0, 0);

/// One thing drawn on a page.
enum Op {
    Text { x: f32, y: f32, size: f32, bold: bool, color: Rgb, text: String },
    Rule { y: f32 },
}

/// Pages being filled, top to bottom.
struct Layout<'f> {
    fonts: &'f Fonts,
    pages: Vec<Vec<Op>>,
    y: f32,
    /// The colour text is drawn in.
    color: Rgb,
}

impl Layout<'_> {
    fn new(fonts: &Fonts) -> Layout<'_> {
        Layout { fonts, pages: vec![Vec::new()], y: TOP + 10.0, color: BLACK }
    }

    fn text(&mut self, x: f32, size: f32, bold: bool, text: &str) {
        let (y, color) = (self.y, self.color);
        if let Some(page) = self.pages.last_mut() {
            page.push(Op::Text { x, y, size, bold, color, text: text.to_string() });
        }
    }

    /// `text` wrapped to the page's width, each line on a page with room for it.
    fn paragraph(&mut self, size: f32, bold: bool, text: &str) {
        for part in self.fonts.wrap(text, size, RIGHT - LEFT) {
            self.room(size * 1.4);
            self.text(LEFT, size, bold, &part);
            self.y += size * 1.4;
        }
    }

    /// Text ending at `right`.
    fn text_right(&mut self, right: f32, size: f32, bold: bool, text: &str) {
        let x = right - self.fonts.width(text, size, bold);
        self.text(x, size, bold, text);
    }

    fn rule(&mut self) {
        let y = self.y;
        if let Some(page) = self.pages.last_mut() {
            page.push(Op::Rule { y });
        }
    }

    fn new_page(&mut self) {
        self.pages.push(Vec::new());
        self.y = TOP;
    }

    /// Starts a new page unless `height` more points fit on this one.
    fn room(&mut self, height: f32) -> bool {
        if self.y + height > BOTTOM {
            self.new_page();
            return true;
        }
        false
    }

    fn table_header(&mut self) {
        self.text(LEFT, 9.0, true, "Description");
        self.text_right(QUANTITY_RIGHT, 9.0, true, "Quantity");
        self.text_right(PRICE_RIGHT, 9.0, true, "Unit price");
        self.text_right(RIGHT, 9.0, true, "Amount");
        self.y += 5.0;
        self.rule();
        self.y += LEADING;
    }
}

/// Lays out and writes the PDF.
pub fn render(fonts: &Fonts, doc: &InvoiceDocument) -> Result<Vec<u8>, String> {
    let mut l = Layout::new(fonts);
    l.text(LEFT, 22.0, true, &doc.title);
    if let Some(number) = &doc.number {
        l.text_right(RIGHT, 16.0, true, number);
    }
    l.y += 36.0;

    // From and bill-to side by side.
    let top = l.y;
    l.text(LEFT, 9.0, true, "From");
    l.text(320.0, 9.0, true, "Bill to");
    l.y += LEADING;
    let (mut left_y, mut right_y) = (l.y, l.y);
    for line in &doc.from {
        for part in fonts.wrap(line, BODY, 250.0) {
            l.y = left_y;
            l.text(LEFT, BODY, false, &part);
            left_y += LEADING;
        }
    }
    for line in &doc.to {
        for part in fonts.wrap(line, BODY, RIGHT - 320.0) {
            l.y = right_y;
            l.text(320.0, BODY, false, &part);
            right_y += LEADING;
        }
    }
    l.y = left_y.max(right_y).max(top + 2.0 * LEADING) + 10.0;
    for (label, value) in &doc.facts {
        l.text(LEFT, BODY, true, label);
        l.text(LEFT + 90.0, BODY, false, value);
        l.y += LEADING;
    }
    l.y += 16.0;

    l.table_header();
    for [description, quantity, price, amount] in &doc.lines {
        let parts = fonts.wrap(description, BODY, DESCRIPTION_WIDTH);
        let height = parts.len() as f32 * LEADING + 4.0;
        if l.room(height) {
            l.table_header();
        }
        let first = l.y;
        l.text_right(QUANTITY_RIGHT, BODY, false, quantity);
        l.text_right(PRICE_RIGHT, BODY, false, price);
        l.text_right(RIGHT, BODY, false, amount);
        for part in parts {
            l.text(LEFT, BODY, false, &part);
            l.y += LEADING;
        }
        l.y = l.y.max(first + LEADING) + 4.0;
    }
    l.y -= 8.0;
    l.rule();
    l.y += 20.0;

    // The totals stay together.
    l.room(doc.totals.len() as f32 * (LEADING + 2.0));
    for (label, value, bold) in &doc.totals {
        l.text(330.0, BODY, *bold, label);
        l.text_right(RIGHT, BODY, *bold, value);
        l.y += LEADING + 2.0;
    }
    if let Some(notes) = doc.notes.as_deref().filter(|n| !n.trim().is_empty()) {
        l.y += 20.0;
        l.room(2.0 * LEADING);
        l.text(LEFT, 9.0, true, "Notes");
        l.y += LEADING;
        for part in fonts.wrap(notes, BODY, RIGHT - LEFT) {
            l.room(LEADING);
            l.text(LEFT, BODY, false, &part);
            l.y += LEADING;
        }
    }

    let label = doc.number.clone().unwrap_or_else(|| doc.title.clone());
    write(fonts, l.pages, &label, &doc.title)
}

/// Writes laid-out pages as a PDF, each with `label · page i of n` at its foot.
fn write(fonts: &Fonts, pages: Vec<Vec<Op>>, label: &str, title: &str) -> Result<Vec<u8>, String> {
    let count = pages.len();
    let mut document = Document::new();
    document.set_metadata(krilla::metadata::Metadata::new().title(title.to_string()));
    let settings = PageSettings::from_wh(WIDTH, HEIGHT).ok_or("page size")?;
    let fill = |(r, g, b): Rgb| krilla::paint::Fill {
        paint: krilla::color::rgb::Color::new(r, g, b).into(),
        ..Default::default()
    };
    for (i, ops) in pages.into_iter().enumerate() {
        let mut page = document.start_page_with(settings.clone());
        let mut surface = page.surface();
        for op in ops {
            match op {
                Op::Text { x, y, size, bold, color, text } => {
                    let font = if bold { fonts.bold.clone() } else { fonts.regular.clone() };
                    surface.set_fill(Some(fill(color)));
                    surface.draw_text(Point::from_xy(x, y), font, size, &text, false, TextDirection::Auto);
                }
                Op::Rule { y } => {
                    let mut path = PathBuilder::new();
                    path.move_to(LEFT, y);
                    path.line_to(RIGHT, y);
                    if let Some(path) = path.finish() {
                        surface.set_fill(None);
                        surface.set_stroke(Some(krilla::paint::Stroke { width: 0.5, ..Default::default() }));
                        surface.draw_path(&path);
                        surface.set_stroke(None);
                    }
                }
            }
        }
        surface.set_fill(Some(fill((90, 90, 90))));
        let footer = format!("{label} · page {} of {count}", i + 1);
        surface.draw_text(
            Point::from_xy(LEFT, HEIGHT - 35.0),
            fonts.regular.clone(),
            8.0,
            &footer,
            false,
            TextDirection::Auto,
        );
        surface.finish();
        page.finish();
    }
    document.finish().map_err(|e| format!("{e:?}"))
}

/// A part of a text document.
#[derive(Debug, Clone)]
pub enum Block {
    /// A section heading, in the document's accent colour.
    Heading(String),
    /// Running text; line breaks kept.
    Paragraph(String),
    /// A bold line with a note at its right (a job and its dates), then running text.
    Entry { title: String, aside: String, text: String },
    /// Signature spaces side by side: each name under a line to sign on.
    Signatures(Vec<String>),
}

/// A document of headings and text: a contract, a resume.
#[derive(Debug, Clone, Default)]
pub struct TextDocument {
    pub title: String,
    /// Lines under the title (a headline, contact details, the parties).
    pub subtitle: Vec<String>,
    pub blocks: Vec<Block>,
    /// Headings' colour.
    pub accent: Rgb,
    /// Headings in capitals.
    pub upper_headings: bool,
}

/// Lays out and writes a text document.
pub fn render_text(fonts: &Fonts, doc: &TextDocument) -> Result<Vec<u8>, String> {
    let mut l = Layout::new(fonts);
    l.color = doc.accent;
    l.paragraph(20.0, true, &doc.title);
    l.color = BLACK;
    for line in &doc.subtitle {
        l.paragraph(BODY, false, line);
    }
    l.y += 10.0;
    for block in &doc.blocks {
        match block {
            Block::Heading(text) => {
                l.y += 10.0;
                l.room(3.0 * LEADING);
                l.color = doc.accent;
                let text = if doc.upper_headings { text.to_uppercase() } else { text.clone() };
                l.text(LEFT, 12.0, true, &text);
                l.color = BLACK;
                l.y += 5.0;
                l.rule();
                l.y += LEADING;
            }
            Block::Paragraph(text) => {
                l.paragraph(BODY, false, text);
                l.y += 6.0;
            }
            Block::Entry { title, aside, text } => {
                l.room(2.0 * LEADING);
                let aside_width = fonts.width(aside, 9.0, false);
                let parts = fonts.wrap(title, BODY, RIGHT - LEFT - aside_width - 12.0);
                l.text_right(RIGHT, 9.0, false, aside);
                for part in parts {
                    l.text(LEFT, BODY, true, &part);
                    l.y += LEADING;
                }
                if !text.is_empty() {
                    l.paragraph(BODY, false, text);
                }
                l.y += 6.0;
            }
            Block::Signatures(names) => {
                l.y += 30.0;
                l.room(4.0 * LEADING);
                let width = (RIGHT - LEFT) / names.len().max(1) as f32;
                for i in 0..names.len() {
                    let x = LEFT + i as f32 * width;
                    l.text(x, BODY, false, &"_".repeat(30));
                }
                l.y += LEADING;
                for (i, name) in names.iter().enumerate() {
                    let x = LEFT + i as f32 * width;
                    l.text(x, 9.0, false, name);
                }
                l.y += LEADING;
            }
        }
    }
    write(fonts, l.pages, &doc.title, &doc.title)
}

/// Renders a text document on a blocking thread.
pub async fn render_text_blocking(fonts: Arc<Fonts>, doc: TextDocument) -> Result<Vec<u8>, String> {
    let _turn = fonts.renders.acquire().await.map_err(|e| e.to_string())?;
    let fonts = fonts.clone();
    tokio::task::spawn_blocking(move || render_text(&fonts, &doc)).await.map_err(|e| e.to_string())?
}

/// Renders on a blocking thread: a long invoice takes milliseconds of CPU that must not hold
/// up the requests sharing this worker thread.
pub async fn render_blocking(fonts: Arc<Fonts>, doc: InvoiceDocument) -> Result<Vec<u8>, String> {
    let _turn = fonts.renders.acquire().await.map_err(|e| e.to_string())?;
    let fonts = fonts.clone();
    tokio::task::spawn_blocking(move || render(&fonts, &doc)).await.map_err(|e| e.to_string())?
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn characters_the_font_lacks_still_take_room() {
        let fonts = Fonts::load().unwrap();
        let text = "漢字".repeat(200);
        assert!(fonts.width(&text, BODY, false) > DESCRIPTION_WIDTH);
        let lines = fonts.wrap(&text, BODY, DESCRIPTION_WIDTH);
        assert!(lines.len() > 1, "a long run of missing glyphs wraps");
    }

    #[test]
    fn long_text_wraps_within_the_column_and_keeps_every_word() {
        let fonts = Fonts::load().unwrap();
        let text = "Design and implementation of the customer portal, including a long\nsecond paragraph \
                    with an extraordinarilylongwordthatcannotfitononelineatallbecauseitissolong";
        let lines = fonts.wrap(text, BODY, DESCRIPTION_WIDTH);
        assert!(lines.len() >= 4, "{lines:?}");
        for line in &lines {
            assert!(fonts.width(line, BODY, false) <= DESCRIPTION_WIDTH, "{line}");
        }
        let joined: String = lines.concat().split_whitespace().collect();
        let original: String = text.split_whitespace().collect();
        assert_eq!(joined, original);
    }
}
