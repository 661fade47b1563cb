// Daemon logging: spdlog, human-readable by default or one JSON object per
// line, with the request id of the RPC a line belongs to.
//
// The request id lives in a thread-local set by ScopedRequestId for the
// duration of an RPC handler (gRPC's sync server runs a handler on one
// thread), so every line logged while serving the call carries it, in core/
// too. Thread-safe.
#pragma once

#include <string>

#include "absl/status/status.h"

namespace dkd::server {

// Applies `level` (trace..error) and `format` ("text" or "json") to the
// default logger. Never logs secrets itself; callers must not either.
void ConfigureLogging(const std::string& level, const std::string& format);

// A fresh random request id (16 hex digits).
std::string NewRequestId();

// The request id of the RPC being served on this thread, or "".
const std::string& CurrentRequestId();

class ScopedRequestId {
 public:
  explicit ScopedRequestId(std::string id);
  ~ScopedRequestId();
  ScopedRequestId(const ScopedRequestId&) = delete;
  ScopedRequestId& operator=(const ScopedRequestId&) = delete;

 private:
  std::string previous_;
};

}  // namespace dkd::server
