// ContainerLogs, StreamEvents, PushImage and PullImage as write reactors fed by engine streams.
#include "server/follow_reactor.h"

#include <memory>
#include <string>
#include <utility>

#include "absl/strings/str_cat.h"
#include "server/docker_convert.h"
#include "server/queued_writer.h"

namespace dkd::server {
namespace {

template <typename Out>
using FollowReactor = QueuedWriter<grpc::ServerWriteReactor<Out>, Out>;

// Admits the call and starts its engine stream with `start(reactor)`, which
// returns the stream or why it could not start.
template <typename Out, typename Start>
grpc::ServerWriteReactor<Out>* Serve(Gatekeeper* gatekeeper, grpc::CallbackServerContext* context,
                                     const char* method, const std::string& target,
                                     bool end_at_shutdown, Start start) {
  auto* r =
      new FollowReactor<Out>(gatekeeper, context, absl::StrCat("/dkd.v1.DockerManager/", method));
  if (r->Admit(target, end_at_shutdown)) {
    absl::StatusOr<std::shared_ptr<core::AsyncCall>> engine = start(r);
    if (engine.ok()) {
      r->call().DetachFromThread();
      r->Ready(*std::move(engine));
      return r;
    }
    r->FinishNow(engine.status());
  }
  r->call().DetachFromThread();
  return r;
}

// The producer callback that converts each core item and queues it.
template <typename Out>
auto Pusher(FollowReactor<Out>* r) {
  return [r](const auto& item) {
    Out out;
    ToProto(item, &out);
    return r->Push(std::move(out));
  };
}

template <typename Out>
auto Ender(FollowReactor<Out>* r) {
  return [r](const absl::Status& s) { r->EngineEnded(s); };
}

}  // namespace

grpc::ServerWriteReactor<dkd::v1::LogEntry>* StartContainerLogs(
    Gatekeeper* gatekeeper, core::DockerManager* manager, grpc::CallbackServerContext* context,
    const dkd::v1::ContainerLogsRequest* request) {
  return Serve<dkd::v1::LogEntry>(
      gatekeeper, context, "ContainerLogs", request->id(), /*end_at_shutdown=*/true,
      [&](FollowReactor<dkd::v1::LogEntry>* r) {
        const GuardedCall& call = r->call();
        const core::Owner reader{call.caller().identity, !call.sees_everything()};
        return manager->LogsAsync(FromProto(*request), reader, Pusher(r), Ender(r));
      });
}

grpc::ServerWriteReactor<dkd::v1::EngineEvent>* StartStreamEvents(
    Gatekeeper* gatekeeper, core::DockerManager* manager, grpc::CallbackServerContext* context,
    const dkd::v1::StreamEventsRequest* request) {
  return Serve<dkd::v1::EngineEvent>(
      gatekeeper, context, "StreamEvents", "", /*end_at_shutdown=*/true,
      [&](FollowReactor<dkd::v1::EngineEvent>* r) {
        const GuardedCall& call = r->call();
        core::EventsRequest events = FromProto(*request);
        if (!call.sees_everything()) {
          events.filters.push_back(
              absl::StrCat("label=", core::kOwnerLabel, "=", call.caller().identity));
        }
        return manager->EventsAsync(events, Pusher(r), Ender(r));
      });
}

grpc::ServerWriteReactor<dkd::v1::ProgressEvent>* StartPushImage(
    Gatekeeper* gatekeeper, core::DockerManager* manager, grpc::CallbackServerContext* context,
    const dkd::v1::PushImageRequest* request) {
  return Serve<dkd::v1::ProgressEvent>(
      gatekeeper, context, "PushImage", request->image(), /*end_at_shutdown=*/false,
      [&](FollowReactor<dkd::v1::ProgressEvent>* r) {
        return manager->PushAsync(
            request->image(), FromProto(request->auth()), Pusher(r),
            [r](absl::StatusOr<core::Progress> last) { r->EngineEnded(last.status()); });
      });
}

grpc::ServerWriteReactor<dkd::v1::ProgressEvent>* StartPullImage(
    Gatekeeper* gatekeeper, core::DockerManager* manager, grpc::CallbackServerContext* context,
    const dkd::v1::PullImageRequest* request) {
  return Serve<dkd::v1::ProgressEvent>(
      gatekeeper, context, "PullImage", request->image(), /*end_at_shutdown=*/false,
      [&](FollowReactor<dkd::v1::ProgressEvent>* r) {
        const GuardedCall& call = r->call();
        // Without ownership nothing is checked (core/policy/ownership.h).
        const core::Owner owner = call.settings().ownership
                                      ? core::Owner{call.caller().identity, !call.sees_everything()}
                                      : core::Owner{};
        return manager->PullAsync(request->image(), FromProto(request->auth()), request->platform(),
                                  owner, Pusher(r), [r](absl::StatusOr<core::Progress> last) {
                                    // The final event names what was pulled.
                                    if (last.ok()) Pusher(r)(*last);
                                    r->EngineEnded(last.status());
                                  });
      });
}

}  // namespace dkd::server
