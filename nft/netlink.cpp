#include "nft/netlink.h"

#include <linux/netlink.h>
#include <sys/uio.h>

#include <cerrno>
#include <chrono>
#include <climits>
#include <ctime>
#include <utility>
#include <vector>

#include "nft/nl_encode.h"
#include "nft/nl_socket.h"
#include "nft/readback.h"

namespace netpol::nft {

namespace {

// Receive-buffer charge of one ACK (skb truesize with NETLINK_CAP_ACK is ~0.7 KiB).
constexpr size_t kAckTruesize = 1024;

double ms_since(std::chrono::steady_clock::time_point t) {
  return std::chrono::duration<double, std::milli>(std::chrono::steady_clock::now() - t).count();
}

}  // namespace

struct NetlinkBackend::Impl {
  Impl(NetlinkOptions o, netpol::nl::Socket s) : options(o), sock(std::move(s)) {}

  NetlinkOptions options;
  netpol::nl::Socket sock;
  uint32_t seq = 0;
  BatchStats stats;
  std::unique_ptr<TableReader> reader;

  Status run(const Transaction& tx, bool commit);
};

NetlinkBackend::NetlinkBackend(std::unique_ptr<Impl> impl) : impl_(std::move(impl)) {}
NetlinkBackend::~NetlinkBackend() = default;

Result<std::unique_ptr<NetlinkBackend>> NetlinkBackend::open(NetlinkOptions options) {
  auto sock = netpol::nl::Socket::open(NETLINK_NETFILTER);
  if (!sock.ok()) return sock.status();
  auto impl = std::make_unique<Impl>(options, std::move(sock).value());
  // Error messages from the kernel (extended ACK), and ACKs without a copy of
  // the request: a 100k-message batch must not echo itself back.
  (void)impl->sock.set_option(NETLINK_EXT_ACK, 1);
  (void)impl->sock.set_option(NETLINK_CAP_ACK, 1);
  // A fixed receive buffer (fault-injection tests): set once, never grown.
  if (options.rcvbuf_bytes > 0) impl->sock.set_rcvbuf(options.rcvbuf_bytes);
  impl->seq = static_cast<uint32_t>(std::time(nullptr));
  auto reader = TableReader::open();
  if (!reader.ok()) return reader.status();
  impl->reader = std::move(reader).value();
  return std::unique_ptr<NetlinkBackend>(new NetlinkBackend(std::move(impl)));
}

Status NetlinkBackend::commit(const Transaction& tx) {
  return impl_->run(tx, true);
}

Status NetlinkBackend::check(const Transaction& tx) {
  return impl_->run(tx, false);
}

Result<std::optional<Ruleset>> NetlinkBackend::read(TableFamily family, const std::string& name) {
  return impl_->reader->read(family, name);
}

Result<uint32_t> NetlinkBackend::generation() {
  return impl_->reader->generation();
}

const BatchStats& NetlinkBackend::last_batch() const {
  return impl_->stats;
}

Status NetlinkBackend::Impl::run(const Transaction& tx, bool commit) {
  stats = BatchStats{};
  stats.ops = tx.ops().size();
  if (!tx.ok()) return tx.status();  // never half a transaction
  if (tx.empty()) return {};
  const auto t0 = std::chrono::steady_clock::now();
  auto encoded = nl::encode(tx, std::min(options.page_bytes, nl::page_bytes_for(tx)), seq, commit);
  if (!encoded.ok()) return encoded.status();
  const nl::Batch& batch = encoded.value();
  stats.encode_ms = ms_since(t0);
  seq = batch.end_seq;
  stats.messages = batch.messages();

  const size_t pages = batch.page_count();
  if (pages > IOV_MAX) {
    return Error{"netlink: batch of " + std::to_string(pages) +
                 " pages exceeds one sendmsg; raise NetlinkOptions::page_bytes"};
  }
  const std::vector<iovec> iov = batch.pages();
  for (const iovec& v : iov) stats.bytes += v.iov_len;
  stats.iovecs = iov.size();
  if (stats.bytes != batch.built_bytes) {
    return Error{"netlink: batch lost messages while paging (" + std::to_string(batch.built_bytes) +
                 " bytes built, " + std::to_string(stats.bytes) + " queued); not sent"};
  }

  // The whole batch must fit the send buffer (one skb), and every ACK the
  // receive buffer, or the kernel drops them (ENOBUFS).
  stats.sndbuf = sock.grow_sndbuf(stats.bytes + (64u << 10));
  stats.rcvbuf = options.rcvbuf_bytes > 0
                     ? sock.rcvbuf()
                     : sock.grow_rcvbuf(stats.messages * kAckTruesize + (256u << 10));

  // BEGIN, the messages (each asks for an ACK), END.
  auto sent = sock.batch(iov, batch.first_seq, stats.messages + (commit ? 2 : 1), 1, stats.messages,
                         options.ack_timeout_ms);
  if (!sent.ok()) return sent.status();
  const netpol::nl::BatchReply& reply = sent.value();
  stats.send_ms = reply.send_ms;
  stats.ack_ms = reply.ack_ms;
  stats.acks = reply.acked;

  size_t errors = 0;
  std::string first_error;
  int first_errno = 0;
  std::optional<int> commit_error;
  std::string commit_extack;
  for (const netpol::nl::Nack& n : reply.errors) {
    if (n.index == 0) {
      // Errors about the batch as a whole (e.g. the commit) come on BEGIN.
      commit_error = n.error;
      commit_extack = n.extack;
      continue;
    }
    auto op = batch.op_at(n.index);
    if (!op) continue;
    ++errors;
    if (!stats.failed_op) {
      stats.failed_op = op;
      first_errno = n.error;
      first_error = nl::describe(tx.ops()[*op]) + ": kernel: " + errno_text(n.error);
      if (!n.extack.empty()) first_error += " (" + n.extack + ")";
    }
  }

  const char* what = commit ? "batch" : "check";
  if (errors > 0) {
    std::string msg = first_error;
    if (errors > 1) msg += " (and " + std::to_string(errors - 1) + " more errors)";
    return Error{msg + "; " + what + " of " + std::to_string(stats.ops) + " ops not applied",
                 code_of_errno(first_errno), first_errno};
  }
  if (commit_error) {
    std::string msg =
        std::string("netlink: kernel refused to commit the batch: ") + errno_text(*commit_error);
    if (!commit_extack.empty()) msg += " (" + commit_extack + ")";
    return Error{msg, code_of_errno(*commit_error), *commit_error};
  }
  if (reply.lost || reply.acked < stats.messages) {
    const int e = reply.lost ? ENOBUFS : ETIMEDOUT;
    return Error{std::string("netlink: ") + std::to_string(stats.messages - reply.acked) + " of " +
                     std::to_string(stats.messages) + " ACKs " +
                     (reply.lost ? "lost (ENOBUFS)" : "missing") + "; outcome of the " + what +
                     " unknown",
                 code_of_errno(e), e};
  }
  return {};
}

}  // namespace netpol::nft
