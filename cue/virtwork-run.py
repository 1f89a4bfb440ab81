#!/usr/bin/python3
"""virtwork-run: run a workload's tool once and record its figures.

Usage: virtwork-run --workload NAME --role ROLE --parser PARSER [options] -- COMMAND...

Runs COMMAND once, adding the options that make the tool report in a form
this program parses (stress-ng: --metrics --yaml FILE; fio:
--output-format=json --output FILE; iperf3: --json; pgbench: none, its text
summary is read), and writes the workload's figures in the Prometheus text
format to METRICS_DIR/NAME.prom, atomically (temporary file, then rename).

A run that fails (the tool exits non-zero or its output cannot be parsed)
raises virtwork_workload_run_failures_total and leaves the figures of the
last good run in place. Counters survive restarts in STATE_DIR/NAME.json.
The exit status is 0 after a good run and 1 otherwise, so units can loop:

    while :; do virtwork-run ... -- stress-ng --cpu 0 --timeout 60s; done

Only the Python 3 standard library is used (python3 >= 3.6), so this runs
unchanged on every guest OS cloud-init runs on.
"""

import argparse
import json
import os
import re
import socket
import subprocess
import sys
import tempfile
import time

# Help and type of every metric the runner writes; cue/schema.cue declares
# the same names for `virtwork workloads show`, and a test keeps them equal.
METRICS = {
    "virtwork_workload_runs_total": ("counter", "Runs of the workload's tool that ended (succeeded or failed)."),
    "virtwork_workload_run_failures_total": ("counter", "Runs of the workload's tool that failed (non-zero exit or unparsable output)."),
    "virtwork_workload_last_success_timestamp_seconds": ("gauge", "Unix time at which the last successful run ended (0: none yet)."),
    "virtwork_workload_last_run_timestamp_seconds": ("gauge", "Unix time at which the last run ended, successful or not."),
    "virtwork_workload_last_run_success": ("gauge", "1 if the last run succeeded, 0 if it failed."),
    "virtwork_workload_interval_seconds": ("gauge", "Expected time between two successful runs, for judging staleness."),
    "virtwork_stress_bogo_ops_per_second": ("gauge", "stress-ng bogo operations per second of wall-clock time in the last good run."),
    "virtwork_stress_bogo_ops_per_cpu_second": ("gauge", "stress-ng bogo operations per second of CPU time (user + system) in the last good run."),
    "virtwork_fio_iops": ("gauge", "fio I/O operations per second in the profile's last good run."),
    "virtwork_fio_bandwidth_bytes_per_second": ("gauge", "fio bandwidth in bytes per second in the profile's last good run."),
    "virtwork_fio_completion_latency_seconds": ("gauge", "fio completion latency percentile in the profile's last good run."),
    "virtwork_pgbench_transactions_per_second": ("gauge", "pgbench transactions per second (without connection time) in the last good run."),
    "virtwork_pgbench_latency_average_seconds": ("gauge", "pgbench average transaction latency in the last good run."),
    "virtwork_pgbench_failed_transactions": ("gauge", "pgbench failed transactions in the last good run."),
    "virtwork_pgbench_transactions_total": ("counter", "pgbench transactions processed by all good runs."),
    "virtwork_pgbench_failed_transactions_total": ("counter", "pgbench failed transactions in all good runs."),
    "virtwork_iperf3_sent_bits_per_second": ("gauge", "iperf3 client: bits per second sent to the server in the last good run."),
    "virtwork_iperf3_received_bits_per_second": ("gauge", "iperf3 client: bits per second received from the server in the last good run."),
    "virtwork_iperf3_retransmits": ("gauge", "iperf3 client: TCP retransmits of its sending streams in the last good run."),
    "virtwork_iperf3_retransmits_total": ("counter", "iperf3 client: TCP retransmits of its sending streams in all good runs."),
}


class ParseError(Exception):
    pass


# A parser turns the tool's output into (gauges, counter increments): lists
# of (name, {label: value}, number).

def stress_ng_args(out):
    return ["--metrics", "--yaml", out]


