// dkd's command-line options (daemon_options.h): the flag table, usage text and
// parsing.
#include "server/daemon_options.h"

#include <map>

#include "absl/strings/match.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"

namespace dkd::server {
namespace {

enum class Kind { kString, kStringList, kBool, kSeconds, kInt };

struct FlagSpec {
  const char* key;  // Dotted config key.
  Kind kind;
};

const std::map<std::string, FlagSpec>& Flags() {
  static const auto* kFlags = new std::map<std::string, FlagSpec>{
      {"--engine", {"engine", Kind::kString}},
      {"--unix-socket", {"listen.unix_socket", Kind::kString}},
      {"--unix-socket-group", {"listen.unix_socket_group", Kind::kString}},
      {"--tcp", {"listen.tcp", Kind::kString}},
      {"--insecure-tcp", {"listen.insecure_tcp", Kind::kBool}},
      {"--port-file", {"listen.port_file", Kind::kString}},
      {"--local-token-file", {"auth.local_token_file", Kind::kString}},
      {"--tlscert", {"tls.cert", Kind::kString}},
      {"--tlskey", {"tls.key", Kind::kString}},
      {"--tlscacert", {"tls.client_ca", Kind::kString}},
      {"--tlsverify", {"tls.require_client_cert", Kind::kBool}},
      {"--bind-root", {"run.bind_roots", Kind::kStringList}},
      {"--context-root", {"build.context_roots", Kind::kStringList}},
      {"--push-registry", {"push.registries", Kind::kStringList}},
      {"--ownership", {"ownership.enabled", Kind::kBool}},
      {"--max-concurrent-builds", {"limits.max_concurrent_builds", Kind::kInt}},
      {"--max-context-bytes", {"limits.max_context_bytes", Kind::kInt}},
      {"--max-message-bytes", {"limits.max_message_bytes", Kind::kInt}},
      {"--max-streams-per-identity", {"limits.max_streams_per_identity", Kind::kInt}},
      {"--max-calls-per-identity", {"limits.max_calls_per_identity", Kind::kInt}},
      {"--audit-log", {"audit.file", Kind::kString}},
      {"--http", {"http.listen", Kind::kString}},
      {"--http-port-file", {"http.port_file", Kind::kString}},
      {"--log-level", {"log.level", Kind::kString}},
      {"--log-format", {"log.format", Kind::kString}},
      {"--health-interval", {"health_interval_seconds", Kind::kSeconds}},
      {"--shutdown-grace", {"shutdown_grace_seconds", Kind::kSeconds}},
      {"--list-cache-max-age", {"list_cache_max_age_seconds", Kind::kSeconds}},
      {"--engine-response-timeout", {"engine_response_timeout_seconds", Kind::kSeconds}},
      {"--state-dir", {"state_dir", Kind::kString}},
  };
  return *kFlags;
}

}  // namespace

std::string DaemonUsage() {
  return R"(Usage: dkd [OPTIONS]

Serves the host's Docker Engine over gRPC (services dkd.v1.DockerManager,
dkd.v1.BuildGenerator, dkd.v1.ImageOptimizer, grpc.health.v1.Health, reflection).
Settings come from --config FILE (JSON; every key is documented in
deploy/dkd.example.json) and from flags, which override the file. SIGHUP
reloads tokens, roles, run policy, ownership and limits from the file.

Options:
  --config FILE            JSON configuration file
  --engine ADDR            Docker Engine address (default $DOCKER_HOST or
                           unix:///var/run/docker.sock; tcp://host:port honours
                           DOCKER_TLS_VERIFY and DOCKER_CERT_PATH)        [engine]
  --unix-socket PATH       gRPC unix socket, mode 0660 (default /run/dkd/dkd.sock;
                           "" disables)                        [listen.unix_socket]
  --unix-socket-group GRP  group owning the unix socket [listen.unix_socket_group]
  --tcp HOST:PORT          gRPC TCP listener (default 127.0.0.1:7575; "" disables;
                           port 0 = any free). Callers need credentials (the
                           local token on loopback). Non-loopback needs TLS and
                           client authentication                       [listen.tcp]
  --insecure-tcp           allow plain TCP on a non-loopback address (DANGEROUS:
                           anyone who can connect is root)    [listen.insecure_tcp]
  --port-file PATH         write the bound TCP port to PATH     [listen.port_file]
  --local-token-file PATH  the token loopback TCP callers present to get the
                           unix socket's role; mode 0640, group of the socket
                           (default: local-token next to the unix socket; ""
                           disables)                    [auth.local_token_file]
  --tlscert FILE           TLS server certificate (PEM)                  [tls.cert]
  --tlskey FILE            TLS server key (PEM)                           [tls.key]
  --tlscacert FILE         CA that client certificates must chain to
                                                                    [tls.client_ca]
  --tlsverify              require a client certificate  [tls.require_client_cert]
  --bind-root DIR          allow bind mounts from under DIR (repeatable; default
                           none: named volumes only; the engine socket never)
                                                                  [run.bind_roots]
  --context-root DIR       allow daemon-local build contexts under DIR
                           (repeatable)                      [build.context_roots]
  --push-registry HOST     allow pushes to HOST only (repeatable) [push.registries]
  --ownership              callers without admin see and manage only the
                           containers they created             [ownership.enabled]
  --max-concurrent-builds N   builds beyond N queue (default 4)
  --max-context-bytes N       largest build context (default 0 = no limit)
  --max-message-bytes N       largest gRPC message (default 16 MiB)
  --max-streams-per-identity N   open streams per identity (default 128)
  --max-calls-per-identity N     calls of any kind in progress per identity
                                 (default 256)
  --audit-log FILE         audit log, one JSON line per mutating call
                           (default: the daemon log)                  [audit.file]
  --http HOST:PORT         /healthz, /readyz and /metrics (default
                           127.0.0.1:7576; "" disables)              [http.listen]
  --http-port-file PATH    write the bound HTTP port to PATH     [http.port_file]
  --log-level LEVEL        trace, debug, info, warn, error (default info)
  --log-format FORMAT      text or json (default text)
  --health-interval SECS   engine health check period (default 2)
  --engine-response-timeout SECS  longest silence of the engine on calls it
                           answers promptly, and on the health ping (default
                           10); streams, waits and builds are exempt
                                            [engine_response_timeout_seconds]
  --state-dir DIR          dkd's small state, e.g. step containers of builds
                           the engine died under (default: the unix socket's
                           directory)                               [state_dir]
  --list-cache-max-age SECS  serve `ps` from a container list kept fresh by engine
                           events, at most SECS old (default 1; 0 disables)
                                                 [list_cache_max_age_seconds]
  --shutdown-grace SECS    time open calls get on SIGTERM (default 10)
  --check-config           validate the configuration and exit (0 when valid)
  --version                print the version and exit
  -h, --help               print this help and exit
)";
}

