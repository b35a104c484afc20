#!/usr/bin/env python3
"""Synthetic behaviour events for benchmarks (python3 standard library only).

Writes NDJSON in the POST /v1/events form (src/ingest/event.c,
docs/events.md): one event per line, 150-250 bytes each, every event with a
unique event_id. Deterministic for a given --seed.

Shape (chosen to look like a storefront's traffic):
  - users: --users customer ids "u000001".. (70% of events) and as many
    anonymous browser ids "a-<hex>" (30%); a user's activity is split into
    sessions "s-<user>-<n>".
  - items: --items ids "sku-000001".. (or the real StockCodes of an Online
    Retail file with --items-from), popularity Zipf-like: weight of the item
    of rank r is 1 / (r + 10) ** 0.9.
  - types: product_view 58%, page_view 8%, category_view 8%, search 6%,
    add_to_cart 8%, remove_from_cart 2%, checkout_start 2%, purchase 3%,
    recommendation_click 5%.
  - timestamps: ISO 8601 UTC with milliseconds, increasing, spread over the
    --days days that end at the time of generation (the ingest layer accepts
    2000-01-01 .. now + 24 h).
  - size: each line is padded with a "context" object (page url, referrer)
    to at least 150 bytes and optional fields are dropped above 250.

Modes:
  gen_events.py --count N [--out FILE]       NDJSON, N events
  gen_events.py --template N [--out FILE]    a JSON array of N events whose
      event_ids are "@@ID@@-<i>": bench/post_events.lua replaces @@ID@@ with
      a per-request unique prefix.
"""
import argparse
import bisect
import csv
import gzip
import io
import itertools
import random
import sys
import time

TYPES = [
    ("product_view", 58),
    ("page_view", 8),
    ("category_view", 8),
    ("search", 6),
    ("add_to_cart", 8),
    ("remove_from_cart", 2),
    ("checkout_start", 2),
    ("purchase", 3),
    ("recommendation_click", 5),
]
CATEGORIES = ["Home > Kitchen", "Home > Decor", "Gifts > Christmas", "Garden", "Toys", "Stationery",
              "Bags", "Lighting", "Party", "Baby"]
QUERIES = ["red mug", "christmas lights", "lunch bag", "tea set", "candle holder", "wall clock",
           "garden sign", "paper napkins", "cake stand", "doormat"]
COUNTRIES = ["GB"] * 8 + ["FR", "DE", "NL", "IE", "ES"]
MIN_LEN, MAX_LEN = 150, 250
COUNT_MAX = 50_000_000


def load_items(path, limit):
    """Distinct StockCodes of an Online Retail CSV (.gz allowed), in file order."""
    opener = gzip.open if path.endswith(".gz") else open
    seen = {}
    with opener(path, "rt", encoding="utf-8", errors="replace", newline="") as f:
        for row in csv.DictReader(f):
            code = (row.get("StockCode") or "").strip()
            if code and code.isalnum() and code not in seen:
                seen[code] = float(row.get("UnitPrice") or 0) or 1.0
                if len(seen) >= limit:
                    break
    return list(seen.items())


