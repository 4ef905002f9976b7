//! A small hand-written SVG: one panel per figure, one row per runtime, every sample as a dot
//! plus a p50–p95 bar, on a logarithmic millisecond axis shared by all panels.

use std::fmt::Write as _;

use crate::stats::summarize;

/// One panel: a title and `(row label, samples in ms)`.
pub(crate) struct Panel {
    /// Panel title.
    pub title: String,
    /// Samples per row.
    pub rows: Vec<(String, Vec<f64>)>,
}

const COLORS: [&str; 3] = ["#c2410c", "#2563eb", "#16a34a"];

/// Renders the panels as one SVG document.
pub(crate) fn svg(panels: &[Panel]) -> String {
    let (w, left, right) = (900.0, 230.0, 30.0);
    let row_h = 26.0;
    let panel_h = |p: &Panel| 40.0 + row_h * p.rows.len() as f64 + 10.0;
    let axis_h = 40.0;
    let h: f64 = panels.iter().map(panel_h).sum::<f64>() + axis_h + 10.0;
    let all: Vec<f64> = panels
        .iter()
        .flat_map(|p| p.rows.iter().flat_map(|(_, v)| v.iter().copied()))
        .filter(|v| *v > 0.0)
        .collect();
    let lo = all.iter().copied().fold(f64::INFINITY, f64::min).max(1.0);
    let hi = all.iter().copied().fold(1.0, f64::max);
    let scale = Scale {
        w,
        left,
        right,
        l0: lo.log10().floor(),
        l1: hi.log10().ceil().max(lo.log10().floor() + 1.0),
    };
    let mut s = String::new();
    let _ = writeln!(
        s,
        r#"<svg xmlns="http://www.w3.org/2000/svg" width="{w}" height="{h}" viewBox="0 0 {w} {h}" font-family="sans-serif" font-size="12">"#
    );
    let _ = writeln!(s, r#"<rect width="{w}" height="{h}" fill="white"/>"#);
    let mut y = 10.0;
    for p in panels {
        let _ = writeln!(
            s,
            r#"<text x="10" y="{:.1}" font-weight="bold">{}</text>"#,
            y + 16.0,
            esc(&p.title)
        );
        y += 30.0;
        for (i, (label, v)) in p.rows.iter().enumerate() {
            let cy = y + row_h * i as f64 + row_h / 2.0;
            row(&mut s, &scale, cy, COLORS[i % COLORS.len()], label, v);
        }
        y += row_h * p.rows.len() as f64 + 20.0;
    }
    axis(&mut s, &scale, y);
    s.push_str("</svg>\n");
    s
}

/// The chart's width, margins and log axis (decades `l0` to `l1`).
struct Scale {
    w: f64,
    left: f64,
    right: f64,
    l0: f64,
    l1: f64,
}

impl Scale {
    /// The x coordinate of `v` ms.
    fn x(&self, v: f64) -> f64 {
        let Scale {
            w,
            left,
            right,
            l0,
            l1,
        } = *self;
        left + (v.max(10f64.powf(l0)).log10() - l0) / (l1 - l0) * (w - left - right)
    }
}

/// One row at height `cy`: its label, a guide line, the p50 → p95 bar and one dot per sample.
fn row(s: &mut String, scale: &Scale, cy: f64, c: &str, label: &str, v: &[f64]) {
    let (w, left, right) = (scale.w, scale.left, scale.right);
    let x = |v: f64| scale.x(v);
    let _ = writeln!(
        s,
        r#"<text x="10" y="{:.1}" fill="{c}">{}</text>"#,
        cy + 4.0,
        esc(label)
    );
    let _ = writeln!(
        s,
        r##"<line x1="{left}" x2="{:.1}" y1="{cy:.1}" y2="{cy:.1}" stroke="#eee"/>"##,
        w - right
    );
    if let Some(sum) = summarize(v) {
        let _ = writeln!(
            s,
            r#"<rect x="{:.1}" y="{:.1}" width="{:.1}" height="10" fill="{c}" fill-opacity="0.25"/>"#,
            x(sum.p50),
            cy - 5.0,
            (x(sum.p95) - x(sum.p50)).max(1.0)
        );
        let _ = writeln!(
            s,
            r#"<line x1="{0:.1}" x2="{0:.1}" y1="{1:.1}" y2="{2:.1}" stroke="{c}" stroke-width="2"/>"#,
            x(sum.p50),
            cy - 8.0,
            cy + 8.0
        );
        let _ = writeln!(
            s,
            r#"<text x="{:.1}" y="{:.1}" font-size="10" fill="{c}">p50 {:.0}</text>"#,
            x(sum.p50) + 3.0,
            cy - 7.0,
            sum.p50
        );
    }
    for &sample in v {
        let _ = writeln!(
            s,
            r#"<circle cx="{:.1}" cy="{cy:.1}" r="2" fill="{c}" fill-opacity="0.6"/>"#,
            x(sample)
        );
    }
}

/// The shared log axis at height `y`: ticks at 1, 2 and 5 × each power of ten, and its title.
fn axis(s: &mut String, scale: &Scale, y: f64) {
    let (w, left, right, l0, l1) = (scale.w, scale.left, scale.right, scale.l0, scale.l1);
    let _ = writeln!(
        s,
        r#"<line x1="{left}" x2="{:.1}" y1="{y:.1}" y2="{y:.1}" stroke="black"/>"#,
        w - right
    );
    let mut e = l0;
    while e <= l1 {
        for m in [1.0, 2.0, 5.0] {
            let v = m * 10f64.powf(e);
            if v < 10f64.powf(l0) || v > 10f64.powf(l1) {
                continue;
            }
            let xv = scale.x(v);
            let _ = writeln!(
                s,
                r#"<line x1="{xv:.1}" x2="{xv:.1}" y1="{y:.1}" y2="{:.1}" stroke="black"/>"#,
                y + 5.0
            );
            let _ = writeln!(
                s,
                r#"<text x="{xv:.1}" y="{:.1}" text-anchor="middle" font-size="10">{}</text>"#,
                y + 17.0,
                v
            );
        }
        e += 1.0;
    }
    let _ = writeln!(
        s,
        r#"<text x="{:.1}" y="{:.1}" text-anchor="middle">ms (log scale) — dots: runs; bar: p50 → p95</text>"#,
        (left + w - right) / 2.0,
        y + 32.0
    );
}

fn esc(t: &str) -> String {
    t.replace('&', "&amp;")
        .replace('<', "&lt;")
        .replace('>', "&gt;")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn one_dot_per_sample_and_a_log_axis() {
        let panels = vec![Panel {
            title: "a <b>".into(),
            rows: vec![
                ("rust".into(), vec![10.0, 20.0, 30.0]),
                ("python".into(), vec![300.0, 400.0]),
                ("none".into(), vec![]),
            ],
        }];
        let s = svg(&panels);
        crate::golden::pin("chart.svg", &s);
        assert!(s.starts_with("<svg") && s.ends_with("</svg>\n"));
        assert_eq!(s.matches("<circle").count(), 5);
        assert!(s.contains("a &lt;b&gt;"));
        assert!(s.contains(">100</text>") && s.contains(">1000</text>"));
    }
}