absl::StatusOr<DaemonOptions> ParseDaemonOptions(const std::vector<std::string>& args) {
  DaemonOptions o;
  std::map<std::string, nlohmann::json> lists;
  for (size_t i = 0; i < args.size(); ++i) {
    const std::string& arg = args[i];
    if (arg == "-h" || arg == "--help") {
      o.show_help = true;
      continue;
    }
    if (arg == "--version") {
      o.show_version = true;
      continue;
    }
    if (arg == "--check-config") {
      o.check_config = true;
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
    if (name == "--config") {
      auto v = take();
      if (!v.ok()) return v.status();
      o.config_path = *v;
      continue;
    }
    auto it = Flags().find(name);
    if (it == Flags().end()) {
      return absl::InvalidArgumentError(absl::StrCat("unknown flag ", name, "; see dkd --help"));
    }
    const FlagSpec& spec = it->second;
    if (spec.kind == Kind::kBool) {
      bool b = true;
      if (has_value && !absl::SimpleAtob(value, &b)) {
        return absl::InvalidArgumentError(absl::StrCat(name, " takes true or false"));
      }
      o.overrides.Set(spec.key, b, name);
      continue;
    }
    auto v = take();
    if (!v.ok()) return v.status();
    switch (spec.kind) {
      case Kind::kString:
        o.overrides.Set(spec.key, *v, name);
        break;
      case Kind::kStringList:
        lists[spec.key].push_back(*v);
        o.overrides.Set(spec.key, lists[spec.key], name);
        break;
      case Kind::kSeconds:
      case Kind::kInt: {
        double d = 0;
        int64_t n = 0;
        if (spec.kind == Kind::kInt ? !absl::SimpleAtoi(*v, &n) : !absl::SimpleAtod(*v, &d)) {
          return absl::InvalidArgumentError(
              absl::StrCat(name, " needs a number, got \"", *v, "\""));
        }
        if (spec.kind == Kind::kInt) {
          o.overrides.Set(spec.key, n, name);
        } else {
          o.overrides.Set(spec.key, d, name);
        }
        break;
      }
      case Kind::kBool:
        break;
    }
  }
  return o;
}

}  // namespace dkd::server
