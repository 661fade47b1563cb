// AuditLog (audit.h): opening the audit file and appending one line per call.
#include "server/audit.h"

#include <fcntl.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>

#include "absl/strings/str_cat.h"
#include "absl/time/clock.h"
#include "absl/time/time.h"
#include "nlohmann/json.hpp"
#include "spdlog/spdlog.h"

namespace dkd::server {

AuditLog::AuditLog(std::string path) : path_(std::move(path)) {}

AuditLog::~AuditLog() {
  absl::MutexLock lock(&mu_);
  if (fd_ >= 0) close(fd_);
}

absl::Status AuditLog::Open() {
  if (path_.empty()) return absl::OkStatus();
  int fd = open(path_.c_str(), O_WRONLY | O_APPEND | O_CREAT | O_CLOEXEC, 0640);
  if (fd < 0) {
    return absl::FailedPreconditionError(
        absl::StrCat("audit.file: cannot open ", path_, ": ", std::strerror(errno)));
  }
  absl::MutexLock lock(&mu_);
  if (fd_ >= 0) close(fd_);
  fd_ = fd;
  return absl::OkStatus();
}

void AuditLog::Write(const AuditRecord& r) {
  nlohmann::json j = {
      {"time", absl::FormatTime("%Y-%m-%dT%H:%M:%E3SZ", absl::Now(), absl::UTCTimeZone())},
      {"request_id", r.request_id},
      {"identity", r.identity},
      {"role", r.role},
      {"auth", r.auth_method},
      {"peer", r.peer},
      {"rpc", r.rpc},
      {"target", r.target},
      {"outcome", r.outcome},
      {"code", r.code},
  };
  if (!r.message.empty()) j["message"] = r.message.substr(0, 500);
  const std::string line = j.dump(-1, ' ', false, nlohmann::json::error_handler_t::replace) + "\n";
  absl::MutexLock lock(&mu_);
  if (fd_ < 0) {
    spdlog::info("audit {}", line.substr(0, line.size() - 1));
    return;
  }
  if (::write(fd_, line.data(), line.size()) != static_cast<ssize_t>(line.size())) {
    spdlog::error("audit.file {}: write failed: {}", path_, std::strerror(errno));
  }
}

}  // namespace dkd::server
