//! Counters and histograms for `/metrics`, rendered in Prometheus' text format (0.0.4).
//!
//! Hand-written and small on purpose: a few labelled series, updated under one short lock.

use std::collections::BTreeMap;
use std::fmt::Write as _;
use std::sync::Mutex;

/// Upper bounds of the histogram buckets, in seconds (+Inf is implied).
pub const BUCKETS: [f64; 12] = [
    0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5,
];

/// One histogram: cumulative-ready bucket counts, sum and count.
#[derive(Clone, Debug, Default)]
struct Histogram {
    buckets: [u64; BUCKETS.len()],
    sum: f64,
    count: u64,
}

impl Histogram {
    fn observe(&mut self, seconds: f64) {
        if let Some(i) = BUCKETS.iter().position(|b| seconds <= *b) {
            self.buckets[i] += 1;
        }
        self.sum += seconds;
        self.count += 1;
    }
}

/// Histograms by label set (label values in a fixed order).
#[derive(Debug, Default)]
pub struct HistogramVec {
    series: Mutex<BTreeMap<Vec<String>, Histogram>>,
}

/// Escapes a label value for the text format.
fn escape(value: &str) -> String {
    value
        .replace('\\', "\\\\")
        .replace('"', "\\\"")
        .replace('\n', "\\n")
}

fn labels(names: &[&str], values: &[String], extra: Option<(&str, &str)>) -> String {
    let mut parts: Vec<String> = names
        .iter()
        .zip(values)
        .map(|(n, v)| format!("{n}=\"{}\"", escape(v)))
        .collect();
    if let Some((n, v)) = extra {
        parts.push(format!("{n}=\"{v}\""));
    }
    parts.join(",")
}

impl HistogramVec {
    /// Records one observation for the label values.
    pub fn observe(&self, values: &[&str], seconds: f64) {
        let mut series = match self.series.lock() {
            Ok(guard) => guard,
            Err(poisoned) => poisoned.into_inner(),
        };
        series
            .entry(values.iter().map(|v| (*v).to_owned()).collect())
            .or_default()
            .observe(seconds);
    }

    /// Appends the `_bucket`, `_sum` and `_count` series (and, if `total` is given, a counter
    /// of the observations under that name).
    pub fn render(&self, out: &mut String, name: &str, help: &str, names: &[&str]) {
        let series = match self.series.lock() {
            Ok(guard) => guard.clone(),
            Err(poisoned) => poisoned.into_inner().clone(),
        };
        let _ = writeln!(out, "# HELP {name} {help}");
        let _ = writeln!(out, "# TYPE {name} histogram");
        for (values, histogram) in &series {
            let mut cumulative = 0;
            for (bound, count) in BUCKETS.iter().zip(histogram.buckets) {
                cumulative += count;
                let _ = writeln!(
                    out,
                    "{name}_bucket{{{}}} {cumulative}",
                    labels(names, values, Some(("le", &bound.to_string())))
                );
            }
            let _ = writeln!(
                out,
                "{name}_bucket{{{}}} {}",
                labels(names, values, Some(("le", "+Inf"))),
                histogram.count
            );
            let plain = labels(names, values, None);
            let _ = writeln!(out, "{name}_sum{{{plain}}} {}", histogram.sum);
            let _ = writeln!(out, "{name}_count{{{plain}}} {}", histogram.count);
        }
    }
}

/// A counter without labels, read at scrape time.
pub fn render_counter(out: &mut String, name: &str, help: &str, value: u64) {
    let _ = writeln!(out, "# HELP {name} {help}");
    let _ = writeln!(out, "# TYPE {name} counter");
    let _ = writeln!(out, "{name} {value}");
}

/// A gauge family rendered from values computed at scrape time.
pub fn render_gauges(
    out: &mut String,
    name: &str,
    help: &str,
    names: &[&str],
    series: &[(Vec<String>, u64)],
) {
    render_family(out, name, help, "gauge", names, series);
}

/// A counter family with labels, read at scrape time.
pub fn render_counters(
    out: &mut String,
    name: &str,
    help: &str,
    names: &[&str],
    series: &[(Vec<String>, u64)],
) {
    render_family(out, name, help, "counter", names, series);
}

fn render_family(
    out: &mut String,
    name: &str,
    help: &str,
    kind: &str,
    names: &[&str],
    series: &[(Vec<String>, u64)],
) {
    let _ = writeln!(out, "# HELP {name} {help}");
    let _ = writeln!(out, "# TYPE {name} {kind}");
    for (values, value) in series {
        if values.is_empty() {
            let _ = writeln!(out, "{name} {value}");
        } else {
            let _ = writeln!(out, "{name}{{{}}} {value}", labels(names, values, None));
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn buckets_are_cumulative_and_labels_escaped() {
        let h = HistogramVec::default();
        h.observe(&["a\"b"], 0.002);
        h.observe(&["a\"b"], 3.0);
        let mut out = String::new();
        h.render(&mut out, "x_seconds", "help", &["l"]);
        assert!(
            out.contains("x_seconds_bucket{l=\"a\\\"b\",le=\"0.001\"} 0"),
            "{out}"
        );
        assert!(
            out.contains("x_seconds_bucket{l=\"a\\\"b\",le=\"0.0025\"} 1"),
            "{out}"
        );
        assert!(
            out.contains("x_seconds_bucket{l=\"a\\\"b\",le=\"2.5\"} 1"),
            "{out}"
        );
        assert!(
            out.contains("x_seconds_bucket{l=\"a\\\"b\",le=\"+Inf\"} 2"),
            "{out}"
        );
        assert!(out.contains("x_seconds_count{l=\"a\\\"b\"} 2"), "{out}");
    }
}
