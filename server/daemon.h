// Daemon: one running dkd, from start-up to shutdown: the gRPC server with
// its services, interceptors and listeners, the gatekeeper, the engine
// client and managers, the engine monitor behind grpc.health.v1, and the
// HTTP side port (/healthz, /readyz, /metrics).
//
// Start() claims the listen addresses (one dkd per address), brings every
// part up and reports readiness to systemd; dkd starts even when the engine
// is down (health NOT_SERVING). Reload() applies what SIGHUP may change;
// Shutdown() is the SIGTERM sequence; Wait() blocks until the server has
// stopped and releases the listeners. Signals are the caller's business.
//
// Thread-safe: Reload() and Shutdown() may be called from any thread (they
// are serialised, and normally come from the signal thread) while another
// thread is in Wait().
#pragma once

#include <grpcpp/grpcpp.h>
#include <grpcpp/health_check_service_interface.h>

#include <atomic>
#include <memory>
#include <string>
#include <thread>
#include <vector>

#include "absl/base/thread_annotations.h"
#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/synchronization/mutex.h"
#include "absl/time/time.h"
#include "core/docker/build_leftovers.h"
#include "core/docker/docker_manager.h"
#include "core/engine/engine_address.h"
#include "core/engine/engine_client.h"
#include "server/audit.h"
#include "server/build_generator_service.h"
#include "server/config.h"
#include "server/daemon_options.h"
#include "server/docker_manager_service.h"
#include "server/engine_monitor.h"
#include "server/gatekeeper.h"
#include "server/http_endpoints.h"
#include "server/image_optimizer_service.h"
#include "server/listen_address.h"
#include "server/metrics.h"
#include "server/single_instance.h"

namespace dkd::server {

class Daemon {
 public:
  // Starts dkd with `config` (loaded from `options`, which Reload() reads
  // again). Returns why it could not: an address held by another process, an
  // unreadable TLS file, a listener that cannot be bound, ...
  static absl::StatusOr<std::unique_ptr<Daemon>> Start(DaemonOptions options, DaemonConfig config);

  // Shuts down with no grace and waits, unless Wait() has returned.
  ~Daemon();

  Daemon(const Daemon&) = delete;
  Daemon& operator=(const Daemon&) = delete;

  // Re-reads the configuration and applies auth, policy, limits and log
  // level. On a bad configuration, returns why and keeps the running one;
  // changes only a restart applies are logged and ignored.
  absl::Status Reload();

  // Readiness 503 at once, streams end, calls in progress get until `grace`
  // from now, then the server stops. Returns when it has; later calls do
  // nothing.
  void Shutdown(absl::Duration grace);

  // Blocks until Shutdown() has stopped the server, then stops the monitor
  // and the HTTP port and removes the unix socket. Returns the exit code.
  int Wait();

  // The configured shutdown grace (shutdown_grace_seconds).
  absl::Duration shutdown_grace() const { return config_.shutdown_grace; }

 private:
  Daemon(DaemonOptions options, DaemonConfig config);

  // The start-up steps, in order.
  absl::Status ClaimAndAuthenticate();
  void CreateServices();
  absl::Status StartGrpcServer();
  absl::Status StartMonitorAndHttp();
  void StartWarningThread();

  const DaemonOptions options_;
  // As started: a reload swaps the gatekeeper's and manager's settings, not
  // this.
  DaemonConfig config_;
  core::EngineAddress engine_address_;
  std::vector<ListenAddress> listeners_;
  bool insecure_remote_ = false;
  bool plain_tcp_ = false;
  std::unique_ptr<UnixSocketClaim> unix_claim_;
  std::shared_ptr<grpc::ServerCredentials> tcp_credentials_;

  Metrics metrics_;
  std::unique_ptr<AuditLog> audit_;
  std::unique_ptr<Gatekeeper> gatekeeper_;
  std::shared_ptr<core::EngineClient> engine_;
  std::shared_ptr<core::DockerManager> manager_;
  std::shared_ptr<core::BuildLeftovers> build_leftovers_;
  std::unique_ptr<DockerManagerService> docker_manager_service_;
  std::unique_ptr<BuildGeneratorService> build_generator_service_;
  std::unique_ptr<ImageOptimizerService> image_optimizer_service_;

  std::unique_ptr<grpc::Server> server_;
  grpc::HealthCheckServiceInterface* health_ = nullptr;
  int tcp_port_ = 0;
  std::unique_ptr<EngineMonitor> monitor_;
  std::unique_ptr<HttpEndpoints> http_;

  // What the repeated INSECURE warning reports; a reload may change it.
  std::atomic<Role> anonymous_role_{Role::kNone};
  absl::Mutex control_mu_;  // Serialises Reload() and Shutdown().
  bool shutdown_begun_ ABSL_GUARDED_BY(control_mu_) = false;
  absl::Mutex mu_;
  bool server_stopped_ ABSL_GUARDED_BY(mu_) = false;  // Shutdown() is done.
  bool stopping_ ABSL_GUARDED_BY(mu_) = false;        // Ends the warning thread.
  std::thread warn_thread_;
  bool started_ = false;  // Start() succeeded.
  bool waited_ = false;   // Wait() returned.
};

}  // namespace dkd::server
