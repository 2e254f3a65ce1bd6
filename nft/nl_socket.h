// nl::Socket: the one netlink socket helper of netpol (nftables' src/mnl.c,
// reduced to what we need). It opens and binds a netlink socket of a given
// protocol in the calling thread's network namespace and moves messages:
//   batch()    a batch of messages (BEGIN .. END, one sequence number each) in
//              ONE sendmsg, then every ACK drained and mapped back from its
//              sequence number to the message index (mnl_batch_talk);
//   request()  one request, or a dump, and every answer until its ACK/DONE;
//   receive()  what the kernel sends unasked (NFLOG packets, multicast events).
// EINTR is retried everywhere; a kernel error comes back as a Status carrying
// its errno (ENOENT: no such object; EINTR from a dump: interrupted by a
// commit, read again); ENOBUFS while draining ACKs means the kernel dropped
// answers: batch() says so (lost), and the caller reports "outcome unknown".
//
// It never builds or parses the payload of a message: callers build messages
// with whatever library owns that protocol and parse the answers in their
// callbacks. That is how it is reused:
//   - nf_tables (nft/netlink.cpp, nft/readback.cpp): libnftnl writes the
//     messages, libnftnl parses the answers;
//   - NFLOG and rule counters (agent/audit/kernel.cpp): libmnl/libnftnl;
//   - conntrack (libnl-nf) and link/route events (libnl-route), next: build
//     the request with libnl (nfnl_ct_build_delete_request, rtnl_link_build_*)
//     and pass nlmsg_hdr(msg) to request()/batch(); parse answers with libnl's
//     *_parse / nl_msg_parse from a nlmsghdr; subscribe to multicast groups
//     with set_option(NETLINK_ADD_MEMBERSHIP, group) and read with receive().
//
// This header includes no libmnl or libnftnl (the socket is a forward-declared
// libmnl handle). Never throws. Not thread-safe: one socket per thread.
#pragma once

#include <linux/netlink.h>
#include <sys/uio.h>

#include <cstddef>
#include <cstdint>
#include <functional>
#include <memory>
#include <span>
#include <string>
#include <vector>

#include "k8s/status.h"

struct mnl_socket;

namespace netpol::nl {

// Every answer message of a request, in order (data, never ACK/DONE/errors).
using Each = std::function<void(const nlmsghdr*)>;

// An error answer to one message of a batch.
struct Nack {
  size_t index = 0;    // of the message in the batch (its seq - the first seq)
  int error = 0;       // errno
  std::string extack;  // the kernel's extended ACK text, if it sent one
};

// What came back for one batch.
struct BatchReply {
  size_t acked = 0;          // ACKs (success or error) of the messages that asked for one
  std::vector<Nack> errors;  // every error answer to a message of the batch, in arrival order
  bool lost = false;         // the kernel dropped answers (ENOBUFS): the outcome is unknown
  double send_ms = 0;        // the sendmsg (the kernel runs the whole batch inside it)
  double ack_ms = 0;         // draining the answers
};

class Socket {
 public:
  // socket(AF_NETLINK, protocol) and bind (kernel-assigned port id):
  // "netlink: cannot open socket: ...", "netlink: cannot bind socket: ...".
  static Result<Socket> open(int protocol);
  Socket(Socket&&) noexcept;
  Socket& operator=(Socket&&) noexcept;
  ~Socket();

  int fd() const;
  uint32_t portid() const;
  // Sequence numbers for requests: one more per call, starting at the time
  // the socket was opened (so answers to an earlier process never match).
  uint32_t next_seq() { return ++seq_; }

  // setsockopt(SOL_NETLINK, option, value): NETLINK_EXT_ACK, NETLINK_CAP_ACK,
  // NETLINK_ADD_MEMBERSHIP, ...
  Status set_option(int option, int value);
  // Grows the send/receive buffer to at least `bytes` (SO_*BUFFORCE, which
  // needs CAP_NET_ADMIN, else SO_*BUF, capped by net.core.*mem_max); returns
  // the size in force (the kernel reports twice what it was given).
  int grow_sndbuf(size_t bytes);
  int grow_rcvbuf(size_t bytes);
  // Sets the receive buffer to `bytes` once, never grown afterwards.
  int set_rcvbuf(size_t bytes);
  int rcvbuf() const;

  // Sends `pages` (messages numbered first_seq, first_seq + 1, ...; `messages`
  // of them) in one sendmsg, then drains answers until each of the `acks`
  // messages from index `ack_from` on has its ACK, the kernel dropped some
  // (ENOBUFS), or `timeout_ms` passes without one. Answers to other sequence
  // numbers (late answers to an earlier batch) are ignored. Fails only when
  // the batch could not be sent or the socket broke, never for a Nack.
  Result<BatchReply> batch(std::span<const iovec> pages, uint32_t first_seq, size_t messages,
                           size_t ack_from, size_t acks, int timeout_ms);

  // Sends one message (its nlmsg_seq set by the caller, from next_seq()) and
  // feeds every data message of the answer to `each` until the ACK, the error
  // or the end of the dump.
  Status request(const nlmsghdr* msg, const Each& each);

  // Waits up to timeout_ms for messages, then feeds every queued message to
  // `each` without blocking. `overflows` grows by one each time the kernel
  // dropped messages (ENOBUFS). A signal during the wait is not an error.
  Status receive(int timeout_ms, const Each& each, uint64_t& overflows);

 private:
  struct Close {
    void operator()(mnl_socket* s) const;
  };
  Socket(std::unique_ptr<mnl_socket, Close> sock, uint32_t seq);
  std::vector<char>& buffer();

  std::unique_ptr<mnl_socket, Close> sock_;
  uint32_t seq_ = 0;
  std::vector<char> buf_;  // 256 KiB, allocated on first use
};

}  // namespace netpol::nl
