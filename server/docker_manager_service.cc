// DockerManagerService: each DockerManager RPC, guarded, converted and
// delegated to core::DockerManager.
#include "server/docker_manager_service.h"

#include <optional>
#include <utility>

#include "absl/strings/str_cat.h"
#include "absl/strings/strip.h"
#include "server/build_context_reader.h"
#include "server/build_reactor.h"
#include "server/buildkit_trace.h"
#include "server/cancel_watcher.h"
#include "server/docker_convert.h"
#include "server/follow_reactor.h"
#include "server/version.h"
#include "server/wait_reactor.h"

namespace dkd::server {
namespace {

using dkd::v1::BuildEvent;

// A stream that ended because the caller went away reports CANCELLED.
absl::Status StreamStatus(grpc::ServerContextBase* context, const absl::Status& s) {
  if (context->IsCancelled()) return absl::CancelledError("call cancelled");
  return s;
}

}  // namespace

DockerManagerService::DockerManagerService(std::shared_ptr<core::DockerManager> manager,
                                           Gatekeeper* gatekeeper)
    : manager_(std::move(manager)),
      gatekeeper_(gatekeeper),
      waiter_(std::make_unique<ContainerWaiter>(manager_)) {
  gatekeeper_->OnShutdown([w = waiter_.get()] { w->Shutdown(); });
}

core::Owner DockerManagerService::OwnerOf(const GuardedCall& call) {
  // Without ownership nothing is labelled or checked (and builds keep their
  // step count: the engine applies build labels as one more step).
  if (!call.settings().ownership) return core::Owner{};
  return core::Owner{call.caller().identity, !call.sees_everything()};
}

grpc::Status DockerManagerService::Ping(grpc::ServerContext* context, const dkd::v1::PingRequest*,
                                        dkd::v1::PingResponse* response) {
  return gatekeeper_->Serve(context, "/dkd.v1.DockerManager/Ping", "", [&](GuardedCall&) {
    auto result = manager_->Ping();
    if (!result.ok()) return result.status();
    response->set_daemon_version(std::string(kDaemonVersion));
    response->set_engine_version(result->engine.version);
    response->set_api_version(result->api_version);
    response->set_engine_min_api_version(result->engine.min_api_version);
    response->set_os(result->engine.os);
    response->set_arch(result->engine.arch);
    response->set_kernel_version(result->engine.kernel_version);
    response->set_engine_git_commit(result->engine.git_commit);
    return absl::OkStatus();
  });
}

grpc::Status DockerManagerService::GetEngineInfo(grpc::ServerContext* context,
                                                 const dkd::v1::GetEngineInfoRequest*,
                                                 dkd::v1::EngineInfo* response) {
  return gatekeeper_->Serve(context, "/dkd.v1.DockerManager/GetEngineInfo", "", [&](GuardedCall&) {
    auto info = manager_->Info();
    if (!info.ok()) return info.status();
    EngineInfoFromJson(*info, response);
    return absl::OkStatus();
  });
}

grpc::ServerBidiReactor<dkd::v1::BuildImageRequest, BuildEvent>* DockerManagerService::BuildImage(
    grpc::CallbackServerContext* context) {
  return StartBuildImage(gatekeeper_, this, context);
}

absl::Status DockerManagerService::BuildImageAs(
    grpc::ServerContextBase* context, const dkd::v1::BuildSpec& spec,
    grpc::ServerReaderWriterInterface<BuildEvent, dkd::v1::BuildImageRequest>* stream,
    const core::Owner& owner, int64_t max_context_bytes) {
  core::BuildRequest request = FromProto(spec);
  if (static_cast<size_t>(spec.secrets_size()) != request.secrets.size()) {
    return absl::InvalidArgumentError("secrets: each secret id may be given once");
  }
  request.owner = owner;
  request.max_context_bytes = max_context_bytes;
  // Context chunks are read as the engine asks for them: never held whole.
  BuildContextReader chunks([stream](dkd::v1::BuildImageRequest* msg) { return stream->Read(msg); },
                            max_context_bytes, &gatekeeper_->metrics());
  core::ContextReader reader = [&chunks](char* buf, size_t len) { return chunks.Read(buf, len); };
  // The step a failure is reported at: the last classic step begun, or the
  // first BuildKit vertex that completed with an error.
  dkd::v1::BuildFailure failure;
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
        failure.set_step(absl::StrCat("Step ", e.step, "/", e.total, " : ", e.instruction));
        break;
      case core::BuildEvent::Kind::kPullProgress:
        ToProto(e.progress, out.mutable_pull_progress());
        break;
      case core::BuildEvent::Kind::kPushProgress:
        ToProto(e.progress, out.mutable_push_progress());
        break;
      case core::BuildEvent::Kind::kTrace: {
        std::vector<BuildEvent> events;
        if (absl::Status s = AppendBuildKitTraceEvents(e.text, &events); !s.ok()) {
          events = {UndecodableTraceEvent(s)};
        }
        for (const BuildEvent& event : events) {
          // The first vertex to fail is the cause; steps BuildKit cancels
          // because of it report errors after it.
          if (event.has_vertex() && !event.vertex().error().empty() &&
              failure.vertex_digest().empty()) {
            failure.set_step(event.vertex().name());
            failure.set_vertex_digest(event.vertex().digest());
            failure.set_exit_code(StepExitCode(event.vertex().error()));
          }
          if (!stream->Write(event)) return false;
        }
        return true;
      }
    }
    return stream->Write(out);
  };
  core::CancelToken cancel;
  CancelWatcher watcher(context, &cancel);
  auto result = manager_->Build(request, reader, on_event, &cancel);
  if (!result.ok()) {
    // A build that ran and failed at a step (not a refusal before the engine,
    // a cancel or a lost engine) ends with its typed failure.
    if (result.status().code() == absl::StatusCode::kFailedPrecondition &&
        !failure.step().empty() && !context->IsCancelled()) {
      std::string message(result.status().message());
      if (failure.vertex_digest().empty()) {
        failure.set_exit_code(StepExitCode(message));
      } else if (absl::string_view rest = message; absl::ConsumePrefix(&rest, "build failed: ")) {
        // The engine's BuildKit error names the command, not the step: say
        // which step, as the classic builder's message does.
        message = absl::StrCat("build failed at ", failure.step(), ": ", rest);
      }
      failure.set_message(message);
      BuildEvent last;
      *last.mutable_failure() = failure;
      stream->Write(last);
      return StreamStatus(context, absl::FailedPreconditionError(message));
    }
    return StreamStatus(context, result.status());
  }
  BuildEvent done;
  auto* r = done.mutable_result();
  r->set_image_id(result->image_id);
  for (const auto& t : result->tags) r->add_tags(t);
  r->set_duration_ms(result->duration_ms);
  r->set_context_bytes(result->context_bytes);
  for (const auto& d : result->pushed_digests) r->add_pushed_digests(d);
  r->set_builder(result->builder == core::BuildRequest::Builder::kBuildKit
                     ? dkd::v1::BuildSpec::BUILDER_BUILDKIT
                     : dkd::v1::BuildSpec::BUILDER_CLASSIC);
  stream->Write(done);
  return absl::OkStatus();
}

