#include "agent/audit/auditor.h"

namespace netpol::audit {

namespace {

// The attempt a packet belongs to: verdict, direction, protocol and 5-tuple.
std::string attempt_key(const LogId& id, const Packet& p) {
  std::string k;
  k.reserve(48);
  k += id.verdict == Verdict::Allow ? 'a' : 'd';
  k += id.direction == nft::Direction::Ingress ? 'i' : 'e';
  k += static_cast<char>(p.proto);
  k.append(reinterpret_cast<const char*>(p.src.bytes.data()), p.src.bits() / 8);
  k.append(reinterpret_cast<const char*>(p.dst.bytes.data()), p.dst.bits() / 8);
  for (uint16_t port : {p.sport, p.dport}) {
    k += static_cast<char>(port >> 8);
    k += static_cast<char>(port & 0xff);
  }
  if (p.icmp_type) k += static_cast<char>(*p.icmp_type);
  return k;
}

std::pair<std::string, std::string> split_key(const std::string& key) {
  size_t slash = key.find('/');
  if (slash == std::string::npos) return {"", key};
  return {key.substr(0, slash), key.substr(slash + 1)};
}

// What a Connection or Suppressed record takes from its log prefix.
template <typename Record>
void stamp(Record& r, TimePoint now, const std::string& node, const LogId& id) {
  r.time = now;
  r.node = node;
  r.verdict = id.verdict;
  r.direction = id.direction;
  r.tier = id.tier;  // the prefix says which tier logged, known or not
}

// ... and from the chain's attribution: who isolates the pod, and for an
// allow, the rule that allowed it.
template <typename Record>
void attribute(Record& r, const LogId& id, const Attribution& who) {
  r.isolated_by = who.isolated_by;
  r.cnp = who.cnp;
  // A ClusterNetworkPolicy decided: no NetworkPolicy allowed it (policies
  // and rule keep their schema 1 meaning), tier and cnp say who did.
  if (who.tier) return;
  if (id.verdict == Verdict::Allow) {
    r.policies = {who.policy};
    r.rule_index = who.rule_index;
  }
}

}  // namespace

Endpoint Pipeline::endpoint(const IpAddr& ip, std::optional<uint16_t> port) const {
  Endpoint e;
  e.ip = ip;
  e.port = port;
  std::optional<std::string> key = pods_.lookup(ip);
  if (!key) key = index_.local_pod(ip);
  if (key) std::tie(e.ns, e.pod) = split_key(*key);
  return e;
}

void Pipeline::on_record(const LogRecord& record, TimePoint now) {
  ++stats_.records;
  std::optional<LogId> id = parse_prefix(record.prefix);
  if (!id) {
    ++stats_.foreign;
    return;
  }
  std::optional<Packet> packet = decode_packet(record.payload.data(), record.payload.size());
  if (!packet) {
    ++stats_.decode_errors;
    return;
  }
  if (id->spoofed) ++stats_.spoofed;
  std::optional<Attribution> who;
  if (!id->spoofed) who = index_.lookup(*id);
  if (who) hot_[who->chain] = now;

  // Forget old attempts now and then (and everything if a flood of distinct
  // tuples outgrows the table: repeats then get logged again, nothing worse).
  if (now - last_prune_ > config_.dedupe_window || seen_.size() >= config_.dedupe_max) {
    for (auto it = seen_.begin(); it != seen_.end();) {
      it = now - it->second > config_.dedupe_window ? seen_.erase(it) : std::next(it);
    }
    if (seen_.size() >= config_.dedupe_max) seen_.clear();
    last_prune_ = now;
  }
  auto [it, fresh] = seen_.try_emplace(attempt_key(*id, *packet), now);
  if (!fresh) {
    if (now - it->second <= config_.dedupe_window) {
      ++stats_.repeats;
      return;
    }
    it->second = now;
  }

  Connection c;
  stamp(c, now, config_.node, *id);
  c.proto = packet->proto;
  auto port = [&](uint16_t p) {
    return packet->has_ports ? std::optional<uint16_t>(p) : std::nullopt;
  };
  c.src = endpoint(packet->src, port(packet->sport));
  c.dst = endpoint(packet->dst, port(packet->dport));
  if (id->spoofed) {
    // The source address is forged: naming the pod that owns it would blame
    // the victim. The line keeps the address only.
    c.src.ns.clear();
    c.src.pod.clear();
    c.reason = "spoofed";
  }
  c.icmp_type = packet->icmp_type;
  c.icmp_code = packet->icmp_code;
  if (who) {
    attribute(c, *id, *who);
    c.chain_pod = who->pod;
    // The chain's own pod is known even when its address is not (any more).
    Endpoint& local = id->direction == nft::Direction::Ingress ? c.dst : c.src;
    if (local.pod.empty()) std::tie(local.ns, local.pod) = split_key(who->pod);
  } else if (!id->spoofed) {
    ++stats_.unknown_ids;
  }
  ++stats_.connections;
  sink_(format(c));
}

std::vector<std::string> Pipeline::chains_to_poll(TimePoint now) {
  std::vector<std::string> out;
  for (auto it = hot_.begin(); it != hot_.end();) {
    out.push_back(it->first);
    it = now - it->second > config_.hot_for ? hot_.erase(it) : std::next(it);
  }
  return out;
}

void Pipeline::on_counters(const std::vector<CounterReading>& readings, TimePoint now) {
  for (const CounterReading& r : readings) {
    if (r.packets == 0) continue;
    std::optional<LogId> id = parse_prefix(r.prefix);
    if (!id) continue;
    std::optional<Attribution> who = index_.lookup(*id);
    if (!who) continue;
    Suppressed s;
    stamp(s, now, config_.node, *id);
    attribute(s, *id, *who);
    s.pod = who->pod;
    s.count = r.packets;
    stats_.suppressed += r.packets;
    // The chain stays hot while its limit keeps overflowing.
    hot_[who->chain] = now;
    sink_(format(s));
  }
}

// ---------------------------------------------------------------------------

Auditor::Auditor(AuditorConfig config, std::unique_ptr<LogWriter> writer,
                 std::unique_ptr<LogSource> log, std::unique_ptr<CounterSource> counters)
    : config_(std::move(config)),
      writer_(std::move(writer)),
      log_(std::move(log)),
      counters_(std::move(counters)),
      pipeline_(PipelineConfig{config_.node, config_.dedupe_window, 1 << 16,
                               std::chrono::milliseconds(5000)},
                [w = writer_.get()](std::string line) { w->push(std::move(line)); }) {}

Result<std::unique_ptr<Auditor>> Auditor::start(AuditorConfig config) {
  NflogOptions o;
  o.group = config.nflog_group;
  auto log = open_nflog(o);
  if (!log.ok()) return log.status();
  auto counters = open_counters();
  if (!counters.ok()) return counters.status();
  return start(std::move(config), std::move(log).value(), std::move(counters).value());
}

Result<std::unique_ptr<Auditor>> Auditor::start(AuditorConfig config,
                                                std::unique_ptr<LogSource> log,
                                                std::unique_ptr<CounterSource> counters) {
  WriterConfig w;
  w.path = config.path;
  w.max_bytes = config.max_bytes;
  w.keep = config.keep;
  w.queue_lines = config.queue_lines;
  w.node = config.node;
  auto writer = LogWriter::open(std::move(w));
  if (!writer.ok()) return writer.status();
  std::unique_ptr<Auditor> a(new Auditor(std::move(config), std::move(writer).value(),
                                         std::move(log), std::move(counters)));
  a->thread_ = std::thread([p = a.get()] { p->run(); });
  return a;
}

Auditor::~Auditor() {
  stop_.store(true);
  if (thread_.joinable()) thread_.join();
  writer_->flush();
}

void Auditor::update_rules(const ir::RuleSet& rules) {
  MutexLock lock(mu_);
  pipeline_.update_rules(rules);
}

void Auditor::upsert_pod(const k8s::Pod& pod) {
  MutexLock lock(mu_);
  pipeline_.upsert_pod(pod);
}

void Auditor::remove_pod(const std::string& ns, const std::string& name) {
  MutexLock lock(mu_);
  pipeline_.remove_pod(ns, name);
}

void Auditor::flush() {
  {
    // Two full reader rounds: whatever the kernel had queued when flush()
    // was called has been received and handed to the writer.
    MutexLock lock(mu_);
    uint64_t target = rounds_ + 2;
    round_.wait(lock, [&]() REQUIRES(mu_) { return rounds_ >= target || stop_.load(); });
  }
  writer_->flush();
}

AuditorStats Auditor::stats() const {
  AuditorStats s;
  {
    MutexLock lock(mu_);
    s.pipeline = pipeline_.stats();
    s.nflog_lost = nflog_lost_;
    s.errors = errors_;
    s.last_error = last_error_;
  }
  s.writer = writer_->stats();
  return s;
}

void Auditor::run() {
  std::vector<LogRecord> batch;
  auto next_poll = std::chrono::steady_clock::now() + config_.counter_poll;
  while (!stop_.load()) {
    batch.clear();
    uint64_t lost = 0;
    // A short wait so stop and the counter poll are never far away.
    Status s = log_->receive(batch, 100, lost);
    const TimePoint now = Clock::now();
    std::vector<std::string> due;
    {
      MutexLock lock(mu_);
      if (!s.ok()) {
        ++errors_;
        last_error_ = s.message();
      }
      nflog_lost_ += lost;
      for (const LogRecord& r : batch) pipeline_.on_record(r, now);
      if (std::chrono::steady_clock::now() >= next_poll) {
        due = pipeline_.chains_to_poll(now);
        next_poll = std::chrono::steady_clock::now() + config_.counter_poll;
      }
    }
    if (lost) writer_->report_lost(lost, "nflog_overflow");
    // Counter reads talk to the kernel: outside the lock.
    for (const std::string& chain : due) {
      auto readings = counters_->take(config_.table, chain);
      MutexLock lock(mu_);
      if (!readings.ok()) {
        // A chain that went away with its pod has nothing left to report.
        if (readings.message().find("No such file") == std::string::npos) {
          ++errors_;
          last_error_ = readings.message();
        }
        continue;
      }
      pipeline_.on_counters(readings.value(), Clock::now());
    }
    {
      MutexLock lock(mu_);
      ++rounds_;
    }
    round_.notify_all();
    if (!s.ok()) std::this_thread::sleep_for(std::chrono::milliseconds(100));
  }
  round_.notify_all();
}

}  // namespace netpol::audit
