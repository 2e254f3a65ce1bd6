#include "agent/audit/kernel.h"

#include <arpa/inet.h>
#include <libmnl/libmnl.h>
#include <libnftnl/expr.h>
#include <libnftnl/rule.h>
#include <linux/netfilter.h>
#include <linux/netfilter/nf_tables.h>
#include <linux/netfilter/nfnetlink.h>
#include <linux/netfilter/nfnetlink_log.h>

#include <cerrno>
#include <cstring>
#include <map>
#include <utility>

#include "nft/nl_handles.h"
#include "nft/nl_socket.h"

namespace netpol::audit {

namespace {

using nft::nl::Ptr;

// NFT_MSG_GETRULE_RESET (Linux 6.3), not in every userspace header.
constexpr uint16_t kMsgGetRuleReset = 25;

class Nflog : public LogSource {
 public:
  explicit Nflog(nl::Socket s, uint16_t group) : sock_(std::move(s)), group_(group) {}
  // Closing the socket would release the group too; unbinding says so explicitly.
  ~Nflog() override { (void)send_config(NFULNL_CFG_CMD_UNBIND, nullptr); }

  Status configure(const NflogOptions& o) {
    sock_.set_rcvbuf(o.rcvbuf_bytes);
    return send_config(NFULNL_CFG_CMD_BIND, &o);
  }

  Status receive(std::vector<LogRecord>& out, int timeout_ms, uint64_t& lost) override {
    // The kernel dropped messages when the socket overflowed (ENOBUFS); the
    // sequence gap tells how many.
    Status s = sock_.receive(
        timeout_ms, [&](const nlmsghdr* nlh) { parse(nlh, out, lost); }, overflows_);
    return s.context("NFLOG");
  }

 private:
  Status send_config(uint8_t cmd, const NflogOptions* o) {
    std::vector<char> buf(MNL_SOCKET_BUFFER_SIZE);
    nlmsghdr* nlh = mnl_nlmsg_put_header(buf.data());
    nlh->nlmsg_type = (NFNL_SUBSYS_ULOG << 8) | NFULNL_MSG_CONFIG;
    nlh->nlmsg_flags = NLM_F_REQUEST | NLM_F_ACK;
    nlh->nlmsg_seq = sock_.next_seq();
    auto* nfg = static_cast<nfgenmsg*>(mnl_nlmsg_put_extra_header(nlh, sizeof(nfgenmsg)));
    nfg->nfgen_family = AF_UNSPEC;
    nfg->version = NFNETLINK_V0;
    nfg->res_id = htons(group_);
    nfulnl_msg_config_cmd c{cmd};
    mnl_attr_put(nlh, NFULA_CFG_CMD, sizeof c, &c);
    if (o) {
      nfulnl_msg_config_mode mode{};
      mode.copy_range = htonl(o->copy_bytes);
      mode.copy_mode = NFULNL_COPY_PACKET;
      mnl_attr_put(nlh, NFULA_CFG_MODE, sizeof mode, &mode);
      mnl_attr_put_u32(nlh, NFULA_CFG_QTHRESH, htonl(o->queue_threshold));
      mnl_attr_put_u32(nlh, NFULA_CFG_TIMEOUT, htonl(o->flush_timeout_cs));
      mnl_attr_put_u16(nlh, NFULA_CFG_FLAGS, htons(NFULNL_CFG_F_SEQ));
    }
    Status s = sock_.request(nlh, [](const nlmsghdr*) {});
    return s.context(std::string(cmd == NFULNL_CFG_CMD_BIND ? "bind" : "unbind") + " NFLOG group " +
                     std::to_string(group_));
  }

  void parse(const nlmsghdr* nlh, std::vector<LogRecord>& out, uint64_t& lost) {
    if (nlh->nlmsg_type != ((NFNL_SUBSYS_ULOG << 8) | NFULNL_MSG_PACKET)) return;
    const nlattr* tb[NFULA_MAX + 1] = {};
    mnl_attr_parse(
        nlh, sizeof(nfgenmsg),
        [](const nlattr* a, void* data) -> int {
          auto** t = static_cast<const nlattr**>(data);
          uint16_t type = mnl_attr_get_type(a);
          if (type <= NFULA_MAX) t[type] = a;
          return MNL_CB_OK;
        },
        tb);
    if (tb[NFULA_SEQ] && mnl_attr_get_payload_len(tb[NFULA_SEQ]) >= 4) {
      uint32_t seq = ntohl(mnl_attr_get_u32(tb[NFULA_SEQ]));
      // Unsigned arithmetic copes with the wrap at 2^32.
      if (have_seq_ && seq != next_seq_) lost += static_cast<uint32_t>(seq - next_seq_);
      have_seq_ = true;
      next_seq_ = seq + 1;
    }
    LogRecord rec;
    if (tb[NFULA_PREFIX]) {
      const char* p = static_cast<const char*>(mnl_attr_get_payload(tb[NFULA_PREFIX]));
      rec.prefix.assign(p, strnlen(p, mnl_attr_get_payload_len(tb[NFULA_PREFIX])));
    }
    if (tb[NFULA_PAYLOAD]) {
      const auto* d = static_cast<const uint8_t*>(mnl_attr_get_payload(tb[NFULA_PAYLOAD]));
      rec.payload.assign(d, d + mnl_attr_get_payload_len(tb[NFULA_PAYLOAD]));
    }
    out.push_back(std::move(rec));
  }

