// NlLinks: nft::Links through rtnetlink. Dump requests are built and the
// answers parsed by libnl-route (rtnl_link, rtnl_route, rtnl_neigh); the
// messages move through the one socket helper (nft/nl_socket.h): one socket
// for the dumps, one subscribed to the link/route/neighbour/address groups
// for wait(). Opened in the calling thread's network namespace. No libnl
// header here. Not thread-safe: one per thread.
#pragma once

#include <memory>

#include "nft/links.h"

namespace netpol::nft {

class NlLinks : public Links {
 public:
  static Result<std::unique_ptr<NlLinks>> open();
  ~NlLinks() override;

  Result<LinkState> read() override;
  Result<bool> wait(std::chrono::milliseconds timeout) override;

 private:
  struct Impl;
  explicit NlLinks(std::unique_ptr<Impl> impl);
  std::unique_ptr<Impl> impl_;
};

}  // namespace netpol::nft
