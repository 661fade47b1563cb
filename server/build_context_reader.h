// BuildContextReader: the build context of one BuildImage call, read from the
// messages after its BuildSpec as the core build asks for bytes.
//
// This is where the context's bytes arrive, so this is where they are
// counted: each chunk is added to dkd_build_context_bytes_total, and once
// more than limits.max_context_bytes have arrived the read fails with
// RESOURCE_EXHAUSTED naming the limit, before any byte of the chunk that
// crossed it is handed on (so none reaches the engine). The core also holds
// the limit on the decompressed canonical tar the engine receives
// (core/context/context_canon.h), which stops a small gzip that inflates past
// it. Chunks are passed on as they come: the context is never held whole.
// One reader per build, used from one thread.
#pragma once

#include <cstdint>
#include <functional>
#include <string>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "dkd/v1/docker_manager.pb.h"
#include "server/metrics.h"

namespace dkd::server {

// RESOURCE_EXHAUSTED "limits.max_context_bytes: …" for a context over
// `max_bytes`.
absl::Status ContextTooLargeError(int64_t max_bytes);

// True for a status made by ContextTooLargeError or by the core's own check.
bool IsContextTooLarge(const absl::Status& status);

class BuildContextReader {
 public:
  // Reads the call's next message into its argument; false at the end of
  // the stream.
  using NextMessage = std::function<bool(dkd::v1::BuildImageRequest*)>;

  // `max_bytes` is limits.max_context_bytes (0 = none).
  BuildContextReader(NextMessage next, int64_t max_bytes, Metrics* metrics);

  // core::ContextReader's contract: up to `len` bytes into `buf`, 0 at the
  // end of the context. INVALID_ARGUMENT for a second BuildSpec;
  // RESOURCE_EXHAUSTED past the limit.
  absl::StatusOr<size_t> Read(char* buf, size_t len);

  // Context bytes received so far.
  int64_t received() const { return received_; }

 private:
  NextMessage next_;
  const int64_t max_bytes_;
  Metrics* metrics_;
  std::string pending_;
  size_t offset_ = 0;
  int64_t received_ = 0;
  bool ended_ = false;
  absl::Status failed_;  // Once a read fails, every later one does.
};

}  // namespace dkd::server
