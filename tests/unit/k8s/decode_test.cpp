// Decoding and validation of manifests (filled in with the decoder).
#include "k8s/decode.h"

#include <gtest/gtest.h>

namespace netpol::k8s {
namespace {

TEST(ErrorStr, LeavesOutUnknownParts) {
  EXPECT_EQ((Error{"a.yaml", "Pod", "ns/p", "metadata.name", "bad"}).str(),
            "a.yaml: Pod ns/p: metadata.name: bad");
  EXPECT_EQ((Error{"a.yaml", "", "", "", "line 3, column 7: oops"}).str(),
            "a.yaml: line 3, column 7: oops");
}

}  // namespace
}  // namespace netpol::k8s
