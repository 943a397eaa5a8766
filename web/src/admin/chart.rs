//! Bar charts as inline SVG, drawn on the server: no chart library, no script, no inline style
//! (the console's CSP forbids it), so geometry goes in attributes and colour in the classes of
//! `admin.css` (`.chart .bar-ok`, `.chart .bar-fail`).
//!
//! A chart is an image with a text alternative: its `<title>` names it and its `<desc>` states
//! the figures an operator would read off it (total, peak and when). Every bar carries its own
//! `<title>` (a tooltip). The template draws it from the precomputed strings here.

/// The drawing's coordinate system (`viewBox`); it scales to the page's width.
pub const WIDTH: f64 = 600.0;
pub const HEIGHT: f64 = 150.0;
/// The plot area inside it: room for the y-axis labels on the left, the x-axis labels below.
const LEFT: f64 = 44.0;
const RIGHT: f64 = 596.0;
const TOP: f64 = 10.0;
const BOTTOM: f64 = 124.0;
/// The smallest height of a bar whose value is not zero, so a single failure shows.
const MIN_BAR: f64 = 1.5;

/// One series over time, ready for `admin/chart.html`.
#[derive(Debug, Clone)]
pub struct Chart {
    /// Unique on the page; the `<title>` and `<desc>` ids derive from it.
    pub id: &'static str,
    /// The bars' class: `bar-ok` or `bar-fail`.
    pub class: &'static str,
    pub title: String,
    pub desc: String,
    pub view_box: String,
    pub bars: Vec<Bar>,
    /// Gridlines with their value labels: the top of the scale, its half, and zero.
    pub grid: Vec<Gridline>,
    pub x_labels: Vec<XLabel>,
    pub axis_y: String,
    /// Where the gridlines' labels end (right-aligned, left of the plot).
    pub label_x: String,
    pub axis_x1: String,
    pub axis_x2: String,
}

#[derive(Debug, Clone, PartialEq)]
pub struct Bar {
    pub x: String,
    pub y: String,
    pub width: String,
    pub height: String,
    /// `14:03 UTC: 7 per minute`.
    pub label: String,
}

#[derive(Debug, Clone, PartialEq)]
pub struct Gridline {
    pub y: String,
    pub text_y: String,
    pub label: String,
}

#[derive(Debug, Clone, PartialEq)]
pub struct XLabel {
    pub x: String,
    pub y: String,
    /// `start`, `middle` or `end` (`text-anchor`).
    pub anchor: &'static str,
    pub text: String,
}

/// A point of a series: its value and how its slice is called (`14:03`).
#[derive(Debug, Clone, PartialEq)]
pub struct Point {
    pub value: f64,
    pub label: String,
}

/// What the chart says in words, besides the bars.
pub struct Caption {
    pub id: &'static str,
    pub class: &'static str,
    pub title: String,
    pub desc: String,
    /// How a value reads in the labels (`7`, `2.5`).
    pub unit: &'static str,
}

/// The top of the scale for values up to `max`: the next 1, 2 or 5 times a power of ten, so
/// the gridline labels are round; at least 1.
pub fn nice_ceiling(max: f64) -> f64 {
    if !max.is_finite() || max <= 1.0 {
        return 1.0;
    }
    let magnitude = 10_f64.powf(max.log10().floor());
    for step in [1.0, 2.0, 5.0, 10.0] {
        let candidate = step * magnitude;
        // A hair of tolerance: 3.0000000001 from a division still reads as 3 → 5, not 10.
        if candidate >= max - max * 1e-9 {
            return candidate;
        }
    }
    10.0 * magnitude
}

/// The drawn height of `value` on a scale whose top is `scale`, in a plot `plot` units high:
/// proportional, never more than the plot, and at least [`MIN_BAR`] for any value above zero.
pub fn bar_height(value: f64, scale: f64, plot: f64) -> f64 {
    if !value.is_finite() || value <= 0.0 || scale <= 0.0 {
        return 0.0;
    }
    (value / scale * plot).clamp(MIN_BAR, plot)
}

/// A value as the labels show it: whole numbers plainly, small rates with a decimal or two.
pub fn number(value: f64) -> String {
    if !value.is_finite() {
        return "0".to_owned();
    }
    let rounded = if value >= 10.0 {
        format!("{value:.0}")
    } else if value >= 1.0 {
        format!("{value:.1}")
    } else {
        format!("{value:.2}")
    };
    if rounded.contains('.') {
        rounded
            .trim_end_matches('0')
            .trim_end_matches('.')
            .to_owned()
    } else {
        rounded
    }
}

fn coordinate(v: f64) -> String {
    format!("{v:.2}")
}

