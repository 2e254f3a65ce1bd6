// NlConntrack against the kernel: entries made by real TCP and UDP traffic
// between two network namespaces (a "node" and a "pod" joined by a veth),
// listed by address and deleted one by one; the entries not asked for stay;
// and the packet after a deletion is a new connection the ruleset judges
// (here a rule that drops new TCP to the port: the cut connection stalls
// while an untouched one keeps answering). Label netns; skipped without root.
#include <arpa/inet.h>
#include <gtest/gtest.h>
#include <netinet/in.h>
#include <poll.h>
#include <sched.h>
#include <sys/socket.h>
#include <sys/syscall.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <condition_variable>
#include <cstring>
#include <mutex>
#include <thread>

#include "nft/conntrack_nl.h"
#include "tests/support/netns.h"

namespace netpol::nft {
namespace {

using testsupport::Netns;

IpAddr ip(const char* s) {
  return *IpAddr::parse(s);
}

// The "pod": a thread in a network namespace of its own serving TCP echo on
// 7000 (IPv4 and IPv6) and UDP echo on 7001, until the test ends.
class Pod {
 public:
  Pod() {
    thread_ = std::thread([this] { run(); });
    std::unique_lock l(mu_);
    cv_.wait(l, [&] { return tid_ != 0; });
  }
  ~Pod() {
    stop_ = true;
    thread_.join();
  }
  pid_t tid() const { return tid_; }
  void moved() {
    std::unique_lock l(mu_);
    moved_ = true;
    cv_.notify_all();
    cv_.wait(l, [&] { return ready_; });
  }
  bool ok() const { return ok_; }

 private:
  void run() {
    bool ns = unshare(CLONE_NEWNET) == 0;
    {
      std::unique_lock l(mu_);
      tid_ = static_cast<pid_t>(syscall(SYS_gettid));
      cv_.notify_all();
      cv_.wait(l, [&] { return moved_; });
    }
    // Forked from this thread, so the commands run in its namespace.
    ns = ns && std::system(
                   "ip link set lo up && ip addr add 10.9.0.2/24 dev vb && "
                   "ip -6 addr add fd09::2/64 dev vb nodad && ip link set vb up") == 0;
    std::vector<int> fds;
    auto listen_on = [&](int fam, int type) {
      int fd = socket(fam, type | SOCK_NONBLOCK, 0);
      int one = 1;
      setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one);
      if (fam == AF_INET6) setsockopt(fd, IPPROTO_IPV6, IPV6_V6ONLY, &one, sizeof one);
      sockaddr_storage ss{};
      socklen_t len;
      if (fam == AF_INET) {
        auto* a = reinterpret_cast<sockaddr_in*>(&ss);
        a->sin_family = AF_INET;
        a->sin_port = htons(type == SOCK_STREAM ? 7000 : 7001);
        len = sizeof *a;
      } else {
        auto* a = reinterpret_cast<sockaddr_in6*>(&ss);
        a->sin6_family = AF_INET6;
        a->sin6_port = htons(type == SOCK_STREAM ? 7000 : 7001);
        len = sizeof *a;
      }
      ns = ns && bind(fd, reinterpret_cast<sockaddr*>(&ss), len) == 0 &&
           (type != SOCK_STREAM || listen(fd, 16) == 0);
      fds.push_back(fd);
    };
    listen_on(AF_INET, SOCK_STREAM);
    listen_on(AF_INET6, SOCK_STREAM);
    listen_on(AF_INET, SOCK_DGRAM);
    const size_t listeners = fds.size();
    {
      std::unique_lock l(mu_);
      ok_ = ns;
      ready_ = true;
      cv_.notify_all();
    }
    char buf[512];
    while (!stop_) {
      std::vector<pollfd> p;
      for (int fd : fds) p.push_back({fd, POLLIN, 0});
      if (poll(p.data(), p.size(), 20) <= 0) continue;
      for (size_t i = 0; i < p.size(); ++i) {
        if (!(p[i].revents & POLLIN)) continue;
        if (i < 2) {
          int c = accept4(fds[i], nullptr, nullptr, SOCK_NONBLOCK);
          if (c >= 0) fds.push_back(c);
        } else if (i == 2) {
          sockaddr_storage from{};
          socklen_t len = sizeof from;
          ssize_t n =
              recvfrom(fds[i], buf, sizeof buf, 0, reinterpret_cast<sockaddr*>(&from), &len);
          if (n > 0) sendto(fds[i], buf, n, 0, reinterpret_cast<sockaddr*>(&from), len);
        } else {
          ssize_t n = recv(fds[i], buf, sizeof buf, 0);
          if (n > 0) (void)!send(fds[i], buf, n, 0);
        }
      }
    }
    (void)listeners;
    for (int fd : fds) close(fd);
  }

