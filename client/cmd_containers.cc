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

}  // namespace

int CmdPs(CliContext& ctx, const std::vector<std::string>& args) {
  FlagSet flags("ps", "ps [OPTIONS]");
  flags.Bool("all", 'a', "Show all containers (default shows just running)");
  flags.Bool("quiet", 'q', "Only display container IDs");
  flags.Repeated("filter", 'f', "Filter: label=K[=V], name=N, status=S");
  flags.Bool("no-trunc", 0, "Don't truncate output");
  flags.String("format", 0, "\"json\" for machines");
  flags.String("last", 'n', "Show n last created containers (includes all states)", "0");
  if (auto rc = ParseCommandLine(flags, args, 0, kAnyNumber, "")) return *rc;
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
      out.push_back({{"ID", c.id()},
                     {"Names", c.name()},
                     {"Image", c.image()},
                     {"Command", c.command()},
                     {"Created", c.created()},
                     {"State", c.state()},
                     {"Status", c.status()},
                     {"Ports", PortsText(c.ports())},
                     {"Labels", labels}});
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
  if (auto rc = ParseCommandLine(flags, args, 1, kAnyNumber, "")) return *rc;
  int timeout = -2;
  if (!flags.Get("time").empty() &&
      (!absl::SimpleAtoi(flags.Get("time"), &timeout) || timeout < -1)) {
    std::cerr << "invalid --time \"" << flags.Get("time") << "\": must be seconds\n";
    return 125;
  }
  return ForEachName(ctx, flags.positionals(), [&](DkdClient& client, const std::string& id) {
    dkd::v1::StopContainerRequest req;
    req.set_id(id);
    if (timeout != -2) req.mutable_timeout_seconds()->set_value(timeout);
    grpc::ClientContext call;
    dkd::v1::StopContainerResponse resp;
    return client.docker().StopContainer(&call, req, &resp);
  });
}

int CmdRm(CliContext& ctx, const std::vector<std::string>& args) {
  FlagSet flags("rm", "rm [OPTIONS] CONTAINER [CONTAINER...]");
  flags.Bool("force", 'f', "Force the removal of a running container");
  flags.Bool("volumes", 'v', "Remove anonymous volumes associated with the container");
  if (auto rc = ParseCommandLine(flags, args, 1, kAnyNumber, "")) return *rc;
  return ForEachName(ctx, flags.positionals(), [&](DkdClient& client, const std::string& id) {
    dkd::v1::RemoveContainerRequest req;
    req.set_id(id);
    req.set_force(flags.GetBool("force"));
    req.set_remove_volumes(flags.GetBool("volumes"));
    grpc::ClientContext call;
    dkd::v1::RemoveContainerResponse resp;
    return client.docker().RemoveContainer(&call, req, &resp);
  });
}

int CmdLogs(CliContext& ctx, const std::vector<std::string>& args) {
  FlagSet flags("logs", "logs [OPTIONS] CONTAINER");
  flags.Bool("follow", 'f', "Follow log output");
  flags.String("tail", 'n', "Number of lines to show from the end (default all)", "all");
  flags.Bool("timestamps", 't', "Show timestamps");
  flags.String("since", 0, "Show logs since a Unix timestamp (seconds)");
  flags.String("until", 0, "Show logs before a Unix timestamp (seconds)");
  if (auto rc = ParseCommandLine(flags, args, 1, 1, "CONTAINER")) return *rc;
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
  if (auto rc = ParseCommandLine(flags, args, 1, kAnyNumber, "")) return *rc;
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
  if (auto rc = ParseCommandLine(flags, args, 0, kAnyNumber, "")) return *rc;
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
      std::cout << nlohmann::json{{"Type", e.type()},
                                  {"Action", e.action()},
                                  {"Actor", {{"ID", e.actor_id()}, {"Attributes", attrs}}},
                                  {"scope", e.scope()},
                                  {"timeNano", e.time_nano()}}
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
  if (auto rc = ParseCommandLine(flags, args, 0, kAnyNumber, "")) return *rc;
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
