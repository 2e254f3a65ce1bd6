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
#include <chrono>
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
// 7000 (IPv4 and IPv6) and UDP echo on 7001, until the test ends; and servers
// that also send on their own, every 50 ms ('p'): TCP 7002 to each connection,
// UDP 7003 to the last peer heard from (IPv4).
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
    auto listen_on = [&](int fam, int type, uint16_t port) {
      int fd = socket(fam, type | SOCK_NONBLOCK, 0);
      int one = 1;
      setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one);
      if (fam == AF_INET6) setsockopt(fd, IPPROTO_IPV6, IPV6_V6ONLY, &one, sizeof one);
      sockaddr_storage ss{};
      socklen_t len;
      if (fam == AF_INET) {
        auto* a = reinterpret_cast<sockaddr_in*>(&ss);
        a->sin_family = AF_INET;
        a->sin_port = htons(port);
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
    listen_on(AF_INET, SOCK_STREAM, 7000);
    listen_on(AF_INET6, SOCK_STREAM, 7000);
    listen_on(AF_INET, SOCK_DGRAM, 7001);
    listen_on(AF_INET, SOCK_STREAM, 7002);
    listen_on(AF_INET, SOCK_DGRAM, 7003);
    std::vector<int> pushed;  // accepted on 7002
    sockaddr_storage udp_peer{};
    socklen_t udp_peer_len = 0;
    auto last_push = std::chrono::steady_clock::now();
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
      if (auto now = std::chrono::steady_clock::now();
          now - last_push >= std::chrono::milliseconds(50)) {
        last_push = now;
        const char push = 'p';
        for (int c : pushed) (void)!send(c, &push, 1, MSG_NOSIGNAL);
        if (udp_peer_len) {
          sendto(fds[4], &push, 1, 0, reinterpret_cast<sockaddr*>(&udp_peer), udp_peer_len);
        }
      }
      if (poll(p.data(), p.size(), 20) <= 0) continue;
      for (size_t i = 0; i < p.size(); ++i) {
        if (!(p[i].revents & POLLIN)) continue;
        if (i < 2 || i == 3) {
          int c = accept4(fds[i], nullptr, nullptr, SOCK_NONBLOCK);
          if (c >= 0) fds.push_back(c);
          if (c >= 0 && i == 3) pushed.push_back(c);
        } else if (i == 2 || i == 4) {
          sockaddr_storage from{};
          socklen_t len = sizeof from;
          ssize_t n =
              recvfrom(fds[i], buf, sizeof buf, 0, reinterpret_cast<sockaddr*>(&from), &len);
          if (n > 0) sendto(fds[i], buf, n, 0, reinterpret_cast<sockaddr*>(&from), len);
          if (n > 0 && i == 4) udp_peer = from, udp_peer_len = len;
        } else {
          ssize_t n = recv(fds[i], buf, sizeof buf, 0);
          if (n > 0) (void)!send(fds[i], buf, n, 0);
        }
      }
    }
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