def parse_stress_ng(text, _profile):
    """Reads the metrics: list of stress-ng's --yaml output."""
    stressors = []
    in_metrics = False
    for line in text.splitlines():
        if not line.strip() or line.strip() in ("---", "..."):
            continue
        if not line.startswith(" "):
            in_metrics = line.rstrip() == "metrics:"
            continue
        if not in_metrics:
            continue
        m = re.match(r"^\s*(- )?\s*([a-z0-9-]+):\s*(.*?)\s*$", line)
        if not m:
            continue
        if m.group(1):
            stressors.append({})
        if stressors:
            stressors[-1][m.group(2)] = m.group(3).strip("'\"")
    gauges = []
    for s in stressors:
        try:
            labels = {"stressor": s["stressor"]}
            gauges.append(("virtwork_stress_bogo_ops_per_second", labels, float(s["bogo-ops-per-second-real-time"])))
            gauges.append(("virtwork_stress_bogo_ops_per_cpu_second", labels, float(s["bogo-ops-per-second-usr-sys-time"])))
        except (KeyError, ValueError) as e:
            raise ParseError("stress-ng metrics entry %r: %s" % (s, e))
    if not gauges:
        raise ParseError("no metrics in stress-ng's YAML output")
    return gauges, []


def fio_args(out):
    return ["--output-format=json", "--output=" + out]


# fio's percentile keys for the quantiles reported.
FIO_QUANTILES = (("0.5", "50.000000"), ("0.99", "99.000000"), ("0.999", "99.900000"))


def parse_fio(text, profile):
    # fio may print notes before the JSON document.
    start = text.find("{")
    if start < 0:
        raise ParseError("no JSON in fio's output")
    try:
        doc = json.loads(text[start:])
        jobs = doc["jobs"]
    except (ValueError, KeyError) as e:
        raise ParseError("fio JSON: %s" % e)
    if not jobs:
        raise ParseError("fio JSON has no jobs")
    gauges = []
    for job in jobs:
        if job.get("error"):
            raise ParseError("fio job %s: error %s" % (job.get("jobname"), job["error"]))
    # Without group_reporting each job is reported apart: sum the rates and
    # keep the worst latency of the jobs of one profile.
    groups = {}
    for job in jobs:
        groups.setdefault(profile or job.get("jobname", "fio"), []).append(job)
    for prof, pjobs in sorted(groups.items()):
        for op in ("read", "write"):
            iops = bw = 0.0
            lat = dict((q, 0.0) for q, _ in FIO_QUANTILES)
            for job in pjobs:
                st = job.get(op, {})
                iops += float(st.get("iops", 0))
                bw += float(st.get("bw_bytes", float(st.get("bw", 0)) * 1024))
                pct = st.get("clat_ns", {}).get("percentile", {})
                for q, key in FIO_QUANTILES:
                    lat[q] = max(lat[q], float(pct.get(key, 0)) / 1e9)
            labels = {"profile": prof, "op": op}
            gauges.append(("virtwork_fio_iops", labels, iops))
            gauges.append(("virtwork_fio_bandwidth_bytes_per_second", labels, bw))
            for q, _ in FIO_QUANTILES:
                gauges.append(("virtwork_fio_completion_latency_seconds", dict(labels, quantile=q), lat[q]))
    return gauges, []


def iperf3_args(_out):
    return ["--json"]


def parse_iperf3(text, _profile):
    try:
        doc = json.loads(text)
    except ValueError as e:
        raise ParseError("iperf3 JSON: %s" % e)
    if doc.get("error"):
        raise ParseError("iperf3: %s" % doc["error"])
    end = doc.get("end", {})
    test = doc.get("start", {}).get("test_start", {})
    if "sum_sent" not in end:
        raise ParseError("iperf3 JSON has no end.sum_sent (not a TCP client run?)")
    sent = float(end["sum_sent"].get("bits_per_second", 0))
    retrans = float(end["sum_sent"].get("retransmits", 0))
    if "sum_received_bidir_reverse" in end:  # --bidir
        received = float(end["sum_received_bidir_reverse"].get("bits_per_second", 0))
    elif test.get("reverse"):  # -R: the client only receives
        received, sent, retrans = float(end.get("sum_received", {}).get("bits_per_second", 0)), 0.0, 0.0
    else:
        received = 0.0
    gauges = [
        ("virtwork_iperf3_sent_bits_per_second", {}, sent),
        ("virtwork_iperf3_received_bits_per_second", {}, received),
        ("virtwork_iperf3_retransmits", {}, retrans),
    ]
    return gauges, [("virtwork_iperf3_retransmits_total", {}, retrans)]


