#include "nft/nl_socket.h"

#include <libmnl/libmnl.h>
#include <poll.h>
#include <sys/socket.h>

#include <algorithm>
#include <cerrno>
#include <chrono>
#include <climits>
#include <ctime>
#include <utility>

namespace netpol::nl {

namespace {

constexpr size_t kBufferBytes = 1u << 18;

double ms_since(std::chrono::steady_clock::time_point t) {
  return std::chrono::duration<double, std::milli>(std::chrono::steady_clock::now() - t).count();
}

int get_buffer(int fd, int opt) {
  int have = 0;
  socklen_t len = sizeof have;
  getsockopt(fd, SOL_SOCKET, opt, &have, &len);
  return have;
}

int grow_buffer(int fd, int force_opt, int opt, size_t want) {
  int have = get_buffer(fd, opt);
  // The kernel doubles what it is given and reports the doubled value.
  if (static_cast<size_t>(have) / 2 >= want) return have;
  int ask = static_cast<int>(std::min<size_t>(want, INT_MAX / 2));
  if (setsockopt(fd, SOL_SOCKET, force_opt, &ask, sizeof ask) != 0) {
    setsockopt(fd, SOL_SOCKET, opt, &ask, sizeof ask);
  }
  return get_buffer(fd, opt);
}

// The extended ACK text (NLMSGERR_ATTR_MSG) after an error's capped header.
std::string extack_of(const nlmsghdr* nlh, const nlmsgerr* err) {
  std::string out;
  if (!(nlh->nlmsg_flags & NLM_F_ACK_TLVS)) return out;
  size_t off = sizeof(nlmsgerr);
  if (!(nlh->nlmsg_flags & NLM_F_CAPPED)) off += err->msg.nlmsg_len - sizeof(nlmsghdr);
  const char* end = reinterpret_cast<const char*>(nlh) + nlh->nlmsg_len;
  const auto* attr = static_cast<const nlattr*>(mnl_nlmsg_get_payload_offset(nlh, off));
  for (; mnl_attr_ok(attr, static_cast<int>(end - reinterpret_cast<const char*>(attr)));
       attr = mnl_attr_next(attr)) {
    if (mnl_attr_get_type(attr) == NLMSGERR_ATTR_MSG) out = mnl_attr_get_str(attr);
  }
  return out;
}

}  // namespace

void Socket::Close::operator()(mnl_socket* s) const {
  mnl_socket_close(s);
}

Socket::Socket(std::unique_ptr<mnl_socket, Close> sock, uint32_t seq)
    : sock_(std::move(sock)), seq_(seq) {}
Socket::Socket(Socket&&) noexcept = default;
Socket& Socket::operator=(Socket&&) noexcept = default;
Socket::~Socket() = default;

Result<Socket> Socket::open(int protocol) {
  std::unique_ptr<mnl_socket, Close> s(mnl_socket_open(protocol));
  if (!s) return Status::FromErrno(errno, "netlink: cannot open socket");
  if (mnl_socket_bind(s.get(), 0, MNL_SOCKET_AUTOPID) < 0) {
    return Status::FromErrno(errno, "netlink: cannot bind socket");
  }
  return Socket(std::move(s), static_cast<uint32_t>(std::time(nullptr)));
}

int Socket::fd() const {
  return mnl_socket_get_fd(sock_.get());
}

uint32_t Socket::portid() const {
  return mnl_socket_get_portid(sock_.get());
}

std::vector<char>& Socket::buffer() {
  if (buf_.empty()) buf_.resize(kBufferBytes);
  return buf_;
}

Status Socket::set_option(int option, int value) {
  if (mnl_socket_setsockopt(sock_.get(), option, &value, sizeof value) < 0) {
    return Status::FromErrno(errno, "netlink: setsockopt " + std::to_string(option));
  }
  return {};
}

int Socket::grow_sndbuf(size_t bytes) {
  return grow_buffer(fd(), SO_SNDBUFFORCE, SO_SNDBUF, bytes);
}

int Socket::grow_rcvbuf(size_t bytes) {
  return grow_buffer(fd(), SO_RCVBUFFORCE, SO_RCVBUF, bytes);
}

int Socket::set_rcvbuf(size_t bytes) {
  const int size = static_cast<int>(std::min<size_t>(bytes, INT_MAX / 2));
  if (setsockopt(fd(), SOL_SOCKET, SO_RCVBUFFORCE, &size, sizeof size) != 0) {
    setsockopt(fd(), SOL_SOCKET, SO_RCVBUF, &size, sizeof size);
  }
  return rcvbuf();
}

int Socket::rcvbuf() const {
  return get_buffer(fd(), SO_RCVBUF);
}

Result<BatchReply> Socket::batch(std::span<const iovec> pages, uint32_t first_seq, size_t messages,
                                 size_t ack_from, size_t acks, int timeout_ms) {
  BatchReply out;
  size_t bytes = 0;
  for (const iovec& v : pages) bytes += v.iov_len;
  sockaddr_nl kernel{};
  kernel.nl_family = AF_NETLINK;
  msghdr msg{};
  msg.msg_name = &kernel;
  msg.msg_namelen = sizeof kernel;
  msg.msg_iov = const_cast<iovec*>(pages.data());
  msg.msg_iovlen = pages.size();
  const int sock = fd();
  ssize_t sent;
  auto t0 = std::chrono::steady_clock::now();
  do {
    sent = sendmsg(sock, &msg, 0);
  } while (sent < 0 && errno == EINTR);
  out.send_ms = ms_since(t0);
  if (sent < 0) {
    return Status::FromErrno(
        errno, "netlink: sending the batch (" + std::to_string(bytes) + " bytes) failed");
  }

  t0 = std::chrono::steady_clock::now();
  std::vector<char>& buf = buffer();
  auto handle = [&](const nlmsghdr* nlh) {
    if (nlh->nlmsg_type != NLMSG_ERROR) return;
    const auto* err = static_cast<const nlmsgerr*>(mnl_nlmsg_get_payload(nlh));
    const size_t index = static_cast<uint32_t>(err->msg.nlmsg_seq - first_seq);
    if (index >= messages) return;  // a late answer to an earlier batch
    if (index >= ack_from && index < ack_from + acks) ++out.acked;
    if (err->error != 0) out.errors.push_back(Nack{index, -err->error, extack_of(nlh, err)});
  };
  while (out.acked < acks) {
    ssize_t n = recv(sock, buf.data(), buf.size(), MSG_DONTWAIT);
    if (n < 0) {
      if (errno == EINTR) continue;
      if (errno == ENOBUFS) {
        // The kernel dropped answers; keep draining what it did queue.
        out.lost = true;
        continue;
      }
      if (errno == EAGAIN || errno == EWOULDBLOCK) {
        if (out.lost) break;
        pollfd p{sock, POLLIN, 0};
        int r;
        do {
          r = poll(&p, 1, timeout_ms);
        } while (r < 0 && errno == EINTR);
        if (r == 0) break;
        continue;
      }
      return Status::FromErrno(errno, "netlink: receiving ACKs failed");
    }
    int left = static_cast<int>(n);
    for (const auto* nlh = reinterpret_cast<const nlmsghdr*>(buf.data()); mnl_nlmsg_ok(nlh, left);
         nlh = mnl_nlmsg_next(nlh, &left)) {
      handle(nlh);
    }
  }
  out.ack_ms = ms_since(t0);
  return out;
}

Status Socket::request(const nlmsghdr* msg, const Each& each) {
  const bool dump = msg->nlmsg_flags & NLM_F_DUMP;
  ssize_t sent;
  do {
    sent = mnl_socket_sendto(sock_.get(), msg, msg->nlmsg_len);
  } while (sent < 0 && errno == EINTR);
  if (sent < 0) {
    return Status::FromErrno(errno, dump ? "netlink: sending a dump request failed"
                                         : "netlink: sending a request failed");
  }
  const char* failed = dump ? "netlink: dump failed" : "netlink: request failed";
  std::vector<char>& buf = buffer();
  const uint32_t seq = msg->nlmsg_seq;
  const uint32_t port = portid();
  for (;;) {
    ssize_t n = mnl_socket_recvfrom(sock_.get(), buf.data(), buf.size());
    if (n < 0) {
      if (errno == EINTR) continue;
      return Status::FromErrno(errno, failed);
    }
    int r = mnl_cb_run(
        buf.data(), static_cast<size_t>(n), seq, port,
        [](const nlmsghdr* m, void* p) -> int {
          (*static_cast<const Each*>(p))(m);
          return MNL_CB_OK;
        },
        const_cast<Each*>(&each));
    if (r == MNL_CB_STOP) return {};
    // An error answer, or NLM_F_DUMP_INTR (errno EINTR): the ruleset changed mid-dump.
    if (r < 0) return Status::FromErrno(errno, failed);
  }
}

Status Socket::receive(int timeout_ms, const Each& each, uint64_t& overflows) {
  const int sock = fd();
  pollfd p{sock, POLLIN, 0};
  int r = poll(&p, 1, timeout_ms);
  if (r < 0) return errno == EINTR ? Status() : Status::FromErrno(errno, "poll");
  if (r == 0) return {};
  std::vector<char>& buf = buffer();
  for (;;) {
    ssize_t n = recv(sock, buf.data(), buf.size(), MSG_DONTWAIT);
    if (n < 0) {
      if (errno == EINTR) continue;
      if (errno == EAGAIN || errno == EWOULDBLOCK) return {};
      if (errno == ENOBUFS) {
        ++overflows;
        continue;
      }
      return Status::FromErrno(errno, "netlink: receive failed");
    }
    int left = static_cast<int>(n);
    for (const auto* nlh = reinterpret_cast<const nlmsghdr*>(buf.data()); mnl_nlmsg_ok(nlh, left);
         nlh = mnl_nlmsg_next(nlh, &left)) {
      each(nlh);
    }
  }
}

}  // namespace netpol::nl
