#include "compiler/engine/set_registry.h"

#include <algorithm>
#include <vector>

#include "compiler/hash.h"

namespace netpol::compiler::engine {

SetRec* SetRegistry::intern(std::vector<SetRec*>& refs, std::string reg_key,
                            const std::string& prefix, const std::string& def,
                            const std::function<void(SetRec&)>& init) {
  auto& slot = sets_[reg_key];
  if (!slot) {
    slot = std::make_unique<SetRec>();
    SetRec& s = *slot;
    s.reg_key = std::move(reg_key);
    init(s);
    // 40-bit names collide about once in 10^12 pairs; stay correct if they do.
    s.name = prefix + short_hash(def);
    for (int i = 1; names_.count(s.name); ++i)
      s.name = prefix + short_hash(def + "#" + std::to_string(i));
    names_.emplace(s.name, &s);
  }
  SetRec* s = slot.get();
  ++s->policy_refs;
  refs.push_back(s);
  return s;
}

SetRec* SetRegistry::pods_in(std::vector<SetRec*>& refs, const LabelSelector& nssel,
                             LabelSelector podsel) {
  std::string def = "nssel=" + sel_text(nssel) + "|pods=" + sel_text(podsel);
  return intern(refs, "P" + def, "pods-", def, [&](SetRec& s) {
    s.kind = ir::SetKind::Pods;
    s.comment = "pods " + sel_text(podsel) +
                (nssel.empty() ? " in all namespaces" : " in ns {" + nssel.str() + "}");
    s.ns_selector = nssel;
    s.ns_keys = sorted_keys(nssel);
    s.pod_keys = sorted_keys(podsel);
    s.pod_selector = std::move(podsel);
  });
}

SetRec* SetRegistry::cnp_peer(std::vector<SetRec*>& refs, const k8s::CnpPeer& peer) {
  using Kind = k8s::CnpPeer::Kind;
  switch (peer.kind) {
    case Kind::Namespaces:
      return pods_in(refs, peer.namespaces, LabelSelector{});
    case Kind::Pods:
      return pods_in(refs, peer.namespaces, peer.pods);
    case Kind::Networks: {
      // networks is sorted and deduplicated; one CIDR is the ipBlock's definition.
      std::string def;
      for (size_t i = 0; i < peer.networks.size(); ++i)
        def += (i ? "," : "") + peer.networks[i].str();
      return intern(refs, "C" + def, "cidr-", def, [&](SetRec& s) {
        s.kind = ir::SetKind::Cidr;
        s.comment = def;
        // CIDRs nest or are disjoint: drop the nested ones (an interval set
        // refuses overlapping elements).
        std::vector<IpRange> all;
        for (const Cidr& c : peer.networks)
          for (const IpRange& r : carve(c, {})) all.push_back(r);
        std::sort(all.begin(), all.end());
        for (const IpRange& r : all) {
          if (!s.ranges.empty() && s.ranges.back().first.family == r.first.family &&
              r.first <= s.ranges.back().last) {
            s.ranges.back().last = std::max(s.ranges.back().last, r.last);
            continue;
          }
          s.ranges.push_back(r);
        }
      });
    }
    case Kind::Nodes: {
      std::string def = "nodes=" + sel_text(peer.nodes);
      return intern(refs, "O" + def, "nodes-", def, [&](SetRec& s) {
        s.kind = ir::SetKind::Nodes;
        s.comment = "nodes " + sel_text(peer.nodes);
        s.pod_selector = peer.nodes;
      });
    }
    case Kind::Unknown:
      break;
  }
  return nullptr;
}

SetRec* SetRegistry::peer(PolicyRec* pol, const k8s::Peer& peer) {
  if (peer.ip_block) {
    const k8s::IpBlock& b = *peer.ip_block;
    std::vector<Cidr> except = b.except;
    std::sort(except.begin(), except.end());
    except.erase(std::unique(except.begin(), except.end()), except.end());
    std::string def = b.cidr.str();
    for (size_t i = 0; i < except.size(); ++i) def += (i == 0 ? " except " : ",") + except[i].str();
    return intern(pol->refs, "C" + def, "cidr-", def, [&](SetRec& s) {
      s.kind = ir::SetKind::Cidr;
      s.comment = def;
      s.ranges = carve(b.cidr, except);
    });
  }
  if (peer.namespace_selector)
    return pods_in(pol->refs, *peer.namespace_selector,
                   peer.pod_selector.value_or(LabelSelector{}));
  if (peer.pod_selector) {
    const LabelSelector& podsel = *peer.pod_selector;
    std::string def = "ns=" + pol->ns->name + "|pods=" + sel_text(podsel);
    return intern(pol->refs, "P" + def, "pods-", def, [&](SetRec& s) {
      s.kind = ir::SetKind::Pods;
      s.comment = "pods " + sel_text(podsel) + " in ns " + pol->ns->name;
      s.scope_ns = pol->ns;
      ++pol->ns->set_count;
      s.pod_keys = sorted_keys(podsel);
      s.pod_selector = podsel;
    });
  }
  return nullptr;  // a peer without selector or ipBlock admits nobody
}

SetRec* SetRegistry::named_port(PolicyRec* pol, const std::string& name, k8s::Protocol proto) {
  return named_port(pol->refs, name, proto);
}

SetRec* SetRegistry::named_port(std::vector<SetRec*>& refs, const std::string& name,
                                k8s::Protocol proto) {
  std::string def = port_key(name, proto);
  return intern(refs, "N" + def, "nport-", def, [&](SetRec& s) {
    s.kind = ir::SetKind::NamedPort;
    s.comment = "named port " + def;
    s.port_name = name;
    s.port_proto = proto;
  });
}

void SetRegistry::erase(SetRec* s) {
  names_.erase(s->name);
  sets_.erase(s->reg_key);  // frees s
}

}  // namespace netpol::compiler::engine
