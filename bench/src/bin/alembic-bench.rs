//! `strata alembic history` against the real `alembic history` on a generated Alembic project of
//! `STRATA_BENCH_REVISIONS` revisions (default 500; a branch and a merge every 50): whole processes, start to exit,
//! side by side in one run, medians of `STRATA_BENCH_RUNS` runs each (default 11). Checks first that both print
//! the same bytes (but for the order inside `Branches into:`, which Alembic itself varies). Target: Strata at least
//! 10x faster.
#![forbid(unsafe_code)]

use std::path::{Path, PathBuf};
use std::process::{Command, ExitCode, Output};
use std::time::Instant;

use strata_bench::{Result, cpus, env_usize, load_average, percentile, strata_binary, verdict};

fn main() -> ExitCode {
    match run() {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("error: {e}");
            ExitCode::FAILURE
        }
    }
}

fn run() -> Result<()> {
    let revisions = env_usize("STRATA_BENCH_REVISIONS", 500)?;
    let runs = env_usize("STRATA_BENCH_RUNS", 11)?.max(1);
    let strata = strata_binary()?;
    let alembic = alembic_binary()?;
    let dir = tempfile::tempdir().map_err(|e| format!("temp dir: {e}"))?;
    let made = Command::new(&alembic)
        .current_dir(dir.path())
        .args(["init", "migrations"])
        .output()
        .map_err(|e| format!("cannot run {}: {e}", alembic.display()))?;
    if !made.status.success() {
        return Err(format!("alembic init failed: {}", String::from_utf8_lossy(&made.stderr)));
    }
    write_revisions(&dir.path().join("migrations/versions"), revisions)?;

    println!("alembic-bench: {revisions} revisions, {runs} runs per command, {} CPUs, load {}", cpus(), load_average());
    println!("{:<32} {:>12} {:>12} {:>9}  target >= 10x", "command", "alembic p50", "strata p50", "speed-up");
    let mut all_met = true;
    for args in [&["history"][..], &["history", "--verbose"], &["heads"]] {
        let theirs = timed(&alembic, &[], args, dir.path())?;
        let ours = timed(&strata, &["alembic"], args, dir.path())?;
        if comparable(&theirs.0.stdout) != comparable(&ours.0.stdout) {
            return Err(format!("`{}` differs between alembic and strata", args.join(" ")));
        }
        let mut a = vec![theirs.1];
        let mut s = vec![ours.1];
        for round in 1..runs {
            // alternate who goes first, so neither always runs on a warmer cache
            let pair = if round % 2 == 0 {
                (timed(&alembic, &[], args, dir.path())?.1, timed(&strata, &["alembic"], args, dir.path())?.1)
            } else {
                let s = timed(&strata, &["alembic"], args, dir.path())?.1;
                (timed(&alembic, &[], args, dir.path())?.1, s)
            };
            a.push(pair.0);
            s.push(pair.1);
        }
        let (a50, s50) = (percentile(&a, 0.5), percentile(&s, 0.5));
        let ratio = a50 / s50;
        let met = ratio >= 10.0;
        all_met &= met;
        println!(
            "{:<32} {:>10.1}ms {:>10.1}ms {:>8.1}x  {}",
            format!("{} ({} lines)", args.join(" "), String::from_utf8_lossy(&theirs.0.stdout).lines().count()),
            a50 * 1000.0,
            s50 * 1000.0,
            ratio,
            verdict(met)
        );
    }
    if !all_met {
        println!("note: a busy machine (parallel builds) moves these numbers; run on a quiet one");
    }
    Ok(())
}

/// The output with each `Branches into: a, b` list sorted: Alembic joins a Python frozenset there, whose order
/// changes from run to run (the per-process string hash seed); every other byte must match.
fn comparable(out: &[u8]) -> String {
    String::from_utf8_lossy(out)
        .split_inclusive('\n')
        .map(|l| match l.strip_prefix("Branches into: ") {
            Some(list) => {
                let mut items: Vec<&str> = list.trim_end().split(", ").collect();
                items.sort_unstable();
                format!("Branches into: {}\n", items.join(", "))
            }
            None => l.to_string(),
        })
        .collect()
}

