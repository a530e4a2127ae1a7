#!/usr/bin/env python3
"""Turn the raw results of one benchmark run (scripts/bench.sh) into
results.json, results.csv, report.md and PNG plots (gnuplot).

    scripts/bench-report.py OUTDIR [--vm-seconds N] [--load-after LOAD] [--summary]

--summary also prints summary.md, the short table of ratios that README.md
quotes.

OUTDIR holds raw.jsonl (the guest driver's JSON lines: meta, run, na, phase,
end records), host.json and params.sh, all written by scripts/bench.sh.
Every number in the tables is the median of the repetitions, with the spread
((max - min) / median) beside it. Ratios are ratios of medians of *time* (or
of bytes for memory): below 1 means rfs is faster (smaller) than the other.
"""
import csv
import json
import os
import re
import shutil
import statistics
import subprocess
import sys

FS_ORDER = ["native", "native-reflink", "rfs", "rfs-ro", "rfs-notify", "rfs-noxino", "overlayfs", "fuse-overlayfs",
            "unionfs-fuse"]

WORKLOADS = {
    "w1": "W1 hot path: stat + open + read + close of cached files (4-branch stack)",
    "w2": "W2 cold lookup of a file in the bottom branch (fresh mount, caches dropped)",
    "w3": "W3 readdir (getdents64) of one directory merged from 8 branches, 10 % whited out",
    "w4": "W4 sequential read of a lower file",
    "w5": "W5 copy-up: first write to a lower file (open O_WRONLY + 1-byte write + fsync)",
    "w6": "W6 metadata mix in a writable union: untar, find | xargs stat, rm -rf",
    "w7": "W7 remount append of one branch",
    "w8": "W8 memory after a cold walk (readdir + stat) of every file of the W1 stack",
    "w9": "W9 parallel copy-up: N processes, each its own big file and small files",
    "w10": "W10 container start: mount + first exec of python3 in a 30-layer image + umount",
    "w11": "W11 package install: unpack a package into the image, rename it into place, stat it",
}

NOTES = {
    "w1": "Branch 0 is an empty rw upper, the files are spread over three lower branches. "
          "One warm-up pass, then one timed pass over every file. rfs-notify: rfs mounted with "
          "udba=notify (fsnotify marks) instead of the default udba=reval. Unit: µs per file.",
    "w2": "A read-only union of N branches, each with `usr/lib/` (merged on the way down); the "
          "looked-up files `usr/lib/tN_*` exist only in the bottom branch. rfs: `ro+wh` branches "
          "(whiteouts count, as in OverlayFS); rfs-ro: plain `ro`. cold-lookup: stat after a fresh "
          "mount and drop_caches, µs per file; native: the same stat in the branch itself. mount: "
          "the mount command (for FUSE: until the daemon has mounted), ms.",
    "w3": "Branch 0 is the rw upper holding 1/8 of the names and the whiteouts in each "
          "filesystem's own format; cold = fresh mount + drop_caches, warm = the same "
          "directory again. Native: one plain directory with the names the union shows. "
          "Unit: ms per full directory read.",
    "w4": "read(2) with a 1 MiB buffer to EOF; cold after drop_caches, hot right after; mmap "
          "touches one byte per page after drop_caches. Unit: ms (MiB/s in the second table).",
    "w5": "The lower file is in the page cache and nothing is dirty when the clock starts. "
          "Native: `cp` (read/write 1 MiB + fsync) of the same file to the same filesystem; "
          "native-reflink: FICLONE + fsync (`cp --reflink`). Unit: ms.",
    "w6": "Over the three W1 lower branches, a fresh rw upper; busybox tar, find, xargs stat, "
          "rm. rfs-notify: rfs with udba=notify; rfs-noxino: rfs with noxino (no xino file: "
          "what writing the inode-number records costs). Unit: ms per phase.",
    "w7": "Unit: ms per remount.",
    "w8": "Slab growth per walked file (Σ Δactive_objs × objsize over all caches, from "
          "/proc/slabinfo; the kernel boots with slab_nomerge so caches stay apart), after a "
          "fresh mount and drop_caches. For the FUSE filesystems the daemon's RSS growth is "
          "listed separately. walk-cold: µs per file.",
    "w9": "param = processes (the guest has 2 vCPUs). Each process writes the first byte of its "
          "own CU_PAR_SIZE lower file (+ fsync) and touches (utimensat) its own CU_PAR_SMALL small "
          "lower files; all start together, the time ends when the last exits. Native: the same "
          "processes `cp` the same files. A run counts only if the upper branch then holds every "
          "big file whole and every small file. Unit: ms for the whole batch (lower is better; "
          "throughput is N × the work / this time). rfs-noxino: rfs with noxino (what the "
          "xino file's records cost).",
    "w10": "An image of IMG_LAYERS layers made by bench-prep.py (python3 and each library in its "
           "own layer, the standard library in another, filler in directories every layer "
           "touches), a fresh writable upper, caches dropped first. start: mount + `chroot MNT "
           "python3 -I /app/main.py` (imports json, email, http.client, logging, decimal) + umount "
           "(for FUSE: until the daemon has exited, polled every 100 ms); exec: the chroot alone. "
           "Native: the chroot in the flattened image. Unit: ms.",
    "w11": "Over the W10 image with a fresh writable upper: untar = mkdir of a new directory in "
           "dist-packages (a directory of the lower layers) + busybox tar of PKG_FILES small "
           "files into it; rename = mv of the package into dist-packages; find-stat = find -type "
           "f | xargs stat over the package. Unit: ms per phase.",
}


