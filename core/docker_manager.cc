#include "core/docker_manager.h"

#include <utility>

#include "core/status_macros.h"

namespace dkd::core {

DockerManager::DockerManager(std::shared_ptr<EngineClient> engine) : engine_(std::move(engine)) {}

absl::StatusOr<PingResult> DockerManager::Ping() {
  PingResult out;
  ASSIGN_OR_RETURN(out.engine, engine_->Version());
  out.api_version = engine_->ApiVersion();
  return out;
}

}  // namespace dkd::core
