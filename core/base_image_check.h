// Enforces build.base_registries on a build context as it streams to the
// engine, without holding the context.
//
// BaseImageGate watches the context tar pass by, captures the Dockerfile entry,
// and decides once it is complete: every FROM (after ARG expansion with the
// build args and the Dockerfile's global ARG defaults; stage aliases and
// `scratch` excepted) must name an image in an allowed registry. Bytes are
// forwarded as they come, except the tar's end-of-archive marker, which is
// held back until the decision is made, so the engine never holds a complete
// context for a refused build. Compressed contexts cannot be inspected and are
// refused while the rule is on. Not thread-safe: one gate per build.
#pragma once

#include <map>
#include <string>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"

namespace dkd::core {

// PermissionDenied naming the FROM image and its registry when a base image
// comes from a registry not in `allowed` (empty allows all). InvalidArgument
// when the Dockerfile does not parse.
absl::Status CheckBaseImages(const std::string& dockerfile,
                             const std::map<std::string, std::string>& build_args,
                             const std::vector<std::string>& allowed);

class BaseImageGate {
 public:
  BaseImageGate(std::string dockerfile_name, std::map<std::string, std::string> build_args,
                std::vector<std::string> allowed);

  // Takes the next `len` bytes of the context (in place in `data`) and returns
  // how many of the bytes now buffered may be sent; the caller sends them with
  // TakeReady(). An error means the build is refused: send nothing more.
  absl::Status Feed(const char* data, size_t len);
  // Call at the end of the context: decides if not yet decided.
  absl::Status Finish();
  // Moves the bytes cleared for sending into `out` (appending).
  void TakeReady(std::string* out);

 private:
  absl::Status Decide();
  absl::Status ParseHeader(const char* block);

  const std::string dockerfile_name_;
  const std::map<std::string, std::string> build_args_;
  const std::vector<std::string> allowed_;
  bool decided_ = false;
  bool first_bytes_ = true;
  std::string ready_;       // Cleared for sending.
  std::string held_;        // End-of-archive and after, until decided.
  std::string header_;      // Partial 512-byte header.
  uint64_t remaining_ = 0;  // Data bytes left in the current entry.
  uint64_t padding_ = 0;    // Padding bytes left after it.
  bool capturing_ = false;  // The current entry is the Dockerfile.
  char entry_type_ = 0;
  std::string long_name_;  // From a pax 'x' or GNU 'L' record.
  std::string record_;     // Body of a pax/GNU record being read.
  std::string dockerfile_;
  bool dockerfile_seen_ = false;
  bool at_end_ = false;
};

}  // namespace dkd::core
