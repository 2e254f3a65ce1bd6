#include "compiler/engine/records.h"

namespace netpol::compiler::engine {

std::vector<std::string> changed_keys(const Labels& a, const Labels& b) {
  std::vector<std::string> out;
  auto i = a.begin();
  auto j = b.begin();
  while (i != a.end() || j != b.end()) {
    if (j == b.end() || (i != a.end() && i->first < j->first)) {
      out.push_back(i->first);
      ++i;
    } else if (i == a.end() || j->first < i->first) {
      out.push_back(j->first);
      ++j;
    } else {
      if (i->second != j->second) out.push_back(i->first);
      ++i;
      ++j;
    }
  }
  return out;
}

bool intersects(const std::vector<std::string>& sorted_a, const std::vector<std::string>& b) {
  for (const auto& k : b)
    if (std::binary_search(sorted_a.begin(), sorted_a.end(), k)) return true;
  return false;
}

std::vector<std::string> sorted_keys(const LabelSelector& s) {
  std::vector<std::string> keys = s.keys();
  std::sort(keys.begin(), keys.end());
  keys.erase(std::unique(keys.begin(), keys.end()), keys.end());
  return keys;
}

void merge_ranges(std::vector<ir::PortRange>& r) {
  std::sort(r.begin(), r.end());
  std::vector<ir::PortRange> out;
  for (const auto& x : r) {
    // Adjacent ranges merge too: 80-80 and 81-90 is 80-90.
    if (!out.empty() && uint32_t{x.first} <= uint32_t{out.back().last} + 1) {
      out.back().last = std::max(out.back().last, x.last);
    } else {
      out.push_back(x);
    }
  }
  r = std::move(out);
}

bool CnpRec::selects(const PodRec* p) const {
  // Host-network pods are never local, so never subjects.
  if (!p->local() || !src.subject.namespaces.matches(p->ns->labels)) return false;
  return src.subject.kind == k8s::CnpSubject::Kind::Namespaces ||
         src.subject.pods.matches(p->labels);
}

std::optional<k8s::AuditLevel> audit_annotation(const Labels& annotations) {
  auto it = annotations.find(k8s::kAuditAnnotation);
  if (it == annotations.end()) return std::nullopt;
  return k8s::audit_level_from_string(it->second);
}

}  // namespace netpol::compiler::engine
