#!/usr/bin/env python3
# SPDX-License-Identifier: MIT
"""bench/large_summary.py - the summary of a large-store benchmark (bench/large, bench/drain_large).

    python3 bench/large_summary.py LABEL=FILE... 

Each FILE holds the "BENCH ..." lines of one kind of run (e.g. empty=out-empty, full=out-full).
Prints, per kind, the median and range of delivered/s and of the relay's CPU microseconds per
delivered message, then the ratio of each later kind's medians to the first kind's.
"""
import statistics
import sys


def runs(path):
    out = []
    with open(path) as f:
        for line in f:
            if not line.startswith("BENCH "):
                continue
            kv = dict(w.split("=", 1) for w in line.split()[1:] if "=" in w)
            n = float(kv.get("delivered", 0))
            cpu = float(kv.get("relay_cpu_s", -1))
            out.append((float(kv.get("delivered_per_s", 0)), cpu * 1e6 / n if n > 0 else 0.0))
    return out


def main(argv):
    kinds = [a.split("=", 1) for a in argv[1:]]
    if not kinds or any(len(k) != 2 for k in kinds):
        sys.stderr.write(__doc__)
        return 2
    med = {}
    for label, path in kinds:
        r = runs(path)
        if not r:
            print("%-6s no runs" % label)
            continue
        rate = [x[0] for x in r]
        cpu = [x[1] for x in r]
        med[label] = (statistics.median(rate), statistics.median(cpu))
        print("%-6s %d runs: delivered/s median %.0f (%.0f-%.0f), relay CPU per message "
              "median %.1f us (%.1f-%.1f)" % (label, len(r), med[label][0], min(rate), max(rate),
                                               med[label][1], min(cpu), max(cpu)))
    base = kinds[0][0]
    for label, _ in kinds[1:]:
        if base in med and label in med and med[base][0] > 0 and med[base][1] > 0:
            print("%s / %s: delivered/s %.2f, relay CPU per message %.2f"
                  % (label, base, med[label][0] / med[base][0], med[label][1] / med[base][1]))
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
