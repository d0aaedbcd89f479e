//! The runner: proptest's generator and shrinker on the stable toolchain, time-bounded, with
//! every failure kept as a regression fixture.

use std::path::PathBuf;
use std::time::{Duration, Instant};

use proptest::strategy::Strategy;
use proptest::test_runner::{Config, TestError, TestRunner};

/// Where inputs that once panicked are kept, one folder per target.
pub fn regressions_dir() -> PathBuf {
    let dir =
        PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../tests/fixtures/fuzz-regressions");
    dir.canonicalize().unwrap_or(dir)
}

/// A file under tests/fixtures/.
pub fn fixture(path: &str) -> Vec<u8> {
    let full = PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("../../tests/fixtures")
        .join(path);
    std::fs::read(&full).unwrap_or_else(|e| panic!("fuzz seed {}: {e}", full.display()))
}

fn env_number(name: &str) -> Option<f64> {
    let text = std::env::var(name).ok()?;
    Some(text.trim().parse().unwrap_or_else(|_| {
        panic!("{name}={text:?} is not a number: give seconds (XFRMDIAG_FUZZ_SECS) or a count")
    }))
}

/// Runs `check` on inputs from `strategy` until the time budget or the case cap is reached.
/// A panic in `check` is shrunk to a small input, saved, and fails the test with its path.
pub fn fuzz<S>(target: &str, generator: &str, strategy: S, check: fn(&[u8]))
where
    S: Strategy<Value = Vec<u8>>,
{
    let budget = Duration::from_secs_f64(env_number("XFRMDIAG_FUZZ_SECS").unwrap_or(2.0));
    let max_cases = env_number("XFRMDIAG_FUZZ_CASES").map_or(u64::MAX, |n| n as u64);
    let quiet = |cases| Config {
        cases,
        failure_persistence: None,
        max_shrink_iters: 4096,
        ..Config::default()
    };
    let start = Instant::now();
    let mut seeds = TestRunner::new(quiet(1));
    let mut cases = 0u64;
    while cases < max_cases && (cases == 0 || start.elapsed() < budget) {
        let batch = (max_cases - cases).min(64) as u32;
        let mut runner = TestRunner::new_with_rng(quiet(batch), seeds.new_rng());
        match runner.run(&strategy, |input| {
            check(&input);
            Ok(())
        }) {
            Ok(()) => cases += u64::from(batch),
            Err(TestError::Fail(reason, input)) => {
                let saved = save(target, &input);
                panic!(
                    "fuzz {target}/{generator}: {reason}\n  the shrunk input is saved as {} \
                     ({} bytes); fix the decoder, keep the file: `regressions` replays it",
                    saved.display(),
                    input.len()
                );
            }
            Err(TestError::Abort(reason)) => panic!("fuzz {target}/{generator}: {reason}"),
        }
    }
    eprintln!(
        "fuzz {target}/{generator}: {cases} cases in {:.1} s, no panic",
        start.elapsed().as_secs_f64()
    );
}

/// Keeps a failing input as tests/fixtures/fuzz-regressions/TARGET/<hash>.bin.
fn save(target: &str, input: &[u8]) -> PathBuf {
    // FNV-1a: a stable name, so the same crash found twice is one file.
    let hash = input.iter().fold(0xcbf2_9ce4_8422_2325u64, |h, b| {
        (h ^ u64::from(*b)).wrapping_mul(0x0000_0100_0000_01b3)
    });
    let dir = regressions_dir().join(target);
    let path = dir.join(format!("{hash:016x}.bin"));
    if let Err(e) = std::fs::create_dir_all(&dir).and_then(|_| std::fs::write(&path, input)) {
        eprintln!(
            "fuzz {target}: cannot save the failing input to {}: {e}",
            path.display()
        );
    }
    path
}
