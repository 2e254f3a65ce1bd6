// Reading manifests from files, directories and stdin; error formatting;
// completing a decoded snapshot (synthesised namespaces, duplicates).
// No parser lives here: text goes to decode_manifests().
#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstring>
#include <filesystem>
#include <map>
#include <set>

#include "k8s/decode.h"

namespace netpol::k8s {
namespace {

// Owns a file descriptor; closes it once.
class Fd {
 public:
  explicit Fd(int fd) : fd_(fd) {}
  Fd(const Fd&) = delete;
  Fd& operator=(const Fd&) = delete;
  ~Fd() {
    if (fd_ > 2) ::close(fd_);  // never close the standard streams
  }
  int get() const { return fd_; }

 private:
  int fd_;
};

Error file_error(const std::string& path, std::string message) {
  return Error{path, "", "", "", std::move(message)};
}

std::string limit_text() {
  return std::to_string(kMaxManifestBytes >> 20) + " MiB";
}

// Reads at most kMaxManifestBytes; a regular file that is larger is refused
// from its size alone, a pipe as soon as it has delivered one byte too many.
bool read_limited(int fd, const std::string& label, std::string& out, std::vector<Error>& errors) {
  struct stat st {};
  if (::fstat(fd, &st) == 0 && S_ISREG(st.st_mode)) {
    if (size_t(st.st_size) > kMaxManifestBytes) {
      errors.push_back(file_error(label, "file is larger than the " + limit_text() + " limit (" +
                                             std::to_string(st.st_size) + " bytes)"));
      return false;
    }
    out.reserve(size_t(st.st_size));
  }
  char buf[1 << 16];
  while (true) {
    ssize_t n = ::read(fd, buf, sizeof buf);
    if (n < 0) {
      if (errno == EINTR) continue;
      errors.push_back(file_error(label, std::string("cannot read: ") + std::strerror(errno)));
      return false;
    }
    if (n == 0) return true;
    if (out.size() + size_t(n) > kMaxManifestBytes) {
      errors.push_back(file_error(label, "input is larger than the " + limit_text() + " limit"));
      return false;
    }
    out.append(buf, size_t(n));
  }
}

// A YAML stream cut off mid-line usually still parses, into a different
// (partial) object: refuse it. JSON needs no such check, a cut JSON text
// never parses. A cut exactly at a line end cannot be recognised.
bool looks_truncated(std::string_view text, const std::string& label, std::vector<Error>& errors) {
  size_t first = text.find_first_not_of(" \t\r\n");
  if (first == std::string_view::npos || text.back() == '\n') return false;
  if (text.substr(first).starts_with("{") || text.substr(first).starts_with("[") ||
      text.substr(first).starts_with("\xEF\xBB\xBF{")) {
    return false;
  }
  size_t line = size_t(std::count(text.begin(), text.end(), '\n')) + 1;
  size_t last_nl = text.rfind('\n');
  size_t column = (last_nl == std::string_view::npos ? text.size() : text.size() - last_nl - 1) + 1;
  errors.push_back(Error{label, "", "",
                         "line " + std::to_string(line) + ", column " + std::to_string(column),
                         "input ends in the middle of a line (truncated?); a manifest must end "
                         "with a newline"});
  return true;
}

void merge(DecodeResult& into, DecodeResult&& from) {
  auto append = [](auto& a, auto& b) {
    a.insert(a.end(), std::make_move_iterator(b.begin()), std::make_move_iterator(b.end()));
  };
  append(into.objects.namespaces, from.objects.namespaces);
  append(into.objects.pods, from.objects.pods);
  append(into.objects.policies, from.objects.policies);
  append(into.objects.cluster_policies, from.objects.cluster_policies);
  append(into.objects.nodes, from.objects.nodes);
  append(into.origins.namespaces, from.origins.namespaces);
  append(into.origins.pods, from.origins.pods);
  append(into.origins.policies, from.origins.policies);
  append(into.origins.cluster_policies, from.origins.cluster_policies);
  append(into.origins.nodes, from.origins.nodes);
  append(into.errors, from.errors);
}

void load_fd(int fd, const std::string& label, DecodeResult& result) {
  std::string text;
  if (!read_limited(fd, label, text, result.errors)) return;
  if (looks_truncated(text, label, result.errors)) return;
  merge(result, decode_manifests(text, label));
}

void load_file(const std::string& path, DecodeResult& result) {
  int fd = ::open(path.c_str(), O_RDONLY | O_CLOEXEC);
  if (fd < 0) {
    result.errors.push_back(file_error(path, std::string("cannot read: ") + std::strerror(errno)));
    return;
  }
  Fd owned(fd);
  load_fd(fd, path, result);
}

bool manifest_name(const std::string& name) {
  auto ends = [&](std::string_view ext) { return name.size() > ext.size() && name.ends_with(ext); };
  return ends(".yaml") || ends(".yml") || ends(".json");
}

void load_directory(const std::string& dir, DecodeResult& result) {
  namespace fs = std::filesystem;
  std::error_code ec;
  std::vector<std::string> files;
  fs::directory_iterator it(dir, ec), end;
  for (; !ec && it != end; it.increment(ec)) {
    std::string name = it->path().filename().string();
    std::error_code type_ec;
    // is_regular_file follows symlinks (ConfigMap volumes are symlink farms).
    if (manifest_name(name) && it->is_regular_file(type_ec)) files.push_back(it->path().string());
  }
  if (ec) {
    result.errors.push_back(file_error(dir, "cannot list directory: " + ec.message()));
    return;
  }
  std::sort(files.begin(), files.end());
  for (const std::string& f : files) load_file(f, result);
}

}  // namespace

std::string Error::str() const {
  std::string out = file;
  auto part = [&out](const std::string& s) {
    if (s.empty()) return;
    if (!out.empty()) out += ": ";
    out += s;
  };
  std::string who = kind;
  if (!object.empty()) who += (who.empty() ? "" : " ") + object;
  part(who);
  part(field);
  part(message);
  return out;
}

DecodeResult load_manifests(const std::vector<std::string>& paths) {
  DecodeResult result;
  for (const std::string& path : paths) {
    if (path == "-") {
      load_fd(STDIN_FILENO, "-", result);
      continue;
    }
    struct stat st {};
    if (::stat(path.c_str(), &st) != 0) {
      result.errors.push_back(
          file_error(path, std::string("cannot read: ") + std::strerror(errno)));
    } else if (S_ISDIR(st.st_mode)) {
      load_directory(path, result);
    } else {
      load_file(path, result);
    }
  }
  return result;
}

namespace {

// Keeps the first object of each key; later ones become errors naming the
// file of the first.
template <typename T, typename KeyFn>
void drop_duplicates(std::vector<T>& objects, std::vector<std::string>& origins, const char* kind,
                     KeyFn key, std::vector<Error>& errors) {
  origins.resize(objects.size());
  std::map<std::string, size_t> first;
  std::vector<T> kept;
  std::vector<std::string> kept_origins;
  for (size_t i = 0; i < objects.size(); ++i) {
    std::string k = key(objects[i]);
    auto [it, inserted] = first.emplace(k, i);
    if (!inserted) {
      const std::string& where = origins[it->second];
      errors.push_back(Error{origins[i], kind, k, "metadata.name",
                             std::string("duplicate ") + kind + ", also defined in " +
                                 (where.empty() ? std::string("an earlier input") : where)});
      continue;
    }
    kept.push_back(std::move(objects[i]));
    kept_origins.push_back(origins[i]);  // copied: later duplicates still quote it
  }
  objects = std::move(kept);
  origins = std::move(kept_origins);
}

}  // namespace

void complete_snapshot(DecodeResult& r) {
  drop_duplicates(
      r.objects.namespaces, r.origins.namespaces, "Namespace",
      [](const Namespace& n) { return n.name; }, r.errors);
  drop_duplicates(
      r.objects.pods, r.origins.pods, "Pod", [](const Pod& p) { return p.key(); }, r.errors);
  drop_duplicates(
      r.objects.policies, r.origins.policies, "NetworkPolicy",
      [](const NetworkPolicy& p) { return p.key(); }, r.errors);
  drop_duplicates(
      r.objects.cluster_policies, r.origins.cluster_policies, "ClusterNetworkPolicy",
      [](const ClusterNetworkPolicy& p) { return p.key(); }, r.errors);
  drop_duplicates(
      r.objects.nodes, r.origins.nodes, "Node", [](const Node& n) { return n.key(); }, r.errors);

  std::set<std::string> have;
  for (const Namespace& n : r.objects.namespaces) have.insert(n.name);
  std::set<std::string> missing;  // sorted: synthesised namespaces come out in a stable order
  for (const Pod& p : r.objects.pods) {
    if (!have.contains(p.ns)) missing.insert(p.ns);
  }
  for (const NetworkPolicy& p : r.objects.policies) {
    if (!have.contains(p.ns)) missing.insert(p.ns);
  }
  for (const std::string& name : missing) {
    Namespace n;
    n.name = name;
    n.labels[kNamespaceNameLabel] = name;
    r.objects.namespaces.push_back(std::move(n));
    r.origins.namespaces.emplace_back();
  }
}

}  // namespace netpol::k8s
