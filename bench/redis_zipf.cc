// strata-bench-redis-zipf: a Redis client with Zipf-distributed keys, speaking
// RESP over TCP. It loads --footprint bytes of values into the server, then
// runs intervals of pipelined GETs (and a share of SETs) and prints per
// interval the operations per second and where the server's memory is (bytes
// per node from /proc/PID/numa_maps of --pid). Where the *accesses* land is
// for the test bed's judge; this client does not know the server's layout.
//
//   strata-bench-redis-zipf --pid=PID [--socket=PATH | --port=6379] [--seed=S] [--footprint=128M]
//       [--intervals=10] [--interval-ms=1000] [--pipeline=32]
// Drawn from the seed: value size (64-4096 bytes, log-uniform), Zipf exponent
// (0.8-1.2), share of SETs (0-0.1); keys = footprint / value size, ranked in a
// random order.
#include <arpa/inet.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

#include <cerrno>
#include <cinttypes>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <ctime>
#include <string>
#include <string_view>

#include "suite_common.h"

namespace {

using namespace bench;

[[noreturn]] void die(const std::string& msg) {
  std::fprintf(stderr, "strata-bench-redis-zipf: %s\n", msg.c_str());
  std::exit(2);
}

class Conn {
 public:
  // A Unix socket when `path` is not empty (no network needed), else
  // 127.0.0.1:port.
  Conn(const std::string& path, uint16_t port) {
    sockaddr_in in{};
    sockaddr_un un{};
    sockaddr* a = reinterpret_cast<sockaddr*>(&in);
    socklen_t len = sizeof in;
    if (!path.empty()) {
      if (path.size() >= sizeof un.sun_path) die("--socket=" + path + ": path too long");
      un.sun_family = AF_UNIX;
      std::memcpy(un.sun_path, path.c_str(), path.size() + 1);
      a = reinterpret_cast<sockaddr*>(&un);
      len = sizeof un;
    } else {
      in.sin_family = AF_INET;
      in.sin_port = htons(port);
      in.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    }
    for (int i = 0; i < 100; ++i) {  // the server may still be starting
      fd_ = socket(a->sa_family, SOCK_STREAM, 0);
      if (connect(fd_, a, len) == 0) {
        const int one = 1;
        if (path.empty()) setsockopt(fd_, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
        return;
      }
      close(fd_);
      usleep(100000);
    }
    die("cannot connect to " + (path.empty() ? "127.0.0.1:" + std::to_string(port) : path) +
        ": " + std::strerror(errno));
  }
  ~Conn() { close(fd_); }
  void send_all(const std::string& s) {
    for (size_t off = 0; off < s.size();) {
      const ssize_t n = write(fd_, s.data() + off, s.size() - off);
      if (n <= 0) die(std::string("write: ") + std::strerror(errno));
      off += static_cast<size_t>(n);
    }
  }
  // Reads one reply (simple string, error, integer or bulk string); false on
  // an error reply.
  bool reply() {
    const std::string line = read_line();
    if (line.empty()) die("empty reply");
    if (line[0] == '-') {
      std::fprintf(stderr, "strata-bench-redis-zipf: server: %s\n", line.c_str());
      return false;
    }
    if (line[0] == '$') {
      const long n = std::strtol(line.c_str() + 1, nullptr, 10);
      if (n >= 0) skip(static_cast<size_t>(n) + 2);
    }
    return true;
  }

 private:
  bool fill() {
    if (pos_ < len_) return true;
    const ssize_t n = read(fd_, buf_, sizeof buf_);
    if (n <= 0) die("connection closed by the server");
    pos_ = 0;
    len_ = static_cast<size_t>(n);
    return true;
  }
  std::string read_line() {
    std::string s;
    for (;;) {
      fill();
      const char c = buf_[pos_++];
      if (c == '\n') break;
      if (c != '\r') s += c;
    }
    return s;
  }
  void skip(size_t n) {
    while (n > 0) {
      fill();
      const size_t k = std::min(n, len_ - pos_);
      pos_ += k;
      n -= k;
    }
  }
  int fd_ = -1;
  char buf_[1 << 16];
  size_t pos_ = 0, len_ = 0;
};

void append_cmd(std::string* out, std::initializer_list<std::string_view> args) {
  *out += "*" + std::to_string(args.size()) + "\r\n";
  for (std::string_view a : args) {
    *out += "$" + std::to_string(a.size()) + "\r\n";
    out->append(a);
    *out += "\r\n";
  }
}

}  // namespace

int main(int argc, char** argv) {
  uint64_t port = 6379, seed = 1, footprint = 128 << 20, intervals = 10, interval_ms = 1000;
  uint64_t pipeline = 32, pid = 0;
  std::string socket_path;
  for (int i = 1; i < argc; ++i) {
    const std::string_view arg = argv[i];
    const size_t eq = arg.find('=');
    if (arg == "--help" || arg == "-h") {
      std::printf(
          "usage: strata-bench-redis-zipf --pid=PID [--port=6379] [--seed=S]\n"
          "  [--footprint=128M] [--intervals=10] [--interval-ms=1000] [--pipeline=32]\n");
      return 0;
    }
    if (eq == std::string_view::npos) die("unexpected argument \"" + std::string(arg) + "\"");
    const std::string_view name = arg.substr(0, eq), value = arg.substr(eq + 1);
    bool ok = false;
    if (name == "--socket") ok = !value.empty(), socket_path = value;
    if (name == "--port") ok = parse_u64(value, &port) && port > 0 && port < 65536;
    if (name == "--pid") ok = parse_u64(value, &pid) && pid > 0;
    if (name == "--seed") ok = parse_u64(value, &seed);
    if (name == "--footprint") ok = parse_size(value, &footprint) && footprint >= (1 << 20);
    if (name == "--intervals") ok = parse_u64(value, &intervals) && intervals >= 1;
    if (name == "--interval-ms") ok = parse_u64(value, &interval_ms) && interval_ms >= 1;
    if (name == "--pipeline") ok = parse_u64(value, &pipeline) && pipeline >= 1 && pipeline <= 4096;
    if (!ok) die(std::string(arg) + ": unknown option or invalid value (see --help)");
  }
  if (pid == 0) die("--pid=PID (the server's) is required");
  Rng rng{seed};
  const auto value_size = static_cast<uint64_t>(rng.log_range(64, 4096));
  const double s = rng.range(0.8, 1.2);
  const double set_share = rng.range(0.0, 0.1);
  const uint64_t keys = std::max<uint64_t>(footprint / value_size, 16);
  const int max_node = max_numa_node();
  std::printf("# strata-bench-redis-zipf --seed=%" PRIu64 " --footprint=%s: %" PRIu64
              " keys of %" PRIu64 " bytes, zipf s=%.3f, sets %.3f\n",
              seed, size_str(footprint).c_str(), keys, value_size, s, set_share);
  Conn c(socket_path, static_cast<uint16_t>(port));
  const std::string value(value_size, 'v');
  const double l0 = now_ms(CLOCK_MONOTONIC);
  for (uint64_t k = 0; k < keys;) {
    std::string req;
    const uint64_t end = std::min(keys, k + 256);
    for (uint64_t j = k; j < end; ++j) append_cmd(&req, {"SET", "k" + std::to_string(j), value});
    c.send_all(req);
    for (; k < end; ++k)
      if (!c.reply()) return 1;
  }
  std::printf("# loaded in %.0f ms\n", now_ms(CLOCK_MONOTONIC) - l0);
  const Zipf zipf(keys, s);
  const std::vector<uint32_t> rank = permutation(keys, rng);
  const uint64_t set_t = threshold(set_share);
  std::printf("interval,ops,ops_per_s");
  for (int n = 0; n <= max_node; ++n) std::printf(",server_node%d_bytes", n);
  std::printf("\n");
  uint64_t total = 0;
  double total_ms = 0;
  for (uint64_t iv = 0; iv < intervals; ++iv) {
    const double t0 = now_ms(CLOCK_MONOTONIC);
    uint64_t ops = 0;
    double t1 = t0;
    while (t1 < t0 + static_cast<double>(interval_ms)) {
      std::string req;
      for (uint64_t j = 0; j < pipeline; ++j) {
        const std::string key = "k" + std::to_string(rank[zipf.draw(rng)]);
        if (rng.next() < set_t)
          append_cmd(&req, {"SET", key, value});
        else
          append_cmd(&req, {"GET", key});
      }
      c.send_all(req);
      for (uint64_t j = 0; j < pipeline; ++j) c.reply();
      ops += pipeline;
      t1 = now_ms(CLOCK_MONOTONIC);
    }
    std::vector<uint64_t> nodes;
    numa_maps_bytes(static_cast<pid_t>(pid), max_node, &nodes);
    std::printf("%" PRIu64 ",%" PRIu64 ",%.0f", iv, ops,
                static_cast<double>(ops) * 1e3 / (t1 - t0));
    for (uint64_t b : nodes) std::printf(",%" PRIu64, b);
    std::printf("\n");
    std::fflush(stdout);
    total += ops;
    total_ms += t1 - t0;
  }
  std::printf("# summary program=redis seed=%" PRIu64 " ops=%" PRIu64 " ops_per_s=%.0f\n", seed,
              total, static_cast<double>(total) * 1e3 / total_ms);
  return 0;
}
