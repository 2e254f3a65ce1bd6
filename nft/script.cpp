#include "nft/script.h"

#include <string_view>
#include <type_traits>
#include <variant>
#include <vector>

#include "nft/render.h"

namespace netpol::nft {

namespace {

std::string quoted(const std::string& comment) {
  return "\"" + clean_comment(comment) + "\"";
}

std::string proto_text(uint8_t proto) {
  switch (proto) {
    case 6:
      return "tcp";
    case 17:
      return "udp";
    case 132:
      return "sctp";
    case 58:
      return "ipv6-icmp";
    default:
      return std::to_string(proto);
  }
}

std::string value_text(const Value& v) {
  if (const auto* ip = std::get_if<IpAddr>(&v)) return ip->str();
  if (const auto* p = std::get_if<Proto>(&v)) return proto_text(p->num);
  if (const auto* n = std::get_if<IfName>(&v)) return "\"" + std::string(n->name()) + "\"";
  return std::to_string(std::get<Port>(v).num);
}

std::string verdict_text(const Verdict& v) {
  switch (v.kind) {
    case Verdict::Kind::Accept:
      return "accept";
    case Verdict::Kind::Drop:
      return "drop";
    case Verdict::Kind::Return:
      return "return";
    case Verdict::Kind::Continue:
      return "continue";
    case Verdict::Kind::Jump:
      return "jump " + v.chain;
    case Verdict::Kind::Goto:
      return "goto " + v.chain;
  }
  return "?";
}

std::string ct_state_text(uint8_t states) {
  static constexpr std::pair<uint8_t, const char*> kNames[] = {{kCtInvalid, "invalid"},
                                                               {kCtEstablished, "established"},
                                                               {kCtRelated, "related"},
                                                               {kCtNew, "new"},
                                                               {kCtUntracked, "untracked"}};
  std::string out;
  for (const auto& [bit, name] : kNames) {
    if (!(states & bit)) continue;
    if (!out.empty()) out += ",";
    out += name;
  }
  return out;
}

// "syn" or "(syn | ack)", nft's spelling of a flag set.
std::string tcp_flags_text(uint8_t flags) {
  static constexpr const char* kNames[] = {"fin", "syn", "rst", "psh", "ack", "urg", "ecn", "cwr"};
  std::string out;
  int n = 0;
  for (int bit = 0; bit < 8; ++bit) {
    if (!(flags & (1u << bit))) continue;
    if (n++) out += " | ";
    out += kNames[bit];
  }
  if (n == 0) return "0x0";
  return n == 1 ? out : "(" + out + ")";
}

std::string port_range_text(const PortRange& p) {
  if (p.first == p.last) return std::to_string(p.first);
  return std::to_string(p.first) + "-" + std::to_string(p.last);
}

std::string expr_text(const Expr& x) {
  return std::visit(
      [](const auto& e) -> std::string {
        using T = std::decay_t<decltype(e)>;
        if constexpr (std::is_same_v<T, CtStateMatch>) {
          return "ct state " + ct_state_text(e.states);
        } else if constexpr (std::is_same_v<T, FibSaddrLocal>) {
          return "fib saddr type local";
        } else if constexpr (std::is_same_v<T, L4ProtoMatch>) {
          return "meta l4proto " + proto_text(e.proto);
        } else if constexpr (std::is_same_v<T, DportMatch>) {
          if (e.ports.size() == 1) return "th dport " + port_range_text(e.ports[0]);
          std::string out = "th dport {";
          for (size_t i = 0; i < e.ports.size(); ++i) {
            out += (i ? ", " : " ") + port_range_text(e.ports[i]);
          }
          return out + " }";
        } else if constexpr (std::is_same_v<T, SetMatch>) {
          std::string out;
          for (size_t i = 0; i < e.key.size(); ++i) {
            if (i) out += " . ";
            out += to_string(e.key[i]);
          }
          return out + (e.negate ? " != @" : " @") + e.set;
        } else if constexpr (std::is_same_v<T, VmapLookup>) {
          return std::string(to_string(e.key)) + " vmap @" + e.map;
        } else if constexpr (std::is_same_v<T, LimitMatch>) {
          return "limit rate " + std::to_string(e.rate) + "/second burst " +
                 std::to_string(e.burst) + " packets";
        } else if constexpr (std::is_same_v<T, LogStmt>) {
          // nft's own listing order (prefix before group), so `nft list` reads the same.
          return "log prefix \"" + e.prefix + "\" group " + std::to_string(e.group);
        } else if constexpr (std::is_same_v<T, CounterStmt>) {
          return "counter";
        } else if constexpr (std::is_same_v<T, TcpFlagsMatch>) {
          return "tcp flags & " + tcp_flags_text(e.mask) + " != " + tcp_flags_text(e.value);
        } else {
          return verdict_text(e);
        }
      },
      x);
}

std::string priority_text(int32_t prio) {
  if (prio == kPriorityFilter) return "filter";
  return std::to_string(prio);
}

std::string hook_text(const BaseHook& b) {
  return std::string("type filter hook ") + to_string(b.hook) + " priority " +
         priority_text(b.priority) + "; policy " +
         (b.policy == ChainPolicy::Accept ? "accept" : "drop") + ";";
}

std::string set_type_text(const Set& s) {
  std::string out;
  for (size_t i = 0; i < s.key.size(); ++i) {
    if (i) out += " . ";
    out += to_string(s.key[i]);
  }
  if (s.data) out += " : verdict";
  return out;
}

const char* set_word(const Set& s) {
  return s.is_map() ? "map" : "set";
}

// `elements`: a std::set<Element> or an ElementSet.
template <typename Elems>
std::string elements_text(const Elems& elements, std::string_view sep) {
  std::string out;
  bool first = true;
  for (const Element& e : elements) {
    if (!first) out += sep;
    first = false;
    out += to_text(e);
  }
  return out;
}

// Where "add rule inet netpol" etc. point to.
struct Target {
  std::string family;
  std::string table;
  std::string prefix(Verb verb, const char* kind) const {
    return std::string(to_string(verb)) + " " + kind + " " + family + " " + table;
  }
};

std::string chain_decl_body(const Chain& c) {
  std::string body;
  if (c.base) body += " " + hook_text(*c.base);
  if (!c.comment.empty()) body += " comment " + quoted(c.comment) + ";";
  return body;
}

std::string set_decl_body(const Set& s) {
  std::string body = " type " + set_type_text(s) + ";";
  if (s.interval) body += " flags interval;";
  if (!s.comment.empty()) body += " comment " + quoted(s.comment) + ";";
  if (!s.elements.empty()) body += " elements = { " + elements_text(s.elements, ", ") + " };";
  return body;
}

std::string op_line(const Target& t, const Op& op) {
  return std::visit(
      [&](const auto& o) -> std::string {
        using T = std::decay_t<decltype(o)>;
        if constexpr (std::is_same_v<T, Table>) {
          std::string line = t.prefix(op.verb, "table");
          bool declares = op.verb == Verb::Add || op.verb == Verb::Create;
          if (declares && !o.comment.empty()) line += " { comment " + quoted(o.comment) + "; }";
          return line;
        } else if constexpr (std::is_same_v<T, Chain>) {
          std::string line = t.prefix(op.verb, "chain") + " " + o.name;
          bool declares = op.verb == Verb::Add || op.verb == Verb::Create;
          std::string body = declares ? chain_decl_body(o) : "";
          if (!body.empty()) line += " {" + body + " }";
          return line;
        } else if constexpr (std::is_same_v<T, Set>) {
          std::string line = t.prefix(op.verb, set_word(o)) + " " + o.name;
          if (op.verb == Verb::Add || op.verb == Verb::Create)
            line += " {" + set_decl_body(o) + " }";
          return line;
        } else if constexpr (std::is_same_v<T, Elements>) {
          if (op.verb == Verb::Delete) {
            // Deletion names keys only; nft rejects a verdict there.
            std::set<Element> keys;
            for (Element e : o.elements) {
              e.verdict.reset();
              keys.insert(std::move(e));
            }
            return t.prefix(op.verb, "element") + " " + o.set + " { " + elements_text(keys, ", ") +
                   " }";
          }
          return t.prefix(op.verb, "element") + " " + o.set + " { " +
                 elements_text(o.elements, ", ") + " }";
        } else {
          return t.prefix(op.verb, "rule") + " " + o.chain + " " + to_text(o);
        }
      },
      op.object);
}

void append_set_block(std::string& out, const Set& s) {
  out += "\t" + std::string(set_word(s)) + " " + s.name + " {\n";
  out += "\t\ttype " + set_type_text(s) + "\n";
  if (s.interval) out += "\t\tflags interval\n";
  if (!s.comment.empty()) out += "\t\tcomment " + quoted(s.comment) + "\n";
  if (!s.elements.empty()) {
    out += "\t\telements = { " + elements_text(s.elements, ",\n\t\t\t     ") + " }\n";
  }
  out += "\t}\n";
}

void append_chain_block(std::string& out, const Chain& c, const std::vector<Rule>& rules) {
  out += "\tchain " + c.name + " {\n";
  if (!c.comment.empty()) out += "\t\tcomment " + quoted(c.comment) + "\n";
  if (c.base) out += "\t\t" + hook_text(*c.base) + "\n";
  for (const Rule& r : rules) out += "\t\t" + to_text(r) + "\n";
  out += "\t}\n";
}

}  // namespace

std::string to_text(const Element& e) {
  std::string out;
  if (e.is_range()) {
    const auto* lo = std::get_if<IpAddr>(&e.key[0]);
    const auto* hi = std::get_if<IpAddr>(&e.key_end[0]);
    std::vector<Cidr> cidrs;
    if (lo && hi) cidrs = range_to_cidrs(IpRange{*lo, *hi});
    if (cidrs.size() == 1) {
      out = cidrs[0].str();
    } else {
      out = value_text(e.key[0]) + "-" + value_text(e.key_end[0]);
    }
  } else {
    for (size_t i = 0; i < e.key.size(); ++i) {
      if (i) out += " . ";
      out += value_text(e.key[i]);
    }
  }
  if (e.verdict) out += " : " + verdict_text(*e.verdict);
  return out;
}

std::string to_text(const Rule& rule) {
  std::string out;
  for (size_t i = 0; i < rule.exprs.size(); ++i) {
    if (i) out += " ";
    out += expr_text(rule.exprs[i]);
  }
  if (!rule.comment.empty()) out += " comment " + quoted(rule.comment);
  return out;
}

std::string to_block(const Ruleset& rs) {
  std::string out =
      std::string("table ") + to_string(rs.table.family) + " " + rs.table.name + " {\n";
  if (!rs.table.comment.empty()) out += "\tcomment " + quoted(rs.table.comment) + "\n";
  // Maps, then sets, then chains by listing_rank(); each group by name.
  for (bool maps : {true, false}) {
    for (const auto& [_, s] : rs.sets) {
      if (s.is_map() != maps) continue;
      out += "\n";
      append_set_block(out, s);
    }
  }
  // Chains in tier order (render.h, listing_rank).
  for (int rank = 0; rank < kListingRanks; ++rank) {
    for (const auto& [name, c] : rs.chains) {
      if (listing_rank(c) != rank) continue;
      out += "\n";
      append_chain_block(out, c, rs.rules_of(name));
    }
  }
  out += "}\n";
  return out;
}

std::string to_script(const Transaction& tx) {
  Target t{to_string(tx.family()), tx.table()};
  std::string out;
  size_t first = 0;
  if (tx.replaced()) {
    out += std::string("table ") + t.family + " " + t.table + "\n";
    out += std::string("delete table ") + t.family + " " + t.table + "\n";
    out += to_block(*tx.replaced());
    first = tx.replace_ops();
  }
  for (size_t i = first; i < tx.ops().size(); ++i) out += op_line(t, tx.ops()[i]) + "\n";
  return out;
}

}  // namespace netpol::nft
