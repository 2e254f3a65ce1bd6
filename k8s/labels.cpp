#include "k8s/labels.h"

#include <stdexcept>

namespace netpol::k8s {

Labels::Labels(std::initializer_list<value_type> init) {
  items_.reserve(init.size());
  for (const value_type& kv : init) emplace(kv.first, kv.second);
}

Labels::Labels(const Labels&) = default;
Labels::Labels(Labels&&) noexcept = default;
Labels& Labels::operator=(const Labels&) = default;
Labels& Labels::operator=(Labels&&) noexcept = default;
Labels::~Labels() = default;

const std::string& Labels::at(std::string_view key) const {
  auto it = find(key);
  if (it == items_.end()) throw std::out_of_range("k8s::Labels::at: no key " + std::string(key));
  return it->second;
}

std::string& Labels::operator[](std::string_view key) {
  auto pos = lower_bound(key);
  auto i = static_cast<std::size_t>(pos - items_.begin());
  if (pos == items_.end() || pos->first != key)
    items_.emplace(pos, std::string(key), std::string());
  return items_[i].second;
}

std::pair<Labels::const_iterator, bool> Labels::emplace(std::string key, std::string value) {
  // Decoded maps arrive in key order (the JSON object is sorted): append.
  if (items_.empty() || items_.back().first < key) {
    items_.emplace_back(std::move(key), std::move(value));
    return {items_.end() - 1, true};
  }
  auto pos = lower_bound(key);
  if (pos != items_.end() && pos->first == key) return {pos, false};
  return {items_.emplace(pos, std::move(key), std::move(value)), true};
}

std::pair<Labels::const_iterator, bool> Labels::insert_or_assign(std::string key,
                                                                 std::string value) {
  auto pos = lower_bound(key);
  if (pos != items_.end() && pos->first == key) {
    auto i = static_cast<std::size_t>(pos - items_.begin());
    items_[i].second = std::move(value);
    return {items_.begin() + static_cast<std::ptrdiff_t>(i), false};
  }
  return {items_.emplace(pos, std::move(key), std::move(value)), true};
}

Labels::size_type Labels::erase(std::string_view key) {
  auto it = find(key);
  if (it == items_.end()) return 0;
  items_.erase(it);
  return 1;
}

}  // namespace netpol::k8s
