// RAII for libnftnl handles: one deleter for every handle type the netlink
// encoder (nl_encode.cpp), decoder (nl_decode.cpp), read-back (readback.cpp)
// and the audit listener's counter dumps own. (The netlink socket itself is
// nl::Socket, nft/nl_socket.h.)
//
// Private to .cpp files: it pulls in libnftnl headers, which must never reach
// a public header.
#pragma once

#include <libnftnl/batch.h>
#include <libnftnl/chain.h>
#include <libnftnl/expr.h>
#include <libnftnl/gen.h>
#include <libnftnl/rule.h>
#include <libnftnl/set.h>
#include <libnftnl/table.h>
#include <libnftnl/udata.h>

#include <memory>

namespace netpol::nft::nl {

struct Free {
  void operator()(nftnl_table* p) const { nftnl_table_free(p); }
  void operator()(nftnl_chain* p) const { nftnl_chain_free(p); }
  void operator()(nftnl_set* p) const { nftnl_set_free(p); }
  void operator()(nftnl_set_elem* p) const { nftnl_set_elem_free(p); }
  void operator()(nftnl_rule* p) const { nftnl_rule_free(p); }
  void operator()(nftnl_expr* p) const { nftnl_expr_free(p); }
  void operator()(nftnl_batch* p) const { nftnl_batch_free(p); }
  void operator()(nftnl_udata_buf* p) const { nftnl_udata_buf_free(p); }
  void operator()(nftnl_gen* p) const { nftnl_gen_free(p); }
};

template <typename T>
using Ptr = std::unique_ptr<T, Free>;

}  // namespace netpol::nft::nl
