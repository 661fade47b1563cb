// DockerManagerService (docker_manager_service.h): one method per RPC,
// converting, calling core and mapping the status.
#include "server/docker_manager_service.h"

#include <utility>

#include "server/cancel_watcher.h"
#include "server/docker_convert.h"
#include "server/status_map.h"
#include "server/version.h"

namespace dkd::server {
namespace {

using dkd::v1::BuildEvent;

// A stream that ended because the caller went away reports CANCELLED.
grpc::Status StreamStatus(grpc::ServerContextBase* context, const absl::Status& s) {
  if (context->IsCancelled()) return grpc::Status(grpc::StatusCode::CANCELLED, "call cancelled");
  return ToGrpcStatus(s);
}

}  // namespace

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

grpc::Status DockerManagerService::GetEngineInfo(grpc::ServerContext*,
                                                 const dkd::v1::GetEngineInfoRequest*,
                                                 dkd::v1::EngineInfo* response) {
  auto info = manager_->Info();
  if (!info.ok()) return ToGrpcStatus(info.status());
  EngineInfoFromJson(*info, response);
  return grpc::Status::OK;
}

grpc::Status DockerManagerService::BuildImageAs(
    grpc::ServerContextBase* context, const dkd::v1::BuildSpec& spec,
    grpc::ServerReaderWriterInterface<BuildEvent, dkd::v1::BuildImageRequest>* stream,
    const core::Owner& owner, int64_t max_context_bytes) {
  core::BuildRequest request = FromProto(spec);
  request.owner = owner;
  request.max_context_bytes = max_context_bytes;
  // Context chunks are read as the engine asks for them: never held whole.
  std::string pending;
  size_t offset = 0;
  bool ended = false;
  core::ContextReader reader = [&](char* buf, size_t len) -> absl::StatusOr<size_t> {
    while (offset >= pending.size()) {
      if (ended) return size_t{0};
      dkd::v1::BuildImageRequest msg;
      if (!stream->Read(&msg)) {
        ended = true;
        return size_t{0};
      }
      if (msg.has_spec()) {
        return absl::InvalidArgumentError("spec: only the first BuildImage message may carry it");
      }
      pending = std::move(*msg.mutable_context_chunk());
      offset = 0;
    }
    const size_t take = std::min(len, pending.size() - offset);
    std::copy_n(pending.data() + offset, take, buf);
    offset += take;
    return take;
  };
  auto on_event = [&](const core::BuildEvent& e) {
    BuildEvent out;
    switch (e.kind) {
      case core::BuildEvent::Kind::kLog:
        out.mutable_log()->set_text(e.text);
        break;
      case core::BuildEvent::Kind::kStep:
        out.mutable_step()->set_number(e.step);
        out.mutable_step()->set_total(e.total);
        out.mutable_step()->set_instruction(e.instruction);
        break;
      case core::BuildEvent::Kind::kPullProgress:
        ToProto(e.progress, out.mutable_pull_progress());
        break;
      case core::BuildEvent::Kind::kPushProgress:
        ToProto(e.progress, out.mutable_push_progress());
        break;
    }
    return stream->Write(out);
  };
  core::CancelToken cancel;
  CancelWatcher watcher(context, &cancel);
  auto result = manager_->Build(request, reader, on_event, &cancel);
  if (!result.ok()) return StreamStatus(context, result.status());
  BuildEvent done;
  auto* r = done.mutable_result();
  r->set_image_id(result->image_id);
  for (const auto& t : result->tags) r->add_tags(t);
  r->set_duration_ms(result->duration_ms);
  r->set_context_bytes(result->context_bytes);
  for (const auto& d : result->pushed_digests) r->add_pushed_digests(d);
  stream->Write(done);
  return grpc::Status::OK;
}

grpc::Status DockerManagerService::RunContainer(grpc::ServerContext* context,
                                                const dkd::v1::RunContainerRequest* request,
                                                dkd::v1::RunContainerResponse* response) {
  return RunContainerAs(context, request, response, core::Owner{});
}

grpc::Status DockerManagerService::RunContainerAs(grpc::ServerContext* context,
                                                  const dkd::v1::RunContainerRequest* request,
                                                  dkd::v1::RunContainerResponse* response,
                                                  const core::Owner& owner) {
  core::CancelToken cancel;
  CancelWatcher watcher(context, &cancel);
  core::RunRequest run = FromProto(*request);
  run.owner = owner;
  auto r = manager_->Run(run, &cancel);
  if (!r.ok()) return ToGrpcStatus(r.status());
  response->set_id(r->id);
  response->set_name(r->name);
  response->set_status(r->status);
  response->set_exit_code(r->exit_code);
  response->set_stdout(r->stdout_data);
  response->set_stderr(r->stderr_data);
  response->set_output_truncated(r->output_truncated);
  for (const auto& w : r->warnings) response->add_warnings(w);
  response->set_pulled(r->pulled);
  return grpc::Status::OK;
}

grpc::Status DockerManagerService::WaitContainer(grpc::ServerContext* context,
                                                 const dkd::v1::WaitContainerRequest* request,
                                                 dkd::v1::WaitContainerResponse* response) {
  core::CancelToken cancel;
  CancelWatcher watcher(context, &cancel);
  auto code = manager_->Wait(request->id(), request->condition(), &cancel);
  if (!code.ok()) return StreamStatus(context, code.status());
  response->set_exit_code(*code);
  return grpc::Status::OK;
}

grpc::Status DockerManagerService::ListContainers(grpc::ServerContext*,
                                                  const dkd::v1::ListContainersRequest* request,
                                                  dkd::v1::ListContainersResponse* response) {
  core::ListContainersRequest r;
  r.show_all = request->show_all();
  r.label_filters.assign(request->label_filters().begin(), request->label_filters().end());
  r.name_filters.assign(request->name_filters().begin(), request->name_filters().end());
  r.status_filters.assign(request->status_filters().begin(), request->status_filters().end());
  r.limit = request->limit();
  auto list = manager_->ListContainers(r);
  if (!list.ok()) return ToGrpcStatus(list.status());
  for (const auto& c : *list) ToProto(c, response->add_containers());
  return grpc::Status::OK;
}

grpc::Status DockerManagerService::InspectContainer(grpc::ServerContext*,
                                                    const dkd::v1::InspectContainerRequest* request,
                                                    dkd::v1::ContainerDetails* response) {
  auto j = manager_->InspectContainer(request->id());
  if (!j.ok()) return ToGrpcStatus(j.status());
  ContainerDetailsFromJson(*j, response);
  return grpc::Status::OK;
}

grpc::Status DockerManagerService::StopContainer(grpc::ServerContext*,
                                                 const dkd::v1::StopContainerRequest* request,
                                                 dkd::v1::StopContainerResponse* response) {
  std::optional<int> timeout;
  if (request->has_timeout_seconds()) timeout = request->timeout_seconds().value();
  auto already = manager_->Stop(request->id(), timeout);
  if (!already.ok()) return ToGrpcStatus(already.status());
  response->set_id(request->id());
  response->set_already_stopped(*already);
  return grpc::Status::OK;
}

grpc::Status DockerManagerService::RemoveContainer(grpc::ServerContext*,
                                                   const dkd::v1::RemoveContainerRequest* request,
                                                   dkd::v1::RemoveContainerResponse* response) {
  absl::Status s = manager_->Remove(request->id(), request->force(), request->remove_volumes());
  if (!s.ok()) return ToGrpcStatus(s);
  response->set_id(request->id());
  return grpc::Status::OK;
}

grpc::Status DockerManagerService::ListImages(grpc::ServerContext*,
                                              const dkd::v1::ListImagesRequest* request,
                                              dkd::v1::ListImagesResponse* response) {
  core::ListImagesRequest r;
  r.all = request->all();
  r.label_filters.assign(request->label_filters().begin(), request->label_filters().end());
  r.reference = request->reference();
  r.dangling = request->dangling();
  auto list = manager_->ListImages(r);
  if (!list.ok()) return ToGrpcStatus(list.status());
  for (const auto& i : *list) ToProto(i, response->add_images());
  return grpc::Status::OK;
}

grpc::Status DockerManagerService::InspectImage(grpc::ServerContext*,
                                                const dkd::v1::InspectImageRequest* request,
                                                dkd::v1::ImageDetails* response) {
  auto j = manager_->InspectImage(request->image());
  if (!j.ok()) return ToGrpcStatus(j.status());
  ImageDetailsFromJson(*j, response);
  return grpc::Status::OK;
}

grpc::Status DockerManagerService::RemoveImage(grpc::ServerContext*,
                                               const dkd::v1::RemoveImageRequest* request,
                                               dkd::v1::RemoveImageResponse* response) {
  auto r = manager_->RemoveImage(request->image(), request->force(), request->no_prune());
  if (!r.ok()) return ToGrpcStatus(r.status());
  for (const auto& u : r->untagged) response->add_untagged(u);
  for (const auto& d : r->deleted) response->add_deleted(d);
  return grpc::Status::OK;
}

}  // namespace dkd::server
