// dkctl helpers (cli_util.h): sizes, ages and tables for output, the credentials
// store, and Ctrl-C turned into cancelled calls.
#include "client/cli_util.h"

#include <signal.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cstdlib>
#include <ctime>
#include <filesystem>
#include <fstream>
#include <iostream>
#include <mutex>
#include <sstream>
#include <thread>

#include "absl/strings/escaping.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "nlohmann/json.hpp"

namespace dkd::client {

std::string HumanSize(int64_t bytes) {
  static const char* kUnits[] = {"B", "kB", "MB", "GB", "TB", "PB"};
  double v = static_cast<double>(bytes);
  int u = 0;
  while (v >= 1000 && u < 5) {
    v /= 1000;
    ++u;
  }
  if (u == 0) return absl::StrCat(bytes, "B");
  return absl::StrFormat("%.3g%s", v, kUnits[u]);
}

std::string ProgressLine(const dkd::v1::ProgressEvent& e) {
  if (!e.id().empty()) {
    std::string line = absl::StrCat(e.id(), ": ", e.status());
    if (e.total() > 0)
      absl::StrAppend(&line, " ", HumanSize(e.current()), "/", HumanSize(e.total()));
    return line + "\n";
  }
  if (!e.status().empty()) return absl::StrCat(e.status(), "\n");
  return "";
}

std::string HumanAgo(int64_t epoch_seconds) {
  const int64_t d = static_cast<int64_t>(std::time(nullptr)) - epoch_seconds;
  auto plural = [](int64_t n, const char* unit) {
    return absl::StrCat(n, " ", unit, n == 1 ? "" : "s", " ago");
  };
  if (d < 60) return d <= 1 ? "Less than a second ago" : plural(d, "second");
  if (d < 3600) return d < 120 ? "About a minute ago" : plural(d / 60, "minute");
  if (d < 86400) return d < 7200 ? "About an hour ago" : plural(d / 3600, "hour");
  if (d < 86400 * 14) return plural(d / 86400, "day");
  if (d < 86400 * 60) return plural(d / (86400 * 7), "week");
  if (d < 86400 * 730) return plural(d / (86400 * 30), "month");
  return plural(d / (86400 * 365), "year");
}

void PrintTable(const std::vector<std::vector<std::string>>& rows) {
  std::vector<size_t> width;
  for (const auto& r : rows) {
    for (size_t i = 0; i < r.size(); ++i) {
      if (width.size() <= i) width.push_back(0);
      width[i] = std::max(width[i], r[i].size());
    }
  }
  for (const auto& r : rows) {
    std::string line;
    for (size_t i = 0; i < r.size(); ++i) {
      line += r[i];
      if (i + 1 < r.size()) line += std::string(width[i] - r[i].size() + 3, ' ');
    }
    std::cout << line << "\n";
  }
}

std::string Truncate(const std::string& s, size_t n) {
  if (s.size() <= n) return s;
  return s.substr(0, n - 1) + "…";
}

std::string CredentialsPath() {
  if (const char* p = std::getenv("DKCTL_CONFIG"); p != nullptr && *p) return p;
  const char* home = std::getenv("HOME");
  return absl::StrCat(home ? home : "/root", "/.dkctl/config.json");
}

namespace {
nlohmann::json LoadConfig() {
  std::ifstream in(CredentialsPath());
  if (!in) return nlohmann::json::object();
  std::stringstream ss;
  ss << in.rdbuf();
  auto j = nlohmann::json::parse(ss.str(), nullptr, false);
  return (j.is_discarded() || !j.is_object()) ? nlohmann::json::object() : j;
}

absl::Status StoreConfig(const nlohmann::json& j) {
  const std::string path = CredentialsPath();
  std::error_code ec;
  std::filesystem::create_directories(std::filesystem::path(path).parent_path(), ec);
  const std::string tmp = path + ".tmp";
  const mode_t old = umask(077);
  {
    std::ofstream out(tmp, std::ios::trunc);
    out << j.dump(2) << "\n";
    if (!out) {
      umask(old);
      return absl::PermissionDeniedError(absl::StrCat("cannot write ", tmp));
    }
  }
  umask(old);
  chmod(tmp.c_str(), 0600);
  if (std::rename(tmp.c_str(), path.c_str()) != 0) {
    return absl::PermissionDeniedError(absl::StrCat("cannot write ", path));
  }
  return absl::OkStatus();
}
}  // namespace

absl::Status SaveCredentials(const std::string& server, const std::string& user,
                             const std::string& password) {
  nlohmann::json j = LoadConfig();
  j["auths"][server] = {{"auth", absl::Base64Escape(absl::StrCat(user, ":", password))}};
  return StoreConfig(j);
}

absl::Status RemoveCredentials(const std::string& server) {
  nlohmann::json j = LoadConfig();
  if (!j.contains("auths") || !j["auths"].contains(server)) {
    return absl::NotFoundError(absl::StrCat("not logged in to ", server));
  }
  j["auths"].erase(server);
  return StoreConfig(j);
}

std::optional<dkd::v1::RegistryAuth> LoadCredentials(const std::string& server) {
  nlohmann::json j = LoadConfig();
  if (!j.contains("auths") || !j["auths"].contains(server)) return std::nullopt;
  std::string decoded;
  if (!absl::Base64Unescape(j["auths"][server].value("auth", ""), &decoded)) return std::nullopt;
  const size_t colon = decoded.find(':');
  if (colon == std::string::npos) return std::nullopt;
  dkd::v1::RegistryAuth a;
  a.set_username(decoded.substr(0, colon));
  a.set_password(decoded.substr(colon + 1));
  a.set_server_address(server);
  return a;
}

std::string RegistryOf(const std::string& image) {
  const size_t slash = image.find('/');
  if (slash == std::string::npos) return "docker.io";
  const std::string first = image.substr(0, slash);
  if (first.find('.') != std::string::npos || first.find(':') != std::string::npos ||
      first == "localhost" || first.front() == '[') {
    return first;
  }
  return "docker.io";
}

absl::StatusOr<dkd::v1::RegistryAuth> CredentialsFor(const std::string& image,
                                                     const std::string& username,
                                                     bool password_stdin) {
  const std::string server = RegistryOf(image);
  if (password_stdin) {
    if (username.empty()) {
      return absl::InvalidArgumentError("--password-stdin needs --username");
    }
    std::string password;
    std::getline(std::cin, password);
    if (!password.empty() && password.back() == '\r') password.pop_back();
    dkd::v1::RegistryAuth a;
    a.set_username(username);
    a.set_password(password);
    a.set_server_address(server);
    return a;
  }
  if (auto stored = LoadCredentials(server)) return *stored;
  return dkd::v1::RegistryAuth();
}

namespace {

// The command's InterruptCancels, if one is alive; guarded by InterruptMu().
std::mutex& InterruptMu() {
  static std::mutex mu;
  return mu;
}
InterruptCancels* current_interrupt = nullptr;

}  // namespace

void WatchInterrupts() {
  sigset_t set;
  sigemptyset(&set);
  sigaddset(&set, SIGINT);
  sigaddset(&set, SIGTERM);
  // Blocked before any other thread exists, so every thread (gRPC's too)
  // inherits the mask and the signals reach only the watcher below.
  pthread_sigmask(SIG_BLOCK, &set, nullptr);
  std::thread([set] {
    for (;;) {
      int sig = 0;
      if (sigwait(&set, &sig) != 0) continue;
      {
        std::lock_guard<std::mutex> lock(InterruptMu());
        if (current_interrupt != nullptr) {
          current_interrupt->Interrupt();
          continue;
        }
      }
      // No call to cancel: the signal does what it would have done.
      signal(sig, SIG_DFL);
      sigset_t one;
      sigemptyset(&one);
      sigaddset(&one, sig);
      pthread_sigmask(SIG_UNBLOCK, &one, nullptr);
      raise(sig);
    }
  }).detach();
}

InterruptCancels::InterruptCancels(CallCanceller* cancel) : cancel_(cancel) {
  std::lock_guard<std::mutex> lock(InterruptMu());
  current_interrupt = this;
}

InterruptCancels::~InterruptCancels() {
  std::lock_guard<std::mutex> lock(InterruptMu());
  if (current_interrupt == this) current_interrupt = nullptr;
}

void InterruptCancels::Interrupt() {
  interrupted_ = true;
  cancel_->Cancel();
}

}  // namespace dkd::client
