// BuildKit trace adapter: one `moby.buildkit.trace` build stream line (the
// base64 `aux` of a serialized moby.buildkit.v1.StatusResponse) becomes the
// BuildEvents dkd streams to its client: vertexes, their logs, status
// progress and warnings.
//
// Decoding is protobuf against proto/moby/buildkit/v1/status.proto; a payload
// that is not base64 or not a StatusResponse is InvalidArgument, never a
// crash (the caller reports it as a warning event and the build goes on).
// Pure functions.
#pragma once

#include <vector>

#include "absl/status/status.h"
#include "absl/strings/string_view.h"
#include "dkd/v1/docker_manager.pb.h"

namespace dkd::server {

// Appends the events of one trace payload to `out`, in the payload's order:
// steps still running, then statuses and logs, then the steps this message
// completes (so their end follows their last output), then warnings.
absl::Status AppendBuildKitTraceEvents(absl::string_view base64_aux,
                                       std::vector<dkd::v1::BuildEvent>* out);

// The warning event for a payload AppendBuildKitTraceEvents refused.
dkd::v1::BuildEvent UndecodableTraceEvent(const absl::Status& why);

// The exit code in an engine's step error: BuildKit's "...: exit code: 7" or
// the classic builder's "...returned a non-zero code: 7"; -1 when none.
int StepExitCode(absl::string_view error);

}  // namespace dkd::server
