"""Start a real broker process, or a sidecar in front of one, for tests and
examples."""

from __future__ import annotations

import json
import os
import shutil
import signal
import subprocess
import tempfile
import threading
import time
import urllib.request


class Broker:
    """A ``runnel serve`` process on ports the kernel chose, over a fresh
    data directory. ``binary`` defaults to $RUNNEL_BIN, then bin/runnel.

    It is ready once the constructor returns: the broker has written its
    ready file (``--ready-file``), which names the addresses it bound.
    ``args`` are more ``runnel serve`` flags."""

    def __init__(self, binary: str | None = None, timeout: float = 60.0, args: list[str] | None = None):
        self.binary = binary or os.environ.get("RUNNEL_BIN") or "bin/runnel"
        self._timeout = timeout
        self._args = list(args or [])
        self._dir = tempfile.mkdtemp(prefix="runnel-py-")
        self.data_dir = os.path.join(self._dir, "data")
        self._start("127.0.0.1:0", "127.0.0.1:0", "127.0.0.1:0")

    def _start(self, listen: str, http_listen: str, peer_listen: str) -> None:
        ready_file = os.path.join(self._dir, "ready.json")
        self.proc = subprocess.Popen(
            [self.binary, "serve", "--data-dir", self.data_dir, "--ready-file", ready_file,
             "--listen", listen, "--http-listen", http_listen, "--peer-listen", peer_listen, *self._args],
            stderr=subprocess.PIPE, text=True)
        self.log: list[str] = []
        proc, log = self.proc, self.log

        def read() -> None:
            for line in proc.stderr:
                log.append(line)

        threading.Thread(target=read, daemon=True).start()
        deadline = time.monotonic() + self._timeout
        # NB: the broker writes the file whole or not at all (a rename), and
        # removes one an earlier run left at start: its absence is the only
        # reason to wait.
        while True:
            try:
                with open(ready_file) as f:
                    ready = json.load(f)
                if ready.get("pid") == self.proc.pid:
                    break
            except FileNotFoundError:
                pass
            if self.proc.poll() is not None:
                self._fail(f"broker exited ({self.proc.returncode}) before writing its ready file")
            if time.monotonic() > deadline:
                self._fail(f"broker wrote no ready file ({ready_file}) within {self._timeout:g}s, so it did not serve")
            time.sleep(0.02)
        self.address: str = ready["grpc"]
        self.http_address: str = ready["http"]
        self.peer_address: str = ready["peer"]

    def terminate(self) -> None:
        """Shuts the broker down (SIGTERM: gracefully), keeping its data;
        returns once it exited."""
        self.proc.send_signal(signal.SIGTERM)
        self.proc.wait(30)

    def kill(self) -> None:
        """Kills the broker (SIGKILL: no shutdown at all), keeping its data."""
        self.proc.kill()
        self.proc.wait()

    def pause(self) -> None:
        """Stops the broker (SIGSTOP): its connections stay up, and nothing answers.
        Returns once the kernel shows it stopped: the signal is delivered
        asynchronously, and until then the broker may still answer."""
        self.proc.send_signal(signal.SIGSTOP)
        deadline = time.monotonic() + 10
        while _state(self.proc.pid) != "T":
            if time.monotonic() > deadline:
                raise TimeoutError(f"broker {self.proc.pid} not stopped 10s after SIGSTOP")
            time.sleep(0.001)

    def resume(self) -> None:
        """Lets a paused broker go on (SIGCONT)."""
        self.proc.send_signal(signal.SIGCONT)

    def restart(self) -> None:
        """Starts the broker again, after kill or terminate, on the same data directory
        and addresses; returns once it serves."""
        self._start(self.address, self.http_address, self.peer_address)

    def _fail(self, why: str) -> None:
        self.stop()
        raise RuntimeError(f"{why}; stderr:\n" + "".join(self.log))

    def stop(self) -> None:
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(30)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
        shutil.rmtree(self._dir, ignore_errors=True)

    def __enter__(self) -> "Broker":
        return self

    def __exit__(self, *exc) -> None:
        self.stop()


class Sidecar:
    """A ``runnel sidecar`` process in front of ``upstream`` (a broker's
    client address, or several comma-separated), on ports the kernel chose,
    over a fresh spool directory. ``binary`` defaults to $RUNNEL_BIN, then
    bin/runnel.

    It is ready once the constructor returns: the sidecar has written its
    ready file, which names its gRPC (``address``) and HTTP
    (``http_address``) listeners."""

    def __init__(self, upstream: str, binary: str | None = None, timeout: float = 60.0):
        self.binary = binary or os.environ.get("RUNNEL_BIN") or "bin/runnel"
        self.upstream = upstream
        self._dir = tempfile.mkdtemp(prefix="runnel-py-sidecar-")
        self.data_dir = os.path.join(self._dir, "spool")
        ready_file = os.path.join(self._dir, "ready.json")
        self.proc = subprocess.Popen(
            [self.binary, "sidecar", "--upstream", upstream, "--data-dir", self.data_dir, "--ready-file", ready_file,
             "--listen", "127.0.0.1:0", "--http-listen", "127.0.0.1:0"],
            stderr=subprocess.PIPE, text=True)
        self.log: list[str] = []
        proc, log = self.proc, self.log

        def read() -> None:
            for line in proc.stderr:
                log.append(line)

        threading.Thread(target=read, daemon=True).start()
        deadline = time.monotonic() + timeout
        while True:
            try:
                with open(ready_file) as f:
                    ready = json.load(f)
                if ready.get("pid") == self.proc.pid:
                    break
            except FileNotFoundError:
                pass
            if self.proc.poll() is not None:
                self._fail(f"sidecar exited ({self.proc.returncode}) before writing its ready file")
            if time.monotonic() > deadline:
                self._fail(f"sidecar wrote no ready file ({ready_file}) within {timeout:g}s, so it did not serve")
            time.sleep(0.02)
        self.address: str = ready["grpc"]
        self.http_address: str = ready["http"]

    def status(self) -> dict:
        """The sidecar's backlog: its HTTP /status, as JSON (records_waiting,
        and per partition spooled, forwarded, waiting)."""
        with urllib.request.urlopen(f"http://{self.http_address}/status", timeout=10) as resp:
            return json.load(resp)

    def wait_forwarded(self, timeout: float = 60.0) -> dict:
        """Waits until the sidecar has no record the cluster has not
        acknowledged (records_waiting 0), and returns that status."""
        deadline = time.monotonic() + timeout
        while True:
            status = self.status()
            if status["records_waiting"] == 0:
                return status
            if time.monotonic() > deadline:
                raise TimeoutError(f"the sidecar still has {status['records_waiting']} records waiting after "
                                   f"{timeout:g}s: {status}; stderr:\n" + "".join(self.log))
            time.sleep(0.05)

    def _fail(self, why: str) -> None:
        self.stop()
        raise RuntimeError(f"{why}; stderr:\n" + "".join(self.log))

    def stop(self) -> None:
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(30)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
        shutil.rmtree(self._dir, ignore_errors=True)

    def __enter__(self) -> "Sidecar":
        return self

    def __exit__(self, *exc) -> None:
        self.stop()


def _state(pid: int) -> str:
    """A process's state letter, from /proc (the field after the command
    name, which is in parentheses)."""
    with open(f"/proc/{pid}/stat", "rb") as f:
        stat = f.read()
    return stat[stat.rindex(b")") + 1:].split()[0].decode()