def iso(ms):
    s, ms = divmod(ms, 1000)
    return time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(s)) + ".%03dZ" % ms


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    g = ap.add_mutually_exclusive_group(required=True)
    g.add_argument("--count", type=int, help="NDJSON events to write")
    g.add_argument("--template", type=int, help="write one JSON array body of N events with @@ID@@ ids")
    ap.add_argument("--out", default="-", help="output file (default stdout)")
    ap.add_argument("--users", type=int, default=5000)
    ap.add_argument("--items", type=int, default=20000)
    ap.add_argument("--items-from", help="Online Retail CSV(.gz): use its StockCodes as item ids")
    ap.add_argument("--days", type=int, default=30)
    ap.add_argument("--seed", type=int, default=42)
    ap.add_argument("--id-prefix", default="ev", help="event_id prefix (NDJSON mode)")
    ap.add_argument("--user", help="make every event belong to this user id (e.g. for recently_viewed)")
    a = ap.parse_args()
    n = a.count if a.count is not None else a.template
    if not (1 <= n <= COUNT_MAX) or a.users < 1 or a.items < 1 or a.days < 1:
        ap.error("counts must be positive (events at most %d)" % COUNT_MAX)

    rng = random.Random(a.seed)
    if a.items_from:
        items = load_items(a.items_from, a.items)
        if not items:
            ap.error("no StockCode found in %s" % a.items_from)
    else:
        items = [("sku-%06d" % (i + 1), round(rng.uniform(0.5, 60.0), 2)) for i in range(a.items)]
    weights = [1.0 / (r + 10) ** 0.9 for r in range(len(items))]
    cum_items = list(itertools.accumulate(weights))
    types = [t for t, _ in TYPES]
    cum_types = list(itertools.accumulate(w for _, w in TYPES))
    anon = ["a-%012x" % rng.getrandbits(48) for _ in range(a.users)]

    now_ms = int(time.time() * 1000) - 60_000
    span = a.days * 86_400_000
    step = span / n
    out = sys.stdout if a.out == "-" else open(a.out, "w", encoding="utf-8")
    w = out.write
    template = a.template is not None
    if template:
        w("[")
    all_types = rng.choices(types, cum_weights=cum_types, k=n)
    all_items = rng.choices(items, cum_weights=cum_items, k=n)
    for i in range(n):
        ts = now_ms - span + int(i * step)
        t = all_types[i]
        item, price = all_items[i]
        u = a.user or None
        if u is None:
            k = rng.randrange(a.users)
            who = ('"user_id":"u%06d"' % (k + 1)) if rng.random() < 0.7 else ('"anonymous_id":"%s"' % anon[k])
            sess = "s-%d-%d" % (k, ts // 1_800_000)
        else:
            who = '"user_id":"%s"' % u
            sess = "s-%s-%d" % (u, ts // 1_800_000)
        eid = ("@@ID@@-%d" % i) if template else ("%s-%d" % (a.id_prefix, i))
        head = '{"event_id":"%s","type":"%s","timestamp":"%s",%s,"session_id":"%s"' % (eid, t, iso(ts), who, sess)
        country = rng.choice(COUNTRIES)
        if t in ("product_view", "recommendation_click"):
            body = ',"item_id":"%s","price":%.2f,"country":"%s","dwell_ms":%d' % (
                item, price, country, rng.randrange(500, 90_000))
            if t == "recommendation_click":
                body += ',"recommendation_id":"r-%x"' % rng.getrandbits(40)
        elif t in ("add_to_cart", "remove_from_cart"):
            body = ',"item_id":"%s","quantity":%d,"price":%.2f,"country":"%s"' % (
                item, rng.randint(1, 6), price, country)
        elif t in ("purchase", "checkout_start"):
            item2, price2 = all_items[(i * 7919 + 13) % n]
            body = ',"order_id":"o-%d","country":"%s","items":[{"item_id":"%s","quantity":%d,"price":%.2f}' % (
                i, country, item, rng.randint(1, 12), price)
            second = ',{"item_id":"%s","quantity":%d,"price":%.2f}' % (item2, rng.randint(1, 12), price2)
            if item2 != item and len(head) + len(body) + len(second) + 2 <= MAX_LEN:
                body += second
            body += "]"
        elif t == "category_view":
            body = ',"category":"%s","country":"%s"' % (rng.choice(CATEGORIES), country)
        elif t == "search":
            body = ',"query":"%s","country":"%s"' % (rng.choice(QUERIES), country)
        else:
            body = ',"country":"%s"' % country
        line = head + body
        if len(line) + 1 > MAX_LEN:  # drop the session id first
            line = line.replace(',"session_id":"%s"' % sess, "")
        room = MIN_LEN - (len(line) + 1)
        if room > 0:
            page = "/products/%s" % item if t == "product_view" else "/"
            ctx = ',"context":{"page":"%s","referrer":"' % page
            pad = max(0, room - len(ctx) - 3)
            line += ctx + ("https://www.example.com/" + "x" * pad)[:max(pad, 1)] + '"}'
        line += "}"
        if template:
            w(line if i == 0 else "," + line)
        else:
            w(line)
            w("\n")
    if template:
        w("]\n")
    if out is not sys.stdout:
        out.close()
    return 0


if __name__ == "__main__":
    sys.exit(main())
