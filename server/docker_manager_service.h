// gRPC adapter for core::DockerManager: validate -> convert -> call core ->
// convert back -> map status. No domain logic lives here. Streaming RPCs
// watch for the caller going away and abort the engine request.
#pragma once

#include <memory>

#include "core/docker/docker_manager.h"
#include "dkd/v1/docker_manager.grpc.pb.h"

namespace dkd::server {

class DockerManagerService final : public dkd::v1::DockerManager::Service {
 public:
  explicit DockerManagerService(std::shared_ptr<core::DockerManager> manager);

  grpc::Status Ping(grpc::ServerContext* context, const dkd::v1::PingRequest* request,
                    dkd::v1::PingResponse* response) override;
  grpc::Status GetEngineInfo(grpc::ServerContext* context,
                             const dkd::v1::GetEngineInfoRequest* request,
                             dkd::v1::EngineInfo* response) override;
  grpc::Status RunContainer(grpc::ServerContext* context,
                            const dkd::v1::RunContainerRequest* request,
                            dkd::v1::RunContainerResponse* response) override;
  grpc::Status WaitContainer(grpc::ServerContext* context,
                             const dkd::v1::WaitContainerRequest* request,
                             dkd::v1::WaitContainerResponse* response) override;
  grpc::Status ListContainers(grpc::ServerContext* context,
                              const dkd::v1::ListContainersRequest* request,
                              dkd::v1::ListContainersResponse* response) override;
  grpc::Status InspectContainer(grpc::ServerContext* context,
                                const dkd::v1::InspectContainerRequest* request,
                                dkd::v1::ContainerDetails* response) override;
  grpc::Status StopContainer(grpc::ServerContext* context,
                             const dkd::v1::StopContainerRequest* request,
                             dkd::v1::StopContainerResponse* response) override;
  grpc::Status RemoveContainer(grpc::ServerContext* context,
                               const dkd::v1::RemoveContainerRequest* request,
                               dkd::v1::RemoveContainerResponse* response) override;
  grpc::Status ListImages(grpc::ServerContext* context, const dkd::v1::ListImagesRequest* request,
                          dkd::v1::ListImagesResponse* response) override;
  grpc::Status InspectImage(grpc::ServerContext* context,
                            const dkd::v1::InspectImageRequest* request,
                            dkd::v1::ImageDetails* response) override;
  grpc::Status RemoveImage(grpc::ServerContext* context, const dkd::v1::RemoveImageRequest* request,
                           dkd::v1::RemoveImageResponse* response) override;

  // The calls that create or overwrite engine objects, on behalf of `owner`
  // (core/policy/ownership.h); the overrides above act for no one. BuildImageAs
  // takes the spec already read by ReadBuildSpec, reads the context and
  // applies limits.max_context_bytes (0 = none), counted by the core on the
  // decompressed canonical tar the engine receives.
  // BuildImage is served with the callback API (server/build_reactor.h),
  // which runs this on a worker thread once the build has a slot; `stream`
  // reads the context chunks after the spec and writes the events.
  grpc::Status BuildImageAs(
      grpc::ServerContextBase* context, const dkd::v1::BuildSpec& spec,
      grpc::ServerReaderWriterInterface<dkd::v1::BuildEvent, dkd::v1::BuildImageRequest>* stream,
      const core::Owner& owner, int64_t max_context_bytes);
  grpc::Status RunContainerAs(grpc::ServerContext* context,
                              const dkd::v1::RunContainerRequest* request,
                              dkd::v1::RunContainerResponse* response, const core::Owner& owner);

 private:
  std::shared_ptr<core::DockerManager> manager_;
};

}  // namespace dkd::server
