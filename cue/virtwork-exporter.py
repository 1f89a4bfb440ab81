#!/usr/bin/python3
"""virtwork-exporter: serve a VM's virtwork figures on /metrics.

Usage: virtwork-exporter [--dir DIR] [--listen [HOST]:PORT] [--vm NAME]

Serves, in the Prometheus text format, basic guest figures read from /proc
(CPU time per mode, memory, load) and every DIR/*.prom file the workloads
write, merged by metric family so that two files may carry the same family.
Lines that are not valid exposition lines are dropped and counted in
virtwork_exporter_file_errors. Port 0 picks a free port; the address is
printed as "listening on HOST:PORT" (an IPv6 HOST in brackets).

Only the Python 3 standard library is used (python3 >= 3.6).
"""

import argparse
import os
import re
import signal
import socket
import sys

# http.server imports http.client, which loads ssl (and with it libssl,
# about 4 MiB of RSS) only to offer HTTPS, which the exporter never
# speaks; without ssl, http.client simply leaves HTTPS out.
if "ssl" not in sys.modules:
    sys.modules["ssl"] = None
from http.server import BaseHTTPRequestHandler, HTTPServer  # noqa: E402
from socketserver import TCPServer, ThreadingMixIn  # noqa: E402

CONTENT_TYPE = "text/plain; version=0.0.4; charset=utf-8"

NAME = r"[a-zA-Z_:][a-zA-Z0-9_:]*"
LABELS = r'\{\s*(?:[a-zA-Z_][a-zA-Z0-9_]*\s*=\s*"(?:[^"\\\n]|\\.)*"\s*(?:,\s*)?)*\}'
VALUE = r"(?:[-+]?(?:[0-9]*\.?[0-9]+(?:[eE][-+]?[0-9]+)?|Inf|inf|NaN|nan))"
SAMPLE = re.compile(r"^(" + NAME + r")(" + LABELS + r")?\s+" + VALUE + r"(?:\s+-?[0-9]+)?$")
META = re.compile(r"^#\s+(HELP|TYPE)\s+(" + NAME + r")(?:\s+(.*))?$")
RESERVED = ("virtwork_guest_", "virtwork_exporter_")
TYPES = ("counter", "gauge", "histogram", "summary", "untyped")

# /proc/stat's cpu line, in order.
CPU_MODES = ("user", "nice", "system", "idle", "iowait", "irq", "softirq", "steal")


class Family(object):
    __slots__ = ("help", "type", "samples", "source")

    def __init__(self, source):
        self.help, self.type, self.samples, self.source = None, None, [], source


def read_file(path, text, families, order, series, errors):
    """Merges the exposition text of one file into families."""
    current = None
    for line in text.splitlines():
        line = line.strip()
        if not line:
            continue
        if line.startswith("#"):
            m = META.match(line)
            if not m:
                continue  # a plain comment
            kind, name, rest = m.group(1), m.group(2), (m.group(3) or "")
            fam = families.get(name)
            if fam is None:
                fam = families[name] = Family(path)
                order.append(name)
            if kind == "TYPE":
                if rest not in TYPES:
                    errors[path] = errors.get(path, 0) + 1
                    continue
                if fam.type not in (None, rest):
                    # Another file typed it differently: keep the first.
                    errors[path] = errors.get(path, 0) + 1
                    current = None
                    continue
                fam.type = rest
            elif fam.help is None:
                fam.help = rest
            current = name
            continue
        m = SAMPLE.match(line)
        if not m:
            errors[path] = errors.get(path, 0) + 1
            continue
        name = m.group(1)
        if name.startswith(RESERVED):
            errors[path] = errors.get(path, 0) + 1  # the exporter's own families
            continue
        family = name
        if current and (name == current or name[len(current):] in ("_bucket", "_sum", "_count", "_created")) and name.startswith(current):
            family = current
        if family != current and family not in families:
            families[family] = Family(path)
            order.append(family)
        key = name + (m.group(2) or "")
        if key in series:
            errors[path] = errors.get(path, 0) + 1  # a duplicate would break the scrape
            continue
        series.add(key)
        families[family].samples.append(line)


def escape(value):
    return value.replace("\\", "\\\\").replace('"', '\\"').replace("\n", "\\n")


def guest_figures(vm):
    lines = []
    lab = 'vm="%s"' % escape(vm)

    def fam(name, typ, help_text):
        lines.append("# HELP %s %s" % (name, help_text))
        lines.append("# TYPE %s %s" % (name, typ))

    hz = float(os.sysconf("SC_CLK_TCK"))
    cpus = 0
    boot = None
    cpu = None
    with open("/proc/stat") as f:
        for line in f:
            if line.startswith("cpu "):
                cpu = line.split()[1:1 + len(CPU_MODES)]
            elif line.startswith("cpu"):
                cpus += 1
            elif line.startswith("btime "):
                boot = line.split()[1]
    if cpu:
        fam("virtwork_guest_cpu_seconds_total", "counter", "CPU time summed over all CPUs, by mode (from /proc/stat).")
        for mode, ticks in zip(CPU_MODES, cpu):
            lines.append('virtwork_guest_cpu_seconds_total{%s,mode="%s"} %r' % (lab, mode, int(ticks) / hz))
    fam("virtwork_guest_cpus", "gauge", "Online CPUs.")
    lines.append("virtwork_guest_cpus{%s} %d" % (lab, cpus))
    if boot:
        fam("virtwork_guest_boot_timestamp_seconds", "gauge", "Unix time the guest booted.")
        lines.append("virtwork_guest_boot_timestamp_seconds{%s} %s" % (lab, boot))
    mem = {}
    with open("/proc/meminfo") as f:
        for line in f:
            parts = line.split()
            if parts[0] in ("MemTotal:", "MemAvailable:"):
                mem[parts[0]] = int(parts[1]) * 1024
    for key, name, help_text in (("MemTotal:", "virtwork_guest_memory_total_bytes", "Total usable memory (MemTotal)."),
                                 ("MemAvailable:", "virtwork_guest_memory_available_bytes", "Memory available for new work (MemAvailable).")):
        if key in mem:
            fam(name, "gauge", help_text)
            lines.append("%s{%s} %d" % (name, lab, mem[key]))
    with open("/proc/loadavg") as f:
        loads = f.read().split()[:3]
    for suffix, value in zip(("1", "5", "15"), loads):
        name = "virtwork_guest_load" + suffix
        fam(name, "gauge", "Load average over %s minute%s." % (suffix, "" if suffix == "1" else "s"))
        lines.append("%s{%s} %s" % (name, lab, value))
    return lines