/// Lays `points` out as bars, `x_labels` (index of the point, text) under them.
pub fn bars(caption: Caption, points: &[Point], x_labels: &[(usize, String)]) -> Chart {
    let plot_height = BOTTOM - TOP;
    let plot_width = RIGHT - LEFT;
    let max = points.iter().map(|p| p.value).fold(0.0, f64::max);
    let scale = nice_ceiling(max);
    let n = points.len().max(1);
    let slot = plot_width / f64::from(u32::try_from(n).unwrap_or(u32::MAX));
    // A gap between bars where there is room for one.
    let gap = if slot >= 4.0 { 1.0 } else { 0.0 };
    let x_of = |i: usize| LEFT + slot * f64::from(u32::try_from(i).unwrap_or(u32::MAX));
    let bars = points
        .iter()
        .enumerate()
        .filter(|(_, p)| p.value > 0.0)
        .map(|(i, p)| {
            let height = bar_height(p.value, scale, plot_height);
            Bar {
                x: coordinate(x_of(i) + gap / 2.0),
                y: coordinate(BOTTOM - height),
                width: coordinate((slot - gap).max(0.5)),
                height: coordinate(height),
                label: format!("{}: {} {}", p.label, number(p.value), caption.unit),
            }
        })
        .collect();
    let grid = [scale, scale / 2.0, 0.0]
        .into_iter()
        .map(|v| {
            let y = BOTTOM - v / scale * plot_height;
            Gridline {
                y: coordinate(y),
                text_y: coordinate(y + 3.5),
                label: number(v),
            }
        })
        .collect();
    let x_labels = x_labels
        .iter()
        .map(|(i, text)| {
            let (x, anchor) = if *i == 0 {
                (LEFT, "start")
            } else if *i + 1 >= n {
                (RIGHT, "end")
            } else {
                (x_of(*i) + slot / 2.0, "middle")
            };
            XLabel {
                x: coordinate(x),
                y: coordinate(HEIGHT - 8.0),
                anchor,
                text: text.clone(),
            }
        })
        .collect();
    Chart {
        id: caption.id,
        class: caption.class,
        title: caption.title,
        desc: caption.desc,
        view_box: format!("0 0 {WIDTH} {HEIGHT}"),
        bars,
        grid,
        x_labels,
        axis_y: coordinate(BOTTOM),
        label_x: coordinate(LEFT - 4.0),
        axis_x1: coordinate(LEFT),
        axis_x2: coordinate(RIGHT),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn scales_round_up_to_one_two_or_five() {
        assert_eq!(nice_ceiling(0.0), 1.0);
        assert_eq!(nice_ceiling(0.3), 1.0);
        assert_eq!(nice_ceiling(1.0), 1.0);
        assert_eq!(nice_ceiling(1.2), 2.0);
        assert_eq!(nice_ceiling(3.0), 5.0);
        assert_eq!(nice_ceiling(5.0), 5.0);
        assert_eq!(nice_ceiling(7.0), 10.0);
        assert_eq!(nice_ceiling(10.0), 10.0);
        assert_eq!(nice_ceiling(11.0), 20.0);
        assert_eq!(nice_ceiling(480.0), 500.0);
        assert_eq!(nice_ceiling(501.0), 1000.0);
        assert_eq!(nice_ceiling(f64::NAN), 1.0);
    }

    #[test]
    fn bars_are_proportional_and_small_values_stay_visible() {
        assert_eq!(bar_height(0.0, 10.0, 100.0), 0.0);
        assert_eq!(bar_height(5.0, 10.0, 100.0), 50.0);
        assert_eq!(bar_height(10.0, 10.0, 100.0), 100.0);
        assert_eq!(bar_height(0.001, 10.0, 100.0), MIN_BAR);
        assert_eq!(bar_height(20.0, 10.0, 100.0), 100.0, "never above the plot");
        assert_eq!(bar_height(-1.0, 10.0, 100.0), 0.0);
    }

    #[test]
    fn numbers_read_plainly() {
        assert_eq!(number(7.0), "7");
        assert_eq!(number(12.4), "12");
        assert_eq!(number(2.5), "2.5");
        assert_eq!(number(2.0), "2");
        assert_eq!(number(1.0 / 15.0), "0.07");
        assert_eq!(number(0.0), "0");
    }

    #[test]
    fn a_series_becomes_bars_on_a_round_scale() {
        let points: Vec<Point> = [0.0, 3.0, 0.0, 7.0]
            .into_iter()
            .enumerate()
            .map(|(i, value)| Point {
                value,
                label: format!("t{i}"),
            })
            .collect();
        let chart = bars(
            Caption {
                id: "ok",
                class: "bar-ok",
                title: "t".to_owned(),
                desc: "d".to_owned(),
                unit: "per minute",
            },
            &points,
            &[(0, "first".to_owned()), (3, "now".to_owned())],
        );
        // Zeros draw nothing; the others stand on the axis, scaled to 10.
        assert_eq!(chart.bars.len(), 2);
        let plot = BOTTOM - TOP;
        assert_eq!(chart.bars[1].height, coordinate(plot * 0.7));
        assert_eq!(chart.bars[1].y, coordinate(BOTTOM - plot * 0.7));
        assert_eq!(chart.bars[0].label, "t1: 3 per minute");
        // Four slots across the plot; the second bar is in the fourth.
        let slot = (RIGHT - LEFT) / 4.0;
        assert_eq!(chart.bars[1].x, coordinate(LEFT + 3.0 * slot + 0.5));
        assert_eq!(chart.bars[1].width, coordinate(slot - 1.0));
        let labels: Vec<&str> = chart.grid.iter().map(|g| g.label.as_str()).collect();
        assert_eq!(labels, ["10", "5", "0"]);
        assert_eq!(chart.x_labels[0].anchor, "start");
        assert_eq!(chart.x_labels[1].anchor, "end");
    }
}
