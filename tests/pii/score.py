#!/usr/bin/env python3
"""Scores a redaction run against a labelled corpus (tests/pii/dev.jsonl, variants.jsonl).

  score.py CORPUS.jsonl REDACTED.txt [--min-recall 0.999] [--min-keep 0.99] [--show N]

Each corpus row is {"line", "pii": [{"type", "value"}], "keep": [str]}; REDACTED.txt holds
what the pipeline made of each row's line, one per row, in order. A PII value is redacted
when it no longer appears in its output line; a keep value (trace id, UUID, an order id
that fails the Luhn check) is kept when it still does: over-redaction is a defect too.

Prints recall per type (with up to N misses each) and a last summary line; exits 1 when a
type's recall or the keep rate is below its minimum, or the line counts differ.
"""
import argparse
import json
import sys
from collections import Counter, defaultdict


def score(rows, outputs):
    found, total, missed = Counter(), Counter(), defaultdict(list)
    kept = keep_total = 0
    for row, out in zip(rows, outputs):
        for pii in row["pii"]:
            kind, value = pii["type"], pii["value"]
            total[kind] += 1
            if value in out:
                missed[kind].append(value)
            else:
                found[kind] += 1
        for value in row["keep"]:
            keep_total += 1
            kept += value in out
    return found, total, missed, kept, keep_total


def main():
    args = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    args.add_argument("corpus")
    args.add_argument("redacted")
    args.add_argument("--min-recall", type=float, default=0.999)
    args.add_argument("--min-keep", type=float, default=0.99)
    args.add_argument("--show", type=int, default=5, help="misses to print per type")
    a = args.parse_args()

    with open(a.corpus, encoding="utf-8") as f:
        rows = [json.loads(line) for line in f]
    with open(a.redacted, encoding="utf-8", errors="replace") as f:
        outputs = f.read().splitlines()
    if len(outputs) != len(rows):
        print(f"line count differs: corpus {len(rows)}, output {len(outputs)}")
        print("FAIL: line count")
        return 1

    found, total, missed, kept, keep_total = score(rows, outputs)
    print(f"{'type':20} {'found':>7} {'total':>7} {'recall':>8}")
    for kind in sorted(total):
        print(f"{kind:20} {found[kind]:7} {total[kind]:7} {found[kind] / total[kind]:8.4f}")
        for value in missed[kind][: a.show]:
            print(f"    missed: {value}")
    overall = sum(found.values()) / max(1, sum(total.values()))
    worst = min(total, key=lambda k: found[k] / total[k]) if total else None
    worst_recall = found[worst] / total[worst] if worst else 1.0
    keep = kept / max(1, keep_total)
    ok = worst_recall >= a.min_recall and keep >= a.min_keep
    print(
        f"{'PASS' if ok else 'FAIL'}: lowest recall {worst_recall:.4f} ({worst}; min "
        f"{a.min_recall} for every type), overall {overall:.4f}, keep {keep:.4f} "
        f"(min {a.min_keep}), lines {len(rows)}"
    )
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
