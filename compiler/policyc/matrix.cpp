#include "compiler/policyc/matrix.h"

#include <algorithm>
#include <cctype>
#include <cstdio>
#include <deque>
#include <map>
#include <set>
#include <tuple>
#include <unordered_map>

namespace netpol::policyc {

namespace {

constexpr uint32_t kNone = UINT32_MAX;

std::string join(const std::vector<std::string>& v, const char* sep = ", ") {
  std::string out;
  for (size_t i = 0; i < v.size(); ++i) out += (i ? sep : "") + v[i];
  return out;
}

// The address of family `f` explain would pick for the pod: its first one.
std::optional<IpAddr> address_of(const k8s::Pod& p, Family f) {
  for (const IpAddr& a : p.ips) {
    if (a.family == f) return a;
  }
  return std::nullopt;
}

struct IpHash {
  size_t operator()(const IpAddr& a) const {
    size_t h = static_cast<size_t>(a.family);
    for (uint8_t b : a.bytes) h = h * 131 + b;
    return h;
  }
};

}  // namespace

std::string Probe::key() const {
  return std::string(k8s::to_string(protocol)) + "/" + std::to_string(port);
}

std::string Probe::label() const {
  std::string p = k8s::to_string(protocol);
  for (char& c : p) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
  return p + "/" + std::to_string(port);
}

std::vector<Probe> declared_probes(const std::vector<const k8s::Pod*>& pods) {
  std::set<std::pair<uint8_t, uint16_t>> seen;
  for (const k8s::Pod* p : pods) {
    for (const k8s::ContainerPort& cp : p->ports)
      seen.emplace(static_cast<uint8_t>(cp.protocol), cp.port);
  }
  std::vector<Probe> out;
  for (auto [proto, port] : seen) out.push_back(Probe{port, static_cast<k8s::Protocol>(proto)});
  if (out.empty()) out.push_back(Probe{80, k8s::Protocol::TCP});
  return out;
}

std::vector<const k8s::Pod*> matrix_pods(const k8s::Objects& objects,
                                         const std::function<bool(const std::string&)>& keep) {
  std::vector<const k8s::Pod*> out;
  for (const k8s::Pod& p : objects.pods) {
    if (p.phase != k8s::PodPhase::Running || p.ips.empty() || p.host_network) continue;
    if (keep && !keep(p.ns)) continue;
    out.push_back(&p);
  }
  std::sort(out.begin(), out.end(),
            [](const k8s::Pod* a, const k8s::Pod* b) { return a->key() < b->key(); });
  // Two objects with one key cannot come out of complete_snapshot; keep the first anyway.
  out.erase(std::unique(out.begin(), out.end(),
                        [](const k8s::Pod* a, const k8s::Pod* b) { return a->key() == b->key(); }),
            out.end());
  return out;
}

// --- identities ------------------------------------------------------------------
//
// What Explainer::evaluate() reads of each end, and nothing else:
//  - of the local end (the chain's owner): which chain its address dispatches
//    to on its node (by value: equal chains on one node decide alike), and for
//    ingress the destination's named-port memberships (the named-port rule
//    form looks up the destination);
//  - of the peer end: the sets of that node's rules its address is in (as
//    explain's in_set: an element of proto 0 whose range holds the address)
//    and, being the destination of egress, the named-port sets holding
//    (address, protocol, port).
// Sets are identified by content, so the same set on two nodes is one id.

struct Matrix::Grid {
  struct Family {
    std::vector<uint32_t> egress, ingress, peer;  // class per pod; kNone: no address of the family
    std::vector<std::pair<const k8s::Pod*, IpAddr>> local_rep_e, local_rep_i;
    std::vector<IpAddr> peer_rep;
    std::vector<int32_t> e_table, i_table;  // [local * peers + peer] -> verdicts index, -1 unset
  };
  Family fam[2];
  std::deque<DirectionVerdict> verdicts;
  size_t evaluations = 0;
};

namespace {

struct SetIds {
  std::map<std::string, std::vector<std::pair<const ir::Set*, uint32_t>>> by_name;
  std::vector<const ir::Set*> sets;
  uint32_t id(const ir::Set& s) {
    auto& v = by_name[s.name];
    for (auto& [p, id] : v) {
      if (*p == s) return id;
    }
    v.emplace_back(&s, static_cast<uint32_t>(sets.size()));
    sets.push_back(&s);
    return v.back().second;
  }
};

}  // namespace

// The family a pair connects over, as explain picks it: the one asked for,
// else IPv4 when both have an IPv4 address, else IPv6; -1 when none fits.
int Matrix::pick(const Grid& g, size_t a, size_t b) const {
  auto both = [&](int f) { return g.fam[f].peer[a] != kNone && g.fam[f].peer[b] != kNone; };
  if (family_) return both(*family_ == Family::V4 ? 0 : 1) ? (*family_ == Family::V4 ? 0 : 1) : -1;
  return both(0) ? 0 : both(1) ? 1 : -1;
}

Matrix::Matrix(Explainer& explainer, std::vector<const k8s::Pod*> pods, std::vector<Probe> probes,
               std::optional<Family> family)
    : pods_(std::move(pods)), probes_(std::move(probes)), family_(family) {
  const size_t n = pods_.size();
  // Every node's rules, and each distinct set of them once.
  std::set<std::string> nodes;
  for (const k8s::Pod* p : pods_) {
    if (!p->node_name.empty()) nodes.insert(p->node_name);
  }
  SetIds ids;
  std::map<std::string, std::map<std::string, uint32_t>> set_of_node;  // node -> name -> id
  for (const std::string& node : nodes) {
    for (const auto& [name, set] : explainer.rules_for(node).sets)
      set_of_node[node][name] = ids.id(set);
  }

  for (const Probe& probe : probes_) {
    auto grid = std::make_unique<Grid>();
    const uint8_t proto = static_cast<uint8_t>(probe.protocol);
    for (int f = 0; f < 2; ++f) {
      const Family family = f == 0 ? Family::V4 : Family::V6;
      Grid::Family& g = grid->fam[f];
      std::vector<std::optional<IpAddr>> ip(n);
      std::unordered_map<IpAddr, std::vector<uint32_t>, IpHash> by_ip;
      for (size_t i = 0; i < n; ++i) {
        ip[i] = address_of(*pods_[i], family);
        if (ip[i]) by_ip[*ip[i]].push_back(static_cast<uint32_t>(i));
      }
      // Memberships: peer sets and named-port sets, per pod.
      std::vector<std::vector<uint32_t>> member(n), named(n);
      for (uint32_t id = 0; id < ids.sets.size(); ++id) {
        const ir::Set& s = *ids.sets[id];
        if (s.kind == ir::SetKind::NamedPort) {
          for (const ir::Element& e : s.elements) {
            if (e.proto != proto || e.port != probe.port || e.first != e.last) continue;
            if (auto it = by_ip.find(e.first); it != by_ip.end()) {
              for (uint32_t i : it->second) named[i].push_back(id);
            }
          }
          continue;
        }
        std::vector<bool> in(n, false);
        for (const ir::Element& e : s.elements) {
          if (e.proto != 0 || e.family() != family) continue;
          if (e.first == e.last) {
            if (auto it = by_ip.find(e.first); it != by_ip.end()) {
              for (uint32_t i : it->second) in[i] = true;
            }
            continue;
          }
          for (size_t i = 0; i < n; ++i) {
            if (ip[i] && e.first <= *ip[i] && *ip[i] <= e.last) in[i] = true;
          }
        }
        for (size_t i = 0; i < n; ++i) {
          if (in[i]) member[i].push_back(id);
        }
      }
      for (auto& v : named) std::sort(v.begin(), v.end());
      // Peer classes.
      std::map<std::pair<std::vector<uint32_t>, std::vector<uint32_t>>, uint32_t> peer_ids;
      g.peer.assign(n, kNone);
      for (size_t i = 0; i < n; ++i) {
        if (!ip[i]) continue;
        auto [it, fresh] = peer_ids.emplace(std::make_pair(member[i], named[i]),
                                            static_cast<uint32_t>(g.peer_rep.size()));
        if (fresh) g.peer_rep.push_back(*ip[i]);
        g.peer[i] = it->second;
      }
      // Local classes: (how, node, chain) and, for ingress, the named ports.
      // ClusterNetworkPolicy tiers: the Admin and Baseline rules of the direction.
      using LocalKey =
          std::tuple<int, std::string, std::vector<std::string>, std::vector<ir::Rule>,
                     std::vector<uint32_t>, std::vector<ir::TierRule>, std::vector<ir::TierRule>>;
      for (int dir = 0; dir < 2; ++dir) {
        const bool ingress = dir == 1;
        std::map<LocalKey, uint32_t> local_ids;
        auto& cls = ingress ? g.ingress : g.egress;
        auto& reps = ingress ? g.local_rep_i : g.local_rep_e;
        cls.assign(n, kNone);
        for (size_t i = 0; i < n; ++i) {
          if (!ip[i]) continue;
          const k8s::Pod& p = *pods_[i];
          LocalKey key;
          if (p.node_name.empty()) {
            std::get<0>(key) = 0;
          } else if (const ir::LocalPod* owner =
                         explainer.chain_owner_of(p.node_name, *ip[i], ingress)) {
            const auto& c = owner->chain(ingress);
            const auto& admin = owner->admin(ingress);
            const auto& base = owner->baseline(ingress);
            key = LocalKey{c ? 2 : 3,
                           p.node_name,
                           c ? c->policies : std::vector<std::string>{},
                           c ? c->rules : std::vector<ir::Rule>{},
                           ingress ? named[i] : std::vector<uint32_t>{},
                           admin ? admin->rules : std::vector<ir::TierRule>{},
                           base ? base->rules : std::vector<ir::TierRule>{}};
          } else {
            std::get<0>(key) = 1;
          }
          auto [it, fresh] = local_ids.emplace(std::move(key), static_cast<uint32_t>(reps.size()));
          if (fresh) reps.emplace_back(&p, *ip[i]);
          cls[i] = it->second;
        }
      }
      g.e_table.assign(g.local_rep_e.size() * g.peer_rep.size(), -1);
      g.i_table.assign(g.local_rep_i.size() * g.peer_rep.size(), -1);
    }
    // Evaluate every class pair some cell needs, each once.
    for (size_t i = 0; i < n; ++i) {
      for (size_t j = 0; j < n; ++j) {
        if (i == j) continue;
        const int f = pick(*grid, i, j);
        if (f < 0) continue;
        Grid::Family& g = grid->fam[f];
        const size_t peers = g.peer_rep.size();
        int32_t& e = g.e_table[g.egress[i] * peers + g.peer[j]];
        if (e < 0) {
          const auto& [pod, lip] = g.local_rep_e[g.egress[i]];
          const IpAddr& dst = g.peer_rep[g.peer[j]];
          grid->verdicts.push_back(
              explainer.evaluate(false, pod, lip, dst, dst, proto, probe.port));
          e = static_cast<int32_t>(grid->verdicts.size() - 1);
          ++grid->evaluations;
        }
        if (!grid->verdicts[static_cast<size_t>(e)].allowed()) continue;
        int32_t& in = g.i_table[g.ingress[j] * peers + g.peer[i]];
        if (in < 0) {
          const auto& [pod, lip] = g.local_rep_i[g.ingress[j]];
          grid->verdicts.push_back(
              explainer.evaluate(true, pod, lip, g.peer_rep[g.peer[i]], lip, proto, probe.port));
          in = static_cast<int32_t>(grid->verdicts.size() - 1);
          ++grid->evaluations;
        }
      }
    }
    grids_.push_back(std::move(grid));
  }
}

Matrix::~Matrix() = default;
Matrix::Matrix(Matrix&&) noexcept = default;
Matrix& Matrix::operator=(Matrix&&) noexcept = default;

size_t Matrix::evaluations() const {
  size_t total = 0;
  for (const auto& g : grids_) total += g->evaluations;
  return total;
}

Cell Matrix::cell(size_t probe, size_t from, size_t to) const {
  const Grid& grid = *grids_[probe];
  Cell c;
  const int f = pick(grid, from, to);
  if (f < 0 || from == to) {
    c.no_family = f < 0;
    return c;
  }
  const Grid::Family& g = grid.fam[f];
  const size_t peers = g.peer_rep.size();
  c.egress = &grid.verdicts[static_cast<size_t>(g.e_table[g.egress[from] * peers + g.peer[to]])];
  if (!c.egress->allowed()) return c;
  c.ingress = &grid.verdicts[static_cast<size_t>(g.i_table[g.ingress[to] * peers + g.peer[from]])];
  c.allowed = c.ingress->allowed();
  return c;
}

// --- text ------------------------------------------------------------------------

namespace {

std::string direction_text(const DirectionVerdict& v, bool ingress, const std::string& who) {
  using How = DirectionVerdict::How;
  std::string out = std::string(ingress ? "ingress" : "egress") + " of " + who + ": ";
  if (!v.enforced) return out + "not enforced";
  switch (v.how) {
    case How::NotIsolated:
      return out + "not isolated";
    case How::AllowedBy:
      return out + "allowed by " + rule_name(*v.rule, ingress);
    case How::Denied:
      return out + "isolated by " + join(v.chain->policies) + ", no rule allows it";
    case How::TierAccepted:
    case How::TierDenied:
      return out + tier_text(*v.tier_rule);
  }
  return out;
}

std::string json_string(const std::string& s) {
  std::string out = "\"";
  for (char c : s) {
    switch (c) {
      case '"':
        out += "\\\"";
        break;
      case '\\':
        out += "\\\\";
        break;
      default:
        if (static_cast<unsigned char>(c) < 0x20) {
          char buf[8];
          std::snprintf(buf, sizeof buf, "\\u%04x", c);
          out += buf;
        } else {
          out += c;
        }
    }
  }
  return out + "\"";
}

std::string html_escape(const std::string& s) {
  std::string out;
  for (char c : s) {
    switch (c) {
      case '&':
        out += "&amp;";
        break;
      case '<':
        out += "&lt;";
        break;
      case '>':
        out += "&gt;";
        break;
      case '"':
        out += "&quot;";
        break;
      default:
        out += c;
    }
  }
  return out;
}

}  // namespace

std::string one_line(const Matrix& m, size_t probe, size_t from, size_t to) {
  const Cell c = m.cell(probe, from, to);
  const std::string a = m.pods()[from]->key(), b = m.pods()[to]->key();
  if (c.no_family) return "denied: " + a + " and " + b + " share no address family";
  if (!c.egress) return "";
  if (!c.egress->allowed()) return "denied: " + direction_text(*c.egress, false, a);
  if (!c.allowed) return "denied: " + direction_text(*c.ingress, true, b);
  return "allowed: " + direction_text(*c.egress, false, a) + "; " +
         direction_text(*c.ingress, true, b);
}

std::string render_table(const Matrix& m) {
  size_t w = 3;
  for (const k8s::Pod* p : m.pods()) w = std::max(w, p->key().size());
  auto rjust = [](const std::string& s, size_t width) {
    return s.size() >= width ? s : std::string(width - s.size(), ' ') + s;
  };
  std::string out;
  for (size_t k = 0; k < m.probes().size(); ++k) {
    if (k) out += "\n";
    out += m.probes()[k].label() + "\n";
    out += std::string(w + 3, ' ');
    for (size_t j = 0; j < m.pods().size(); ++j)
      out += (j ? " " : "") + rjust(m.pods()[j]->key(), w);
    out += "\n";
    for (size_t i = 0; i < m.pods().size(); ++i) {
      out += rjust(m.pods()[i]->key(), w + 2) + " ";
      for (size_t j = 0; j < m.pods().size(); ++j) {
        char c = i == j ? '-' : m.cell(k, i, j).allowed ? '.' : 'X';
        out += (j ? " " : "") + std::string(w - 2, ' ') + c + " ";
      }
      while (!out.empty() && out.back() == ' ') out.pop_back();
      out += "\n";
    }
  }
  out += "(rows from, columns to; '.' allowed, 'X' denied)\n";
  return out;
}

std::string render_json(const Matrix& m) {
  std::vector<std::string> keys;
  for (const k8s::Pod* p : m.pods()) keys.push_back(json_string(p->key()));
  const size_t n = keys.size();
  std::string out = "{";
  out.reserve(16 + m.probes().size() * n * n * (keys.empty() ? 0 : keys[0].size() + 9));
  for (size_t k = 0; k < m.probes().size(); ++k) {
    out += k ? ",\n  " : "\n  ";
    out += json_string(m.probes()[k].key()) + ": {";
    for (size_t i = 0; i < n; ++i) {
      out += i ? ",\n    " : "\n    ";
      out += keys[i] + ": {";
      bool first = true;
      for (size_t j = 0; j < n; ++j) {
        if (i == j) continue;
        if (!first) out += ", ";
        first = false;
        out += keys[j];
        out += m.cell(k, i, j).allowed ? ": true" : ": false";
      }
      out += "}";
    }
    out += n ? "\n  }" : "}";
  }
  out += m.probes().empty() ? "}\n" : "\n}\n";
  return out;
}

std::string render_html(const Matrix& m, const std::string& title) {
  const auto& pods = m.pods();
  std::string out =
      "<!DOCTYPE html>\n<html lang=\"en\">\n<head>\n<meta charset=\"utf-8\">\n<title>" +
      html_escape(title) + "</title>\n" + R"(<style>
body { font: 13px/1.4 system-ui, sans-serif; margin: 1.5em; color: #222; }
h1 { font-size: 1.3em; } h2 { font-size: 1.1em; margin: 1.5em 0 .3em; }
table.grid { border-collapse: collapse; }
table.grid th { font-weight: normal; padding: 0 4px; white-space: nowrap; }
table.grid thead th.ns { font-weight: bold; border-bottom: 1px solid #999; }
table.grid thead th.pod { writing-mode: vertical-rl; transform: rotate(180deg); text-align: left; padding: 4px 0; }
table.grid tbody th { text-align: right; }
table.grid td { width: 18px; height: 18px; border: 1px solid #fff; }
table.grid td.allow { background: #3a9a5b; } table.grid td.deny { background: #c8453b; }
table.grid td.self { background: #ddd; }
table.grid .nsb { border-left: 3px solid #555 !important; }
table.grid tr.nst th, table.grid tr.nst td { border-top: 3px solid #555; }
table.grid td:hover { outline: 2px solid #000; }
.summary { color: #555; } .legend span { display: inline-block; width: 12px; height: 12px; margin: 0 4px 0 10px; vertical-align: middle; }
#tip { position: fixed; pointer-events: none; background: #222; color: #fff; padding: 4px 8px; border-radius: 3px; max-width: 40em; display: none; }
</style>
</head>
<body>
)";
  out += "<h1>" + html_escape(title) + "</h1>\n";
  out +=
      "<p class=\"legend\">rows from, columns to<span style=\"background:#3a9a5b\"></span>allowed"
      "<span style=\"background:#c8453b\"></span>denied; hover a cell for explain's answer</p>\n";
  // Namespace groups: pods are sorted by key, so each namespace is one run.
  std::vector<std::pair<std::string, size_t>> groups;
  for (const k8s::Pod* p : pods) {
    if (groups.empty() || groups.back().first != p->ns) groups.emplace_back(p->ns, 0);
    ++groups.back().second;
  }
  auto starts_ns = [&](size_t i) { return i == 0 || pods[i - 1]->ns != pods[i]->ns; };
  for (size_t k = 0; k < m.probes().size(); ++k) {
    const std::string key = m.probes()[k].key();
    out += "<section class=\"probe\" data-probe=\"" + html_escape(key) + "\">\n<h2>" +
           html_escape(key) +
           " <span class=\"summary\"></span></h2>\n<table "
           "class=\"grid\">\n<thead><tr><th></th><th></th>";
    for (const auto& [ns, count] : groups) {
      out += "<th class=\"ns nsb\" colspan=\"" + std::to_string(count) + "\">" + html_escape(ns) +
             "</th>";
    }
    out += "</tr>\n<tr><th></th><th></th>";
    for (size_t j = 0; j < pods.size(); ++j) {
      out += std::string("<th class=\"pod") + (starts_ns(j) ? " nsb" : "") + "\">" +
             html_escape(pods[j]->name) + "</th>";
    }
    out += "</tr></thead>\n<tbody>\n";
    for (size_t i = 0; i < pods.size(); ++i) {
      out += starts_ns(i) ? "<tr class=\"nst\">" : "<tr>";
      out += starts_ns(i) ? "<th class=\"ns\" rowspan=\"" +
                                std::to_string(std::find_if(groups.begin(), groups.end(),
                                                            [&](const auto& g) {
                                                              return g.first == pods[i]->ns;
                                                            })
                                                   ->second) +
                                "\">" + html_escape(pods[i]->ns) + "</th>"
                          : "";
      out += "<th>" + html_escape(pods[i]->name) + "</th>";
      for (size_t j = 0; j < pods.size(); ++j) {
        std::string cls = i == j ? "self" : m.cell(k, i, j).allowed ? "allow" : "deny";
        if (starts_ns(j)) cls += " nsb";
        out += "<td class=\"" + cls + "\" data-from=\"" + html_escape(pods[i]->key()) +
               "\" data-to=\"" + html_escape(pods[j]->key()) + "\"";
        if (i != j) out += " title=\"" + html_escape(one_line(m, k, i, j)) + "\"";
        out += "></td>";
      }
      out += "</tr>\n";
    }
    out += "</tbody>\n</table>\n</section>\n";
  }
  out += R"(<div id="tip"></div>
<script>
"use strict";
for (const section of document.querySelectorAll("section.probe")) {
  const cells = section.querySelectorAll("td.allow, td.deny");
  const allowed = section.querySelectorAll("td.allow").length;
  section.querySelector(".summary").textContent = allowed + " of " + cells.length + " pairs allowed";
}
const tip = document.getElementById("tip");
document.addEventListener("mouseover", (e) => {
  const td = e.target.closest("td[title]");
  if (!td) { tip.style.display = "none"; return; }
  tip.textContent = td.dataset.from + " \u2192 " + td.dataset.to + ": " + td.title;
  tip.style.display = "block";
});
document.addEventListener("mousemove", (e) => {
  tip.style.left = (e.clientX + 14) + "px";
  tip.style.top = (e.clientY + 14) + "px";
});
</script>
</body>
</html>
)";
  return out;
}

// --- diff ------------------------------------------------------------------------

std::vector<Flip> diff(const Matrix& before, const Matrix& after) {
  std::map<std::string, size_t> in_before;
  for (size_t i = 0; i < before.pods().size(); ++i) in_before[before.pods()[i]->key()] = i;
  std::vector<std::pair<size_t, size_t>> common;  // (after index, before index)
  for (size_t i = 0; i < after.pods().size(); ++i) {
    auto it = in_before.find(after.pods()[i]->key());
    if (it != in_before.end()) common.emplace_back(i, it->second);
  }
  std::vector<Flip> out;
  for (size_t ka = 0; ka < after.probes().size(); ++ka) {
    auto kb_it = std::find(before.probes().begin(), before.probes().end(), after.probes()[ka]);
    if (kb_it == before.probes().end()) continue;
    const size_t kb = static_cast<size_t>(kb_it - before.probes().begin());
    for (auto [ai, bi] : common) {
      for (auto [aj, bj] : common) {
        if (ai == aj) continue;
        const Cell b = before.cell(kb, bi, bj), a = after.cell(ka, ai, aj);
        if (a.allowed == b.allowed) continue;
        Flip f;
        f.probe = after.probes()[ka];
        f.from = after.pods()[ai]->key();
        f.to = after.pods()[aj]->key();
        f.before = b.allowed;
        f.after = a.allowed;
        if (!a.allowed) {
          f.why = one_line(after, ka, ai, aj).substr(std::string("denied: ").size());
        } else {
          // The directions that denied before, as they decide now.
          std::vector<std::string> why;
          auto now = [&](const DirectionVerdict* was, const DirectionVerdict* is, bool ingress,
                         const std::string& who) {
            if (!was || was->allowed() || !is) return;
            std::string t = direction_text(*is, ingress, who);
            if (is->enforced && is->how == DirectionVerdict::How::NotIsolated) {
              t += was->chain ? " any more (was isolated by " + join(was->chain->policies) + ")"
                              : " any more (was: " + tier_text(*was->tier_rule) + ")";
            }
            why.push_back(t);
          };
          now(b.egress, a.egress, false, f.from);
          now(b.ingress, a.ingress, true, f.to);
          if (why.empty()) why.push_back(one_line(after, ka, ai, aj));
          f.why = join(why, "; ");
        }
        out.push_back(std::move(f));
      }
    }
  }
  std::stable_sort(out.begin(), out.end(), [](const Flip& x, const Flip& y) {
    return std::tie(x.probe.protocol, x.probe.port, x.from, x.to) <
           std::tie(y.probe.protocol, y.probe.port, y.from, y.to);
  });
  return out;
}

std::string render_diff_table(const std::vector<Flip>& flips) {
  if (flips.empty()) return "nothing flips\n";
  size_t wf = 4, wt = 2;
  for (const Flip& f : flips) {
    wf = std::max(wf, f.from.size());
    wt = std::max(wt, f.to.size());
  }
  auto pad = [](std::string s, size_t w) {
    return s.size() >= w ? s : s + std::string(w - s.size(), ' ');
  };
  std::string out =
      pad("PROBE", 9) + pad("FROM", wf + 2) + pad("TO", wt + 2) + "BEFORE   AFTER    WHY\n";
  for (const Flip& f : flips) {
    out += pad(f.probe.key(), 9) + pad(f.from, wf + 2) + pad(f.to, wt + 2) +
           pad(f.before ? "allowed" : "denied", 9) + pad(f.after ? "allowed" : "denied", 9) +
           f.why + "\n";
  }
  out += std::to_string(flips.size()) + " cell" + (flips.size() == 1 ? "" : "s") + " flip\n";
  return out;
}

std::string render_diff_json(const std::vector<Flip>& flips, const std::vector<Probe>& probes) {
  std::string out = "{";
  for (size_t k = 0; k < probes.size(); ++k) {
    out += k ? ",\n  " : "\n  ";
    out += json_string(probes[k].key()) + ": [";
    bool first = true;
    for (const Flip& f : flips) {
      if (!(f.probe == probes[k])) continue;
      out += first ? "\n    " : ",\n    ";
      first = false;
      out += "{\"from\": " + json_string(f.from) + ", \"to\": " + json_string(f.to) +
             ", \"before\": " + (f.before ? "true" : "false") +
             ", \"after\": " + (f.after ? "true" : "false") + ", \"why\": " + json_string(f.why) +
             "}";
    }
    out += first ? "]" : "\n  ]";
  }
  out += probes.empty() ? "}\n" : "\n}\n";
  return out;
}

}  // namespace netpol::policyc
