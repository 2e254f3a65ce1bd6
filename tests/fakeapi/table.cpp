// Server-side Tables (what `kubectl get` prints): the columns kube-apiserver
// uses for Pods, Namespaces and NetworkPolicies, computed from the stored JSON.
#include <ctime>

#include "tests/fakeapi/state.h"

namespace netpol::fakeapi {

namespace {

json column(const char* name, const char* description, int priority = 0, const char* format = "") {
  return json{{"name", name},
              {"type", "string"},
              {"format", format},
              {"description", description},
              {"priority", priority}};
}

// kubectl's HumanDuration, as the Age column shows it.
std::string age(const json& meta) {
  const std::string ts = meta.value("creationTimestamp", "");
  std::tm tm{};
  if (ts.size() < 20 || !strptime(ts.c_str(), "%Y-%m-%dT%H:%M:%SZ", &tm)) return "<unknown>";
  const long s = std::max<long>(0, static_cast<long>(std::time(nullptr) - timegm(&tm)));
  auto str = [](long v, const char* unit) { return std::to_string(v) + unit; };
  if (s < 120) return str(s, "s");
  const long m = s / 60, h = s / 3600, d = s / 86400;
  if (m < 10) return str(m, "m") + (s % 60 ? str(s % 60, "s") : "");
  if (h < 3) return str(m, "m");
  if (h < 8) return str(h, "h") + (m % 60 ? str(m % 60, "m") : "");
  if (h < 48) return str(h, "h");
  if (d < 8) return str(d, "d") + (h % 24 ? str(h % 24, "h") : "");
  return str(d, "d");
}

// "app=web,tier in (a,b)" as kubectl describes a label selector; "<none>" for {}.
std::string selector_text(const json& sel) {
  std::string out;
  auto add = [&](const std::string& s) { out += (out.empty() ? "" : ",") + s; };
  if (sel.is_object()) {
    if (auto ml = sel.find("matchLabels"); ml != sel.end() && ml->is_object())
      for (auto it = ml->begin(); it != ml->end(); ++it)
        add(it.key() + "=" +
            (it.value().is_string() ? it.value().get<std::string>() : it.value().dump()));
    if (auto me = sel.find("matchExpressions"); me != sel.end() && me->is_array())
      for (const auto& r : *me) {
        if (!r.is_object()) continue;
        const std::string key = r.value("key", ""), op = r.value("operator", "");
        std::string vals;
        if (auto v = r.find("values"); v != r.end() && v->is_array())
          for (const auto& x : *v)
            vals += (vals.empty() ? "" : ",") + (x.is_string() ? x.get<std::string>() : x.dump());
        if (op == "In")
          add(key + " in (" + vals + ")");
        else if (op == "NotIn")
          add(key + " notin (" + vals + ")");
        else if (op == "Exists")
          add(key);
        else if (op == "DoesNotExist")
          add("!" + key);
      }
  }
  return out.empty() ? "<none>" : out;
}

// `kubectl get nodes`' STATUS: the Ready condition.
std::string node_status(const json& o) {
  std::string out = "Unknown";
  const json status = o.value("status", json::object());
  if (auto cs = status.find("conditions"); cs != status.end() && cs->is_array())
    for (const auto& c : *cs)
      if (c.is_object() && c.value("type", "") == "Ready")
        out = c.value("status", "") == "True" ? "Ready" : "NotReady";
  if (o.contains("spec") && o["spec"].is_object() && o["spec"].value("unschedulable", false))
    out += ",SchedulingDisabled";
  return out;
}

// ROLES: the node-role.kubernetes.io/ROLE labels.
std::string node_roles(const json& meta) {
  std::string out;
  static const std::string prefix = "node-role.kubernetes.io/";
  if (auto l = meta.find("labels"); l != meta.end() && l->is_object())
    for (auto it = l->begin(); it != l->end(); ++it)
      if (it.key().rfind(prefix, 0) == 0 && it.key().size() > prefix.size())
        out += (out.empty() ? "" : ",") + it.key().substr(prefix.size());
  return out.empty() ? "<none>" : out;
}

// A printer column's value as the API server renders a CRD's
// additionalPrinterColumns of type string: the JSON value's text.
std::string spec_text(const json& o, const char* field) {
  if (!o.contains("spec") || !o["spec"].is_object() || !o["spec"].contains(field)) return "";
  const json& v = o["spec"][field];
  return v.is_string() ? v.get<std::string>() : v.dump();
}

json cells(Kind k, const json& o) {
  const json& meta = o["metadata"];
  const std::string name = meta.value("name", "");
  if (k == Kind::ClusterNetworkPolicy)
    return json::array({name, spec_text(o, "tier"), spec_text(o, "priority"), age(meta)});
  if (k == Kind::CustomResourceDefinition)
    return json::array({name, meta.value("creationTimestamp", "")});
  if (k == Kind::Node) {
    std::string version;
    if (auto st = o.find("status"); st != o.end() && st->is_object())
      if (auto ni = st->find("nodeInfo"); ni != st->end() && ni->is_object())
        version = ni->value("kubeletVersion", "");
    return json::array({name, node_status(o), node_roles(meta), age(meta), version});
  }
  if (k == Kind::Namespace) {
    const std::string phase = o.contains("status") ? o["status"].value("phase", "") : "";
    return json::array({name, phase, age(meta)});
  }
  if (k == Kind::NetworkPolicy) {
    const json sel =
        o.contains("spec") ? o["spec"].value("podSelector", json::object()) : json::object();
    return json::array({name, selector_text(sel), age(meta)});
  }
  const json spec = o.value("spec", json::object());
  const json status = o.value("status", json::object());
  size_t total =
      spec.contains("containers") && spec["containers"].is_array() ? spec["containers"].size() : 0;
  size_t ready = 0;
  int64_t restarts = 0;
  if (auto cs = status.find("containerStatuses"); cs != status.end() && cs->is_array())
    for (const auto& c : *cs) {
      if (c.value("ready", false)) ++ready;
      restarts += c.value("restartCount", int64_t{0});
    }
  std::string phase = status.value("phase", "");
  if (status.contains("reason") && status["reason"].is_string()) phase = status["reason"];
  if (meta.contains("deletionTimestamp")) phase = "Terminating";
  const std::string ip = status.value("podIP", "");
  const std::string node = spec.value("nodeName", "");
  const std::string nominated = status.value("nominatedNodeName", "");
  return json::array({name, std::to_string(ready) + "/" + std::to_string(total), phase,
                      std::to_string(restarts), age(meta), ip.empty() ? "<none>" : ip,
                      node.empty() ? "<none>" : node, nominated.empty() ? "<none>" : nominated,
                      "<none>"});
}

json columns(Kind k) {
  const char* name_desc =
      "Name must be unique within a namespace. Is required when creating resources, although some "
      "resources may "
      "allow a client to request the generation of an appropriate name automatically.";
  const char* age_desc =
      "CreationTimestamp is a timestamp representing the server time when this object was created.";
  if (k == Kind::ClusterNetworkPolicy)  // the CRD's additionalPrinterColumns
    return json::array({column("Name", name_desc, 0, "name"), column("Tier", ""),
                        column("Priority", ""), column("Age", "", 0, "date")});
  if (k == Kind::CustomResourceDefinition)
    return json::array(
        {column("Name", name_desc, 0, "name"), column("Created At", age_desc, 0, "date")});
  if (k == Kind::Node)
    return json::array({column("Name", name_desc, 0, "name"),
                        column("Status", "The status of the node"),
                        column("Roles", "The roles of the node"), column("Age", age_desc),
                        column("Version", "Kubelet Version reported by the node.")});
  if (k == Kind::Namespace)
    return json::array({column("Name", name_desc, 0, "name"),
                        column("Status", "The status of the namespace"), column("Age", age_desc)});
  if (k == Kind::NetworkPolicy)
    return json::array(
        {column("Name", name_desc, 0, "name"),
         column("Pod-Selector", "Selects the pods to which this NetworkPolicy object applies."),
         column("Age", age_desc)});
  return json::array(
      {column("Name", name_desc, 0, "name"),
       column("Ready", "The aggregate readiness state of this pod for accepting traffic."),
       column("Status", "The aggregate status of the containers in this pod."),
       column("Restarts", "The number of times the containers in this pod have been restarted."),
       column("Age", age_desc), column("IP", "IP address allocated to the pod.", 1),
       column("Node", "Name of the Node this pod is assigned to.", 1),
       column("Nominated Node", "Name of the node where the pod is nominated to run.", 1),
       column("Readiness Gates", "Pod readiness gates.", 1)});
}

}  // namespace

std::string table_json(Kind k, const std::vector<ObjPtr>& objs, const std::string& resource_version,
                       const std::string& continue_token, bool full_object) {
  json rows = json::array();
  for (const auto& p : objs) {
    json o = p->to_json();
    json row = {{"cells", cells(k, o)}};
    if (full_object) {
      row["object"] = o;
    } else {
      row["object"] = {{"kind", "PartialObjectMetadata"},
                       {"apiVersion", "meta.k8s.io/v1"},
                       {"metadata", o["metadata"]}};
    }
    rows.push_back(std::move(row));
  }
  json meta = {{"resourceVersion", resource_version}};
  if (!continue_token.empty()) meta["continue"] = continue_token;
  return json{{"kind", "Table"},
              {"apiVersion", "meta.k8s.io/v1"},
              {"metadata", meta},
              {"columnDefinitions", columns(k)},
              {"rows", rows}}
      .dump();
}

}  // namespace netpol::fakeapi
