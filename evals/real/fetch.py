#!/usr/bin/env python3
"""Copy the real-documentation evaluation corpora out of Debian doc packages into evals/real/docs/.

The file list is fixed in manifest.json (next to this script): for each corpus, the Debian package, the
package version the questions were written against, and each file's source path, destination (relative to
evals/real/docs/) and sha256. This script

1. installs the packages with apt-get, but only those whose listed files are missing (``sudo`` only when not
   root; DEBIAN_FRONTEND=noninteractive, quiet);
2. copies every listed file into evals/real/docs/<destination>, skipping files already there and identical;
3. warns (does not fail) when an installed package version or a file checksum differs from the manifest,
   since the questions in questions/*.jsonl were written against those exact versions;
4. prints one line per corpus, and exits non-zero with a one-line message when a listed file is missing.

Usage::

    python3 evals/real/fetch.py                      # every corpus
    python3 evals/real/fetch.py --corpus python --corpus git
    python3 evals/real/fetch.py --refresh-manifest   # rewrite versions and checksums from this machine
    python3 evals/real/fetch.py --corpus git --corpus asymptote --into evals/real/fast   # the part make test runs

Plain Python 3.11 standard library; needs a Debian-like system (apt-get, dpkg-query) to install packages.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

HERE = Path(__file__).resolve().parent
MANIFEST = HERE / "manifest.json"
DOCS = HERE / "docs"


class FetchError(Exception):
    """A problem that stops the fetch; its message is printed as one line."""


def sha256_of(path: Path) -> str:
    """The hex sha256 of a file's bytes."""
    digest = hashlib.sha256()
    with path.open("rb") as handle:
        for block in iter(lambda: handle.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def load_manifest() -> dict:
    """manifest.json, parsed."""
    try:
        return json.loads(MANIFEST.read_text(encoding="utf-8"))
    except (OSError, json.JSONDecodeError) as exc:
        raise FetchError(f"cannot read {MANIFEST}: {exc}") from exc


def installed_version(package: str) -> str | None:
    """The installed version of ``package`` (``dpkg-query -W``), or None when it is not installed."""
    if shutil.which("dpkg-query") is None:
        return None
    result = subprocess.run(
        ["dpkg-query", "-W", "-f", "${Status}\t${Version}", package],
        capture_output=True,
        text=True,
        check=False,
    )
    if result.returncode != 0 or "\t" not in result.stdout:
        return None
    status, version = result.stdout.split("\t", 1)
    return version.strip() if status.strip().endswith(" installed") else None


def apt_install(packages: list[str]) -> None:
    """Install ``packages`` quietly; ``apt-get update`` and one retry when the first try fails."""
    if shutil.which("apt-get") is None:
        raise FetchError(f"files are missing and apt-get is not available to install {' '.join(packages)}")
    prefix = [] if os.geteuid() == 0 else ["sudo"]
    env = dict(os.environ, DEBIAN_FRONTEND="noninteractive")
    install = [*prefix, "apt-get", "install", "-y", "-qq", "--no-install-recommends", *packages]
    print(f"installing {' '.join(packages)} with apt-get ...", flush=True)
    result = subprocess.run(install, env=env, capture_output=True, text=True, check=False)
    if result.returncode != 0:
        subprocess.run([*prefix, "apt-get", "update", "-qq"], env=env, capture_output=True, check=False)
        result = subprocess.run(install, env=env, capture_output=True, text=True, check=False)
    if result.returncode != 0:
        tail = (result.stderr or result.stdout).strip().splitlines()[-1:] or ["(no output)"]
        raise FetchError(f"apt-get install {' '.join(packages)} failed: {tail[0]}")


def doc_exclusion_hint() -> str:
    """A hint when dpkg is configured to drop /usr/share/doc (as slim container images are)."""
    folder = Path("/etc/dpkg/dpkg.cfg.d")
    try:
        for config in sorted(folder.iterdir()):
            text = config.read_text(encoding="utf-8", errors="replace")
            if "path-exclude" in text and "/usr/share/doc" in text:
                return f" (dpkg excludes /usr/share/doc in {config}; remove that line and reinstall)"
    except OSError:
        pass
    return ""


def fetch(manifest: dict, names: list[str], docs: Path = DOCS) -> int:
    """Install what is missing and copy the corpora ``names`` into ``docs``; the number of warnings printed."""
    corpora = manifest["corpora"]
    missing_packages = sorted(
        {
            corpora[name]["package"]
            for name in names
            if any(not Path(entry["source"]).is_file() for entry in corpora[name]["files"])
        }
    )
    if missing_packages:
        apt_install(missing_packages)
    warnings = 0
    for name in names:
        corpus = corpora[name]
        package = corpus["package"]
        version = installed_version(package)
        notes: list[str] = []
        if version is not None and version != corpus["version"]:
            notes.append(f"{package} is {version}, questions were written against {corpus['version']}")
        copied = kept = 0
        for entry in corpus["files"]:
            source = Path(entry["source"])
            target = docs / entry["dest"]
            if not source.is_file():
                raise FetchError(f"{name}: {source} is missing after installing {package}{doc_exclusion_hint()}")
            digest = sha256_of(source)
            if digest != entry["sha256"]:
                notes.append(f"{entry['dest']} differs from the manifest's sha256")
            if target.is_file() and sha256_of(target) == digest:
                kept += 1
                continue
            target.parent.mkdir(parents=True, exist_ok=True)
            temporary = target.with_name(target.name + ".part")
            shutil.copyfile(source, temporary)
            temporary.replace(target)
            copied += 1
        size = sum((docs / entry["dest"]).stat().st_size for entry in corpus["files"])
        print(
            f"{name}: {len(corpus['files'])} files, {copied} copied, {kept} already up to date, "
            f"{size / 1e6:.1f} MB ({package} {version or 'not installed?'}) -> {os.path.relpath(docs / name)}"
        )
        for note in notes:
            warnings += 1
            print(f"  warning: {note}", file=sys.stderr)
    return warnings


def refresh_manifest(manifest: dict) -> None:
    """Rewrite each corpus's version and each file's sha256 from what is installed here."""
    for name, corpus in manifest["corpora"].items():
        version = installed_version(corpus["package"])
        if version is None:
            raise FetchError(f"{name}: {corpus['package']} is not installed; run fetch.py first")
        corpus["version"] = version
        for entry in corpus["files"]:
            source = Path(entry["source"])
            if not source.is_file():
                raise FetchError(f"{name}: {source} is missing")
            entry["sha256"] = sha256_of(source)
    MANIFEST.write_text(json.dumps(manifest, indent=2, ensure_ascii=False) + "\n", encoding="utf-8")
    print(f"rewrote {MANIFEST}")


def main(argv: list[str] | None = None) -> int:
    """Parse the arguments and fetch; 0 on success, 1 with a one-line message on error."""
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument(
        "--corpus",
        action="append",
        metavar="NAME",
        help="fetch only this corpus (repeatable); default: all of them",
    )
    parser.add_argument(
        "--refresh-manifest",
        action="store_true",
        help="rewrite manifest.json's versions and checksums from the installed packages (maintainers only)",
    )
    parser.add_argument(
        "--into",
        type=Path,
        default=DOCS,
        metavar="DIR",
        help="copy into this folder instead of evals/real/docs/ (a docs folder holding only the corpora named)",
    )
    args = parser.parse_args(argv)
    try:
        manifest = load_manifest()
        known = list(manifest["corpora"])
        names = args.corpus or known
        unknown = [name for name in names if name not in known]
        if unknown:
            raise FetchError(f"unknown corpus {', '.join(unknown)}; known: {', '.join(known)}")
        names = list(dict.fromkeys(names))
        if args.refresh_manifest:
            refresh_manifest(manifest)
            return 0
        warnings = fetch(manifest, names, args.into)
    except FetchError as exc:
        print(f"fetch.py: error: {exc}", file=sys.stderr)
        return 1
    if warnings:
        print(f"fetch.py: {warnings} warning(s): check the questions against the new text", file=sys.stderr)
    return 0


if __name__ == "__main__":
    sys.exit(main())
