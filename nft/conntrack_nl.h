// NlConntrack: nft::Conntrack through ctnetlink, messages built and parsed
// by libnl-nf (nfnl_ct_*), moved by the one socket helper (nft/nl_socket.h).
// list() is one dump filtered here (the kernel filters dumps by mark and
// zone only); remove() sends every delete in one sendmsg per 64 KiB and
// drains the ACKs. Opened in the calling thread's network namespace. No
// libnl header here. Not thread-safe: one per thread.
#pragma once

#include <memory>

#include "nft/conntrack.h"

namespace netpol::nft {

class NlConntrack : public Conntrack {
 public:
  static Result<std::unique_ptr<NlConntrack>> open();
  ~NlConntrack() override;

  Result<std::vector<Flow>> list(const std::set<IpAddr>& addrs) override;
  Result<size_t> remove(const std::vector<Flow>& flows) override;

 private:
  struct Impl;
  explicit NlConntrack(std::unique_ptr<Impl> impl);
  std::unique_ptr<Impl> impl_;
};

}  // namespace netpol::nft
