//! Exactness: fixed sweeps (88,128 configurations of gpt4-8k, an MoE model with attention data
//! parallelism, and a Pareto frontier over four systems) print exactly what the build before
//! issue 17 printed (tests/fixtures/golden/sweeps.txt: a hash and the length of stdout and
//! stderr), on one thread and on several.

mod common;

use common::gpt4calc;

/// FNV-1a, 64 bits.
fn fnv1a64(bytes: &[u8]) -> u64 {
    bytes.iter().fold(0xcbf2_9ce4_8422_2325, |h, &b| {
        (h ^ u64::from(b)).wrapping_mul(0x0000_0100_0000_01b3)
    })
}

struct Golden {
    args: Vec<String>,
    stdout: (u64, usize),
    stderr: (u64, usize),
    head: Vec<String>,
}

fn goldens() -> Vec<Golden> {
    let text = include_str!("fixtures/golden/sweeps.txt");
    let mut out: Vec<Golden> = Vec::new();
    let hash = |rest: &str| {
        let (h, n) = rest.split_once(' ').expect("hash and length");
        (
            u64::from_str_radix(h, 16).expect("hex hash"),
            n.parse::<usize>().expect("length"),
        )
    };
    for line in text.lines() {
        if let Some(rest) = line.strip_prefix("args ") {
            out.push(Golden {
                args: rest.split_whitespace().map(String::from).collect(),
                stdout: (0, 0),
                stderr: (0, 0),
                head: Vec::new(),
            });
        } else if let Some(rest) = line.strip_prefix("stdout ") {
            out.last_mut().expect("args first").stdout = hash(rest);
        } else if let Some(rest) = line.strip_prefix("stderr ") {
            out.last_mut().expect("args first").stderr = hash(rest);
        } else if let Some(rest) = line.strip_prefix("| ") {
            out.last_mut()
                .expect("args first")
                .head
                .push(rest.to_string());
        }
    }
    out
}

fn check(g: &Golden, threads: Option<&str>) {
    let mut args = g.args.clone();
    if let Some(t) = threads {
        args.extend(["--threads".to_string(), t.to_string()]);
    }
    let out = gpt4calc()
        .args(&args)
        .timeout(std::time::Duration::from_secs(120))
        .output()
        .expect("runs");
    assert_eq!(out.status.code(), Some(0), "{args:?}");
    let got = (fnv1a64(&out.stdout), out.stdout.len());
    if got != g.stdout {
        let text = String::from_utf8_lossy(&out.stdout);
        for (i, (a, b)) in text.lines().zip(&g.head).enumerate() {
            assert_eq!(a, b, "{args:?}: line {} differs", i + 1);
        }
        panic!(
            "{args:?}: stdout hash/length {got:x?} != recorded {:x?} (the first lines agree)",
            g.stdout
        );
    }
    let err = (fnv1a64(&out.stderr), out.stderr.len());
    assert_eq!(
        err,
        g.stderr,
        "{args:?}: stderr {}",
        String::from_utf8_lossy(&out.stderr)
    );
}

#[test]
fn the_88k_sweep_is_bit_identical_to_the_recorded_rows() {
    let g = &goldens()[0];
    check(g, Some("1"));
    check(g, Some("3"));
}

#[test]
fn moe_and_pareto_sweeps_are_bit_identical_on_any_thread_count() {
    for g in &goldens()[1..] {
        for t in [None, Some("1"), Some("2"), Some("5")] {
            check(g, t);
        }
    }
}

#[test]
fn threads_flag_is_checked_and_does_not_change_a_plot_a_simulation_or_an_error() {
    let (_, err) = common::run_cli(&["sweep", "--threads", "0"], 2);
    assert!(err.contains("--threads"), "{err}");
    let dir = std::env::temp_dir().join(format!("gpt4calc-threads-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let svg = |t: &str| {
        dir.join(format!("plot-{t}.svg"))
            .to_string_lossy()
            .into_owned()
    };
    let mut seen: Vec<(String, String, String)> = Vec::new();
    for t in ["1", "2", "3"] {
        let path = svg(t);
        let (out, err) = common::run_cli(
            &[
                "sweep",
                "-m",
                "gpt4-8k,mixtral-8x7b",
                "--batch",
                "1..256",
                "--pp",
                "1,2,4",
                "--plot",
                &path,
                "--rate",
                "4",
                "--requests",
                "50",
                "--top",
                "3",
                "--threads",
                t,
            ],
            0,
        );
        let picture = std::fs::read_to_string(&path).unwrap();
        seen.push((out, err.replace(&path, "PLOT"), picture));
    }
    assert_eq!(seen[0], seen[1]);
    assert_eq!(seen[0], seen[2]);
    let _ = std::fs::remove_dir_all(&dir);
    // An invalid configuration late in the order: the same message on any number of threads.
    let errs: Vec<String> = ["1", "2", "4"]
        .iter()
        .map(|t| {
            common::run_cli(
                &[
                    "sweep",
                    "-g",
                    "tpu-v4",
                    "--tp",
                    "1,2,4",
                    "--dtype",
                    "bf16,fp8,fp32,int4",
                    "--threads",
                    t,
                ],
                1,
            )
            .1
        })
        .collect();
    assert!(errs[0].contains("--dtype fp32"), "{}", errs[0]);
    assert!(errs[0].contains("--dtype fp32"), "{}", errs[0]);
    assert_eq!(errs[0], errs[1]);
    assert_eq!(errs[0], errs[2]);
}

#[test]
fn train_prints_the_same_on_any_thread_count() {
    let dir = std::env::temp_dir().join(format!("gpt4calc-train-threads-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    for base in [
        &[
            "train",
            "-m",
            "gpt4-8k",
            "--gpus",
            "1024",
            "--tp",
            "1,2,4,8",
            "--pp",
            "1..64",
            "--ep",
            "1,2,4,8,16",
            "--micro-batch",
            "1..16",
            "--zero",
            "0,1,2,3",
            "--recompute",
            "none,selective,full",
            "--format",
            "csv",
        ][..],
        &[
            "train",
            "-m",
            "gpt4-8k,deepseek-v3",
            "--gpus",
            "2048",
            "--tp",
            "1,2,4,8",
            "--pp",
            "1..32",
            "--ep",
            "1,8,16",
            "--micro-batch",
            "1..8",
            "--zero",
            "1,2",
            "--top",
            "15",
        ][..],
    ] {
        let mut seen = Vec::new();
        for t in ["1", "3"] {
            let path = dir.join(format!("t{t}.svg")).to_string_lossy().into_owned();
            let mut args: Vec<&str> = base.to_vec();
            args.extend(["--threads", t, "--plot", &path]);
            let (out, err) = common::run_cli(&args, 0);
            let picture = std::fs::read_to_string(&path).unwrap();
            seen.push((out, err.replace(&path, "PLOT"), picture));
        }
        assert_eq!(seen[0], seen[1], "{base:?}");
    }
    let _ = std::fs::remove_dir_all(&dir);
}
