// Test support (daemon_fixture.h): starting and stopping a dkd process, and
// running commands with their output captured.
#include "tests/support/daemon_fixture.h"

#include <fcntl.h>
#include <signal.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <chrono>
#include <cstdlib>
#include <cstring>
#include <fstream>
#include <mutex>
#include <sstream>
#include <thread>

#include "absl/strings/str_cat.h"

namespace dkd::testing {
namespace {

std::string ReadFile(const std::string& path) {
  std::ifstream in(path);
  std::stringstream ss;
  ss << in.rdbuf();
  return ss.str();
}

// tcp_host() -> local_token_file() of the running daemons, for Dkctl().
std::mutex& TokenFilesMu() {
  static std::mutex mu;
  return mu;
}
std::map<std::string, std::string>& TokenFiles() {
  static auto* files = new std::map<std::string, std::string>();
  return *files;
}

int WaitStatusToCode(int status) {
  if (WIFEXITED(status)) return WEXITSTATUS(status);
  if (WIFSIGNALED(status)) return 128 + WTERMSIG(status);
  return -1;
}

}  // namespace

std::string TestEngineHost() {
  for (const char* name : {"DKD_TEST_ENGINE", "DOCKER_HOST"}) {
    const char* v = std::getenv(name);
    if (v != nullptr && *v != '\0') return v;
  }
  return "unix:///var/run/docker.sock";
}

std::string FixtureEnv(const char* name) {
  const char* v = std::getenv(name);
  return v == nullptr ? "" : v;
}

absl::StatusOr<std::unique_ptr<DaemonProcess>> DaemonProcess::Start(const Options& options) {
  return Start(options, "");
}

absl::StatusOr<std::unique_ptr<DaemonProcess>> DaemonProcess::Start(
    const Options& options, const std::string& config_json) {
  std::unique_ptr<DaemonProcess> d(new DaemonProcess());
  char tmpl[] = "/tmp/dkdt.XXXXXX";
  if (mkdtemp(tmpl) == nullptr) return absl::InternalError("mkdtemp failed");
  d->dir_ = tmpl;
  d->socket_path_ = d->dir_ + "/dkd.sock";
  const std::string port_file = d->dir_ + "/port";
  const std::string log = d->dir_ + "/dkd.log";
  std::vector<std::string> argv = {DKD_BINARY,
                                   "--engine",
                                   options.engine.empty() ? TestEngineHost() : options.engine,
                                   "--unix-socket",
                                   d->socket_path_,
                                   "--tcp",
                                   "127.0.0.1:0",
                                   "--port-file",
                                   port_file,
                                   "--health-interval",
                                   "0.2",
                                   "--log-level",
                                   "debug",
                                   "--http",
                                   "127.0.0.1:0",
                                   "--http-port-file",
                                   d->dir_ + "/http-port"};
  if (!config_json.empty()) {
    std::ofstream(d->dir_ + "/dkd.json") << config_json;
    argv.push_back("--config");
    argv.push_back(d->dir_ + "/dkd.json");
  }
  argv.insert(argv.end(), options.extra_args.begin(), options.extra_args.end());
  pid_t pid = fork();
  if (pid < 0) return absl::InternalError("fork failed");
  if (pid == 0) {
    int fd = open(log.c_str(), O_WRONLY | O_CREAT | O_TRUNC, 0644);
    dup2(fd, 1);
    dup2(fd, 2);
    std::vector<char*> cargv;
    for (auto& a : argv) cargv.push_back(a.data());
    cargv.push_back(nullptr);
    execv(cargv[0], cargv.data());
    _exit(127);
  }
  d->pid_ = pid;
  const auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(20);
  while (std::chrono::steady_clock::now() < deadline) {
    int status = 0;
    if (waitpid(pid, &status, WNOHANG) == pid) {
      d->pid_ = -1;
      return absl::InternalError(absl::StrCat("dkd exited with ", WaitStatusToCode(status),
                                              " during start-up:\n", ReadFile(log)));
    }
    std::string port = ReadFile(port_file);
    if (!port.empty()) {
      d->port_ = std::atoi(port.c_str());
      std::lock_guard<std::mutex> lock(TokenFilesMu());
      TokenFiles()[d->tcp_host()] = d->local_token_file();
      return d;
    }
    std::this_thread::sleep_for(std::chrono::milliseconds(20));
  }
  return absl::DeadlineExceededError(absl::StrCat("dkd did not start in 20s:\n", ReadFile(log)));
}

std::string DaemonProcess::Log() const { return ReadFile(dir_ + "/dkd.log"); }

std::string DaemonProcess::LocalToken() const {
  std::string t = ReadFile(local_token_file());
  while (!t.empty() && (t.back() == '\n' || t.back() == ' ')) t.pop_back();
  return t;
}

int DaemonProcess::http_port() const { return std::atoi(ReadFile(dir_ + "/http-port").c_str()); }

int DaemonProcess::Stop(int sig) {
  if (pid_ <= 0) return -1;
  {
    std::lock_guard<std::mutex> lock(TokenFilesMu());
    TokenFiles().erase(tcp_host());
  }
  kill(pid_, sig);
  int status = 0;
  const auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(30);
  while (waitpid(pid_, &status, WNOHANG) == 0) {
    if (std::chrono::steady_clock::now() > deadline) {
      kill(pid_, SIGKILL);
      waitpid(pid_, &status, 0);
      break;
    }
    std::this_thread::sleep_for(std::chrono::milliseconds(20));
  }
  pid_ = -1;
  return WaitStatusToCode(status);
}

DaemonProcess::~DaemonProcess() {
  Stop();
  if (!dir_.empty()) {
    std::string cmd = "rm -rf '" + dir_ + "'";
    if (std::system(cmd.c_str()) != 0) {
      // Leftover temp files are harmless.
    }
  }
}

CommandResult RunCommand(const std::vector<std::string>& argv,
                         const std::map<std::string, std::string>& env, const std::string& input) {
  CommandResult r;
  char tmpl[] = "/tmp/dkdc.XXXXXX";
  if (mkdtemp(tmpl) == nullptr) return r;
  const std::string dir = tmpl;
  const std::string in_path = dir + "/in", out_path = dir + "/out", err_path = dir + "/err";
  std::ofstream(in_path) << input;
  pid_t pid = fork();
  if (pid == 0) {
    int in = open(in_path.c_str(), O_RDONLY);
    int out = open(out_path.c_str(), O_WRONLY | O_CREAT | O_TRUNC, 0644);
    int err = open(err_path.c_str(), O_WRONLY | O_CREAT | O_TRUNC, 0644);
    dup2(in, 0);
    dup2(out, 1);
    dup2(err, 2);
    for (const auto& [k, v] : env) setenv(k.c_str(), v.c_str(), 1);
    std::vector<char*> cargv;
    std::vector<std::string> copy = argv;
    for (auto& a : copy) cargv.push_back(a.data());
    cargv.push_back(nullptr);
    execvp(cargv[0], cargv.data());
    _exit(127);
  }
  int status = 0;
  waitpid(pid, &status, 0);
  r.exit_code = WaitStatusToCode(status);
  r.out = ReadFile(out_path);
  r.err = ReadFile(err_path);
  unlink(in_path.c_str());
  unlink(out_path.c_str());
  unlink(err_path.c_str());
  rmdir(dir.c_str());
  return r;
}

CommandResult Dkctl(const std::string& host, const std::vector<std::string>& args,
                    const std::string& input) {
  std::vector<std::string> argv = {DKCTL_BINARY, "--host", host};
  argv.insert(argv.end(), args.begin(), args.end());
  std::map<std::string, std::string> env;
  {
    std::lock_guard<std::mutex> lock(TokenFilesMu());
    if (auto it = TokenFiles().find(host); it != TokenFiles().end()) {
      env["DKD_TOKEN_FILE"] = it->second;
    }
  }
  return RunCommand(argv, env, input);
}

}  // namespace dkd::testing
