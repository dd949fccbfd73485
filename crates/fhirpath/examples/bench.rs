//! Evaluations per second for three pre-parsed expressions, against Medplum's
//! measured rates (see the research notes): a timed loop with warm-up, best of
//! several rounds. Run with `cargo run --release -p fhirpath --example bench`.

use fhirpath::{Environment, Expression};
use serde_json::Value;
use std::hint::black_box;
use std::time::{Duration, Instant};

const ROUNDS: usize = 7;
const ROUND_TIME: Duration = Duration::from_millis(400);

fn input(name: &str) -> Value {
    let path = format!("{}/tests/r4/input/{name}", std::env::var("CARGO_MANIFEST_DIR").expect("run by cargo run"));
    serde_json::from_str(&std::fs::read_to_string(path).unwrap()).unwrap()
}

/// Best evaluations per second over the rounds.
fn measure(expr: &Expression, focus: &Value, env: &Environment) -> f64 {
    let run = |n: u64| {
        let start = Instant::now();
        for _ in 0..n {
            black_box(expr.evaluate(black_box(focus), env).unwrap());
        }
        start.elapsed()
    };
    run(10_000);
    let mut batch = 1_000u64;
    while run(batch) < ROUND_TIME / 10 {
        batch *= 2;
    }
    (0..ROUNDS)
        .map(|_| {
            let (mut n, start) = (0u64, Instant::now());
            while start.elapsed() < ROUND_TIME {
                run(batch);
                n += batch;
            }
            n as f64 / start.elapsed().as_secs_f64()
        })
        .fold(0.0, f64::max)
}

fn main() {
    let observation = input("observation-example.json");
    let patient = input("patient-example.json");
    let update = Environment::new().with_variable("before", [&observation]).with_variable("after", [&observation]);
    let create = Environment::new().with_variable("before", []).with_variable("after", [&observation]);
    let plain = Environment::new();
    let cases: [(&str, &Value, &Environment, &str, f64); 4] = [
        ("%before.exists() implies %before.status != 'final'", &observation, &update, "update", 479_000.0),
        ("%before.exists() implies %before.status != 'final'", &observation, &create, "create", 1_218_000.0),
        ("status = 'final' implies subject.exists()", &observation, &plain, "", 317_000.0),
        ("name.where(use='official').given.first()", &patient, &plain, "", 83_000.0),
    ];
    println!("| expression | input | evaluations/s | Medplum/s | ratio |");
    println!("| --- | --- | ---: | ---: | ---: |");
    for (src, focus, env, label, medplum) in cases {
        let expr = fhirpath::parse(src).unwrap();
        let rate = measure(&expr, focus, env);
        let input = format!(
            "{}{}",
            focus["resourceType"].as_str().unwrap_or(""),
            if label.is_empty() { String::new() } else { format!(" ({label})") }
        );
        println!("| `{src}` | {input} | {:.2}M | {:.0}k | {:.1}× |", rate / 1e6, medplum / 1e3, rate / medplum);
    }
}
