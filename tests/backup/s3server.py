"""A real S3 server for the tests: versitygw (built by tools/versitygw.py), posix backend, loopback.

Credentials are generated per session and passed through the environment (not argv, which
other users can read in /proc). Metadata goes to a sidecar directory, so the data directory's
filesystem needs no extended attributes. A bucket is a directory of the posix backend.
"""

from __future__ import annotations

import secrets
import subprocess
import tempfile
import time
from dataclasses import dataclass, field
from datetime import timedelta
from pathlib import Path
from typing import IO

import obstore
import versitygw
from localpg import free_port
from obstore.store import S3Store

BUCKET = "platform-backups"


@dataclass
class S3Server:
    root: Path = field(default_factory=lambda: Path(tempfile.mkdtemp(prefix="platform-s3-")))
    port: int = field(default_factory=free_port)
    access_key: str = field(default_factory=lambda: "AK" + secrets.token_hex(8).upper())
    secret_key: str = field(default_factory=lambda: secrets.token_urlsafe(30))
    # TLS with a certificate of a throwaway CA (`ca_file`), for the custom-CA setting.
    tls: bool = False
    process: subprocess.Popen[bytes] | None = None
    _log: IO[bytes] | None = None

    @property
    def endpoint(self) -> str:
        return f"{'https' if self.tls else 'http'}://127.0.0.1:{self.port}"

    @property
    def ca_file(self) -> Path:
        return self.root / "ca.pem"

    def _certificates(self) -> list[str]:
        """openssl: a CA, and a server certificate it signs for 127.0.0.1; versitygw's flags."""
        ca_key, key, csr, cert = (
            self.root / n for n in ("ca.key", "tls.key", "tls.csr", "tls.pem")
        )
        subj = ["-subj", "/CN=platform-test-ca", "-days", "1"]
        for argv in (
            ["req", "-x509", "-newkey", "rsa:2048", "-nodes", "-keyout", ca_key, "-out",
             self.ca_file, *subj],
            ["req", "-newkey", "rsa:2048", "-nodes", "-keyout", key, "-out", csr,
             "-subj", "/CN=127.0.0.1"],
            ["x509", "-req", "-in", csr, "-CA", self.ca_file, "-CAkey", ca_key,
             "-CAcreateserial", "-out", cert, "-days", "1",
             "-extfile", "/dev/stdin"],
        ):  # fmt: skip
            subprocess.run(
                ["openssl", *map(str, argv)], input=b"subjectAltName=IP:127.0.0.1\n",
                capture_output=True, check=True,
            )  # fmt: skip
        return ["--cert", str(cert), "--key", str(key)]

    @property
    def log_path(self) -> Path:
        return self.root / "versitygw.log"

    def start(self) -> S3Server:
        binary = versitygw.build()
        data, meta = self.root / "data", self.root / "meta"
        (data / BUCKET).mkdir(parents=True)
        meta.mkdir()
        tls = self._certificates() if self.tls else []
        self._log = self.log_path.open("wb")
        self.process = subprocess.Popen(
            [str(binary), "--port", f"127.0.0.1:{self.port}", *tls, "posix", "--sidecar",
             str(meta), str(data)],
            env={"ROOT_ACCESS_KEY_ID": self.access_key, "ROOT_SECRET_ACCESS_KEY": self.secret_key},
            stdout=self._log,
            stderr=subprocess.STDOUT,
        )  # fmt: skip
        self._wait_ready()
        return self

    def _wait_ready(self, timeout: float = 30) -> None:
        deadline = time.monotonic() + timeout
        store = self.store()
        while True:
            if self.process is not None and self.process.poll() is not None:
                raise RuntimeError(f"versitygw exited:\n{self.log_path.read_text()}")
            try:
                obstore.list_with_delimiter(store)
                return
            except obstore.exceptions.BaseError:
                if time.monotonic() > deadline:
                    raise RuntimeError(
                        f"versitygw not ready in {timeout}s:\n{self.log_path.read_text()}"
                    ) from None
                time.sleep(0.05)

    def store(self, prefix: str | None = None) -> S3Store:
        """A client of our own, for what the tests inspect or tamper with directly."""
        return S3Store(
            BUCKET,
            prefix=prefix,
            endpoint=self.endpoint,
            access_key_id=self.access_key,
            secret_access_key=self.secret_key,
            region="us-east-1",
            client_options={
                "allow_http": True,
                "timeout": timedelta(seconds=10),
                **({"root_certificate": self.ca_file.read_text()} if self.tls else {}),
            },
            retry_config={"max_retries": 0, "retry_timeout": timedelta(seconds=5)},
        )

    def env(self, prefix: str) -> dict[str, str]:
        """The `platform-backup` configuration for this server and `prefix`."""
        return {
            "BACKUP_TARGET": "s3",
            "BACKUP_S3_ENDPOINT": self.endpoint,
            "BACKUP_S3_BUCKET": BUCKET,
            "BACKUP_S3_PREFIX": prefix,
            "AWS_ACCESS_KEY_ID": self.access_key,
            "AWS_SECRET_ACCESS_KEY": self.secret_key,
        }

    def stop(self) -> None:
        if self.process is not None and self.process.poll() is None:
            self.process.terminate()
            self.process.wait(timeout=10)
        if self._log is not None:
            self._log.close()
