#include "agent/delta.h"

#include <utility>

namespace netpol::agent {

void DeltaBatch::add(ir::Delta&& d) {
  for (ir::SetDelta& sd : d.sets) {
    auto [it, fresh] = sets_.try_emplace(sd.name);
    SetChange& c = it->second;
    if (sd.created) {
      c = SetChange{SetChange::Kind::Created, std::move(*sd.created), {}, {}};
      continue;
    }
    if (sd.removed) {
      c = SetChange{SetChange::Kind::Removed, {}, {}, {}};
      continue;
    }
    switch (c.kind) {
      case SetChange::Kind::Removed:
        // Elements of a set that no longer exists: the stream is not canonical.
        broken_ = true;
        break;
      case SetChange::Kind::Created:
        for (const ir::Element& e : sd.del) c.created.elements.erase(e);
        for (ir::Element& e : sd.add) c.created.elements.insert(std::move(e));
        break;
      case SetChange::Kind::Elements:
        // A delete of an element this batch added cancels the add (it was
        // absent before the batch); an add of one it deleted cancels the delete.
        for (const ir::Element& e : sd.del) {
          if (c.add.erase(e) == 0) c.del.insert(e);
        }
        for (ir::Element& e : sd.add) {
          if (c.del.erase(e) == 0) c.add.insert(std::move(e));
        }
        if (c.add.empty() && c.del.empty()) sets_.erase(it);
        break;
    }
    (void)fresh;
  }
  for (ir::PodDelta& pd : d.pods) {
    auto [it, fresh] = pods_.try_emplace(pd.key);
    if (fresh) it->second.before = std::move(pd.before);
    it->second.after = std::move(pd.after);
    if (it->second.before == it->second.after) pods_.erase(it);
  }
}

ir::Delta DeltaBatch::take() {
  ir::Delta out;
  out.sets.reserve(sets_.size());
  for (auto& [name, c] : sets_) {
    ir::SetDelta sd;
    sd.name = name;
    switch (c.kind) {
      case SetChange::Kind::Created:
        sd.created = std::move(c.created);
        break;
      case SetChange::Kind::Removed:
        sd.removed = true;
        break;
      case SetChange::Kind::Elements:
        sd.add.assign(std::make_move_iterator(c.add.begin()), std::make_move_iterator(c.add.end()));
        sd.del.assign(c.del.begin(), c.del.end());
        break;
    }
    out.sets.push_back(std::move(sd));
  }
  out.pods.reserve(pods_.size());
  for (auto& [key, c] : pods_) {
    out.pods.push_back(ir::PodDelta{key, std::move(c.before), std::move(c.after)});
  }
  clear();
  return out;
}

void DeltaBatch::clear() {
  sets_.clear();
  pods_.clear();
  broken_ = false;
}

}  // namespace netpol::agent
