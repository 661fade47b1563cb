// dkd: flags, logging, signals and server start-up. Everything else lives in
// the services and in core/.
#include <grpcpp/ext/proto_server_reflection_plugin.h>
#include <grpcpp/grpcpp.h>
#include <grpcpp/health_check_service_interface.h>
#include <signal.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <iostream>
#include <memory>
#include <thread>

#include "core/docker_manager.h"
#include "core/engine_address.h"
#include "core/engine_client.h"
#include "core/image_optimizer.h"
#include "server/build_generator_service.h"
#include "server/daemon_options.h"
#include "server/docker_manager_service.h"
#include "server/engine_monitor.h"
#include "server/image_optimizer_service.h"
#include "server/listen_address.h"
#include "server/version.h"
#include "spdlog/spdlog.h"

namespace {

constexpr int kMaxMessageBytes = 16 * 1024 * 1024;

int Fail(const std::string& message) {
  spdlog::critical("{}", message);
  return 1;
}

}  // namespace

int main(int argc, char** argv) {
  using namespace dkd;
  // Signals are taken by a dedicated thread via sigwait; block them everywhere.
  sigset_t signals;
  sigemptyset(&signals);
  sigaddset(&signals, SIGINT);
  sigaddset(&signals, SIGTERM);
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
  spdlog::set_level(spdlog::level::from_str(options->log_level));
  spdlog::set_pattern("%Y-%m-%dT%H:%M:%S.%e%z %^%l%$ %v");

  auto engine_address = core::ParseEngineAddress(options->engine);
  if (!engine_address.ok()) return Fail(std::string(engine_address.status().message()));
  core::ApplyTlsEnvironment(*engine_address);

  std::vector<server::ListenAddress> listeners;
  if (!options->unix_socket.empty()) {
    auto a = server::ParseListenAddress("--unix-socket", options->unix_socket);
    if (!a.ok() || !a->is_unix) {
      return Fail(a.ok() ? "--unix-socket must be a unix socket path"
                         : std::string(a.status().message()));
    }
    listeners.push_back(*a);
  }
  if (!options->tcp.empty()) {
    auto a = server::ParseListenAddress("--tcp", options->tcp);
    if (!a.ok() || a->is_unix) {
      return Fail(a.ok() ? "--tcp must be host:port" : std::string(a.status().message()));
    }
    if (absl::Status s = server::CheckPlainTcpAllowed(*a, /*tls_enabled=*/false); !s.ok()) {
      return Fail(std::string(s.message()));
    }
    listeners.push_back(*a);
  }

  auto engine = std::make_shared<core::EngineClient>(*engine_address);
  core::RunPolicy policy;
  policy.bind_roots = options->bind_roots;
  policy.context_roots = options->context_roots;
  auto manager = std::make_shared<core::DockerManager>(engine, policy);
  if (options->list_cache_max_age > absl::ZeroDuration()) {
    manager->EnableListCache(options->list_cache_max_age);
  }
  server::DockerManagerService docker_manager_service(manager);
  server::BuildGeneratorService build_generator_service;
  server::ImageOptimizerService image_optimizer_service(
      std::make_shared<core::ImageOptimizer>(engine));

  grpc::EnableDefaultHealthCheckService(true);
  grpc::reflection::InitProtoReflectionServerBuilderPlugin();
  grpc::ServerBuilder builder;
  builder.SetMaxReceiveMessageSize(kMaxMessageBytes);
  builder.SetMaxSendMessageSize(kMaxMessageBytes);
  int tcp_port = 0;
  for (const auto& l : listeners) {
    if (l.is_unix) {
      std::error_code ec;
      std::filesystem::create_directories(std::filesystem::path(l.path).parent_path(), ec);
      struct stat st {};
      if (lstat(l.path.c_str(), &st) == 0) {
        if (!S_ISSOCK(st.st_mode)) {
          return Fail(l.path + " exists and is not a socket; refusing to replace it");
        }
        unlink(l.path.c_str());  // A stale socket from an earlier run.
      }
      builder.AddListeningPort(l.GrpcUri(), grpc::InsecureServerCredentials());
    } else {
      builder.AddListeningPort(l.GrpcUri(), grpc::InsecureServerCredentials(), &tcp_port);
    }
  }
  builder.RegisterService(&docker_manager_service);
  builder.RegisterService(&build_generator_service);
  builder.RegisterService(&image_optimizer_service);
  std::unique_ptr<grpc::Server> server = builder.BuildAndStart();
  if (!server)
    return Fail("could not start the gRPC server: a listen address is in use or invalid");
  for (const auto& l : listeners) {
    if (l.is_unix) {
      chmod(l.path.c_str(), 0660);
      spdlog::info("listening on unix://{}", l.path);
    } else {
      if (tcp_port == 0) return Fail("could not listen on " + l.GrpcUri());
      spdlog::info("listening on tcp://{}:{}", l.host, tcp_port);
    }
  }
  if (!options->port_file.empty()) {
    const std::string tmp = options->port_file + ".tmp";
    std::ofstream(tmp) << tcp_port << "\n";
    std::rename(tmp.c_str(), options->port_file.c_str());
  }

  grpc::HealthCheckServiceInterface* health = server->GetHealthCheckService();
  server::EngineMonitor monitor(
      engine, options->health_interval,
      [health](const std::string& svc, bool serving) { health->SetServingStatus(svc, serving); });
  monitor.Start();
  spdlog::info("dkd {} ready; engine {}", server::kDaemonVersion, engine_address->ToString());

  std::thread signal_thread([&] {
    int sig = 0;
    sigwait(&signals, &sig);
    spdlog::info("received {}, shutting down (grace {}s)", strsignal(sig),
                 absl::ToInt64Seconds(options->shutdown_grace));
    health->Shutdown();
    server->Shutdown(std::chrono::system_clock::now() +
                     absl::ToChronoSeconds(options->shutdown_grace));
  });
  server->Wait();
  signal_thread.join();
  monitor.Stop();
  for (const auto& l : listeners) {
    if (l.is_unix) unlink(l.path.c_str());
  }
  spdlog::info("dkd stopped");
  return 0;
}
