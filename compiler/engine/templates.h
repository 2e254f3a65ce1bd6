// Policy -> rule translation: one NetworkPolicy rule as a RuleTemplate, its
// peers and egress named ports interned as sets, its ports merged by
// protocol, ready to be copied into the chain of every pod the policy selects.
#pragma once

#include <cstdint>

#include "compiler/engine/records.h"
#include "compiler/engine/set_registry.h"

namespace netpol::compiler::engine {

// Rule `index` of `pol` (`rule` is pol's ingress or egress rule of that
// index). Every set it names gets one policy reference held by `pol`.
RuleTemplate make_template(SetRegistry& sets, PolicyRec* pol, const k8s::PolicyRule& rule,
                           uint32_t index, bool ingress);

// Rule `index` of ClusterNetworkPolicy `cnp` (one of its ingress or egress
// rules). Every set it names gets one reference held by `cnp`. A named port
// (which names no protocol) stands for that name on TCP, UDP and SCTP.
CnpRuleTemplate make_cnp_template(SetRegistry& sets, CnpRec* cnp, const k8s::CnpRule& rule,
                                  uint32_t index, bool ingress);

}  // namespace netpol::compiler::engine