  nl::Socket sock_;
  uint16_t group_;
  bool have_seq_ = false;
  uint32_t next_seq_ = 0;
  uint64_t overflows_ = 0;
};

class Counters : public CounterSource {
 public:
  explicit Counters(nl::Socket s) : sock_(std::move(s)) {}

  Result<std::vector<CounterReading>> take(const std::string& table,
                                           const std::string& chain) override {
    if (reset_supported_) {
      auto r = dump(table, chain, true);
      if (r.ok()) return r;
      // Kernels before 6.3 do not know the reset request: read and subtract.
      const Status why = r.status();
      if (why.code() != Code::Unsupported && why.errnum() != EINVAL) return r;
      reset_supported_ = false;
    }
    auto r = dump(table, chain, false);
    if (!r.ok()) return r;
    std::vector<CounterReading> out = std::move(r).value();
    for (CounterReading& c : out) {
      uint64_t& last = last_[chain + "\n" + c.prefix];
      // A refilled chain starts its counters from zero again.
      uint64_t delta = c.packets >= last ? c.packets - last : c.packets;
      last = c.packets;
      c.packets = delta;
    }
    return out;
  }

 private:
  Result<std::vector<CounterReading>> dump(const std::string& table, const std::string& chain,
                                           bool reset) {
    std::vector<char> buf(MNL_SOCKET_BUFFER_SIZE);
    nlmsghdr* nlh = nftnl_nlmsg_build_hdr(
        buf.data(), reset ? kMsgGetRuleReset : static_cast<uint16_t>(NFT_MSG_GETRULE), NFPROTO_INET,
        NLM_F_DUMP, sock_.next_seq());
    Ptr<nftnl_rule> filter(nftnl_rule_alloc());
    nftnl_rule_set_str(filter.get(), NFTNL_RULE_TABLE, table.c_str());
    nftnl_rule_set_str(filter.get(), NFTNL_RULE_CHAIN, chain.c_str());
    nftnl_rule_nlmsg_build_payload(nlh, filter.get());
    std::vector<CounterReading> out;
    std::string last_prefix;
    Status s = sock_.request(nlh, [&](const nlmsghdr* m) {
      Ptr<nftnl_rule> r(nftnl_rule_alloc());
      if (nftnl_rule_nlmsg_parse(m, r.get()) < 0) return;
      if (chain != nftnl_rule_get_str(r.get(), NFTNL_RULE_CHAIN)) return;
      nftnl_expr_iter* it = nftnl_expr_iter_create(r.get());
      if (!it) return;
      for (nftnl_expr* e = nftnl_expr_iter_next(it); e; e = nftnl_expr_iter_next(it)) {
        const char* name = nftnl_expr_get_str(e, NFTNL_EXPR_NAME);
        if (std::strcmp(name, "log") == 0 && nftnl_expr_is_set(e, NFTNL_EXPR_LOG_PREFIX)) {
          last_prefix = nftnl_expr_get_str(e, NFTNL_EXPR_LOG_PREFIX);
        } else if (std::strcmp(name, "counter") == 0) {
          out.push_back({last_prefix, nftnl_expr_get_u64(e, NFTNL_EXPR_CTR_PACKETS)});
        }
      }
      nftnl_expr_iter_destroy(it);
    });
    if (!s.ok()) return s.context("read counters of " + chain);
    return out;
  }

  nl::Socket sock_;
  bool reset_supported_ = true;
  std::map<std::string, uint64_t> last_;
};

}  // namespace

Result<std::unique_ptr<LogSource>> open_nflog(const NflogOptions& options) {
  auto s = nl::Socket::open(NETLINK_NETFILTER);
  if (!s.ok()) return s.status().context("NFLOG");
  auto src = std::make_unique<Nflog>(std::move(s).value(), options.group);
  if (Status st = src->configure(options); !st.ok()) return st;
  return std::unique_ptr<LogSource>(std::move(src));
}

Result<std::unique_ptr<CounterSource>> open_counters() {
  auto s = nl::Socket::open(NETLINK_NETFILTER);
  if (!s.ok()) return s.status().context("counters");
  return std::unique_ptr<CounterSource>(std::make_unique<Counters>(std::move(s).value()));
}

}  // namespace netpol::audit
