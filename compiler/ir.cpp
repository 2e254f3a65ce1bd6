// IR diff, apply and the JSON form (policyc -o json). The JSON layout is a
// documented contract (docs/semantics.md, "IR as JSON"): change it only
// additively.
#include "compiler/ir.h"

#include <algorithm>
#include <iterator>
#include <nlohmann/json.hpp>

namespace netpol::ir {

namespace {

// Element changes of a set that exists on both sides (both sorted).
void diff_elements(const SortedBlocks<Element>& from, const SortedBlocks<Element>& to,
                   SetDelta& out) {
  std::set_difference(to.begin(), to.end(), from.begin(), from.end(), std::back_inserter(out.add));
  std::set_difference(from.begin(), from.end(), to.begin(), to.end(), std::back_inserter(out.del));
}

}  // namespace

Delta diff(const RuleSet& from, const RuleSet& to) {
  Delta d;
  auto a = from.sets.begin();
  auto b = to.sets.begin();
  while (a != from.sets.end() || b != to.sets.end()) {
    if (b == to.sets.end() || (a != from.sets.end() && a->first < b->first)) {
      SetDelta sd;
      sd.name = a->first;
      sd.removed = true;
      d.sets.push_back(std::move(sd));
      ++a;
    } else if (a == from.sets.end() || b->first < a->first) {
      SetDelta sd;
      sd.name = b->first;
      sd.created = b->second;
      d.sets.push_back(std::move(sd));
      ++b;
    } else {
      SetDelta sd;
      sd.name = a->first;
      if (a->second.kind != b->second.kind || a->second.comment != b->second.comment) {
        // Same name, different definition: `created` replaces the whole set.
        sd.created = b->second;
      } else {
        diff_elements(a->second.elements, b->second.elements, sd);
      }
      if (sd.created || !sd.add.empty() || !sd.del.empty()) d.sets.push_back(std::move(sd));
      ++a;
      ++b;
    }
  }
  auto p = from.pods.begin();
  auto q = to.pods.begin();
  while (p != from.pods.end() || q != to.pods.end()) {
    if (q == to.pods.end() || (p != from.pods.end() && p->first < q->first)) {
      d.pods.push_back({p->first, p->second, std::nullopt});
      ++p;
    } else if (p == from.pods.end() || q->first < p->first) {
      d.pods.push_back({q->first, std::nullopt, q->second});
      ++q;
    } else {
      if (!(p->second == q->second)) d.pods.push_back({p->first, p->second, q->second});
      ++p;
      ++q;
    }
  }
  return d;
}

void patch(RuleSet& rs, const Delta& d) {
  for (const SetDelta& sd : d.sets) {
    if (sd.removed) {
      rs.sets.erase(sd.name);
    } else if (sd.created) {
      rs.sets[sd.name] = *sd.created;
    } else {
      auto it = rs.sets.find(sd.name);
      // A delta for a set we do not have was made for another RuleSet: the
      // element changes have nothing to apply to.
      if (it == rs.sets.end()) continue;
      for (const Element& e : sd.del) it->second.elements.erase(e);
      for (const Element& e : sd.add) it->second.elements.insert(e);
    }
  }
  for (const PodDelta& pd : d.pods) {
    if (pd.after) {
      rs.pods[pd.key] = *pd.after;
    } else {
      rs.pods.erase(pd.key);
    }
  }
}

std::string proto_name(uint8_t proto) {
  switch (proto) {
    case 6:
      return "TCP";
    case 17:
      return "UDP";
    case 132:
      return "SCTP";
    default:
      return std::to_string(proto);
  }
}

namespace {

using Json = nlohmann::ordered_json;

const char* kind_name(SetKind k) {
  switch (k) {
    case SetKind::Pods:
      return "pods";
    case SetKind::Cidr:
      return "cidr";
    case SetKind::NamedPort:
      return "named-port";
    case SetKind::Nodes:
      return "nodes";
  }
  return "unknown";
}

// "10.0.0.1", "10.0.0.0/8" when the range is exactly one prefix, else "a-b".
std::string range_text(const IpAddr& first, const IpAddr& last) {
  if (first == last) return first.str();
  std::vector<Cidr> cidrs = range_to_cidrs(IpRange{first, last});
  if (cidrs.size() == 1) return cidrs[0].str();
  return first.str() + "-" + last.str();
}

Json element_json(const Set& s, const Element& e) {
  if (s.kind == SetKind::NamedPort) {
    Json j = Json::object();
    j["ip"] = e.first.str();
    j["protocol"] = proto_name(e.proto);
    j["port"] = e.port;
    return j;
  }
  if (s.kind == SetKind::Cidr) return range_text(e.first, e.last);
  return e.first == e.last ? e.first.str() : range_text(e.first, e.last);
}

Json rule_json(const Rule& r) {
  Json j = Json::object();
  j["policy"] = r.policy;
  j["rule"] = r.rule_index;
  j["peer"] = r.peer.kind == PeerMatch::Kind::Any ? std::string("any") : r.peer.set;
  j["protocol"] = r.proto ? Json(proto_name(*r.proto)) : Json(nullptr);
  Json ports = Json::array();
  for (const PortRange& p : r.ports)
    ports.push_back(p.first == p.last ? std::to_string(p.first)
                                      : std::to_string(p.first) + "-" + std::to_string(p.last));
  j["ports"] = std::move(ports);
  j["named_port_set"] = r.named_port_set.empty() ? Json(nullptr) : Json(r.named_port_set);
  // Only when set, so the output of every policy without the annotation is unchanged.
  if (r.log_allowed) j["log_allowed"] = true;
  return j;
}

Json ports_json(const std::vector<PortRange>& rs) {
  Json ports = Json::array();
  for (const PortRange& p : rs)
    ports.push_back(p.first == p.last ? std::to_string(p.first)
                                      : std::to_string(p.first) + "-" + std::to_string(p.last));
  return ports;
}

Json tier_json(const TierChain& c) {
  Json j = Json::object();
  j["policies"] = c.policies;
  Json rules = Json::array();
  for (const TierRule& r : c.rules) {
    Json rj = Json::object();
    rj["cnp"] = r.cnp;
    rj["name"] = r.name;
    rj["rule"] = r.rule_index;
    rj["action"] = k8s::to_string(r.action);
    rj["peer"] = r.peer.kind == PeerMatch::Kind::Any ? std::string("any") : r.peer.set;
    rj["protocol"] = r.proto ? Json(proto_name(*r.proto)) : Json(nullptr);
    rj["ports"] = ports_json(r.ports);
    rj["named_port_set"] = r.named_port_set.empty() ? Json(nullptr) : Json(r.named_port_set);
    if (r.log_allowed) rj["log_allowed"] = true;
    rules.push_back(std::move(rj));
  }
  j["rules"] = std::move(rules);
  return j;
}

Json chain_json(const std::optional<Chain>& c) {
  if (!c) return nullptr;
  Json j = Json::object();
  j["policies"] = c->policies;
  Json rules = Json::array();
  for (const Rule& r : c->rules) rules.push_back(rule_json(r));
  j["rules"] = std::move(rules);
  return j;
}

}  // namespace

std::string to_json(const RuleSet& rs) {
  Json j = Json::object();
  j["version"] = 1;
  j["node"] = rs.node;
  Json pods = Json::array();
  for (const auto& [key, p] : rs.pods) {
    Json pj = Json::object();
    pj["namespace"] = p.ns;
    pj["name"] = p.name;
    Json ips = Json::array();
    for (const IpAddr& ip : p.ips) ips.push_back(ip.str());
    pj["ips"] = std::move(ips);
    pj["ingress"] = chain_json(p.ingress);
    pj["egress"] = chain_json(p.egress);
    // Only for pods a ClusterNetworkPolicy selects: CNP-free output is unchanged.
    for (bool admin : {true, false}) {
      const auto& in = admin ? p.admin_ingress : p.baseline_ingress;
      const auto& eg = admin ? p.admin_egress : p.baseline_egress;
      if (!in && !eg) continue;
      Json tj = Json::object();
      tj["ingress"] = in ? tier_json(*in) : Json(nullptr);
      tj["egress"] = eg ? tier_json(*eg) : Json(nullptr);
      pj[admin ? "admin" : "baseline"] = std::move(tj);
    }
    pods.push_back(std::move(pj));
  }
  j["pods"] = std::move(pods);
  Json sets = Json::array();
  for (const auto& [name, s] : rs.sets) {
    Json sj = Json::object();
    sj["name"] = s.name;
    sj["kind"] = kind_name(s.kind);
    sj["comment"] = s.comment;
    Json elements = Json::array();
    for (const Element& e : s.elements) elements.push_back(element_json(s, e));
    sj["elements"] = std::move(elements);
    sets.push_back(std::move(sj));
  }
  j["sets"] = std::move(sets);
  j["warnings"] = rs.warnings;
  // Invalid UTF-8 cannot reach here through the decoder; replace rather than
  // throw if a hand-built object carries some.
  return j.dump(2, ' ', false, nlohmann::json::error_handler_t::replace) + "\n";
}

}  // namespace netpol::ir
