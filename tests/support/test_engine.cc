// Test support (test_engine.h): starting, pausing, killing and restarting a
// test's own Docker Engine.
#include "tests/support/test_engine.h"

#include <dirent.h>
#include <fcntl.h>
#include <signal.h>
#include <sys/mount.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <chrono>
#include <cstring>
#include <fstream>
#include <sstream>
#include <thread>

#include "absl/strings/match.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_split.h"
#include "absl/strings/strip.h"

namespace dkd::testing {
namespace {

std::string ReadAll(const std::string& path) {
  std::ifstream in(path);
  std::stringstream ss;
  ss << in.rdbuf();
  return ss.str();
}

// Whether `pid` still runs (a zombie does not).
bool Alive(pid_t pid) {
  const std::string stat = ReadAll(absl::StrCat("/proc/", pid, "/stat"));
  if (stat.empty()) return false;
  const size_t close = stat.rfind(')');
  return close != std::string::npos && close + 2 < stat.size() && stat[close + 2] != 'Z';
}

// Polls `done` every 50 ms until it holds or `limit` passes.
template <typename F>
bool WaitFor(F done, std::chrono::milliseconds limit) {
  const auto end = std::chrono::steady_clock::now() + limit;
  while (!done()) {
    if (std::chrono::steady_clock::now() > end) return false;
    std::this_thread::sleep_for(std::chrono::milliseconds(50));
  }
  return true;
}

}  // namespace

absl::StatusOr<std::unique_ptr<TestEngine>> TestEngine::Start(const Options& options) {
  if (geteuid() != 0) return absl::FailedPreconditionError("a test engine needs root");
  if (access("/usr/sbin/dockerd", X_OK) != 0) {
    return absl::FailedPreconditionError("dockerd is not installed (scripts/install-deps.sh)");
  }
  std::unique_ptr<TestEngine> e(new TestEngine());
  e->options_ = options;
  char tmpl[] = "/tmp/dkte.XXXXXX";
  if (mkdtemp(tmpl) == nullptr) return absl::InternalError("mkdtemp failed");
  e->dir_ = tmpl;
  e->socket_ = e->dir_ + "/d.sock";
  std::ofstream(e->dir_ + "/daemon.json") << "{}\n";
  // A bridge of its own: the first free dkdtN whose 192.168.2NN.0/24 is unused.
  CommandResult listed = RunCommand({"ip", "-4", "-o", "addr"});
  if (listed.exit_code != 0) {
    return absl::FailedPreconditionError("`ip -4 -o addr` failed (is iproute2 installed?): " +
                                         listed.err);
  }
  const std::string addrs = listed.out;
  for (int i = 0; i < 50 && e->bridge_.empty(); ++i) {
    const int n = (getpid() + i) % 50;
    const std::string net = absl::StrCat("192.168.", 200 + n, ".");
    if (absl::StrContains(addrs, net)) continue;
    const std::string name = absl::StrCat("dkdt", n);
    if (RunCommand({"ip", "link", "add", name, "type", "bridge"}).exit_code != 0) continue;
    e->bridge_ = name;
    CommandResult a = RunCommand({"ip", "addr", "add", net + "1/24", "dev", name});
    CommandResult up = RunCommand({"ip", "link", "set", name, "up"});
    if (a.exit_code != 0 || up.exit_code != 0) {
      return absl::InternalError("could not configure bridge " + name + ": " + a.err + up.err);
    }
  }
  if (e->bridge_.empty()) return absl::InternalError("no free dkdtN bridge name or subnet");
  if (absl::Status s = e->Launch(); !s.ok()) return s;
  if (absl::Status s = e->ImportBusybox(); !s.ok()) return s;
  return e;
}

absl::Status TestEngine::Launch() {
  const std::vector<std::string> args = {"/usr/sbin/dockerd",
                                         "--host",
                                         host(),
                                         "--data-root",
                                         dir_ + "/d",
                                         "--exec-root",
                                         dir_ + "/x",
                                         "--pidfile",
                                         dir_ + "/d.pid",
                                         "--config-file",
                                         dir_ + "/daemon.json",
                                         "--storage-driver",
                                         "vfs",
                                         "--iptables=false",
                                         "--ip-masq=false",
                                         "--bridge",
                                         bridge_,
                                         "--exec-opt",
                                         "native.cgroupdriver=cgroupfs",
                                         "--log-level",
                                         "warn"};
  const std::string log = dir_ + "/dockerd.log";
  // The environment, made before fork: the child only execs.
  std::vector<std::string> env_strings;
  for (char** e = environ; *e != nullptr; ++e) {
    const absl::string_view entry(*e);
    if (!options_.env.count(std::string(entry.substr(0, entry.find('='))))) {
      env_strings.emplace_back(entry);
    }
  }
  for (const auto& [k, v] : options_.env) env_strings.push_back(k + "=" + v);
  std::vector<char*> envp;
  for (auto& e : env_strings) envp.push_back(e.data());
  envp.push_back(nullptr);
  const pid_t pid = fork();
  if (pid < 0) return absl::InternalError("fork failed");
  if (pid == 0) {
    setsid();
    const int fd = open(log.c_str(), O_WRONLY | O_CREAT | O_APPEND, 0600);
    const int devnull = open("/dev/null", O_RDONLY);
    dup2(devnull, 0);
    dup2(fd, 1);
    dup2(fd, 2);
    std::vector<char*> argv;
    for (const auto& a : args) argv.push_back(const_cast<char*>(a.c_str()));
    argv.push_back(nullptr);
    execve(argv[0], argv.data(), envp.data());
    _exit(127);
  }
  pid_ = pid;
  paused_ = false;
  return WaitUntilAnswering();
}

absl::Status TestEngine::WaitUntilAnswering() {
  bool exited = false;
  const bool up = WaitFor(
      [&] {
        int status = 0;
        if (waitpid(pid_, &status, WNOHANG) == pid_) {
          exited = true;
          return true;
        }
        return Docker({"version", "--format", "{{.Server.Version}}"}).exit_code == 0;
      },
      std::chrono::seconds(90));
  if (exited || !up) {
    return absl::UnavailableError(absl::StrCat("the test engine did not come up: ", Log()));
  }
  return absl::OkStatus();
}

absl::Status TestEngine::ImportBusybox() {
  const std::string script = absl::StrCat(
      "set -e; r=", dir_,
      "/rootfs; mkdir -p $r/bin $r/etc $r/tmp $r/root; chmod 1777 $r/tmp; "
      "cp /bin/busybox $r/bin/busybox; "
      "for a in $(/bin/busybox --list); do [ $a = busybox ] || ln -sf busybox $r/bin/$a; done; "
      "printf 'root:x:0:0:root:/root:/bin/sh\\n' > $r/etc/passwd; "
      "printf 'root:x:0:\\n' > $r/etc/group; "
      "tar -C $r -c . | docker -H ",
      host(),
      " import -c 'ENV PATH=/bin' -c 'CMD [\"/bin/sh\"]' - busybox:latest >/dev/null; "
      "rm -rf $r");
  CommandResult r = RunCommand({"bash", "-c", script});
  if (r.exit_code != 0) return absl::InternalError("importing busybox failed: " + r.err);
  return absl::OkStatus();
}

absl::Status TestEngine::Pause() {
  if (kill(pid_, SIGSTOP) != 0) return absl::InternalError("SIGSTOP failed");
  paused_ = true;
  // Stopped once /proc says so ('T').
  WaitFor(
      [&] {
        const std::string stat = ReadAll(absl::StrCat("/proc/", pid_, "/stat"));
        const size_t close = stat.rfind(')');
        return close != std::string::npos && close + 2 < stat.size() && stat[close + 2] == 'T';
      },
      std::chrono::seconds(5));
  return absl::OkStatus();
}

absl::Status TestEngine::Resume() {
  if (kill(pid_, SIGCONT) != 0) return absl::InternalError("SIGCONT failed");
  paused_ = false;
  return absl::OkStatus();
}

std::vector<pid_t> TestEngine::OwnProcesses(const std::string& comm) const {
  std::vector<pid_t> out;
  DIR* proc = opendir("/proc");
  if (proc == nullptr) return out;
  while (dirent* ent = readdir(proc)) {
    int pid = 0;
    if (!absl::SimpleAtoi(ent->d_name, &pid) || pid == getpid()) continue;
    std::string cmdline = ReadAll(absl::StrCat("/proc/", pid, "/cmdline"));
    std::replace(cmdline.begin(), cmdline.end(), '\0', ' ');
    if (!absl::StrContains(cmdline, dir_ + "/")) continue;
    if (!comm.empty() &&
        absl::StripTrailingAsciiWhitespace(ReadAll(absl::StrCat("/proc/", pid, "/comm"))) != comm) {
      continue;
    }
    if (Alive(pid)) out.push_back(pid);
  }
  closedir(proc);
  return out;
}

absl::Status TestEngine::Kill() {
  std::vector<pid_t> victims = OwnProcesses("containerd");
  if (paused_) Resume().IgnoreError();
  kill(pid_, SIGKILL);
  for (pid_t p : victims) kill(p, SIGKILL);
  int status = 0;
  waitpid(pid_, &status, 0);
  victims.push_back(pid_);
  if (!WaitFor([&] { return std::none_of(victims.begin(), victims.end(), Alive); },
               std::chrono::seconds(10))) {
    return absl::InternalError("the test engine's processes survived SIGKILL");
  }
  // A dead engine's pid files would point dockerd at pids that may linger as
  // zombies, or be reused; a real crash is followed by a restart without them.
  unlink((dir_ + "/d.pid").c_str());
  unlink((dir_ + "/x/containerd/containerd.pid").c_str());
  return absl::OkStatus();
}

absl::Status TestEngine::Restart() { return Launch(); }

CommandResult TestEngine::Docker(const std::vector<std::string>& args,
                                 const std::string& input) const {
  std::vector<std::string> argv = {"docker", "-H", host()};
  argv.insert(argv.end(), args.begin(), args.end());
  return RunCommand(argv, {}, input);
}

std::string TestEngine::Log() const { return ReadAll(dir_ + "/dockerd.log"); }

TestEngine::~TestEngine() {
  if (pid_ > 0 && Alive(pid_)) {
    if (paused_) kill(pid_, SIGCONT);
    kill(pid_, SIGTERM);
    int status = 0;
    if (!WaitFor([&] { return waitpid(pid_, &status, WNOHANG) == pid_; },
                 std::chrono::seconds(20))) {
      kill(pid_, SIGKILL);
      waitpid(pid_, &status, 0);
    }
  } else if (pid_ > 0) {
    int status = 0;
    waitpid(pid_, &status, WNOHANG);
  }
  // Whatever is left: containerd, shims, and processes of containers the
  // engine did not stop (it was killed).
  std::vector<pid_t> rest = OwnProcesses();
  DIR* containers = opendir((dir_ + "/d/containers").c_str());
  if (containers != nullptr) {
    while (dirent* ent = readdir(containers)) {
      const std::string id = ent->d_name;
      if (id.size() != 64) continue;
      for (const char* ctl : {"pids", "memory", "cpu,cpuacct", "devices", "freezer"}) {
        for (absl::string_view line : absl::StrSplit(
                 ReadAll(absl::StrCat("/sys/fs/cgroup/", ctl, "/docker/", id, "/cgroup.procs")),
                 '\n')) {
          int pid = 0;
          if (absl::SimpleAtoi(line, &pid)) rest.push_back(pid);
        }
      }
    }
    closedir(containers);
  }
  for (pid_t p : rest) kill(p, SIGKILL);
  WaitFor([&] { return std::none_of(rest.begin(), rest.end(), Alive); }, std::chrono::seconds(10));
  // Unmount what the engine left mounted under its directory, deepest first.
  std::vector<std::string> mounts;
  for (absl::string_view line : absl::StrSplit(ReadAll("/proc/self/mounts"), '\n')) {
    std::vector<std::string> f = absl::StrSplit(line, ' ');
    if (f.size() > 1 && absl::StartsWith(f[1], dir_ + "/")) mounts.push_back(f[1]);
  }
  std::sort(mounts.begin(), mounts.end(),
            [](const std::string& a, const std::string& b) { return a.size() > b.size(); });
  for (const auto& m : mounts) umount2(m.c_str(), MNT_DETACH);
  if (!dir_.empty()) RunCommand({"rm", "-rf", dir_});
  if (!bridge_.empty()) RunCommand({"ip", "link", "del", bridge_});
}

}  // namespace dkd::testing
