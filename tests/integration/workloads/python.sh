#!/usr/bin/env bash
# python3: dicts, lists, json, re, threads, multiprocessing with fork.
set -eu
cat >work.py <<'PY'
import hashlib, json, multiprocessing as mp, re, subprocess, sys, threading, collections

def churn(n):
    d = {}
    for i in range(n):
        d["k%d" % i] = [i, str(i) * (i % 7), {"sq": i * i}]
    s = 0
    for k, v in d.items():
        s += v[0] + len(v[1]) + v[2]["sq"]
    return s

# dicts and lists
d = {i: [j for j in range(i % 50)] for i in range(20000)}
print("dict", len(d), sum(len(v) for v in d.values()))
lst = sorted((i * 7919) % 10007 for i in range(100000))
print("list", lst[:5], lst[-5:], sum(lst))
big = bytearray(8 << 20)
big[::4096] = b"x" * len(big[::4096])
print("bytearray", big.count(b"x"))

# json round trip
obj = {"items": [{"id": i, "name": "item%d" % i, "tags": ["a", "b", str(i % 13)]} for i in range(5000)]}
text = json.dumps(obj, sort_keys=True)
back = json.loads(text)
print("json", len(text), hashlib.sha256(text.encode()).hexdigest()[:16], back == obj)

# regular expressions
words = re.findall(r"[a-z]+[0-9]+", " ".join("word%d other%d" % (i, i * 3) for i in range(20000)))
counts = collections.Counter(w[0] for w in words)
print("re", len(words), sorted(counts.items()))
print("sub", hashlib.sha256(re.sub(r"(\d)(\d)", r"\2\1", text).encode()).hexdigest()[:16])

# threads
results = [0] * 4
def worker(i):
    results[i] = churn(20000 + i)
ts = [threading.Thread(target=worker, args=(i,)) for i in range(4)]
for t in ts: t.start()
for t in ts: t.join()
print("threads", results)

# multiprocessing with fork
if __name__ == "__main__":
    ctx = mp.get_context("fork")
    with ctx.Pool(3) as pool:
        print("pool", pool.map(churn, [1000, 5000, 10000, 20000, 30000]))
    q = ctx.Queue()
    p = ctx.Process(target=lambda: q.put(churn(12345)))
    p.start()
    print("process", q.get())
    p.join()
    print("exitcode", p.exitcode)
    # subprocess (vfork/posix_spawn + exec) from a process with threads
    out = subprocess.run(["sh", "-c", "echo spawned $((6 * 7))"], capture_output=True, text=True).stdout
    print("subprocess", out.strip())
    sys.stdout.flush()
PY
python3 work.py
