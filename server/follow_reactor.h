// ContainerLogs, StreamEvents, PushImage and PullImage served with gRPC's
// callback API.
//
// A followed stream waits on the engine for as long as the client likes. Each
// call here is a write reactor fed by core::DockerManager's async streams
// (core/engine/engine_stream_loop.h), so an open stream holds no thread: 1,000
// follows cost descriptors and a little memory, not 2,000 threads. Pushes and
// pulls are the same: the engine streams their progress while it transfers.
//
// Every call is admitted like any other (GuardedCall: authentication, role,
// stream caps, request id, audit), is registered for shutdown (which ends it
// with UNAVAILABLE "dkd is shutting down"; a push or pull may instead finish
// within the shutdown grace), and ends when the engine stream
// ends, the client goes away or dkd's deadline for it passes. Writes go one
// at a time; when 256 KiB wait behind a slow reader, reading from the engine
// pauses until they drain below 64 KiB, so memory per stream stays bounded
// whatever the container prints. Thread-safe.
#pragma once

#include <grpcpp/support/server_callback.h>

#include "core/docker/docker_manager.h"
#include "dkd/v1/docker_manager.pb.h"
#include "server/gatekeeper.h"

namespace dkd::server {

// Under ownership, a caller without admin reads only its own containers'
// logs (others are NOT_FOUND) and only events of what it owns.
grpc::ServerWriteReactor<dkd::v1::LogEntry>* StartContainerLogs(
    Gatekeeper* gatekeeper, core::DockerManager* manager, grpc::CallbackServerContext* context,
    const dkd::v1::ContainerLogsRequest* request);

grpc::ServerWriteReactor<dkd::v1::EngineEvent>* StartStreamEvents(
    Gatekeeper* gatekeeper, core::DockerManager* manager, grpc::CallbackServerContext* context,
    const dkd::v1::StreamEventsRequest* request);

grpc::ServerWriteReactor<dkd::v1::ProgressEvent>* StartPushImage(
    Gatekeeper* gatekeeper, core::DockerManager* manager, grpc::CallbackServerContext* context,
    const dkd::v1::PushImageRequest* request);

// Under ownership, a caller without admin may not re-point a tag another
// identity owns (core/policy/ownership.h).
grpc::ServerWriteReactor<dkd::v1::ProgressEvent>* StartPullImage(
    Gatekeeper* gatekeeper, core::DockerManager* manager, grpc::CallbackServerContext* context,
    const dkd::v1::PullImageRequest* request);

}  // namespace dkd::server
