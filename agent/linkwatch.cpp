#include "agent/linkwatch.h"

#include <utility>

namespace netpol::agent {

LinksView links_view(const nft::LinkState& state) {
  return LinksView{nft::derive_bindings(state), nft::bridge_ports(state)};
}

LinkWatcher::LinkWatcher(std::unique_ptr<nft::Links> links, std::function<void(Event)> enqueue,
                         Logger* log, LinkWatcherOptions options)
    : links_(std::move(links)), enqueue_(std::move(enqueue)), log_(log), opts_(options) {}

LinkWatcher::~LinkWatcher() {
  stop();
}

void LinkWatcher::start() {
  if (thread_.joinable()) return;
  read_and_send();
  stop_ = false;
  thread_ = std::thread([this] { run(); });
}

void LinkWatcher::stop() {
  stop_ = true;
  if (thread_.joinable()) thread_.join();
}

void LinkWatcher::read_and_send() {
  auto state = links_->read();
  if (!state.ok()) {
    if (log_ && state.status().message() != last_error_) {
      log_->error("cannot read the node's links (anti-spoofing keeps the last view)",
                  {{"error", state.status().message()}});
    }
    last_error_ = state.status().message();
    return;
  }
  last_error_.clear();
  LinksView view = links_view(state.value());
  if (last_ && *last_ == view) return;
  last_ = view;
  Event ev;
  ev.op = Event::Op::Links;
  ev.links = std::move(view);
  enqueue_(std::move(ev));
}

void LinkWatcher::run() {
  auto next_resync = std::chrono::steady_clock::now() + opts_.resync;
  while (!stop_) {
    // Short waits, so stop() returns promptly.
    auto got = links_->wait(std::chrono::milliseconds(200));
    if (stop_) break;
    bool changed = got.ok() && got.value();
    if (!got.ok()) {
      if (log_ && got.status().message() != last_error_) {
        log_->error("link events failed; reading the links periodically",
                    {{"error", got.status().message()}});
      }
      last_error_ = got.status().message();
      std::this_thread::sleep_for(std::chrono::milliseconds(200));
    }
    if (changed) {
      // A pod coming up is several events (link, address, route): one read.
      for (int i = 0; i < 50 && !stop_; ++i) {
        auto more = links_->wait(opts_.settle);
        if (!more.ok() || !more.value()) break;
      }
    }
    const auto now = std::chrono::steady_clock::now();
    if (changed || now >= next_resync) {
      read_and_send();
      next_resync = now + opts_.resync;
    }
  }
}

}  // namespace netpol::agent
