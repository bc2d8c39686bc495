"""The install steps' own errors: one line naming what to install, exit 2, before any pip output."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

from tests.conftest import ROOT


def make_setup(tmp_path: Path, **env: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        ["make", "--no-print-directory", "-C", str(ROOT), "setup", f"VENV={tmp_path / 'venv'}"],
        env={**os.environ, **env},
        capture_output=True,
        text=True,
        timeout=300,
    )


def test_a_machine_without_python_3_11_is_told_what_to_install(tmp_path: Path) -> None:
    done = make_setup(tmp_path, PYTHON="python3.99")
    assert done.returncode == 2
    assert done.stderr.splitlines()[0] == (
        "rag needs Python 3.11 (python3.99 does not run here): sudo apt-get install python3.11 python3.11-venv, "
        "or set PYTHON=/path/to/python3.11"
    )
    assert not (tmp_path / "venv").exists()


def test_a_machine_without_cmake_is_told_which_debian_packages_build_llama_cpp(tmp_path: Path) -> None:
    # Every program of /usr/bin but cmake, and this Python 3.11.
    tools = tmp_path / "bin"
    tools.mkdir()
    for program in Path("/usr/bin").iterdir():
        if program.name != "cmake":
            (tools / program.name).symlink_to(program)
    python = tmp_path / "python3.11"
    python.symlink_to(sys.executable if sys.prefix == sys.base_prefix else Path(sys.base_prefix) / "bin/python3.11")
    assert shutil.which("cmake", path=str(tools)) is None
    done = make_setup(tmp_path, PATH=str(tools), PYTHON=str(python))
    assert done.returncode == 2
    assert done.stderr.splitlines()[0] == (
        "llama.cpp (--answerer llamacpp and its tests) needs cmake to compile: "
        "sudo apt-get install build-essential cmake"
    )
    assert not (tmp_path / "venv" / ".installed").exists()
