// SortedBlocks<T>: an ordered set of small values, as std::set<T>'s interface
// where netpol uses it, stored as sorted blocks of at most kBlock values with
// no allocation per value. It holds the members of every set (ir::Set, and
// the kernel mirror's nft::ElementSet): 338k of them at 100k pods, where a
// std::set node cost 32 bytes of links and a heap block each.
//
// An insert or erase moves at most kBlock values; a lookup is a binary search
// over the blocks' last values, then one inside a block. Values appended in
// order (every bulk load) fill blocks completely. Iterators and references are
// invalidated by any change, as a vector's are.
//
// T: copyable, totally ordered by <=> (and ==).
#pragma once

#include <algorithm>
#include <compare>
#include <cstddef>
#include <initializer_list>
#include <iterator>
#include <utility>
#include <vector>

namespace netpol {

template <typename T>
class SortedBlocks {
  using Block = std::vector<T>;

 public:
  static constexpr size_t kBlock = 256;

  class const_iterator {
   public:
    using iterator_category = std::bidirectional_iterator_tag;
    using value_type = T;
    using difference_type = std::ptrdiff_t;
    using pointer = const T*;
    using reference = const T&;

    const_iterator() = default;
    const T& operator*() const { return (*blocks_)[block_][pos_]; }
    const T* operator->() const { return &**this; }
    const_iterator& operator++() {
      if (++pos_ == (*blocks_)[block_].size()) {
        ++block_;
        pos_ = 0;
      }
      return *this;
    }
    const_iterator operator++(int) {
      const_iterator old = *this;
      ++*this;
      return old;
    }
    const_iterator& operator--() {
      if (pos_ == 0) {
        --block_;
        pos_ = (*blocks_)[block_].size() - 1;
      } else {
        --pos_;
      }
      return *this;
    }
    const_iterator operator--(int) {
      const_iterator old = *this;
      --*this;
      return old;
    }
    friend bool operator==(const const_iterator& a, const const_iterator& b) {
      return a.block_ == b.block_ && a.pos_ == b.pos_;
    }

   private:
    friend class SortedBlocks;
    const_iterator(const std::vector<Block>* blocks, size_t block, size_t pos)
        : blocks_(blocks), block_(block), pos_(pos) {}
    const std::vector<Block>* blocks_ = nullptr;
    size_t block_ = 0, pos_ = 0;
  };
  using iterator = const_iterator;
  using value_type = T;
  using size_type = size_t;

  SortedBlocks() = default;
  SortedBlocks(std::initializer_list<T> values) { insert(values.begin(), values.end()); }
  template <typename It>
  SortedBlocks(It first, It last) {
    insert(first, last);
  }

  const_iterator begin() const { return {&blocks_, 0, 0}; }
  const_iterator end() const { return {&blocks_, blocks_.size(), 0}; }
  size_t size() const { return size_; }
  bool empty() const { return size_ == 0; }
  void clear() {
    blocks_ = {};
    size_ = 0;
  }

  std::pair<const_iterator, bool> insert(const T& v) {
    if (blocks_.empty() || blocks_.back().back() < v) {
      // After everything: the end of the last block, or a new one when full.
      if (blocks_.empty() || blocks_.back().size() == kBlock) blocks_.emplace_back();
      blocks_.back().push_back(v);
      ++size_;
      return {{&blocks_, blocks_.size() - 1, blocks_.back().size() - 1}, true};
    }
    size_t b = first_block_not_below(v);
    Block& blk = blocks_[b];
    auto at = std::lower_bound(blk.begin(), blk.end(), v);
    size_t pos = static_cast<size_t>(at - blk.begin());
    if (at != blk.end() && *at == v) return {{&blocks_, b, pos}, false};
    blk.insert(at, v);
    ++size_;
    if (blk.size() > kBlock) {
      // Two exact halves: neither keeps spare capacity.
      const auto half = static_cast<std::ptrdiff_t>(blk.size() / 2);
      Block hi(blk.begin() + half, blk.end());
      Block lo(blk.begin(), blk.begin() + half);
      blocks_[b] = std::move(lo);
      blocks_.insert(blocks_.begin() + static_cast<std::ptrdiff_t>(b) + 1, std::move(hi));
      if (pos >= static_cast<size_t>(half)) {
        ++b;
        pos -= static_cast<size_t>(half);
      }
    }
    return {{&blocks_, b, pos}, true};
  }
  // For std::inserter: the hint is not used (in-order inserts are fast anyway).
  const_iterator insert(const_iterator /*hint*/, const T& v) { return insert(v).first; }
  template <typename It>
  void insert(It first, It last) {
    for (; first != last; ++first) insert(*first);
  }

  size_t erase(const T& v) {
    const size_t b = first_block_not_below(v);
    if (b == blocks_.size()) return 0;
    Block& blk = blocks_[b];
    auto at = std::lower_bound(blk.begin(), blk.end(), v);
    if (at == blk.end() || !(*at == v)) return 0;
    blk.erase(at);
    if (blk.empty()) blocks_.erase(blocks_.begin() + static_cast<std::ptrdiff_t>(b));
    --size_;
    return 1;
  }

  const_iterator lower_bound(const T& v) const {
    return partition_point([&](const T& x) { return x < v; });
  }
  // The first value for which below(value) is false; below must be true for
  // a prefix of the values and false for the rest (std::partition_point).
  template <typename Below>
  const_iterator partition_point(Below below) const {
    auto bit = std::partition_point(blocks_.begin(), blocks_.end(),
                                    [&](const Block& blk) { return below(blk.back()); });
    if (bit == blocks_.end()) return end();
    auto at = std::partition_point(bit->begin(), bit->end(), below);
    return {&blocks_, static_cast<size_t>(bit - blocks_.begin()),
            static_cast<size_t>(at - bit->begin())};
  }
  const_iterator find(const T& v) const {
    auto it = lower_bound(v);
    if (it != end() && *it == v) return it;
    return end();
  }
  bool contains(const T& v) const { return find(v) != end(); }
  size_t count(const T& v) const { return contains(v) ? 1 : 0; }

  friend bool operator==(const SortedBlocks& a, const SortedBlocks& b) {
    return a.size_ == b.size_ && std::equal(a.begin(), a.end(), b.begin(), b.end());
  }
  friend auto operator<=>(const SortedBlocks& a, const SortedBlocks& b) {
    return std::lexicographical_compare_three_way(a.begin(), a.end(), b.begin(), b.end());
  }

 private:
  size_t first_block_not_below(const T& v) const {
    return static_cast<size_t>(
        std::partition_point(blocks_.begin(), blocks_.end(),
                             [&](const Block& blk) { return blk.back() < v; }) -
        blocks_.begin());
  }

  std::vector<Block> blocks_;  // sorted and disjoint; none empty
  size_t size_ = 0;
};

}  // namespace netpol