def demangle(line):
    """Readable Rust symbols in a perf line: `_RNv...8rfs_main5namei7resolve`
    (v0 mangling, which Debian's perf 6.1 leaves as it is) becomes
    `rfs::namei::resolve`. A heuristic: the identifiers with their lengths,
    crate hashes and back-references skipped."""
    def one(m):
        s = re.sub(r"Cs[0-9A-Za-z]*_", "", m.group(0)[2:])
        names, i = [], 0
        while i < len(s):
            d = re.match(r"\d+", s[i:])
            if not d:
                i += 1
                continue
            n, j = int(d.group(0)), i + len(d.group(0))
            if j < len(s) and s[j] == "_":
                j += 1
            name = s[j:j + n]
            if n and len(name) == n and re.fullmatch(r"[A-Za-z_][A-Za-z0-9_]*", name):
                names.append(name)
                i = j + n
            else:
                i += 1
        names = ["rfs" if x == "rfs_main" else x for x in names]
        return "::".join(names) if names else m.group(0)
    return re.sub(r"_R[0-9A-Za-z_]+", one, line)


def fmt_num(x):
    if x is None:
        return "–"
    a = abs(x)
    if a >= 1000:
        return f"{x:,.0f}"
    if a >= 100:
        return f"{x:.0f}"
    if a >= 10:
        return f"{x:.1f}"
    if a >= 1:
        return f"{x:.2f}"
    return f"{x:.3f}"


def metric(rec, sizes):
    """(value, unit, error) of one run record."""
    w, case, r = rec["w"], rec["case"], rec["r"]
    if "error" in r:
        return None, None, r["error"]
    try:
        if w == "w2" and case == "mount":
            return r["ns"] / 1e6, "ms", None
        if w in ("w1", "w2"):
            return r["ns"] / max(r["n"], 1) / 1e3, "µs", None
        if w == "w3":
            if "expect" in rec and r.get("n") != rec["expect"]:
                return None, None, f"wrong entry count {r.get('n')} (expected {rec['expect']})"
            return r["ns"] / 1e6, "ms", None
        if w == "w4":
            want = sizes.get(rec["param"])
            if want and r.get("bytes") != want:
                return None, None, f"read {r.get('bytes')} bytes, expected {want}"
            return r["ns"] / 1e6, "ms", None
        if w == "w5":
            want = sizes.get(rec["param"])
            if "upper_bytes" in rec and want and rec["upper_bytes"] != want:
                return None, None, (f"no full copy in the upper branch ({rec['upper_bytes']} "
                                    f"bytes, expected {want})")
            return r["ns"] / 1e6, "ms", None
        if w in ("w6", "w7", "w10"):
            return r["ns"] / 1e6, "ms", None
        if w == "w9":
            n = int(rec["param"])
            if "upper_small" in rec:
                want_big = n * (sizes.get(rec.get("cu_par_size", "")) or 0)
                if want_big and rec["upper_big_bytes"] != want_big:
                    return None, None, (f"the big files are not whole in the upper branch "
                                        f"({rec['upper_big_bytes']} bytes, expected {want_big})")
                want = n * int(rec.get("cu_par_small", 0))
                if want and rec["upper_small"] != want:
                    return None, None, (f"{rec['upper_small']} small files in the upper branch, "
                                        f"expected {want}")
            return r["ns"] / 1e6, "ms", None
        if w == "w11":
            if case == "find-stat" and "found" in rec and str(rec["found"]) != rec["param"]:
                return None, None, f"{rec['found']} files after the rename, expected {rec['param']}"
            return r["ns"] / 1e6, "ms", None
        if w == "w8":
            if case == "walk-cold":
                return r["ns"] / max(r["files"], 1) / 1e3, "µs/file", None
            if case == "mem":
                if not r.get("slabinfo"):
                    return None, None, "no /proc/slabinfo in the guest kernel"
                return r["obj_bytes_per_obj"], "B/file", None
    except (KeyError, TypeError, ZeroDivisionError) as e:
        return None, None, f"bad record ({e})"
    return None, None, "unknown workload"


def size_bytes(s):
    try:
        return int(s[:-1]) * {"K": 1 << 10, "M": 1 << 20, "G": 1 << 30}[s[-1]]
    except (ValueError, KeyError, IndexError):
        return None


