#include "server/follow_reactor.h"

#include <memory>
#include <utility>

#include "absl/strings/str_cat.h"
#include "server/docker_convert.h"
#include "server/queued_writer.h"
#include "server/status_map.h"

namespace dkd::server {
namespace {

template <typename Out>
using FollowReactor = QueuedWriter<grpc::ServerWriteReactor<Out>, Out>;

}  // namespace

grpc::ServerWriteReactor<dkd::v1::LogEntry>* StartContainerLogs(
    Gatekeeper* gatekeeper, core::DockerManager* manager, grpc::CallbackServerContext* context,
    const dkd::v1::ContainerLogsRequest* request) {
  auto* r = new FollowReactor<dkd::v1::LogEntry>(gatekeeper, context,
                                                 "/dkd.v1.DockerManager/ContainerLogs");
  if (r->Admit(request->id(), /*end_at_shutdown=*/true)) {
    const GuardedCall& call = r->call();
    const core::Owner reader{call.caller().identity, !call.sees_everything()};
    auto engine = manager->LogsAsync(
        FromProto(*request), reader,
        [r](core::LogChunk c) {
          dkd::v1::LogEntry e;
          ToProto(c, &e);
          return r->Push(std::move(e));
        },
        [r](absl::Status s) { r->EngineEnded(std::move(s)); });
    if (engine.ok()) {
      r->call().DetachFromThread();
      r->Ready(*std::move(engine));
      return r;
    }
    r->FinishNow(ToGrpcStatus(engine.status()));
  }
  r->call().DetachFromThread();
  return r;
}

grpc::ServerWriteReactor<dkd::v1::EngineEvent>* StartStreamEvents(
    Gatekeeper* gatekeeper, core::DockerManager* manager, grpc::CallbackServerContext* context,
    const dkd::v1::StreamEventsRequest* request) {
  auto* r = new FollowReactor<dkd::v1::EngineEvent>(gatekeeper, context,
                                                    "/dkd.v1.DockerManager/StreamEvents");
  if (r->Admit("", /*end_at_shutdown=*/true)) {
    const GuardedCall& call = r->call();
    core::EventsRequest events = FromProto(*request);
    if (!call.sees_everything()) {
      events.filters.push_back(absl::StrCat("label=", core::kOwnerLabel, "=", call.caller().identity));
    }
    auto engine = manager->EventsAsync(
        events,
        [r](core::EngineEvent e) {
          dkd::v1::EngineEvent out;
          ToProto(e, &out);
          return r->Push(std::move(out));
        },
        [r](absl::Status s) { r->EngineEnded(std::move(s)); });
    if (engine.ok()) {
      r->call().DetachFromThread();
      r->Ready(*std::move(engine));
      return r;
    }
    r->FinishNow(ToGrpcStatus(engine.status()));
  }
  r->call().DetachFromThread();
  return r;
}

grpc::ServerWriteReactor<dkd::v1::ProgressEvent>* StartPushImage(
    Gatekeeper* gatekeeper, core::DockerManager* manager, grpc::CallbackServerContext* context,
    const dkd::v1::PushImageRequest* request) {
  auto* r = new FollowReactor<dkd::v1::ProgressEvent>(gatekeeper, context,
                                                      "/dkd.v1.DockerManager/PushImage");
  if (r->Admit(request->image(), /*end_at_shutdown=*/false)) {
    auto engine = manager->PushAsync(
        request->image(), FromProto(request->auth()),
        [r](const core::Progress& p) {
          dkd::v1::ProgressEvent e;
          ToProto(p, &e);
          return r->Push(std::move(e));
        },
        [r](absl::StatusOr<core::Progress> last) { r->EngineEnded(last.status()); });
    if (engine.ok()) {
      r->call().DetachFromThread();
      r->Ready(*std::move(engine));
      return r;
    }
    r->FinishNow(ToGrpcStatus(engine.status()));
  }
  r->call().DetachFromThread();
  return r;
}

grpc::ServerWriteReactor<dkd::v1::ProgressEvent>* StartPullImage(
    Gatekeeper* gatekeeper, core::DockerManager* manager, grpc::CallbackServerContext* context,
    const dkd::v1::PullImageRequest* request) {
  auto* r = new FollowReactor<dkd::v1::ProgressEvent>(gatekeeper, context,
                                                      "/dkd.v1.DockerManager/PullImage");
  if (r->Admit(request->image(), /*end_at_shutdown=*/false)) {
    const GuardedCall& call = r->call();
    // Without ownership nothing is checked (core/ownership.h).
    const core::Owner owner = call.settings().ownership
                                  ? core::Owner{call.caller().identity, !call.sees_everything()}
                                  : core::Owner{};
    auto engine = manager->PullAsync(
        request->image(), FromProto(request->auth()), request->platform(), owner,
        [r](const core::Progress& p) {
          dkd::v1::ProgressEvent e;
          ToProto(p, &e);
          return r->Push(std::move(e));
        },
        [r](absl::StatusOr<core::Progress> last) {
          if (last.ok()) {
            // The final event names what was pulled: tag and digest.
            dkd::v1::ProgressEvent e;
            ToProto(*last, &e);
            r->Push(std::move(e));
          }
          r->EngineEnded(last.status());
        });
    if (engine.ok()) {
      r->call().DetachFromThread();
      r->Ready(*std::move(engine));
      return r;
    }
    r->FinishNow(ToGrpcStatus(engine.status()));
  }
  r->call().DetachFromThread();
  return r;
}

}  // namespace dkd::server
