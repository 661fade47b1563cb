// Guarded services: what dkd actually registers with gRPC. Each wraps a plain
// service adapter and runs every call through a GuardedCall first
// (authentication, role, limits, request id, metrics, audit), then delegates.
//
// An RPC a wrapper does not override answers UNIMPLEMENTED, so a new RPC is
// closed until it is given a role in auth.cc and a method here.
//
// DockerManager also gets: ownership (RunContainer labels the container with
// the caller's identity under `dkd.owner`; without admin, under ownership,
// list/inspect/wait/logs/stop/remove see only the caller's own containers and
// others are NOT_FOUND), the build queue (BuildEvent.queued while waiting for
// a slot), the build context limit, and streams that end with UNAVAILABLE
// "dkd is shutting down" when dkd stops. WaitContainer (from a
// ContainerWaiter), ContainerLogs, StreamEvents, PushImage and PullImage
// (server/follow_reactor.h) and BuildImage (server/build_reactor.h) are served with gRPC's callback
// API, so a waiting or following call holds no thread. Thread-safe.
#pragma once

#include <memory>

#include "core/docker/docker_manager.h"
#include "dkd/v1/build_generator.grpc.pb.h"
#include "dkd/v1/docker_manager.grpc.pb.h"
#include "dkd/v1/image_optimizer.grpc.pb.h"
#include "server/build_generator_service.h"
#include "server/container_waiter.h"
#include "server/docker_manager_service.h"
#include "server/gatekeeper.h"
#include "server/image_optimizer_service.h"

namespace dkd::server {

// The label that records who created a container.
using core::kOwnerLabel;

class GuardedDockerManager final
    : public dkd::v1::DockerManager::WithCallbackMethod_BuildImage<
          dkd::v1::DockerManager::WithCallbackMethod_PushImage<
              dkd::v1::DockerManager::WithCallbackMethod_PullImage<
                  dkd::v1::DockerManager::WithCallbackMethod_ContainerLogs<
                      dkd::v1::DockerManager::WithCallbackMethod_StreamEvents<
                          dkd::v1::DockerManager::WithCallbackMethod_WaitContainer<
                              dkd::v1::DockerManager::Service>>>>>> {
 public:
  GuardedDockerManager(DockerManagerService* inner, std::shared_ptr<core::DockerManager> manager,
                       Gatekeeper* gatekeeper);

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

 private:
  // OK when the caller may act on container `id`; NOT_FOUND when ownership
  // hides it from the caller.
  grpc::Status CheckOwner(const GuardedCall& call, const std::string& id);
  // The caller as the owner of what it creates (core/policy/ownership.h).
  static core::Owner OwnerOf(const GuardedCall& call);

  DockerManagerService* inner_;
  std::shared_ptr<core::DockerManager> manager_;
  Gatekeeper* gatekeeper_;
  std::unique_ptr<ContainerWaiter> waiter_;
};

class GuardedBuildGenerator final : public dkd::v1::BuildGenerator::Service {
 public:
  GuardedBuildGenerator(BuildGeneratorService* inner, Gatekeeper* gatekeeper)
      : inner_(inner), gatekeeper_(gatekeeper) {}

  grpc::Status CreateMultiStageBuild(grpc::ServerContext* context,
                                     const dkd::v1::BuildConfig* request,
                                     dkd::v1::MultiStageBuild* response) override;
  grpc::Status GenerateDockerfile(grpc::ServerContext* context, const dkd::v1::BuildConfig* request,
                                  dkd::v1::GeneratedDockerfile* response) override;
  grpc::Status GenerateBuildScript(grpc::ServerContext* context,
                                   const dkd::v1::BuildScriptConfig* request,
                                   dkd::v1::GeneratedBuildScript* response) override;
  grpc::Status LintDockerfile(grpc::ServerContext* context,
                              const dkd::v1::LintDockerfileRequest* request,
                              dkd::v1::LintDockerfileResponse* response) override;
  grpc::Status OptimizeDockerfile(grpc::ServerContext* context,
                                  const dkd::v1::OptimizeDockerfileRequest* request,
                                  dkd::v1::OptimizeDockerfileResponse* response) override;

 private:
  BuildGeneratorService* inner_;
  Gatekeeper* gatekeeper_;
};

class GuardedImageOptimizer final : public dkd::v1::ImageOptimizer::Service {
 public:
  GuardedImageOptimizer(ImageOptimizerService* inner, Gatekeeper* gatekeeper)
      : inner_(inner), gatekeeper_(gatekeeper) {}

  grpc::Status AnalyzeImage(grpc::ServerContext* context,
                            const dkd::v1::AnalyzeImageRequest* request,
                            dkd::v1::ImageAnalysis* response) override;
  grpc::Status OptimizeImage(grpc::ServerContext* context,
                             const dkd::v1::OptimizeImageRequest* request,
                             dkd::v1::OptimizeImageResponse* response) override;
  grpc::Status SuggestOptimizations(grpc::ServerContext* context,
                                    const dkd::v1::AnalyzeImageRequest* request,
                                    dkd::v1::SuggestOptimizationsResponse* response) override;
  grpc::Status CompareImages(grpc::ServerContext* context,
                             const dkd::v1::CompareImagesRequest* request,
                             dkd::v1::ImageComparison* response) override;
  grpc::Status GetOptimizationReport(grpc::ServerContext* context,
                                     const dkd::v1::AnalyzeImageRequest* request,
                                     dkd::v1::OptimizationReport* response) override;

 private:
  ImageOptimizerService* inner_;
  Gatekeeper* gatekeeper_;
};

}  // namespace dkd::server
