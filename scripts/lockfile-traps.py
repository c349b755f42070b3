#!/usr/bin/env python3
"""Fails on lock-file resolutions known to break a build that CI only reaches late.

bindgen (the FIPS build's aws-lc-fips-sys) passes a `syn::File` to prettyplease: both must be
on the same `syn`. Adding an unrelated dependency can re-resolve bindgen's `syn` to 3.x while
prettyplease 0.2 stays on 2.x, and then only the FIPS build fails, twenty minutes into CI.
"""
import pathlib
import re
import sys

lock = pathlib.Path(__file__).resolve().parent.parent / "Cargo.lock"
packages = {}
for block in lock.read_text().split("[[package]]")[1:]:
    name = re.search(r'^name = "([^"]+)"', block, re.M).group(1)
    version = re.search(r'^version = "([^"]+)"', block, re.M).group(1)
    deps = re.findall(r'^ "([^"]+)",$', block, re.M)
    packages.setdefault(name, []).append((version, deps))


def syn_of(name):
    found = set()
    for _, deps in packages.get(name, []):
        for dep in deps:
            if dep == "syn" or dep.startswith("syn "):
                found.add(dep)
    return found


syn_versions = [v for v, _ in packages.get("syn", [])]
bindgen, pretty = syn_of("bindgen"), syn_of("prettyplease")
# A dependency written as bare "syn" means the only syn in the lock file.
normalise = lambda deps: {d if d != "syn" else f"syn {syn_versions[0]}" for d in deps}
if bindgen and pretty and normalise(bindgen) != normalise(pretty):
    print(
        f"Cargo.lock: bindgen takes {sorted(bindgen)} but prettyplease takes {sorted(pretty)};"
        " the fips build will not compile. Point bindgen's syn back at prettyplease's.",
        file=sys.stderr,
    )
    sys.exit(1)
print("Cargo.lock: bindgen and prettyplease share one syn")
