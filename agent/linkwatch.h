// LinkWatcher: follows the node's links, host routes, neighbours and bridge
// FDB (nft::Links) on its own thread and hands every new view of them to the
// sync thread as an Event (Op::Links), so anti-spoofing bindings of pods that
// netpol-cni did not bind follow the links (docs/spoofing.md).
//
// It reads once at start, then again after every rtnetlink event (events
// within `settle` are read as one) and every `resync` in case one was lost.
// Only views that differ from the last one sent are enqueued. Never touches a
// link; never throws.
#pragma once

#include <atomic>
#include <chrono>
#include <functional>
#include <memory>
#include <thread>

#include "agent/log.h"
#include "agent/sync.h"
#include "nft/links.h"

namespace netpol::agent {

struct LinkWatcherOptions {
  std::chrono::milliseconds settle{20};
  std::chrono::milliseconds resync{30'000};
};

// The view the sync thread gets from one snapshot.
LinksView links_view(const nft::LinkState& state);

class LinkWatcher {
 public:
  LinkWatcher(std::unique_ptr<nft::Links> links, std::function<void(Event)> enqueue, Logger* log,
              LinkWatcherOptions options = {});
  ~LinkWatcher();  // stop()
  LinkWatcher(const LinkWatcher&) = delete;
  LinkWatcher& operator=(const LinkWatcher&) = delete;

  // Reads once (so the first sync already has the view), then starts the thread.
  void start();
  void stop();

 private:
  void read_and_send();
  void run();

  std::unique_ptr<nft::Links> links_;
  std::function<void(Event)> enqueue_;
  Logger* log_;
  LinkWatcherOptions opts_;
  std::optional<LinksView> last_;
  std::string last_error_;
  std::atomic<bool> stop_{false};
  std::thread thread_;
};

}  // namespace netpol::agent
