// Every set any policy names (peer sets and named-port sets), interned by
// canonical definition so that policies saying the same thing share one
// set, each under a unique stable name ("pods-", "cidr-", "nport-" + hash).
// Owns the SetRecs; knows nothing of membership or materialization.
#pragma once

#include <functional>
#include <memory>
#include <string>
#include <unordered_map>
#include <vector>

#include "compiler/engine/records.h"

namespace netpol::compiler::engine {

class SetRegistry {
 public:
  // The set a peer of `pol` stands for, with one more policy reference held
  // by `pol` (in pol->refs); nullptr for a peer that admits nobody.
  SetRec* peer(PolicyRec* pol, const k8s::Peer& peer);
  // The NamedPort set of `name`/`proto`, referenced by `pol` likewise.
  SetRec* named_port(PolicyRec* pol, const std::string& name, k8s::Protocol proto);
  // The set a ClusterNetworkPolicy peer stands for (not Unknown), referenced
  // through `refs` (the CnpRec's). Peers that mean what a NetworkPolicy peer
  // means share its set: `namespaces: S` is `namespaceSelector: S`, `pods` is
  // namespaceSelector + podSelector, one `networks` CIDR is an ipBlock.
  SetRec* cnp_peer(std::vector<SetRec*>& refs, const k8s::CnpPeer& peer);
  // The NamedPort set of `name`/`proto`, referenced through `refs`.
  SetRec* named_port(std::vector<SetRec*>& refs, const std::string& name, k8s::Protocol proto);
  // The NamedPort set of `name`/`proto` if some policy names it.
  SetRec* find_named_port(const std::string& name, k8s::Protocol proto) const {
    auto it = sets_.find("N" + port_key(name, proto));
    return it == sets_.end() ? nullptr : it->second.get();
  }
  // Frees `s`, which nothing may reference any more.
  void erase(SetRec* s);

 private:
  SetRec* pods_in(std::vector<SetRec*>& refs, const LabelSelector& nssel, LabelSelector podsel);
  SetRec* intern(std::vector<SetRec*>& refs, std::string reg_key, const std::string& prefix,
                 const std::string& def, const std::function<void(SetRec&)>& init);

  std::unordered_map<std::string, std::unique_ptr<SetRec>> sets_;  // by reg_key
  std::unordered_map<std::string, SetRec*> names_;                 // by name
};

}  // namespace netpol::compiler::engine
