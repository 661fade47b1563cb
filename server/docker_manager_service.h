// gRPC adapter for core::DockerManager: validate -> convert -> call core ->
// convert back -> map status. No domain logic lives here.
#pragma once

#include <memory>

#include "core/docker_manager.h"
#include "dkd/v1/docker_manager.grpc.pb.h"

namespace dkd::server {

class DockerManagerService final : public dkd::v1::DockerManager::Service {
 public:
  explicit DockerManagerService(std::shared_ptr<core::DockerManager> manager);

  grpc::Status Ping(grpc::ServerContext* context, const dkd::v1::PingRequest* request,
                    dkd::v1::PingResponse* response) override;

 private:
  std::shared_ptr<core::DockerManager> manager_;
};

}  // namespace dkd::server
