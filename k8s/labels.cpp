#include "k8s/labels.h"

#include <algorithm>
#include <functional>
#include <stdexcept>

namespace netpol::k8s {

size_t Labels::EntryHash::operator()(const value_type& kv) const noexcept {
  const size_t k = std::hash<std::string>{}(kv.first);
  return k ^ (std::hash<std::string>{}(kv.second) + 0x9e3779b97f4a7c15ULL + (k << 6) + (k >> 2));
}

Labels::Labels(std::initializer_list<value_type> init) {
  if (init.size() == 0) return;
  own().reserve(init.size());
  for (const value_type& kv : init) emplace(kv.first, kv.second);
}

Labels::Labels(const Labels&) = default;
Labels::Labels(Labels&&) noexcept = default;
Labels& Labels::operator=(const Labels&) = default;
Labels& Labels::operator=(Labels&&) noexcept = default;
Labels::~Labels() = default;

const std::string& Labels::at(std::string_view key) const {
  auto it = find(key);
  if (it == end()) throw std::out_of_range("k8s::Labels::at: no key " + std::string(key));
  return it->second;
}

std::string& Labels::operator[](std::string_view key) {
  const auto i = static_cast<std::size_t>(lower_bound(key) - begin());
  Items& v = own();
  if (i == v.size() || v[i].first != key)
    v.emplace(v.begin() + static_cast<std::ptrdiff_t>(i), std::string(key), std::string());
  return v[i].second;
}

std::pair<Labels::const_iterator, bool> Labels::emplace(std::string key, std::string value) {
  // Decoded maps arrive in key order (the JSON object is sorted): append.
  if (empty() || items().back().first < key) {
    Items& v = own();
    v.emplace_back(std::move(key), std::move(value));
    return {v.end() - 1, true};
  }
  auto pos = lower_bound(key);
  if (pos != end() && pos->first == key) return {pos, false};
  const auto i = pos - begin();
  Items& v = own();
  return {v.emplace(v.begin() + i, std::move(key), std::move(value)), true};
}

std::pair<Labels::const_iterator, bool> Labels::insert_or_assign(std::string key,
                                                                 std::string value) {
  auto pos = lower_bound(key);
  const auto i = pos - begin();
  const bool found = pos != end() && pos->first == key;
  Items& v = own();  // may copy: only the index stays meaningful
  if (found) {
    v[static_cast<std::size_t>(i)].second = std::move(value);
    return {v.begin() + i, false};
  }
  return {v.emplace(v.begin() + i, std::move(key), std::move(value)), true};
}

Labels::size_type Labels::erase(std::string_view key) {
  auto it = find(key);
  if (it == end()) return 0;
  erase(it);
  return 1;
}

Labels::const_iterator Labels::erase(const_iterator pos) {
  const auto i = pos - begin();
  Items& v = own();
  return v.erase(v.begin() + i);
}

void Labels::shrink_to_fit() {
  if (capacity() != size()) own().shrink_to_fit();  // a copy of a shared one is exact already
}

}  // namespace netpol::k8s
