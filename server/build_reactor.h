// BuildImage served with gRPC's callback API: a queued build holds no thread.
//
// The call is admitted (GuardedCall), its first message (the BuildSpec) is
// read (its image:tag becomes the audit target; a context_size_hint over
// limits.max_context_bytes is refused here with RESOURCE_EXHAUSTED naming the
// limit), and it joins the build queue without a thread: the queue tells it its
// position (BuildEvent.queued) and hands it a slot in arrival order. Only
// then does the build run, on a thread of its own, through
// DockerManagerService::BuildImageAs reading the context chunks (counted and
// limited where they are read, server/build_context_reader.h) and writing
// events with back-pressure (server/queued_writer.h). So threads for builds
// are bounded by the build slots, however many wait. A call cancelled, out
// of time or refused by shutdown while queued leaves the queue and is audited
// with its code and target. Thread-safe.
#pragma once

#include <grpcpp/support/server_callback.h>

#include "dkd/v1/docker_manager.pb.h"
#include "server/docker_manager_service.h"
#include "server/gatekeeper.h"

namespace dkd::server {

// Serves one BuildImage call; builds run through `service`.
grpc::ServerBidiReactor<dkd::v1::BuildImageRequest, dkd::v1::BuildEvent>* StartBuildImage(
    Gatekeeper* gatekeeper, DockerManagerService* service, grpc::CallbackServerContext* context);

}  // namespace dkd::server
