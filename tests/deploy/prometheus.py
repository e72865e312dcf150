"""Run the Debian Prometheus server and Pushgateway on loopback for a test: free ports, private
data folders, bounded start and stop."""

from __future__ import annotations

import json
import shutil
import subprocess
import time
import urllib.parse
import urllib.request
from pathlib import Path
from typing import Any

import yaml

from tests.support.seaweed import free_port

BINARY = shutil.which("prometheus") or "/usr/bin/prometheus"
PUSHGATEWAY = shutil.which("prometheus-pushgateway") or "/usr/bin/prometheus-pushgateway"


class _LoopbackServer:
    """A server binary listening on a free loopback port, ready when `/-/ready` answers."""

    name = "server"

    def _start(self, folder: Path, command: list[str]) -> None:
        self.log_path = folder / f"{self.name}.log"
        self.log = open(self.log_path, "w")  # noqa: SIM115 - closed in stop()
        self.process = subprocess.Popen(command, stdout=self.log, stderr=subprocess.STDOUT)
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline:
            try:
                urllib.request.urlopen(f"{self.url}/-/ready", timeout=1).read()
                return
            except OSError:
                if self.process.poll() is not None:
                    break
                time.sleep(0.2)
        self.stop()
        raise RuntimeError(f"{self.name} did not start: {self.log_path.read_text()}")

    def stop(self) -> None:
        if self.process.poll() is None:
            self.process.terminate()
            try:
                self.process.wait(timeout=20)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait()
        self.log.close()


class Pushgateway(_LoopbackServer):
    """Debian's prometheus-pushgateway: what short pipeline steps push their counters to."""

    name = "pushgateway"

    def __init__(self, folder: Path) -> None:
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self.address = f"127.0.0.1:{self.port}"
        # Debian's build persists to /var/lib/prometheus/pushgateway.data by default, which
        # would hand every test the groups pushed by earlier ones.
        self._start(folder, [PUSHGATEWAY, f"--web.listen-address={self.address}",
                             f"--persistence.file={folder / 'pushgateway.data'}",
                             "--log.level=warn"])  # fmt: skip


class Prometheus(_LoopbackServer):
    name = "prometheus"

    def __init__(self, folder: Path, targets: dict[str, str]) -> None:
        """`targets`: job name → host:port, scraped every second (honouring pushed labels)."""
        self.folder = folder
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        config = {
            "global": {"scrape_interval": "1s", "evaluation_interval": "1s"},
            "scrape_configs": [
                {"job_name": job, "honor_labels": True, "static_configs": [{"targets": [target]}]}
                for job, target in targets.items()
            ],
        }
        (folder / "prometheus.yml").write_text(yaml.safe_dump(config))
        self._start(folder, [
            BINARY,
            f"--config.file={folder / 'prometheus.yml'}",
            f"--storage.tsdb.path={folder / 'data'}",
            f"--web.listen-address=127.0.0.1:{self.port}",
            "--log.level=warn",
        ])  # fmt: skip

    def query(self, expr: str, at: float | None = None) -> list[dict[str, Any]]:
        """An instant query, at `at` (Unix seconds) when given so several agree on the moment."""
        params = {"query": expr, **({"time": f"{at:.3f}"} if at is not None else {})}
        url = f"{self.url}/api/v1/query?" + urllib.parse.urlencode(params)
        body = json.loads(urllib.request.urlopen(url, timeout=10).read())
        assert body["status"] == "success", body
        return body["data"]["result"]

    def targets_up(self) -> dict[str, float]:
        return {r["metric"]["job"]: float(r["value"][1]) for r in self.query("up")}
