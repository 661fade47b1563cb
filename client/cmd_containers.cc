// dkctl run, ps, stop, rm, logs, inspect, events, info.
#include <unistd.h>

#include <iostream>

#include "absl/strings/match.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "client/cli_flags.h"
#include "client/cli_util.h"
#include "client/dkctl_commands.h"
#include "core/validation.h"
#include "nlohmann/json.hpp"

namespace dkd::client {
namespace {

int Usage(const FlagSet& flags, const absl::Status& s) {
  if (!s.ok()) {
    std::cerr << s.message() << "\n";
    return 125;
  }
  std::cout << flags.Usage();
  return 0;
}

std::string ShortId(const std::string& id) {
  std::string s = id;
  if (absl::StartsWith(s, "sha256:")) s = s.substr(7);
  return s.substr(0, 12);
}

std::string PortsText(const google::protobuf::RepeatedPtrField<dkd::v1::PortMapping>& ports) {
  std::vector<std::string> out;
  for (const auto& p : ports) {
    if (p.host_port() != 0) {
      out.push_back(absl::StrCat(p.host_ip().empty() ? "" : p.host_ip() + ":", p.host_port(), "->",
                                 p.container_port(), "/", p.protocol()));
    } else {
      out.push_back(absl::StrCat(p.container_port(), "/", p.protocol()));
    }
  }
  return absl::StrJoin(out, ", ");
}

// Streams a container's output to our stdout/stderr until it ends.
grpc::Status FollowLogs(DkdClient* client, const std::string& id, bool follow,
                        grpc::ClientContext* call) {
  dkd::v1::ContainerLogsRequest req;
  req.set_id(id);
  req.set_follow(follow);
  auto reader = client->docker().ContainerLogs(call, req);
  dkd::v1::LogEntry e;
  while (reader->Read(&e)) {
    std::ostream& out = e.stream() == dkd::v1::LogEntry::STDERR ? std::cerr : std::cout;
    out << e.data() << std::flush;
  }
  return reader->Finish();
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
  if (absl::Status s = flags.Parse(args); !s.ok() || flags.help_requested()) return Usage(flags, s);
  if (flags.positionals().empty()) {
    std::cerr << "\"dkctl run\" requires at least 1 argument: IMAGE\n";
    return 125;
  }
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
    if (!b.ok()) return Usage(flags, b.status());
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
    if (!m.ok()) return Usage(flags, m.status());
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
    if (!m.ok()) return Usage(flags, m.status());
    req.set_memory_bytes(*m);
  }
  if (!flags.Get("cpus").empty()) {
    auto c = core::ParseNanoCpus("--cpus", flags.Get("cpus"));
    if (!c.ok()) return Usage(flags, c.status());
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
  dkd::v1::RunContainerResponse resp;
  {
    grpc::ClientContext call;
    grpc::Status s = (*client)->docker().RunContainer(&call, req, &resp);
    if (!s.ok()) {
      ReportError(ctx, FromGrpcStatus(s));
      return 125;  // docker's exit code when the run itself fails.
    }
  }
  for (const auto& w : resp.warnings()) std::cerr << "WARNING: " << w << "\n";
  if (detach) {
    std::cout << resp.id() << "\n";
    return 0;
  }
  int exit_code = 0;
  {
    grpc::ClientContext call;
    InterruptCancels interrupt(&call);
    grpc::Status s = FollowLogs(*client, resp.id(), /*follow=*/true, &call);
    if (!s.ok() && !interrupt.interrupted()) ReportError(ctx, FromGrpcStatus(s));
    if (interrupt.interrupted()) {
      std::cerr << "detached from " << resp.name() << "; it keeps running (dkctl stop "
                << resp.name() << ")\n";
      return 130;
    }
  }
  {
    grpc::ClientContext call;
    dkd::v1::WaitContainerRequest wreq;
    wreq.set_id(resp.id());
    dkd::v1::WaitContainerResponse wresp;
    grpc::Status s = (*client)->docker().WaitContainer(&call, wreq, &wresp);
    if (!s.ok()) return ReportError(ctx, FromGrpcStatus(s));
    exit_code = wresp.exit_code();
  }
  if (flags.GetBool("rm")) {
    grpc::ClientContext call;
    dkd::v1::RemoveContainerRequest rreq;
    rreq.set_id(resp.id());
    rreq.set_force(true);
    dkd::v1::RemoveContainerResponse rresp;
    (*client)->docker().RemoveContainer(&call, rreq, &rresp);
  }
  return exit_code;
}

int CmdPs(CliContext& ctx, const std::vector<std::string>& args) {
  FlagSet flags("ps", "ps [OPTIONS]");
  flags.Bool("all", 'a', "Show all containers (default shows just running)");
  flags.Bool("quiet", 'q', "Only display container IDs");
  flags.Repeated("filter", 'f', "Filter: label=K[=V], name=N, status=S");
  flags.Bool("no-trunc", 0, "Don't truncate output");
  flags.String("format", 0, "\"json\" for machines");
  flags.String("last", 'n', "Show n last created containers (includes all states)", "0");
  if (absl::Status s = flags.Parse(args); !s.ok() || flags.help_requested()) return Usage(flags, s);
  dkd::v1::ListContainersRequest req;
  req.set_show_all(flags.GetBool("all"));
  int last = 0;
  if (!absl::SimpleAtoi(flags.Get("last"), &last) || last < 0) {
    std::cerr << "invalid --last \"" << flags.Get("last") << "\": must be a number\n";
    return 125;
  }
  if (last > 0) {
    req.set_limit(last);
    req.set_show_all(true);
  }
  for (const auto& f : flags.GetAll("filter")) {
    if (absl::StartsWith(f, "label=")) {
      req.add_label_filters(f.substr(6));
    } else if (absl::StartsWith(f, "name=")) {
      req.add_name_filters(f.substr(5));
    } else if (absl::StartsWith(f, "status=")) {
      req.add_status_filters(f.substr(7));
    } else {
      std::cerr << "unsupported filter \"" << f << "\": use label=, name= or status=\n";
      return 125;
    }
  }
  auto client = ctx.Client();
  if (!client.ok()) return ReportError(ctx, client.status());
  grpc::ClientContext call;
  dkd::v1::ListContainersResponse resp;
  grpc::Status s = (*client)->docker().ListContainers(&call, req, &resp);
  if (!s.ok()) return ReportError(ctx, FromGrpcStatus(s));
  const bool no_trunc = flags.GetBool("no-trunc");
  if (flags.Get("format") == "json") {
    nlohmann::json out = nlohmann::json::array();
    for (const auto& c : resp.containers()) {
      nlohmann::json labels = nlohmann::json::object();
      for (const auto& [k, v] : c.labels()) labels[k] = v;
      out.push_back({{"ID", c.id()},       {"Names", c.name()},   {"Image", c.image()},
                     {"Command", c.command()}, {"Created", c.created()}, {"State", c.state()},
                     {"Status", c.status()}, {"Ports", PortsText(c.ports())}, {"Labels", labels}});
    }
    std::cout << out.dump(2) << "\n";
    return 0;
  }
  std::vector<std::vector<std::string>> rows;
  if (!flags.GetBool("quiet")) {
    rows.push_back({"CONTAINER ID", "IMAGE", "COMMAND", "CREATED", "STATUS", "PORTS", "NAMES"});
  }
  for (const auto& c : resp.containers()) {
    const std::string id = no_trunc ? c.id() : ShortId(c.id());
    if (flags.GetBool("quiet")) {
      rows.push_back({id});
      continue;
    }
    const std::string cmd = no_trunc ? c.command() : Truncate(c.command(), 20);
    rows.push_back({id, c.image(), absl::StrCat("\"", cmd, "\""), HumanAgo(c.created()), c.status(),
                    PortsText(c.ports()), c.name()});
  }
  PrintTable(rows);
  return 0;
}

int CmdStop(CliContext& ctx, const std::vector<std::string>& args) {
  FlagSet flags("stop", "stop [OPTIONS] CONTAINER [CONTAINER...]");
  flags.String("time", 't', "Seconds to wait before killing (default: the container's own)");
  if (absl::Status s = flags.Parse(args); !s.ok() || flags.help_requested()) return Usage(flags, s);
  if (flags.positionals().empty()) {
    std::cerr << "\"dkctl stop\" requires at least 1 argument\n";
    return 125;
  }
  int timeout = -2;
  if (!flags.Get("time").empty() && (!absl::SimpleAtoi(flags.Get("time"), &timeout) || timeout < -1)) {
    std::cerr << "invalid --time \"" << flags.Get("time") << "\": must be seconds\n";
    return 125;
  }
  auto client = ctx.Client();
  if (!client.ok()) return ReportError(ctx, client.status());
  int rc = 0;
  for (const auto& id : flags.positionals()) {
    dkd::v1::StopContainerRequest req;
    req.set_id(id);
    if (timeout != -2) req.mutable_timeout_seconds()->set_value(timeout);
    grpc::ClientContext call;
    dkd::v1::StopContainerResponse resp;
    grpc::Status s = (*client)->docker().StopContainer(&call, req, &resp);
    if (!s.ok()) {
      rc = ReportError(ctx, FromGrpcStatus(s));
      continue;
    }
    std::cout << id << "\n";
  }
  return rc;
}

int CmdRm(CliContext& ctx, const std::vector<std::string>& args) {
  FlagSet flags("rm", "rm [OPTIONS] CONTAINER [CONTAINER...]");
  flags.Bool("force", 'f', "Force the removal of a running container");
  flags.Bool("volumes", 'v', "Remove anonymous volumes associated with the container");
  if (absl::Status s = flags.Parse(args); !s.ok() || flags.help_requested()) return Usage(flags, s);
  if (flags.positionals().empty()) {
    std::cerr << "\"dkctl rm\" requires at least 1 argument\n";
    return 125;
  }
  auto client = ctx.Client();
  if (!client.ok()) return ReportError(ctx, client.status());
  int rc = 0;
  for (const auto& id : flags.positionals()) {
    dkd::v1::RemoveContainerRequest req;
    req.set_id(id);
    req.set_force(flags.GetBool("force"));
    req.set_remove_volumes(flags.GetBool("volumes"));
    grpc::ClientContext call;
    dkd::v1::RemoveContainerResponse resp;
    grpc::Status s = (*client)->docker().RemoveContainer(&call, req, &resp);
    if (!s.ok()) {
      rc = ReportError(ctx, FromGrpcStatus(s));
      continue;
    }
    std::cout << id << "\n";
  }
  return rc;
}

int CmdLogs(CliContext& ctx, const std::vector<std::string>& args) {
  FlagSet flags("logs", "logs [OPTIONS] CONTAINER");
  flags.Bool("follow", 'f', "Follow log output");
  flags.String("tail", 'n', "Number of lines to show from the end (default all)", "all");
  flags.Bool("timestamps", 't', "Show timestamps");
  flags.String("since", 0, "Show logs since a Unix timestamp (seconds)");
  flags.String("until", 0, "Show logs before a Unix timestamp (seconds)");
  if (absl::Status s = flags.Parse(args); !s.ok() || flags.help_requested()) return Usage(flags, s);
  if (flags.positionals().size() != 1) {
    std::cerr << "\"dkctl logs\" requires exactly 1 argument: CONTAINER\n";
    return 125;
  }
  dkd::v1::ContainerLogsRequest req;
  req.set_id(flags.positionals()[0]);
  req.set_follow(flags.GetBool("follow"));
  req.set_timestamps(flags.GetBool("timestamps"));
  if (flags.Get("tail") != "all") {
    int tail = 0;
    if (!absl::SimpleAtoi(flags.Get("tail"), &tail) || tail < 0) {
      std::cerr << "invalid --tail \"" << flags.Get("tail") << "\": a number or \"all\"\n";
      return 125;
    }
    req.mutable_tail()->set_value(tail);
  }
  for (const char* key : {"since", "until"}) {
    if (flags.Get(key).empty()) continue;
    int64_t v = 0;
    if (!absl::SimpleAtoi(flags.Get(key), &v) || v < 0) {
      std::cerr << "invalid --" << key << ": seconds since the epoch\n";
      return 125;
    }
    std::string(key) == "since" ? req.set_since(v) : req.set_until(v);
  }
  auto client = ctx.Client();
  if (!client.ok()) return ReportError(ctx, client.status());
  grpc::ClientContext call;
  InterruptCancels interrupt(&call);
  auto reader = (*client)->docker().ContainerLogs(&call, req);
  dkd::v1::LogEntry e;
  while (reader->Read(&e)) {
    std::ostream& out = e.stream() == dkd::v1::LogEntry::STDERR ? std::cerr : std::cout;
    if (!e.timestamp().empty()) out << e.timestamp() << " ";
    out << e.data() << std::flush;
  }
  grpc::Status s = reader->Finish();
  if (!s.ok() && !interrupt.interrupted()) return ReportError(ctx, FromGrpcStatus(s));
  return 0;
}

int CmdInspect(CliContext& ctx, const std::vector<std::string>& args) {
  FlagSet flags("inspect", "inspect [OPTIONS] NAME|ID [NAME|ID...]");
  flags.String("type", 0, "Only \"container\" or \"image\"");
  if (absl::Status s = flags.Parse(args); !s.ok() || flags.help_requested()) return Usage(flags, s);
  if (flags.positionals().empty()) {
    std::cerr << "\"dkctl inspect\" requires at least 1 argument\n";
    return 125;
  }
  const std::string type = flags.Get("type");
  auto client = ctx.Client();
  if (!client.ok()) return ReportError(ctx, client.status());
  nlohmann::json out = nlohmann::json::array();
  int rc = 0;
  for (const auto& name : flags.positionals()) {
    grpc::Status s(grpc::StatusCode::NOT_FOUND, "");
    if (type.empty() || type == "container") {
      grpc::ClientContext call;
      dkd::v1::InspectContainerRequest req;
      req.set_id(name);
      dkd::v1::ContainerDetails d;
      s = (*client)->docker().InspectContainer(&call, req, &d);
      if (s.ok()) out.push_back(nlohmann::json::parse(d.raw_json(), nullptr, false));
    }
    // Not a container (or not even a container name): try it as an image.
    if (!s.ok() && type != "container" &&
        (s.error_code() == grpc::StatusCode::NOT_FOUND ||
         s.error_code() == grpc::StatusCode::INVALID_ARGUMENT)) {
      grpc::ClientContext call;
      dkd::v1::InspectImageRequest req;
      req.set_image(name);
      dkd::v1::ImageDetails d;
      grpc::Status is = (*client)->docker().InspectImage(&call, req, &d);
      if (is.ok()) out.push_back(nlohmann::json::parse(d.raw_json(), nullptr, false));
      s = is;
    }
    if (!s.ok()) {
      std::cerr << "Error: No such object: " << name << "\n";
      rc = 1;
    }
  }
  std::cout << out.dump(4) << "\n";
  return rc;
}

int CmdEvents(CliContext& ctx, const std::vector<std::string>& args) {
  FlagSet flags("events", "events [OPTIONS]");
  flags.Repeated("filter", 'f', "Filter: type=, event=, container=, image=, label=...");
  flags.String("since", 0, "Show events since a Unix timestamp (seconds)");
  flags.String("until", 0, "Stream events until a Unix timestamp (seconds)");
  flags.String("format", 0, "\"json\" for machines");
  if (absl::Status s = flags.Parse(args); !s.ok() || flags.help_requested()) return Usage(flags, s);
  dkd::v1::StreamEventsRequest req;
  for (const auto& f : flags.GetAll("filter")) req.add_filters(f);
  for (const char* key : {"since", "until"}) {
    if (flags.Get(key).empty()) continue;
    int64_t v = 0;
    if (!absl::SimpleAtoi(flags.Get(key), &v) || v < 0) {
      std::cerr << "invalid --" << key << ": seconds since the epoch\n";
      return 125;
    }
    std::string(key) == "since" ? req.set_since(v) : req.set_until(v);
  }
  auto client = ctx.Client();
  if (!client.ok()) return ReportError(ctx, client.status());
  grpc::ClientContext call;
  InterruptCancels interrupt(&call);
  auto reader = (*client)->docker().StreamEvents(&call, req);
  dkd::v1::EngineEvent e;
  const bool json = flags.Get("format") == "json";
  while (reader->Read(&e)) {
    if (json) {
      nlohmann::json attrs = nlohmann::json::object();
      for (const auto& [k, v] : e.attributes()) attrs[k] = v;
      std::cout << nlohmann::json{{"Type", e.type()},     {"Action", e.action()},
                                  {"Actor", {{"ID", e.actor_id()}, {"Attributes", attrs}}},
                                  {"scope", e.scope()},   {"timeNano", e.time_nano()}}
                       .dump()
                << std::endl;
    } else {
      std::vector<std::string> attrs;
      for (const auto& [k, v] : e.attributes()) attrs.push_back(k + "=" + v);
      std::sort(attrs.begin(), attrs.end());
      std::cout << e.time_nano() << " " << e.type() << " " << e.action() << " " << e.actor_id()
                << " (" << absl::StrJoin(attrs, ", ") << ")" << std::endl;
    }
  }
  grpc::Status s = reader->Finish();
  if (!s.ok() && !interrupt.interrupted()) return ReportError(ctx, FromGrpcStatus(s));
  return 0;
}

int CmdInfo(CliContext& ctx, const std::vector<std::string>& args) {
  FlagSet flags("info", "info [OPTIONS]");
  flags.String("format", 0, "\"json\" for machines");
  if (absl::Status s = flags.Parse(args); !s.ok() || flags.help_requested()) return Usage(flags, s);
  auto client = ctx.Client();
  if (!client.ok()) return ReportError(ctx, client.status());
  grpc::ClientContext call;
  dkd::v1::EngineInfo info;
  grpc::Status s = (*client)->docker().GetEngineInfo(&call, dkd::v1::GetEngineInfoRequest(), &info);
  if (!s.ok()) return ReportError(ctx, FromGrpcStatus(s));
  if (flags.Get("format") == "json") {
    std::cout << info.raw_json() << "\n";
    return 0;
  }
  std::cout << "Server:\n"
            << " Containers: " << info.containers() << "\n"
            << "  Running: " << info.containers_running() << "\n"
            << "  Paused: " << info.containers_paused() << "\n"
            << "  Stopped: " << info.containers_stopped() << "\n"
            << " Images: " << info.images() << "\n"
            << " Server Version: " << info.server_version() << "\n"
            << " Storage Driver: " << info.storage_driver() << "\n"
            << " Logging Driver: " << info.logging_driver() << "\n"
            << " Cgroup Driver: " << info.cgroup_driver() << "\n"
            << " Kernel Version: " << info.kernel_version() << "\n"
            << " Operating System: " << info.operating_system() << "\n"
            << " Architecture: " << info.architecture() << "\n"
            << " CPUs: " << info.ncpu() << "\n"
            << " Total Memory: " << HumanSize(info.mem_total()) << "\n"
            << " Name: " << info.name() << "\n"
            << " Docker Root Dir: " << info.docker_root_dir() << "\n";
  return 0;
}

}  // namespace dkd::client
