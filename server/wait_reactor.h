// StartWaitContainer: serves one WaitContainer call with gRPC's callback API.
//
// The call is admitted like every other (GuardedCall: authentication, role,
// the per-identity call cap, the default deadline), checked with
// `check_owner`, then handed to a ContainerWaiter, so while it waits it holds
// no thread. Whoever completes it first (the waiter, dkd's deadline, the
// client going away, shutdown) finishes it exactly once. Thread-safe.
#pragma once

#include <grpcpp/support/server_callback.h>

#include <functional>
#include <string>

#include "dkd/v1/docker_manager.pb.h"
#include "server/container_waiter.h"
#include "server/gatekeeper.h"

namespace dkd::server {

// OK when the caller may wait on container `id`.
using OwnerCheck = std::function<absl::Status(const GuardedCall& call, const std::string& id)>;

grpc::ServerUnaryReactor* StartWaitContainer(Gatekeeper* gatekeeper, ContainerWaiter* waiter,
                                             grpc::CallbackServerContext* context,
                                             const dkd::v1::WaitContainerRequest* request,
                                             dkd::v1::WaitContainerResponse* response,
                                             const OwnerCheck& check_owner);

}  // namespace dkd::server