  std::thread thread_;
  std::mutex mu_;
  std::condition_variable cv_;
  pid_t tid_ = 0;
  bool moved_ = false, ready_ = false, ok_ = false;
  std::atomic<bool> stop_{false};
};

int connect_to(const char* addr, int type, uint16_t port) {
  sockaddr_storage ss{};
  socklen_t len;
  int fam = std::strchr(addr, ':') ? AF_INET6 : AF_INET;
  if (fam == AF_INET) {
    auto* a = reinterpret_cast<sockaddr_in*>(&ss);
    a->sin_family = AF_INET;
    a->sin_port = htons(port);
    inet_pton(AF_INET, addr, &a->sin_addr);
    len = sizeof *a;
  } else {
    auto* a = reinterpret_cast<sockaddr_in6*>(&ss);
    a->sin6_family = AF_INET6;
    a->sin6_port = htons(port);
    inet_pton(AF_INET6, addr, &a->sin6_addr);
    len = sizeof *a;
  }
  int fd = socket(fam, type, 0);
  if (connect(fd, reinterpret_cast<sockaddr*>(&ss), len) != 0) {
    close(fd);
    return -1;
  }
  return fd;
}

// Sends a byte and waits up to `ms` for the echo.
bool echoes(int fd, int ms) {
  char c = 'x';
  if (send(fd, &c, 1, MSG_NOSIGNAL) != 1) return false;
  pollfd p{fd, POLLIN, 0};
  if (poll(&p, 1, ms) != 1) return false;
  return recv(fd, &c, 1, MSG_DONTWAIT) == 1;
}

const Flow* find(const std::vector<Flow>& flows, uint8_t proto, const IpAddr& dst, uint16_t port,
                 Family fam) {
  for (const Flow& f : flows) {
    if (f.proto == proto && f.dst == dst && f.dport == port && f.src.family == fam) return &f;
  }
  return nullptr;
}

TEST(Conntrack, ListsAndDeletesEntriesOfRealTrafficAndTheNextPacketMeetsTheRules) {
  std::string why;
  auto node = Netns::create(&why);
  if (!node) GTEST_SKIP() << why;
  auto sh = [&](const std::string& cmd) { return node->run({"sh", "-c", cmd}); };
  ASSERT_EQ(sh("ip link set lo up && ip link add va type veth peer name vb").status, 0);
  Pod pod;
  ASSERT_EQ(sh("ip link set vb netns " + std::to_string(pod.tid()) +
               " && ip addr add 10.9.0.1/24 dev va && ip -6 addr add fd09::1/64 dev va nodad && "
               "ip link set va up")
                .status,
            0);
  pod.moved();
  ASSERT_TRUE(pod.ok());

  // Conntrack tracks a namespace's packets only once a ruleset asks for it.
  ASSERT_EQ(node->run({"nft", "-f", "-"},
                      "table inet t {\n  chain out {\n    type filter hook output priority 0;\n    "
                      "ct state "
                      "established,related accept\n  }\n}\n")
                .status,
            0);
  int tcp4 = connect_to("10.9.0.2", SOCK_STREAM, 7000);
  int tcp6 = connect_to("fd09::2", SOCK_STREAM, 7000);
  int udp4 = connect_to("10.9.0.2", SOCK_DGRAM, 7001);
  ASSERT_GE(tcp4, 0);
  ASSERT_GE(tcp6, 0);
  ASSERT_GE(udp4, 0);
  ASSERT_TRUE(echoes(tcp4, 1000));
  ASSERT_TRUE(echoes(tcp6, 1000));
  ASSERT_TRUE(echoes(udp4, 1000));

  auto ct = NlConntrack::open();
  ASSERT_TRUE(ct.ok()) << ct.status().str();
  auto listed = ct.value()->list({ip("10.9.0.2"), ip("fd09::2")});
  ASSERT_TRUE(listed.ok()) << listed.status().str();
  const std::vector<Flow> flows = listed.value();
  const Flow* t4 = find(flows, IPPROTO_TCP, ip("10.9.0.2"), 7000, Family::V4);
  const Flow* t6 = find(flows, IPPROTO_TCP, ip("fd09::2"), 7000, Family::V6);
  const Flow* u4 = find(flows, IPPROTO_UDP, ip("10.9.0.2"), 7001, Family::V4);
  ASSERT_TRUE(t4 && t6 && u4) << flows.size() << " entries";
  EXPECT_EQ(t4->src, ip("10.9.0.1"));
  EXPECT_TRUE(t4->from_host);  // sent from an address of this namespace
  EXPECT_NE(t4->id, 0u);
  // An address no entry has: nothing.
  EXPECT_TRUE(ct.value()->list({ip("10.9.0.77")}).value().empty());

  // From here a NEW TCP packet of port 7000 is dropped (what a denying pod
  // chain does); established ones pass. Both directions: once its entry is
  // gone, the server's retransmission would otherwise be picked up as a new
  // entry in the reverse direction, and the client's next packet would then
  // pass as its reply (the reverse-direction gap of docs/flows.md; not what
  // this test is about, and it made the test depend on retransmission timing).
  ASSERT_EQ(node->run({"nft", "add", "rule", "inet", "t", "out", "tcp", "dport", "7000", "ct",
                       "state", "new", "drop"})
                .status,
            0);
  ASSERT_EQ(node->run({"nft", "add", "chain", "inet", "t", "in",
                       "{ type filter hook input priority 0; }"})
                .status,
            0);
  ASSERT_EQ(node->run({"nft", "add", "rule", "inet", "t", "in", "tcp", "sport", "7000", "ct",
                       "state", "new", "drop"})
                .status,
            0);
  ASSERT_TRUE(echoes(tcp4, 1000));

  // Delete the IPv4 TCP and the UDP entries only.
  auto removed = ct.value()->remove({*t4, *u4});
  ASSERT_TRUE(removed.ok()) << removed.status().str();
  EXPECT_EQ(removed.value(), 2u);
  // Deleting them again: already gone, not an error, nothing counted.
  EXPECT_EQ(ct.value()->remove({*t4}).value(), 0u);

  auto after = ct.value()->list({ip("10.9.0.2"), ip("fd09::2")}).value();
  EXPECT_FALSE(find(after, IPPROTO_TCP, ip("10.9.0.2"), 7000, Family::V4));
  EXPECT_FALSE(find(after, IPPROTO_UDP, ip("10.9.0.2"), 7001, Family::V4));
  ASSERT_TRUE(find(after, IPPROTO_TCP, ip("fd09::2"), 7000, Family::V6));

  // The cut connection's next packet is NEW (picked up mid-stream) and meets
  // the drop; the untouched one never notices.
  EXPECT_FALSE(echoes(tcp4, 300));
  EXPECT_TRUE(echoes(tcp6, 1000));
  // UDP: a new entry, no rule against it here, so it flows again.
  EXPECT_TRUE(echoes(udp4, 1000));
  close(tcp4);
  close(tcp6);
  close(udp4);
}

}  // namespace
}  // namespace netpol::nft
