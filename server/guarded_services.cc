#include "server/guarded_services.h"

#include <chrono>
#include <utility>

#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "server/build_reactor.h"
#include "server/cancel_watcher.h"
#include "server/docker_convert.h"
#include "server/follow_reactor.h"
#include "server/status_map.h"
#include "server/wait_reactor.h"

namespace dkd::server {
namespace {

constexpr char kDm[] = "/dkd.v1.DockerManager/";
constexpr char kBg[] = "/dkd.v1.BuildGenerator/";
constexpr char kIo[] = "/dkd.v1.ImageOptimizer/";

// Admits the call, runs `body` when admitted, and finishes the call.
template <typename Body>
grpc::Status Run(Gatekeeper* gatekeeper, grpc::ServerContext* context, const std::string& method,
                 std::string target, Body&& body) {
  GuardedCall call(gatekeeper, context, method);
  call.set_target(std::move(target));
  grpc::Status s = call.Admit();
  if (s.ok()) s = body(call);
  return call.Finish(s);
}

}  // namespace

GuardedDockerManager::GuardedDockerManager(DockerManagerService* inner,
                                           std::shared_ptr<core::DockerManager> manager,
                                           Gatekeeper* gatekeeper)
    : inner_(inner),
      manager_(std::move(manager)),
      gatekeeper_(gatekeeper),
      waiter_(std::make_unique<ContainerWaiter>(manager_)) {
  gatekeeper_->OnShutdown([w = waiter_.get()] { w->Shutdown(); });
}

grpc::Status GuardedDockerManager::CheckOwner(const GuardedCall& call, const std::string& id) {
  if (call.sees_everything()) return grpc::Status::OK;
  auto j = manager_->InspectContainer(id);
  if (!j.ok()) return ToGrpcStatus(j.status());
  if (auto it = j->labels.find(kOwnerLabel);
      it != j->labels.end() && it->second == call.caller().identity) {
    return grpc::Status::OK;
  }
  // Someone else's container is reported like a missing one: its existence is not revealed.
  return grpc::Status(grpc::StatusCode::NOT_FOUND, absl::StrCat("No such container: ", id));
}

core::Owner GuardedDockerManager::OwnerOf(const GuardedCall& call) {
  // Without ownership nothing is labelled or checked (and builds keep their
  // step count: the engine applies build labels as one more step).
  if (!call.settings().ownership) return core::Owner{};
  return core::Owner{call.caller().identity, !call.sees_everything()};
}

grpc::Status GuardedDockerManager::Ping(grpc::ServerContext* context,
                                        const dkd::v1::PingRequest* request,
                                        dkd::v1::PingResponse* response) {
  return Run(gatekeeper_, context, absl::StrCat(kDm, "Ping"), "",
             [&](GuardedCall&) { return inner_->Ping(context, request, response); });
}

grpc::Status GuardedDockerManager::GetEngineInfo(grpc::ServerContext* context,
                                                 const dkd::v1::GetEngineInfoRequest* request,
                                                 dkd::v1::EngineInfo* response) {
  return Run(gatekeeper_, context, absl::StrCat(kDm, "GetEngineInfo"), "",
             [&](GuardedCall&) { return inner_->GetEngineInfo(context, request, response); });
}

grpc::ServerBidiReactor<dkd::v1::BuildImageRequest, dkd::v1::BuildEvent>*
GuardedDockerManager::BuildImage(grpc::CallbackServerContext* context) {
  return StartBuildImage(gatekeeper_, inner_, context,
                         [](const GuardedCall& call) { return OwnerOf(call); });
}

grpc::ServerWriteReactor<dkd::v1::ProgressEvent>* GuardedDockerManager::PushImage(
    grpc::CallbackServerContext* context, const dkd::v1::PushImageRequest* request) {
  return StartPushImage(gatekeeper_, manager_.get(), context, request);
}

grpc::ServerWriteReactor<dkd::v1::ProgressEvent>* GuardedDockerManager::PullImage(
    grpc::CallbackServerContext* context, const dkd::v1::PullImageRequest* request) {
  return StartPullImage(gatekeeper_, manager_.get(), context, request);
}

grpc::Status GuardedDockerManager::RunContainer(grpc::ServerContext* context,
                                                const dkd::v1::RunContainerRequest* request,
                                                dkd::v1::RunContainerResponse* response) {
  std::string target = request->config().image_name();
  if (!request->config().tag().empty()) absl::StrAppend(&target, ":", request->config().tag());
  if (!request->name().empty()) target = absl::StrCat(request->name(), " (", target, ")");
  return Run(gatekeeper_, context, absl::StrCat(kDm, "RunContainer"), target,
             [&](GuardedCall& call) {
               // The owner label is always dkd's to set: a client cannot claim another identity.
               dkd::v1::RunContainerRequest labelled = *request;
               (*labelled.mutable_config()->mutable_labels())[kOwnerLabel] = call.caller().identity;
               grpc::Status s = inner_->RunContainerAs(context, &labelled, response, OwnerOf(call));
               if (s.ok()) call.set_target(absl::StrCat(response->name(), " ", response->id()));
               return s;
             });
}

grpc::ServerUnaryReactor* GuardedDockerManager::WaitContainer(
    grpc::CallbackServerContext* context, const dkd::v1::WaitContainerRequest* request,
    dkd::v1::WaitContainerResponse* response) {
  return StartWaitContainer(
      gatekeeper_, waiter_.get(), context, request, response,
      [this](const GuardedCall& call, const std::string& id) { return CheckOwner(call, id); });
}

grpc::Status GuardedDockerManager::ListContainers(grpc::ServerContext* context,
                                                  const dkd::v1::ListContainersRequest* request,
                                                  dkd::v1::ListContainersResponse* response) {
  return Run(gatekeeper_, context, absl::StrCat(kDm, "ListContainers"), "", [&](GuardedCall& call) {
    if (call.sees_everything()) {
      return inner_->ListContainers(context, request, response);
    }
    dkd::v1::ListContainersRequest own = *request;
    own.add_label_filters(absl::StrCat(kOwnerLabel, "=", call.caller().identity));
    return inner_->ListContainers(context, &own, response);
  });
}

grpc::Status GuardedDockerManager::InspectContainer(grpc::ServerContext* context,
                                                    const dkd::v1::InspectContainerRequest* request,
                                                    dkd::v1::ContainerDetails* response) {
  return Run(gatekeeper_, context, absl::StrCat(kDm, "InspectContainer"), request->id(),
             [&](GuardedCall& call) {
               grpc::Status s = CheckOwner(call, request->id());
               return s.ok() ? inner_->InspectContainer(context, request, response) : s;
             });
}

grpc::Status GuardedDockerManager::StopContainer(grpc::ServerContext* context,
                                                 const dkd::v1::StopContainerRequest* request,
                                                 dkd::v1::StopContainerResponse* response) {
  return Run(gatekeeper_, context, absl::StrCat(kDm, "StopContainer"), request->id(),
             [&](GuardedCall& call) {
               grpc::Status s = CheckOwner(call, request->id());
               return s.ok() ? inner_->StopContainer(context, request, response) : s;
             });
}

grpc::Status GuardedDockerManager::RemoveContainer(grpc::ServerContext* context,
                                                   const dkd::v1::RemoveContainerRequest* request,
                                                   dkd::v1::RemoveContainerResponse* response) {
  return Run(gatekeeper_, context, absl::StrCat(kDm, "RemoveContainer"), request->id(),
             [&](GuardedCall& call) {
               grpc::Status s = CheckOwner(call, request->id());
               return s.ok() ? inner_->RemoveContainer(context, request, response) : s;
             });
}

grpc::ServerWriteReactor<dkd::v1::LogEntry>* GuardedDockerManager::ContainerLogs(
    grpc::CallbackServerContext* context, const dkd::v1::ContainerLogsRequest* request) {
  return StartContainerLogs(gatekeeper_, manager_.get(), context, request);
}

grpc::Status GuardedDockerManager::ListImages(grpc::ServerContext* context,
                                              const dkd::v1::ListImagesRequest* request,
                                              dkd::v1::ListImagesResponse* response) {
  return Run(gatekeeper_, context, absl::StrCat(kDm, "ListImages"), "",
             [&](GuardedCall&) { return inner_->ListImages(context, request, response); });
}

grpc::Status GuardedDockerManager::InspectImage(grpc::ServerContext* context,
                                                const dkd::v1::InspectImageRequest* request,
                                                dkd::v1::ImageDetails* response) {
  return Run(gatekeeper_, context, absl::StrCat(kDm, "InspectImage"), request->image(),
             [&](GuardedCall&) { return inner_->InspectImage(context, request, response); });
}

grpc::Status GuardedDockerManager::RemoveImage(grpc::ServerContext* context,
                                               const dkd::v1::RemoveImageRequest* request,
                                               dkd::v1::RemoveImageResponse* response) {
  return Run(gatekeeper_, context, absl::StrCat(kDm, "RemoveImage"), request->image(),
             [&](GuardedCall&) { return inner_->RemoveImage(context, request, response); });
}

grpc::ServerWriteReactor<dkd::v1::EngineEvent>* GuardedDockerManager::StreamEvents(
    grpc::CallbackServerContext* context, const dkd::v1::StreamEventsRequest* request) {
  return StartStreamEvents(gatekeeper_, manager_.get(), context, request);
}

#define DKD_GUARDED_UNARY(Class, prefix, Method, Request, Response, target)               \
  grpc::Status Class::Method(grpc::ServerContext* context, const Request* request,        \
                             Response* response) {                                        \
    return Run(gatekeeper_, context, absl::StrCat(prefix, #Method), target,               \
               [&](GuardedCall&) { return inner_->Method(context, request, response); }); \
  }

DKD_GUARDED_UNARY(GuardedBuildGenerator, kBg, CreateMultiStageBuild, dkd::v1::BuildConfig,
                  dkd::v1::MultiStageBuild, "")
DKD_GUARDED_UNARY(GuardedBuildGenerator, kBg, GenerateDockerfile, dkd::v1::BuildConfig,
                  dkd::v1::GeneratedDockerfile, "")
DKD_GUARDED_UNARY(GuardedBuildGenerator, kBg, GenerateBuildScript, dkd::v1::BuildScriptConfig,
                  dkd::v1::GeneratedBuildScript, "")
DKD_GUARDED_UNARY(GuardedBuildGenerator, kBg, LintDockerfile, dkd::v1::LintDockerfileRequest,
                  dkd::v1::LintDockerfileResponse, "")
DKD_GUARDED_UNARY(GuardedBuildGenerator, kBg, OptimizeDockerfile,
                  dkd::v1::OptimizeDockerfileRequest, dkd::v1::OptimizeDockerfileResponse, "")
DKD_GUARDED_UNARY(GuardedImageOptimizer, kIo, AnalyzeImage, dkd::v1::AnalyzeImageRequest,
                  dkd::v1::ImageAnalysis, request->image())
DKD_GUARDED_UNARY(GuardedImageOptimizer, kIo, OptimizeImage, dkd::v1::OptimizeImageRequest,
                  dkd::v1::OptimizeImageResponse, request->image())
DKD_GUARDED_UNARY(GuardedImageOptimizer, kIo, SuggestOptimizations, dkd::v1::AnalyzeImageRequest,
                  dkd::v1::SuggestOptimizationsResponse, request->image())
DKD_GUARDED_UNARY(GuardedImageOptimizer, kIo, CompareImages, dkd::v1::CompareImagesRequest,
                  dkd::v1::ImageComparison, request->image_a() + " " + request->image_b())
DKD_GUARDED_UNARY(GuardedImageOptimizer, kIo, GetOptimizationReport, dkd::v1::AnalyzeImageRequest,
                  dkd::v1::OptimizationReport, request->image())

#undef DKD_GUARDED_UNARY

}  // namespace dkd::server
