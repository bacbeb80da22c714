#!/usr/bin/env python3
"""Picks the small corpus kept in tests/fixtures/fuzz/<target>/ from a fuzzing run's corpus.

`cargo fuzz cmin` keeps every file that adds a feature, which after ten minutes is thousands
of files and megabytes. This keeps at most --max-files files and --max-bytes bytes instead,
chosen greedily for the most code edges not yet covered per byte, so the replay under
`cargo test` stays small and still reaches most of what the fuzzer reached.

Each file's edges come from running the built fuzz target once on it alone
(`-merge_inner=1 -use_counters=0`, libFuzzer's own coverage record). Usage, from the
repository root after `cargo +nightly fuzz build -s none`:

    python3 fuzz/keep_corpus.py scenario fuzz/corpus/scenario tests/fixtures/fuzz/scenario
    python3 fuzz/keep_corpus.py report fuzz/corpus/report tests/fixtures/fuzz/report

Every input dir is read (the kept dir too, so nothing it covers is lost by accident);
the output dir is emptied and refilled, each file named by the SHA-1 of its bytes.
"""

import argparse
import hashlib
import os
import shutil
import subprocess
import sys
import tempfile

BINARY = "fuzz/target/x86_64-unknown-linux-gnu/release/{target}"


def edges(binary, path, scratch):
    """The code edges the fuzz target covers on one input file."""
    control = os.path.join(scratch, "control")
    with open(control, "w") as f:
        f.write(f"1\n0\n{path}\n")
    subprocess.run(
        [binary, "-merge_inner=1", "-use_counters=0", f"-merge_control_file={control}"],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
        check=False,
    )
    with open(control) as f:
        for line in f:
            if line.startswith("COV "):
                return frozenset(int(e) for e in line.split()[2:])
    sys.exit(f"{path}: the fuzz target did not finish on it (a crash? run it alone)")


def main():
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("target", choices=["scenario", "report"])
    p.add_argument("inputs", nargs="+", help="corpus dirs to choose from, then the output dir")
    p.add_argument("--max-files", type=int, default=300)
    p.add_argument("--max-bytes", type=int, help="default 250000 for scenario, 350000 for report (larger files)")
    a = p.parse_args()
    *inputs, out = a.inputs
    if a.max_bytes is None:
        a.max_bytes = {"scenario": 250_000, "report": 350_000}[a.target]
    binary = BINARY.format(target=a.target)
    if not os.path.exists(binary):
        sys.exit(f"{binary} is missing: run `cargo +nightly fuzz build -s none {a.target}` first")

    data = {}  # content -> a path holding it, so that copies count once
    for d in inputs + [out]:
        if os.path.isdir(d):
            for name in sorted(os.listdir(d)):
                path = os.path.join(d, name)
                if os.path.isfile(path):
                    with open(path, "rb") as f:
                        data.setdefault(f.read(), path)
    with tempfile.TemporaryDirectory() as scratch:
        cov = {path: edges(binary, path, scratch) for path in data.values()}
    size = {path: os.path.getsize(path) for path in cov}
    universe = frozenset().union(*cov.values())

    chosen, covered, total = [], set(), 0
    while len(chosen) < a.max_files:
        fits = [p for p in cov if p not in chosen and total + size[p] <= a.max_bytes]
        # NB: the constant keeps tiny files from winning on one edge each.
        best = max(fits, key=lambda p: (len(cov[p] - covered) / (size[p] + 500), -size[p]), default=None)
        if best is None or not cov[best] - covered:
            break
        chosen.append(best)
        covered |= cov[best]
        total += size[best]

    with tempfile.TemporaryDirectory() as keep:
        for path in chosen:
            with open(path, "rb") as f:
                name = hashlib.sha1(f.read()).hexdigest()  # as libFuzzer names its finds
            shutil.copy(path, os.path.join(keep, name))
        shutil.rmtree(out, ignore_errors=True)
        shutil.copytree(keep, out)
    share = 100 * len(covered) / max(len(universe), 1)
    print(
        f"{a.target}: {len(universe)} edges in {len(cov)} files; kept {len(chosen)} files, "
        f"{total} bytes, {len(covered)} edges ({share:.1f}%) in {out}"
    )


if __name__ == "__main__":
    main()
