// RetryPolicy: how DkdClient retries idempotent unary calls.
//
// Only reads and pure computations (list, inspect, ping, info, generate,
// lint, optimize a Dockerfile, analyze) are retried, and only when dkd could
// not be reached (UNAVAILABLE that dkd itself did not send; see
// IsDaemonUnavailable). Calls that change state (run, stop, remove, build,
// push, pull) and streams are never retried: a lost answer does not mean the
// engine did nothing.
#pragma once

#include <chrono>
#include <functional>

#include "absl/status/status.h"

namespace dkd::client {

struct RetryPolicy {
  // Attempts in all, the first included; 1 turns retries off.
  int max_attempts = 3;
  // Wait before the second attempt; doubled before each later one.
  std::chrono::milliseconds initial_backoff{100};
  // How to wait; std::this_thread::sleep_for when empty. Tests record instead.
  std::function<void(std::chrono::milliseconds)> sleep;

  // True when a failed attempt with `status` is worth another.
  static bool Retryable(const absl::Status& status);
};

}  // namespace dkd::client
