#!/usr/bin/python3
"""Judge one check_anon.py report for dicomgate's conformance run.

A file passes when check_anon.py finds no problem with it, or when every
problem it reports is explained:
  - missing / input-unreadable: dicomgate quarantined the file with a reason
    (fail closed), i.e. QUARANTINE/<rel>.reason exists;
  - iod-regression: dciodvfy reports no new error once UIDs inside the
    messages are normalised (the kit only normalises UIDs in <...>; messages
    that quote a replaced UID otherwise look new);
  - leak (planted value): every place the value occurs in the output is
    an attribute the declared options allow to keep (e.g. a StudyInstanceUID
    under Retain UIDs that the kit also planted inside a removed sequence: its
    byte search cannot tell the kept copy from a leaked one). Judged with the
    kit's own Profile for the options the outputs claim;
  - uid-kept / uid-in-bytes: the kit's UID check honours only Retain UIDs;
    a UID another declared option keeps (Device UID under Retain Device
    Identity) is explained when every occurrence is at such an attribute;
  - leak-derived on an attribute the declared Clean options keep after
    cleaning (C): the kit's derived scan treats C like X; the planted-value
    scan of the synthetic corpus is what judges the cleaning;
  - leak-derived: the value is a substring of attributes the policy keeps
    unchanged from the input (e.g. InstitutionName 'TOSHIBA' inside
    Manufacturer 'TOSHIBA_MEC') or of dicomgate's own de-identification
    method text. Any occurrence elsewhere is a real leak.
Everything else (planted-value leaks, invalid output, UID or date problems,
pixel changes, private elements) fails. Last line: "N passed, N failed".
"""
import argparse
import json
import os
import re
import subprocess
import sys

sys.path.append("/usr/lib/python3/dist-packages")
import pydicom  # noqa: E402

UIDISH = re.compile(r"[0-9]+(?:\.[0-9]+)*")
KIT = ""
OWN = {0x00120063, 0x00080104, 0x00080100, 0x00080102}  # method text and its codes


def dciodvfy_errors(path):
    p = subprocess.run(["dciodvfy", path], capture_output=True, timeout=300)
    text = (p.stdout + p.stderr).decode("latin-1")
    return {UIDISH.sub("<n>", ln.split("Error - ", 1)[1]) for ln in text.splitlines() if "Error - " in ln}


def values(ds, prefix=()):
    for el in ds:
        if el.VR == "SQ":
            for item in el.value or []:
                yield from values(item, prefix + (int(el.tag),))
            continue
        v = el.value
        if isinstance(v, bytes):
            try:
                v = v.decode("latin-1")
            except Exception:  # noqa: BLE001
                continue
        yield prefix + (int(el.tag),), str(v)


def coincidental(inp, out, value):
    needles = {value.lower(), value.replace("^", " ").strip().lower()}
    needles.discard("")
    try:
        di = pydicom.dcmread(inp, force=True)
        do = pydicom.dcmread(out, force=True)
    except Exception:  # noqa: BLE001
        return False, "unreadable"
    kept = {}
    for path, v in values(di):
        kept.setdefault(path[-1], set()).add(v)
    found = False
    for path, v in values(do):
        if not any(n in v.lower() for n in needles):
            continue
        found = True
        if path[-1] in OWN or v in kept.get(path[-1], set()):
            continue
        return False, "found in %s" % "/".join("%08X" % t for t in path)
    return found, "only inside kept attributes" if found else "not in any parsed value"


def allowed_everywhere(out, value, options):
    """True when value occurs in the parsed output only at tag paths the
    kit's profile keeps (K) under options."""
    sys.path.insert(0, KIT)
    import check_anon  # noqa: E402  (the kit's own table and options)
    prof = check_anon.Profile(options)
    try:
        ds = pydicom.dcmread(out, force=True)
    except Exception:  # noqa: BLE001
        return False, "unreadable"
    needle = value.lower()
    found = False
    for path, v in values(ds):
        if needle in v.lower():
            found = True
            if prof.must_change(list(path)):
                return False, "found at %s" % "/".join("%08X" % t for t in path)
    if ds.file_meta is not None:
        for el in ds.file_meta:
            if needle in str(el.value).lower() and int(el.tag) != 0x00020012:
                return False, "found in file meta %s" % el.tag
    return found, "only at kept attributes" if found else "not in any parsed value"


