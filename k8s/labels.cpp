#include "k8s/labels.h"

#include <algorithm>
#include <functional>
#include <mutex>
#include <stdexcept>
#include <unordered_map>

namespace netpol::k8s {

namespace {

// The intern pool: content hash -> the vectors interned with that hash.
// Weak references: an entry dies with its last handle; dead ones are
// dropped when their bucket is next visited and in a sweep whenever the
// pool has doubled since the last one.
struct Pool {
  std::mutex mu;
  std::unordered_multimap<size_t, std::weak_ptr<std::vector<Labels::value_type>>> entries;
  size_t sweep_at = 1024;
};

Pool& pool() {
  static Pool* p = new Pool;  // never destroyed: handles may outlive statics
  return *p;
}

size_t hash_of(const std::vector<Labels::value_type>& items) {
  size_t h = items.size();
  std::hash<std::string> hs;
  for (const auto& [k, v] : items) {
    h ^= hs(k) + 0x9e3779b97f4a7c15ULL + (h << 6) + (h >> 2);
    h ^= hs(v) + 0x9e3779b97f4a7c15ULL + (h << 6) + (h >> 2);
  }
  return h;
}

}  // namespace

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

const Labels::Items& Labels::none() {
  static const Items empty;
  return empty;
}

Labels::Items& Labels::own() {
  if (!items_) {
    items_ = std::make_shared<Items>();
  } else if (pooled_ || items_.use_count() > 1) {
    items_ = std::make_shared<Items>(*items_);
  }
  pooled_ = false;
  return *items_;
}

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
  if (!items_ || items_->capacity() == items_->size()) return;
  if (pooled_ || items_.use_count() > 1) {
    items_ = std::make_shared<Items>(*items_);  // a copy is exact already
    pooled_ = false;
  } else {
    items_->shrink_to_fit();
  }
}

void Labels::intern() {
  if (empty()) {
    clear();
    return;
  }
  shrink_to_fit();
  const size_t h = hash_of(*items_);
  Pool& p = pool();
  std::lock_guard<std::mutex> lock(p.mu);
  auto [first, last] = p.entries.equal_range(h);
  for (auto it = first; it != last;) {
    std::shared_ptr<Items> have = it->second.lock();
    if (!have) {
      it = p.entries.erase(it);
      continue;
    }
    if (have == items_) {
      pooled_ = true;
      return;
    }
    if (*have == *items_) {
      items_ = std::move(have);
      pooled_ = true;
      return;
    }
    ++it;
  }
  p.entries.emplace(h, items_);
  pooled_ = true;
  if (p.entries.size() >= p.sweep_at) {
    std::erase_if(p.entries, [](const auto& e) { return e.second.expired(); });
    p.sweep_at = std::max<size_t>(1024, 2 * p.entries.size());
  }
}

}  // namespace netpol::k8s
