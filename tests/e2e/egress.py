"""Harness of `test_egress.py`: a loopback-only network namespace that records every way out.

`Namespace` starts a holder process in new network and mount namespaces (`unshare`). The holder
brings up `lo`, bind-mounts a `resolv.conf` naming 127.0.0.1 and an `nsswitch.conf` whose hosts
line is `files dns` (so no NSS module resolves names around the recorder), answers every DNS
query on 127.0.0.1:53 (UDP and TCP) with NXDOMAIN and writes its name to `dns.log`, and relays
Unix sockets in the test's folder to loopback ports inside the namespace, so the test process
(outside) can talk HTTP to a server inside. Commands enter the namespace with `nsenter` and run
under `strace -f`, which records every `connect`, `sendto`, `sendmsg` and `sendmmsg` (and
`execve`) of the process and all its threads and descendants, whatever library or native code
makes the call.

Run as `python egress.py hold FOLDER [PORT ...]`, this file is the holder itself; it uses the
standard library only.
"""

from __future__ import annotations

import contextlib
import ipaddress
import os
import re
import shutil
import signal
import socket
import struct
import subprocess
import sys
import threading
import time
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import IO, Any

_SYSCALLS = "connect,sendto,sendmsg,sendmmsg,execve"  # execve: which programs ran
_LINE = re.compile(r"^(\d+)\s+(\w+)\(")
_INET = re.compile(r'sa_family=AF_INET, sin_port=htons\((\d+)\), sin_addr=inet_addr\("([^"]+)"\)')
_INET6 = re.compile(r'sa_family=AF_INET6, sin6_port=htons\((\d+)\),[^}]*?inet_pton\(AF_INET6, "([^"]+)"')
DNS_PORT = 53


@dataclass(frozen=True)
class Attempt:
    """One socket address a traced process tried to reach (from one strace line)."""

    trace: str  # the name the command was run under
    pid: int
    syscall: str
    address: str
    port: int
    line: str

    @property
    def loopback(self) -> bool:
        """127.0.0.0/8, ::1 or an IPv4-mapped loopback address."""
        ip = ipaddress.ip_address(self.address.split("%")[0])
        if isinstance(ip, ipaddress.IPv6Address) and ip.ipv4_mapped is not None:
            ip = ip.ipv4_mapped
        return ip.is_loopback

    @property
    def egress(self) -> bool:
        """Leaves the machine, or asks a name server (the recorder on 127.0.0.1:53)."""
        return not self.loopback or self.port == DNS_PORT

    def __str__(self) -> str:
        return f"[{self.trace}] pid {self.pid} {self.syscall} {self.address}:{self.port}: {self.line}"


def parse_trace(text: str, trace: str) -> list[Attempt]:
    """Every AF_INET and AF_INET6 address in `strace -f` output (AF_UNIX and others are local)."""
    attempts = []
    for line in text.splitlines():
        head = _LINE.match(line)
        if not head:
            continue
        for pattern in (_INET, _INET6):
            for port, address in pattern.findall(line):
                attempts.append(Attempt(trace, int(head[1]), head[2], address, int(port), line.strip()))
    return attempts


def namespace_problem() -> str | None:
    """Why this machine cannot run the harness, or None when it can."""
    unshare, nsenter = shutil.which("unshare"), shutil.which("nsenter")
    if not unshare or not nsenter:
        return "util-linux's unshare and nsenter are not installed"
    probe = subprocess.run([unshare, "--net", "--mount", "true"], capture_output=True, text=True)
    if probe.returncode != 0:
        return f"cannot create network and mount namespaces here (needs root): {probe.stderr.strip()}"
    return None


def strace_problem() -> str | None:
    """Why strace cannot trace here, or None when it can."""
    strace = shutil.which("strace")
    if not strace:
        return "strace is not installed (scripts/install installs it as root)"
    probe = subprocess.run(
        [strace, "-f", "--seccomp-bpf", "-qq", "-e", "trace=connect", "-o", os.devnull, "true"],
        capture_output=True,
        text=True,
    )
    if probe.returncode != 0:
        return f"strace cannot trace processes here: {probe.stderr.strip()}"
    return None


