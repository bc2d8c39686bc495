"""Several ``rag serve`` processes over one index, behind HAProxy: ``rag serve --workers N``.

One chat process is bound by Python's GIL; the way to more users is more processes. This module starts
N of them on free loopback ports, each a plain ``python -m rag.cli serve`` with the same settings, and a
real HAProxy (Debian's ``haproxy``) on the public address that spreads sessions over them, keeping each
browser session on one process (cookie ``RAGWORKER``; see ``haproxy.cfg.template``). ``/api/ask`` is
stateless, so any process can answer it.

All processes must share one index: use the Postgres backend (``RAG_VECTOR_BACKEND=postgres``), which
every process reads while one writes. (With the FAISS backend each process loads its own copy of
``index/``; a document added through one process reaches the others only when they refresh.)

The first worker starts alone, so that it builds or refreshes the index while the others wait; the rest
start together once it answers. A worker that dies is started again; HAProxy routes around it meanwhile.
This module never imports ``rag``'s pipeline: it runs the CLI in subprocesses.

HAProxy is the only one that says who a client is: it drops any ``X-Forwarded-For`` a client sent and adds
the address it saw, and each worker trusts that header from 127.0.0.1 alone (``--trusted-proxy``). HAProxy's
own address is checked as ``rag serve --host`` is (``ui.exposure``): no network address without accounts.

    rag serve --workers 4 --port 7860          # or: python -m server.workers --workers 4 --port 7860
"""

from __future__ import annotations

import argparse
import contextlib
import logging
import os
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
import urllib.error
import urllib.request
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from string import Template

__all__ = ["Workers", "haproxy_binary", "main", "render_haproxy_config", "running_workers", "serve_workers"]

logger = logging.getLogger(__name__)

TEMPLATE = Path(__file__).with_name("haproxy.cfg.template")
START_TIMEOUT_S = 180.0  # a worker loads the model and the index; four starting on two cores take a while
RESTART_PAUSE_S = 2.0


class WorkersError(RuntimeError):
    """The workers or the load balancer could not be started."""


def haproxy_binary() -> str:
    """The path of HAProxy.

    Raises:
        WorkersError: It is not installed.
    """
    found = shutil.which("haproxy") or next(
        (p for p in ("/usr/sbin/haproxy", "/usr/local/sbin/haproxy") if os.access(p, os.X_OK)), None
    )
    if found is None:
        raise WorkersError("HAProxy is not installed; run: sudo apt-get install haproxy (make setup does it)")
    return found


def free_port(host: str = "127.0.0.1") -> int:
    """A TCP port free on ``host`` right now."""
    with socket.socket() as s:
        s.bind((host, 0))
        return int(s.getsockname()[1])


def render_haproxy_config(
    host: str, port: int, worker_ports: Sequence[int], maxconn: int = 4096, *, secure_cookie: bool = False
) -> str:
    """HAProxy's configuration for ``worker_ports`` on 127.0.0.1, listening on ``host:port``.

    ``secure_cookie``: TLS ends in front of HAProxy (``--https-proxy``), so its worker cookie is ``Secure``.
    """
    servers = "\n".join(
        f"    server w{n} 127.0.0.1:{p} cookie w{n} check inter 2s fall 2 rise 1"
        for n, p in enumerate(worker_ports, start=1)
    )
    bind = f"[{host}]:{port}" if ":" in host else f"{host}:{port}"
    return Template(TEMPLATE.read_text(encoding="utf-8")).substitute(
        MAXCONN=maxconn, BIND=bind, SERVERS=servers, COOKIE_SECURE=" secure" if secure_cookie else ""
    )


@dataclass
class Workers:
    """Running workers and their load balancer."""

    url: str
    worker_urls: list[str]
    processes: list[subprocess.Popen[bytes]]
    balancer: subprocess.Popen[bytes]
    commands: list[list[str]] = field(default_factory=list)
    env: dict[str, str] = field(default_factory=dict)

    @property
    def pids(self) -> list[int]:
        """Process ids of the workers (for CPU accounting)."""
        return [p.pid for p in self.processes]

    def supervise(self) -> None:
        """Restart workers that die; return when the load balancer stops."""
        while self.balancer.poll() is None:
            for n, process in enumerate(self.processes):
                if process.poll() is not None:
                    logger.warning("worker %d exited with %s; starting it again", n + 1, process.returncode)
                    time.sleep(RESTART_PAUSE_S)
                    self.processes[n] = subprocess.Popen(self.commands[n], env=self.env)
            time.sleep(1.0)
        raise WorkersError(f"HAProxy exited with {self.balancer.returncode}")


def _wait_until_up(url: str, process: subprocess.Popen[bytes], timeout_s: float) -> None:
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise WorkersError(f"the process serving {url} exited with {process.returncode} before it answered")
        try:
            with urllib.request.urlopen(url, timeout=2) as response:
                if response.status == 200:
                    return
        except (urllib.error.URLError, OSError):
            pass
        time.sleep(0.3)
    raise WorkersError(f"{url} did not answer within {timeout_s:.0f} s")


def _stop(processes: Sequence[subprocess.Popen[bytes]]) -> None:
    for process in processes:
        if process.poll() is None:
            process.terminate()
    for process in processes:
        try:
            process.wait(timeout=20)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()