def param_key(p):
    b = size_bytes(p)
    if b is not None:
        return (0, b, p)
    try:
        return (0, int(p), p)
    except ValueError:
        return (1, 0, p)


class Cell:
    def __init__(self):
        self.values, self.errors, self.na, self.extra = [], [], [], []
        self.unit = None

    def stats(self):
        v = sorted(self.values)
        if not v:
            return None
        med = statistics.median(v)
        spread = (v[-1] - v[0]) / med * 100 if med else 0.0
        return {"median": med, "min": v[0], "max": v[-1], "spread_pct": spread, "n": len(v)}


def main():
    out = sys.argv[1]
    vm_seconds = None
    if "--vm-seconds" in sys.argv:
        vm_seconds = int(sys.argv[sys.argv.index("--vm-seconds") + 1])
    host = json.load(open(os.path.join(out, "host.json")))
    if "--load-after" in sys.argv:
        host["host_load_after"] = sys.argv[sys.argv.index("--load-after") + 1]
    params = {}
    for line in open(os.path.join(out, "params.sh")):
        if "=" in line:
            k, v = line.strip().split("=", 1)
            params[k] = v.strip("'\"")
    sizes = {s: size_bytes(s) for k in ("SEQ_SIZE", "CU_SIZES", "CU_XFS_SIZES", "CU_PAR_SIZE")
             for s in params.get(k, "").split()}

    meta, phases, end, fatal, bad_lines = {}, {}, None, [], 0
    profiles = {}  # (w, case, param, fs) -> {"prof": [lines], "profg": [lines]}
    cells = {}  # (w, case, param) -> fs -> Cell
    for line in open(os.path.join(out, "raw.jsonl"), errors="replace"):
        line = line.strip()
        if not line.startswith("{"):
            continue
        try:
            rec = json.loads(line)
        except json.JSONDecodeError:
            bad_lines += 1
            continue
        t = rec.get("type")
        if t == "meta":
            meta = rec
        elif t == "phase":
            phases[rec["w"]] = rec["s"]
        elif t == "end":
            end = rec
        elif t == "fatal":
            fatal.append(rec["reason"])
        elif t in ("prof", "profg"):
            profiles.setdefault((rec["w"], rec["case"], rec["param"], rec["fs"]),
                                {"prof": [], "profg": []})[t].append(demangle(rec["line"]))
        elif t in ("run", "na"):
            c = cells.setdefault((rec["w"], rec["case"], rec["param"]), {}).setdefault(
                rec["fs"], Cell())
            if t == "na":
                if rec["reason"] not in c.na:
                    c.na.append(rec["reason"])
                continue
            if rec["w"] == "w9":
                rec["cu_par_size"] = params.get("CU_PAR_SIZE", "")
                rec["cu_par_small"] = params.get("CU_PAR_SMALL", "0")
            v, unit, err = metric(rec, sizes)
            if err:
                c.errors.append(err)
            else:
                c.values.append(v)
                c.unit = unit
                c.extra.append(rec)

    # ---------------------------------------------------------------- results
    results = []
    for (w, case, param), byfs in sorted(cells.items(),
                                         key=lambda kv: (kv[0][0], kv[0][1], param_key(kv[0][2]))):
        for fs, c in byfs.items():
            st = c.stats()
            row = {"workload": w, "case": case, "param": param, "fs": fs, "unit": c.unit,
                   "values": c.values, "errors": c.errors, "na": c.na}
            if st:
                row.update(st)
                row["status"] = "ok"
            elif c.na:
                row["status"] = "n/a"
            else:
                row["status"] = "error"
            if w == "w4" and st and sizes.get(param):
                row["mib_per_s"] = sizes[param] / (1 << 20) / (st["median"] / 1e3)
            if w == "w8" and case == "mem" and c.extra:
                rss = [(e["rss_after"]["rss_kb"] - e["rss_before"]["rss_kb"]) * 1024
                       / max(int(params.get("TREE_FILES", 1)), 1)
                       for e in c.extra if "rss_after" in e]
                if rss:
                    row["daemon_rss_bytes_per_file"] = statistics.median(rss)
                row["slab_pages_bytes_per_file"] = statistics.median(
                    e["r"]["slab_bytes_per_obj"] for e in c.extra)
                row["top_caches"] = [x for x in c.extra[len(c.extra) // 2]["r"]["caches"]
                                     if abs(x[2]) >= 4096][:8]
            results.append(row)
    index = {(r["workload"], r["case"], r["param"], r["fs"]): r for r in results}

    def med(w, case, param, fs):
        r = index.get((w, case, param, fs))
        return r["median"] if r and r["status"] == "ok" else None

    def ratio(w, case, param, a, b):
        x, y = med(w, case, param, a), med(w, case, param, b)
        return x / y if x is not None and y else None

    ratios = []
    for (w, case, param) in sorted({(r["workload"], r["case"], r["param"]) for r in results}):
        for other in ("overlayfs", "native"):
            q = ratio(w, case, param, "rfs", other)
            if q is not None:
                ratios.append({"workload": w, "case": case, "param": param,
                               "ratio": f"rfs/{other}", "value": q})

    summary = {"host": host, "guest": meta, "params": params, "phases_s": phases,
               "vm_seconds": vm_seconds, "finished": end is not None, "fatal": fatal,
               "results": results, "ratios": ratios}
    json.dump(summary, open(os.path.join(out, "results.json"), "w"), indent=1)
    with open(os.path.join(out, "results.csv"), "w", newline="") as f:
        wr = csv.writer(f)
        wr.writerow(["workload", "case", "param", "fs", "unit", "median", "min", "max",
                     "spread_pct", "reps", "status", "reason"])
        for r in results:
            wr.writerow([r["workload"], r["case"], r["param"], r["fs"], r["unit"] or "",
                         *(f"{r[k]:.6g}" if r.get(k) is not None else "" for k in
                           ("median", "min", "max", "spread_pct")),
                         r.get("n", 0), r["status"],
                         "; ".join(r["na"] or sorted(set(r["errors"])))])

    # ---------------------------------------------------------------- plots
    plots = make_plots(out, results, index, params)

    # ---------------------------------------------------------------- report.md
    md = []
    mode = host.get("mode", "?")
    md.append(f"# rfs benchmark — {mode} mode\n")
    md.append("| | |\n|---|---|")
    rows = [
        ("date", host.get("date")),
        ("mode", f"{mode}, {host.get('reps')} repetitions per run (median, spread = (max−min)/median)"),
        ("kernel", f"{meta.get('uname', host.get('kernel_release', '?'))} — release test kernel "
                   f"`{host.get('kernel_dir')}`"),
        ("kernel config", f"sha256 `{host.get('kernel_config_sha256')}` (tinyconfig + "
                          "scripts/kconfig/base.config + release.config)"),
        ("guest CPU", f"{meta.get('cpu', '?')} × {meta.get('ncpu', '?')} "
                      f"({host.get('qemu', 'QEMU')}, TCG), {int(meta.get('mem_kb', 0)) // 1024} MiB"),
        ("host CPU", f"{host.get('host_cpu')} × {host.get('host_ncpu')}"),
        ("rfs", f"{host.get('rfs_rev')} (rfs.ko `{host.get('rfs_ko_sha256')}`), {meta.get('rfs', '')}"),
        ("FUSE", f"{meta.get('fuse_overlayfs', '?')}; {meta.get('unionfs_fuse', '?')}"),
        ("command", f"`{host.get('command')}`"),
        ("host load", f"load average {host.get('host_load_before', '?')} before the boot, "
                      f"{host.get('host_load_after', '?')} after (other VMs on the host add noise)"),
        ("VM time", (f"{vm_seconds} s" if vm_seconds is not None else "?") +
         (f" (driver {end['s']} s)" if end else " — **the run did not finish**")),
    ]
    cs = {meta.get("clocksource"), (end or {}).get("clocksource")} - {None, ""}
    rows.append(("guest clock", ", ".join(sorted(cs)) or "?"))
    for k, v in rows:
        md.append(f"| {k} | {str(v).replace('|', '/')} |")
    md.append("")
    if any("jiffies" in c for c in cs):
        md.append("**Warning:** the guest clock was jiffies (4 ms steps), so short runs are "
                  "quantized: the TSC could not be calibrated. Rerun.\n")
    if fatal:
        md.append("**Fatal:** " + "; ".join(fatal) + "\n")
    md.append("All times come from QEMU TCG (no KVM), so absolute numbers mean little; compare "
              "the ratios. A ratio is rfs's median over the other's median (time, or bytes for "
              "memory): **below 1 means rfs is faster or smaller**. Cells show median "
              "(spread %). Sizes: " + ", ".join(f"{k}={params[k]}" for k in
              ("HOT_FILES", "TREE_FILES", "COLD_BRANCHES", "COLD_FILES", "RD_ENTRIES", "SEQ_SIZE",
               "CU_SIZES", "CU_XFS_SIZES", "TAR_FILES", "CU_PAR_COUNTS", "CU_PAR_SIZE",
               "CU_PAR_SMALL", "IMG_LAYERS", "IMG_FILLER", "PKG_FILES") if k in params) + ".\n")

    md.extend(targets_section(med, ratio, params))

    footnotes = []

    def note(text):
        if text not in footnotes:
            footnotes.append(text)
        return footnotes.index(text) + 1

    for w in sorted(WORKLOADS):
        keys = sorted({(r["case"], r["param"]) for r in results if r["workload"] == w},
                      key=lambda k: (k[0], param_key(k[1])))
        if not keys:
            continue
        md.append(f"## {WORKLOADS[w]}\n")
        md.append(NOTES[w] + "\n")
        fss = [f for f in FS_ORDER if any((w, c, p, f) in index for c, p in keys)]
        md.append("| case | param | unit | " + " | ".join(fss) + " | rfs/overlayfs | rfs/native |")
        md.append("|---|---|---|" + "---:|" * len(fss) + "---:|---:|")
        for case, param in keys:
            unit = next((index[(w, case, param, f)]["unit"] for f in fss
                         if (w, case, param, f) in index and index[(w, case, param, f)]["unit"]), "")
            cols = []
            for f in fss:
                r = index.get((w, case, param, f))
                if r is None:
                    cols.append("")
                elif r["status"] == "ok":
                    s = f"{fmt_num(r['median'])} ({r['spread_pct']:.0f}%)"
                    if r["errors"]:
                        s += f" [{len(r['errors'])} failed{sup(note('; '.join(sorted(set(r['errors'])))))}]"
                    cols.append(s)
                elif r["status"] == "n/a":
                    cols.append("n/a" + sup(note(r["na"][0])))
                else:
                    cols.append("error" + sup(note("; ".join(sorted(set(r["errors"]))))))
            rq = [ratio(w, case, param, "rfs", o) for o in ("overlayfs", "native")]
            if w == "w5" and case == "copyup-xfs" and rq[1] is not None:
                pass
            md.append(f"| {case} | {param} | {unit} | " + " | ".join(cols) + " | " +
                      " | ".join(f"**{q:.2f}**" if q is not None else "–" for q in rq) + " |")
        md.append("")
        if w == "w2":
            md.append(f"![cold lookup vs branch count]({plots.get('w2', '')})\n")
            q = [(p, ratio("w2", "cold-lookup", p, "rfs-ro", "overlayfs")) for c, p in keys
                 if c == "cold-lookup"]
            if any(v for _, v in q):
                md.append("rfs-ro/overlayfs: " + ", ".join(
                    f"{p} branches {v:.2f}" for p, v in q if v is not None) + "\n")
        if w == "w4":
            md.append("| case | param | " + " | ".join(fss) + " |")
            md.append("|---|---|" + "---:|" * len(fss))
            for case, param in keys:
                md.append(f"| {case} | {param} | " + " | ".join(
                    f"{index[(w, case, param, f)]['mib_per_s']:.0f} MiB/s"
                    if index.get((w, case, param, f), {}).get("mib_per_s") else "–" for f in fss) + " |")
            md.append("")
        if w == "w5":
            for k in ("w5-ext4", "w5-xfs"):
                if k in plots:
                    md.append(f"![copy-up latency vs size, {k[3:]}]({plots[k]})\n")
        if w == "w8":
            md.append("| fs | slab B/file (pages) | daemon RSS B/file | largest slab growth (cache: objects, bytes) |")
            md.append("|---|---:|---:|---|")
            for f in fss:
                r = index.get(("w8", "mem", params.get("TREE_FILES", ""), f))
                if not r or r["status"] != "ok":
                    continue
                top = ", ".join(f"{n}: {o}, {b // 1024} KiB" for n, o, b in r.get("top_caches", [])[:5])
                rss = r.get("daemon_rss_bytes_per_file")
                md.append(f"| {f} | {fmt_num(r.get('slab_pages_bytes_per_file'))} | "
                          f"{fmt_num(rss) if rss is not None else '–'} | {top} |")
            md.append("")
    if profiles:
        md.append("## Profiles\n")
        md.append("The operation run again after the measured runs (W1 and W2 repeated, W2 with "
                  "the caches dropped before each round) under `perf record -g -F 2999` (the "
                  "process and its children): the functions with the most samples of their "
                  "own (self time, ≥ 0.7 %; hex addresses are user space). `profile.md` has the "
                  "call chains into the hottest ones.\n")
        for (w, case, param, fs), p in sorted(profiles.items()):
            md.append(f"**{w} {case} {param}, {fs}**\n")
            md.append("```")
            md.extend(p["prof"][:14])
            md.append("```\n")
        with open(os.path.join(out, "profile.md"), "w") as f:
            f.write("# Profiles: call chains (perf report --no-children -g caller)\n\n")
            for (w, case, param, fs), p in sorted(profiles.items()):
                f.write(f"## {w} {case} {param}, {fs}\n\n```\n")
                f.write("\n".join(p["prof"]) + "\n\n" + "\n".join(p["profg"]) + "\n```\n\n")
    if footnotes:
        md.append("## Notes\n")
        for i, t in enumerate(footnotes, 1):
            md.append(f"{i}. {t}")
        md.append("")
    # What design changes the benchmark drove, with the numbers before and
    # after (kept by hand in the repository, quoted in every report).
    history = os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "Documentation", "benchmark-history.md")
    if os.path.exists(history):
        text = open(history).read().rstrip("\n")
        md.append("#" + text if text.startswith("# ") else text)
        md.append("")
    if phases:
        md.append("VM seconds per workload: " + ", ".join(f"{w} {s}" for w, s in phases.items()) + ".\n")
    md.append("Files: `results.json` (every value), `results.csv` (medians), `summary.md` (the "
              "ratios README.md quotes), `raw.jsonl` (the guest's records), `console.log`.\n")
    open(os.path.join(out, "report.md"), "w").write("\n".join(md))
    summary_md = summary_table(med, ratio, params)
    open(os.path.join(out, "summary.md"), "w").write(summary_md)
    if "--summary" in sys.argv:
        print(summary_md, end="")


