// How dkd's answers come back to callers of the client library: the one map
// from grpc::Status to absl::Status, the reading of UNAVAILABLE, and the mark
// on errors that happened on this side of the connection.
#pragma once

#include <grpcpp/support/status.h>

#include "absl/status/status.h"
#include "absl/strings/string_view.h"

namespace dkd::client {

// grpc::Status -> absl::Status with the same code and message. The only
// place the client library converts a gRPC status.
absl::Status FromGrpcStatus(const grpc::Status& status);

// True when an UNAVAILABLE comes from dkd itself rather than from a failed
// connection to dkd: the Docker Engine behind it is down or did not answer
// in time (dkd's engine bound has already waited), or dkd is shutting down.
bool IsDaemonUnavailable(const absl::Status& status);

// An error raised by the client itself (reading or sending the build context,
// say), not by dkd. Its message is complete and meant for the user as is.
absl::Status LocalError(absl::StatusCode code, absl::string_view message);
bool IsLocalError(const absl::Status& status);

}  // namespace dkd::client
