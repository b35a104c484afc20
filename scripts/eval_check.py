#!/usr/bin/env python3
"""Compare `tailor eval` JSON results (scripts/eval writes them) with the
published and reference marks of ../shared/data/README.md and the models
issue. Prints one line per mark; exits 1 when a guarded mark is missed.

kinds: "near"  |value - mark| <= tol (a reproduction)
       "min"   value >= mark - tol   (a bar to reach)
       "info"  printed only (a mark not reached yet, or for context)
A mark whose result file or model is missing is reported as skipped."""
import json
import os
import sys

# file, model, metric, k, mark, kind, tol, what
MARKS = [
    ("rsc15-99", "session_ar", "hr", 20, 0.5917, "near", 0.003, "reference ar list, HR@20 (387 rows)"),
    ("rsc15-99", "session_ar", "mrr", 20, 0.3160, "near", 0.007, "reference ar list, MRR@20"),
    ("rsc15-99", "session_sr", "hr", 20, 0.5607, "info", 0, "reference sr list, HR@20"),
    ("rsc15-99", "session_sr", "mrr", 20, 0.3275, "info", 0, "reference sr list, MRR@20"),
    ("rsc15-99", "sknn", "hr", 20, 0.6098, "min", 0.0005, "reference vsknn list, HR@20"),
    ("rsc15-99", "sknn", "mrr", 20, 0.3342, "min", 0.0005, "reference vsknn list, MRR@20"),
    ("online-retail", "pop", "hr", 10, 0.2066, "info", 0, "popularity (reference counts order lines; ours distinct customers)"),
    ("online-retail", "itemknn", "hr", 10, 0.3401, "info", 0, "item-kNN cosine (reference keeps all neighbours)"),
    ("online-retail", "ease", "hr", 10, 0.4766, "near", 0.01, "EASE lambda 200, HR@10"),
    ("online-retail", "blend", "hr", 10, 0.4766, "min", 0, "the blend must beat EASE's 0.4766"),
    ("amazon-Beauty", "ease", "hr", 10, 0.0699, "near", 0.003, "EASE lambda 50, HR@10"),
    ("amazon-Beauty", "ease", "ndcg", 10, 0.0386, "near", 0.002, "EASE lambda 50, NDCG@10"),
    ("amazon-Beauty-sasrec", "blend/sasrec", "hr", 10, 0.0951, "info", 0, "SASRec alone vs the self-attention reference, HR@10"),
    ("amazon-Beauty-sasrec", "blend/sasrec", "ndcg", 10, 0.0571, "info", 0, "SASRec alone vs the reference, NDCG@10"),
    ("amazon-Beauty-sasrec", "blend/ease", "hr", 10, 0.0699, "near", 0.003, "EASE inside the blend = EASE alone, HR@10"),
    ("amazon-Beauty-sasrec", "blend", "hr", 10, 0.0951, "min", 0, "blend with SASRec reaches the self-attention reference, HR@10"),
    ("amazon-Beauty-sasrec", "blend", "ndcg", 10, 0.0571, "info", 0, "blend with SASRec vs the reference, NDCG@10"),
    ("amazon-Beauty", "blend", "hr", 10, 0.0699, "min", 0, "at least EASE with Tailor's own models, HR@10"),
    ("amazon-Toys_and_Games", "ease", "hr", 10, 0.0751, "near", 0.003, "EASE lambda 50, HR@10"),
    ("amazon-Toys_and_Games", "ease", "ndcg", 10, 0.0435, "near", 0.002, "EASE lambda 50, NDCG@10"),
    ("amazon-Toys_and_Games", "blend", "hr", 10, 0.0751, "min", 0, "at least EASE with Tailor's own models, HR@10"),
    ("homedepot-dev", "sqlite-fts5", "ndcg", 10, 0.3726, "near", 0.001, "SQLite FTS5 bm25(), any term (reference)"),
    ("homedepot-dev", "tailor-sindex", "ndcg", 10, 0.42, "min", 0, "search issue bar: NDCG@10 >= 0.42"),
    ("homedepot-dev", "tailor-sindex", "ndcg_margin", 10, 0.0474, "min", 0, "margin over FTS5 (0.42 - 0.3726)"),
]


def main():
    out = sys.argv[1] if len(sys.argv) > 1 else "build/eval"
    results = {}
    for name in {m[0] for m in MARKS}:
        path = os.path.join(out, name + ".json")
        if os.path.exists(path):
            with open(path) as f:
                data = json.load(f)
            if isinstance(data, dict) and "rankers" in data:  # tailor eval search
                base = None
                for r in data["rankers"]:
                    results[(name, r["name"], "ndcg", 10)] = r["ndcg@10"]
                    results[(name, r["name"], "mrr", 0)] = r["mrr"]
                    if r["name"] == "sqlite-fts5":
                        base = r["ndcg@10"]
                for r in data["rankers"]:
                    if base is not None:
                        results[(name, r["name"], "ndcg_margin", 10)] = r["ndcg@10"] - base
                continue
            for row in data:
                results[(name, row["model"], row["metric"], row["k"])] = row["value"]
    failed = 0
    print("%-24s %-11s %-10s %8s %8s  %s" % ("data", "model", "metric", "value", "mark", "result"))
    for name, model, metric, k, mark, kind, tol, what in MARKS:
        v = results.get((name, model, metric, k))
        label = "%s@%d" % (metric, k)
        if v is None:
            print("%-24s %-11s %-10s %8s %8.4f  skipped (not run)  %s" % (name, model, label, "-", mark, what))
            continue
        if kind == "near":
            ok = abs(v - mark) <= tol + 1e-12
            res = "ok (within %.3f)" % tol if ok else "MISSED (off by %.4f, tolerance %.3f)" % (v - mark, tol)
        elif kind == "min":
            ok = v >= mark - tol - 1e-12
            res = "ok (>= mark)" if ok else "MISSED (below by %.4f)" % (mark - v)
        else:
            ok = True
            res = "reached" if v >= mark else "below (%+.4f)" % (v - mark)
        failed += not ok
        print("%-24s %-11s %-10s %8.4f %8.4f  %s  %s" % (name, model, label, v, mark, res, what))
    if failed:
        print("eval: %d guarded mark(s) missed" % failed)
        return 1
    print("eval: every guarded mark holds")
    return 0


if __name__ == "__main__":
    sys.exit(main())
