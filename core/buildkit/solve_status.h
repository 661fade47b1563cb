// BuildKit's progress messages (moby.buildkit.v1.StatusResponse) as plain
// structs, decoded from the engine's `moby.buildkit.trace` build stream lines.
//
// With `POST /build?version=2` the engine sends each StatusResponse as the
// base64 `aux` of a `{"id":"moby.buildkit.trace"}` JSON message. A response
// carries only what changed: vertexes (build steps: digest, inputs, name,
// cached, started, completed, error), statuses (progress of one part of a
// vertex, e.g. "transferring context"), logs (a vertex's stdout/stderr) and
// warnings. Field numbers are those of BuildKit's control.proto; unknown
// fields are skipped, so a newer engine's extra fields are harmless.
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"
#include "absl/time/time.h"

namespace dkd::core::buildkit {

struct Vertex {
  std::string digest;
  std::vector<std::string> inputs;  // Digests of the vertexes it depends on.
  std::string name;                 // e.g. "[2/3] RUN make".
  bool cached = false;
  std::optional<absl::Time> started;
  std::optional<absl::Time> completed;
  std::string error;  // Set when the vertex failed.
};

struct VertexStatus {
  std::string id;      // e.g. "transferring context", "sha256:<layer>".
  std::string vertex;  // The vertex's digest.
  std::string name;
  int64_t current = 0;
  int64_t total = 0;
  absl::Time timestamp = absl::UnixEpoch();
  std::optional<absl::Time> started;
  std::optional<absl::Time> completed;
};

struct VertexLog {
  std::string vertex;
  absl::Time timestamp = absl::UnixEpoch();
  int64_t stream = 0;  // 1 stdout, 2 stderr.
  std::string data;
};

struct VertexWarning {
  std::string vertex;
  int64_t level = 0;
  std::string short_text;
  std::vector<std::string> detail;
  std::string url;
};

struct SolveStatus {
  std::vector<Vertex> vertexes;
  std::vector<VertexStatus> statuses;
  std::vector<VertexLog> logs;
  std::vector<VertexWarning> warnings;
};

// Decodes one serialized StatusResponse. InvalidArgument on malformed bytes.
absl::StatusOr<SolveStatus> DecodeSolveStatus(absl::string_view bytes);

// Decodes the base64 `aux` string of a `moby.buildkit.trace` message.
absl::StatusOr<SolveStatus> DecodeTraceAux(absl::string_view base64);

}  // namespace dkd::core::buildkit
