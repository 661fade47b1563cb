// ToGrpcStatus (status_map.h): absl::Status to grpc::Status.
#include "server/status_map.h"

#include <string>

namespace dkd::server {

grpc::Status ToGrpcStatus(const absl::Status& status) {
  if (status.ok()) return grpc::Status::OK;
  // absl and gRPC share the canonical code numbering (0-16).
  return grpc::Status(static_cast<grpc::StatusCode>(status.code()), std::string(status.message()));
}

}  // namespace dkd::server
