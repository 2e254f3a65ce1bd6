// DeltaBatch: folds the IR deltas of a burst of events into the one delta
// that moves the kernel from the state before the burst to the state after
// it, so a burst costs one transaction instead of one per event.
//
// Folding rules, per set (compiler deltas are canonical: an added element was
// absent, a deleted one present):
//   anything, then created(S)  -> created(S)   (the planner diffs S against
//                                               the kernel's set if it exists)
//   anything, then removed     -> removed
//   created(S), then add/del   -> created(S + add - del)
//   add/del, then add/del      -> adds and deletes that cancel drop out
//   removed, then add/del      -> impossible for a canonical stream: the fold
//                                 is marked broken and the caller resyncs fully
// Per pod: the first `before` and the last `after`; a pod that ends as it
// started drops out.
//
// Never touches the kernel or the compiler; O(size of the deltas).
#pragma once

#include <map>
#include <set>
#include <string>

#include "compiler/ir.h"

namespace netpol::agent {

class DeltaBatch {
 public:
  void add(ir::Delta&& d);
  // The folded delta (sorted by name and key, like ir::diff); resets the batch.
  ir::Delta take();
  bool empty() const { return sets_.empty() && pods_.empty(); }
  // A fold rule was violated; the batch cannot be trusted: resync from the IR.
  bool broken() const { return broken_; }
  void clear();

 private:
  struct SetChange {
    enum class Kind { Elements, Created, Removed } kind = Kind::Elements;
    ir::Set created;  // Kind::Created
    std::set<ir::Element> add, del;
  };
  struct PodChange {
    std::optional<ir::LocalPod> before, after;
  };
  std::map<std::string, SetChange> sets_;
  std::map<std::string, PodChange> pods_;
  bool broken_ = false;
};

}  // namespace netpol::agent
