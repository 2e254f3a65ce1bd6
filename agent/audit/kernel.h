// The audit listener's two windows on the kernel, behind interfaces so the
// Auditor can be tested with fakes:
//   LogSource      NFLOG messages of one group (the logged packets)
//   CounterSource  the counters behind the logging rules of one pod chain
//                  (connection attempts over the rate limit), read and reset
// and their netlink implementations (libmnl, libnftnl), which work in the
// network namespace of the calling thread at open().
//
// Never throws; every failure is a Status naming what failed.
#pragma once

#include <cstdint>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "k8s/status.h"

namespace netpol::audit {

struct LogRecord {
  std::string prefix;            // without the trailing NUL
  std::vector<uint8_t> payload;  // from the network header on (maybe cut at copy_bytes)
};

class LogSource {
 public:
  virtual ~LogSource() = default;
  // Waits up to timeout_ms for messages and appends what arrived to `out`.
  // `lost` grows by the number of messages the kernel could not deliver
  // (NFLOG sequence gaps; the socket's receive queue overflowed).
  virtual Status receive(std::vector<LogRecord>& out, int timeout_ms, uint64_t& lost) = 0;
};

struct CounterReading {
  std::string prefix;  // prefix of the logging rule the counter stands behind
  uint64_t packets = 0;
};

class CounterSource {
 public:
  virtual ~CounterSource() = default;
  // The packets counted in `chain` of table inet `table` since the previous
  // call for that chain (or since the rule was created), one reading per counter.
  virtual Result<std::vector<CounterReading>> take(const std::string& table,
                                                   const std::string& chain) = 0;
};

struct NflogOptions {
  uint16_t group = 0;
  uint32_t copy_bytes = 256;        // packet bytes per message: headers are all we need
  // Messages the kernel batches before sending, or after this many 1/100 s.
  // One: the rate limits already bound the message rate, and a line should
  // reach the file in milliseconds, not after a batch fills.
  uint32_t queue_threshold = 1;
  uint32_t flush_timeout_cs = 10;
  uint32_t rcvbuf_bytes = 4 << 20;  // socket receive buffer (SO_RCVBUFFORCE)
};

// Binds NFLOG group `options.group` in the current network namespace. Fails
// (EBUSY) if another listener holds the group.
Result<std::unique_ptr<LogSource>> open_nflog(const NflogOptions& options);

// Reads rule counters through nf_tables (NFT_MSG_GETRULE_RESET; where the
// kernel lacks it, plain reads and the difference to the previous read).
Result<std::unique_ptr<CounterSource>> open_counters();

}  // namespace netpol::audit
