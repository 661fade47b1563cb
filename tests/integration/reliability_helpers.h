// Helpers shared by the reliability integration tests: HTTP probes of dkd's
// side port, metrics, bounded waits, tiny builds, and CPU time of a process.
#pragma once

#include <unistd.h>

#include <chrono>
#include <fstream>
#include <functional>
#include <map>
#include <sstream>
#include <string>
#include <thread>
#include <vector>

#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_split.h"
#include "dkd/v1/docker_manager.grpc.pb.h"
#include "tests/integration/security_helpers.h"

namespace dkd::testing {

// GET http://127.0.0.1:port/path -> {status, body}; {0, ""} when nothing answers.
inline std::pair<int, std::string> HttpGet(int port, const std::string& path) {
  CommandResult r = RunCommand({"curl", "-s", "-m", "5", "-w", "\n%{http_code}",
                                absl::StrCat("http://127.0.0.1:", port, path)});
  const size_t nl = r.out.rfind('\n');
  if (nl == std::string::npos) return {0, ""};
  return {std::atoi(r.out.substr(nl + 1).c_str()), r.out.substr(0, nl)};
}

// The value of an unlabelled metric line "name value"; -1 when absent.
inline double Metric(int port, const std::string& name) {
  std::stringstream ss(HttpGet(port, "/metrics").second);
  for (std::string line; std::getline(ss, line);) {
    if (line.rfind(name + " ", 0) == 0) return std::strtod(line.c_str() + name.size() + 1, nullptr);
  }
  return -1;
}

// Polls `cond` until it holds or `limit` passes.
inline bool WaitFor(const std::function<bool()>& cond,
                    std::chrono::milliseconds limit = std::chrono::seconds(30)) {
  const auto deadline = std::chrono::steady_clock::now() + limit;
  while (std::chrono::steady_clock::now() < deadline) {
    if (cond()) return true;
    std::this_thread::sleep_for(std::chrono::milliseconds(20));
  }
  return cond();
}

inline std::string Tar(const std::map<std::string, std::string>& files) {
  const std::string dir = MakeTempDir();
  for (const auto& [name, content] : files) std::ofstream(dir + "/" + name) << content;
  CommandResult tar = RunCommand({"tar", "-C", dir, "-cf", "-", "."});
  RunCommand({"rm", "-rf", dir});
  return tar.out;
}

inline std::string Base() { return FixtureEnv("DKD_TEST_BASE_IMAGE"); }

// A one-step build context: FROM the fixture base image, then `run`.
inline std::string TinyContext(const std::string& run) {
  return Tar({{"Dockerfile", absl::StrCat("FROM ", Base(), "\nRUN ", run, "\n")}});
}

// User plus system CPU seconds of `pid`, from /proc/PID/stat; -1 when gone.
inline double CpuSecondsOf(pid_t pid) {
  std::string stat = Slurp(absl::StrCat("/proc/", pid, "/stat"));
  const size_t close = stat.rfind(')');
  if (close == std::string::npos) return -1;
  // Fields after "(comm)": state is field 3; utime and stime are 14 and 15.
  std::vector<std::string> f = absl::StrSplit(stat.substr(close + 2), ' ');
  if (f.size() < 13) return -1;
  double utime = 0, stime = 0;
  if (!absl::SimpleAtod(f[11], &utime) || !absl::SimpleAtod(f[12], &stime)) return -1;
  return (utime + stime) / static_cast<double>(sysconf(_SC_CLK_TCK));
}

}  // namespace dkd::testing
