#include "compiler/engine/set_registry.h"

#include <algorithm>
#include <vector>

#include "compiler/hash.h"

namespace netpol::compiler::engine {

SetRec* SetRegistry::intern(PolicyRec* pol, std::string reg_key, const std::string& prefix,
                            const std::string& def, const std::function<void(SetRec&)>& init) {
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
  pol->refs.push_back(s);
  return s;
}

SetRec* SetRegistry::peer(PolicyRec* pol, const k8s::Peer& peer) {
  if (peer.ip_block) {
    const k8s::IpBlock& b = *peer.ip_block;
    std::vector<Cidr> except = b.except;
    std::sort(except.begin(), except.end());
    except.erase(std::unique(except.begin(), except.end()), except.end());
    std::string def = b.cidr.str();
    for (size_t i = 0; i < except.size(); ++i) def += (i == 0 ? " except " : ",") + except[i].str();
    return intern(pol, "C" + def, "cidr-", def, [&](SetRec& s) {
      s.kind = ir::SetKind::Cidr;
      s.comment = def;
      s.ranges = carve(b.cidr, except);
    });
  }
  if (peer.namespace_selector) {
    const LabelSelector& nssel = *peer.namespace_selector;
    LabelSelector podsel = peer.pod_selector.value_or(LabelSelector{});
    std::string def = "nssel=" + sel_text(nssel) + "|pods=" + sel_text(podsel);
    return intern(pol, "P" + def, "pods-", def, [&](SetRec& s) {
      s.kind = ir::SetKind::Pods;
      s.comment = "pods " + sel_text(podsel) +
                  (nssel.empty() ? " in all namespaces" : " in ns {" + nssel.str() + "}");
      s.ns_selector = nssel;
      s.ns_keys = sorted_keys(nssel);
      s.pod_keys = sorted_keys(podsel);
      s.pod_selector = std::move(podsel);
    });
  }
  if (peer.pod_selector) {
    const LabelSelector& podsel = *peer.pod_selector;
    std::string def = "ns=" + pol->ns->name + "|pods=" + sel_text(podsel);
    return intern(pol, "P" + def, "pods-", def, [&](SetRec& s) {
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
  std::string def = port_key(name, proto);
  return intern(pol, "N" + def, "nport-", def, [&](SetRec& s) {
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