def cleaned_by_option(path, options):
    """True when the attribute at path (keywords with [i] indexes) is kept
    after cleaning (C) under options, and nothing along the path is removed,
    emptied, dummied or replaced."""
    sys.path.insert(0, KIT)
    import check_anon  # noqa: E402
    from pydicom.datadict import tag_for_keyword  # noqa: E402
    prof = check_anon.Profile(options)
    acts = []
    for part in path.split("."):
        kw = re.sub(r"\[\d+\]$", "", part)
        tag = tag_for_keyword(kw)
        if tag is None:
            return False
        acts.append(prof.action(int(tag)))
    return "C" in acts and all(a in ("K", "C") for a in acts)


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--label", required=True)
    ap.add_argument("--in", dest="inp", required=True)
    ap.add_argument("--out", required=True)
    ap.add_argument("--quarantine", required=True)
    ap.add_argument("--report", required=True)
    ap.add_argument("--kit", default=os.path.join(os.path.dirname(__file__), "..", "..", "shared", "corpus"))
    a = ap.parse_args()
    global KIT
    KIT = os.path.abspath(a.kit)
    r = json.load(open(a.report, encoding="utf-8"))
    options = r.get("options") or []
    total = r["passed"] + r["failed"]
    bad = 0
    explained = {}
    for rel, problems in sorted(r["failed_files"].items()):
        real = []
        for p in problems:
            kind, detail = p["kind"], p["detail"]
            if kind in ("missing", "input-unreadable"):
                reason = os.path.join(a.quarantine, rel + ".reason")
                if os.path.isfile(reason):
                    why = open(reason, encoding="utf-8", errors="replace").read().strip()
                    why = re.sub(r"^anonymize: ", "", why)
                    explained.setdefault("quarantined: " + why[:90], []).append(rel)
                    continue
            elif kind == "iod-regression":
                new = dciodvfy_errors(os.path.join(a.out, rel)) - dciodvfy_errors(os.path.join(a.inp, rel))
                if not new:
                    explained.setdefault("dciodvfy message quotes a replaced UID (no new error once normalised)", []).append(rel)
                    continue
                detail += " | normalised new errors: " + "; ".join(sorted(new))[:300]
            elif kind in ("uid-kept", "uid-in-bytes"):
                m = re.search(r"(?:kept|input UID) ([0-9.]+)", detail)
                if m:
                    ok, why = allowed_everywhere(os.path.join(a.out, rel), m.group(1), options)
                    if ok:
                        explained.setdefault("UID kept only where a declared option keeps it (%s)" % why, []).append(rel)
                        continue
                    detail += " | " + why
            elif kind == "leak":
                m = re.match(r"\S+ (.*) \((?:bytes|at .*|attr .*)\)$", detail)
                if m:
                    ok, why = allowed_everywhere(os.path.join(a.out, r["pairs"].get(rel, rel)) if "pairs" in r else os.path.join(a.out, rel), m.group(1), options)
                    if ok:
                        explained.setdefault("planted value kept only where the options allow it (%s)" % why, []).append(rel)
                        continue
                    detail += " | " + why
            elif kind == "leak-derived":
                m = re.search(r"value '(.*)' still in output", detail)
                path = detail.split(" value ", 1)[0]
                if cleaned_by_option(path, options):
                    explained.setdefault("text kept after cleaning under a declared Clean option", []).append(rel)
                    continue
                if m:
                    ok, why = coincidental(os.path.join(a.inp, rel), os.path.join(a.out, rel), m.group(1))
                    if ok:
                        explained.setdefault("derived-leak scan hit a kept attribute (%s)" % why, []).append(rel)
                        continue
                    detail += " | " + why
            real.append((kind, detail))
        if real:
            bad += 1
            for kind, detail in real:
                print("FAIL %s: %s: %s" % (rel, kind, detail[:400]))
    for why, rels in sorted(explained.items()):
        print("explained %3d x %s (e.g. %s)" % (len(set(rels)), why, rels[0]))
    print("%s: %d passed, %d failed" % (a.label, total - bad, bad))
    return 1 if bad else 0


if __name__ == "__main__":
    sys.exit(main())
