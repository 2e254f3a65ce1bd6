// The test program's main: runs the tests, then leaves with _Exit.
//
// cpprestsdk's listener keeps pool threads alive until static destruction,
// and tearing them down during exit() races with glibc's per-thread caches
// ("tcache_thread_shutdown(): unaligned tcache chunk detected", about one
// run in twenty). Every test has finished and reported by then, so nothing
// is lost by skipping static destructors; netpol-agent leaves the same way.
#include <gtest/gtest.h>

#include <cstdio>
#include <cstdlib>

int main(int argc, char** argv) {
  ::testing::InitGoogleTest(&argc, argv);
  const int rc = RUN_ALL_TESTS();
  std::fflush(stdout);
  std::fflush(stderr);
  std::_Exit(rc);
}
