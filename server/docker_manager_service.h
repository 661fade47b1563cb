// DockerManagerService: the DockerManager RPCs dkd registers with gRPC, over
// core::DockerManager.
//
// Every RPC is written once, here: it starts as a GuardedCall (Gatekeeper:
// authentication, the role auth.cc's table gives the method, limits, request
// id, metrics, audit), then validates, converts, calls core, converts back and
// maps the status. An RPC not overridden here answers UNIMPLEMENTED, and one
// missing from the role table is refused, so a new RPC is closed until it is
// given a role and a method.
//
// Ownership (when on): RunContainer labels the container with the caller's
// identity under `dkd.owner`; without admin, list/inspect/wait/logs/stop/
// remove see only the caller's own containers and others are NOT_FOUND.
// WaitContainer (a ContainerWaiter), ContainerLogs, StreamEvents, PushImage
// and PullImage (server/follow_reactor.h) and BuildImage (the build queue and
// the context limit, server/build_reactor.h) are served with gRPC's callback
// API, so a waiting or following call holds no thread; streams end with
// UNAVAILABLE "dkd is shutting down" when dkd stops. Thread-safe.
#pragma once

#include <memory>
#include <string>

#include "absl/status/status.h"
#include "core/docker/docker_manager.h"
#include "dkd/v1/docker_manager.grpc.pb.h"
#include "server/container_waiter.h"
#include "server/gatekeeper.h"

namespace dkd::server {

// The label that records who created a container.
using core::kOwnerLabel;

class DockerManagerService final
    : public dkd::v1::DockerManager::WithCallbackMethod_BuildImage<
          dkd::v1::DockerManager::WithCallbackMethod_PushImage<
              dkd::v1::DockerManager::WithCallbackMethod_PullImage<
                  dkd::v1::DockerManager::WithCallbackMethod_ContainerLogs<
                      dkd::v1::DockerManager::WithCallbackMethod_StreamEvents<
                          dkd::v1::DockerManager::WithCallbackMethod_WaitContainer<
                              dkd::v1::DockerManager::Service>>>>>> {
 public:
  DockerManagerService(std::shared_ptr<core::DockerManager> manager, Gatekeeper* gatekeeper);

  grpc::Status Ping(grpc::ServerContext* context, const dkd::v1::PingRequest* request,
                    dkd::v1::PingResponse* response) override;
  grpc::Status GetEngineInfo(grpc::ServerContext* context,
                             const dkd::v1::GetEngineInfoRequest* request,
                             dkd::v1::EngineInfo* response) override;
  grpc::ServerBidiReactor<dkd::v1::BuildImageRequest, dkd::v1::BuildEvent>* BuildImage(
      grpc::CallbackServerContext* context) override;
  grpc::ServerWriteReactor<dkd::v1::ProgressEvent>* PushImage(
      grpc::CallbackServerContext* context, const dkd::v1::PushImageRequest* request) override;
  grpc::ServerWriteReactor<dkd::v1::ProgressEvent>* PullImage(
      grpc::CallbackServerContext* context, const dkd::v1::PullImageRequest* request) override;
  grpc::Status RunContainer(grpc::ServerContext* context,
                            const dkd::v1::RunContainerRequest* request,
                            dkd::v1::RunContainerResponse* response) override;
  grpc::ServerUnaryReactor* WaitContainer(grpc::CallbackServerContext* context,
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
  grpc::ServerWriteReactor<dkd::v1::LogEntry>* ContainerLogs(
      grpc::CallbackServerContext* context, const dkd::v1::ContainerLogsRequest* request) override;
  grpc::Status ListImages(grpc::ServerContext* context, const dkd::v1::ListImagesRequest* request,
                          dkd::v1::ListImagesResponse* response) override;
  grpc::Status InspectImage(grpc::ServerContext* context,
                            const dkd::v1::InspectImageRequest* request,
                            dkd::v1::ImageDetails* response) override;
  grpc::Status RemoveImage(grpc::ServerContext* context, const dkd::v1::RemoveImageRequest* request,
                           dkd::v1::RemoveImageResponse* response) override;
  grpc::ServerWriteReactor<dkd::v1::EngineEvent>* StreamEvents(
      grpc::CallbackServerContext* context, const dkd::v1::StreamEventsRequest* request) override;

  // Runs an admitted build for `owner` (core/policy/ownership.h) once it has
  // a slot: reads the context chunks after `spec` from `stream`
  // (BuildContextReader: counted, and refused past limits.max_context_bytes,
  // 0 = none), writes the events, and returns how the build ended. Called
  // on a worker thread by server/build_reactor.h.
  absl::Status BuildImageAs(
      grpc::ServerContextBase* context, const dkd::v1::BuildSpec& spec,
      grpc::ServerReaderWriterInterface<dkd::v1::BuildEvent, dkd::v1::BuildImageRequest>* stream,
      const core::Owner& owner, int64_t max_context_bytes);

  // The Owner that calls of `call` create and overwrite things for.
  static core::Owner OwnerOf(const GuardedCall& call);

 private:
  std::shared_ptr<core::DockerManager> manager_;
  Gatekeeper* gatekeeper_;
  std::unique_ptr<ContainerWaiter> waiter_;
};

}  // namespace dkd::server
