// The one place where absl::Status becomes grpc::Status: same code, same message.
#pragma once

#include <grpcpp/support/status.h>

#include "absl/status/status.h"

namespace dkd::server {

// Maps `status` to the gRPC status with the same canonical code and message.
grpc::Status ToGrpcStatus(const absl::Status& status);

}  // namespace dkd::server
