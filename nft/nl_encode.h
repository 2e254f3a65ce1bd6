// The netlink encoder (nftables' netlink_linearize.c): a Transaction as ONE
// nfnetlink batch of libnftnl messages, exactly as nft 1.0.6 encodes the same
// objects (expressions, registers, set flags, user data), with the op each
// message belongs to. Builds bytes only: no socket, no I/O (nl_socket.h sends).
//
// Private to nft/'s netlink .cpp files: it pulls in libnftnl through
// nl_handles.h, which must never reach a public header.
#pragma once

#include <sys/uio.h>

#include <cstddef>
#include <cstdint>
#include <optional>
#include <string>
#include <vector>

#include "nft/nl_handles.h"
#include "nft/status.h"
#include "nft/transaction.h"

namespace netpol::nft::nl {

// One encoded batch: BEGIN (seq first_seq), one message per kernel object
// change, END unless it is a check. Messages are numbered consecutively.
struct Batch {
  Ptr<nftnl_batch> batch;
  uint32_t first_seq = 0;         // BEGIN's
  uint32_t end_seq = 0;           // one past the last number used
  std::vector<size_t> op_of_msg;  // index in tx.ops() of each message between BEGIN and END
  size_t built_bytes = 0;         // the sum of every message's length

  size_t messages() const { return op_of_msg.size(); }
  // The op of the message at `index` in the batch (0 is BEGIN); nullopt for
  // BEGIN, END and anything past them.
  std::optional<size_t> op_at(size_t index) const;
  // The pages to send in one sendmsg, one iovec each.
  size_t page_count() const;
  std::vector<iovec> pages() const;
};

// Encodes `tx` into pages of `page_bytes` (at least 128 KiB); without END when
// !commit (the kernel then validates every message and aborts). Fails, naming
// the op, for what the encoder cannot express.
Result<Batch> encode(const Transaction& tx, uint32_t page_bytes, uint32_t first_seq, bool commit);

// A page size for `tx`: small transactions (the incremental common case) get
// a small buffer, so a one-element change does not allocate a megabyte.
uint32_t page_bytes_for(const Transaction& tx);

// "add rule ingress-X \"comment\"": how an op is named in error messages.
std::string describe(const Op& op);

}  // namespace netpol::nft::nl
