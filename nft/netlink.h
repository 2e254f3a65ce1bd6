// NetlinkBackend: programs nftables through netlink (libnftnl + libmnl), the
// way the agent talks to the kernel.
//
// A Transaction becomes ONE nfnetlink batch (BEGIN, one message per kernel
// object change, END) sent in one sendmsg, so the kernel applies all of it or
// none of it. Every message carries its own sequence number and asks for an
// ACK; every ACK is drained, and a kernel error is mapped back through its
// sequence number to the op that caused it ("add rule ingress-X: kernel: No
// such file or directory"). Socket buffers are sized to the batch; EINTR is
// retried; lost ACKs (ENOBUFS) are reported as "outcome unknown", never as
// success. check() sends the same batch without its END, which makes the kernel
// validate every message and then abort: a dry run that changes nothing.
//
// The objects are encoded exactly as nft 1.0.6 encodes them (same expressions,
// registers, set flags, user data), so `nft list` shows the same text for a
// table loaded either way (tests/unit/netlink/equivalence_test.cpp).
//
// The socket belongs to the network namespace the calling thread was in when
// open() ran. This header never includes libnftnl or libmnl; nothing here
// throws. Not thread-safe: one backend per thread.
#pragma once

#include <cstddef>
#include <cstdint>
#include <memory>
#include <optional>
#include <string>

#include "nft/kernel.h"
#include "nft/objects.h"
#include "nft/status.h"
#include "nft/transaction.h"

namespace netpol::nft {

struct NetlinkOptions {
  // Size of one batch buffer page (at least 128 KiB, the largest message);
  // a batch spans as many pages as it needs and is still sent in one sendmsg
  // (one iovec per page, so at most IOV_MAX pages).
  uint32_t page_bytes = 1u << 20;
  // How long to wait for ACKs the kernel has not queued yet (they are normally
  // all queued before sendmsg returns: the kernel runs the batch synchronously).
  int ack_timeout_ms = 10000;
  // Receive buffer for the ACKs: 0 sizes it to the batch (the default, so no
  // ACK is ever dropped); a fixed size is for fault-injection tests, which
  // make the kernel drop ACKs (ENOBUFS) to exercise the "outcome unknown" path.
  uint32_t rcvbuf_bytes = 0;
};

// What the last apply()/check() did, for metrics, logs and benchmarks.
struct BatchStats {
  size_t ops = 0;       // Transaction ops
  size_t messages = 0;  // netlink messages between BEGIN and END
  size_t bytes = 0;     // whole batch, BEGIN and END included
  size_t acks = 0;      // ACKs and errors received
  size_t iovecs = 0;    // pages sent in the one sendmsg
  int sndbuf = 0;       // socket buffer sizes in force for the batch
  int rcvbuf = 0;
  // Where the time went: building the batch, the sendmsg (the kernel runs
  // the whole batch, commit included, inside it), draining the ACKs.
  double encode_ms = 0, send_ms = 0, ack_ms = 0;
  // Index in tx.ops() of the op the kernel refused first; nullopt on success
  // or when the error belongs to no single op (commit failure, lost ACKs).
  // The errno of a failure travels in the returned Status (errnum()).
  std::optional<size_t> failed_op;
};

class NetlinkBackend final : public Kernel {
 public:
  // Opens the netlink sockets in the caller's current network namespace.
  static Result<std::unique_ptr<NetlinkBackend>> open(NetlinkOptions options = {});
  ~NetlinkBackend() override;
  NetlinkBackend(const NetlinkBackend&) = delete;
  NetlinkBackend& operator=(const NetlinkBackend&) = delete;

  Status commit(const Transaction& tx) override;
  // Validates `tx` in the kernel without applying it (batch without END).
  Status check(const Transaction& tx);
  // Reads the table back (nft/readback.h).
  Result<std::optional<Ruleset>> read(TableFamily family, const std::string& name) override;
  Result<uint32_t> generation() override;

  const BatchStats& last_batch() const;

 private:
  struct Impl;
  explicit NetlinkBackend(std::unique_ptr<Impl> impl);
  std::unique_ptr<Impl> impl_;
};

}  // namespace netpol::nft
