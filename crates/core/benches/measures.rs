//! Criterion benchmarks of the measure engine (filled in later).
fn main() {}
