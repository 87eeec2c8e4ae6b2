//! A small server-side SVG line chart for the trend pages: at most one point per pixel column (the points in a
//! column averaged), a hover `<title>` on each, the range and extremes as axis labels, and a vertical marker per
//! migration carrying its revision as text and linking to the migrations page. Colours are CSS variables (`.chart`
//! in strata.css), so light and dark themes need nothing here; every text is escaped.

use std::fmt::Write;

use chrono::{TimeZone, Utc};

use crate::watch::trends::Marker;

/// The chart's size in pixels and the plot's margins.
pub const WIDTH: u32 = 640;
pub const HEIGHT: u32 = 180;
const LEFT: f64 = 64.0;
const RIGHT: f64 = 8.0;
const TOP: f64 = 10.0;
const BOTTOM: f64 = 22.0;
/// The plot's width in pixel columns: a series needs no more points than this.
pub const COLUMNS: u32 = (WIDTH as f64 - LEFT - RIGHT) as u32;

/// What to draw.
pub struct Chart<'a> {
    /// Its title (also the `aria-label`).
    pub title: &'a str,
    /// The unit values are in (`bytes`, `1/s`, `ratio`, ...): it chooses how values are written.
    pub unit: &'a str,
    /// The range shown (Unix seconds).
    pub from: i64,
    pub to: i64,
    pub points: &'a [(i64, f64)],
    pub markers: &'a [Marker],
    /// The migrations page: a marker links to its "what changed around this migration" view under it.
    pub markers_href: &'a str,
}

/// Escapes text for SVG/HTML content and attribute values.
pub fn escape(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    for c in text.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&#39;"),
            c => out.push(c),
        }
    }
    out
}

/// A value as a person reads it in `unit`.
pub fn value_text(v: f64, unit: &str) -> String {
    match unit {
        "bytes" => crate::web::fmt::bytes(&Some(v.round() as i64)),
        "ratio" => format!("{:.2} %", v * 100.0),
        _ if v.abs() >= 100.0 || v == v.trunc() => format!("{v:.0} {unit}"),
        _ => format!("{v:.2} {unit}"),
    }
}

/// A value on the vertical axis, short enough for the left margin: the unit word of counts (`connections`) is left
/// to the chart's caption, rates read `/s`; sizes and ratios as [`value_text`] writes them.
fn axis_text(v: f64, unit: &str) -> String {
    let number = if v.abs() >= 100.0 || v == v.trunc() { format!("{v:.0}") } else { format!("{v:.2}") };
    match unit {
        "bytes" | "ratio" => value_text(v, unit),
        "1/s" => format!("{number}/s"),
        _ => number,
    }
}

fn time_text(at: i64, span: i64) -> String {
    let t = Utc.timestamp_opt(at, 0).single().unwrap_or_default();
    if span <= 2 * 86_400 { t.format("%m-%d %H:%M").to_string() } else { t.format("%Y-%m-%d").to_string() }
}

/// Reduces `points` (oldest first) to at most one per pixel column of a plot `columns` wide over `from..=to`: each
/// column's points averaged, at their mean time.
pub fn reduce(points: &[(i64, f64)], from: i64, to: i64, columns: u32) -> Vec<(i64, f64)> {
    let span = (to - from).max(1) as f64;
    let mut out: Vec<(i64, f64)> = Vec::with_capacity(columns as usize + 1);
    let (mut column, mut sum_t, mut sum_v, mut n) = (u32::MAX, 0i128, 0.0f64, 0u32);
    for &(at, v) in points.iter().filter(|(at, v)| *at >= from && *at <= to && v.is_finite()) {
        // Column c covers [c, c + 1) pixels from the plot's left edge; the average stays inside it.
        let c = ((((at - from) as f64 / span) * columns as f64).floor() as u32).min(columns - 1);
        if c != column && n > 0 {
            out.push(((sum_t / n as i128) as i64, sum_v / n as f64));
            (sum_t, sum_v, n) = (0, 0.0, 0);
        }
        column = c;
        sum_t += at as i128;
        sum_v += v;
        n += 1;
    }
    if n > 0 {
        out.push(((sum_t / n as i128) as i64, sum_v / n as f64));
    }
    out
}