grpc::ServerWriteReactor<dkd::v1::ProgressEvent>* DockerManagerService::PushImage(
    grpc::CallbackServerContext* context, const dkd::v1::PushImageRequest* request) {
  return StartPushImage(gatekeeper_, manager_.get(), context, request);
}

grpc::ServerWriteReactor<dkd::v1::ProgressEvent>* DockerManagerService::PullImage(
    grpc::CallbackServerContext* context, const dkd::v1::PullImageRequest* request) {
  return StartPullImage(gatekeeper_, manager_.get(), context, request);
}

grpc::Status DockerManagerService::RunContainer(grpc::ServerContext* context,
                                                const dkd::v1::RunContainerRequest* request,
                                                dkd::v1::RunContainerResponse* response) {
  std::string target = request->config().image_name();
  if (!request->config().tag().empty()) absl::StrAppend(&target, ":", request->config().tag());
  if (!request->name().empty()) target = absl::StrCat(request->name(), " (", target, ")");
  return gatekeeper_->Serve(
      context, "/dkd.v1.DockerManager/RunContainer", target, [&](GuardedCall& call) {
        // The owner label is always dkd's to set: a client cannot claim
        // another identity.
        dkd::v1::RunContainerRequest labelled = *request;
        (*labelled.mutable_config()->mutable_labels())[kOwnerLabel] = call.caller().identity;
        core::CancelToken cancel;
        CancelWatcher watcher(context, &cancel);
        core::RunRequest run = FromProto(labelled);
        run.owner = OwnerOf(call);
        auto r = manager_->Run(run, &cancel);
        if (!r.ok()) return r.status();
        response->set_id(r->id);
        response->set_name(r->name);
        response->set_status(r->status);
        response->set_exit_code(r->exit_code);
        response->set_stdout(r->stdout_data);
        response->set_stderr(r->stderr_data);
        response->set_output_truncated(r->output_truncated);
        for (const auto& w : r->warnings) response->add_warnings(w);
        response->set_pulled(r->pulled);
        call.set_target(absl::StrCat(response->name(), " ", response->id()));
        return absl::OkStatus();
      });
}

