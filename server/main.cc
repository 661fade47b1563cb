// dkd: configuration, logging, signals and server start-up. Everything else
// lives in the services, the gatekeeper and core/.
#include <grpcpp/ext/proto_server_reflection_plugin.h>
#include <grpcpp/grpcpp.h>
#include <grpcpp/health_check_service_interface.h>
#include <signal.h>
#include <sys/stat.h>
#include <unistd.h>

#include <atomic>
#include <cerrno>
#include <condition_variable>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <iostream>
#include <memory>
#include <sstream>
#include <thread>

#include "absl/strings/numbers.h"
#include "core/build_leftovers.h"
#include "core/docker_manager.h"
#include "core/engine_address.h"
#include "core/engine_client.h"
#include "core/fd_limit.h"
#include "core/image_optimizer.h"
#include "server/audit.h"
#include "server/build_generator_service.h"
#include "server/build_interceptor.h"
#include "server/config.h"
#include "server/daemon_options.h"
#include "server/docker_manager_service.h"
#include "server/engine_monitor.h"
#include "server/gatekeeper.h"
#include "server/guarded_services.h"
#include "server/http_endpoints.h"
#include "server/image_optimizer_service.h"
#include "server/listen_address.h"
#include "server/local_token.h"
#include "server/logging.h"
#include "server/malformed_request_interceptor.h"
#include "server/metrics.h"
#include "server/single_instance.h"
#include "server/systemd_notify.h"
#include "server/version.h"
#include "spdlog/spdlog.h"

namespace {

using namespace dkd;

int Fail(const std::string& message) {
  spdlog::critical("{}", message);
  return 1;
}

bool ReadFile(const std::string& path, std::string* out) {
  std::ifstream in(path);
  if (!in) return false;
  std::stringstream ss;
  ss << in.rdbuf();
  *out = ss.str();
  return true;
}

void WritePortFile(const std::string& path, int port) {
  if (path.empty()) return;
  const std::string tmp = path + ".tmp";
  std::ofstream(tmp) << port << "\n";
  std::rename(tmp.c_str(), path.c_str());
}

// The run policy as configured, plus the engine's own socket and dkd's own
// files (its socket and the directory holding it and the local token, the
// token, the TLS key, the config, the audit log and the state directory), which no bind mount may
// expose whatever the roots say: each of them is a way to act as dkd.
core::RunPolicy EffectivePolicy(const server::DaemonConfig& config,
                                const core::EngineAddress& engine, const std::string& config_path) {
  core::RunPolicy policy = config.security.policy;
  if (engine.scheme == core::EngineAddress::Scheme::kUnix && !engine.socket_path.empty()) {
    policy.forbidden_paths.push_back(engine.socket_path);
  }
  auto forbid = [&policy](const std::string& path) {
    if (path.empty()) return;
    std::error_code ec;
    const std::filesystem::path absolute = std::filesystem::absolute(path, ec);
    if (!ec) policy.forbidden_paths.push_back(absolute.lexically_normal().string());
  };
  forbid(config.unix_socket);
  if (const size_t slash = config.unix_socket.rfind('/'); slash != std::string::npos && slash > 0) {
    forbid(config.unix_socket.substr(0, slash));
  }
  forbid(config.security.auth.local_token_file);
  forbid(config.tls.key);
  forbid(config_path);
  forbid(config.audit_file);
  forbid(config.state_dir);
  return policy;
}

absl::StatusOr<std::shared_ptr<grpc::ServerCredentials>> TlsCredentials(
    const server::TlsSettings& tls) {
  grpc::SslServerCredentialsOptions::PemKeyCertPair pair;
  if (!ReadFile(tls.key, &pair.private_key)) {
    return absl::InvalidArgumentError("config key tls.key: cannot read " + tls.key);
  }
  if (!ReadFile(tls.cert, &pair.cert_chain)) {
    return absl::InvalidArgumentError("config key tls.cert: cannot read " + tls.cert);
  }
  grpc_ssl_client_certificate_request_type request = GRPC_SSL_DONT_REQUEST_CLIENT_CERTIFICATE;
  grpc::SslServerCredentialsOptions options(request);
  if (!tls.client_ca.empty()) {
    if (!ReadFile(tls.client_ca, &options.pem_root_certs)) {
      return absl::InvalidArgumentError("config key tls.client_ca: cannot read " + tls.client_ca);
    }
    options.client_certificate_request =
        tls.require_client_cert ? GRPC_SSL_REQUEST_AND_REQUIRE_CLIENT_CERTIFICATE_AND_VERIFY
                                : GRPC_SSL_REQUEST_CLIENT_CERTIFICATE_AND_VERIFY;
  }
  options.pem_key_cert_pairs.push_back(std::move(pair));
  return grpc::SslServerCredentials(options);
}

constexpr char kInsecureWarning[] =
    "INSECURE: plain TCP on {} with listen.insecure_tcp: anyone who can reach this address "
    "controls the Docker Engine, which is root on this host";
constexpr char kAnonymousWarning[] =
    "INSECURE: auth.anonymous_role is {}: every local user (and anyone who can reach {}) gets "
    "that role without credentials, whatever the unix socket's permissions say";

// Creates or loads the local token and puts its hash in `auth`.
absl::Status SetUpLocalToken(const server::DaemonConfig& config, server::AuthSettings* auth) {
  auto gid = server::ResolveSocketGroup(config.unix_socket_group);
  if (!gid.ok()) return gid.status();
  auto token = server::LoadOrCreateLocalToken(auth->local_token_file, *gid);
  if (!token.ok()) return token.status();
  const std::string hash = server::Sha256Hex(*token);
  for (size_t i = 0; i < auth->local_token_sha256.size(); ++i) {
    auth->local_token_sha256[i] =
        static_cast<unsigned char>(std::stoi(hash.substr(i * 2, 2), nullptr, 16));
  }
  auth->has_local_token = true;
  return absl::OkStatus();
}

// A reload keeps the token dkd started with (the file is not re-read).
void KeepLocalToken(const server::AuthSettings& running, server::AuthSettings* reloaded) {
  reloaded->local_token_file = running.local_token_file;
  reloaded->has_local_token = running.has_local_token;
  reloaded->local_token_sha256 = running.local_token_sha256;
}

}  // namespace

