#!/usr/bin/env bash
# java: javac and java (the JVM: its own heap mmaps, threads, signal handlers).
set -eu
cat >Main.java <<'JAVA'
import java.util.*;
import java.util.concurrent.*;
public class Main {
  public static void main(String[] args) throws Exception {
    Map<String, Integer> m = new HashMap<>();
    for (int i = 0; i < 200000; i++) m.put("k" + i, i * 3);
    long sum = 0;
    for (int v : m.values()) sum += v;
    System.out.println("map " + m.size() + " " + sum);
    List<Integer> l = new ArrayList<>();
    for (int i = 0; i < 200000; i++) l.add((int) ((i * 104729L) % 1000003));
    Collections.sort(l);
    System.out.println("sort " + l.get(0) + " " + l.get(l.size() - 1));
    ExecutorService ex = Executors.newFixedThreadPool(4);
    List<Future<Long>> fs = new ArrayList<>();
    for (int t = 0; t < 8; t++) {
      final int tt = t;
      fs.add(ex.submit(() -> { long s = 0; for (int i = 0; i < 2000000; i++) s += (i ^ tt) % 7; return s; }));
    }
    long tot = 0;
    for (Future<Long> f : fs) tot += f.get();
    ex.shutdown();
    System.out.println("threads " + tot);
    StringBuilder sb = new StringBuilder();
    for (int i = 0; i < 100000; i++) sb.append(i % 10);
    System.out.println("string " + sb.length() + " " + sb.toString().hashCode());
    byte[][] big = new byte[64][];
    for (int i = 0; i < 64; i++) big[i] = new byte[1 << 20];
    System.out.println("arrays " + big.length);
  }
}
JAVA
javac Main.java
java -cp . Main
