#include "server/docker_manager_service.h"

#include <utility>

#include "server/status_map.h"
#include "server/version.h"

namespace dkd::server {

DockerManagerService::DockerManagerService(std::shared_ptr<core::DockerManager> manager)
    : manager_(std::move(manager)) {}

grpc::Status DockerManagerService::Ping(grpc::ServerContext*, const dkd::v1::PingRequest*,
                                        dkd::v1::PingResponse* response) {
  auto result = manager_->Ping();
  if (!result.ok()) return ToGrpcStatus(result.status());
  response->set_daemon_version(std::string(kDaemonVersion));
  response->set_engine_version(result->engine.version);
  response->set_api_version(result->api_version);
  response->set_engine_min_api_version(result->engine.min_api_version);
  response->set_os(result->engine.os);
  response->set_arch(result->engine.arch);
  response->set_kernel_version(result->engine.kernel_version);
  response->set_engine_git_commit(result->engine.git_commit);
  return grpc::Status::OK;
}

}  // namespace dkd::server
