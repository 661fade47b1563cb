// DockerManager: the spec's container and image lifecycle operations over a
// Docker Engine, as a plain C++ library (no gRPC).
//
// Every method validates its input before touching the engine and returns
// InvalidArgument naming the field and the rule; engine failures keep the
// engine's message (see StatusFromEngineHttp). An unreachable engine is
// Unavailable, and the next call tries again, so the manager recovers by
// itself when the engine comes back. Thread-safe.
#pragma once

#include <map>
#include <memory>
#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "core/engine_client.h"

namespace dkd::core {

// The spec's ContainerConfig dataclass, field for field.
struct ContainerConfig {
  std::string image_name;
  std::string tag = "latest";
  std::string dockerfile_path;  // "" = "Dockerfile".
  std::string build_context = ".";
  std::map<std::string, std::string> build_args;
  std::map<std::string, std::string> environment;
  std::map<std::string, std::string> ports;
  std::map<std::string, std::string> volumes;
  std::vector<std::string> networks;
  std::string restart_policy = "no";
  std::map<std::string, std::string> labels;
};

struct PingResult {
  EngineVersion engine;
  std::string api_version;  // Negotiated.
};

class DockerManager {
 public:
  explicit DockerManager(std::shared_ptr<EngineClient> engine);

  // Engine version facts and the negotiated API version. Unavailable when the
  // engine does not answer.
  absl::StatusOr<PingResult> Ping();

  EngineClient& engine() { return *engine_; }

 private:
  std::shared_ptr<EngineClient> engine_;
};

}  // namespace dkd::core
