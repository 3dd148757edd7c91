"""Start a real broker process for tests and examples."""

from __future__ import annotations

import os
import re
import shutil
import signal
import subprocess
import tempfile
import threading
import time

_SERVING = re.compile(r'msg="runnel serving" grpc=(\S+)')


class Broker:
    """A ``runnel serve`` process on ports the kernel chose, over a fresh
    data directory. ``binary`` defaults to $RUNNEL_BIN, then bin/runnel."""

    def __init__(self, binary: str | None = None, timeout: float = 60.0):
        self.binary = binary or os.environ.get("RUNNEL_BIN") or "bin/runnel"
        self.data_dir = tempfile.mkdtemp(prefix="runnel-py-")
        self.proc = subprocess.Popen(
            [self.binary, "serve", "--data-dir", self.data_dir, "--listen", "127.0.0.1:0",
             "--http-listen", "127.0.0.1:0", "--peer-listen", "127.0.0.1:0"],
            stderr=subprocess.PIPE, text=True)
        self.log: list[str] = []
        self.address: str | None = None
        ready = threading.Event()

        def read() -> None:
            for line in self.proc.stderr:
                self.log.append(line)
                m = _SERVING.search(line)
                if m and not ready.is_set():
                    self.address = m.group(1)
                    ready.set()

        threading.Thread(target=read, daemon=True).start()
        deadline = time.monotonic() + timeout
        while not ready.wait(0.05):
            if self.proc.poll() is not None or time.monotonic() > deadline:
                self.stop()
                raise RuntimeError("broker did not start:\n" + "".join(self.log))

    def stop(self) -> None:
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(30)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
        shutil.rmtree(self.data_dir, ignore_errors=True)

    def __enter__(self) -> "Broker":
        return self

    def __exit__(self, *exc) -> None:
        self.stop()
