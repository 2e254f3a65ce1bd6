// netpol-audit-connbench: new TCP connections per second, for measuring what
// the audit rules cost allowed traffic (tests/e2e/audit_lab.py bench). A
// compiled client, so the kernel's share of the cost is not hidden behind an
// interpreter's.
//
//   netpol-audit-connbench server IP PORT            accept and close, forever
//   netpol-audit-connbench client IP PORT SECONDS    connect+close in a loop; prints conn/s
#include <arpa/inet.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <unistd.h>

#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <cstring>

namespace {

sockaddr_in addr(const char* ip, int port) {
  sockaddr_in a{};
  a.sin_family = AF_INET;
  a.sin_port = htons(static_cast<uint16_t>(port));
  inet_pton(AF_INET, ip, &a.sin_addr);
  return a;
}

int server(const char* ip, int port) {
  int s = socket(AF_INET, SOCK_STREAM, 0);
  int one = 1;
  setsockopt(s, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one);
  sockaddr_in a = addr(ip, port);
  if (bind(s, reinterpret_cast<sockaddr*>(&a), sizeof a) != 0 || listen(s, 4096) != 0) {
    std::perror("server");
    return 1;
  }
  std::printf("up\n");
  std::fflush(stdout);
  for (;;) {
    int c = accept(s, nullptr, nullptr);
    if (c >= 0) close(c);
  }
}

int client(const char* ip, int port, double seconds) {
  sockaddr_in a = addr(ip, port);
  // RST on close: no TIME_WAIT pile-up, every connection a fresh 4-tuple.
  linger lg{1, 0};
  long n = 0, failed = 0;
  auto end = std::chrono::steady_clock::now() + std::chrono::duration<double>(seconds);
  while (std::chrono::steady_clock::now() < end) {
    int s = socket(AF_INET, SOCK_STREAM, 0);
    setsockopt(s, SOL_SOCKET, SO_LINGER, &lg, sizeof lg);
    if (connect(s, reinterpret_cast<sockaddr*>(&a), sizeof a) == 0) {
      ++n;
    } else {
      ++failed;
    }
    close(s);
  }
  std::printf("%.1f %ld\n", static_cast<double>(n) / seconds, failed);
  return 0;
}

}  // namespace

int main(int argc, char** argv) {
  if (argc == 4 && std::strcmp(argv[1], "server") == 0) return server(argv[2], std::atoi(argv[3]));
  if (argc == 5 && std::strcmp(argv[1], "client") == 0) {
    return client(argv[2], std::atoi(argv[3]), std::atof(argv[4]));
  }
  std::fprintf(stderr, "usage: %s server IP PORT | client IP PORT SECONDS\n", argv[0]);
  return 2;
}
