"""A real S3 endpoint on 127.0.0.1 for tests and benchmarks: moto's server mode in its own process, plus a
small TCP proxy that adds round-trip latency. Both listen on loopback only; whoever starts them stops them.

moto keeps its buckets in memory, so a restarted server is empty: `MotoServer.restart()` uploads the
folders it served before again, which is what a server with persistent storage would still hold.
"""
from __future__ import annotations

import os
import socket
import subprocess
import sys
import threading
import time
from pathlib import Path

HOST = "127.0.0.1"
REGION = "us-east-1"
# With IAM checks on, moto lets this many requests through unchecked: the IAM calls that create our user.
_NO_AUTH_REQUESTS = 4


def free_port() -> int:
    with socket.socket() as s:
        s.bind((HOST, 0))
        return s.getsockname()[1]


def _wait_listening(port: int, timeout_s: float, proc: subprocess.Popen | None = None) -> None:
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        if proc is not None and proc.poll() is not None:
            raise RuntimeError(f"the server process exited with status {proc.returncode}")
        try:
            with socket.create_connection((HOST, port), timeout=0.5):
                return
        except OSError:
            time.sleep(0.05)
    raise RuntimeError(f"nothing listens on {HOST}:{port} after {timeout_s} s")


def _pin(proc: subprocess.Popen, cpus: set[int] | None) -> subprocess.Popen:
    """Move a started child process onto `cpus` (None: no change). Not a preexec_fn: Python code run in a
    forked child of a process with threads can deadlock before exec."""
    if cpus:
        os.sched_setaffinity(proc.pid, cpus)
    return proc


def proxy_process(target_port: int, rtt_ms: float, cpus: set[int] | None = None) -> tuple[subprocess.Popen, str]:
    """A LatencyProxy in its own process (optionally on `cpus`): -> (the process, its endpoint URL).
    Benchmarks use this so that the proxy's threads do not share the measured process's GIL and CPUs."""
    port = free_port()
    proc = _pin(subprocess.Popen([sys.executable, __file__, "proxy", str(target_port), str(rtt_ms), str(port)]),
                cpus)
    _wait_listening(port, 30.0, proc)
    return proc, f"http://{HOST}:{port}"


class MotoServer:
    """`python -m moto.server` on 127.0.0.1; with auth=True only the keys in `creds` are accepted."""

    def __init__(self, auth: bool = False, port: int | None = None):
        self.auth, self.port = auth, port or free_port()
        self.proc: subprocess.Popen | None = None
        self.creds = {"aws_access_key_id": "testing", "aws_secret_access_key": "testing"}
        self._uploads: list[tuple[Path, str, str]] = []   # (folder, bucket, prefix) served so far

    @property
    def endpoint(self) -> str:
        return f"http://{HOST}:{self.port}"

    def start(self, cpus: set[int] | None = None) -> MotoServer:
        """Start the server process; with `cpus`, it runs on those CPUs only (benchmarks keep it off the
        loader's CPUs, as a remote server would be)."""
        env = dict(os.environ)
        env.pop("INITIAL_NO_AUTH_ACTION_COUNT", None)
        if self.auth:
            env["INITIAL_NO_AUTH_ACTION_COUNT"] = str(_NO_AUTH_REQUESTS)
        self.proc = _pin(subprocess.Popen([sys.executable, "-m", "moto.server", "-H", HOST, "-p", str(self.port)],
                                          env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL), cpus)
        _wait_listening(self.port, 30.0, self.proc)
        if self.auth:
            self._create_user()
        return self

    def _client(self, service: str, creds: dict | None = None):
        import boto3

        creds = creds or self.creds
        return boto3.client(service, endpoint_url=self.endpoint, region_name=REGION,
                            aws_access_key_id=creds["aws_access_key_id"],
                            aws_secret_access_key=creds["aws_secret_access_key"])

    def _create_user(self) -> None:
        iam = self._client("iam")
        iam.create_user(UserName="segstudio")
        key = iam.create_access_key(UserName="segstudio")["AccessKey"]
        iam.put_user_policy(UserName="segstudio", PolicyName="all", PolicyDocument=(
            '{"Version": "2012-10-17", "Statement": [{"Effect": "Allow", "Action": "*", "Resource": "*"}]}'))
        self.creds = {"aws_access_key_id": key["AccessKeyId"], "aws_secret_access_key": key["SecretAccessKey"]}

    def read_only_creds(self) -> dict:
        """Keys of a second user that may read every bucket but write none (an IAM policy that denies S3's
        writes); needs auth=True."""
        iam = self._client("iam")
        iam.create_user(UserName="reader")
        key = iam.create_access_key(UserName="reader")["AccessKey"]
        writes = '"s3:PutObject", "s3:DeleteObject", "s3:CreateMultipartUpload", "s3:AbortMultipartUpload"'
        iam.put_user_policy(UserName="reader", PolicyName="read-only", PolicyDocument=(
            '{"Version": "2012-10-17", "Statement": [{"Effect": "Allow", "Action": "*", "Resource": "*"}, '
            f'{{"Effect": "Deny", "Action": [{writes}], "Resource": "*"}}]}}'))
        return {"aws_access_key_id": key["AccessKeyId"], "aws_secret_access_key": key["SecretAccessKey"]}

    def make_bucket(self, bucket: str) -> None:
        s3 = self._client("s3")
        if bucket not in {b["Name"] for b in s3.list_buckets().get("Buckets", [])}:
            s3.create_bucket(Bucket=bucket)

    def upload(self, folder, bucket: str, prefix: str, remember: bool = True) -> str:
        """Upload a local dataset folder file by file (the layout on S3 is the folder's); -> its s3:// URL."""
        folder = Path(folder)
        self.make_bucket(bucket)
        s3 = self._client("s3")
        for path in sorted(p for p in folder.rglob("*") if p.is_file()):
            s3.upload_file(str(path), bucket, f"{prefix}/{path.relative_to(folder).as_posix()}")
        if remember:
            self._uploads.append((folder, bucket, prefix))
        return f"s3://{bucket}/{prefix}"

    def env(self) -> dict:
        """AWS_* variables that make segstudio (and its worker processes) use this server's keys."""
        return {"AWS_ACCESS_KEY_ID": self.creds["aws_access_key_id"],
                "AWS_SECRET_ACCESS_KEY": self.creds["aws_secret_access_key"], "AWS_REGION": REGION}

    def stop(self) -> None:
        if self.proc is not None and self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(10)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait(10)
        self.proc = None

    def restart(self, port: int | None = None) -> None:
        """Start again (auth off: moto would issue new keys) with what it served uploaded again before the
        caller sees it; on a new port if given (a proxy in front can then switch over once it is ready)."""
        self.stop()
        self.auth = False
        self.port = port or self.port
        self.start()
        for folder, bucket, prefix in self._uploads:
            self.upload(folder, bucket, prefix, remember=False)


