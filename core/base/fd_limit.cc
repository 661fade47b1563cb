// File-descriptor limits (fd_limit.h): reading and raising RLIMIT_NOFILE, and
// probing and reporting descriptor exhaustion.
#include "core/base/fd_limit.h"

#include <sys/resource.h>
#include <sys/socket.h>
#include <unistd.h>

#include <atomic>
#include <cerrno>
#include <cstring>
#include <limits>

#include "absl/base/thread_annotations.h"
#include "absl/strings/str_cat.h"
#include "absl/synchronization/mutex.h"
#include "spdlog/spdlog.h"

namespace dkd::core {
namespace {

uint64_t FromRlim(rlim_t v) {
  return v == RLIM_INFINITY ? std::numeric_limits<uint64_t>::max() : static_cast<uint64_t>(v);
}

std::string LimitText(uint64_t v) {
  return v == std::numeric_limits<uint64_t>::max() ? "unlimited" : absl::StrCat(v);
}

struct Reporter {
  absl::Mutex mu;
  absl::Time last_report ABSL_GUARDED_BY(mu) = absl::InfinitePast();
  uint64_t suppressed ABSL_GUARDED_BY(mu) = 0;
};

Reporter& TheReporter() {
  static auto* r = new Reporter();
  return *r;
}

std::atomic<uint64_t> g_exhaustions{0};

}  // namespace

NoFileLimit CurrentNoFileLimit() {
  struct rlimit rl {};
  if (getrlimit(RLIMIT_NOFILE, &rl) != 0) return {};
  return {FromRlim(rl.rlim_cur), FromRlim(rl.rlim_max)};
}

NoFileRaise RaiseNoFileLimitToHard() {
  NoFileRaise out;
  struct rlimit rl {};
  if (getrlimit(RLIMIT_NOFILE, &rl) != 0) {
    out.error = std::strerror(errno);
    return out;
  }
  out.before = {FromRlim(rl.rlim_cur), FromRlim(rl.rlim_max)};
  out.after = out.before;
  if (rl.rlim_cur == rl.rlim_max) return out;
  rl.rlim_cur = rl.rlim_max;
  if (setrlimit(RLIMIT_NOFILE, &rl) != 0) {
    out.error = std::strerror(errno);
    return out;
  }
  out.after = CurrentNoFileLimit();
  return out;
}

int ProbeFdExhaustion() {
  const int fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
  if (fd >= 0) {
    close(fd);
    return 0;
  }
  return IsFdExhaustion(errno) ? errno : 0;
}

absl::Status FdExhaustedError(int err, absl::string_view doing) {
  g_exhaustions.fetch_add(1, std::memory_order_relaxed);
  const NoFileLimit limit = CurrentNoFileLimit();
  const std::string message =
      err == ENFILE
          ? absl::StrCat("the system has no file descriptors left (ENFILE: fs.file-max reached) ",
                         "while ", doing, "; the call may succeed once descriptors are freed")
          : absl::StrCat("dkd has no file descriptors left (RLIMIT_NOFILE ", LimitText(limit.soft),
                         ") while ", doing,
                         "; close streams or raise LimitNOFILE= for dkd; the call may succeed "
                         "once descriptors are freed");
  Reporter& r = TheReporter();
  uint64_t suppressed = 0;
  {
    absl::MutexLock lock(&r.mu);
    const absl::Time now = absl::Now();
    if (now - r.last_report < kFdReportInterval) {
      ++r.suppressed;
      return absl::ResourceExhaustedError(message);
    }
    r.last_report = now;
    suppressed = r.suppressed;
    r.suppressed = 0;
  }
  if (suppressed > 0) {
    spdlog::error("{} ({} more refused since the last report)", message, suppressed);
  } else {
    spdlog::error("{}", message);
  }
  return absl::ResourceExhaustedError(message);
}

uint64_t FdExhaustionCount() { return g_exhaustions.load(std::memory_order_relaxed); }

}  // namespace dkd::core
