//! The console's colours meet WCAG 2.1 AA in both themes: 4.5:1 for text on its background, 3:1
//! for focus rings and chart marks against the page. Read from the stylesheet itself, so a colour
//! change that breaks contrast fails here.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::collections::HashMap;

const CSS: &str = include_str!("../assets/admin/admin.css");

/// The `--name: #rrggbb` declarations of the first `:root { … }` block after `from`.
fn palette(from: usize) -> HashMap<String, [f64; 3]> {
    let start = CSS[from..].find(":root {").unwrap() + from + ":root {".len();
    let end = CSS[start..].find('}').unwrap() + start;
    CSS[start..end]
        .split(';')
        .filter_map(|decl| {
            let (name, value) = decl.split_once(':')?;
            let name = name.trim().strip_prefix("--")?;
            let hex = value.trim().strip_prefix('#')?;
            let channel = |i: usize| f64::from(u8::from_str_radix(&hex[i..i + 2], 16).unwrap());
            Some((name.to_owned(), [channel(0), channel(2), channel(4)]))
        })
        .collect()
}

fn luminance(rgb: [f64; 3]) -> f64 {
    let linear = |c: f64| {
        let c = c / 255.0;
        if c <= 0.039_28 {
            c / 12.92
        } else {
            ((c + 0.055) / 1.055).powf(2.4)
        }
    };
    0.2126 * linear(rgb[0]) + 0.7152 * linear(rgb[1]) + 0.0722 * linear(rgb[2])
}

fn ratio(a: [f64; 3], b: [f64; 3]) -> f64 {
    let (la, lb) = (luminance(a), luminance(b));
    (la.max(lb) + 0.05) / (la.min(lb) + 0.05)
}

const TEXT_PAIRS: &[(&str, &str)] = &[
    ("text", "bg"),
    ("text", "surface"),
    ("muted", "bg"),
    ("muted", "surface"),
    ("link", "bg"),
    ("link", "surface"),
    ("primary-text", "primary-bg"),
    ("danger-text", "danger-bg"),
    ("badge-ok", "badge-ok-bg"),
    ("badge-bad", "badge-bad-bg"),
    ("badge-run", "badge-run-bg"),
    ("badge-warn", "badge-warn-bg"),
    ("badge-idle", "badge-idle-bg"),
    ("badge-quar", "badge-quar-bg"),
];

const MARK_PAIRS: &[(&str, &str)] = &[
    ("focus", "bg"),
    ("focus", "surface"),
    ("ok", "bg"),
    ("fail", "bg"),
];

#[test]
fn both_themes_meet_aa_contrast() {
    let light = palette(0);
    let dark_at = CSS
        .find("prefers-color-scheme: dark")
        .expect("a dark theme");
    let dark = palette(dark_at);
    for (theme, colours) in [("light", &light), ("dark", &dark)] {
        let get = |name: &str| {
            *colours
                .get(name)
                .unwrap_or_else(|| panic!("{theme}: --{name} is not defined"))
        };
        for (fg, bg) in TEXT_PAIRS {
            let r = ratio(get(fg), get(bg));
            assert!(
                r >= 4.5,
                "{theme}: --{fg} on --{bg} is {r:.2}:1, below 4.5:1"
            );
        }
        for (fg, bg) in MARK_PAIRS {
            let r = ratio(get(fg), get(bg));
            assert!(
                r >= 3.0,
                "{theme}: --{fg} against --{bg} is {r:.2}:1, below 3:1"
            );
        }
    }
}

#[test]
fn the_contrast_formula_is_wcags() {
    assert!((ratio([0.0; 3], [255.0; 3]) - 21.0).abs() < 1e-9);
    assert!((ratio([118.0; 3], [255.0; 3]) - 4.54).abs() < 0.01);
}
