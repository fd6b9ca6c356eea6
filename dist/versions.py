#!/usr/bin/env python3
"""One version for every artifact: the workspace's (Cargo.toml [workspace.package]).

Checks that every place that states a version agrees with it and fails naming each one that
does not: the crates, the npm packages (main and platform), the version the napi loader expects,
the C header's RK_VERSION_* macros, the CHANGELOG's newest release, and (given --built DIR) the
artifacts' file names and the .pc / CMake files inside the C SDK.
Usage: python3 dist/versions.py [--print] [--built DIR]
"""
import json
import pathlib
import re
import subprocess
import sys
import tarfile
import tomllib

ROOT = pathlib.Path(__file__).resolve().parent.parent


def workspace_version() -> str:
    with open(ROOT / "Cargo.toml", "rb") as f:
        return tomllib.load(f)["workspace"]["package"]["version"]


def stated(v: str) -> list[tuple[str, str]]:
    """(where, version) for every place in the tree that states a version."""
    out = []
    meta = json.loads(subprocess.run(
        ["cargo", "metadata", "--format-version", "1", "--no-deps", "--locked"],
        cwd=ROOT, check=True, capture_output=True, text=True).stdout)
    for p in meta["packages"]:
        out.append((f"crate {p['name']}", p["version"]))
    node = json.loads((ROOT / "bindings-node/package.json").read_text())
    out.append(("bindings-node/package.json", node["version"]))
    for pj in sorted((ROOT / "bindings-node/npm").glob("*/package.json")):
        out.append((str(pj.relative_to(ROOT)), json.loads(pj.read_text())["version"]))
    for m in re.finditer(r"expected (\d+\.\d+\.\d+[^ ]*) but got", (ROOT / "bindings-node/index.js").read_text()):
        out.append(("bindings-node/index.js (the loader's expected version)", m.group(1)))
    header = (ROOT / "include/relaykit.h").read_text()
    parts = [re.search(rf"#define RK_VERSION_{k} (\d+)", header) for k in ("MAJOR", "MINOR", "PATCH")]
    out.append(("include/relaykit.h RK_VERSION_*", ".".join(p.group(1) if p else "?" for p in parts)))
    changelog = (ROOT / "CHANGELOG.md").read_text()
    rel = re.search(r"^## \[(\d+\.\d+\.\d+[^\]]*)\]", changelog, re.M)
    out.append(("CHANGELOG.md (newest release)", rel.group(1) if rel else "?"))
    return out


def built(v: str, d: pathlib.Path) -> list[tuple[str, str]]:
    out = []
    for pattern, rx in [("relaykit-*.whl", r"relaykit-([^-]+)-"), ("relaykit-[0-9]*.tar.gz", r"relaykit-([^-]+)\.tar\.gz"),
                        ("relaykit-[0-9]*.tgz", r"relaykit-([^-]+)\.tgz"),
                        ("relaykit-linux-x64-gnu-*.tgz", r"relaykit-linux-x64-gnu-(.+)\.tgz"),
                        ("relaykit-*-linux-x86_64.tar.gz", r"relaykit-(.+)-linux-x86_64\.tar\.gz"),
                        ("relaykit-[0-9]*.crate", r"relaykit-([^-]+)\.crate"), ("relaykit-cli-*.crate", r"relaykit-cli-(.+)\.crate")]:
        # A glob can match another artifact's name (the C SDK is relaykit-V-linux-x86_64.tar.gz):
        # only names the pattern's regex takes whole count.
        found = [(f, m) for f in sorted(d.glob(pattern)) if (m := re.fullmatch(rx + r"(?:.*\.whl)?", f.name))
                 and not (pattern.endswith(".tar.gz") and "linux" in f.name and "linux" not in rx)]
        if not found:
            out.append((f"dist/{pattern}", "missing"))
        for f, m in found:
            out.append((f"dist/{f.name}", m.group(1)))
    for sdk in d.glob("relaykit-*-linux-x86_64.tar.gz"):
        with tarfile.open(sdk) as t:
            for member in t.getmembers():
                if member.name.endswith("relaykit.pc"):
                    text = t.extractfile(member).read().decode()
                    out.append((f"{sdk.name}:{member.name}", re.search(r"^Version: (.+)$", text, re.M).group(1)))
                if member.name.endswith("relaykitConfigVersion.cmake"):
                    text = t.extractfile(member).read().decode()
                    out.append((f"{sdk.name}:{member.name}", re.search(r'PACKAGE_VERSION "([^"]+)"', text).group(1)))
    return out


def main() -> int:
    v = workspace_version()
    if "--print" in sys.argv:
        print(v)
        return 0
    checks = stated(v)
    if "--built" in sys.argv:
        checks += built(v, pathlib.Path(sys.argv[sys.argv.index("--built") + 1]))
    bad = [(w, got) for w, got in checks if got != v]
    for w, got in bad:
        print(f"version mismatch: {w} says {got}, the workspace says {v}", file=sys.stderr)
    if not bad:
        print(f"version {v}: the same in {len(checks)} places")
    return 1 if bad else 0


if __name__ == "__main__":
    sys.exit(main())