// Sends a byte and waits up to `ms` for its echo, skipping what the server
// sends on its own ('p').
bool echoes_among_pushes(int fd, int ms) {
  char c = 'x';
  if (send(fd, &c, 1, MSG_NOSIGNAL) != 1) return false;
  const auto end = std::chrono::steady_clock::now() + std::chrono::milliseconds(ms);
  for (;;) {
    const auto left = std::chrono::duration_cast<std::chrono::milliseconds>(
        end - std::chrono::steady_clock::now());
    pollfd p{fd, POLLIN, 0};
    if (left.count() <= 0 || poll(&p, 1, static_cast<int>(left.count())) != 1) return false;
    char buf[256];
    ssize_t n = recv(fd, buf, sizeof buf, MSG_DONTWAIT);
    if (n <= 0) return false;
    if (std::find(buf, buf + n, 'x') != buf + n) return true;
  }
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

// The node's rules for one direction of the lab: `out` (output hook) sees the
// client's packets, `in` (input hook) the server's, as netpol's one forward
// chain sees both. Loaded into the lab's node namespace.
int load(Netns& node, const std::string& out, const std::string& in) {
  return node
      .run({"nft", "-f", "-"},
           "table inet t\ndelete table inet t\ntable inet t {\n"
           "  chain out {\n    type filter hook output priority 0;\n"
           "    ct state established,related accept\n" +
               out + "  }\n  chain in {\n    type filter hook input priority 0;\n" + in +
               "  }\n}\n")
      .status;
}

const Flow* from_server(const std::vector<Flow>& flows, uint8_t proto, uint16_t sport) {
  for (const Flow& f : flows) {
    if (f.proto == proto && f.src == ip("10.9.0.2") && f.sport == sport) return &f;
  }
  return nullptr;
}

// The reverse-direction gap of docs/flows.md. After a cut, the server sends
// first (it pushes every 50 ms). TCP: without netpol's base-chain rule
// `ct state new tcp flags & (syn | ack) != syn drop`, the server's mid-stream
// segment starts an entry the other way round (the client's ingress allows the
// server), and the client's packets, denied in their own direction, then pass
// as that entry's replies; with the rule the connection stays cut. UDP: the
// server's datagram is a new flow of its own, judged by the client's ingress
// (and the server's egress): allowed, the client's datagrams are its replies
// (NetworkPolicy allows replies; nothing tells this flow from one the server
// opens anew); denied, the flow stays cut.
TEST(Conntrack, TheOtherEndSendingFirstAfterACutReopensTcpOnlyWithoutTheNonSynRule) {
  const std::string non_syn = "    ct state new tcp flags & (syn | ack) != syn drop\n";
  // (netpol's rule in place, the client's ingress denies the server's UDP)
  for (auto [rule, udp_ingress_denied] :
       {std::pair{false, false}, std::pair{true, false}, std::pair{true, true}}) {
    SCOPED_TRACE(std::string(rule ? "with the non-SYN rule" : "without it") +
                 (udp_ingress_denied ? ", UDP from the server denied" : ""));
    std::string why;
    auto node = Netns::create(&why);
    if (!node) GTEST_SKIP() << why;
    auto sh = [&](const std::string& cmd) { return node->run({"sh", "-c", cmd}); };
    ASSERT_EQ(sh("ip link set lo up && ip link add va type veth peer name vb").status, 0);
    Pod pod;
    ASSERT_EQ(sh("ip link set vb netns " + std::to_string(pod.tid()) +
                 " && ip addr add 10.9.0.1/24 dev va && ip link set va up")
                  .status,
              0);
    pod.moved();
    ASSERT_TRUE(pod.ok());
    const std::string base = rule ? non_syn : "";
    ASSERT_EQ(load(*node, base, base), 0);
    int tcp = connect_to("10.9.0.2", SOCK_STREAM, 7002);
    int udp = connect_to("10.9.0.2", SOCK_DGRAM, 7003);
    ASSERT_GE(tcp, 0);
    ASSERT_GE(udp, 0);
    ASSERT_TRUE(echoes_among_pushes(tcp, 1000));
    ASSERT_TRUE(echoes_among_pushes(udp, 1000));

    // The tightening: the client may no longer open either flow.
    ASSERT_EQ(load(*node,
                   base + "    tcp dport 7002 ct state new drop\n"
                          "    udp dport 7003 ct state new drop\n",
                   base + (udp_ingress_denied ? "    udp sport 7003 ct state new drop\n" : "")),
              0);
    auto ct = NlConntrack::open();
    ASSERT_TRUE(ct.ok()) << ct.status().str();
    auto flows = ct.value()->list({ip("10.9.0.2")}).value();
    const Flow* t = find(flows, IPPROTO_TCP, ip("10.9.0.2"), 7002, Family::V4);
    const Flow* u = find(flows, IPPROTO_UDP, ip("10.9.0.2"), 7003, Family::V4);
    ASSERT_TRUE(t && u);
    ASSERT_EQ(ct.value()->remove({*t, *u}).value(), 2u);

    // The server pushes into the cut for a while; then the client sends.
    usleep(300 * 1000);
    auto after = ct.value()->list({ip("10.9.0.2")}).value();
    EXPECT_EQ(from_server(after, IPPROTO_TCP, 7002) != nullptr, !rule);
    EXPECT_EQ(echoes_among_pushes(tcp, 500), !rule);
    EXPECT_EQ(from_server(after, IPPROTO_UDP, 7003) != nullptr, !udp_ingress_denied);
    EXPECT_EQ(echoes_among_pushes(udp, 500), !udp_ingress_denied);
    close(tcp);
    close(udp);
  }
}

}  // namespace
}  // namespace netpol::nft