def collect(directory, vm):
    out = guest_figures(vm)
    families, order, series, errors = {}, [], set(), {}
    try:
        names = sorted(n for n in os.listdir(directory) if n.endswith(".prom") and not n.startswith("."))
    except OSError:
        names = []  # no workload has written figures yet
    for n in names:
        path = os.path.join(directory, n)
        try:
            with open(path, encoding="utf-8") as f:
                text = f.read()
        except (OSError, UnicodeDecodeError):
            errors[n] = errors.get(n, 0) + 1
            continue
        read_file(n, text, families, order, series, errors)
    for name in order:
        fam = families[name]
        if not fam.samples:
            continue
        if fam.help is not None:
            out.append("# HELP %s %s" % (name, fam.help))
        if fam.type is not None:
            out.append("# TYPE %s %s" % (name, fam.type))
        out.extend(fam.samples)
    out.append("# HELP virtwork_exporter_file_errors Lines (or whole files) of the metrics directory dropped as invalid.")
    out.append("# TYPE virtwork_exporter_file_errors gauge")
    for n in names:
        out.append('virtwork_exporter_file_errors{vm="%s",file="%s"} %d' % (escape(vm), escape(n), errors.get(n, 0)))
    return ("\n".join(out) + "\n").encode("utf-8")


class Handler(BaseHTTPRequestHandler):
    server_version = "virtwork-exporter"
    timeout = 10  # a stuck client must not hold a thread for ever

    def do_GET(self):
        path = self.path.split("?", 1)[0]
        if path == "/metrics":
            try:
                body = collect(self.server.directory, self.server.vm)
            except Exception as e:  # report, do not die: the next scrape may work
                self.send_error(500, "collecting figures: %s" % e)
                return
            self.reply(200, CONTENT_TYPE, body)
        elif path == "/":
            self.reply(200, "text/plain; charset=utf-8", b"virtwork-exporter: figures at /metrics\n")
        else:
            self.send_error(404)

    def reply(self, code, ctype, body):
        self.send_response(code)
        self.send_header("Content-Type", ctype)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, *args):
        pass  # a scrape every few seconds would flood the journal


class Server(ThreadingMixIn, HTTPServer):
    daemon_threads = True
    dual_stack = False

    def __init__(self, addr, directory, vm):
        self.directory, self.vm = directory, vm
        host, port = addr
        if host == "" and socket.has_ipv6:
            # All addresses: IPv6 and IPv4 on one socket where the guest
            # has IPv6 (single- or dual-stack clusters), else IPv4 only.
            self.address_family, self.dual_stack = socket.AF_INET6, True
            try:
                HTTPServer.__init__(self, ("::", port), Handler)
                return
            except OSError:
                self.dual_stack = False
        self.address_family = socket.AF_INET6 if ":" in host else socket.AF_INET
        HTTPServer.__init__(self, addr, Handler)

    def server_bind(self):
        if self.dual_stack:
            self.socket.setsockopt(socket.IPPROTO_IPV6, socket.IPV6_V6ONLY, 0)
        # HTTPServer.server_bind would look up the host's FQDN, which can
        # stall the start for the DNS timeout in a guest without DNS.
        TCPServer.server_bind(self)
        self.server_name, self.server_port = self.server_address[:2]


def parse_listen(value):
    host, sep, port = value.rpartition(":")
    if not sep or not port.isdigit():
        raise argparse.ArgumentTypeError("want [HOST]:PORT, got %r" % value)
    return host.strip("[]"), int(port)


def main(argv=None):
    p = argparse.ArgumentParser(prog="virtwork-exporter", description=__doc__.split("\n\n")[0])
    p.add_argument("--dir", default="/var/lib/virtwork/metrics", help="directory of the workloads' *.prom files")
    p.add_argument("--listen", type=parse_listen, default=":9100", help="[HOST]:PORT to listen on (default :9100)")
    p.add_argument("--vm", default=socket.gethostname().split(".")[0], help="label vm (default: short host name)")
    args = p.parse_args(argv)
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(0))
    server = Server(args.listen, args.dir, args.vm)
    host, port = server.server_address[:2]
    print("listening on %s:%d" % ("[%s]" % host if ":" in host else host, port), flush=True)
    try:
        server.serve_forever()
    except KeyboardInterrupt:
        pass
    return 0


if __name__ == "__main__":
    sys.exit(main())
