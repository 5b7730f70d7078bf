"""`semcom models list`, `semcom models check` and `semcom models tiny`: the large models this
machine has, and tiny random stand-ins for them."""
from __future__ import annotations

import json


def register(sub) -> None:
    p = sub.add_parser("models", help="list the large models found locally, check that they load and run",
                       description="Models are never downloaded: each is found by $SEMCOM_<NAME>_PATH, "
                                   "$SEMCOM_MODEL_DIR/<folder> or a models.yaml (docs/generative.md).")
    p.set_defaults(func=run_list)
    what = p.add_subparsers(dest="what", metavar="WHAT")
    ls = what.add_parser("list", help="every known model: found or not, where it is looked for")
    ls.add_argument("--json", action="store_true", help="one JSON object")
    ls.set_defaults(func=run_list)
    ck = what.add_parser("check", help="load each configured model and run one tiny forward pass",
                         description="For each NAME (default: every model found), load it on --device, run one "
                                     "tiny forward pass, report seconds and peak memory growth. Exit status 1 "
                                     "when a model fails (or a named one is not found).")
    ck.add_argument("names", nargs="*", metavar="NAME")
    ck.add_argument("--device", help="torch device (default: cuda when available, else cpu)")
    ck.add_argument("--json", action="store_true", help="one JSON object")
    ck.set_defaults(func=run_check)
    tn = what.add_parser("tiny", help="write a tiny random model of every known family into DIR/<folder>",
                         description="Build tiny randomly initialised models offline (the tests' builders, "
                                     "semcom_models.tiny) and save each into DIR/<its usual folder name>, so that "
                                     "SEMCOM_MODEL_DIR=DIR semcom models check loads and runs them. Their outputs "
                                     "are noise: for trying the plumbing, never for results. A folder that holds "
                                     "something else (no semcom-tiny-model.json) is left alone. Exit status 1 when "
                                     "a model could not be written.")
    tn.add_argument("dir", metavar="DIR", help="root folder (created when missing)")
    tn.add_argument("--only", nargs="+", metavar="NAME", help="these models only (and what their checks need)")
    tn.add_argument("--json", action="store_true", help="one JSON object on stdout (progress lines on stderr)")
    tn.set_defaults(func=run_tiny)


def run_list(args) -> int:
    from semcom_host.model_check import inventory

    rows = inventory()
    if getattr(args, "json", False):
        print(json.dumps({"models": rows}))
        return 0
    width = max(len(r["name"]) for r in rows)
    for r in rows:
        where = r["path"] or f"not found (set {r['env']} or put {r['folder']} under $SEMCOM_MODEL_DIR)"
        print(f"{r['name']:<{width}}  {where}")
    found = sum(r["path"] is not None for r in rows)
    print(f"{found} of {len(rows)} models found")
    return 0


def run_check(args) -> int:
    from semcom_host.model_check import check_model, inventory

    found = {r["name"]: r for r in inventory()}
    names = args.names or [n for n, r in found.items() if r["path"]]
    results = []
    for name in names:
        if name not in found:
            results.append({"name": name, "ok": False, "error": f"unknown model; known: {', '.join(found)}"})
        elif not found[name]["path"]:
            results.append({"name": name, "ok": False, "error": found[name]["why"]})
        else:
            results.append(check_model(name, args.device))
        if not args.json:
            r = results[-1]
            status = {True: "ok", False: "FAILED", None: "located"}[r["ok"]]
            detail = r.get("result") or r.get("error")
            timing = f" ({r['seconds']:.1f} s, +{r['peak_rss_growth_mb']:.0f} MB)" if "seconds" in r else ""
            print(f"{name}: {status}{timing}: {detail}", flush=True)
    if args.json:
        print(json.dumps({"models": results}))
    elif not names:
        print("no model is configured here (semcom models list)")
    return 1 if any(r["ok"] is False for r in results) else 0


def run_tiny(args) -> int:
    import os
    import sys

    from semcom_models import tiny

    try:
        tiny.expand_names(args.only)
    except ValueError as exc:
        print(f"semcom models tiny: {exc}", file=sys.stderr)
        return 2
    os.environ.setdefault("HF_HUB_DISABLE_PROGRESS_BARS", "1")   # no per-file bars between the lines below
    stream = sys.stderr if args.json else sys.stdout

    def progress(r: dict) -> None:
        if "path" in r:
            line = f"{r['name']}: wrote {r['path']} ({r['seconds']:.1f} s, {r['size_mb']:.1f} MiB)"
        else:
            line = f"{r['name']}: {'skipped' if 'skipped' in r else 'FAILED'}: {r.get('skipped') or r['error']}"
        print(line, file=stream, flush=True)

    results = tiny.write_tiny_models(args.dir, args.only, progress=progress)
    written = sum("path" in r for r in results)
    if args.json:
        print(json.dumps({"dir": str(args.dir), "models": results}))
    else:
        print(f"{written} tiny models written; try them with: SEMCOM_MODEL_DIR={args.dir} semcom models check")
    return 1 if any("error" in r for r in results) else 0