/// The chart as an inline `<svg>` element.
pub fn render(chart: &Chart<'_>) -> String {
    let plot_w = WIDTH as f64 - LEFT - RIGHT;
    let plot_h = HEIGHT as f64 - TOP - BOTTOM;
    let span = (chart.to - chart.from).max(1);
    let points = reduce(chart.points, chart.from, chart.to, plot_w as u32);
    let (mut lo, mut hi) = points.iter().fold((f64::MAX, f64::MIN), |(lo, hi), (_, v)| (lo.min(*v), hi.max(*v)));
    if points.is_empty() {
        (lo, hi) = (0.0, 1.0);
    }
    // A line from zero reads truer for sizes and counts; a flat series still gets some height.
    lo = lo.min(0.0);
    if hi <= lo {
        hi = lo + 1.0;
    }
    // Cut to a tenth of a pixel (not rounded), so a point stays in the pixel column it was reduced into.
    let x = |at: i64| ((LEFT + (at - chart.from) as f64 / span as f64 * plot_w) * 10.0).floor() / 10.0;
    let y = |v: f64| TOP + plot_h - (v - lo) / (hi - lo) * plot_h;
    let title = escape(chart.title);
    let mut svg = String::with_capacity(256 + points.len() * 120);
    let _ = write!(
        svg,
        r#"<svg class="chart" xmlns="http://www.w3.org/2000/svg" viewBox="0 0 {WIDTH} {HEIGHT}" width="{WIDTH}" height="{HEIGHT}" role="img" aria-label="{title}"><title>{title}</title>"#
    );
    let _ = write!(
        svg,
        r#"<line class="chart-axis" x1="{LEFT}" y1="{bottom}" x2="{right}" y2="{bottom}"/><line class="chart-axis" x1="{LEFT}" y1="{TOP}" x2="{LEFT}" y2="{bottom}"/>"#,
        bottom = TOP + plot_h,
        right = LEFT + plot_w
    );
    let label = |svg: &mut String, x: f64, y: f64, anchor: &str, text: &str| {
        let _ = write!(
            svg,
            r#"<text class="chart-label" x="{x:.1}" y="{y:.1}" text-anchor="{anchor}">{}</text>"#,
            escape(text)
        );
    };
    label(&mut svg, LEFT - 4.0, TOP + 8.0, "end", &axis_text(hi, chart.unit));
    label(&mut svg, LEFT - 4.0, TOP + plot_h, "end", &axis_text(lo, chart.unit));
    label(&mut svg, LEFT, HEIGHT as f64 - 6.0, "start", &time_text(chart.from, span));
    label(&mut svg, LEFT + plot_w, HEIGHT as f64 - 6.0, "end", &time_text(chart.to, span));
    if points.is_empty() {
        label(&mut svg, LEFT + plot_w / 2.0, TOP + plot_h / 2.0, "middle", "no samples in this range yet");
    } else {
        svg.push_str(r#"<polyline class="chart-line" fill="none" points=""#);
        for (i, (at, v)) in points.iter().enumerate() {
            let _ = write!(svg, "{}{:.1},{:.1}", if i == 0 { "" } else { " " }, x(*at), y(*v));
        }
        svg.push_str(r#""/><g class="chart-points">"#);
        for (at, v) in &points {
            let _ = write!(
                svg,
                r#"<circle cx="{:.1}" cy="{:.1}" r="3"><title>{} UTC: {}</title></circle>"#,
                x(*at),
                y(*v),
                escape(&time_text(*at, 0)),
                escape(&value_text(*v, chart.unit))
            );
        }
        svg.push_str("</g>");
    }
    for m in chart.markers.iter().filter(|m| m.at >= chart.from && m.at <= chart.to) {
        let mx = x(m.at);
        let name = m.name.as_deref().map(|n| format!(" {n}")).unwrap_or_default();
        let _ = write!(
            svg,
            r#"<a class="chart-marker" href="{href}"><title>{tool} {revision}{name} applied {at} UTC</title><line x1="{mx:.1}" y1="{TOP}" x2="{mx:.1}" y2="{bottom}"/><text x="{tx:.1}" y="{ty}">{revision}</text></a>"#,
            href = escape(&format!(
                "{}/around?at={}&revision={}",
                chart.markers_href,
                m.at,
                crate::web::fmt::urlencode(&m.revision)
            )),
            tool = escape(&m.tool),
            revision = escape(&m.revision),
            name = escape(&name),
            at = escape(&time_text(m.at, 0)),
            bottom = TOP + plot_h,
            tx = mx + 2.0,
            ty = TOP + 8.0,
        );
    }
    svg.push_str("</svg>");
    svg
}

/// A sparkline's size in pixels.
pub const SPARK_WIDTH: u32 = 120;
pub const SPARK_HEIGHT: u32 = 24;

/// A small inline line (no axes, no markers) of `points` over `from..=to`, one point per pixel column at most,
/// scaled between its own extremes; `title` (escaped) is its hover text and label. An empty series draws nothing
/// but says so.
pub fn sparkline(title: &str, from: i64, to: i64, points: &[(i64, f64)]) -> String {
    let points = reduce(points, from, to, SPARK_WIDTH);
    let title = escape(title);
    let mut svg = format!(
        r#"<svg class="sparkline" xmlns="http://www.w3.org/2000/svg" viewBox="0 0 {SPARK_WIDTH} {SPARK_HEIGHT}" width="{SPARK_WIDTH}" height="{SPARK_HEIGHT}" role="img" aria-label="{title}"><title>{title}</title>"#
    );
    if points.is_empty() {
        svg.push_str("</svg>");
        return svg;
    }
    let (lo, hi) = points.iter().fold((f64::MAX, f64::MIN), |(lo, hi), (_, v)| (lo.min(*v), hi.max(*v)));
    let (lo, hi) = if hi > lo { (lo, hi) } else { (lo - 1.0, hi + 1.0) };
    let span = (to - from).max(1) as f64;
    let (w, h) = (SPARK_WIDTH as f64 - 2.0, SPARK_HEIGHT as f64 - 4.0);
    svg.push_str(r#"<polyline class="chart-line" fill="none" points=""#);
    for (i, (at, v)) in points.iter().enumerate() {
        let x = 1.0 + ((at - from) as f64 / span * w * 10.0).floor() / 10.0;
        let y = 2.0 + h - (v - lo) / (hi - lo) * h;
        let _ = write!(svg, "{}{x:.1},{y:.1}", if i == 0 { "" } else { " " });
    }
    svg.push_str(r#""/></svg>"#);
    svg
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reduction_keeps_at_most_one_point_per_column() {
        let points: Vec<(i64, f64)> = (0..43_200).map(|i| (i * 60, i as f64)).collect();
        let reduced = reduce(&points, 0, 43_199 * 60, 568);
        assert!(reduced.len() <= 568 && reduced.len() > 500, "{}", reduced.len());
        let few = reduce(&[(0, 1.0), (10, 3.0)], 0, 1000, 100);
        assert_eq!(few, vec![(0, 1.0), (10, 3.0)], "points in different columns are kept as they are");
        let same = reduce(&[(0, 1.0), (1, 3.0)], 0, 100_000, 100);
        assert_eq!(same, vec![(0, 2.0)], "points in one column are averaged");
    }

    #[test]
    fn axis_labels_fit_the_left_margin_and_leave_count_units_to_the_caption() {
        assert_eq!(axis_text(3.17, "connections"), "3.17");
        assert_eq!(axis_text(4.0, "connections"), "4");
        assert_eq!(axis_text(9.57, "1/s"), "9.57/s");
        assert_eq!(axis_text(0.9992, "ratio"), "99.92 %");
        // About 6 px a character at the labels' size: the margin holds 10.
        for (v, unit) in [(123_456.0, "connections"), (98_765.43, "1/s"), (1.5e12, "bytes"), (0.5, "ratio")] {
            assert!(axis_text(v, unit).chars().count() <= 10, "{v} {unit}: {}", axis_text(v, unit));
        }
    }

    #[test]
    fn text_is_escaped() {
        assert_eq!(escape(r#"<script>"&'"#), "&lt;script&gt;&quot;&amp;&#39;");
    }
}
