// The API client's errors are the project-wide Status/Result (k8s/status.h).
// Every message names what failed, e.g.
// "GET https://10.0.0.1:443/api/v1/pods?limit=500: 401 Unauthorized: ...",
// and the Code says what to do about it (Gone: relist, Unavailable: back off).
// cpprestsdk/Boost exceptions stop inside the .cpp files of k8s/api and come
// out as one of these.
#pragma once

#include "k8s/status.h"

namespace netpol::k8s::api {

using netpol::Code;
using netpol::Result;
using netpol::Status;
using netpol::to_string;

}  // namespace netpol::k8s::api