int main(int argc, char** argv) {
  // Signals are taken by a dedicated thread via sigwait; block them everywhere.
  sigset_t signals;
  sigemptyset(&signals);
  sigaddset(&signals, SIGINT);
  sigaddset(&signals, SIGTERM);
  sigaddset(&signals, SIGHUP);
  pthread_sigmask(SIG_BLOCK, &signals, nullptr);
  signal(SIGPIPE, SIG_IGN);

  auto options = server::ParseDaemonOptions(std::vector<std::string>(argv + 1, argv + argc));
  if (!options.ok()) {
    std::cerr << "dkd: " << options.status().message() << "\n";
    return 2;
  }
  if (options->show_help) {
    std::cout << server::DaemonUsage();
    return 0;
  }
  if (options->show_version) {
    std::cout << "dkd " << server::kDaemonVersion << "\n";
    return 0;
  }
  auto loaded = server::LoadConfig(options->config_path, options->overrides);
  if (!loaded.ok()) {
    std::cerr << "dkd: " << loaded.status().message() << "\n";
    return 2;
  }
  server::DaemonConfig config = *std::move(loaded);
  if (options->check_config) {
    std::cout << "dkd: configuration is valid\n";
    return 0;
  }
  server::ConfigureLogging(config.log_level, config.log_format);
  // Every stream holds an engine connection: use all the descriptors allowed.
  if (const core::NoFileRaise fds = core::RaiseNoFileLimitToHard(); !fds.error.empty()) {
    spdlog::warn("open-file limit {} (hard {}); raising it failed: {}", fds.before.soft,
                 fds.before.hard, fds.error);
  } else {
    spdlog::info("open-file limit (RLIMIT_NOFILE) {} (was {}, hard {})", fds.after.soft,
                 fds.before.soft, fds.after.hard);
  }

  auto engine_address = core::ParseEngineAddress(config.engine);
  if (!engine_address.ok()) return Fail(std::string(engine_address.status().message()));
  core::ApplyTlsEnvironment(*engine_address);

  std::vector<server::ListenAddress> listeners;
  bool insecure_remote = false;
  if (!config.unix_socket.empty()) {
    auto a = server::ParseListenAddress("listen.unix_socket", config.unix_socket);
    if (!a.ok() || !a->is_unix) {
      return Fail(a.ok() ? "listen.unix_socket must be a unix socket path"
                         : std::string(a.status().message()));
    }
    listeners.push_back(*a);
  }
  if (!config.tcp.empty()) {
    auto a = server::ParseListenAddress("listen.tcp", config.tcp);
    if (!a.ok() || a->is_unix) {
      return Fail(a.ok() ? "listen.tcp must be host:port" : std::string(a.status().message()));
    }
    const bool client_auth = !config.tls.client_ca.empty() || !config.security.auth.tokens.empty();
    if (absl::Status s = server::CheckTcpListenerAllowed(*a, config.tls.enabled(), client_auth,
                                                         config.insecure_tcp);
        !s.ok()) {
      return Fail(std::string(s.message()));
    }
    insecure_remote = !server::IsLoopbackHost(a->host) && !config.tls.enabled();
    listeners.push_back(*a);
  }
  // One dkd per address: claimed (or refused, naming the holder) before
  // anything else is touched.
  std::unique_ptr<server::UnixSocketClaim> unix_claim;
  if (absl::Status s = server::ClaimListenAddresses(listeners, config.http_listen, &unix_claim);
      !s.ok()) {
    return Fail(std::string(s.message()));
  }
  std::shared_ptr<grpc::ServerCredentials> tcp_credentials = grpc::InsecureServerCredentials();
  if (config.tls.enabled()) {
    auto creds = TlsCredentials(config.tls);
    if (!creds.ok()) return Fail(std::string(creds.status().message()));
    tcp_credentials = *creds;
  }

  // Plain TCP callers authenticate; on loopback, with the local token.
  const bool plain_tcp = !config.tcp.empty() && !config.tls.enabled();
  if (!config.tcp.empty() && !config.security.auth.local_token_file.empty()) {
    if (absl::Status s = SetUpLocalToken(config, &config.security.auth); !s.ok()) {
      return Fail(std::string(s.message()));
    }
    spdlog::info("local token for loopback TCP callers in {} (mode 0640, group of the socket)",
                 config.security.auth.local_token_file);
  }
  const bool anonymous = plain_tcp && config.security.auth.anonymous_role != server::Role::kNone;
  if (anonymous) {
    spdlog::critical(kAnonymousWarning, server::RoleName(config.security.auth.anonymous_role),
                     config.tcp);
  }

  server::Metrics metrics;
  server::AuditLog audit(config.audit_file);
  if (absl::Status s = audit.Open(); !s.ok()) return Fail(std::string(s.message()));
  server::Gatekeeper gatekeeper(config.security, &metrics, &audit);

  auto engine =
      std::make_shared<core::EngineClient>(*engine_address, config.engine_response_timeout);
  auto manager = std::make_shared<core::DockerManager>(
      engine, EffectivePolicy(config, *engine_address, options->config_path));
  auto build_leftovers = core::BuildLeftovers::Open(engine, config.state_dir);
  manager->SetBuildLeftovers(build_leftovers);
  if (config.list_cache_max_age > absl::ZeroDuration()) {
    manager->EnableListCache(config.list_cache_max_age);
  }
  server::DockerManagerService docker_manager_service(manager);
  server::BuildGeneratorService build_generator_service;
  server::ImageOptimizerService image_optimizer_service(
      std::make_shared<core::ImageOptimizer>(engine));
  server::GuardedDockerManager guarded_docker_manager(&docker_manager_service, manager,
                                                      &gatekeeper);
  server::GuardedBuildGenerator guarded_build_generator(&build_generator_service, &gatekeeper);
  server::GuardedImageOptimizer guarded_image_optimizer(&image_optimizer_service, &gatekeeper);

  grpc::EnableDefaultHealthCheckService(true);
  grpc::reflection::InitProtoReflectionServerBuilderPlugin();
  grpc::ServerBuilder builder;
  const int max_message = static_cast<int>(config.security.limits.max_message_bytes);
  builder.SetMaxReceiveMessageSize(max_message);
  builder.SetMaxSendMessageSize(max_message);
  std::vector<std::unique_ptr<grpc::experimental::ServerInterceptorFactoryInterface>> interceptors;
  interceptors.push_back(std::make_unique<server::MalformedRequestInterceptorFactory>());
  interceptors.push_back(std::make_unique<server::BuildContextInterceptorFactory>(&gatekeeper));
  builder.experimental().SetInterceptorCreators(std::move(interceptors));
  // Listeners are never shared through SO_REUSEPORT, which gRPC otherwise
  // sets on TCP listeners.
  builder.AddChannelArgument(GRPC_ARG_ALLOW_REUSEPORT, 0);
  int tcp_port = 0;
  for (const auto& l : listeners) {
    if (l.is_unix) {
      builder.AddListeningPort(l.GrpcUri(), grpc::InsecureServerCredentials());
    } else {
      builder.AddListeningPort(l.GrpcUri(), tcp_credentials, &tcp_port);
    }
  }
  builder.RegisterService(&guarded_docker_manager);
  builder.RegisterService(&guarded_build_generator);
  builder.RegisterService(&guarded_image_optimizer);
  std::unique_ptr<grpc::Server> server = builder.BuildAndStart();
  if (!server) {
    for (const auto& l : listeners) {  // Taken since the check: say by whom.
      if (l.is_unix) continue;
      absl::Status s = server::CheckTcpPortFree("listen.tcp", l.host, l.port);
      if (!s.ok()) return Fail(std::string(s.message()));
    }
    return Fail("could not start the gRPC server: a listen address is in use or invalid");
  }
  for (const auto& l : listeners) {
    if (l.is_unix) {
      chmod(l.path.c_str(), 0660);
      if (absl::Status s = server::SetSocketGroup(l.path, config.unix_socket_group); !s.ok()) {
        return Fail(std::string(s.message()));
      }
      spdlog::info("listening on unix://{} (role {} for callers without a token)", l.path,
                   server::RoleName(config.security.auth.unix_socket_role));
    } else {
      if (tcp_port == 0) return Fail("could not listen on " + l.GrpcUri());
      spdlog::info(
          "listening on tcp://{}:{} ({})", l.host, tcp_port,
          config.tls.enabled() ? (config.tls.client_ca.empty() ? "TLS" : "mutual TLS") : "plain");
      if (insecure_remote) spdlog::critical(kInsecureWarning, l.GrpcUri());
    }
  }
  grpc::HealthCheckServiceInterface* health = server->GetHealthCheckService();
  server::EngineMonitor monitor(
      engine, config.health_interval,
      [health](const std::string& svc, bool serving) { health->SetServingStatus(svc, serving); });
  monitor.set_ping_observer([&metrics](bool ok, absl::Duration latency) {
    metrics.RecordEngineCall("health_ping", ok, absl::ToDoubleSeconds(latency));
    metrics.SetEngineUp(ok);
  });
  monitor.set_on_engine_answers([build_leftovers] {
    if (build_leftovers->HasPending()) build_leftovers->Sweep();
  });
  monitor.Start();

  server::HttpEndpoints http([&monitor] { return monitor.engine_up(); },
                             [&metrics] { return metrics.Render(); });
  if (!config.http_listen.empty()) {
    auto port = http.Start(config.http_listen);
    if (!port.ok()) return Fail(std::string(port.status().message()));
    spdlog::info("HTTP /healthz /readyz /metrics on {}", config.http_listen);
    WritePortFile(config.http_port_file, *port);
  }
  // Written last, so whoever waits for it finds every listener up.
  WritePortFile(config.port_file, tcp_port);
  spdlog::info("dkd {} ready; engine {}", server::kDaemonVersion, engine_address->ToString());
  server::NotifyReady("serving");

  // The insecure warning repeats, so it cannot scroll out of sight.
  std::mutex warn_mu;
  std::condition_variable warn_cv;
  bool stopping = false;
  std::atomic<server::Role> anonymous_role{config.security.auth.anonymous_role};
  std::thread warn_thread([&] {
    if (!plain_tcp) return;
    std::unique_lock<std::mutex> lock(warn_mu);
    while (!warn_cv.wait_for(lock, std::chrono::minutes(5), [&] { return stopping; })) {
      if (insecure_remote) spdlog::critical(kInsecureWarning, config.tcp);
      if (const server::Role role = anonymous_role.load(); role != server::Role::kNone) {
        spdlog::critical(kAnonymousWarning, server::RoleName(role), config.tcp);
      }
    }
  });

  std::thread signal_thread([&] {
    while (true) {
      int sig = 0;
      sigwait(&signals, &sig);
      if (sig == SIGHUP) {
        server::NotifyReloading();
        auto reloaded = server::LoadConfig(options->config_path, options->overrides);
        if (!reloaded.ok()) {
          spdlog::error("reload refused, keeping the running configuration: {}",
                        std::string(reloaded.status().message()));
        } else {
          if (reloaded->unix_socket != config.unix_socket || reloaded->tcp != config.tcp ||
              reloaded->tls.cert != config.tls.cert ||
              reloaded->tls.client_ca != config.tls.client_ca ||
              reloaded->http_listen != config.http_listen || reloaded->engine != config.engine ||
              reloaded->security.limits.max_message_bytes !=
                  config.security.limits.max_message_bytes) {
            spdlog::warn(
                "reload: listeners, TLS, engine, HTTP and max_message_bytes changes "
                "take effect only on restart");
          }
          server::ConfigureLogging(reloaded->log_level, config.log_format);
          manager->SetPolicy(EffectivePolicy(*reloaded, *engine_address, options->config_path));
          KeepLocalToken(config.security.auth, &reloaded->security.auth);
          if (plain_tcp && reloaded->security.auth.anonymous_role != server::Role::kNone) {
            spdlog::critical(kAnonymousWarning,
                             server::RoleName(reloaded->security.auth.anonymous_role), config.tcp);
          }
          anonymous_role = reloaded->security.auth.anonymous_role;
          gatekeeper.Update(reloaded->security);
          if (absl::Status s = audit.Open(); !s.ok()) spdlog::error("{}", std::string(s.message()));
          spdlog::info("configuration reloaded: {} tokens, {} role entries",
                       reloaded->security.auth.tokens.size(), reloaded->security.auth.roles.size());
        }
        server::NotifyReady("serving");
        continue;
      }
      spdlog::info("received {}, shutting down (grace {}s)", strsignal(sig),
                   absl::ToDoubleSeconds(config.shutdown_grace));
      server::NotifyStopping();
      http.BeginShutdown();
      health->Shutdown();
      // Followed logs and event streams end now, with UNAVAILABLE; unary
      // calls and builds get the grace period, then are cancelled.
      gatekeeper.BeginShutdown();
      // The grace is for calls in progress. gRPC's own shutdown also waits
      // for every connected client to hang up, so it starts once the calls
      // are done, with a short drain for their last messages.
      gatekeeper.AwaitCallsDone(absl::Now() + config.shutdown_grace);
      server->Shutdown(std::chrono::system_clock::now() + std::chrono::milliseconds(100));
      return;
    }
  });
  server->Wait();
  signal_thread.join();
  {
    std::lock_guard<std::mutex> lock(warn_mu);
    stopping = true;
  }
  warn_cv.notify_all();
  warn_thread.join();
  http.Stop();
  monitor.Stop();
  for (const auto& l : listeners) {
    if (l.is_unix) unlink(l.path.c_str());
  }
  spdlog::info("dkd stopped");
  return 0;
}
