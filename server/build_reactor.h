// BuildImage served with gRPC's callback API: a queued build holds no thread.
//
// The call is admitted (GuardedCall), its first message (the BuildSpec) is
// read, and it joins the build queue without a thread: the queue tells it its
// position (BuildEvent.queued) and hands it a slot in arrival order. Only
// then does the build run, on a thread of its own, through
// DockerManagerService::BuildImageAs reading the context chunks and writing
// events with back-pressure (server/queued_writer.h). So threads for builds
// are bounded by the build slots, however many wait. A call cancelled, out
// of time or refused by shutdown while queued leaves the queue and is audited
// with its code and target. Thread-safe.
#pragma once

#include <grpcpp/support/server_callback.h>

#include <functional>

#include "core/policy/ownership.h"
#include "dkd/v1/docker_manager.pb.h"
#include "server/docker_manager_service.h"
#include "server/gatekeeper.h"

namespace dkd::server {

// `owner_of` gives the Owner builds act for (core/policy/ownership.h).
grpc::ServerBidiReactor<dkd::v1::BuildImageRequest, dkd::v1::BuildEvent>* StartBuildImage(
    Gatekeeper* gatekeeper, DockerManagerService* inner, grpc::CallbackServerContext* context,
    std::function<core::Owner(const GuardedCall&)> owner_of);

}  // namespace dkd::server
