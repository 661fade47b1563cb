// dkctl run, ps, stop, rm, logs, inspect, events, info.
#include <unistd.h>

#include <iostream>
#include <optional>

#include "absl/strings/match.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "client/cli_flags.h"
#include "client/cli_util.h"
#include "client/dkctl_commands.h"
#include "core/base/validation.h"
#include "nlohmann/json.hpp"

namespace dkd::client {
namespace {

// Reads --since and --until (seconds since the epoch) into `req`, a logs or
// events request. Returns 125 after saying what is wrong, or nullopt.
template <typename Request>
std::optional<int> SinceUntil(const FlagSet& flags, Request* req) {
  for (const char* key : {"since", "until"}) {
    if (flags.Get(key).empty()) continue;
    int64_t v = 0;
    if (!absl::SimpleAtoi(flags.Get(key), &v) || v < 0) {
      std::cerr << "invalid --" << key << ": seconds since the epoch\n";
      return 125;
    }
    std::string(key) == "since" ? req->set_since(v) : req->set_until(v);
  }
  return std::nullopt;
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
  auto resp = (*client)->ListContainers(req);
  if (!resp.ok()) return ReportError(ctx, resp.status());
  const bool no_trunc = flags.GetBool("no-trunc");
  if (flags.Get("format") == "json") {
    nlohmann::json out = nlohmann::json::array();
    for (const auto& c : resp->containers()) {
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
  for (const auto& c : resp->containers()) {
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
  const std::optional<int> grace = timeout == -2 ? std::nullopt : std::optional<int>(timeout);
  return ForEachName(ctx, flags.positionals(), [&](DkdClient& client, const std::string& id) {
    return client.StopContainer(id, grace);
  });
}

int CmdRm(CliContext& ctx, const std::vector<std::string>& args) {
  FlagSet flags("rm", "rm [OPTIONS] CONTAINER [CONTAINER...]");
  flags.Bool("force", 'f', "Force the removal of a running container");
  flags.Bool("volumes", 'v', "Remove anonymous volumes associated with the container");
  if (auto rc = ParseCommandLine(flags, args, 1, kAnyNumber, "")) return *rc;
  return ForEachName(ctx, flags.positionals(), [&](DkdClient& client, const std::string& id) {
    return client.RemoveContainer(id, {flags.GetBool("force"), flags.GetBool("volumes")});
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
  if (auto rc = SinceUntil(flags, &req)) return *rc;
  auto client = ctx.Client();
  if (!client.ok()) return ReportError(ctx, client.status());
  CallCanceller cancel;
  InterruptCancels interrupt(&cancel);
  absl::Status s = (*client)->ContainerLogs(
      req,
      [](const dkd::v1::LogEntry& e) {
        std::ostream& out = e.stream() == dkd::v1::LogEntry::STDERR ? std::cerr : std::cout;
        if (!e.timestamp().empty()) out << e.timestamp() << " ";
        out << e.data() << std::flush;
      },
      &cancel);
  if (!s.ok() && !interrupt.interrupted()) return ReportError(ctx, s);
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
    absl::Status s = absl::NotFoundError("");
    if (type.empty() || type == "container") {
      auto d = (*client)->InspectContainer(name);
      s = d.status();
      if (s.ok()) out.push_back(nlohmann::json::parse(d->raw_json(), nullptr, false));
    }
    // Not a container (or not even a container name): try it as an image.
    if (!s.ok() && type != "container" &&
        (s.code() == absl::StatusCode::kNotFound ||
         s.code() == absl::StatusCode::kInvalidArgument)) {
      auto d = (*client)->InspectImage(name);
      s = d.status();
      if (s.ok()) out.push_back(nlohmann::json::parse(d->raw_json(), nullptr, false));
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
  if (auto rc = SinceUntil(flags, &req)) return *rc;
  auto client = ctx.Client();
  if (!client.ok()) return ReportError(ctx, client.status());
  const bool json = flags.Get("format") == "json";
  CallCanceller cancel;
  InterruptCancels interrupt(&cancel);
  auto print = [json](const dkd::v1::EngineEvent& e) {
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
  };
  absl::Status s = (*client)->StreamEvents(req, print, &cancel);
  if (!s.ok() && !interrupt.interrupted()) return ReportError(ctx, s);
  return 0;
}

int CmdInfo(CliContext& ctx, const std::vector<std::string>& args) {
  FlagSet flags("info", "info [OPTIONS]");
  flags.String("format", 0, "\"json\" for machines");
  if (auto rc = ParseCommandLine(flags, args, 0, kAnyNumber, "")) return *rc;
  auto client = ctx.Client();
  if (!client.ok()) return ReportError(ctx, client.status());
  auto got = (*client)->GetEngineInfo();
  if (!got.ok()) return ReportError(ctx, got.status());
  const dkd::v1::EngineInfo& info = *got;
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
