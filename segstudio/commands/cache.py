"""`segstudio cache info|clear`: the local disk cache of remote dataset rows."""
from __future__ import annotations


def add_arguments(p):
    p.add_argument("action", choices=["info", "clear"], help="info: where and how big; clear: delete every row")
    p.add_argument("--json", action="store_true", help="print JSON instead of text")


def _mb(n: int) -> str:
    return f"{n / 2**20:.1f} MB"


def run(args) -> int:
    import json
    import time

    from segstudio.data import row_cache

    if args.action == "clear":
        freed = row_cache.clear()
        print(json.dumps({"freed_bytes": freed}) if args.json else
              f"cleared the rows cache ({_mb(freed)} freed): {row_cache.cache_root()}")
        return 0
    doc = row_cache.info()
    if args.json:
        print(json.dumps(doc, indent=2))
        return 0
    print(f"rows cache: {doc['path']} ({_mb(doc['bytes'])} in {len(doc['datasets'])} dataset versions)")
    for d in doc["datasets"]:
        used = time.strftime("%Y-%m-%d %H:%M", time.localtime(d["last_used"])) if d["last_used"] else "-"
        print(f"  {d.get('url', '?')} version {d.get('version', '?')}: {d['rows']} rows, {_mb(d['bytes'])}, "
              f"last used {used}")
    return 0
