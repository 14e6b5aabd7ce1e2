#!/usr/bin/env python
"""/healthz latency while 20 slow connections are held, served by gunicorn as the image serves it.

Slow connections of three kinds, held open and fed one byte every few seconds so that no idle timeout
frees them: a request line and headers that never end, a POST whose declared body never arrives, and an
open connection that never sends. Prints /healthz p50/p99/max (sequential requests, one at a time) before
and while they are held, and whether any request failed or waited.
"""

from __future__ import annotations

import http.client
import os
import socket
import statistics
import threading
import time

from harness import bench_env, django_setup, gunicorn, own_peak_rss_mib

SLOW = int(os.environ.get("BENCH_SLOW_CONNECTIONS", "20"))
SECONDS = float(os.environ.get("BENCH_SECONDS", "15"))
WORKERS = int(os.environ.get("BENCH_WEB_WORKERS", "3"))


def healthz_latencies(port: int, seconds: float) -> tuple[list[float], int]:
    """Sequential /healthz requests on fresh connections for `seconds`: latencies in ms, failures."""
    latencies, failures = [], 0
    stop = time.monotonic() + seconds
    while time.monotonic() < stop:
        started = time.perf_counter()
        try:
            conn = http.client.HTTPConnection("127.0.0.1", port, timeout=10)
            conn.request("GET", "/healthz")
            response = conn.getresponse()
            response.read()
            conn.close()
            if response.status != 200:
                failures += 1
        except OSError:
            failures += 1
        latencies.append((time.perf_counter() - started) * 1000)
    return latencies, failures


class SlowClients:
    """`count` connections that trickle a byte every `every` seconds and never finish a request."""

    def __init__(self, port: int, count: int, every: float = 2.0):
        self.port, self.count, self.every = port, count, every
        self.sockets: list[socket.socket] = []
        self.closed_by_server = 0
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._trickle, daemon=True)

    def __enter__(self) -> SlowClients:
        for n in range(self.count):
            sock = socket.create_connection(("127.0.0.1", self.port), timeout=5)
            kind = n % 3
            if kind == 0:  # headers that never end
                sock.sendall(b"GET /healthz HTTP/1.1\r\nHost: 127.0.0.1\r\nX-Slow: ")
            elif kind == 1:  # a body that never arrives
                sock.sendall(
                    b"POST /api/1.0/x/profiles/custom_data HTTP/1.1\r\nHost: 127.0.0.1\r\n"
                    b"Content-Type: application/json\r\nContent-Length: 100000\r\n\r\n{"
                )
            self.sockets.append(sock)  # kind 2: connected, silent
        time.sleep(0.5)
        self._thread.start()
        return self

    def _trickle(self) -> None:
        while not self._stop.wait(self.every):
            for n, sock in enumerate(self.sockets):
                if sock.fileno() < 0 or n % 3 == 2:
                    continue
                try:
                    sock.sendall(b"a")
                except OSError:
                    self.closed_by_server += 1
                    sock.close()

    def __exit__(self, *exc) -> None:
        self._stop.set()
        self._thread.join()
        for sock in self.sockets:
            sock.close()


def summary(latencies: list[float]) -> tuple[float, float, float]:
    ordered = sorted(latencies)
    p99 = ordered[min(len(ordered) - 1, int(len(ordered) * 0.99))]
    return statistics.median(ordered), p99, ordered[-1]


def main() -> None:
    django_setup()
    with gunicorn(workers=WORKERS, env=bench_env()) as server:
        port = int(server.url.rsplit(":", 1)[1])
        healthz_latencies(port, 1)  # warm up
        before, before_failed = healthz_latencies(port, SECONDS)
        with SlowClients(port, SLOW) as slow:
            during, during_failed = healthz_latencies(port, SECONDS)
        web_rss = server.peak_rss_mib()

    print(f"/healthz, gunicorn (gunicorn.conf.py) {WORKERS} workers, sequential requests, {SECONDS:.0f} s each")
    print(f"  {'':34} {'requests':>8} {'p50 ms':>8} {'p99 ms':>8} {'max ms':>8} {'failed':>7}")
    for name, lat, failed in (
        ("alone", before, before_failed),
        (f"with {SLOW} slow connections held", during, during_failed),
    ):
        p50, p99, worst = summary(lat)
        print(f"  {name:34} {len(lat):8d} {p50:8.2f} {p99:8.2f} {worst:8.2f} {failed:7d}")
    print(f"  slow connections closed by the server while held: {slow.closed_by_server} of {SLOW}")
    print(f"  peak RSS: web worker {web_rss:.0f} MiB, bench process {own_peak_rss_mib():.0f} MiB")
    p99_before, p99_during = summary(before)[1], summary(during)[1]
    worst_during = summary(during)[2]
    unaffected = during_failed == 0 and p99_during <= max(3 * p99_before, 50.0) and worst_during < 1000
    print(
        f"  /healthz unaffected (no failure, p99 <= max(3 x alone, 50 ms), none over 1 s): "
        f"{'yes' if unaffected else 'NO'}"
    )


if __name__ == "__main__":
    main()
