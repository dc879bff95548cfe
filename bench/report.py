#!/usr/bin/env python3
"""Summarise bench/.build/results.txt (written by bench/run.sh) as Markdown tables of medians.

usage: report.py RESULTS.txt OUT.md   (machine description comes from the environment)
"""
import os
import statistics
import sys
from collections import OrderedDict, defaultdict


def parse(path):
    runs = []
    with open(path) as f:
        for line in f:
            d = {}
            for tok in line.split():
                if "=" in tok:
                    k, v = tok.split("=", 1)
                    d.setdefault(k, v)
            if "row" in d:
                runs.append(d)
    return runs


def num(d, k):
    try:
        return float(d[k])
    except (KeyError, ValueError):
        return None


def ok(d):
    return d.get("rc") == "0" and d.get("status") == "ok"


def med(vals):
    vals = [v for v in vals if v is not None]
    return statistics.median(vals) if vals else None


def fmt_rate(v):
    if v is None:
        return "-"
    if v >= 1e6:
        return "%.2fM/s" % (v / 1e6)
    if v >= 1e3:
        return "%.1fk/s" % (v / 1e3)
    return "%.0f/s" % v


def fmt_mb(v):
    return "-" if v is None else ("%.0f MB/s" % v if v >= 10 else "%.1f MB/s" % v)


def fmt_ratio(a, b):
    if a is None or b is None or b == 0:
        return "-"
    return "%.2f" % (a / b)


def fmt_us(v):
    if v is None:
        return "-"
    return "%.0f" % v if v >= 100 else "%.1f" % v


def per_msg_ns(rs, key):
    """Median of a run's `key` (ms) per message of N, in ns, over the runs that have it."""
    return med([num(r, key) * 1e6 / num(r, "n") for r in rs if num(r, key) is not None and num(r, "n")])


def wins(rs_a, rs_b, key, higher=True):
    """Rounds (same run number) in which a did better than b, as "k/n": how consistent a
    median ratio is on a machine whose speed drifts from run to run."""
    a = {r.get("run"): num(r, key) for r in rs_a if ok(r)}
    b = {r.get("run"): num(r, key) for r in rs_b if ok(r)}
    pairs = [(a[k], b[k]) for k in a if k in b and a[k] is not None and b[k] is not None]
    if not pairs:
        return "-"
    k = sum(1 for x, y in pairs if (x > y if higher else x < y))
    return "%d/%d" % (k, len(pairs))


def describe_failures(rs):
    bad = [r for r in rs if not ok(r)]
    if not bad:
        return ""
    kinds = defaultdict(int)
    for r in bad:
        rc = r.get("rc", "?")
        if rc == "124" or rc == "137":
            k = "hang/killed"
        elif rc.isdigit() and int(rc) > 128:
            k = "crash(sig %d)" % (int(rc) - 128)
        else:
            k = r.get("status", "?")
        kinds[k] += 1
    return " ⚠ %d/%d failed: %s" % (len(bad), len(rs), ", ".join("%s×%d" % kv for kv in kinds.items()))