class Namespace:
    """A loopback-only network namespace with a recording resolver; see the module docstring."""

    def __init__(self, folder: Path, relay_ports: Sequence[int] = ()) -> None:
        self.folder = folder
        folder.mkdir(parents=True, exist_ok=True)
        self._traces: list[tuple[str, Path]] = []
        holder = [sys.executable, __file__, "hold", str(folder), *map(str, relay_ports)]
        with (folder / "holder.log").open("wb") as log:
            self._holder = subprocess.Popen(
                ["unshare", "--net", "--mount", "--propagation", "private", *holder],
                stdin=subprocess.PIPE,
                stdout=subprocess.PIPE,
                stderr=log,
            )
        assert self._holder.stdout is not None
        if self._holder.stdout.readline().strip() != b"ready":
            self._holder.kill()
            raise RuntimeError("the namespace holder did not start: " + self._read("holder.log"))

    def __enter__(self) -> Namespace:
        return self

    def __exit__(self, *_: object) -> None:
        self.close()

    def close(self) -> None:
        """Stop the holder (the namespace goes away with the last process in it)."""
        if self._holder.poll() is None:
            assert self._holder.stdin is not None
            self._holder.stdin.close()
            try:
                self._holder.wait(timeout=10)
            except subprocess.TimeoutExpired:
                self._holder.kill()
                self._holder.wait()

    def _read(self, name: str) -> str:
        path = self.folder / name
        return path.read_text(errors="replace") if path.exists() else ""

    def command(self, args: Sequence[str], trace: str | None) -> list[str]:
        """`args` inside the namespace, under `strace -f` writing to `<trace>.strace` unless None."""
        pid = self._holder.pid
        enter = ["nsenter", f"--net=/proc/{pid}/ns/net", f"--mount=/proc/{pid}/ns/mnt", "--"]
        if trace is None:
            return [*enter, *args]
        out = self.folder / f"{trace}.strace"
        self._traces.append((trace, out))
        strace = ["strace", "-f", "--seccomp-bpf", "-qq", "-e", "signal=none", "-s", "256"]
        return [*enter, *strace, "-e", f"trace={_SYSCALLS}", "-o", str(out), "--", *args]

    def popen(
        self, args: Sequence[str], env: dict[str, str], trace: str | None, log: IO[bytes] | None = None
    ) -> subprocess.Popen[bytes]:
        """Start `args` in the namespace (in its own process group, see `stop`)."""
        return subprocess.Popen(
            self.command(args, trace),
            env=env,
            stdin=subprocess.DEVNULL,
            stdout=log if log is not None else subprocess.PIPE,
            stderr=subprocess.STDOUT if log is not None else subprocess.PIPE,
            start_new_session=True,
        )

    def run(
        self, args: Sequence[str], env: dict[str, str], trace: str | None, timeout: float = 600
    ) -> subprocess.CompletedProcess[str]:
        """Run `args` in the namespace to the end; a process still running at `timeout` is killed."""
        proc = self.popen(args, env, trace)
        try:
            out, err = proc.communicate(timeout=timeout)
        except subprocess.TimeoutExpired:
            kill_group(proc)
            raise
        return subprocess.CompletedProcess(proc.args, proc.returncode, out.decode(), err.decode())

    def relay(self, port: int) -> Path:
        """The Unix socket that reaches 127.0.0.1:`port` inside the namespace."""
        return self.folder / f"tcp-{port}.sock"

    def dns_queries(self) -> list[str]:
        """`name type` of every DNS query the recorder received, in order."""
        return self._read("dns.log").splitlines()

    def attempts(self) -> list[Attempt]:
        """Every address the traced commands tried to reach so far."""
        return [
            a for name, path in self._traces if path.exists() for a in parse_trace(path.read_text(), name)
        ]

    def egress(self) -> list[str]:
        """One line per DNS query and per attempt to reach anything but loopback (empty: none)."""
        lines = [f"DNS query for {q}" for q in self.dns_queries()]
        return lines + [str(a) for a in self.attempts() if a.egress]


def tracee(proc: subprocess.Popen[bytes]) -> int:
    """The pid of the traced command: the child of the strace process that `proc` became."""
    deadline = time.monotonic() + 10
    while time.monotonic() < deadline:
        for stat in Path("/proc").glob("[0-9]*/stat"):
            try:
                fields = stat.read_text().rsplit(")", 1)[1].split()
            except (OSError, IndexError):
                continue
            if int(fields[1]) == proc.pid:
                return int(stat.parent.name)
        time.sleep(0.05)
    raise RuntimeError(f"no traced process under strace {proc.pid}")


def stop(proc: subprocess.Popen[bytes], sig: signal.Signals = signal.SIGTERM, timeout: float = 60) -> int:
    """Signal the traced command (not strace) and wait until strace has written everything."""
    if proc.poll() is None:
        os.kill(tracee(proc), sig)
        try:
            proc.wait(timeout=timeout)
        except subprocess.TimeoutExpired:
            kill_group(proc)
    return proc.returncode


def kill_group(proc: subprocess.Popen[bytes]) -> None:
    """SIGKILL strace and everything it started (strace runs in its own process group)."""
    with contextlib.suppress(ProcessLookupError):
        os.killpg(proc.pid, signal.SIGKILL)
    proc.wait()


def telemetry_stores(home: Path) -> list[Path]:
    """Files ONNX Runtime's telemetry leaves under a home directory (its device id, its event store)."""
    return sorted(p for p in home.rglob("*") if "Microsoft" in p.parts)


# --- the holder, inside the namespace -------------------------------------------------------


