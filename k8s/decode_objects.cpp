// ObjectDecoder's kinds: Namespace, Pod and NetworkPolicy, validated and
// defaulted as the API server does for the fields we keep.
#include <algorithm>
#include <nlohmann/json.hpp>
#include <variant>

#include "k8s/decode_internal.h"
#include "k8s/validate.h"

namespace netpol::k8s::decoding {

using validate::quote;

std::optional<Namespace> ObjectDecoder::decode_namespace(const json& obj,
                                                         const std::string& prefix) {
  Namespace ns;
  assign(ns, metadata(obj, Scope::Namespace, prefix));
  ns.labels = labels(obj);
  if (const json* meta = member(obj, "metadata"); meta && meta->is_object()) {
    Path root;
    ns.annotations = string_map(member(*meta, "annotations"), root / "metadata" / "annotations",
                                false, "netpol.io/");
  }
  // The API server sets this label itself and overrides user values.
  ns.labels[kNamespaceNameLabel] = ns.name;
  ns.labels.intern();  // shrinks too: the insert above may have grown the capacity
  if (failed()) return std::nullopt;
  return ns;
}

void ObjectDecoder::container_ports(const json& spec, std::string_view key, const Path& at,
                                    Pod& pod) {
  const json* containers = list(spec, key, at);
  if (!containers) return;
  each_object(*containers, at, [&](const json& c, const Path& c_at) {
    if (key == "initContainers") {
      // Only restartable init containers (sidecars) run alongside the
      // pod and serve their ports; plain init containers have exited.
      auto policy = string(c, "restartPolicy", c_at / "restartPolicy");
      if (policy != "Always") return;
    }
    Path ports_at = c_at / "ports";
    const json* ports = list(c, "ports", ports_at);
    if (!ports) return;
    each_object(*ports, ports_at, [&](const json& p, const Path& p_at) {
      ContainerPort cp;
      if (auto name = string(p, "name", p_at / "name")) {
        if (auto why = validate::iana_svc_name(*name); !why.empty()) {
          fail(p_at / "name", "invalid value " + quote(*name) + ": " + std::string(why));
        }
        cp.name = *name;
      }
      if (const json* num = member(p, "containerPort")) {
        if (auto n = port_number(*num, p_at / "containerPort")) cp.port = *n;
      } else {
        fail(p_at / "containerPort", "required value");
      }
      if (auto proto = protocol(p, p_at / "protocol")) cp.protocol = *proto;
      pod.ports.push_back(std::move(cp));
    });
  });
}

void ObjectDecoder::add_pod_ip(std::string_view text, const Path& at, Pod& pod) {
  auto ip = IpAddr::parse(text);
  if (!ip) {
    fail(at, "invalid value " + quote(text) + ": must be an IP address");
    return;
  }
  if (std::find(pod.ips.begin(), pod.ips.end(), *ip) == pod.ips.end()) pod.ips.push_back(*ip);
}

std::optional<Pod> ObjectDecoder::decode_pod(const json& obj, const std::string& prefix) {
  Pod pod;
  assign(pod, metadata(obj, Scope::Namespaced, prefix));
  pod.labels = labels(obj);
  pod.labels.intern();  // the pods of one ReplicaSet share one label map

  Path root;
  Path spec_at = root / "spec";
  const json* spec = object(obj, "spec", spec_at);
  const json& sj = spec ? *spec : empty_object();
  pod.node_name = string(sj, "nodeName", spec_at / "nodeName").value_or("");
  if (!pod.node_name.empty()) {
    if (auto why = validate::dns1123_subdomain(pod.node_name); !why.empty()) {
      fail(spec_at / "nodeName", "invalid value " + quote(pod.node_name) + ": " + std::string(why));
    }
  }
  pod.host_network = boolean(sj, "hostNetwork", spec_at / "hostNetwork").value_or(false);
  container_ports(sj, "containers", spec_at / "containers", pod);
  container_ports(sj, "initContainers", spec_at / "initContainers", pod);
  pod.ports.intern();  // the pods of one ReplicaSet share one list

  Path status_at = root / "status";
  const json* status = object(obj, "status", status_at);
  const json& st = status ? *status : empty_object();
  if (auto phase = string(st, "phase", status_at / "phase")) {
    static const std::pair<const char*, PodPhase> phases[] = {{"Pending", PodPhase::Pending},
                                                              {"Running", PodPhase::Running},
                                                              {"Succeeded", PodPhase::Succeeded},
                                                              {"Failed", PodPhase::Failed},
                                                              {"Unknown", PodPhase::Unknown}};
    bool found = false;
    for (const auto& [name, value] : phases) {
      if (*phase == name) {
        pod.phase = value;
        found = true;
      }
    }
    if (!found) {
      fail(status_at / "phase",
           "unsupported value " + quote(*phase) +
               R"(: supported values: "Pending", "Running", "Succeeded", "Failed", "Unknown")");
    }
  }
  if (auto ip = string(st, "podIP", status_at / "podIP"); ip && !ip->empty()) {
    add_pod_ip(*ip, status_at / "podIP", pod);
  }
  Path ips_at = status_at / "podIPs";
  if (const json* ips = list(st, "podIPs", ips_at)) {
    each_object(*ips, ips_at, [&](const json& e, const Path& e_at) {
      auto ip = string(e, "ip", e_at / "ip");
      if (!ip && !member(e, "ip")) fail(e_at / "ip", "required value");
      if (ip) add_pod_ip(*ip, e_at / "ip", pod);
    });
  }
  int v4 = 0, v6 = 0;
  for (const IpAddr& ip : pod.ips) (ip.is_v4() ? v4 : v6)++;
  if (v4 > 1 || v6 > 1) fail(ips_at, "may specify no more than one IP for each IP family");

  if (failed()) return std::nullopt;
  return pod;
}

std::optional<IpBlock> ObjectDecoder::ip_block(const json& v, const Path& at) {
  IpBlock block;
  size_t before = errors_.size();
  auto text = string(v, "cidr", at / "cidr");
  if (!text && !member(v, "cidr")) fail(at / "cidr", "required value");
  std::optional<Cidr> cidr;
  if (text) {
    cidr = Cidr::parse(*text);
    if (!cidr) {
      fail(at / "cidr",
           "invalid value " + quote(*text) + ": must be a CIDR such as 10.0.0.0/8 or fd00::/8");
    }
  }
  Path ex_at = at / "except";
  if (const json* ex = list(v, "except", ex_at)) {
    each_string(*ex, ex_at, [&](const std::string& s, const Path& e_at) {
      auto c = Cidr::parse(s);
      if (!c) {
        fail(e_at, "invalid value " + quote(s) + ": must be a CIDR such as 10.0.0.0/8");
      } else if (cidr && c->addr.family != cidr->addr.family) {
        fail(e_at, "invalid value " + quote(s) + ": must be of the same IP family as cidr");
      } else if (cidr && !(cidr->contains(*c) && c->prefix > cidr->prefix)) {
        fail(e_at, "invalid value " + quote(s) + ": must be a strict subset of cidr " +
                       quote(cidr->str()));
      } else {
        block.except.push_back(*c);
      }
    });
  }
  if (errors_.size() != before || !cidr) return std::nullopt;
  block.cidr = *cidr;
  std::sort(block.except.begin(), block.except.end());
  block.except.erase(std::unique(block.except.begin(), block.except.end()), block.except.end());
  return block;
}

std::optional<Peer> ObjectDecoder::peer(const json& item, const Path& at) {
  const json* v = element(item, at);
  if (!v) return std::nullopt;
  size_t before = errors_.size();
  Peer p;
  p.pod_selector = selector(*v, "podSelector", at / "podSelector");
  p.namespace_selector = selector(*v, "namespaceSelector", at / "namespaceSelector");
  bool has_selector = member(*v, "podSelector") || member(*v, "namespaceSelector");
  Path block_at = at / "ipBlock";
  if (const json* block = object(*v, "ipBlock", block_at)) {
    p.ip_block = ip_block(*block, block_at);
    if (has_selector) fail(at, "may not specify both ipBlock and another peer");
  } else if (!has_selector && errors_.size() == before) {
    fail(at, "must specify a peer");
  }
  if (errors_.size() != before) return std::nullopt;
  return p;
}

std::optional<PolicyPort> ObjectDecoder::policy_port(const json& item, const Path& at) {
  const json* v = element(item, at);
  if (!v) return std::nullopt;
  size_t before = errors_.size();
  PolicyPort pp;
  if (auto proto = protocol(*v, at / "protocol")) pp.protocol = *proto;
  const json* port = member(*v, "port");
  if (port) {
    if (port->is_string()) {
      const auto& name = port->get_ref<const std::string&>();
      if (auto why = validate::iana_svc_name(name); !why.empty()) {
        fail(at / "port", "invalid value " + quote(name) + ": " + std::string(why));
      }
      pp.port = name;
    } else if (port->is_number_integer()) {
      if (auto n = port_number(*port, at / "port")) pp.port = *n;
    } else {
      fail(at / "port", std::string("must be an integer or a string, got ") + type_name(*port));
    }
  }
  if (const json* end = member(*v, "endPort")) {
    if (!port) {
      fail(at / "endPort", "may not be specified when port is not specified");
    } else if (port->is_string()) {
      fail(at / "endPort", "may not be specified when port is non-numeric");
    } else if (auto n = port_number(*end, at / "endPort")) {
      const uint16_t* start = std::get_if<uint16_t>(&pp.port);
      if (start && *n < *start) {
        fail(at / "endPort", "invalid value " + std::to_string(*n) +
                                 ": must be greater than or equal to port (" +
                                 std::to_string(*start) + ")");
      }
      pp.end_port = *n;
    }
  }
  if (errors_.size() != before) return std::nullopt;
  return pp;
}

std::vector<PolicyRule> ObjectDecoder::rules(const json& spec, std::string_view key,
                                             std::string_view peers_key, const Path& at) {
  std::vector<PolicyRule> out;
  const json* list_v = list(spec, key, at);
  if (!list_v) return out;
  each_object(*list_v, at, [&](const json& r, const Path& r_at) {
    PolicyRule rule;
    Path ports_at = r_at / "ports";
    if (const json* ports = list(r, "ports", ports_at)) {
      for (size_t j = 0; j < ports->size(); ++j) {
        if (auto p = policy_port((*ports)[j], ports_at[j])) rule.ports.push_back(std::move(*p));
      }
    }
    Path peers_at = r_at / peers_key;
    if (const json* peers = list(r, peers_key, peers_at)) {
      for (size_t j = 0; j < peers->size(); ++j) {
        if (auto p = peer((*peers)[j], peers_at[j])) rule.peers.push_back(std::move(*p));
      }
    }
    out.push_back(std::move(rule));
  });
  return out;
}

std::optional<NetworkPolicy> ObjectDecoder::decode_policy(const json& obj,
                                                          const std::string& prefix) {
  NetworkPolicy np;
  assign(np, metadata(obj, Scope::Namespaced, prefix));
  Path root;
  if (const json* meta = member(obj, "metadata"); meta && meta->is_object()) {
    np.annotations = string_map(member(*meta, "annotations"), root / "metadata" / "annotations",
                                false, "netpol.io/");
  }
  Path spec_at = root / "spec";
  const json* spec = object(obj, "spec", spec_at);
  const json& sj = spec ? *spec : empty_object();
  // podSelector is required by the OpenAPI schema, but the API server
  // stores a missing one as the zero selector: every pod of the namespace.
  np.pod_selector = selector(sj, "podSelector", spec_at / "podSelector").value_or(LabelSelector{});

  Path types_at = spec_at / "policyTypes";
  bool has_types = false, wants_ingress = false, wants_egress = false;
  if (const json* types = list(sj, "policyTypes", types_at)) {
    each_string(*types, types_at, [&](const std::string& s, const Path& t_at) {
      bool* flag = s == "Ingress" ? &wants_ingress : s == "Egress" ? &wants_egress : nullptr;
      if (!flag) {
        fail(t_at, "unsupported value " + quote(s) + R"(: supported values: "Ingress", "Egress")");
      } else if (*flag) {
        fail(t_at, "duplicate value " + quote(s));
      } else {
        *flag = true;
        has_types = true;
      }
    });
  }
  np.ingress = rules(sj, "ingress", "from", spec_at / "ingress");
  np.egress = rules(sj, "egress", "to", spec_at / "egress");
  // An empty policyTypes list is defaulted like a missing one, as the API
  // server does.
  if (has_types) {
    np.affects_ingress = wants_ingress;
    np.affects_egress = wants_egress;
  } else {
    np.affects_ingress = true;
    const json* egress = member(sj, "egress");
    np.affects_egress = egress && egress->is_array() && !egress->empty();
  }
  if (failed()) return std::nullopt;
  return np;
}

}  // namespace netpol::k8s::decoding
