"""A throwaway one-node Ray cluster on this machine, for the Ray tests and the throughput
benchmark: `ray start --head --block` in a process group of its own, killed (group and all)
on leaving the block, its temporary folder removed."""

from __future__ import annotations

import contextlib
import os
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator, Sequence
from pathlib import Path


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@contextlib.contextmanager
def local_ray_cluster(num_cpus: int, pythonpath: Sequence[Path]) -> Iterator[str]:
    """Start a head node with ``num_cpus`` CPUs whose workers import from ``pythonpath``;
    yield its address ("127.0.0.1:PORT")."""
    port = _free_port()
    temp = tempfile.mkdtemp(prefix="ray", dir="/tmp")  # Ray's socket paths must stay short
    env = {**os.environ, "PYTHONPATH": os.pathsep.join(map(str, pythonpath)),
           "RAY_USAGE_STATS_ENABLED": "0"}
    ray_cli = Path(sys.executable).with_name("ray")
    head = subprocess.Popen(
        [str(ray_cli), "start", "--head", "--node-ip-address", "127.0.0.1",
         "--port", str(port), "--num-cpus", str(num_cpus), "--temp-dir", temp,
         "--include-dashboard=false", "--disable-usage-stats", "--block"],
        env=env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, start_new_session=True)
    try:
        _wait_for_raylet(Path(temp), head)
        yield f"127.0.0.1:{port}"
    finally:
        for sig in (signal.SIGTERM, signal.SIGKILL):
            try:
                os.killpg(head.pid, sig)  # the group this function started, nothing else
            except ProcessLookupError:
                break
            try:
                head.wait(timeout=15)
            except subprocess.TimeoutExpired:
                continue
        shutil.rmtree(temp, ignore_errors=True)


def _wait_for_raylet(temp: Path, head: subprocess.Popen, timeout: float = 120.0) -> None:
    deadline = time.monotonic() + timeout
    while not list(temp.glob("session_*/sockets/raylet")):
        if head.poll() is not None:
            assert head.stderr is not None
            raise RuntimeError(f"ray start failed: {head.stderr.read().decode()[-2000:]}")
        if time.monotonic() > deadline:
            raise RuntimeError("the Ray head did not come up")
        time.sleep(0.5)
    time.sleep(2.0)  # the raylet's socket exists a moment before it takes drivers
