//! The benchmark's report: each figure beside its target, as markdown and JSON.

use std::time::Duration;

use serde_json::{json, Value};

/// A target beside a figure: a bound that is checked, or a description that is not.
#[derive(Clone, Copy)]
pub enum Target {
    AtMost(f64),
    AtLeast(f64),
    Info(&'static str),
}
use Target::{AtLeast, AtMost, Info};

/// One report line: metric, value (`None`: it never happened, e.g. a timeout), unit, target, original figure.
pub type Row<'a> = (&'a str, Option<f64>, &'a str, Target, &'a str);

#[derive(Default)]
pub struct Report {
    pub rows: Vec<Value>,
    pub notes: Vec<String>,
}

impl Report {
    pub fn add(&mut self, scenario: &str, rows: &[Row]) {
        for &(metric, value, unit, target, original) in rows {
            let (target, met) = match target {
                AtMost(bound) => (
                    format!("≤ {}", number(bound, unit)),
                    Some(value.is_some_and(|v| v <= bound)),
                ),
                AtLeast(bound) => (
                    format!("≥ {}", number(bound, unit)),
                    Some(value.is_some_and(|v| v >= bound)),
                ),
                Info(text) => (text.to_string(), None),
            };
            let measured = value.map_or("not reached".into(), |v| number(v, unit));
            self.rows.push(
                json!({ "scenario": scenario, "metric": metric, "value": value, "unit": unit,
                "measured": measured, "target": target, "met": met, "original": original }),
            );
        }
    }

    pub fn note(&mut self, note: impl Into<String>) {
        self.notes.push(note.into());
    }

    pub fn markdown(&self, runtime: Duration) -> String {
        let mut out = String::from("| scenario | metric | measured | target | ok | original (Python) |\n");
        out += "|---|---|---|---|---|---|\n";
        for row in &self.rows {
            let ok = match row["met"].as_bool() {
                Some(true) => "✅",
                Some(false) => "❌",
                None => "",
            };
            let cells = ["scenario", "metric", "measured", "target", "ok", "original"].map(|key| {
                if key == "ok" {
                    ok
                } else {
                    row[key].as_str().unwrap_or_default()
                }
            });
            out += &format!("| {} |\n", cells.join(" | "));
        }
        out += &format!(
            "\nBenchmark runtime: {:.1} s (excluding the build).\n\nNotes:\n",
            runtime.as_secs_f64()
        );
        self.notes.iter().for_each(|note| out += &format!("- {note}\n"));
        out
    }
}

fn number(value: f64, unit: &str) -> String {
    match unit {
        "ms" | "MiB" | "events/request" => format!("{value:.1} {unit}"),
        "s" | "MB" => format!("{value:.2} {unit}"),
        "×" => format!("{value:.2}{unit}"),
        _ => format!("{} {unit}", grouped(value.round() as u64)),
    }
}

/// 1000000 as "1,000,000".
pub fn grouped(n: u64) -> String {
    let digits = n.to_string();
    let mut out = String::new();
    for (i, digit) in digits.chars().enumerate() {
        if i > 0 && (digits.len() - i) % 3 == 0 {
            out.push(',');
        }
        out.push(digit);
    }
    out
}

pub fn millis(duration: Duration) -> f64 {
    duration.as_secs_f64() * 1000.0
}

/// The `q` quantile (nearest rank) of a sorted list, in milliseconds.
pub fn quantile(sorted: &[Duration], q: f64) -> Option<f64> {
    let rank = (q * sorted.len() as f64).ceil() as usize;
    sorted.get(rank.max(1) - 1).map(|d| millis(*d))
}
