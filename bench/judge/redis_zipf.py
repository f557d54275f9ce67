#!/usr/bin/env python3
"""redis_zipf.py: a Redis client whose keys follow a Zipf distribution (redis-benchmark
draws keys uniformly). Speaks RESP over a TCP or unix socket; python3 standard library only.

  redis_zipf.py --socket /tmp/redis.sock load --keys 20000 --value-size 1024
  redis_zipf.py --socket /tmp/redis.sock run --keys 20000 --seconds 20 --s 0.99

load   SETs key:0 .. key:N-1 (pipelined)
run    GETs (and --set-fraction SETs) for --seconds, key rank r drawn with probability
       proportional to 1/r^s; ranks map to keys through a fixed random permutation, so
       the hot keys are not the first ones loaded. Prints "ops=.. seconds=.. ops_per_s=.."
"""
import argparse
import bisect
import itertools
import random
import socket
import sys
import time

PROG = "redis_zipf.py"


def connect(a):
    if a.socket:
        s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        s.connect(a.socket)
    else:
        s = socket.create_connection((a.host, a.port))
    return s


def command(*args):
    out = [b"*%d\r\n" % len(args)]
    for x in args:
        b = x if isinstance(x, bytes) else str(x).encode()
        out.append(b"$%d\r\n%s\r\n" % (len(b), b))
    return b"".join(out)


class Replies:
    """Reads RESP replies; only what SET and GET answer (+OK, $len, $-1, -ERR)."""

    def __init__(self, sock):
        self.f = sock.makefile("rb")

    def one(self):
        line = self.f.readline()
        if not line:
            sys.exit(f"{PROG}: the server closed the connection")
        kind = line[:1]
        if kind == b"$":
            n = int(line[1:])
            if n >= 0:
                self.f.read(n + 2)
        elif kind == b"-":
            sys.exit(f"{PROG}: server error: {line[1:].decode(errors='replace').strip()}")
        elif kind not in (b"+", b":"):
            sys.exit(f"{PROG}: unexpected reply {line[:40]!r}")


def pipeline(sock, replies, cmds):
    sock.sendall(b"".join(cmds))
    for _ in cmds:
        replies.one()


def load(a, sock, replies):
    value = b"v" * a.value_size
    batch = []
    for k in range(a.keys):
        batch.append(command("SET", f"key:{k}", value))
        if len(batch) == a.pipeline:
            pipeline(sock, replies, batch)
            batch = []
    if batch:
        pipeline(sock, replies, batch)
    print(f"loaded keys={a.keys} value_size={a.value_size}")


def run(a, sock, replies):
    rng = random.Random(a.seed)
    cdf = list(itertools.accumulate(1.0 / (r ** a.s) for r in range(1, a.keys + 1)))
    total = cdf[-1]
    perm = list(range(a.keys))
    rng.shuffle(perm)
    value = b"w" * a.value_size
    ops = 0
    t0 = time.monotonic()
    end = t0 + a.seconds
    while time.monotonic() < end:
        batch = []
        for _ in range(a.pipeline):
            key = f"key:{perm[bisect.bisect_left(cdf, rng.random() * total)]}"
            if rng.random() < a.set_fraction:
                batch.append(command("SET", key, value))
            else:
                batch.append(command("GET", key))
        pipeline(sock, replies, batch)
        ops += len(batch)
    dt = time.monotonic() - t0
    print(f"ops={ops} seconds={dt:.1f} ops_per_s={ops / dt:.0f} zipf_s={a.s} keys={a.keys}")


def main():
    ap = argparse.ArgumentParser(prog=PROG, description=__doc__.split("\n\n")[0])
    ap.add_argument("--socket", help="unix socket path (else --host/--port)")
    ap.add_argument("--host", default="127.0.0.1")
    ap.add_argument("--port", type=int, default=6379)
    ap.add_argument("--keys", type=int, default=20000)
    ap.add_argument("--value-size", type=int, default=1024)
    ap.add_argument("--pipeline", type=int, default=32)
    ap.add_argument("--seconds", type=float, default=20)
    ap.add_argument("--s", type=float, default=0.99, help="Zipf exponent (default 0.99)")
    ap.add_argument("--set-fraction", type=float, default=0.1)
    ap.add_argument("--seed", type=int, default=1)
    ap.add_argument("mode", choices=["load", "run"])
    a = ap.parse_args()
    if a.keys < 1 or a.value_size < 1 or a.pipeline < 1 or a.s <= 0:
        ap.error("--keys, --value-size, --pipeline and --s must be positive")
    sock = connect(a)
    replies = Replies(sock)
    (load if a.mode == "load" else run)(a, sock, replies)
    return 0


if __name__ == "__main__":
    sys.exit(main())
