// k8s::SharedVector<T>: a read-mostly vector whose copies share one
// allocation (copy-on-write), with intern() to make equal vectors decoded
// anywhere one allocation. What k8s::Labels does for label maps, for the
// other per-pod lists that the informer store, the queued events and the
// compiler's records all copy (a pod's container ports: the pods of one
// ReplicaSet have the same ones).
//
// The read side is std::vector's (const iteration, size, operator[], ==,
// <=>, also against a std::vector); changes go through push_back, clear and
// assignment, and first give this handle a vector of its own when the current
// one is shared or interned. Reads from several threads at once are safe;
// changing one object while another thread reads it is a data race, as with
// std::vector (copies are independent). `Hash` hashes one element.
#pragma once

#include <algorithm>
#include <compare>
#include <cstddef>
#include <initializer_list>
#include <memory>
#include <mutex>
#include <unordered_map>
#include <utility>
#include <vector>

namespace netpol::k8s {

template <typename T, typename Hash>
class SharedVector {
 public:
  using value_type = T;
  using size_type = std::size_t;
  using const_iterator = typename std::vector<T>::const_iterator;
  using iterator = const_iterator;  // read-only: changes go through the members below

  SharedVector() = default;
  SharedVector(std::initializer_list<T> init) {
    if (init.size()) items_ = std::make_shared<std::vector<T>>(init);
  }
  SharedVector(std::vector<T> v) {  // NOLINT: implicit on purpose, a drop-in for std::vector
    if (!v.empty()) items_ = std::make_shared<std::vector<T>>(std::move(v));
  }

  const_iterator begin() const { return items().begin(); }
  const_iterator end() const { return items().end(); }
  size_type size() const { return items().size(); }
  bool empty() const { return items().empty(); }
  const T& operator[](size_type i) const { return items()[i]; }
  const T& front() const { return items().front(); }
  const T& back() const { return items().back(); }
  const std::vector<T>& vec() const { return items(); }

  void push_back(T v) { own().push_back(std::move(v)); }
  // The vector itself, made this handle's own first (copied when shared or
  // interned): for containers built on this one (k8s::Labels) that keep
  // their own invariants over it.
  std::vector<T>& edit() { return own(); }
  size_type capacity() const { return items().capacity(); }
  void clear() {
    items_.reset();
    pooled_ = false;
  }

  // Shares the vector of an equal one interned earlier (or becomes it);
  // shrinks first. Thread-safe (one pool per T, under a mutex); entries go
  // with their last handle.
  void intern() {
    if (empty()) {
      clear();
      return;
    }
    if (items_->capacity() != items_->size()) own().shrink_to_fit();
    size_t h = items_->size();
    for (const T& x : *items_) h ^= Hash{}(x) + 0x9e3779b97f4a7c15ULL + (h << 6) + (h >> 2);
    Pool& p = pool();
    std::lock_guard<std::mutex> lock(p.mu);
    auto [first, last] = p.entries.equal_range(h);
    for (auto it = first; it != last;) {
      std::shared_ptr<std::vector<T>> have = it->second.lock();
      if (!have) {
        it = p.entries.erase(it);
        continue;
      }
      if (have == items_ || *have == *items_) {
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
  // Whether both handles share one vector (tests, benchmarks).
  bool shares_with(const SharedVector& o) const { return items_ && items_ == o.items_; }

  friend bool operator==(const SharedVector& a, const SharedVector& b) {
    return a.items_ == b.items_ || a.items() == b.items();
  }
  friend bool operator==(const SharedVector& a, const std::vector<T>& b) { return a.items() == b; }
  friend auto operator<=>(const SharedVector& a, const SharedVector& b) {
    return a.items() <=> b.items();
  }

 private:
  struct Pool {
    std::mutex mu;
    std::unordered_multimap<size_t, std::weak_ptr<std::vector<T>>> entries;
    size_t sweep_at = 1024;
  };
  static Pool& pool() {
    static Pool* p = new Pool;  // never destroyed: handles may outlive statics
    return *p;
  }
  static const std::vector<T>& none() {
    static const std::vector<T> empty;
    return empty;
  }
  const std::vector<T>& items() const { return items_ ? *items_ : none(); }
  std::vector<T>& own() {
    if (!items_) {
      items_ = std::make_shared<std::vector<T>>();
    } else if (pooled_ || items_.use_count() > 1) {
      items_ = std::make_shared<std::vector<T>>(*items_);
    }
    pooled_ = false;
    return *items_;
  }

  std::shared_ptr<std::vector<T>> items_;  // null: empty
  // items_ may be in the pool, where other threads compare it: never changed
  // in place, even when this handle is its only holder.
  bool pooled_ = false;
};

}  // namespace netpol::k8s
