//! Prometheus metrics in the text exposition format: HTTP latencies by route, job durations by kind
//! and outcome (this process), and jobs by kind and status plus queue depth (from the database, so
//! every API process reports the whole queue).

use std::collections::BTreeMap;
use std::fmt::Write;
use std::sync::Mutex;

use crate::domain::JobStatus;
use crate::store::QueueCount;

const HTTP_BUCKETS: [f64; 12] = [
    0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 10.0,
];
const JOB_BUCKETS: [f64; 12] = [
    0.1, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0, 60.0, 300.0, 900.0, 3600.0, 14400.0,
];

#[derive(Default, Clone)]
struct Histogram {
    counts: Vec<u64>,
    sum: f64,
    count: u64,
}

impl Histogram {
    fn observe(&mut self, buckets: &[f64], value: f64) {
        if self.counts.is_empty() {
            self.counts = vec![0; buckets.len()];
        }
        for (c, b) in self.counts.iter_mut().zip(buckets) {
            if value <= *b {
                *c += 1;
            }
        }
        self.sum += value;
        self.count += 1;
    }

    fn render(&self, out: &mut String, name: &str, labels: &str, buckets: &[f64]) {
        for (c, b) in self.counts.iter().zip(buckets) {
            let _ = writeln!(out, "{name}_bucket{{{labels},le=\"{b}\"}} {c}");
        }
        let _ = writeln!(out, "{name}_bucket{{{labels},le=\"+Inf\"}} {}", self.count);
        let _ = writeln!(out, "{name}_sum{{{labels}}} {}", self.sum);
        let _ = writeln!(out, "{name}_count{{{labels}}} {}", self.count);
    }
}

#[derive(Default)]
pub struct Metrics {
    http: Mutex<BTreeMap<(String, String, u16), Histogram>>,
    jobs: Mutex<BTreeMap<(String, &'static str), Histogram>>,
}

impl Metrics {
    pub fn observe_http(&self, method: &str, route: &str, status: u16, seconds: f64) {
        let mut http = self.http.lock().unwrap_or_else(|e| e.into_inner());
        http.entry((method.to_string(), route.to_string(), status))
            .or_default()
            .observe(&HTTP_BUCKETS, seconds);
    }

    pub fn observe_job(&self, kind: &str, status: JobStatus, seconds: f64) {
        let mut jobs = self.jobs.lock().unwrap_or_else(|e| e.into_inner());
        jobs.entry((kind.to_string(), status.as_str()))
            .or_default()
            .observe(&JOB_BUCKETS, seconds);
    }

    pub fn render(&self, queue: &[QueueCount]) -> String {
        let mut out = String::new();
        out.push_str("# HELP simscore_jobs Jobs in the database by kind and status.\n");
        out.push_str("# TYPE simscore_jobs gauge\n");
        for q in queue {
            let _ = writeln!(
                out,
                "simscore_jobs{{kind=\"{}\",status=\"{}\"}} {}",
                escape(&q.kind),
                q.status,
                q.count
            );
        }
        let depth: i64 = queue
            .iter()
            .filter(|q| q.status == "queued")
            .map(|q| q.count)
            .sum();
        out.push_str("# HELP simscore_queue_depth Jobs waiting for a worker.\n");
        out.push_str("# TYPE simscore_queue_depth gauge\n");
        let _ = writeln!(out, "simscore_queue_depth {depth}");

        out.push_str(
            "# HELP simscore_job_duration_seconds Run time of jobs finished by this process.\n",
        );
        out.push_str("# TYPE simscore_job_duration_seconds histogram\n");
        for ((kind, status), h) in self.jobs.lock().unwrap_or_else(|e| e.into_inner()).iter() {
            let labels = format!("kind=\"{}\",status=\"{status}\"", escape(kind));
            h.render(
                &mut out,
                "simscore_job_duration_seconds",
                &labels,
                &JOB_BUCKETS,
            );
        }

        out.push_str(
            "# HELP simscore_http_request_duration_seconds HTTP request latency by route.\n",
        );
        out.push_str("# TYPE simscore_http_request_duration_seconds histogram\n");
        for ((method, route, status), h) in
            self.http.lock().unwrap_or_else(|e| e.into_inner()).iter()
        {
            let labels = format!(
                "method=\"{method}\",route=\"{}\",status=\"{status}\"",
                escape(route)
            );
            h.render(
                &mut out,
                "simscore_http_request_duration_seconds",
                &labels,
                &HTTP_BUCKETS,
            );
        }
        out
    }
}

fn escape(s: &str) -> String {
    s.replace('\\', "\\\\")
        .replace('"', "\\\"")
        .replace('\n', "\\n")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn histogram_buckets_are_cumulative() {
        let m = Metrics::default();
        m.observe_http("GET", "/v1/jobs", 200, 0.003);
        m.observe_http("GET", "/v1/jobs", 200, 0.2);
        let text = m.render(&[QueueCount {
            kind: "score".into(),
            status: "queued".into(),
            count: 3,
        }]);
        assert!(text.contains(r#"le="0.0025"} 0"#), "{text}");
        assert!(text.contains(r#"le="0.005"} 1"#), "{text}");
        assert!(text.contains(r#"le="0.25"} 2"#), "{text}");
        assert!(text.contains("simscore_queue_depth 3"), "{text}");
        assert!(text.contains(r#"simscore_jobs{kind="score",status="queued"} 3"#));
    }
}