def pgbench_args(_out):
    return []


LATENCY_UNITS = {"ms": 1e-3, "s": 1.0, "us": 1e-6}


def parse_pgbench(text, _profile):
    tps = latency = processed = None
    failed = 0.0  # pgbench before 15 aborts a client on any error instead
    for line in text.splitlines():
        line = line.strip()
        m = re.match(r"^tps = ([0-9.]+) \((.*)\)$", line)
        # 14+: "without initial connection time"; 13: "excluding connections establishing".
        if m and (tps is None or "without" in m.group(2) or "excluding" in m.group(2)):
            tps = float(m.group(1))
        m = re.match(r"^latency average = ([0-9.]+) (ms|s|us)$", line)
        if m:
            latency = float(m.group(1)) * LATENCY_UNITS[m.group(2)]
        m = re.match(r"^number of transactions actually processed: ([0-9]+)", line)
        if m:
            processed = float(m.group(1))
        m = re.match(r"^number of failed transactions: ([0-9]+)", line)
        if m:
            failed = float(m.group(1))
    if tps is None or latency is None or processed is None:
        raise ParseError("pgbench output lacks tps, latency average or transactions processed")
    gauges = [
        ("virtwork_pgbench_transactions_per_second", {}, tps),
        ("virtwork_pgbench_latency_average_seconds", {}, latency),
        ("virtwork_pgbench_failed_transactions", {}, failed),
    ]
    return gauges, [
        ("virtwork_pgbench_transactions_total", {}, processed),
        ("virtwork_pgbench_failed_transactions_total", {}, failed),
    ]


def none_args(_out):
    return []


def parse_none(_text, _profile):
    return [], []


# name: (extra arguments given the output file, parser, reads the output
# file rather than stdout)
PARSERS = {
    "stress-ng": (stress_ng_args, parse_stress_ng, True),
    "fio": (fio_args, parse_fio, True),
    "iperf3": (iperf3_args, parse_iperf3, False),
    "pgbench": (pgbench_args, parse_pgbench, False),
    "none": (none_args, parse_none, False),
}


def series_key(name, labels):
    return name + "\x00" + "\x00".join("%s=%s" % kv for kv in sorted(labels.items()))


def load_state(path):
    state = {"runs": 0, "failures": 0, "last_success": 0, "last_run": 0, "last_run_success": 0,
             "gauges": {}, "counters": {}}
    try:
        with open(path) as f:
            saved = json.load(f)
        if isinstance(saved, dict):
            state.update(saved)
    except (OSError, ValueError):
        pass  # first run, or a damaged file: start again from zero
    return state


def write_atomic(path, text, mode=0o644):
    d = os.path.dirname(path)
    os.makedirs(d, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix="." + os.path.basename(path) + ".", dir=d)
    try:
        with os.fdopen(fd, "w") as f:
            f.write(text)
            f.flush()
            os.fsync(f.fileno())
        os.chmod(tmp, mode)  # mkstemp makes it 0600; the exporter may run as another user
        os.replace(tmp, path)
    except BaseException:
        try:
            os.unlink(tmp)
        except OSError:
            pass
        raise


def escape(value):
    return str(value).replace("\\", "\\\\").replace("\"", "\\\"").replace("\n", "\\n")


def format_value(v):
    v = float(v)
    if v == int(v) and abs(v) < 1e15:
        return str(int(v))
    return repr(v)


