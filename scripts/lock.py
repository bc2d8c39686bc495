"""Write the lock files from pyproject.toml with uv: exact versions and hashes of everything make installs.

Run by ``make lock``. Two files, installed by the Makefile with ``pip --require-hashes --no-deps``:

- ``requirements.lock``: the project with every extra its ``dev`` extra names (the test tools included),
  resolved for CPython 3.11 on Linux x86_64, the machines ``make test`` runs on. torch is left out: the
  Makefile installs ``torch==2.13.0``, the CPU build on local disk, first. The lock is resolved against that
  build's metadata (``/opt/wheels``), so it carries torch's own dependencies and none of the CUDA wheels
  PyPI's torch would bring.
- ``requirements-llamacpp.lock``: llama-cpp-python alone, at the version resolved above. It is a source
  package that compiles llama.cpp, so it is installed after the main lock, without build isolation: its
  build backend (scikit-build-core) then comes from the lock too, not from a fresh unpinned download.

pyproject.toml keeps ranges (what the library supports); the lock pins what CI tested.
"""

from __future__ import annotations

import re
import subprocess
import sys
import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
TARGET = ["--python-version", "3.11", "--python-platform", "x86_64-manylinux_2_28"]
TORCH = "torch==2.13.0+cpu"
LOCAL_WHEELS = Path("/opt/wheels")
COMPILED = "llama-cpp-python"


def uv(*args: str) -> None:
    """Run ``uv pip compile`` for the lock's target with hashes."""
    uv_path = Path(sys.executable).with_name("uv")
    command = [str(uv_path), "pip", "compile", "--quiet", "--generate-hashes", *TARGET, *args]
    subprocess.run(command, cwd=ROOT, check=True)


def main() -> None:
    """Write both lock files and print how many packages each pins."""
    if not (LOCAL_WHEELS / "torch-2.13.0+cpu-cp311-cp311-manylinux_2_28_x86_64.whl").exists():
        sys.exit(f"make lock resolves against the CPU build of torch in {LOCAL_WHEELS}, which this machine lacks")
    with tempfile.TemporaryDirectory() as scratch:
        override = Path(scratch) / "torch.txt"
        override.write_text(f"{TORCH}\n", encoding="utf-8")
        common = ["pyproject.toml", "--extra", "dev", "--find-links", str(LOCAL_WHEELS), "--override", str(override)]
        full = Path(scratch) / "full.lock"
        uv(*common, "--no-emit-package", "torch", "-o", str(full))
        version = re.search(rf"^{COMPILED}==(\S+)", full.read_text(encoding="utf-8"), re.MULTILINE)
        if version is None:
            sys.exit(f"{COMPILED} is missing from the resolution")
        uv(*common, "--no-emit-package", "torch", "--no-emit-package", COMPILED, "-o", "requirements.lock")
        pinned = Path(scratch) / "compiled.in"
        pinned.write_text(f"{COMPILED}=={version.group(1)}\n", encoding="utf-8")
        uv(str(pinned), "--no-deps", "-o", "requirements-llamacpp.lock")
    for name in ("requirements.lock", "requirements-llamacpp.lock"):
        path = ROOT / name
        # uv writes the temporary file's path into the header; keep the header reproducible.
        text = path.read_text(encoding="utf-8")
        text = re.sub(r"(?m)^#    uv pip compile .*$", "#    make lock  (scripts/lock.py)", text)
        text = re.sub(r"(?m)^    # via -r /tmp/\S+$", "    # via make lock", text)
        path.write_text(text, encoding="utf-8")
        pins = sum(1 for line in text.splitlines() if re.match(r"^[A-Za-z0-9_.-]+==", line))
        print(f"{name}: {pins} packages")


if __name__ == "__main__":
    main()