def size_label(row):
    size = int(row.split("/")[1])
    return "%d KB" % (size // 1024) if size >= 1024 else "%d B" % size


def target_rows(rows, value):
    """The targets of issue #5 checked against this run: (target, row, measured, needed, met)
    tuples. `value(row, variant, key)` is the median of `key` over a variant's good runs."""
    out = []

    def ratio(a, b):
        return None if a is None or b is None or b == 0 else a / b

    def add(target, row, measured, needed, met):
        out.append((target, row, measured, needed, "-" if met is None else ("yes" if met else "**no**")))

    def sized(mode):
        """The rows of `mode` at each message size the targets name, those in this run."""
        return [row for row in ("%s/%d" % (mode, size) for size in (16, 128, 1024, 65536)) if row in rows]

    def rates(row):
        return (value(row, v, "msgs_per_sec") for v in ("ours", "cnats", "raw"))

    for row in sized("pub"):
        ours, cnats, raw = rates(row)
        vc, vr = ratio(ours, cnats), ratio(ours, raw)
        add("publish: >= 1.0x cnats and >= 0.95x raw", size_label(row),
            "%s x cnats, %s x raw" % ("-" if vc is None else "%.2f" % vc, "-" if vr is None else "%.2f" % vr),
            ">= 1.00, >= 0.95", None if vc is None or vr is None else (vc >= 1.0 and vr >= 0.95))
    for row in sized("pubsub"):
        ours, cnats, raw = rates(row)
        vc, ceiling = ratio(ours, cnats), ratio(raw, cnats)
        measured = "-" if vc is None else "%.2f x cnats" % vc
        if ceiling is not None:
            measured += " (raw: %.2f x cnats)" % ceiling
        add("pub + async sub: >= 1.3x cnats", size_label(row), measured, ">= 1.30",
            None if vc is None else vc >= 1.3)
    for row in sized("req"):
        p50, raw50 = value(row, "ours", "p50_us"), value(row, "raw", "p50_us")
        p99, asap99 = value(row, "ours", "p99_us"), value(row, "cnats-asap", "p99_us")
        r = ratio(p50, raw50)
        add("request p50: <= 1.2x the raw round trip", size_label(row),
            "-" if r is None else "%.2f x raw (%s µs)" % (r, fmt_us(p50)), "<= 1.20",
            None if r is None else r <= 1.2)
        add("request p99: <= cnats-asap's p99", size_label(row),
            "%s µs (cnats-asap: %s µs)" % (fmt_us(p99), fmt_us(asap99)), "<= cnats-asap",
            None if p99 is None or asap99 is None else p99 <= asap99)
    if "pubsub/128" in rows:
        ours, cnats = value("pubsub/128", "ours", "rss_kb"), value("pubsub/128", "cnats", "rss_kb")
        n = next((r.get("n") for rs in rows["pubsub/128"].values() for r in rs if "n" in r), "?")
        add("peak RSS, pub + async sub: <= cnats'", "%s x 128 B" % n,
            "-" if ours is None or cnats is None else "%.1f MB (cnats: %.1f MB)" % (ours / 1024.0, cnats / 1024.0),
            "<= cnats", None if ours is None or cnats is None else ours <= cnats)
    if "threads" in rows:
        ours, cnats = value("threads", "ours", "threads"), value("threads", "cnats", "threads")
        add("threads, 1 connection + 10 async subs: <= cnats'", "-",
            "%s (cnats: %s)" % ("-" if ours is None else "%g" % ours, "-" if cnats is None else "%g" % cnats),
            "<= cnats", None if ours is None or cnats is None else ours <= cnats)
    return out


def main():
    results, out = sys.argv[1], sys.argv[2]
    runs = parse(results)
    rows = OrderedDict()
    for r in runs:
        rows.setdefault(r["row"], defaultdict(list))[r["variant"]].append(r)

    def cell(row, variant, key):
        rs = rows.get(row, {}).get(variant, [])
        return med([num(r, key) for r in rs if ok(r)]), describe_failures(rs), rs

    env = os.environ
    L = []
    L.append("# natsbench results")
    L.append("")
    L.append("| machine | |")
    L.append("|---|---|")
    L.append("| nproc | %s |" % env.get("MACHINE_NPROC", "?"))
    L.append("| CPU | %s |" % env.get("MACHINE_CPU", "?"))
    L.append("| kernel | %s |" % env.get("MACHINE_KERNEL", "?"))
    L.append("| date | %s |" % env.get("MACHINE_DATE", "?"))
    L.append("| nats-server | %s |" % env.get("SERVER_VER", "?"))
    L.append("| ours | libnats 3.13.0 (Rust), git %s%s, %s |" % (
        env.get("GIT_REV", "?"),
        " + %s uncommitted src/ changes" % env["GIT_DIRTY"] if env.get("GIT_DIRTY", "0") not in ("", "0") else "",
        env.get("LIB_DESC", "?")))
    L.append("| cnats | Debian cnats %s |" % env.get("CNATS_VER", "?"))
    L.append("| runs | %s per library per row, alternating run by run, each round starting with the next client%s; total %ss |" % (
        env.get("RUNS", "?"), " (QUICK=1: N/10)" if env.get("QUICK") == "1" else "", env.get("ELAPSED", "?")))
    L.append("")

    # ---- targets
    checks = target_rows(rows, lambda row, v, key: cell(row, v, key)[0])
    if checks:
        met = sum(1 for c in checks if c[4] == "yes")
        L.append("## Targets of issue #5 in this run")
        L.append("")
        L.append("Each target checked against the medians below: %d of %d met. In a pub + async sub "
                 "row where the raw-socket client itself is less than 1.3x cnats, meeting the target takes "
                 "a client faster than the raw socket." % (met, len(checks)))
        L.append("")
        L.append("| target | row | measured | needed | met |")
        L.append("|---|---|---|---|---|")
        for c in checks:
            L.append("| %s | %s | %s | %s | %s |" % c)
        L.append("")

    # rows with a message rate (not latency or resource rows)
    rate_rows = [(row, vs) for row, vs in rows.items()
                 if not (row.startswith("req/") or row in ("threads", "subs1000"))]

    # ---- throughput
    L.append("## Throughput (median msgs/s; higher is better)")
    L.append("")
    L.append("pub: publish N then Flush. pubsub: time until the async subscriber got all N. "
             "sync: NextMsg loop. queue4: 4 queue subscribers, each message once (rate = messages). "
             "fanout4: 4 subscribers each get all N (rate = deliveries).")
    L.append("")
    L.append("*won* counts the rounds in which ours was faster (each round runs every client once, "
             "the first one rotating). *raw/cnats* is how far the raw-socket ceiling is ahead of "
             "cnats in the same run: in a row the server bounds, about as far as any client gets.")
    L.append("")
    L.append("| row | n | ours | cnats | raw | ours/cnats | won vs cnats | ours/raw | won vs raw | raw/cnats |")
    L.append("|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|")
    for row, vs in rate_rows:
        n = next((r.get("n") for v in vs.values() for r in v if "n" in r), "?")
        cells, vals = [], {}
        for v in ("ours", "cnats", "raw"):
            if v not in vs:
                cells.append("n/a")
                continue
            m, fail, _ = cell(row, v, "msgs_per_sec")
            mb, _, _ = cell(row, v, "mb_per_sec")
            vals[v] = m
            cells.append("%s (%s)%s" % (fmt_rate(m), fmt_mb(mb), fail) if m is not None else "FAIL%s" % fail)
        L.append("| %s | %s | %s | %s | %s | %s | %s | %s | %s | %s |" % (
            row, n, cells[0], cells[1], cells[2],
            fmt_ratio(vals.get("ours"), vals.get("cnats")),
            wins(vs.get("ours", []), vs.get("cnats", []), "msgs_per_sec"),
            fmt_ratio(vals.get("ours"), vals.get("raw")),
            wins(vs.get("ours", []), vs.get("raw", []), "msgs_per_sec") if "raw" in vs else "-",
            fmt_ratio(vals.get("raw"), vals.get("cnats"))))
    L.append("")

    # ---- client CPU
    L.append("## Client CPU (median process CPU per published message, ns; lower is better)")
    L.append("")
    L.append("User + system CPU time of the benchmark process (getrusage), divided by N. It counts "
             "what the client spends, publisher and subscribers together, whatever the server's speed.")
    L.append("")
    L.append("| row | ours | cnats | raw | ours/cnats | ours/raw |")
    L.append("|---|---:|---:|---:|---:|---:|")
    for row, vs in rate_rows:
        cells, vals = [], {}
        for v in ("ours", "cnats", "raw"):
            rs = [r for r in vs.get(v, []) if ok(r)]
            per = per_msg_ns(rs, "cpu_ms")
            vals[v] = per
            cells.append("n/a" if v not in vs else ("-" if per is None else "%.0f" % per))
        L.append("| %s | %s | %s | %s | %s | %s |" % (
            row, *cells, fmt_ratio(vals.get("ours"), vals.get("cnats")), fmt_ratio(vals.get("ours"), vals.get("raw"))))
    L.append("")

    # ---- server CPU
    L.append("## Server CPU (median nats-server CPU per published message, ns, and cores it kept busy)")
    L.append("")
    L.append("User + system CPU time of the nats-server process during each run (from /proc), "
             "divided by N, and by the run's duration for the cores. Where all clients cost the server "
             "the same per message and it keeps about one core busy, the server bounds the row.")
    L.append("")
    L.append("| row | ours | cnats | raw | ours/cnats |")
    L.append("|---|---:|---:|---:|---:|")
    for row, vs in rate_rows:
        cells, vals = [], {}
        for v in ("ours", "cnats", "raw"):
            rs = [r for r in vs.get(v, []) if ok(r) and num(r, "server_cpu_ms") is not None]
            per = per_msg_ns(rs, "server_cpu_ms")
            cores = med([num(r, "server_cpu_ms") / 1000.0 / num(r, "secs") for r in rs if num(r, "secs")])
            vals[v] = per
            if v not in vs:
                cells.append("n/a")
            elif per is None:
                cells.append("-")
            else:
                cells.append("%.0f (%.2f)" % (per, cores) if cores is not None else "%.0f" % per)
        L.append("| %s | %s | %s | %s | %s |" % (row, *cells, fmt_ratio(vals.get("ours"), vals.get("cnats"))))
    L.append("")

    # ---- server waiting for a CPU
    if any(num(r, "server_wait_ms") is not None for _, vs in rate_rows for rs in vs.values() for r in rs):
        L.append("## Server kept waiting for a CPU (median; higher means slower)")
        L.append("")
        L.append("Time the nats-server threads were ready to run but had no CPU (their run-queue wait, "
                 "from /proc/<pid>/task/*/schedstat) during each run, divided by the run's duration: "
                 "how many server threads, on average, waited for a core. Client and server share the "
                 "machine's cores, so what a client spends on CPU delays the server; where the server "
                 "bounds a row, the rate follows this.")
        L.append("")
        L.append("| row | ours | cnats | raw |")
        L.append("|---|---:|---:|---:|")
        for row, vs in rate_rows:
            cells = []
            for v in ("ours", "cnats", "raw"):
                rs = [r for r in vs.get(v, []) if ok(r) and num(r, "server_wait_ms") is not None and num(r, "secs")]
                w = med([num(r, "server_wait_ms") / 1000.0 / num(r, "secs") for r in rs])
                cells.append("n/a" if v not in vs else ("-" if w is None else "%.2f" % w))
            L.append("| %s | %s | %s | %s |" % (row, *cells))
        L.append("")

    # ---- latency
    req_rows = [r for r in rows if r.startswith("req/")]
    if req_rows:
        L.append("## Request/reply latency (median of per-run p50 / p99, µs; lower is better)")
        L.append("")
        L.append("N sequential natsConnection_Request calls (default options; *-asap* sets "
                 "natsOptions_SetSendAsap on requester and replier). Ratios compare p50.")
        L.append("")
        L.append("| row | n | ours | ours -asap | cnats | cnats -asap | raw | ours/cnats | ours/cnats-asap | ours/raw | won vs raw |")
        L.append("|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|")
        for row in req_rows:
            vs = rows[row]
            n = next((r.get("n") for v in vs.values() for r in v if "n" in r), "?")
            cells, p50 = [], {}
            for v in ("ours", "ours-asap", "cnats", "cnats-asap", "raw"):
                if v not in vs:
                    cells.append("n/a")
                    continue
                a, fail, _ = cell(row, v, "p50_us")
                b, _, _ = cell(row, v, "p99_us")
                p50[v] = a
                cells.append("%s / %s%s" % (fmt_us(a), fmt_us(b), fail) if a is not None else "FAIL%s" % fail)
            L.append("| %s | %s | %s | %s | %s | %s | %s | %s | %s | %s | %s |" % (
                row, n, *cells, fmt_ratio(p50.get("ours"), p50.get("cnats")),
                fmt_ratio(p50.get("ours"), p50.get("cnats-asap")), fmt_ratio(p50.get("ours"), p50.get("raw")),
                wins(vs.get("ours", []), vs.get("raw", []), "p50_us", higher=False)))
        L.append("")
        L.append("All four percentiles of each client (µs; each the median over the runs of that "
                 "percentile in a run; max is the slowest request of a run).")
        L.append("")
        L.append("| row | client | p50 | p90 | p99 | max |")
        L.append("|---|---|---:|---:|---:|---:|")
        for row in req_rows:
            for v in ("ours", "ours-asap", "cnats", "cnats-asap", "raw"):
                if v not in rows[row]:
                    continue
                ps = [cell(row, v, k)[0] for k in ("p50_us", "p90_us", "p99_us", "max_us")]
                L.append("| %s | %s | %s |" % (row, v, " | ".join(fmt_us(x) if x is not None else "FAIL" for x in ps)))
        L.append("")

    # ---- resources
    L.append("## Resources (medians)")
    L.append("")
    L.append("Peak RSS from getrusage (ru_maxrss) and threads of the process (/proc/self/task) at the end "
             "of the run, before the connections are closed.")
    L.append("")
    L.append("| row | metric | ours | cnats | raw | ours/cnats |")
    L.append("|---|---|---:|---:|---:|---:|")
    for row, metrics in (("pubsub/128", ("rss_kb", "threads")),
                         ("threads", ("threads", "rss_kb")),
                         ("subs1000", ("threads", "rss_kb"))):
        if row not in rows:
            continue
        vs = rows[row]
        n = next((r.get("n") for v in vs.values() for r in v if "n" in r), "?")
        label = row
        if row == "pubsub/128":
            label = "pubsub/128 (n=%s)" % n
        elif row == "threads":
            label = "threads (1 conn, 10 async subs)"
        elif row == "subs1000":
            label = "subs1000 (1000 async subs, global delivery)"
        for mname in metrics:
            cells, vals = [], {}
            for v in ("ours", "cnats", "raw"):
                if v not in vs:
                    cells.append("n/a")
                    continue
                m, fail, _ = cell(row, v, mname)
                vals[v] = m
                if m is None:
                    cells.append("FAIL%s" % fail)
                elif mname == "rss_kb":
                    cells.append("%.1f MB%s" % (m / 1024.0, fail))
                else:
                    cells.append("%g%s" % (m, fail))
            L.append("| %s | %s | %s | %s | %s | %s |" % (
                label, "peak RSS" if mname == "rss_kb" else "threads", *cells,
                fmt_ratio(vals.get("ours"), vals.get("cnats"))))
    L.append("")

    # ---- details
    L.append("## Details (medians over successful runs)")
    L.append("")
    L.append("| row | lib | ok runs | secs | msgs/s | peak RSS MB | threads |")
    L.append("|---|---|---:|---:|---:|---:|---:|")
    for row, vs in rows.items():
        for v, rs in vs.items():
            good = [r for r in rs if ok(r)]
            secs = med([num(r, "secs") for r in good])
            rate = med([num(r, "msgs_per_sec") for r in good])
            rss = med([num(r, "rss_kb") for r in good])
            thr = med([num(r, "threads") for r in good])
            L.append("| %s | %s | %d/%d | %s | %s | %s | %s |" % (
                row, v, len(good), len(rs), "-" if secs is None else "%.3f" % secs, fmt_rate(rate),
                "-" if rss is None else "%.1f" % (rss / 1024.0), "-" if thr is None else "%g" % thr))
    L.append("")

    # ---- problems
    bad = [r for r in runs if not ok(r)]
    L.append("## Problems")
    L.append("")
    if not bad:
        L.append("None: every run exited 0 with status=ok and the expected counts.")
    else:
        L.append("Runs that did not exit 0 with status=ok (rc 124/137 = killed by the run timeout, "
                 ">128 = signal). stderr of every run is in bench/.build/stderr.log.")
        L.append("")
        L.append("| row | lib | run | rc | status | received/expected | async errs | slow consumer | disconnects | error |")
        L.append("|---|---|---:|---:|---|---|---:|---:|---:|---|")
        for r in bad:
            L.append("| %s | %s | %s | %s | %s | %s/%s | %s | %s | %s | %s |" % (
                r["row"], r["variant"], r.get("run", "?"), r.get("rc", "?"), r.get("status", "?"),
                r.get("received", "?"), r.get("expected", r.get("n", "?")), r.get("async_errs", "?"),
                r.get("slow_consumer", "?"), r.get("disconnects", "?"),
                r.get("error", r.get("nextmsg", r.get("reqstatus", "")))))
    L.append("")

    text = "\n".join(L)
    with open(out, "w") as f:
        f.write(text)
    print(text)


if __name__ == "__main__":
    main()
