// k8s::Labels: a label (or annotation) map -- key -> value, unique keys,
// iterated in key order -- stored as ONE sorted vector of pairs instead of a
// std::map. A pod has a handful of labels and the informer store, the
// compiler and every selector keep copies, so one allocation (64 B per entry)
// instead of one rb-tree node per entry (~112 B each) is most of the per-pod
// memory budget (docs/performance.md, issue 4).
//
// It offers the part of std::map's interface the code base uses, with the
// same meaning: iteration in key order over elements with .first/.second,
// find/count/contains/at, operator[], insert/emplace (never overwrite; the
// first value for a key wins, also in an initializer list, as with std::map),
// insert_or_assign, erase, ==, <=> (lexicographic over (key, value), the same
// order as std::map). Lookups are binary searches; there is no hash.
//
// It must never expose a mutable iterator (changing a key through one would
// break the order every lookup relies on): change values with operator[] or
// insert_or_assign. Inserting in the middle is O(n), fine for the few labels
// an object carries, wrong for a big map. Every member but at() is noexcept
// apart from allocation failure; at() throws std::out_of_range like std::map's.
#pragma once

#include <algorithm>
#include <compare>
#include <cstddef>
#include <initializer_list>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

namespace netpol::k8s {

class Labels {
 public:
  using key_type = std::string;
  using mapped_type = std::string;
  using value_type = std::pair<std::string, std::string>;
  using size_type = std::size_t;
  using const_iterator = std::vector<value_type>::const_iterator;
  using iterator = const_iterator;  // read-only on purpose: keys must stay sorted

  Labels() = default;
  // Out of line on purpose (labels.cpp): inlined, the vector's copy and
  // destroy loops grow every function that copies or drops an object holding
  // labels, and GCC then stops inlining hotter code nearby (measured: the
  // compiler's set building lost its inlined element comparisons, +40 % CPU).
  Labels(const Labels&);
  Labels(Labels&&) noexcept;
  Labels& operator=(const Labels&);
  Labels& operator=(Labels&&) noexcept;
  ~Labels();
  // Duplicate keys: the first occurrence wins (std::map's rule).
  Labels(std::initializer_list<value_type> init);

  const_iterator begin() const { return items_.begin(); }
  const_iterator end() const { return items_.end(); }
  const_iterator cbegin() const { return items_.cbegin(); }
  const_iterator cend() const { return items_.cend(); }
  size_type size() const { return items_.size(); }
  bool empty() const { return items_.empty(); }

  const_iterator find(std::string_view key) const {
    auto it = lower_bound(key);
    return it != items_.end() && it->first == key ? it : items_.end();
  }
  bool contains(std::string_view key) const { return find(key) != items_.end(); }
  size_type count(std::string_view key) const { return contains(key) ? 1 : 0; }
  // Throws std::out_of_range when the key is absent (as std::map::at does).
  const std::string& at(std::string_view key) const;

  // The value of `key`, inserted as "" first when absent.
  std::string& operator[](std::string_view key);
  // Inserts when the key is absent; otherwise leaves the existing value alone.
  // Returns the element with that key and whether it was inserted.
  std::pair<const_iterator, bool> emplace(std::string key, std::string value);
  std::pair<const_iterator, bool> insert(value_type kv) {
    return emplace(std::move(kv.first), std::move(kv.second));
  }
  // Inserts or overwrites; the bool says whether it inserted.
  std::pair<const_iterator, bool> insert_or_assign(std::string key, std::string value);

  // Number of elements removed (0 or 1).
  size_type erase(std::string_view key);
  // Removes the element at `pos` (must be valid); returns the one after it.
  const_iterator erase(const_iterator pos) { return items_.erase(pos); }
  void clear() { items_.clear(); }

  // Storage control: the decoder shrinks every map it builds so a stored
  // object holds exactly size() elements' worth of memory.
  void reserve(size_type n) { items_.reserve(n); }
  void shrink_to_fit() { items_.shrink_to_fit(); }
  size_type capacity() const { return items_.capacity(); }

  friend bool operator==(const Labels&, const Labels&) = default;
  friend auto operator<=>(const Labels&, const Labels&) = default;

 private:
  const_iterator lower_bound(std::string_view key) const {
    return std::lower_bound(items_.begin(), items_.end(), key,
                            [](const value_type& e, std::string_view k) { return e.first < k; });
  }

  std::vector<value_type> items_;  // sorted by key, keys unique
};

}  // namespace netpol::k8s
