// Small helpers shared by the benchmark programs: wall-clock timing,
// percentiles, RSS readings and flag parsing. Benchmarks print numbers; they
// never assert on timings.
#pragma once

#include <arpa/inet.h>
#include <netinet/in.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <fstream>
#include <string>
#include <thread>
#include <vector>

namespace netpol::bench {

inline double now_ms() {
  using namespace std::chrono;
  return duration<double, std::milli>(steady_clock::now().time_since_epoch()).count();
}

// CPU time of the calling thread: unaffected by other processes on a busy
// machine; the benchmarks print it next to wall time.
inline double cpu_ms() {
  timespec ts{};
  clock_gettime(CLOCK_THREAD_CPUTIME_ID, &ts);
  return static_cast<double>(ts.tv_sec) * 1e3 + static_cast<double>(ts.tv_nsec) / 1e6;
}

// Wall and CPU time of a region.
struct Timer {
  double wall0 = now_ms(), cpu0 = cpu_ms();
  double wall() const { return now_ms() - wall0; }
  double cpu() const { return cpu_ms() - cpu0; }
};

inline double percentile(std::vector<double> v, double p) {
  if (v.empty()) return 0;
  std::sort(v.begin(), v.end());
  size_t idx = static_cast<size_t>(p / 100.0 * static_cast<double>(v.size() - 1) + 0.5);
  return v[std::min(idx, v.size() - 1)];
}

// Current resident set size in MiB (VmRSS).
inline double rss_mib() {
  std::ifstream f("/proc/self/status");
  std::string line;
  while (std::getline(f, line))
    if (line.rfind("VmRSS:", 0) == 0) return std::atof(line.c_str() + 6) / 1024.0;
  return 0;
}

inline double peak_rss_mib() {
  rusage ru{};
  getrusage(RUSAGE_SELF, &ru);
  return static_cast<double>(ru.ru_maxrss) / 1024.0;
}

// --name VALUE flags into size_t; unknown flags are an error.
inline bool parse_size_flag(int& i, int argc, char** argv, const char* name, size_t& out) {
  if (std::strcmp(argv[i], name) != 0) return false;
  if (i + 1 >= argc) {
    std::fprintf(stderr, "%s needs a value\n", name);
    std::exit(2);
  }
  out = std::strtoull(argv[++i], nullptr, 10);
  return true;
}

// UDP datagrams/s over loopback (tracked, one established entry) for `secs`,
// in the network namespace the caller is in (netpol-bench-flows, -spoof).
inline double udp_loopback_pps(double secs) {
  int rx = socket(AF_INET, SOCK_DGRAM, 0), tx = socket(AF_INET, SOCK_DGRAM, 0);
  sockaddr_in a{};
  a.sin_family = AF_INET;
  a.sin_port = htons(9999);
  a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  bind(rx, reinterpret_cast<sockaddr*>(&a), sizeof a);
  connect(tx, reinterpret_cast<sockaddr*>(&a), sizeof a);
  std::atomic<bool> stop{false};
  std::atomic<uint64_t> got{0};
  std::thread reader([&] {
    char buf[64];
    timeval tv{0, 100000};
    setsockopt(rx, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof tv);
    while (!stop) {
      if (recv(rx, buf, sizeof buf, 0) > 0) ++got;
    }
  });
  const auto t0 = std::chrono::steady_clock::now();
  const char msg[16] = "x";
  double elapsed = 0;
  while ((elapsed = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count()) <
         secs) {
    for (int i = 0; i < 64; ++i) (void)!send(tx, msg, sizeof msg, MSG_DONTWAIT);
  }
  stop = true;
  reader.join();
  close(rx);
  close(tx);
  return static_cast<double>(got.load()) / elapsed;
}

}  // namespace netpol::bench
