// Helpers shared by dkctl commands: human-readable sizes and times, tables,
// the credentials store, and Ctrl-C handling for streaming calls.
#pragma once

#include <atomic>
#include <cstdint>
#include <optional>
#include <string>
#include <thread>
#include <vector>

#include "absl/status/statusor.h"
#include "client/call_canceller.h"
#include "dkd/v1/docker_manager.pb.h"

namespace dkd::client {

// 1234567 -> "1.23MB" (decimal units, as docker prints sizes).
std::string HumanSize(int64_t bytes);
// A push or pull progress event as docker prints it ("abc: Pushing 1.2MB/3MB\n"),
// "" when it has nothing to show.
std::string ProgressLine(const dkd::v1::ProgressEvent& e);
// Seconds since the epoch -> "5 minutes ago".
std::string HumanAgo(int64_t epoch_seconds);
// Prints rows as left-aligned columns separated by three spaces.
void PrintTable(const std::vector<std::vector<std::string>>& rows);
// Truncates to `n` characters with "…" when longer.
std::string Truncate(const std::string& s, size_t n);

// Where `dkctl login` keeps credentials: $DKCTL_CONFIG, else ~/.dkctl/config.json.
std::string CredentialsPath();
// Stores credentials for `server` (file mode 0600).
absl::Status SaveCredentials(const std::string& server, const std::string& user,
                             const std::string& password);
absl::Status RemoveCredentials(const std::string& server);
// Credentials stored for `server`, if any.
std::optional<dkd::v1::RegistryAuth> LoadCredentials(const std::string& server);
// The registry host of an image reference ("docker.io" when none is named).
std::string RegistryOf(const std::string& image);
// Credentials for `image`: --username with --password-stdin when given,
// else the stored ones for its registry, else none.
absl::StatusOr<dkd::v1::RegistryAuth> CredentialsFor(const std::string& image,
                                                     const std::string& username,
                                                     bool password_stdin);

// Routes SIGINT/SIGTERM to one watcher thread for the life of dkctl: call it
// first thing in main, before any thread exists (threads inherit the blocked
// mask, so no gRPC thread can take the signal). A signal cancels the call of
// the live InterruptCancels, if any; otherwise it does what it would have
// done (ends dkctl).
void WatchInterrupts();

// While alive, SIGINT/SIGTERM trigger `cancel` (and so the call it is given
// to) instead of killing dkctl, so dkd aborts the engine work (a build stops)
// and the command exits cleanly. One at a time. Needs WatchInterrupts().
class InterruptCancels {
 public:
  explicit InterruptCancels(CallCanceller* cancel);
  ~InterruptCancels();
  InterruptCancels(const InterruptCancels&) = delete;
  InterruptCancels& operator=(const InterruptCancels&) = delete;
  bool interrupted() const { return interrupted_; }
  // Called by the watcher.
  void Interrupt();

 private:
  CallCanceller* const cancel_;
  std::atomic<bool> interrupted_{false};
};

}  // namespace dkd::client
