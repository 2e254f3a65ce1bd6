// k8s::Labels: a label (or annotation) map -- key -> value, unique keys,
// iterated in key order -- stored as ONE sorted vector of pairs instead of a
// std::map, and shared: a Labels is a handle to an immutable vector that
// copies share (copy-on-write; a copy is a reference count, never the
// strings). A pod has a handful of labels and the informer store, the
// compiler and every selector keep copies, so the entries are most of the
// per-pod memory budget (docs/performance.md, issues 4 and 12). intern()
// goes further: every map with the same content decoded anywhere shares one
// vector (the pods of a ReplicaSet carry identical labels).
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
// insert_or_assign. Any change first gives this handle a vector of its own
// when the current one is shared (iterators into the old one stay valid for
// the other holders, not for this one). Inserting in the middle is O(n),
// fine for the few labels an object carries, wrong for a big map. Every
// member but at() is noexcept apart from allocation failure; at() throws
// std::out_of_range like std::map's. A Labels may be read from several
// threads at once; changing one while another thread reads that same object
// is a data race, as with std::map (copies are independent).
#pragma once

#include <algorithm>
#include <compare>
#include <cstddef>
#include <initializer_list>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "k8s/shared_vector.h"

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

  const_iterator begin() const { return items().begin(); }
  const_iterator end() const { return items().end(); }
  const_iterator cbegin() const { return begin(); }
  const_iterator cend() const { return end(); }
  size_type size() const { return items().size(); }
  bool empty() const { return items().empty(); }

  const_iterator find(std::string_view key) const {
    auto it = lower_bound(key);
    return it != end() && it->first == key ? it : end();
  }
  bool contains(std::string_view key) const { return find(key) != end(); }
  size_type count(std::string_view key) const { return contains(key) ? 1 : 0; }
  // Throws std::out_of_range when the key is absent (as std::map::at does).
  const std::string& at(std::string_view key) const;

  // The value of `key`, inserted as "" first when absent. The reference is
  // this handle's own (valid until the next change or copy-assignment).
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
  // Removes the element at `pos` (an iterator of this handle, valid);
  // returns the one after it.
  const_iterator erase(const_iterator pos);
  void clear() { items_.clear(); }

  // Storage control: the decoder shrinks every map it builds so a stored
  // object holds exactly size() elements' worth of memory.
  void reserve(size_type n) { own().reserve(n); }
  void shrink_to_fit();
  size_type capacity() const { return items_.capacity(); }

  // Shares the vector of an equal map interned earlier (or makes this one
  // the interned one): after it, equal interned maps are one allocation.
  // Shrinks first. Thread-safe (one process-wide pool, under a mutex);
  // entries go when the last handle to them does. The decoder interns every
  // object's labels.
  void intern() { items_.intern(); }
  // Whether both handles share one vector (for tests and the benchmarks).
  bool shares_with(const Labels& o) const { return items_.shares_with(o.items_); }

  friend bool operator==(const Labels& a, const Labels& b) { return a.items_ == b.items_; }
  friend auto operator<=>(const Labels& a, const Labels& b) { return a.items() <=> b.items(); }

 private:
  struct EntryHash {
    size_t operator()(const value_type& kv) const noexcept;
  };
  using Items = std::vector<value_type>;
  const Items& items() const { return items_.vec(); }
  // The vector, made this handle's own first (copied when shared).
  Items& own() { return items_.edit(); }
  const_iterator lower_bound(std::string_view key) const {
    return std::lower_bound(begin(), end(), key,
                            [](const value_type& e, std::string_view k) { return e.first < k; });
  }

  SharedVector<value_type, EntryHash> items_;  // sorted by key, keys unique
};

}  // namespace netpol::k8s