def summary_table(med, ratio, params):
    """The short table of ratios that README.md quotes (summary.md)."""
    def q(w, c, p, a, b):
        x = ratio(w, c, p, a, b)
        return f"{x:.2f}" if x is not None else "–"

    def qs(w, cases, ps, a, b):
        return " / ".join(q(w, c, p, a, b) for c in cases for p in ps)

    g = params.get
    hot, tree, rd, seq = g("HOT_FILES", ""), g("TREE_FILES", ""), g("RD_ENTRIES", ""), g("SEQ_SIZE", "")
    pts = [p for p in g("COLD_BRANCHES", "").split() if p != "1"]
    mid = [p for p in pts if p != "500"]
    cu, cx, tar = g("CU_SIZES", "").split(), g("CU_XFS_SIZES", "").split(), g("TAR_FILES", "")
    rows = [
        (f"W1 hot stat/open/read/close, {hot} files, 4 branches",
         q("w1", "hot", hot, "rfs", "overlayfs"), q("w1", "hot", hot, "rfs", "native")),
        (f"W1 hot path with udba=notify (rfs-notify/rfs: notify vs reval; rfs-notify/overlayfs)",
         q("w1", "hot", hot, "rfs-notify", "rfs") + " / " + q("w1", "hot", hot, "rfs-notify", "overlayfs"),
         q("w1", "hot", hot, "rfs-notify", "native")),
        (f"W2 cold lookup, {' / '.join(mid)} branches",
         qs("w2", ["cold-lookup"], mid, "rfs", "overlayfs"), "–"),
        ("W2 cold lookup, 500 branches (rfs with `ro` branches: 500 `ro+wh` do not fit in a page)",
         q("w2", "cold-lookup", "500", "rfs-ro", "overlayfs"), "–"),
        (f"W3 readdir, {rd} entries / 8 branches, cold / warm",
         qs("w3", ["readdir-cold", "readdir-warm"], [rd], "rfs", "overlayfs"),
         qs("w3", ["readdir-cold", "readdir-warm"], [rd], "rfs", "native")),
        (f"W4 {seq} read cold / hot / mmap cold",
         qs("w4", ["read-cold", "read-hot", "mmap-cold"], [seq], "rfs", "overlayfs"),
         qs("w4", ["read-cold", "read-hot", "mmap-cold"], [seq], "rfs", "native")),
        (f"W5 copy-up on ext4, {' / '.join(cu)} (native: `cp`)",
         qs("w5", ["copyup-ext4"], cu, "rfs", "overlayfs"), qs("w5", ["copyup-ext4"], cu, "rfs", "native")),
        (f"W5 reflink copy-up on xfs, {' / '.join(cx)} (native: `cp --reflink`)",
         qs("w5", ["copyup-xfs"], cx, "rfs", "overlayfs"),
         qs("w5", ["copyup-xfs"], cx, "rfs", "native-reflink")),
        (f"W6 untar / find+stat / rm -rf, {tar} files",
         qs("w6", ["untar", "find-stat", "rm-rf"], [tar], "rfs", "overlayfs"),
         qs("w6", ["untar", "find-stat", "rm-rf"], [tar], "rfs", "native")),
    ]
    rb = g("REMOUNT_BRANCHES", "500")
    a, b = med("w7", "remount-append", rb, "rfs"), med("w7", "remount-append", "2", "rfs")
    rows.append((f"W7 remount append to {rb} branches (vs 2 branches)",
                 f"{a / b:.2f} (rfs {rb}/2)" if a and b else "n/a (not supported by rfs yet, nor by the others)", ""))
    rows.append((f"W8 slab memory per cached file, {tree} files",
                 q("w8", "mem", tree, "rfs", "overlayfs"), q("w8", "mem", tree, "rfs", "native")))
    par = g("CU_PAR_COUNTS", "").split()
    rows.append((f"W9 parallel copy-up ({g('CU_PAR_SIZE', '')} + {g('CU_PAR_SMALL', '')} small files "
                 f"each), {' / '.join(par)} processes",
                 qs("w9", ["parallel-copyup"], par, "rfs", "overlayfs"),
                 qs("w9", ["parallel-copyup"], par, "rfs", "native")))
    lay = g("IMG_LAYERS", "")
    rows.append((f"W10 container start, {lay} layers: mount+exec+umount / exec",
                 qs("w10", ["start", "exec"], [lay], "rfs", "overlayfs"),
                 qs("w10", ["start", "exec"], [lay], "rfs", "native")))
    pk = g("PKG_FILES", "")
    rows.append((f"W11 package install, {pk} files: untar / rename / find+stat",
                 qs("w11", ["untar", "rename", "find-stat"], [pk], "rfs", "overlayfs"),
                 qs("w11", ["untar", "rename", "find-stat"], [pk], "rfs", "native")))
    lines = ["| workload (" + g("MODE", "?") + " sizes) | rfs/overlayfs | rfs/native |",
             "|---|---:|---:|"]
    lines += [f"| {n} | {x} | {y} |" for n, x, y in rows]
    return "\n".join(lines) + "\n"


