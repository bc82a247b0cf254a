//! Charts: the leaks-per-hour timeline and the top factors, drawn by plotters as SVG strings.
//!
//! No text from a log goes into a chart: change events are marked by their number in
//! the timeline table and factors by their rank, so the SVG holds only our own labels
//! (plotters escapes text anyway). SVG needs no font files, unlike the bitmap backends.

use plotters::prelude::*;
use plotters::style::text_anchor::{HPos, Pos, VPos};

use crate::findings::factors::Pattern;
use crate::findings::timeline::{Series, HOUR_MS};
use crate::time::format_ms;

/// A vertical marker on the timeline chart: a change event by its number, or the estimated onset.
#[derive(Debug, Clone, PartialEq)]
pub struct Marker {
    pub ts: i64,
    pub label: String,
    pub onset: bool,
}

const LEAK: RGBColor = RGBColor(200, 40, 40);
const AMBIGUOUS: RGBColor = RGBColor(240, 160, 40);
const CHANGE: RGBColor = RGBColor(40, 90, 200);

fn bin_label(s: &Series, x: f64) -> String {
    let t = s.start_ms + (x * s.width_ms as f64) as i64;
    let full = format_ms(t.div_euclid(HOUR_MS) * HOUR_MS);
    // 2019-12-26T08:00:00.000Z → 12-26 08:00
    full.get(5..16).map(|x| x.replace('T', " ")).unwrap_or(full)
}

/// Leak (and ambiguous) deliveries per bin, with change events and the onset marked.
pub fn leaks_per_hour(s: &Series, markers: &[Marker]) -> Result<String, String> {
    let mut svg = String::new();
    {
        let root = SVGBackend::with_string(&mut svg, (960, 380)).into_drawing_area();
        root.fill(&WHITE).map_err(|e| e.to_string())?;
        let bins = s.leaks.len().max(1) as f64;
        let peak = s
            .leaks
            .iter()
            .zip(&s.ambiguous)
            .map(|(l, a)| l + a)
            .max()
            .unwrap_or(0)
            .max(1) as f64;
        let hours = s.width_ms / HOUR_MS;
        let caption = if hours == 1 {
            "Leak deliveries per hour (UTC)".to_string()
        } else {
            format!("Leak deliveries per {hours} hours (UTC)")
        };
        let mut chart = ChartBuilder::on(&root)
            .caption(caption, ("sans-serif", 18))
            .margin(12)
            .x_label_area_size(40)
            .y_label_area_size(56)
            .build_cartesian_2d(0f64..bins, 0f64..peak * 1.15)
            .map_err(|e| e.to_string())?;
        let fmt = |x: &f64| bin_label(s, *x);
        chart
            .configure_mesh()
            .disable_x_mesh()
            .light_line_style(WHITE)
            .x_labels(8)
            .y_labels(6)
            .x_label_formatter(&fmt)
            .y_label_formatter(&|y| format!("{}", y.round() as i64))
            .y_desc("deliveries")
            .draw()
            .map_err(|e| e.to_string())?;
        let bar = |k: usize, lo: f64, hi: f64, color: RGBColor| {
            Rectangle::new(
                [(k as f64 + 0.08, lo), (k as f64 + 0.92, hi)],
                color.filled(),
            )
        };
        chart
            .draw_series(
                s.leaks
                    .iter()
                    .enumerate()
                    .filter(|(_, &n)| n > 0)
                    .map(|(k, &n)| bar(k, 0.0, n as f64, LEAK)),
            )
            .map_err(|e| e.to_string())?
            .label("leak")
            .legend(|(x, y)| Rectangle::new([(x, y - 5), (x + 10, y + 5)], LEAK.filled()));
        chart
            .draw_series(
                s.ambiguous
                    .iter()
                    .enumerate()
                    .filter(|(_, &n)| n > 0)
                    .map(|(k, &n)| {
                        let base = s.leaks[k] as f64;
                        bar(k, base, base + n as f64, AMBIGUOUS)
                    }),
            )
            .map_err(|e| e.to_string())?
            .label("ambiguous")
            .legend(|(x, y)| Rectangle::new([(x, y - 5), (x + 10, y + 5)], AMBIGUOUS.filled()));
        let end = s.start_ms + s.leaks.len() as i64 * s.width_ms;
        // Labels of markers closer than 2% of the width step down, so that they do not overprint.
        let mut last_x = f64::NEG_INFINITY;
        let mut step = 0.0;
        for m in markers.iter().filter(|m| m.ts >= s.start_ms && m.ts <= end) {
            let x = (m.ts - s.start_ms) as f64 / s.width_ms as f64;
            if m.onset {
                // The onset label has its own row.
            } else if x - last_x < bins * 0.02 {
                step += peak * 0.06;
                last_x = x;
            } else {
                step = 0.0;
                last_x = x;
            }
            let (color, width, y) = if m.onset {
                (BLACK, 3, peak * 1.02)
            } else {
                (CHANGE, 2, peak * 1.10 - step)
            };
            chart
                .draw_series(std::iter::once(PathElement::new(
                    vec![(x, 0.0), (x, peak * 1.08)],
                    color.stroke_width(width),
                )))
                .map_err(|e| e.to_string())?;
            let style = TextStyle::from(("sans-serif", 13).into_font())
                .color(&color)
                .pos(Pos::new(HPos::Center, VPos::Bottom));
            chart
                .draw_series(std::iter::once(Text::new(m.label.clone(), (x, y), style)))
                .map_err(|e| e.to_string())?;
        }
        chart
            .configure_series_labels()
            .position(SeriesLabelPosition::UpperRight)
            .background_style(WHITE.mix(0.8))
            .border_style(BLACK)
            .draw()
            .map_err(|e| e.to_string())?;
        root.present().map_err(|e| e.to_string())?;
    }
    Ok(svg)
}

