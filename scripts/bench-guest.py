#!/usr/bin/env python3
"""bench-guest.py: the guest exporter's memory and CPU, and the gap
between two back-to-back stress-ng runs under virtwork-run.

Starts cue/virtwork-exporter.py on a free loopback port over a metrics
directory like a busy VM's (the files the runner writes for all five
built-in workloads, so more than any one VM has), stays idle for IDLE
seconds, then scrapes it SCRAPES times back to back, reading its CPU time
(utime + stime) and memory (VmRSS, VmHWM) from /proc.

Goals: RSS < 20 MiB; CPU < 1% of one vCPU at a Prometheus scrape every
15 s, i.e. idle CPU share + CPU per scrape / 15 s < 0.01.

The gap: RUNS runs of `stress-ng --cpu 1 --timeout 1s` through
virtwork-run, back to back as the cpu unit runs them; (wall time - RUNS x
1 s) / RUNS is the time per run not spent stressing (Python start, parsing,
writing, and stress-ng's own start and stop). Goal < 1 s.

Usage: scripts/bench-guest.py [SCRAPES] [IDLE] [RUNS]   (default 1000, 10, 5)
"""

import os
import subprocess
import sys
import tempfile
import time
import urllib.request

ROOT = os.path.join(os.path.dirname(os.path.abspath(__file__)), "..")
HZ = os.sysconf("SC_CLK_TCK")
# The guests run the programs with /usr/bin/python3 (their shebang).
PYTHON = "/usr/bin/python3" if os.path.exists("/usr/bin/python3") else sys.executable


def cpu_seconds(pid):
    with open("/proc/%d/stat" % pid) as f:
        fields = f.read().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / HZ  # utime, stime


def memory_kib(pid):
    out = {}
    with open("/proc/%d/status" % pid) as f:
        for line in f:
            key, _, value = line.partition(":")
            if key in ("VmRSS", "VmHWM"):
                out[key] = int(value.split()[0])
    return out


def fill(directory):
    """Figures as the runner writes them, for every built-in workload."""
    runner = os.path.join(ROOT, "cue", "virtwork-run.py")
    state = tempfile.mkdtemp()
    for workload in ("cpu", "memory", "disk", "database", "network"):
        subprocess.run([PYTHON, runner, "--workload", workload, "--role", "main", "--parser", "none",
                        "--interval", "60", "--metrics-dir", directory, "--state-dir", state, "--", "true"], check=True)
    # The tools' own figures: as many series as the built-ins write.
    lines = ["# HELP virtwork_fio_iops fio IOPS.", "# TYPE virtwork_fio_iops gauge"]
    for profile in ("mixed-rw", "seq-write"):
        for op in ("read", "write"):
            for q in ("0.5", "0.99", "0.999"):
                lines.append('virtwork_fio_iops{op="%s",profile="%s",quantile="%s",role="main",vm="disk-1",workload="disk"} 1234.5' % (op, profile, q))
    with open(os.path.join(directory, "extra.prom"), "w") as f:
        f.write("\n".join(lines) + "\n")


def gap(runs):
    """Seconds per run not spent in stress-ng's timed run, or None."""
    try:
        subprocess.run(["stress-ng", "--version"], stdout=subprocess.DEVNULL, check=True)
    except (OSError, subprocess.CalledProcessError):
        return None
    d = tempfile.mkdtemp()
    runner = os.path.join(ROOT, "cue", "virtwork-run.py")
    t0 = time.time()
    for _ in range(runs):
        subprocess.run([PYTHON, runner, "--workload", "cpu", "--role", "main", "--parser", "stress-ng", "--interval", "1",
                        "--metrics-dir", d, "--state-dir", d, "--", "stress-ng", "--cpu", "1", "--timeout", "1s"],
                       stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, check=True)
    return (time.time() - t0 - runs) / runs


def main():
    scrapes = int(sys.argv[1]) if len(sys.argv) > 1 else 1000
    idle = float(sys.argv[2]) if len(sys.argv) > 2 else 10
    runs = int(sys.argv[3]) if len(sys.argv) > 3 else 5
    directory = tempfile.mkdtemp()
    fill(directory)
    proc = subprocess.Popen([PYTHON, os.path.join(ROOT, "cue", "virtwork-exporter.py"),
                             "--dir", directory, "--listen", "127.0.0.1:0"], stdout=subprocess.PIPE,
                            universal_newlines=True)
    try:
        addr = proc.stdout.readline().strip().split("listening on ")[1]
        url = "http://%s/metrics" % addr
        body = urllib.request.urlopen(url).read()  # warm up
        start_mem = memory_kib(proc.pid)

        c0 = cpu_seconds(proc.pid)
        time.sleep(idle)
        idle_share = (cpu_seconds(proc.pid) - c0) / idle

        c0, t0 = cpu_seconds(proc.pid), time.time()
        for _ in range(scrapes):
            urllib.request.urlopen(url).read()
        wall = time.time() - t0
        per_scrape = (cpu_seconds(proc.pid) - c0) / scrapes
        mem = memory_kib(proc.pid)
    finally:
        proc.terminate()
        proc.wait()

    at15 = idle_share + per_scrape / 15
    print("exporter (%s): %d bytes per scrape, %d series" % (PYTHON, len(body), sum(1 for l in body.decode().splitlines() if not l.startswith("#"))))
    print("RSS after start: %.1f MiB; after %d scrapes: %.1f MiB (peak %.1f MiB)  goal < 20 MiB"
          % (start_mem["VmRSS"] / 1024, scrapes, mem["VmRSS"] / 1024, mem["VmHWM"] / 1024))
    print("CPU idle: %.4f%% of a CPU over %.0f s" % (100 * idle_share, idle))
    print("CPU per scrape: %.2f ms (%d scrapes in %.1f s wall)" % (1000 * per_scrape, scrapes, wall))
    print("CPU at one scrape per 15 s: %.3f%% of a CPU  goal < 1%%" % (100 * at15))
    ok = mem["VmHWM"] < 20 * 1024 and at15 < 0.01
    g = gap(runs)
    if g is None:
        print("runner gap: stress-ng not installed, not measured")
    else:
        print("runner gap between stress-ng runs: %.2f s per run (%d runs of 1 s)  goal < 1 s" % (g, runs))
        ok = ok and g < 1
    print("goals met" if ok else "GOALS MISSED")
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
