// The nft layer's error values are the project-wide ones (k8s/status.h);
// nft::Error is the name nft code uses to build a failure: `return Error{"..."};`.
#pragma once

#include "k8s/status.h"

namespace netpol::nft {

using Error = netpol::StatusError;
using netpol::Result;
using netpol::Status;

}  // namespace netpol::nft