/// Leak rate inside each top pattern (by rank) against the rate outside it.
pub fn factor_rates(top: &[Pattern]) -> Result<String, String> {
    let mut svg = String::new();
    {
        let root = SVGBackend::with_string(&mut svg, (960, 60 + 34 * top.len().max(1) as u32))
            .into_drawing_area();
        root.fill(&WHITE).map_err(|e| e.to_string())?;
        let n = top.len().max(1) as f64;
        let max = top
            .iter()
            .map(|p| p.leak_rate.max(p.rest_rate))
            .fold(0.0, f64::max)
            .max(1e-9)
            * 100.0;
        let mut chart = ChartBuilder::on(&root)
            .caption(
                "Leak rate inside each explanation (red) and outside it (grey), %",
                ("sans-serif", 16),
            )
            .margin(12)
            .x_label_area_size(30)
            .y_label_area_size(48)
            .build_cartesian_2d(0f64..max * 1.1, 0f64..n)
            .map_err(|e| e.to_string())?;
        let fmt = |y: &f64| {
            let k = y.floor() as usize;
            if (y - y.floor() - 0.5).abs() < 1e-9 && k < top.len() {
                format!("#{}", top.len() - k)
            } else {
                String::new()
            }
        };
        chart
            .configure_mesh()
            .disable_y_mesh()
            .y_labels(top.len() * 2 + 1)
            .y_label_formatter(&fmt)
            .x_label_formatter(&|x| format!("{x:.1}"))
            .draw()
            .map_err(|e| e.to_string())?;
        for (i, p) in top.iter().enumerate() {
            // Rank 1 at the top.
            let y = (top.len() - 1 - i) as f64;
            let bars = [
                Rectangle::new(
                    [(0.0, y + 0.52), (p.leak_rate * 100.0, y + 0.88)],
                    LEAK.filled(),
                ),
                Rectangle::new(
                    [(0.0, y + 0.12), (p.rest_rate * 100.0, y + 0.48)],
                    RGBColor(150, 150, 150).filled(),
                ),
            ];
            chart.draw_series(bars).map_err(|e| e.to_string())?;
        }
        root.present().map_err(|e| e.to_string())?;
    }
    Ok(svg)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn timeline_chart_is_svg_with_bars_and_markers() {
        let s = Series {
            start_ms: 1_577_318_400_000,
            width_ms: HOUR_MS,
            leaks: vec![0, 3, 9, 4, 0],
            ambiguous: vec![0, 1, 0, 0, 0],
            deliveries: vec![10; 5],
        };
        let m = [Marker {
            ts: s.start_ms + HOUR_MS,
            label: "1".into(),
            onset: false,
        }];
        let svg = leaks_per_hour(&s, &m).unwrap();
        assert!(svg.starts_with("<svg"));
        assert!(svg.contains("<rect"));
        assert!(
            svg.contains("\n1\n</text>"),
            "the change marker is labelled by its number"
        );
        assert!(svg.contains("12-26 01:00"));
        assert_eq!(svg, leaks_per_hour(&s, &m).unwrap(), "deterministic");
    }
}