def exposition(state, base, interval):
    """The Prometheus text for state; base holds workload, role and vm."""
    samples = {}  # name -> [(labels, value)]

    def add(name, labels, value):
        samples.setdefault(name, []).append((dict(base, **labels), value))

    add("virtwork_workload_runs_total", {}, state["runs"])
    add("virtwork_workload_run_failures_total", {}, state["failures"])
    add("virtwork_workload_last_success_timestamp_seconds", {}, state["last_success"])
    add("virtwork_workload_last_run_timestamp_seconds", {}, state["last_run"])
    add("virtwork_workload_last_run_success", {}, state["last_run_success"])
    add("virtwork_workload_interval_seconds", {}, interval)
    for table in (state["gauges"], state["counters"]):
        for key in sorted(table):
            name, labels, value = table[key]
            add(name, labels, value)
    out = []
    for name in sorted(samples, key=lambda n: (not n.startswith("virtwork_workload_"), n)):
        typ, help_text = METRICS[name]
        out.append("# HELP %s %s" % (name, help_text))
        out.append("# TYPE %s %s" % (name, typ))
        for labels, value in samples[name]:
            lab = ",".join('%s="%s"' % (k, escape(labels[k])) for k in sorted(labels))
            out.append("%s{%s} %s" % (name, lab, format_value(value)))
    return "\n".join(out) + "\n"


def run(args):
    extra, parse, reads_file = PARSERS[args.parser]
    fd, out = tempfile.mkstemp(prefix="virtwork-run.")
    os.close(fd)
    try:
        cmd = list(args.command) + extra(out)
        ok, why, gauges, incs = False, "", [], []
        try:
            proc = subprocess.run(cmd, stdout=subprocess.PIPE, universal_newlines=True)
        except OSError as e:
            why = "cannot run %s: %s" % (cmd[0], e)
        else:
            text = proc.stdout
            if reads_file:
                sys.stdout.write(text)  # the tool's own summary, for the journal
                with open(out) as f:
                    text = f.read()
            try:
                gauges, incs = parse(text, args.profile)
                ok = proc.returncode == 0
                why = "" if ok else "%s exited with status %d" % (cmd[0], proc.returncode)
            except ParseError as e:
                why = "%s (exit status %d)" % (e, proc.returncode)
    finally:
        os.unlink(out)
    return ok, why, gauges, incs


def record(state, ok, gauges, incs, now):
    state["runs"] += 1
    state["last_run"] = now
    state["last_run_success"] = 1 if ok else 0
    if not ok:
        state["failures"] += 1
        return
    state["last_success"] = now
    # A run replaces the figures of its profile (all figures when the
    # workload has no profiles); other profiles' figures stay.
    profiles = set(labels.get("profile") for _, labels, _ in gauges)
    for key in list(state["gauges"]):
        if not gauges or None in profiles or state["gauges"][key][1].get("profile") in profiles:
            del state["gauges"][key]
    for name, labels, value in gauges:
        state["gauges"][series_key(name, labels)] = [name, labels, value]
    for name, labels, value in incs:
        key = series_key(name, labels)
        prev = state["counters"].get(key, [name, labels, 0])[2]
        state["counters"][key] = [name, labels, prev + value]


def main(argv=None):
    p = argparse.ArgumentParser(prog="virtwork-run", description=__doc__.split("\n\n")[0])
    p.add_argument("--workload", required=True, help="workload name (label workload, file NAME.prom)")
    p.add_argument("--role", required=True, help="role name (label role)")
    p.add_argument("--parser", required=True, choices=sorted(PARSERS), help="how to read the tool's output")
    p.add_argument("--profile", default="", help="fio: profile label (default: each job's name)")
    p.add_argument("--interval", type=float, required=True, help="seconds expected between two good runs")
    p.add_argument("--vm", default=socket.gethostname().split(".")[0], help="label vm (default: short host name)")
    p.add_argument("--metrics-dir", default="/var/lib/virtwork/metrics")
    p.add_argument("--state-dir", default="/var/lib/virtwork/state")
    p.add_argument("command", nargs=argparse.REMAINDER, help="-- then the tool and its arguments")
    args = p.parse_args(argv)
    if args.command and args.command[0] == "--":
        args.command = args.command[1:]
    if not args.command:
        p.error("no command given after --")

    state_path = os.path.join(args.state_dir, args.workload + ".json")
    state = load_state(state_path)
    ok, why, gauges, incs = run(args)
    record(state, ok, gauges, incs, time.time())
    write_atomic(state_path, json.dumps(state, sort_keys=True))
    base = {"workload": args.workload, "role": args.role, "vm": args.vm}
    write_atomic(os.path.join(args.metrics_dir, args.workload + ".prom"), exposition(state, base, args.interval))
    if not ok:
        sys.stderr.write("virtwork-run: %s run failed: %s\n" % (args.workload, why))
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
