// Daemon: configuration, listeners, services, the gRPC server, reload and shutdown.
#include "server/daemon.h"

#include <grpcpp/ext/proto_server_reflection_plugin.h>
#include <sys/stat.h>
#include <unistd.h>

#include <chrono>
#include <utility>

#include "core/base/fd_limit.h"
#include "core/engine/http_docker_engine.h"
#include "core/image/image_optimizer.h"
#include "server/buildkit_session.h"
#include "server/daemon_setup.h"
#include "server/local_token.h"
#include "server/logging.h"
#include "server/malformed_request_interceptor.h"
#include "server/systemd_notify.h"
#include "server/version.h"
#include "spdlog/spdlog.h"

namespace dkd::server {
namespace {

constexpr char kInsecureWarning[] =
    "INSECURE: plain TCP on {} with listen.insecure_tcp: anyone who can reach this address "
    "controls the Docker Engine, which is root on this host";
constexpr char kAnonymousWarning[] =
    "INSECURE: auth.anonymous_role is {}: every local user (and anyone who can reach {}) gets "
    "that role without credentials, whatever the unix socket's permissions say";

// Every stream holds an engine connection: use all the descriptors allowed.
void RaiseOpenFileLimit() {
  if (const core::NoFileRaise fds = core::RaiseNoFileLimitToHard(); !fds.error.empty()) {
    spdlog::warn("open-file limit {} (hard {}); raising it failed: {}", fds.before.soft,
                 fds.before.hard, fds.error);
  } else {
    spdlog::info("open-file limit (RLIMIT_NOFILE) {} (was {}, hard {})", fds.after.soft,
                 fds.before.soft, fds.after.hard);
  }
}

}  // namespace

Daemon::Daemon(DaemonOptions options, DaemonConfig config)
    : options_(std::move(options)), config_(std::move(config)) {}

absl::StatusOr<std::unique_ptr<Daemon>> Daemon::Start(DaemonOptions options, DaemonConfig config) {
  std::unique_ptr<Daemon> daemon(new Daemon(std::move(options), std::move(config)));
  RaiseOpenFileLimit();
  if (absl::Status s = daemon->ClaimAndAuthenticate(); !s.ok()) return s;
  daemon->CreateServices();
  if (absl::Status s = daemon->StartGrpcServer(); !s.ok()) return s;
  if (absl::Status s = daemon->StartMonitorAndHttp(); !s.ok()) return s;
  daemon->StartWarningThread();
  daemon->started_ = true;
  return daemon;
}

Daemon::~Daemon() {
  if (!started_ || waited_) return;
  Shutdown(absl::ZeroDuration());
  Wait();
}

// Engine address, listeners, the single-instance claim, TLS, the local
// token, the audit log and the gatekeeper.
absl::Status Daemon::ClaimAndAuthenticate() {
  auto engine_address = core::ParseEngineAddress(config_.engine);
  if (!engine_address.ok()) return engine_address.status();
  engine_address_ = *std::move(engine_address);
  core::ApplyTlsEnvironment(engine_address_);

  auto listeners = ParseGrpcListeners(config_);
  if (!listeners.ok()) return listeners.status();
  listeners_ = std::move(listeners->addresses);
  insecure_remote_ = listeners->insecure_remote;
  // One dkd per address: claimed (or refused, naming the holder) before
  // anything else is touched.
  if (absl::Status s = ClaimListenAddresses(listeners_, config_.http_listen, &unix_claim_);
      !s.ok()) {
    return s;
  }
  tcp_credentials_ = grpc::InsecureServerCredentials();
  if (config_.tls.enabled()) {
    auto creds = TlsCredentials(config_.tls);
    if (!creds.ok()) return creds.status();
    tcp_credentials_ = *creds;
  }

  // Plain TCP callers authenticate; on loopback, with the local token.
  plain_tcp_ = !config_.tcp.empty() && !config_.tls.enabled();
  if (!config_.tcp.empty() && !config_.security.auth.local_token_file.empty()) {
    if (absl::Status s = SetUpLocalToken(config_, &config_.security.auth); !s.ok()) return s;
    spdlog::info("local token for loopback TCP callers in {} (mode 0640, group of the socket)",
                 config_.security.auth.local_token_file);
  }
  anonymous_role_ = config_.security.auth.anonymous_role;
  if (plain_tcp_ && config_.security.auth.anonymous_role != Role::kNone) {
    spdlog::critical(kAnonymousWarning, RoleName(config_.security.auth.anonymous_role),
                     config_.tcp);
  }

  audit_ = std::make_unique<AuditLog>(config_.audit_file);
  if (absl::Status s = audit_->Open(); !s.ok()) return s;
  gatekeeper_ = std::make_unique<Gatekeeper>(config_.security, &metrics_, audit_.get());
  return absl::OkStatus();
}

void Daemon::CreateServices() {
  engine_ = std::make_shared<core::EngineClient>(engine_address_, config_.engine_response_timeout);
  auto docker_engine = std::make_shared<core::HttpDockerEngine>(engine_);
  manager_ = std::make_shared<core::DockerManager>(
      docker_engine, EffectivePolicy(config_, engine_address_, options_.config_path));
  build_leftovers_ = core::BuildLeftovers::Open(docker_engine, config_.state_dir);
  manager_->SetBuildLeftovers(build_leftovers_);
  manager_->SetBuildSessionFactory(BuildKitSessionFactory(engine_));
  if (config_.list_cache_max_age > absl::ZeroDuration()) {
    manager_->EnableListCache(config_.list_cache_max_age);
  }
  docker_manager_service_ = std::make_unique<DockerManagerService>(manager_, gatekeeper_.get());
  build_generator_service_ = std::make_unique<BuildGeneratorService>(gatekeeper_.get());
  image_optimizer_service_ = std::make_unique<ImageOptimizerService>(
      std::make_shared<core::ImageOptimizer>(docker_engine), gatekeeper_.get());
}

absl::Status Daemon::StartGrpcServer() {
  grpc::EnableDefaultHealthCheckService(true);
  grpc::reflection::InitProtoReflectionServerBuilderPlugin();
  grpc::ServerBuilder builder;
  const int max_message = static_cast<int>(config_.security.limits.max_message_bytes);
  builder.SetMaxReceiveMessageSize(max_message);
  builder.SetMaxSendMessageSize(max_message);
  std::vector<std::unique_ptr<grpc::experimental::ServerInterceptorFactoryInterface>> interceptors;
  interceptors.push_back(std::make_unique<MalformedRequestInterceptorFactory>());
  builder.experimental().SetInterceptorCreators(std::move(interceptors));
  // Listeners are never shared through SO_REUSEPORT, which gRPC otherwise
  // sets on TCP listeners.
  builder.AddChannelArgument(GRPC_ARG_ALLOW_REUSEPORT, 0);
  for (const auto& l : listeners_) {
    if (l.is_unix) {
      builder.AddListeningPort(l.GrpcUri(), grpc::InsecureServerCredentials());
    } else {
      builder.AddListeningPort(l.GrpcUri(), tcp_credentials_, &tcp_port_);
    }
  }
  builder.RegisterService(docker_manager_service_.get());
  builder.RegisterService(build_generator_service_.get());
  builder.RegisterService(image_optimizer_service_.get());
  server_ = builder.BuildAndStart();
  if (!server_) {
    for (const auto& l : listeners_) {  // Taken since the check: say by whom.
      if (l.is_unix) continue;
      if (absl::Status s = CheckTcpPortFree("listen.tcp", l.host, l.port); !s.ok()) return s;
    }
    return absl::FailedPreconditionError(
        "could not start the gRPC server: a listen address is in use or invalid");
  }
  for (const auto& l : listeners_) {
    if (l.is_unix) {
      chmod(l.path.c_str(), 0660);
      if (absl::Status s = SetSocketGroup(l.path, config_.unix_socket_group); !s.ok()) return s;
      spdlog::info("listening on unix://{} (role {} for callers without a token)", l.path,
                   RoleName(config_.security.auth.unix_socket_role));
    } else {
      if (tcp_port_ == 0)
        return absl::FailedPreconditionError("could not listen on " + l.GrpcUri());
      spdlog::info(
          "listening on tcp://{}:{} ({})", l.host, tcp_port_,
          config_.tls.enabled() ? (config_.tls.client_ca.empty() ? "TLS" : "mutual TLS") : "plain");
      if (insecure_remote_) spdlog::critical(kInsecureWarning, l.GrpcUri());
    }
  }
  return absl::OkStatus();
}

// The engine monitor behind health, the HTTP side port, the port files and
// readiness.
absl::Status Daemon::StartMonitorAndHttp() {
  health_ = server_->GetHealthCheckService();
  grpc::HealthCheckServiceInterface* health = health_;
  monitor_ = std::make_unique<EngineMonitor>(
      engine_, config_.health_interval,
      [health](const std::string& svc, bool serving) { health->SetServingStatus(svc, serving); });
  monitor_->set_ping_observer([this](bool ok, absl::Duration latency) {
    metrics_.RecordEngineCall("health_ping", ok, absl::ToDoubleSeconds(latency));
    metrics_.SetEngineUp(ok);
  });
  monitor_->set_on_engine_answers([leftovers = build_leftovers_] {
    if (leftovers->HasPending()) leftovers->Sweep();
  });
  monitor_->Start();

  http_ = std::make_unique<HttpEndpoints>([this] { return monitor_->engine_up(); },
                                          [this] { return metrics_.Render(); });
  if (!config_.http_listen.empty()) {
    auto port = http_->Start(config_.http_listen);
    if (!port.ok()) return port.status();
    spdlog::info("HTTP /healthz /readyz /metrics on {}", config_.http_listen);
    WritePortFile(config_.http_port_file, *port);
  }
  // Written last, so whoever waits for it finds every listener up.
  WritePortFile(config_.port_file, tcp_port_);
  spdlog::info("dkd {} ready; engine {}", kDaemonVersion, engine_address_.ToString());
  NotifyReady("serving");
  return absl::OkStatus();
}

// The insecure warnings repeat, so they cannot scroll out of sight.
void Daemon::StartWarningThread() {
  warn_thread_ = std::thread([this] {
    if (!plain_tcp_) return;
    absl::MutexLock lock(&mu_);
    while (!mu_.AwaitWithTimeout(absl::Condition(&stopping_), absl::Minutes(5))) {
      if (insecure_remote_) spdlog::critical(kInsecureWarning, config_.tcp);
      if (const Role role = anonymous_role_.load(); role != Role::kNone) {
        spdlog::critical(kAnonymousWarning, RoleName(role), config_.tcp);
      }
    }
  });
}

absl::Status Daemon::Reload() {
  absl::MutexLock control(&control_mu_);
  NotifyReloading();
  auto reloaded = LoadConfig(options_.config_path, options_.overrides);
  if (!reloaded.ok()) {
    spdlog::error("reload refused, keeping the running configuration: {}",
                  std::string(reloaded.status().message()));
    NotifyReady("serving");
    return reloaded.status();
  }
  if (NeedsRestart(config_, *reloaded)) {
    spdlog::warn(
        "reload: listeners, TLS, engine, HTTP and max_message_bytes changes "
        "take effect only on restart");
  }
  ConfigureLogging(reloaded->log_level, config_.log_format);
  manager_->SetPolicy(EffectivePolicy(*reloaded, engine_address_, options_.config_path));
  KeepLocalToken(config_.security.auth, &reloaded->security.auth);
  if (plain_tcp_ && reloaded->security.auth.anonymous_role != Role::kNone) {
    spdlog::critical(kAnonymousWarning, RoleName(reloaded->security.auth.anonymous_role),
                     config_.tcp);
  }
  anonymous_role_ = reloaded->security.auth.anonymous_role;
  gatekeeper_->Update(reloaded->security);
  if (absl::Status s = audit_->Open(); !s.ok()) spdlog::error("{}", std::string(s.message()));
  spdlog::info("configuration reloaded: {} tokens, {} role entries",
               reloaded->security.auth.tokens.size(), reloaded->security.auth.roles.size());
  NotifyReady("serving");
  return absl::OkStatus();
}

void Daemon::Shutdown(absl::Duration grace) {
  absl::MutexLock control(&control_mu_);
  if (shutdown_begun_) return;
  shutdown_begun_ = true;
  NotifyStopping();
  http_->BeginShutdown();
  health_->Shutdown();
  // Followed logs and event streams end now, with UNAVAILABLE; unary calls
  // and builds get the grace period, then are cancelled.
  gatekeeper_->BeginShutdown();
  // The grace is for calls in progress. gRPC's own shutdown also waits for
  // every connected client to hang up, so it starts once the calls are done,
  // with a short drain for their last messages.
  gatekeeper_->AwaitCallsDone(absl::Now() + grace);
  server_->Shutdown(std::chrono::system_clock::now() + std::chrono::milliseconds(100));
  absl::MutexLock lock(&mu_);
  server_stopped_ = true;
}

int Daemon::Wait() {
  server_->Wait();
  {
    absl::MutexLock lock(&mu_);
    mu_.Await(absl::Condition(&server_stopped_));
    stopping_ = true;
  }
  warn_thread_.join();
  http_->Stop();
  monitor_->Stop();
  for (const auto& l : listeners_) {
    if (l.is_unix) unlink(l.path.c_str());
  }
  spdlog::info("dkd stopped");
  waited_ = true;
  return 0;
}

}  // namespace dkd::server
