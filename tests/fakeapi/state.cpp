// API semantics of the fake server. Everything runs with State::mu held
// (public entry points take it), and nlohmann exceptions from user-supplied
// JSON are caught here and answered as the API server would answer them.
#include "tests/fakeapi/state.h"

#include <algorithm>
#include <cstdio>
#include <cstring>
#include <ctime>

#include "k8s/cnp.h"
#include "k8s/decode.h"
#include "tests/support/base64.h"

namespace netpol::fakeapi {

namespace {

const ResourceInfo kInfos[] = {
    {Kind::Namespace, "v1", "namespaces", "namespace", "Namespace", "ns", false},
    {Kind::Pod, "v1", "pods", "pod", "Pod", "po", true},
    {Kind::NetworkPolicy, "networking.k8s.io/v1", "networkpolicies", "networkpolicy",
     "NetworkPolicy", "netpol", true},
    {Kind::Node, "v1", "nodes", "node", "Node", "no", false},
    {Kind::ClusterNetworkPolicy, "policy.networking.k8s.io/v1alpha2", "clusternetworkpolicies",
     "clusternetworkpolicy", "ClusterNetworkPolicy", "cnp", false},
    {Kind::CustomResourceDefinition, "apiextensions.k8s.io/v1", "customresourcedefinitions",
     "customresourcedefinition", "CustomResourceDefinition", "crd", false},
};
static_assert(sizeof kInfos / sizeof kInfos[0] == kKindCount);

// Kinds whose metadata.generation counts spec changes.
bool has_generation(Kind k) {
  return k == Kind::NetworkPolicy || k == Kind::ClusterNetworkPolicy ||
         k == Kind::CustomResourceDefinition;
}

// A ClusterNetworkPolicy as the API server with the CRD installed judges it:
// netpol's decoder applies the CRD's schema and CEL rules. A peer with only
// an unknown field is kept by the decoder (fail-closed, for newer CRDs) but
// the v0.2.0 CRD prunes that field, leaving a peer that sets nothing. The
// 422 carries one cause per problem, which kubectl prints as "* FIELD: message".
std::optional<Reply> invalid_cnp(const json& j);

// Only the ClusterNetworkPolicy CRD can be installed (its schema is built in).
std::optional<Reply> invalid_crd(const json& j) {
  const std::string name = j["metadata"].value("name", "");
  if (name == kCnpCrdName) return std::nullopt;
  const std::string why = std::string("fake-apiserver serves only the CRD ") + kCnpCrdName;
  Reply reply = status_reply(422, "Invalid",
                             "CustomResourceDefinition.apiextensions.k8s.io \"" + name +
                                 "\" is invalid: metadata.name: " + why,
                             name, "CustomResourceDefinition");
  reply.body["details"]["group"] = "apiextensions.k8s.io";
  reply.body["details"]["causes"] = {
      {{"reason", "FieldValueInvalid"}, {"field", "metadata.name"}, {"message", why}}};
  return reply;
}

std::optional<Reply> invalid_cnp(const json& j) {
  json copy = j;
  copy["kind"] = "ClusterNetworkPolicy";
  copy["apiVersion"] = info(Kind::ClusterNetworkPolicy).group_version;
  k8s::DecodeResult r = k8s::decode_json_object(copy.dump(), "");
  std::vector<std::pair<std::string, std::string>> problems;
  for (const k8s::Error& e : r.errors) problems.emplace_back(e.field, e.message);
  for (const auto& cnp : r.objects.cluster_policies) {
    for (const auto& [dir, rules] : {std::pair{"ingress", &cnp.ingress}, {"egress", &cnp.egress}}) {
      const std::string peers_key = std::string(dir) == "ingress" ? "from" : "to";
      for (size_t i = 0; i < rules->size(); ++i) {
        const auto& peers = (*rules)[i].peers;
        for (size_t p = 0; p < peers.size(); ++p) {
          if (!peers[p].unknown()) continue;
          problems.emplace_back(std::string("spec.") + dir + "[" + std::to_string(i) + "]." +
                                    peers_key + "[" + std::to_string(p) + "]",
                                "unknown field \"" + peers[p].unknown_field +
                                    "\": a peer must set exactly one known field");
        }
      }
    }
  }
  if (problems.empty()) return std::nullopt;
  const std::string name = j["metadata"].value("name", "");
  std::string message =
      "ClusterNetworkPolicy.policy.networking.k8s.io \"" + name + "\" is invalid: ";
  json causes = json::array();
  for (size_t i = 0; i < problems.size(); ++i) {
    message += (i ? ", " : "") + problems[i].first + ": " + problems[i].second;
    causes.push_back({{"reason", "FieldValueInvalid"},
                      {"field", problems[i].first},
                      {"message", problems[i].second}});
  }
  Reply reply = status_reply(422, "Invalid", message, name, "ClusterNetworkPolicy");
  reply.body["details"]["group"] = "policy.networking.k8s.io";
  reply.body["details"]["causes"] = causes;
  return reply;
}

bool dns1123_label(const std::string& s) {
  if (s.empty() || s.size() > 63) return false;
  for (size_t i = 0; i < s.size(); ++i) {
    const char c = s[i];
    const bool alnum = (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9');
    if (!alnum && !(c == '-' && i > 0 && i + 1 < s.size())) return false;
  }
  return true;
}

bool dns1123_subdomain(const std::string& s) {
  if (s.empty() || s.size() > 253) return false;
  size_t start = 0;
  for (;;) {
    const size_t dot = s.find('.', start);
    const std::string part =
        s.substr(start, dot == std::string::npos ? std::string::npos : dot - start);
    if (!dns1123_label(part)) return false;
    if (dot == std::string::npos) return true;
    start = dot + 1;
  }
}

std::string now_rfc3339() {
  const std::time_t t = std::time(nullptr);
  std::tm tm{};
  gmtime_r(&t, &tm);
  char buf[32];
  std::strftime(buf, sizeof buf, "%Y-%m-%dT%H:%M:%SZ", &tm);
  return buf;
}

using testsupport::base64;
using testsupport::unbase64;

std::string str_field(const json& j, const char* a, const char* b) {
  auto ia = j.find(a);
  if (ia == j.end() || !ia->is_object()) return "";
  auto ib = ia->find(b);
  if (ib == ia->end() || !ib->is_string()) return "";
  return ib->get<std::string>();
}

ObjPtr make_obj(Kind k, const json& j) {
  auto o = std::make_shared<Obj>();
  o->kind = k;
  const json& meta = j.at("metadata");
  o->name = meta.value("name", "");
  o->ns = info(k).namespaced ? meta.value("namespace", "") : "";
  o->uid = meta.value("uid", "");
  o->rv = std::stoull(meta.value("resourceVersion", "0"));
  if (auto l = meta.find("labels"); l != meta.end() && l->is_object())
    for (auto it = l->begin(); it != l->end(); ++it)
      if (it.value().is_string()) o->labels[it.key()] = it.value().get<std::string>();
  o->fields.emplace_back("metadata.name", o->name);
  if (info(k).namespaced) o->fields.emplace_back("metadata.namespace", o->ns);
  if (k == Kind::Pod) {
    o->fields.emplace_back("spec.nodeName", str_field(j, "spec", "nodeName"));
    o->fields.emplace_back("spec.restartPolicy", str_field(j, "spec", "restartPolicy"));
    o->fields.emplace_back("spec.schedulerName", str_field(j, "spec", "schedulerName"));
    o->fields.emplace_back("spec.serviceAccountName", str_field(j, "spec", "serviceAccountName"));
    o->fields.emplace_back("status.phase", str_field(j, "status", "phase"));
    o->fields.emplace_back("status.podIP", str_field(j, "status", "podIP"));
    o->fields.emplace_back("status.nominatedNodeName", str_field(j, "status", "nominatedNodeName"));
    bool host = false;
    if (auto s = j.find("spec"); s != j.end() && s->is_object()) {
      auto h = s->find("hostNetwork");
      host = h != s->end() && h->is_boolean() && h->get<bool>();
    }
    o->fields.emplace_back("spec.hostNetwork", host ? "true" : "false");
  }
  if (k == Kind::Namespace) o->fields.emplace_back("status.phase", str_field(j, "status", "phase"));
  json copy = j;
  copy.erase("kind");
  copy.erase("apiVersion");
  o->text = copy.dump();
  return o;
}

// API-server defaulting of the fields users see in `kubectl get -o yaml`.
void apply_defaults(Kind k, json& j) {
  json& meta = j["metadata"];
  if (k == Kind::Namespace) {
    meta["labels"]["kubernetes.io/metadata.name"] = meta["name"];
    if (!j.contains("spec") || !j["spec"].is_object()) j["spec"] = json::object();
    if (!j["spec"].contains("finalizers")) j["spec"]["finalizers"] = json::array({"kubernetes"});
    j["status"] = json{{"phase", "Active"}};
  }
  auto default_protocols = [](json& ports) {
    if (!ports.is_array()) return;
    for (auto& p : ports)
      if (p.is_object() && !p.contains("protocol")) p["protocol"] = "TCP";
  };
  if (k == Kind::Pod) {
    json& spec = j["spec"];
    if (!spec.is_object()) return;
    for (const char* list : {"containers", "initContainers"}) {
      if (auto c = spec.find(list); c != spec.end() && c->is_array())
        for (auto& ctr : *c)
          if (ctr.is_object() && ctr.contains("ports")) default_protocols(ctr["ports"]);
    }
    if (!spec.contains("restartPolicy")) spec["restartPolicy"] = "Always";
    if (!spec.contains("dnsPolicy")) spec["dnsPolicy"] = "ClusterFirst";
    if (!spec.contains("schedulerName")) spec["schedulerName"] = "default-scheduler";
    if (!spec.contains("terminationGracePeriodSeconds")) spec["terminationGracePeriodSeconds"] = 30;
  }
  if (k == Kind::CustomResourceDefinition) {
    // What the apiextensions controller reports once it serves the CRD.
    json names = j.contains("spec") && j["spec"].is_object()
                     ? j["spec"].value("names", json::object())
                     : json::object();
    j["status"] = {
        {"acceptedNames", names},
        {"storedVersions", {"v1alpha2"}},
        {"conditions",
         {{{"type", "NamesAccepted"}, {"status", "True"}, {"reason", "NoConflicts"}},
          {{"type", "Established"}, {"status", "True"}, {"reason", "InitialNamesAccepted"}}}}};
  }
  if (k == Kind::NetworkPolicy) {
    if (!j.contains("spec") || !j["spec"].is_object()) j["spec"] = json::object();
    json& spec = j["spec"];
    if (!spec.contains("podSelector") || spec["podSelector"].is_null())
      spec["podSelector"] = json::object();
    for (const char* dir : {"ingress", "egress"}) {
      if (auto rules = spec.find(dir); rules != spec.end() && rules->is_array())
        for (auto& r : *rules)
          if (r.is_object() && r.contains("ports")) default_protocols(r["ports"]);
    }
    if (!spec.contains("policyTypes")) {
      json types = json::array({"Ingress"});
      if (auto e = spec.find("egress"); e != spec.end() && e->is_array() && !e->empty())
        types.push_back("Egress");
      spec["policyTypes"] = types;
    }
  }
}

const char* json_type(const json& v) {
  if (v.is_boolean()) return "bool";
  if (v.is_number()) return "number";
  if (v.is_object()) return "object";
  if (v.is_array()) return "array";
  return "value";
}

// What the real server's JSON decoding refuses (400, before validation):
// label maps and selector values that are not strings. Kubectl sends such
// values when a YAML 1.1 scalar like `y` or `on` was left unquoted.
std::string type_error(Kind k, const json& j) {
  const std::string head = std::string(info(k).kind_name) + " in version \"" +
                           (k == Kind::NetworkPolicy ? "v1" : "v1") + "\" cannot be handled as a " +
                           info(k).kind_name + ": json: cannot unmarshal ";
  auto string_map = [&](const json& m, const std::string& field) -> std::string {
    if (m.is_null()) return "";
    if (!m.is_object())
      return head + json_type(m) + " into Go struct field " + field + " of type map[string]string";
    for (auto it = m.begin(); it != m.end(); ++it)
      if (!it.value().is_string())
        return head + json_type(it.value()) + " into Go struct field " + field + " of type string";
    return "";
  };
  auto selector = [&](const json& sel, const std::string& field) -> std::string {
    if (!sel.is_object()) return "";
    if (auto ml = sel.find("matchLabels"); ml != sel.end())
      if (auto e = string_map(*ml, "LabelSelector." + field + ".matchLabels"); !e.empty()) return e;
    if (auto me = sel.find("matchExpressions"); me != sel.end() && me->is_array())
      for (const auto& r : *me)
        if (r.is_object() && r.contains("values") && r["values"].is_array())
          for (const auto& v : r["values"])
            if (!v.is_string())
              return head + json_type(v) + " into Go struct field LabelSelectorRequirement." +
                     field + ".matchExpressions.values of type string";
    return "";
  };
  const json& meta = j["metadata"];
  for (const char* f : {"name", "namespace", "generateName"})
    if (meta.contains(f) && !meta[f].is_string())
      return head + json_type(meta[f]) + " into Go struct field ObjectMeta.metadata." + f +
             " of type string";
  for (const char* f : {"labels", "annotations"})
    if (meta.contains(f))
      if (auto e = string_map(meta[f], std::string("ObjectMeta.metadata.") + f); !e.empty())
        return e;
  if (k == Kind::NetworkPolicy && j.contains("spec") && j["spec"].is_object()) {
    const json& spec = j["spec"];
    if (spec.contains("podSelector"))
      if (auto e = selector(spec["podSelector"], "spec.podSelector"); !e.empty()) return e;
    for (const auto& [dir, peers] : {std::pair{"ingress", "from"}, std::pair{"egress", "to"}}) {
      auto rules = spec.find(dir);
      if (rules == spec.end() || !rules->is_array()) continue;
      for (const auto& r : *rules) {
        if (!r.is_object() || !r.contains(peers) || !r[peers].is_array()) continue;
        for (const auto& peer : r[peers]) {
          if (!peer.is_object()) continue;
          for (const char* s : {"podSelector", "namespaceSelector"})
            if (peer.contains(s))
              if (auto e = selector(peer[s], std::string("spec.") + dir + "." + peers + "." + s);
                  !e.empty())
                return e;
        }
      }
    }
  }
  return "";
}

// The minimal validation kubectl users hit: names and a pod's containers
// (ClusterNetworkPolicies: invalid_cnp()).
std::string validate(Kind k, const json& j) {
  const json& meta = j["metadata"];
  const std::string name = meta.value("name", "");
  const auto& in = info(k);
  const bool ok = k == Kind::Namespace ? dns1123_label(name) : dns1123_subdomain(name);
  if (!ok)
    return std::string(in.kind_name) + " \"" + name +
           "\" is invalid: metadata.name: Invalid value: \"" + name + "\": a lowercase RFC 1123 " +
           (k == Kind::Namespace ? "label" : "subdomain") +
           " must consist of lower case alphanumeric characters, '-' or '.', and must start and "
           "end with an alphanumeric character";
  if (auto l = meta.find("labels"); l != meta.end() && !l->is_null() && !l->is_object())
    return std::string(in.kind_name) + " \"" + name +
           "\" is invalid: metadata.labels: must be a map";
  if (k == Kind::Pod) {
    const json& spec = j.contains("spec") ? j["spec"] : json();
    auto c = spec.is_object() ? spec.find("containers") : spec.end();
    if (!spec.is_object() || c == spec.end() || !c->is_array() || c->empty())
      return "Pod \"" + name + "\" is invalid: spec.containers: Required value";
    for (size_t i = 0; i < c->size(); ++i) {
      const json& ctr = (*c)[i];
      if (!ctr.is_object() || !ctr.contains("name") || !ctr["name"].is_string())
        return "Pod \"" + name + "\" is invalid: spec.containers[" + std::to_string(i) +
               "].name: Required value";
      if (!ctr.contains("image") || !ctr["image"].is_string())
        return "Pod \"" + name + "\" is invalid: spec.containers[" + std::to_string(i) +
               "].image: Required value";
    }
  }
  return "";
}

// The patchMergeKey of the lists in Pods, Namespaces and NetworkPolicies
// (from the API types' struct tags); lists without one are replaced whole.
const char* merge_key(const std::string& field) {
  static const std::map<std::string, const char*> keys = {{"containers", "name"},
                                                          {"initContainers", "name"},
                                                          {"ephemeralContainers", "name"},
                                                          {"env", "name"},
                                                          {"volumes", "name"},
                                                          {"imagePullSecrets", "name"},
                                                          {"volumeMounts", "mountPath"},
                                                          {"volumeDevices", "devicePath"},
                                                          {"ports", "containerPort"},
                                                          {"conditions", "type"},
                                                          {"podIPs", "ip"},
                                                          {"hostAliases", "ip"},
                                                          {"ownerReferences", "uid"},
                                                          {"resourceClaims", "name"},
                                                          {"schedulingGates", "name"}};
  auto it = keys.find(field);
  return it == keys.end() ? nullptr : it->second;
}

json without_directives(json v) {
  if (v.is_object()) {
    for (auto it = v.begin(); it != v.end();) {
      if (!it.key().empty() && it.key()[0] == '$') {
        it = v.erase(it);
      } else {
        it.value() = without_directives(it.value());
        ++it;
      }
    }
  } else if (v.is_array()) {
    for (auto& e : v) e = without_directives(e);
  }
  return v;
}

}  // namespace

// Strategic merge patch, as kubectl apply/edit/patch send it for built-in
// types: a JSON merge patch in which lists with a merge key merge element by
// element, plus the $patch, $deleteFromPrimitiveList and $retainKeys
// directives ($setElementOrder only orders, and is ignored here).
json strategic_merge(json target, const json& patch) {
  if (!patch.is_object()) return without_directives(patch);
  if (patch.value("$patch", "") == "replace") return without_directives(patch);
  if (!target.is_object()) target = json::object();
  for (auto it = patch.begin(); it != patch.end(); ++it) {
    const std::string& k = it.key();
    const json& v = it.value();
    static const std::string kDelete = "$deleteFromPrimitiveList/";
    if (k.rfind(kDelete, 0) == 0) {
      json& list = target[k.substr(kDelete.size())];
      if (list.is_array() && v.is_array())
        for (const auto& gone : v)
          list.erase(std::remove(list.begin(), list.end(), gone), list.end());
      continue;
    }
    if (!k.empty() && k[0] == '$') continue;
    if (v.is_null()) {
      target.erase(k);
    } else if (v.is_object()) {
      target[k] = strategic_merge(target.contains(k) ? target[k] : json::object(), v);
    } else if (const char* key = merge_key(k);
               v.is_array() && key && target.contains(k) && target[k].is_array()) {
      json& list = target[k];
      for (const auto& elem : v) {
        if (!elem.is_object() || !elem.contains(key)) {
          list.push_back(without_directives(elem));
          continue;
        }
        auto same = std::find_if(list.begin(), list.end(), [&](const json& e) {
          return e.is_object() && e.value(key, json()) == elem[key];
        });
        if (elem.value("$patch", "") == "delete") {
          if (same != list.end()) list.erase(same);
        } else if (same != list.end()) {
          *same = strategic_merge(*same, elem);
        } else {
          list.push_back(without_directives(elem));
        }
      }
    } else {
      target[k] = without_directives(v);
    }
  }
  if (auto keep = patch.find("$retainKeys"); keep != patch.end() && keep->is_array()) {
    for (auto it = target.begin(); it != target.end();)
      it = std::find(keep->begin(), keep->end(), it.key()) == keep->end() ? target.erase(it)
                                                                          : std::next(it);
  }
  return target;
}

namespace {

// The object without the fields a write always changes, to spot no-op updates.
json comparable(json j) {
  j.erase("kind");
  j.erase("apiVersion");
  if (j.contains("metadata") && j["metadata"].is_object()) {
    j["metadata"].erase("resourceVersion");
    j["metadata"].erase("generation");
    j["metadata"].erase("managedFields");
  }
  return j;
}

std::string not_found_msg(Kind k, const std::string& name) {
  return std::string(info(k).plural) + " \"" + name + "\" not found";
}

}  // namespace

const char* kind_name(Kind k) {
  return info(k).kind_name;
}

const ResourceInfo& info(Kind k) {
  return kInfos[static_cast<int>(k)];
}

std::optional<Kind> kind_from_plural(std::string_view gv, std::string_view plural) {
  for (const auto& i : kInfos)
    if (gv == i.group_version && plural == i.plural) return i.kind;
  return std::nullopt;
}

std::string Obj::full_text() const {
  const auto& in = info(kind);
  std::string out = "{\"kind\":\"";
  out += in.kind_name;
  out += "\",\"apiVersion\":\"";
  out += in.group_version;
  out += "\",";
  out.append(text, 1, std::string::npos);
  return out;
}

json Obj::to_json() const {
  return json::parse(full_text());
}

bool Selector::matches(const std::map<std::string, std::string>& labels) const {
  for (const auto& t : terms) {
    auto it = labels.find(t.key);
    const bool has = it != labels.end();
    switch (t.op) {
      case Term::Eq:
        if (!has || it->second != t.values[0]) return false;
        break;
      case Term::NotEq:
        if (has && it->second == t.values[0]) return false;
        break;
      case Term::In:
        if (!has || std::find(t.values.begin(), t.values.end(), it->second) == t.values.end())
          return false;
        break;
      case Term::NotIn:
        if (has && std::find(t.values.begin(), t.values.end(), it->second) != t.values.end())
          return false;
        break;
      case Term::Exists:
        if (!has) return false;
        break;
      case Term::NotExists:
        if (has) return false;
        break;
    }
  }
  return true;
}

bool Selector::matches_fields(const Obj& o) const {
  for (const auto& t : terms) {
    auto it = std::find_if(o.fields.begin(), o.fields.end(),
                           [&](const auto& f) { return f.first == t.key; });
    const std::string value = it == o.fields.end() ? "" : it->second;
    if ((t.op == Term::Eq) != (value == t.values[0])) return false;
  }
  return true;
}

namespace {

std::string trim(const std::string& s) {
  const auto b = s.find_first_not_of(' ');
  if (b == std::string::npos) return "";
  return s.substr(b, s.find_last_not_of(' ') - b + 1);
}

// Splits on commas outside parentheses.
std::vector<std::string> split_terms(const std::string& s) {
  std::vector<std::string> out;
  std::string cur;
  int depth = 0;
  for (char c : s) {
    if (c == '(') ++depth;
    if (c == ')') --depth;
    if (c == ',' && depth == 0) {
      out.push_back(trim(cur));
      cur.clear();
    } else {
      cur += c;
    }
  }
  out.push_back(trim(cur));
  return out;
}

}  // namespace

std::optional<Selector> parse_label_selector(const std::string& s, std::string* error) {
  Selector sel;
  if (trim(s).empty()) return sel;
  for (const std::string& term : split_terms(s)) {
    Selector::Term t;
    if (term.empty()) {
      *error = "found '', expected: identifier";
      return std::nullopt;
    }
    size_t sp;
    if (term[0] == '!') {
      t.op = Selector::Term::NotExists;
      t.key = trim(term.substr(1));
    } else if (auto p = term.find("!="); p != std::string::npos) {
      t.op = Selector::Term::NotEq;
      t.key = trim(term.substr(0, p));
      t.values = {trim(term.substr(p + 2))};
    } else if (auto q = term.find("=="); q != std::string::npos) {
      t.op = Selector::Term::Eq;
      t.key = trim(term.substr(0, q));
      t.values = {trim(term.substr(q + 2))};
    } else if (auto e = term.find('='); e != std::string::npos) {
      t.op = Selector::Term::Eq;
      t.key = trim(term.substr(0, e));
      t.values = {trim(term.substr(e + 1))};
    } else if ((sp = term.find(' ')) != std::string::npos) {
      t.key = term.substr(0, sp);
      const std::string rest = trim(term.substr(sp));
      std::string list;
      if (rest.rfind("in", 0) == 0) {
        t.op = Selector::Term::In;
        list = trim(rest.substr(2));
      } else if (rest.rfind("notin", 0) == 0) {
        t.op = Selector::Term::NotIn;
        list = trim(rest.substr(5));
      } else {
        *error = "unable to parse requirement: " + term;
        return std::nullopt;
      }
      if (list.size() < 2 || list.front() != '(' || list.back() != ')') {
        *error = "unable to parse requirement: " + term + ": expected a (list)";
        return std::nullopt;
      }
      for (const auto& v : split_terms(list.substr(1, list.size() - 2))) t.values.push_back(v);
    } else {
      t.op = Selector::Term::Exists;
      t.key = term;
    }
    if (t.key.empty()) {
      *error = "unable to parse requirement: " + term + ": empty key";
      return std::nullopt;
    }
    sel.terms.push_back(std::move(t));
  }
  return sel;
}

std::optional<Selector> parse_field_selector(Kind k, const std::string& s, std::string* error) {
  std::string lerr;
  auto sel = parse_label_selector(s, &lerr);
  if (!sel) {
    *error = "invalid field selector: " + lerr;
    return std::nullopt;
  }
  // Field selectors only know =, == and != on the fields each resource indexes.
  Obj probe;
  probe.kind = k;
  std::vector<std::string> known = {"metadata.name"};
  if (info(k).namespaced) known.push_back("metadata.namespace");
  if (k == Kind::Pod)
    for (const char* f :
         {"spec.nodeName", "spec.restartPolicy", "spec.schedulerName", "spec.serviceAccountName",
          "status.phase", "status.podIP", "status.nominatedNodeName", "spec.hostNetwork"})
      known.push_back(f);
  if (k == Kind::Namespace) known.push_back("status.phase");
  for (const auto& t : sel->terms) {
    if (t.op != Selector::Term::Eq && t.op != Selector::Term::NotEq) {
      *error = "invalid field selector: only =, == and != are supported";
      return std::nullopt;
    }
    if (std::find(known.begin(), known.end(), t.key) == known.end()) {
      *error = "field label not supported: " + t.key;
      return std::nullopt;
    }
  }
  return sel;
}

Reply status_reply(int code, const std::string& reason, const std::string& message,
                   const std::string& name, const std::string& plural) {
  json body = {{"kind", "Status"},    {"apiVersion", "v1"}, {"metadata", json::object()},
               {"status", "Failure"}, {"message", message}, {"reason", reason},
               {"code", code}};
  if (!name.empty() || !plural.empty()) {
    body["details"] = {{"name", name}, {"kind", plural}};
  } else if (code == 404) {
    // A real server's 404 for a path it does not serve carries empty details;
    // kubectl reads them (`kubectl debug` panics on a 404 without details).
    body["details"] = json::object();
  }
  return Reply{code, std::move(body)};
}

State::State(const Options& opts) : faults(opts.faults), rng(opts.seed), opts_(opts) {
  if (opts.install_cnp_crd) {
    // Installed before the server starts: part of the initial state at
    // resourceVersion 1, with no event.
    json crd = cnp_crd_object();
    crd["metadata"]["uid"] =
        "00000000-0000-4000-8000-0000000c4d00";  // the seeded dice stay untouched
    crd["metadata"]["creationTimestamp"] = now_rfc3339();
    crd["metadata"]["generation"] = 1;
    crd["metadata"]["resourceVersion"] = "1";
    apply_defaults(Kind::CustomResourceDefinition, crd);
    ObjPtr o = make_obj(Kind::CustomResourceDefinition, crd);
    objs_[static_cast<int>(Kind::CustomResourceDefinition)][o->key()] = o;
  }
}

bool State::served_locked(Kind k) const {
  if (k != Kind::ClusterNetworkPolicy) return true;
  return objs_[static_cast<int>(Kind::CustomResourceDefinition)].count(kCnpCrdName) > 0;
}

bool State::served(Kind k) const {
  std::lock_guard lock(mu);
  return served_locked(k);
}

namespace {
Reply not_served() {
  return status_reply(404, "NotFound", "the server could not find the requested resource");
}
}  // namespace

uint64_t State::rv() const {
  std::lock_guard lock(mu);
  return rv_;
}

std::string State::new_uid_locked() {
  // A version-4 UUID from the seeded generator: unique, and repeatable in tests.
  const uint64_t a = rng(), b = rng();
  char buf[40];
  std::snprintf(buf, sizeof buf, "%08x-%04x-4%03x-%04x-%012llx", static_cast<unsigned>(a >> 32),
                static_cast<unsigned>((a >> 16) & 0xffff), static_cast<unsigned>(a & 0xfff),
                static_cast<unsigned>(0x8000 | ((b >> 48) & 0x3fff)),
                static_cast<unsigned long long>(b & 0xffffffffffffULL));
  return buf;
}

void State::after_write_locked() {
  ++writes_;
  while (history_.size() > opts_.history_limit) {
    compacted_ = history_.front().rv;
    history_.pop_front();
  }
  if (faults.compact_every && writes_ % faults.compact_every == 0) compact_locked();
  cv.notify_all();
}

void State::compact_locked() {
  history_.clear();
  compacted_ = rv_;
  snapshots_.clear();
  ++stats.compactions;
  cv.notify_all();
}

void State::compact() {
  std::lock_guard lock(mu);
  compact_locked();
}

void State::events_after_locked(uint64_t from, std::vector<Event>& out) const {
  if (from >= rv_) return;
  // history_[i].rv == compacted_ + 1 + i: every write is exactly one event.
  size_t i = from >= compacted_ ? from - compacted_ : 0;
  for (; i < history_.size(); ++i) out.push_back(history_[i]);
}

Reply State::commit_locked(Kind k, EvType type, json obj, ObjPtr old) {
  ++rv_;
  obj["metadata"]["resourceVersion"] = std::to_string(rv_);
  ObjPtr o = make_obj(k, obj);
  auto& m = objs_[static_cast<int>(k)];
  if (type == EvType::Deleted) {
    m.erase(o->key());
  } else {
    m[o->key()] = o;
  }
  history_.push_back(Event{rv_, k, type, o, type == EvType::Modified ? old : nullptr});
  after_write_locked();
  obj["kind"] = info(k).kind_name;
  obj["apiVersion"] = info(k).group_version;
  return Reply{type == EvType::Added ? 201 : 200, std::move(obj)};
}

Reply State::create(Kind k, const std::string& path_ns, json obj) {
  std::lock_guard lock(mu);
  if (!served_locked(k)) return not_served();
  const auto& in = info(k);
  if (!obj.is_object()) return status_reply(400, "BadRequest", "the body is not a JSON object");
  if (obj.contains("kind") && obj["kind"] != in.kind_name)
    return status_reply(
        400, "BadRequest",
        "the kind of the object (" + obj["kind"].dump() + ") does not match " + in.kind_name);
  if (obj.contains("apiVersion") && obj["apiVersion"] != in.group_version)
    return status_reply(400, "BadRequest",
                        "the apiVersion of the object (" + obj["apiVersion"].dump() +
                            ") does not match " + in.group_version);
  if (!obj.contains("metadata") || !obj["metadata"].is_object()) obj["metadata"] = json::object();
  json& meta = obj["metadata"];
  if (std::string err = type_error(k, obj); !err.empty())
    return status_reply(400, "BadRequest", err);
  if ((!meta.contains("name") || meta["name"] == "") && meta.contains("generateName") &&
      meta["generateName"].is_string()) {
    static const char* alnum = "bcdfghjklmnpqrstvwxz2456789";  // what the API server draws from
    std::string name = meta["generateName"].get<std::string>();
    for (int i = 0; i < 5; ++i) name += alnum[rng() % 27];
    meta["name"] = name;
  }
  if (!meta.contains("name") || !meta["name"].is_string() || meta["name"] == "")
    return status_reply(
        422, "Invalid",
        std::string(in.kind_name) +
            " \"\" is invalid: metadata.name: Required value: name or generateName is required");
  const std::string name = meta["name"].get<std::string>();
  std::string ns;
  if (in.namespaced) {
    const std::string body_ns = meta.value("namespace", "");
    if (!path_ns.empty() && !body_ns.empty() && body_ns != path_ns)
      return status_reply(
          400, "BadRequest",
          "the namespace of the provided object does not match the namespace sent on the request");
    ns = !path_ns.empty() ? path_ns : !body_ns.empty() ? body_ns : "default";
    meta["namespace"] = ns;
    if (!objs_[static_cast<int>(Kind::Namespace)].count(ns))
      return status_reply(404, "NotFound", "namespaces \"" + ns + "\" not found", ns, "namespaces");
  } else {
    meta.erase("namespace");
  }
  if (std::string err = validate(k, obj); !err.empty())
    return status_reply(422, "Invalid", err, name, in.plural);
  if (k == Kind::ClusterNetworkPolicy)
    if (auto bad = invalid_cnp(obj)) return *bad;
  if (k == Kind::CustomResourceDefinition)
    if (auto bad = invalid_crd(obj)) return *bad;
  const std::string key = ns.empty() ? name : ns + "/" + name;
  if (objs_[static_cast<int>(k)].count(key))
    return status_reply(409, "AlreadyExists",
                        std::string(in.plural) + " \"" + name + "\" already exists", name,
                        in.plural);
  meta["uid"] = new_uid_locked();
  meta["creationTimestamp"] = now_rfc3339();
  meta.erase("resourceVersion");
  meta.erase("deletionTimestamp");
  meta.erase("managedFields");
  if (has_generation(k)) meta["generation"] = 1;
  if (k == Kind::Pod) {
    if (!opts_.keep_pod_status || !obj.contains("status") || !obj["status"].is_object())
      obj["status"] = json{{"phase", "Pending"}};
    if (!obj["status"].contains("phase")) obj["status"]["phase"] = "Pending";
  }
  try {
    apply_defaults(k, obj);
  } catch (const json::exception& e) {
    return status_reply(422, "Invalid",
                        std::string(in.kind_name) + " \"" + name + "\" is invalid: " + e.what());
  }
  return commit_locked(k, EvType::Added, std::move(obj), nullptr);
}

Reply State::do_update_locked(Kind k, const ObjPtr& cur, json next, bool status_only,
                              const std::string& precondition_rv) {
  const auto& in = info(k);
  if (!precondition_rv.empty() && precondition_rv != std::to_string(cur->rv))
    return status_reply(
        409, "Conflict",
        "Operation cannot be fulfilled on " + std::string(in.plural) + " \"" + cur->name +
            "\": the object has been modified; please apply your changes to the latest "
            "version and try again",
        cur->name, in.plural);
  json old = json::parse(cur->text);
  if (!next.is_object()) return status_reply(400, "BadRequest", "the body is not a JSON object");
  json result;
  if (status_only) {
    result = old;
    if (next.contains("status")) result["status"] = next["status"];
  } else {
    result = std::move(next);
    if (!result.contains("metadata") || !result["metadata"].is_object())
      result["metadata"] = json::object();
    json& meta = result["metadata"];
    // Identity and server-owned metadata cannot be changed by an update.
    for (const char* f : {"uid", "creationTimestamp", "name", "namespace", "generation"}) {
      if (old["metadata"].contains(f)) {
        meta[f] = old["metadata"][f];
      } else {
        meta.erase(f);
      }
    }
    // The kubelet owns pod status; namespaces' status belongs to their controller.
    if ((k == Kind::Pod && !opts_.keep_pod_status) || k == Kind::Namespace) {
      if (old.contains("status")) {
        result["status"] = old["status"];
      } else {
        result.erase("status");
      }
    }
  }
  result.erase("kind");
  result.erase("apiVersion");
  try {
    apply_defaults(k, result);
  } catch (const json::exception& e) {
    return status_reply(
        422, "Invalid",
        std::string(in.kind_name) + " \"" + cur->name + "\" is invalid: " + e.what());
  }
  if (std::string err = type_error(k, result); !err.empty())
    return status_reply(400, "BadRequest", err);
  if (std::string err = validate(k, result); !err.empty())
    return status_reply(422, "Invalid", err, cur->name, in.plural);
  if (k == Kind::ClusterNetworkPolicy)
    if (auto bad = invalid_cnp(result)) return *bad;
  // An update that changes nothing is not a write: no new version, no event.
  if (comparable(result) == comparable(old)) {
    old["kind"] = in.kind_name;
    old["apiVersion"] = in.group_version;
    return Reply{200, std::move(old)};
  }
  if (has_generation(k) && result.value("spec", json()) != old.value("spec", json()))
    result["metadata"]["generation"] = old["metadata"].value("generation", 1) + 1;
  return commit_locked(k, EvType::Modified, std::move(result), cur);
}

Reply State::update(Kind k, const std::string& ns, const std::string& name, json obj,
                    bool status_only) {
  std::lock_guard lock(mu);
  Reply missing;  // also the 404 of a kind not served (no CRD)
  const ObjPtr cur = find_locked(k, ns, name, &missing);
  if (!cur) return missing;
  if (!obj.is_object()) return status_reply(400, "BadRequest", "the body is not a JSON object");
  const auto& in = info(k);
  std::string rv;
  if (auto meta = obj.find("metadata"); meta != obj.end() && meta->is_object()) {
    if (meta->contains("name") && (*meta)["name"] != name)
      return status_reply(400, "BadRequest",
                          "the name of the object (" + (*meta)["name"].dump() +
                              ") does not match the name on the URL (" + name + ")");
    if (in.namespaced && meta->contains("namespace") && (*meta)["namespace"] != ns)
      return status_reply(
          400, "BadRequest",
          "the namespace of the provided object does not match the namespace sent on the request");
    if (auto r = meta->find("resourceVersion"); r != meta->end() && r->is_string())
      rv = r->get<std::string>();
  }
  if ((obj.contains("kind") && obj["kind"] != in.kind_name) ||
      (obj.contains("apiVersion") && obj["apiVersion"] != in.group_version))
    return status_reply(400, "BadRequest",
                        "the kind or apiVersion of the object does not match the URL");
  return do_update_locked(k, cur, std::move(obj), status_only, rv);
}

Reply State::patch(Kind k, const std::string& ns, const std::string& name, const json& patch,
                   const std::string& type, bool status_only) {
  std::lock_guard lock(mu);
  Reply missing;
  const ObjPtr cur = find_locked(k, ns, name, &missing);
  if (!cur) return missing;
  json doc = json::parse(cur->text);
  std::string rv;
  try {
    if (type == "json") {
      doc = doc.patch(patch);
    } else {
      if (!patch.is_object())
        return status_reply(400, "BadRequest", "a merge patch must be a JSON object");
      if (patch.contains("metadata") && patch["metadata"].is_object()) {
        if (auto r = patch["metadata"].find("resourceVersion");
            r != patch["metadata"].end() && r->is_string())
          rv = r->get<std::string>();
      }
      if (type == "strategic") {
        doc = strategic_merge(std::move(doc), patch);
      } else {
        doc.merge_patch(patch);
      }
    }
  } catch (const json::exception& e) {
    return status_reply(422, "Invalid", std::string("the patch cannot be applied: ") + e.what());
  }
  if (doc.is_object() && doc.contains("metadata") && doc["metadata"].is_object()) {
    if (doc["metadata"].value("name", "") != name)
      return status_reply(422, "Invalid",
                          "metadata.name: Invalid value: the patch changes the name");
  }
  return do_update_locked(k, cur, std::move(doc), status_only, rv);
}

Reply State::remove(Kind k, const std::string& ns, const std::string& name, const json& options) {
  std::lock_guard lock(mu);
  Reply missing;  // also the 404 of a kind not served (no CRD)
  const ObjPtr cur = find_locked(k, ns, name, &missing);
  if (!cur) return missing;
  const auto& in = info(k);
  if (options.is_object()) {
    if (auto p = options.find("preconditions"); p != options.end() && p->is_object()) {
      const std::string uid = p->value("uid", "");
      const std::string rv = p->value("resourceVersion", "");
      if ((!uid.empty() && uid != cur->uid) || (!rv.empty() && rv != std::to_string(cur->rv)))
        return status_reply(
            409, "Conflict",
            "Operation cannot be fulfilled on " + std::string(in.plural) + " \"" + name +
                "\": the precondition does not hold (uid or resourceVersion changed)",
            name, in.plural);
    }
  }
  if (k == Kind::CustomResourceDefinition) {
    // Deleting a CRD deletes its custom resources.
    std::vector<ObjPtr> victims;
    for (const auto& [key, o] : objs_[static_cast<int>(Kind::ClusterNetworkPolicy)])
      victims.push_back(o);
    for (const auto& v : victims)
      commit_locked(Kind::ClusterNetworkPolicy, EvType::Deleted, json::parse(v->text), nullptr);
  }
  if (k == Kind::Namespace) {
    // The namespace controller empties a deleted namespace; here it happens at once.
    for (Kind inner : {Kind::Pod, Kind::NetworkPolicy}) {
      auto& im = objs_[static_cast<int>(inner)];
      std::vector<ObjPtr> victims;
      for (auto i = im.lower_bound(name + "/"); i != im.end() && i->second->ns == name; ++i)
        victims.push_back(i->second);
      for (const auto& v : victims)
        commit_locked(inner, EvType::Deleted, json::parse(v->text), nullptr);
    }
  }
  Reply r = commit_locked(k, EvType::Deleted, json::parse(cur->text), nullptr);
  r.code = 200;
  return r;
}

ObjPtr State::find_locked(Kind k, const std::string& ns, const std::string& name,
                          Reply* missing) const {
  if (!served_locked(k)) {
    *missing = not_served();
    return nullptr;
  }
  const auto& in = info(k);
  const auto& m = objs_[static_cast<int>(k)];
  auto it = m.find(in.namespaced ? ns + "/" + name : name);
  if (it != m.end()) return it->second;
  *missing = status_reply(404, "NotFound", not_found_msg(k, name), name, in.plural);
  return nullptr;
}

Reply State::get(Kind k, const std::string& ns, const std::string& name) {
  std::lock_guard lock(mu);
  Reply missing;
  const ObjPtr cur = find_locked(k, ns, name, &missing);
  return cur ? Reply{200, cur->to_json()} : missing;
}

std::vector<ObjPtr> State::objects_locked(Kind k, const std::string& ns) const {
  std::vector<ObjPtr> out;
  const auto& m = objs_[static_cast<int>(k)];
  if (ns.empty() || !info(k).namespaced) {
    out.reserve(m.size());
    for (const auto& [key, o] : m) out.push_back(o);
  } else {
    for (auto i = m.lower_bound(ns + "/"); i != m.end() && i->second->ns == ns; ++i)
      out.push_back(i->second);
  }
  return out;
}

std::vector<ObjPtr> State::objects(Kind k, const std::string& ns) const {
  std::lock_guard lock(mu);
  return objects_locked(k, ns);
}

Reply State::list(const ListRequest& req, std::string* body, ListPageInfo* page_info) {
  const auto& in = info(req.kind);
  std::vector<ObjPtr> page;
  std::string next_token;
  uint64_t list_rv = 0;
  int64_t remaining = -1;
  {
    std::lock_guard lock(mu);
    if (!served_locked(req.kind)) return not_served();
    std::shared_ptr<const std::vector<ObjPtr>> snap;
    std::string start;  // exclusive: the last key of the previous page
    if (!req.continue_token.empty()) {
      json tok;
      try {
        auto raw = unbase64(req.continue_token);
        if (!raw) throw std::runtime_error("base64");
        tok = json::parse(*raw);
        list_rv = tok.at("rv").get<uint64_t>();
        start = tok.at("start").get<std::string>();
      } catch (const std::exception&) {
        return status_reply(400, "BadRequest",
                            "continue key is not valid: illegal base64 data or JSON");
      }
      auto it = snapshots_.find({static_cast<int>(req.kind), list_rv});
      if (it == snapshots_.end() || list_rv < compacted_) {
        ++stats.gone;
        return status_reply(
            410, "Expired",
            "The provided continue parameter is too old to display a consistent list "
            "result. You can start a new list without the continue parameter.");
      }
      snap = it->second;
    } else {
      list_rv = rv_;
      auto all = std::make_shared<std::vector<ObjPtr>>(objects_locked(req.kind, ""));
      snap = all;
      // Keep it for continue tokens only when a page limit can leave something over.
      if (req.limit > 0 && static_cast<int64_t>(all->size()) > req.limit) {
        snapshots_[{static_cast<int>(req.kind), list_rv}] = snap;
        while (snapshots_.size() > 16) snapshots_.erase(snapshots_.begin());
      }
    }
    auto it = snap->begin();
    if (!start.empty())
      it = std::upper_bound(snap->begin(), snap->end(), start,
                            [](const std::string& k, const ObjPtr& o) { return k < o->key(); });
    for (; it != snap->end(); ++it) {
      const Obj& o = **it;
      if (in.namespaced && !req.ns.empty() && o.ns != req.ns) continue;
      if (!req.labels.matches(o.labels) || !req.fields.matches_fields(o)) continue;
      if (req.limit > 0 && static_cast<int64_t>(page.size()) == req.limit) {
        next_token = base64(json{{"rv", list_rv}, {"start", page.back()->key()}}.dump());
        if (req.labels.empty() && req.fields.empty()) remaining = snap->end() - it;
        break;
      }
      page.push_back(*it);
    }
  }
  if (page_info) *page_info = ListPageInfo{page, std::to_string(list_rv), next_token, remaining};
  std::string out;
  size_t total = 128;
  for (const auto& o : page) total += o->text.size() + 1;
  out.reserve(total);
  out += "{\"kind\":\"";
  out += in.kind_name;
  out += "List\",\"apiVersion\":\"";
  out += in.group_version;
  out += "\",\"metadata\":{\"resourceVersion\":\"" + std::to_string(list_rv) + "\"";
  if (!next_token.empty()) out += ",\"continue\":\"" + next_token + "\"";
  if (remaining >= 0) out += ",\"remainingItemCount\":" + std::to_string(remaining);
  out += "},\"items\":[";
  for (size_t i = 0; i < page.size(); ++i) {
    if (i) out += ',';
    out += page[i]->text;
  }
  out += "]}";
  *body = std::move(out);
  return Reply{200, json()};
}

}  // namespace netpol::fakeapi