def sup(n):
    return f"<sup>{n}</sup>"


def targets_section(med, ratio, params):
    """The targets of issues 5 and 19, measured."""
    md = ["## Targets (issue 5)\n",
          "| target | measured | |", "|---|---|---|"]

    def row(target, value, ok, how=""):
        if value is None:
            md.append(f"| {target} | n/a {how} | |")
        else:
            md.append(f"| {target} | {value} {how} | {'met' if ok else '**missed**'} |")

    hot = params.get("HOT_FILES", "")
    q1, q2 = ratio("w1", "hot", hot, "rfs", "overlayfs"), ratio("w1", "hot", hot, "rfs", "native")
    row("hot path ≤ 1.05× OverlayFS", f"{q1:.2f}×" if q1 else None, q1 is not None and q1 <= 1.05)
    row("hot path ≤ 1.10× native", f"{q2:.2f}×" if q2 else None, q2 is not None and q2 <= 1.10)
    pts = params.get("COLD_BRANCHES", "").split()
    p128 = "128" if "128" in pts else (pts[-1] if pts else "")
    q = ratio("w2", "cold-lookup", p128, "rfs", "overlayfs")
    row(f"cold lookup, {p128} branches ≤ OverlayFS", f"{q:.2f}×" if q else None, q is not None and q <= 1)
    rd = params.get("RD_ENTRIES", "")
    for c in ("readdir-cold", "readdir-warm"):
        q = ratio("w3", c, rd, "rfs", "overlayfs")
        row(f"{c}, {rd} entries / 8 branches ≤ OverlayFS", f"{q:.2f}×" if q else None,
            q is not None and q <= 1)
    s = params.get("SEQ_SIZE", "")
    for c in ("read-cold", "read-hot", "mmap-cold"):
        q = ratio("w4", c, s, "rfs", "native")
        row(f"sequential {c} {s} ≥ 0.97× native throughput",
            f"{1 / q:.2f}×" if q else None, q is not None and 1 / q >= 0.97)
    for sz in params.get("CU_SIZES", "").split():
        q = ratio("w5", "copyup-ext4", sz, "rfs", "native")
        row(f"copy-up {sz} (ext4) ≥ 0.9× `cp` speed", f"{1 / q:.2f}×" if q else None,
            q is not None and 1 / q >= 0.9)
    xs = params.get("CU_XFS_SIZES", "").split()
    if len(xs) >= 2:
        a, b = med("w5", "copyup-xfs", xs[-1], "rfs"), med("w5", "copyup-xfs", xs[0], "rfs")
        q = a / b if a is not None and b else None
        row(f"reflink copy-up {xs[-1]} within 2× of {xs[0]} (xfs)", f"{q:.2f}×" if q else None,
            q is not None and q <= 2)
    rb = params.get("REMOUNT_BRANCHES", "500")
    a, b = med("w7", "remount-append", rb, "rfs"), med("w7", "remount-append", "2", "rfs")
    q = a / b if a is not None and b else None
    row(f"remount append to {rb} branches within 3× of 2 branches", f"{q:.2f}×" if q else None,
        q is not None and q <= 3, "" if q else "(rfs: remount branch changes not supported yet)")
    q = ratio("w8", "mem", params.get("TREE_FILES", ""), "rfs", "overlayfs")
    row("memory per cached file ≤ OverlayFS", f"{q:.2f}×" if q else None, q is not None and q <= 1)
    md.append("")
    # Issue 19's targets (ratios against OverlayFS in this boot).
    md += ["## Targets (issue 19)\n", "| target | measured | |", "|---|---|---|"]
    q = ratio("w1", "hot", hot, "rfs", "overlayfs")
    row("W1 hot path ≤ 1.00× OverlayFS", f"{q:.2f}×" if q else None, q is not None and q <= 1)
    q = ratio("w2", "cold-lookup", p128, "rfs", "overlayfs")
    row(f"W2 cold lookup, {p128} `ro+wh` branches ≤ 1.00× OverlayFS", f"{q:.2f}×" if q else None,
        q is not None and q <= 1)
    tar = params.get("TAR_FILES", "")
    q = ratio("w6", "rm-rf", tar, "rfs", "overlayfs")
    row("W6 rm -rf ≤ 1.00× OverlayFS", f"{q:.2f}×" if q else None, q is not None and q <= 1)
    for sz in params.get("CU_SIZES", "").split():
        q = ratio("w5", "copyup-ext4", sz, "rfs", "overlayfs")
        row(f"W5 copy-up {sz} (ext4) ≤ 1.05× OverlayFS", f"{q:.2f}×" if q else None,
            q is not None and q <= 1.05)
    q = ratio("w8", "mem", params.get("TREE_FILES", ""), "rfs", "overlayfs")
    row("W8 memory per cached file ≤ 0.95× OverlayFS", f"{q:.2f}×" if q else None,
        q is not None and q <= 0.95)
    for n in params.get("CU_PAR_COUNTS", "").split():
        q = ratio("w9", "parallel-copyup", n, "rfs", "overlayfs")
        row(f"W9 parallel copy-up, {n} processes: ≥ 0.9× OverlayFS's throughput",
            f"{1 / q:.2f}×" if q else None, q is not None and 1 / q >= 0.9)
    lay = params.get("IMG_LAYERS", "")
    q = ratio("w10", "start", lay, "rfs", "overlayfs")
    row(f"W10 container start, {lay} layers ≤ OverlayFS", f"{q:.2f}×" if q else None,
        q is not None and q <= 1)
    pk = params.get("PKG_FILES", "")
    a = [med("w11", c, pk, "rfs") for c in ("untar", "rename", "find-stat")]
    b = [med("w11", c, pk, "overlayfs") for c in ("untar", "rename", "find-stat")]
    q = sum(a) / sum(b) if None not in a + b and sum(b) else None
    row(f"W11 package install, {pk} files (sum of the phases) ≤ OverlayFS",
        f"{q:.2f}×" if q else None, q is not None and q <= 1)
    md.append("")
    return md


