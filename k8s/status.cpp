#include "k8s/status.h"

#include <cerrno>
#include <cstring>

namespace netpol {

const char* to_string(Code c) {
  switch (c) {
    case Code::Ok:
      return "Ok";
    case Code::Unknown:
      return "Unknown";
    case Code::InvalidArgument:
      return "InvalidArgument";
    case Code::Unauthorized:
      return "Unauthorized";
    case Code::Forbidden:
      return "Forbidden";
    case Code::NotFound:
      return "NotFound";
    case Code::Conflict:
      return "Conflict";
    case Code::Gone:
      return "Gone";
    case Code::Unavailable:
      return "Unavailable";
    case Code::Timeout:
      return "Timeout";
    case Code::Cancelled:
      return "Cancelled";
    case Code::Malformed:
      return "Malformed";
    case Code::Unsupported:
      return "Unsupported";
    case Code::Resource:
      return "Resource";
  }
  return "Unknown";
}

Code code_of_errno(int errnum) {
  switch (errnum) {
    case 0:
      return Code::Ok;
    case EINVAL:
    case ERANGE:
      return Code::InvalidArgument;
    case EPERM:
    case EACCES:
      return Code::Forbidden;
    case ENOENT:
    case ESRCH:
      return Code::NotFound;
    case EEXIST:
      return Code::Conflict;
    case EBUSY:
    case EAGAIN:
    case ECONNREFUSED:
    case ECONNRESET:
    case EPIPE:
      return Code::Unavailable;
    case ETIMEDOUT:
      return Code::Timeout;
    case EINTR:
      return Code::Cancelled;
    case EOPNOTSUPP:
    case EPROTONOSUPPORT:
    case EAFNOSUPPORT:
      return Code::Unsupported;
    case ENOBUFS:
    case ENOMEM:
    case EMSGSIZE:
      return Code::Resource;
    default:
      return Code::Unknown;
  }
}

std::string errno_text(int errnum) {
  char buf[256];
  // GNU strerror_r returns a pointer that may or may not be buf.
  const char* s = strerror_r(errnum, buf, sizeof buf);
  return s ? std::string(s) : "errno " + std::to_string(errnum);
}

std::string Status::str() const {
  if (ok()) return "ok";
  return std::string(to_string(code_)) + ": " + message_;
}

}  // namespace netpol
