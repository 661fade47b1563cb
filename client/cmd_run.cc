// dkctl run: create and start a container; without -d, follow its output
// live and exit with its exit code, as docker does.
#include <iostream>

#include "absl/strings/str_cat.h"
#include "client/cli_flags.h"
#include "client/cli_util.h"
#include "client/dkctl_commands.h"
#include "core/base/validation.h"

namespace dkd::client {
namespace {

// Writes a container's output to our stdout/stderr as it comes.
void PrintEntry(const dkd::v1::LogEntry& e) {
  std::ostream& out = e.stream() == dkd::v1::LogEntry::STDERR ? std::cerr : std::cout;
  out << e.data() << std::flush;
}

}  // namespace

int CmdRun(CliContext& ctx, const std::vector<std::string>& args) {
  FlagSet flags("run", "run [OPTIONS] IMAGE [COMMAND] [ARG...]", /*interspersed=*/false);
  flags.Bool("detach", 'd', "Run in the background and print the container ID");
  flags.String("name", 0, "Container name (default: <image>_<timestamp>)");
  flags.Repeated("env", 'e', "Set environment variables (K=V)");
  flags.Repeated("publish", 'p', "Publish a port: [ip:][hostPort:]containerPort[/proto]");
  flags.Repeated("volume", 'v', "Mount: source:/container/path[:ro|rw]");
  flags.Repeated("network", 0, "Connect to a network (repeatable; the first at create)");
  flags.String("restart", 0, "Restart policy: no, always, unless-stopped, on-failure[:N]", "no");
  flags.Repeated("label", 'l', "Set a container label (K=V)");
  flags.Bool("rm", 0, "Remove the container when it exits");
  flags.String("workdir", 'w', "Working directory inside the container");
  flags.String("user", 'u', "User (name|uid[:group|gid])");
  flags.String("entrypoint", 0, "Override the image's entrypoint");
  flags.String("memory", 'm', "Memory limit (e.g. 512m)");
  flags.String("cpus", 0, "Number of CPUs (e.g. 1.5)");
  flags.String("pull", 0, "Pull image before running: missing, never, always", "missing");
  flags.Bool("privileged", 0, "Give extended privileges (refused unless the policy allows)");
  if (auto rc = ParseCommandLine(flags, args, 1, kAnyNumber, "IMAGE")) return *rc;
  dkd::v1::RunContainerRequest req;
  auto* cfg = req.mutable_config();
  cfg->set_image_name(flags.positionals()[0]);
  cfg->set_tag("");
  req.mutable_command()->Add(flags.positionals().begin() + 1, flags.positionals().end());
  for (const auto& e : flags.GetAll("env")) {
    const size_t eq = e.find('=');
    if (eq == std::string::npos) {
      const char* v = std::getenv(e.c_str());
      if (v != nullptr) (*cfg->mutable_environment())[e] = v;
    } else {
      (*cfg->mutable_environment())[e.substr(0, eq)] = e.substr(eq + 1);
    }
  }
  for (const auto& p : flags.GetAll("publish")) {
    auto b = core::ParsePublishSpec("--publish", p);
    if (!b.ok()) return FlagValueError(b.status());
    std::string host;
    if (!b->host_ip.empty()) {
      host = b->host_ip.find(':') != std::string::npos ? absl::StrCat("[", b->host_ip, "]:")
                                                       : absl::StrCat(b->host_ip, ":");
    }
    if (b->host_port != 0) absl::StrAppend(&host, b->host_port);
    (*cfg->mutable_ports())[b->PortKey()] = host;
  }
  for (const auto& v : flags.GetAll("volume")) {
    auto m = core::ParseVolumeSpec("--volume", v);
    if (!m.ok()) return FlagValueError(m.status());
    (*cfg->mutable_volumes())[m->source] = m->target + (m->read_only ? ":ro" : "");
  }
  for (const auto& n : flags.GetAll("network")) cfg->add_networks(n);
  cfg->set_restart_policy(flags.Get("restart"));
  for (const auto& l : flags.GetAll("label")) {
    const size_t eq = l.find('=');
    (*cfg->mutable_labels())[l.substr(0, eq)] = eq == std::string::npos ? "" : l.substr(eq + 1);
  }
  req.set_name(flags.Get("name"));
  req.set_working_dir(flags.Get("workdir"));
  req.set_user(flags.Get("user"));
  if (!flags.Get("entrypoint").empty()) req.add_entrypoint(flags.Get("entrypoint"));
  if (!flags.Get("memory").empty()) {
    auto m = core::ParseMemoryBytes("--memory", flags.Get("memory"));
    if (!m.ok()) return FlagValueError(m.status());
    req.set_memory_bytes(*m);
  }
  if (!flags.Get("cpus").empty()) {
    auto c = core::ParseNanoCpus("--cpus", flags.Get("cpus"));
    if (!c.ok()) return FlagValueError(c.status());
    req.set_nano_cpus(*c);
  }
  const std::string pull = flags.Get("pull");
  if (pull == "never") {
    req.set_pull_policy(dkd::v1::RunContainerRequest::NEVER);
  } else if (pull == "always") {
    req.set_pull_policy(dkd::v1::RunContainerRequest::ALWAYS);
  } else if (pull != "missing") {
    std::cerr << "invalid --pull \"" << pull << "\": use missing, never or always\n";
    return 125;
  }
  req.set_privileged(flags.GetBool("privileged"));
  const bool detach = flags.GetBool("detach");
  // Attached runs start detached and follow the output live, then wait.
  req.set_detach(true);
  req.set_auto_remove(flags.GetBool("rm") && detach);
  auto auth = CredentialsFor(flags.positionals()[0], "", false);
  if (auth.ok()) *req.mutable_auth() = *auth;

  auto client = ctx.Client();
  if (!client.ok()) return ReportError(ctx, client.status());
  auto resp = (*client)->RunContainer(req);
  if (!resp.ok()) {
    ReportError(ctx, resp.status());
    return 125;  // docker's exit code when the run itself fails.
  }
  for (const auto& w : resp->warnings()) std::cerr << "WARNING: " << w << "\n";
  if (detach) {
    std::cout << resp->id() << "\n";
    return 0;
  }
  int exit_code = 0;
  {
    CallCanceller cancel;
    InterruptCancels interrupt(&cancel);
    dkd::v1::ContainerLogsRequest logs;
    logs.set_id(resp->id());
    logs.set_follow(true);
    absl::Status s = (*client)->ContainerLogs(logs, PrintEntry, &cancel);
    if (!s.ok() && !interrupt.interrupted()) ReportError(ctx, s);
    if (interrupt.interrupted()) {
      std::cerr << "detached from " << resp->name() << "; it keeps running (dkctl stop "
                << resp->name() << ")\n";
      return 130;
    }
  }
  {
    auto wait = (*client)->WaitContainer(resp->id());
    if (!wait.ok()) return ReportError(ctx, wait.status());
    exit_code = wait->exit_code();
  }
  if (flags.GetBool("rm")) {
    // Best effort, as docker: the exit code is the container's either way.
    (void)(*client)->RemoveContainer(resp->id(), {/*force=*/true, /*remove_volumes=*/false});
  }
  return exit_code;
}

}  // namespace dkd::client