def make_plots(out, results, index, params):
    """PNG plots with gnuplot; returns {name: relative path}."""
    gp = shutil.which("gnuplot")
    if not gp:
        print("rfs: gnuplot not found; no plots", file=sys.stderr)
        return {}
    pdir = os.path.join(out, "plots")
    os.makedirs(pdir, exist_ok=True)
    made = {}

    def series(w, case, fss):
        data = {}
        for fs in fss:
            pts = sorted(((param_key(r["param"])[1], r["median"], r["min"], r["max"])
                          for r in results if r["workload"] == w and r["case"] == case
                          and r["fs"] == fs and r["status"] == "ok"))
            if pts:
                data[fs] = pts
        return data

    def plot(name, title, xlabel, ylabel, data, logx=True, logy=True, xtics=None):
        if not data:
            return
        dat = os.path.join(pdir, name + ".dat")
        with open(dat, "w") as f:
            for fs, pts in data.items():
                f.write(f'"{fs}"\n')
                for x, m, lo, hi in pts:
                    f.write(f"{x} {m} {lo} {hi}\n")
                f.write("\n\n")
        png = name + ".png"
        script = [
            "set terminal pngcairo size 900,560 enhanced font 'sans,10'",
            f"set output '{os.path.join(pdir, png)}'",
            f"set title '{title}'", f"set xlabel '{xlabel}'", f"set ylabel '{ylabel}'",
            "set key top left", "set grid",
        ]
        if logx:
            script.append("set logscale x 2")
        if logy:
            script.append("set logscale y")
        if xtics:
            script.append("set xtics (" + ", ".join(f'"{l}" {v}' for l, v in xtics) + ")")
        cmds = [f"'{dat}' index {i} using 1:2:3:4 with yerrorlines lw 2 title '{fs}'"
                for i, fs in enumerate(data)]
        script.append("plot " + ", ".join(cmds))
        r = subprocess.run([gp], input="\n".join(script), text=True, capture_output=True)
        if r.returncode != 0:
            print(f"rfs: gnuplot {name}: {r.stderr.strip()}", file=sys.stderr)
            return
        made[name] = "plots/" + png

    fss = [f for f in FS_ORDER if f not in ("native-reflink",)]
    pts = params.get("COLD_BRANCHES", "").split()
    plot("w2", "Cold lookup of a file in the bottom branch (median, min-max)",
         "branches", "µs per lookup", series("w2", "cold-lookup", fss),
         xtics=[(p, int(p)) for p in pts])
    for fsname in ("ext4", "xfs"):
        data = series("w5", f"copyup-{fsname}", FS_ORDER)
        ticks = [(p, size_bytes(p)) for p in params.get(
            "CU_SIZES" if fsname == "ext4" else "CU_XFS_SIZES", "").split()]
        plot(f"w5-{fsname}", f"First-write (copy-up) latency on {fsname} (median, min-max)",
             "file size", "ms", data, xtics=ticks)
    return made


if __name__ == "__main__":
    main()
