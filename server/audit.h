// AuditLog: one JSON line per mutating call (and per refused one), appended
// to a file, or to the daemon log when no file is configured.
//
// A line holds time, request id, identity, role, auth method, peer, RPC,
// target, outcome ("ok", "denied", "unauthenticated", "failed") and the
// status code and message. Callers pass targets (image and container names),
// never credentials; registry auth and tokens never reach this class.
// Thread-safe; each line is written with one write(2) on an O_APPEND file.
#pragma once

#include <string>

#include "absl/status/status.h"
#include "absl/synchronization/mutex.h"

namespace dkd::server {

struct AuditRecord {
  std::string request_id;
  std::string identity;
  std::string role;
  std::string auth_method;
  std::string peer;
  std::string rpc;
  std::string target;
  std::string outcome;
  std::string code;
  std::string message;
};

class AuditLog {
 public:
  // "" = write through spdlog.
  explicit AuditLog(std::string path);
  ~AuditLog();

  // Opens (or re-opens, after rotation) the file. FailedPrecondition naming it.
  absl::Status Open();
  void Write(const AuditRecord& record);

 private:
  const std::string path_;
  absl::Mutex mu_;
  int fd_ ABSL_GUARDED_BY(mu_) = -1;
};

}  // namespace dkd::server