def _loopback_up() -> None:
    import fcntl

    get_flags, set_flags, up = 0x8913, 0x8914, 0x1  # SIOCGIFFLAGS, SIOCSIFFLAGS, IFF_UP
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as s:
        request = struct.pack("16sH22x", b"lo", 0)
        flags = struct.unpack("16sH22x", fcntl.ioctl(s, get_flags, request))[1]
        fcntl.ioctl(s, set_flags, struct.pack("16sH22x", b"lo", flags | up))


def _bind_mount(source: Path, target: str) -> None:
    subprocess.run(["mount", "--bind", str(source), target], check=True)


def _question(message: bytes) -> tuple[str, int, int]:
    """(name, type, end of the question section) of a DNS query."""
    pos, labels = 12, []
    while message[pos]:
        length = message[pos]
        labels.append(message[pos + 1 : pos + 1 + length].decode("ascii", "replace"))
        pos += length + 1
    qtype = struct.unpack(">H", message[pos + 1 : pos + 3])[0]
    return ".".join(labels), qtype, pos + 5


def _answer(message: bytes, log: IO[str], lock: threading.Lock) -> bytes:
    try:
        name, qtype, end = _question(message)
    except (IndexError, struct.error):
        name, qtype, end = "<unparsable>", 0, 12
    with lock:
        log.write(f"{name} {qtype}\n")
        log.flush()
    # same id, QR + RD + RA, rcode NXDOMAIN; the question echoed, no answers
    return message[:2] + b"\x81\x83" + (b"\x00\x01" if end > 12 else b"\x00\x00") + bytes(6) + message[12:end]


def _serve_dns(log: IO[str]) -> None:
    lock = threading.Lock()
    udp = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    udp.bind(("127.0.0.1", DNS_PORT))
    tcp = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    tcp.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    tcp.bind(("127.0.0.1", DNS_PORT))
    tcp.listen(16)

    def over_udp() -> None:
        while True:
            message, peer = udp.recvfrom(65535)
            udp.sendto(_answer(message, log, lock), peer)

    def over_tcp() -> None:
        while True:
            conn, _ = tcp.accept()
            with conn:
                conn.settimeout(5)
                try:
                    size = struct.unpack(">H", conn.recv(2))[0]
                    message = b""
                    while len(message) < size:
                        chunk = conn.recv(size - len(message))
                        if not chunk:
                            break
                        message += chunk
                    reply = _answer(message, log, lock)
                    conn.sendall(struct.pack(">H", len(reply)) + reply)
                except (OSError, struct.error):
                    pass

    for target in (over_udp, over_tcp):
        threading.Thread(target=target, daemon=True).start()


def _pump(source: socket.socket, sink: socket.socket) -> None:
    try:
        while data := source.recv(65536):
            sink.sendall(data)
    except OSError:
        pass
    finally:
        for s in (sink, source):
            with contextlib.suppress(OSError):
                s.shutdown(socket.SHUT_RDWR)


def _serve_relay(path: Path, port: int) -> None:
    server = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    server.bind(str(path))
    server.listen(64)

    def loop() -> None:
        while True:
            client, _ = server.accept()
            try:
                upstream = socket.create_connection(("127.0.0.1", port), timeout=5)
            except OSError:  # nothing listens there yet
                client.close()
                continue
            upstream.settimeout(None)
            for a, b in ((client, upstream), (upstream, client)):
                threading.Thread(target=_pump, args=(a, b), daemon=True).start()

    threading.Thread(target=loop, daemon=True).start()


def hold(folder: Path, ports: Sequence[int]) -> None:
    """Set the namespace up, say "ready", then serve until stdin closes."""
    _loopback_up()
    (folder / "resolv.conf").write_text("nameserver 127.0.0.1\noptions attempts:1 timeout:1\n")
    _bind_mount(folder / "resolv.conf", "/etc/resolv.conf")
    nss = Path("/etc/nsswitch.conf")
    lines = nss.read_text().splitlines() if nss.exists() else []
    lines = [line for line in lines if not line.startswith("hosts:")] + ["hosts: files dns"]
    (folder / "nsswitch.conf").write_text("\n".join(lines) + "\n")
    if nss.exists():
        _bind_mount(folder / "nsswitch.conf", str(nss))
    _serve_dns((folder / "dns.log").open("a"))
    for port in ports:
        _serve_relay(folder / f"tcp-{port}.sock", port)
    sys.stdout.write("ready\n")
    sys.stdout.flush()
    sys.stdin.read()


def http_transport(path: Path) -> Any:
    """An httpx transport through a relay socket (see `Namespace.relay`)."""
    import httpx

    return httpx.HTTPTransport(uds=str(path))


if __name__ == "__main__":
    if sys.argv[1:2] == ["hold"]:
        hold(Path(sys.argv[2]), [int(p) for p in sys.argv[3:]])
