// File-descriptor limits: reading and raising RLIMIT_NOFILE, and telling a
// process out of descriptors apart from an engine that is down.
//
// When socket(), connect() or accept() fail with EMFILE (this process is at
// its RLIMIT_NOFILE) or ENFILE (the system's file table is full), the engine
// is not the problem: FdExhaustedError() says so with ResourceExhausted,
// naming the limit, and logs it at error level at most once per
// kFdReportInterval (with the count of refusals in between), so a flood of
// refused calls cannot flood the log. Thread-safe.
#pragma once

#include <cerrno>
#include <cstdint>
#include <string>

#include "absl/status/status.h"
#include "absl/strings/string_view.h"
#include "absl/time/time.h"

namespace dkd::core {

inline constexpr absl::Duration kFdReportInterval = absl::Seconds(10);

struct NoFileLimit {
  uint64_t soft = 0;
  uint64_t hard = 0;  // RLIM_INFINITY is reported as UINT64_MAX.
};

// The current RLIMIT_NOFILE.
NoFileLimit CurrentNoFileLimit();

// Raises the soft RLIMIT_NOFILE to the hard limit. Returns the limits before
// and after (equal when nothing changed or setrlimit failed).
struct NoFileRaise {
  NoFileLimit before;
  NoFileLimit after;
  std::string error;  // Why setrlimit failed, or "".
};
NoFileRaise RaiseNoFileLimitToHard();

// Whether `err` (an errno) means no descriptor could be allocated.
inline bool IsFdExhaustion(int err) { return err == ENFILE || err == EMFILE; }

// Checks whether this process can open one more descriptor right now (opens
// and closes a socket). Returns the errno when it cannot, 0 when it can.
int ProbeFdExhaustion();

// ResourceExhausted for `err` (EMFILE or ENFILE) met while `doing` (e.g.
// "connecting to the Docker Engine"), e.g. "dkd has no file descriptors left
// (RLIMIT_NOFILE 1024) while connecting to the Docker Engine; ...". Logs at
// error level at most once per kFdReportInterval.
absl::Status FdExhaustedError(int err, absl::string_view doing);

// How many times FdExhaustedError() was called (for tests and metrics).
uint64_t FdExhaustionCount();

}  // namespace dkd::core