grpc::ServerUnaryReactor* DockerManagerService::WaitContainer(
    grpc::CallbackServerContext* context, const dkd::v1::WaitContainerRequest* request,
    dkd::v1::WaitContainerResponse* response) {
  return StartWaitContainer(gatekeeper_, waiter_.get(), context, request, response,
                            [this](const GuardedCall& call, const std::string& id) {
                              return manager_->OwnedContainer(id, OwnerOf(call)).status();
                            });
}

grpc::Status DockerManagerService::ListContainers(grpc::ServerContext* context,
                                                  const dkd::v1::ListContainersRequest* request,
                                                  dkd::v1::ListContainersResponse* response) {
  return gatekeeper_->Serve(
      context, "/dkd.v1.DockerManager/ListContainers", "", [&](GuardedCall& call) {
        core::ListContainersRequest r;
        r.show_all = request->show_all();
        r.label_filters.assign(request->label_filters().begin(), request->label_filters().end());
        // Under ownership, without admin, only the caller's own containers.
        if (!call.sees_everything()) {
          r.label_filters.push_back(absl::StrCat(kOwnerLabel, "=", call.caller().identity));
        }
        r.name_filters.assign(request->name_filters().begin(), request->name_filters().end());
        r.status_filters.assign(request->status_filters().begin(), request->status_filters().end());
        r.limit = request->limit();
        auto list = manager_->ListContainers(r);
        if (!list.ok()) return list.status();
        for (const auto& c : *list) ToProto(c, response->add_containers());
        return absl::OkStatus();
      });
}

grpc::Status DockerManagerService::InspectContainer(grpc::ServerContext* context,
                                                    const dkd::v1::InspectContainerRequest* request,
                                                    dkd::v1::ContainerDetails* response) {
  return gatekeeper_->Serve(context, "/dkd.v1.DockerManager/InspectContainer", request->id(),
                            [&](GuardedCall& call) {
                              auto id = manager_->OwnedContainer(request->id(), OwnerOf(call));
                              if (!id.ok()) return id.status();
                              auto j = manager_->InspectContainer(*id);
                              if (!j.ok()) return j.status();
                              ContainerDetailsFromJson(*j, response);
                              return absl::OkStatus();
                            });
}

