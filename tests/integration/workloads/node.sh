#!/usr/bin/env bash
# node: JIT-compiled JavaScript with its own signal handlers and mmaps.
set -eu
cat >work.js <<'JS'
"use strict";
const crypto = require("crypto");
// Sieve of Eratosthenes (hot loop: JIT tiers up)
function sieve(n) {
  const a = new Uint8Array(n + 1);
  let count = 0;
  for (let i = 2; i <= n; i++) {
    if (!a[i]) { count++; for (let j = i * i; j <= n; j += i) a[j] = 1; }
  }
  return count;
}
console.log("primes", sieve(5000000));
// Objects, maps, strings (GC pressure)
const m = new Map();
for (let i = 0; i < 300000; i++) m.set("k" + i, { i, s: "v" + (i * 7919 % 100003) });
let total = 0;
for (const [k, v] of m) total += v.i + v.s.length;
console.log("map", m.size, total);
const arr = Array.from({ length: 200000 }, (_, i) => (i * 104729) % 1000003);
arr.sort((a, b) => a - b);
console.log("sort", arr[0], arr[arr.length - 1], arr[100000]);
const json = JSON.stringify([...m.entries()].slice(0, 50000));
console.log("json", json.length, crypto.createHash("sha256").update(json).digest("hex").slice(0, 16));
const bufs = [];
for (let i = 0; i < 64; i++) bufs.push(Buffer.alloc(1 << 20, i));
console.log("buffers", bufs.reduce((s, b) => s + b[12345], 0));
let str = "";
for (let i = 0; i < 100000; i++) str += String.fromCharCode(97 + (i % 26));
console.log("string", str.length, str.split("a").length);
function fib(n) { return n < 2 ? n : fib(n - 1) + fib(n - 2); }
console.log("fib", fib(27));
// A worker thread: its own V8 isolate and heap.
const { Worker } = require("worker_threads");
const w = new Worker(`
  const { parentPort } = require("worker_threads");
  const a = [];
  for (let i = 0; i < 200000; i++) a.push({ i, s: "w" + i });
  parentPort.postMessage(a.reduce((s, o) => s + o.i + o.s.length, 0));
`, { eval: true });
w.on("message", (v) => console.log("worker", v));
w.on("exit", (code) => console.log("worker exit", code));
JS
node work.js
