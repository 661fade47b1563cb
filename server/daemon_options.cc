#include "server/daemon_options.h"

#include "absl/strings/match.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "core/engine_address.h"

namespace dkd::server {

std::string DaemonUsage() {
  return R"(Usage: dkd [OPTIONS]

Serves the host's Docker Engine over gRPC (services dkd.v1.DockerManager,
dkd.v1.BuildGenerator, dkd.v1.ImageOptimizer, grpc.health.v1.Health, reflection).

Options:
  --engine ADDR            Docker Engine address (default $DOCKER_HOST or
                           unix:///var/run/docker.sock; tcp://host:port honours
                           DOCKER_TLS_VERIFY and DOCKER_CERT_PATH)
  --unix-socket PATH       gRPC unix socket, mode 0660 (default /run/dkd/dkd.sock;
                           "" disables)
  --tcp HOST:PORT          gRPC TCP listener, loopback only without TLS
                           (default 127.0.0.1:7575; "" disables; port 0 = any free)
  --port-file PATH         write the bound TCP port to PATH once listening
  --bind-root DIR          allow bind mounts from under DIR (repeatable; default
                           none: named volumes only; the engine socket never)
  --context-root DIR       allow daemon-local build contexts under DIR (repeatable)
  --list-cache-max-age SECS serve `ps` from a container list kept fresh by engine
                           events, at most SECS old (default 1; 0 disables)
  --log-level LEVEL        trace, debug, info, warn, error (default info)
  --health-interval SECS   engine health check period in seconds (default 2)
  --shutdown-grace SECS    time open calls get on SIGTERM (default 10)
  --version                print the version and exit
  -h, --help               print this help and exit
)";
}

absl::StatusOr<DaemonOptions> ParseDaemonOptions(const std::vector<std::string>& args) {
  DaemonOptions o;
  o.engine = core::DefaultEngineHost();
  for (size_t i = 0; i < args.size(); ++i) {
    std::string arg = args[i];
    if (arg == "-h" || arg == "--help") {
      o.show_help = true;
      continue;
    }
    if (arg == "--version") {
      o.show_version = true;
      continue;
    }
    if (!absl::StartsWith(arg, "--")) {
      return absl::InvalidArgumentError(
          absl::StrCat("unexpected argument \"", arg, "\"; see dkd --help"));
    }
    std::string name = arg, value;
    bool has_value = false;
    if (size_t eq = arg.find('='); eq != std::string::npos) {
      name = arg.substr(0, eq);
      value = arg.substr(eq + 1);
      has_value = true;
    }
    auto take = [&]() -> absl::StatusOr<std::string> {
      if (has_value) return value;
      if (i + 1 >= args.size()) {
        return absl::InvalidArgumentError(absl::StrCat(name, " needs a value"));
      }
      return args[++i];
    };
    auto seconds = [&](absl::Duration& out) -> absl::Status {
      auto v = take();
      if (!v.ok()) return v.status();
      double secs = 0;
      if (!absl::SimpleAtod(*v, &secs) || secs <= 0 || secs > 86400) {
        return absl::InvalidArgumentError(
            absl::StrCat(name, " must be a number of seconds in (0, 86400], got \"", *v, "\""));
      }
      out = absl::Seconds(secs);
      return absl::OkStatus();
    };
    absl::StatusOr<std::string> v;
    if (name == "--engine") {
      if (!(v = take()).ok()) return v.status();
      o.engine = *v;
    } else if (name == "--unix-socket") {
      if (!(v = take()).ok()) return v.status();
      o.unix_socket = *v;
    } else if (name == "--tcp") {
      if (!(v = take()).ok()) return v.status();
      o.tcp = *v;
    } else if (name == "--port-file") {
      if (!(v = take()).ok()) return v.status();
      o.port_file = *v;
    } else if (name == "--log-level") {
      if (!(v = take()).ok()) return v.status();
      static const char* kLevels[] = {"trace", "debug", "info", "warn", "error"};
      bool known = false;
      for (const char* l : kLevels) known = known || *v == l;
      if (!known) {
        return absl::InvalidArgumentError(absl::StrCat(
            "--log-level must be one of trace, debug, info, warn, error; got \"", *v, "\""));
      }
      o.log_level = *v;
    } else if (name == "--bind-root") {
      if (!(v = take()).ok()) return v.status();
      if (v->empty() || (*v)[0] != '/') {
        return absl::InvalidArgumentError("--bind-root must be an absolute directory");
      }
      o.bind_roots.push_back(*v);
    } else if (name == "--context-root") {
      if (!(v = take()).ok()) return v.status();
      if (v->empty() || (*v)[0] != '/') {
        return absl::InvalidArgumentError("--context-root must be an absolute directory");
      }
      o.context_roots.push_back(*v);
    } else if (name == "--list-cache-max-age") {
      if (!(v = take()).ok()) return v.status();
      double secs = -1;
      if (!absl::SimpleAtod(*v, &secs) || secs < 0 || secs > 60) {
        return absl::InvalidArgumentError("--list-cache-max-age must be seconds in [0, 60]");
      }
      o.list_cache_max_age = absl::Seconds(secs);
    } else if (name == "--health-interval") {
      if (absl::Status s = seconds(o.health_interval); !s.ok()) return s;
    } else if (name == "--shutdown-grace") {
      if (absl::Status s = seconds(o.shutdown_grace); !s.ok()) return s;
    } else {
      return absl::InvalidArgumentError(absl::StrCat("unknown flag ", name, "; see dkd --help"));
    }
  }
  if (o.unix_socket.empty() && o.tcp.empty()) {
    return absl::InvalidArgumentError(
        "--unix-socket and --tcp are both empty: dkd needs at least one listener");
  }
  return o;
}

}  // namespace dkd::server