grpc::Status DockerManagerService::StopContainer(grpc::ServerContext* context,
                                                 const dkd::v1::StopContainerRequest* request,
                                                 dkd::v1::StopContainerResponse* response) {
  return gatekeeper_->Serve(context, "/dkd.v1.DockerManager/StopContainer", request->id(),
                            [&](GuardedCall& call) {
                              auto id = manager_->OwnedContainer(request->id(), OwnerOf(call));
                              if (!id.ok()) return id.status();
                              std::optional<int> timeout;
                              if (request->has_timeout_seconds()) {
                                timeout = request->timeout_seconds().value();
                              }
                              auto already = manager_->Stop(*id, timeout);
                              if (!already.ok()) return already.status();
                              response->set_id(request->id());
                              response->set_already_stopped(*already);
                              return absl::OkStatus();
                            });
}

grpc::Status DockerManagerService::RemoveContainer(grpc::ServerContext* context,
                                                   const dkd::v1::RemoveContainerRequest* request,
                                                   dkd::v1::RemoveContainerResponse* response) {
  return gatekeeper_->Serve(
      context, "/dkd.v1.DockerManager/RemoveContainer", request->id(), [&](GuardedCall& call) {
        auto id = manager_->OwnedContainer(request->id(), OwnerOf(call));
        if (!id.ok()) return id.status();
        absl::Status s = manager_->Remove(*id, request->force(), request->remove_volumes());
        if (!s.ok()) return s;
        response->set_id(request->id());
        return absl::OkStatus();
      });
}

grpc::ServerWriteReactor<dkd::v1::LogEntry>* DockerManagerService::ContainerLogs(
    grpc::CallbackServerContext* context, const dkd::v1::ContainerLogsRequest* request) {
  return StartContainerLogs(gatekeeper_, manager_.get(), context, request);
}

grpc::Status DockerManagerService::ListImages(grpc::ServerContext* context,
                                              const dkd::v1::ListImagesRequest* request,
                                              dkd::v1::ListImagesResponse* response) {
  return gatekeeper_->Serve(context, "/dkd.v1.DockerManager/ListImages", "", [&](GuardedCall&) {
    core::ListImagesRequest r;
    r.all = request->all();
    r.label_filters.assign(request->label_filters().begin(), request->label_filters().end());
    r.reference = request->reference();
    r.dangling = request->dangling();
    auto list = manager_->ListImages(r);
    if (!list.ok()) return list.status();
    for (const auto& i : *list) ToProto(i, response->add_images());
    return absl::OkStatus();
  });
}

grpc::Status DockerManagerService::InspectImage(grpc::ServerContext* context,
                                                const dkd::v1::InspectImageRequest* request,
                                                dkd::v1::ImageDetails* response) {
  return gatekeeper_->Serve(context, "/dkd.v1.DockerManager/InspectImage", request->image(),
                            [&](GuardedCall&) {
                              auto j = manager_->InspectImage(request->image());
                              if (!j.ok()) return j.status();
                              ImageDetailsFromJson(*j, response);
                              return absl::OkStatus();
                            });
}

grpc::Status DockerManagerService::RemoveImage(grpc::ServerContext* context,
                                               const dkd::v1::RemoveImageRequest* request,
                                               dkd::v1::RemoveImageResponse* response) {
  return gatekeeper_->Serve(
      context, "/dkd.v1.DockerManager/RemoveImage", request->image(), [&](GuardedCall&) {
        auto r = manager_->RemoveImage(request->image(), request->force(), request->no_prune());
        if (!r.ok()) return r.status();
        for (const auto& u : r->untagged) response->add_untagged(u);
        for (const auto& d : r->deleted) response->add_deleted(d);
        return absl::OkStatus();
      });
}

grpc::ServerWriteReactor<dkd::v1::EngineEvent>* DockerManagerService::StreamEvents(
    grpc::CallbackServerContext* context, const dkd::v1::StreamEventsRequest* request) {
  return StartStreamEvents(gatekeeper_, manager_.get(), context, request);
}

}  // namespace dkd::server