@contextlib.contextmanager
def running_workers(
    workers: int,
    host: str = "127.0.0.1",
    port: int = 0,
    *,
    serve_args: Sequence[str] = (),
    env: Mapping[str, str] | None = None,
    quiet: bool = False,
) -> Iterator[Workers]:
    """Start ``workers`` ``rag serve`` processes behind HAProxy on ``host:port`` (0: a free port); stop them after.

    ``serve_args`` are more ``rag serve`` flags (``--docs``, ``-k``, ...); ``env`` the processes' environment
    (this one's by default). ``quiet`` sends the workers' output to /dev/null.

    Raises:
        WorkersError: HAProxy is missing, or a worker or HAProxy did not start.
    """
    if workers < 1:
        raise WorkersError(f"--workers must be at least 1, got {workers}")
    environment = {**(env if env is not None else os.environ), "GRADIO_ANALYTICS_ENABLED": "False"}
    _check_exposure(host, serve_args, environment)
    binary = haproxy_binary()
    ports = [free_port() for _ in range(workers)]
    port = port or free_port(host)
    output = subprocess.DEVNULL if quiet else None
    # HAProxy connects from 127.0.0.1: the workers take the client address it passes on from there alone, and
    # answer to the name HAProxy is bound to (browsers send it as Host).
    behind = ["--trusted-proxy", "127.0.0.1", *_host_name_flag(host)]
    commands = [
        [sys.executable, "-m", "rag.cli", "serve", *serve_args, *behind, "--host", "127.0.0.1", "--port", str(p)]
        for p in ports
    ]
    processes: list[subprocess.Popen[bytes]] = []
    balancer: subprocess.Popen[bytes] | None = None
    with tempfile.TemporaryDirectory(prefix="rag-haproxy-") as folder:
        config = Path(folder) / "haproxy.cfg"
        https = "--https-proxy" in serve_args or _https_proxy(environment)
        config.write_text(render_haproxy_config(host, port, ports, secure_cookie=https), encoding="utf-8")
        try:
            check = subprocess.run([binary, "-c", "-q", "-f", str(config)], capture_output=True, text=True)
            if check.returncode != 0:
                raise WorkersError(f"HAProxy rejected its configuration: {check.stderr.strip() or check.stdout}")
            # The first worker builds or refreshes the index; the others then only load it.
            processes.append(subprocess.Popen(commands[0], env=environment, stdout=output, stderr=output))
            _wait_until_up(f"http://127.0.0.1:{ports[0]}/healthz", processes[0], START_TIMEOUT_S)
            for command in commands[1:]:
                processes.append(subprocess.Popen(command, env=environment, stdout=output, stderr=output))
            for p, process in zip(ports[1:], processes[1:], strict=True):
                _wait_until_up(f"http://127.0.0.1:{p}/healthz", process, START_TIMEOUT_S)
            balancer = subprocess.Popen([binary, "-db", "-f", str(config)], stdout=output, stderr=output)
            shown = f"[{host}]" if ":" in host else host
            url = f"http://{shown if shown != '0.0.0.0' else '127.0.0.1'}:{port}"
            _wait_until_up(f"{url}/healthz", balancer, 30)
            logger.info("%d worker(s) behind HAProxy on %s", workers, url)
            yield Workers(
                url, [f"http://127.0.0.1:{p}" for p in ports], processes, balancer, commands, dict(environment)
            )
        finally:
            _stop([*processes, *([balancer] if balancer is not None else [])])


def _check_exposure(host: str, serve_args: Sequence[str], env: Mapping[str, str]) -> None:
    """HAProxy's address gets the check ``rag serve --host`` gets, with the workers' users file and --no-auth.

    Raises:
        ConfigError: A network address and no accounts (see ``ui.exposure.check_exposure``).
    """
    from ui.exposure import check_exposure

    args = list(serve_args)
    users = args[args.index("--users") + 1] if "--users" in args[:-1] else env.get("RAG_USERS_FILE") or "users.json"
    check_exposure(host, Path(users).expanduser(), no_auth="--no-auth" in args)


def _host_name_flag(host: str) -> list[str]:
    from server.options import ServeOptions

    return [part for name in ServeOptions().answering_to(host).allowed_hosts for part in ("--allowed-host", name)]


def _https_proxy(env: Mapping[str, str]) -> bool:
    from server.options import ServeOptions

    return ServeOptions.from_env(env).https_proxy


def _interrupt(signum: int, frame: object) -> None:
    raise KeyboardInterrupt


def serve_workers(workers: int, host: str = "127.0.0.1", port: int = 7860, *, serve_args: Sequence[str] = ()) -> None:
    """Run ``workers`` chat processes behind HAProxy on ``host:port`` until interrupted."""
    signal.signal(signal.SIGTERM, _interrupt)  # `kill` stops the workers too, as Ctrl+C does
    # Ctrl+C or SIGTERM, even while the processes are still starting: leaving the block stops every one of them
    # (running_workers cleans up in a finally), and the stop is a clean exit.
    with contextlib.suppress(KeyboardInterrupt), running_workers(workers, host, port, serve_args=serve_args) as running:
        print(f"chat: {running.url} ({workers} worker process(es) behind HAProxy; Ctrl+C to stop)", file=sys.stderr)
        running.supervise()


def main(argv: Sequence[str] | None = None) -> int:
    """``python -m server.workers --workers N [--host H] [--port P] [-- rag serve flags]``."""
    parser = argparse.ArgumentParser(prog="python -m server.workers", description=__doc__.split("\n\n")[0])
    parser.add_argument("--workers", type=int, default=2)
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=7860)
    parser.add_argument("serve_args", nargs="*", help="more `rag serve` flags, after --")
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(levelname)s %(name)s: %(message)s")
    from rag.errors import ConfigError

    try:
        serve_workers(args.workers, args.host, args.port, serve_args=args.serve_args)
    except (WorkersError, ConfigError) as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    return 0


if __name__ == "__main__":
    sys.exit(main())