class LatencyProxy:
    """TCP proxy 127.0.0.1:port -> target that delays every chunk by rtt/2 in each direction.

    `target_port` may change while it runs: new connections go to the new target.

    One thread per direction per connection; each direction keeps a bounded queue of (due time, bytes) so
    that bytes keep flowing at full rate while each one arrives rtt/2 late (latency, not a bandwidth cap).
    """

    def __init__(self, target_port: int, rtt_ms: float, port: int | None = None, max_connections: int = 256):
        self.target_port, self.delay_s = target_port, rtt_ms / 2000.0
        self.port = port or free_port()
        self.max_connections = max_connections
        self._sock: socket.socket | None = None
        self._stop = threading.Event()
        self._threads: list[threading.Thread] = []
        self._conns: list[socket.socket] = []
        self._lock = threading.Lock()
        self.accepted = 0      # client connections so far

    @property
    def endpoint(self) -> str:
        return f"http://{HOST}:{self.port}"

    def start(self) -> LatencyProxy:
        self._stop.clear()
        self._sock = socket.create_server((HOST, self.port))
        self._sock.settimeout(0.2)
        self._spawn(self._accept_loop)
        return self

    def _spawn(self, fn, *args) -> None:
        t = threading.Thread(target=fn, args=args, daemon=True)
        with self._lock:
            self._threads = [x for x in self._threads if x.is_alive()] + [t]
        t.start()

    def _accept_loop(self) -> None:
        while not self._stop.is_set():
            try:
                client, _ = self._sock.accept()
            except (TimeoutError, OSError):
                continue
            self.accepted += 1
            with self._lock:
                too_many = len(self._conns) >= 2 * self.max_connections
            try:
                if too_many:
                    raise OSError("too many connections")
                upstream = socket.create_connection((HOST, self.target_port), timeout=5)
            except OSError:
                client.close()
                continue
            with self._lock:
                self._conns += [client, upstream]
            self._spawn(self._pump, client, upstream)
            self._spawn(self._pump, upstream, client)

    def _pump(self, src: socket.socket, dst: socket.socket) -> None:
        import queue

        q: queue.Queue = queue.Queue(maxsize=1024)
        sender = threading.Thread(target=self._send_later, args=(q, dst), daemon=True)
        sender.start()
        src.settimeout(0.5)
        try:
            while not self._stop.is_set():
                try:
                    data = src.recv(65536)
                except TimeoutError:
                    continue
                except OSError:
                    break
                try:
                    q.put((time.monotonic() + self.delay_s, data), timeout=5)
                except queue.Full:   # the other side stopped reading
                    break
                if not data:
                    break
        finally:
            try:
                q.put((0.0, b""), timeout=1)
            except queue.Full:
                pass
            sender.join(5)
            self._close(src)

    def _send_later(self, q, dst: socket.socket) -> None:
        while True:
            due, data = q.get()
            wait = due - time.monotonic()
            if wait > 0:
                self._stop.wait(wait)
            if not data or self._stop.is_set():
                try:
                    dst.shutdown(socket.SHUT_WR)
                except OSError:
                    pass
                return
            try:
                dst.sendall(data)
            except OSError:
                return

    def _close(self, s: socket.socket) -> None:
        try:
            s.close()
        except OSError:
            pass
        with self._lock:
            if s in self._conns:
                self._conns.remove(s)

    def stop(self) -> None:
        self._stop.set()
        if self._sock is not None:
            self._sock.close()
            self._sock = None
        with self._lock:
            conns, threads = list(self._conns), list(self._threads)
        for s in conns:
            self._close(s)
        for t in threads:
            t.join(5)


def _serve_proxy(argv: list[str]) -> None:
    """`python tests/s3_server.py proxy TARGET_PORT RTT_MS PORT`: a LatencyProxy until terminated."""
    import signal

    target, rtt, port = int(argv[0]), float(argv[1]), int(argv[2])
    proxy = LatencyProxy(target, rtt, port=port).start()
    stop = threading.Event()
    signal.signal(signal.SIGTERM, lambda *_: stop.set())
    stop.wait()
    proxy.stop()


if __name__ == "__main__" and sys.argv[1:2] == ["proxy"]:
    _serve_proxy(sys.argv[2:])