/// Runs one whole process and returns its output and wall time in seconds; a failure is an error.
fn timed(exe: &Path, pre: &[&str], args: &[&str], cwd: &Path) -> Result<(Output, f64)> {
    let t0 = Instant::now();
    let out = Command::new(exe)
        .current_dir(cwd)
        .env_remove("STRATA_CONFIG")
        .env_remove("ALEMBIC_CONFIG")
        .args(pre)
        .args(args)
        .output()
        .map_err(|e| format!("cannot run {}: {e}", exe.display()))?;
    let secs = t0.elapsed().as_secs_f64();
    if !out.status.success() {
        return Err(format!(
            "{} {} {} failed: {}",
            exe.display(),
            pre.join(" "),
            args.join(" "),
            String::from_utf8_lossy(&out.stderr)
        ));
    }
    Ok((out, secs))
}

/// The `alembic` executable: `STRATA_ALEMBIC`, the venv under the target folder (bench/alembic.sh makes it), or
/// one on the PATH.
fn alembic_binary() -> Result<PathBuf> {
    if let Some(p) = std::env::var_os("STRATA_ALEMBIC") {
        return Ok(PathBuf::from(p));
    }
    let exe = std::env::current_exe().map_err(|e| format!("cannot find this executable: {e}"))?;
    if let Some(target) = exe.parent().and_then(Path::parent) {
        let venv = target.join("alembic-venv/bin/alembic");
        if venv.is_file() {
            return Ok(venv);
        }
    }
    if strata_bench::on_path("alembic") {
        return Ok(PathBuf::from("alembic"));
    }
    Err("alembic is not installed: run bench/alembic.sh (it installs it into the target folder) or set \
         STRATA_ALEMBIC"
        .into())
}

/// A 12-hex-digit id per revision, scattered like `uuid4().hex[-12:]` so that file order is not revision order.
fn rev_id(i: usize) -> String {
    let mut z = (i as u64).wrapping_add(0x9e37_79b9_7f4a_7c15);
    z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
    format!("{:012x}", (z ^ (z >> 31)) & 0xffff_ffff_ffff)
}

/// Writes `n` revision files in the template `alembic init` installs: a chain where, every 50 revisions, two
/// branches of two revisions each split off and merge again.
fn write_revisions(versions: &Path, n: usize) -> Result<()> {
    std::fs::create_dir_all(versions).map_err(|e| format!("create {}: {e}", versions.display()))?;
    let mut parents: Vec<Vec<usize>> = Vec::with_capacity(n);
    for i in 0..n {
        let p = match (i % 50, i) {
            (_, 0) => vec![],
            (11, _) => vec![i - 2],           // second branch from the same parent as i - 1
            (12, _) | (13, _) => vec![i - 2], // each branch grows by one
            (14, _) => vec![i - 2, i - 1],    // merge
            _ => vec![i - 1],
        };
        parents.push(p);
    }
    for (i, p) in parents.iter().enumerate() {
        let rev = rev_id(i);
        let downs: Vec<String> = p.iter().map(|&d| rev_id(d)).collect();
        let repr = match downs.as_slice() {
            [] => "None".to_string(),
            [one] => format!("'{one}'"),
            many => format!("({})", many.iter().map(|d| format!("'{d}'")).collect::<Vec<_>>().join(", ")),
        };
        let message = format!("add table t{i:04}");
        let text = format!(
            "\"\"\"{message}\n\nRevision ID: {rev}\nRevises: {revises}\nCreate Date: 2026-01-01 00:{:02}:{:02}.000000\n\n\"\"\"\n\
             from typing import Sequence, Union\n\nfrom alembic import op\nimport sqlalchemy as sa\n\n\n\
             # revision identifiers, used by Alembic.\nrevision: str = '{rev}'\n\
             down_revision: Union[str, Sequence[str], None] = {repr}\n\
             branch_labels: Union[str, Sequence[str], None] = None\n\
             depends_on: Union[str, Sequence[str], None] = None\n\n\n\
             def upgrade() -> None:\n    \"\"\"Upgrade schema.\"\"\"\n    op.create_table('t{i:04}', sa.Column('id', sa.Integer(), primary_key=True))\n\n\n\
             def downgrade() -> None:\n    \"\"\"Downgrade schema.\"\"\"\n    op.drop_table('t{i:04}')\n",
            (i / 60) % 60,
            i % 60,
            revises = downs.join(", "),
        );
        let path = versions.join(format!("{rev}_add_table_t{i:04}.py"));
        std::fs::write(&path, text).map_err(|e| format!("write {}: {e}", path.display()))?;
    }
    Ok(())
}
