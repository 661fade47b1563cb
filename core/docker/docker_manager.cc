// DockerManager (docker_manager.h): construction, policy and list cache, Ping
// and Info, and the container list, inspect, stop, remove and wait.
#include "core/docker/docker_manager.h"

#include <utility>

#include "absl/strings/ascii.h"
#include "absl/strings/match.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "core/base/status_macros.h"
#include "core/base/validation.h"
#include "core/docker/container_spec.h"
#include "core/docker/docker_internal.h"
#include "core/engine/engine_streams.h"
#include "spdlog/spdlog.h"

namespace dkd::core {

namespace {

using internal::ValidateContainerRef;

// The engine's label filter: "key" (present) or "key=value" (equal).
bool LabelsMatch(const std::map<std::string, std::string>& labels,
                 const std::vector<std::string>& filters) {
  for (const auto& f : filters) {
    const size_t eq = f.find('=');
    auto it = labels.find(f.substr(0, eq));
    if (it == labels.end()) return false;
    if (eq != std::string::npos && it->second != f.substr(eq + 1)) return false;
  }
  return true;
}

}  // namespace

absl::Status StatusFromStreamError(const std::string& message, absl::StatusCode fallback) {
  const std::string lower = absl::AsciiStrToLower(message);
  if (absl::StrContains(lower, "unauthorized") ||
      absl::StrContains(lower, "authentication required") ||
      absl::StrContains(lower, "no basic auth credentials")) {
    return absl::UnauthenticatedError(message);
  }
  if (absl::StrContains(lower, "denied") || absl::StrContains(lower, "forbidden")) {
    return absl::PermissionDeniedError(message);
  }
  if (absl::StrContains(lower, "manifest unknown") || absl::StrContains(lower, "not found") ||
      absl::StrContains(lower, "does not exist") || absl::StrContains(lower, "no such image")) {
    return absl::NotFoundError(message);
  }
  if (absl::StrContains(lower, "connection refused") || absl::StrContains(lower, "no such host") ||
      absl::StrContains(lower, "i/o timeout")) {
    return absl::UnavailableError(message);
  }
  return absl::Status(fallback, message);
}

DockerManager::DockerManager(std::shared_ptr<DockerEngine> engine, RunPolicy policy)
    : engine_(std::move(engine)), policy_(std::move(policy)) {}

DockerManager::~DockerManager() {
  if (list_cache_) list_cache_->Stop();
}

void DockerManager::EnableListCache(absl::Duration max_age) {
  list_cache_ = std::make_unique<ContainerListCache>(engine_, max_age);
  list_cache_->Start();
}

void DockerManager::SetPolicy(RunPolicy policy) {
  absl::MutexLock lock(&mu_);
  policy_ = std::move(policy);
}

RunPolicy DockerManager::policy() const {
  absl::MutexLock lock(&mu_);
  return policy_;
}

absl::StatusOr<PingResult> DockerManager::Ping() {
  PingResult out;
  ASSIGN_OR_RETURN(out.engine, engine_->Version());
  out.api_version = engine_->ApiVersion();
  return out;
}

absl::StatusOr<EngineInfo> DockerManager::Info() { return engine_->Info(); }

absl::StatusOr<std::vector<ContainerSummary>> DockerManager::ListContainers(
    const ListContainersRequest& r) {
  std::map<std::string, std::vector<std::string>> filters;
  for (size_t i = 0; i < r.label_filters.size(); ++i) {
    const std::string& f = r.label_filters[i];
    const std::string key = f.substr(0, f.find('='));
    RETURN_IF_ERROR(ValidateLabelKey(absl::StrCat("label_filters[", i, "]"), key));
    filters["label"].push_back(f);
  }
  for (const auto& n : r.name_filters) filters["name"].push_back(n);
  static const char* kStates[] = {"created", "restarting", "running", "removing",
                                  "paused",  "exited",     "dead"};
  for (size_t i = 0; i < r.status_filters.size(); ++i) {
    bool known = false;
    for (const char* s : kStates) known = known || r.status_filters[i] == s;
    if (!known) {
      return absl::InvalidArgumentError(absl::StrCat(
          "status_filters[", i,
          "]: must be one of created, restarting, running, removing, paused, exited, dead"));
    }
    filters["status"].push_back(r.status_filters[i]);
  }
  if (r.limit < 0) return absl::InvalidArgumentError("limit: must not be negative");
  std::shared_ptr<const std::vector<ContainerSummary>> list;
  bool filter_here = false;
  if (list_cache_ && r.name_filters.empty() && r.status_filters.empty() && r.limit == 0) {
    ASSIGN_OR_RETURN(list, list_cache_->AllContainers());
    filter_here = true;
  } else {
    ContainerListOptions options;
    options.all = r.show_all;
    options.limit = r.limit;
    options.filters = filters;
    ASSIGN_OR_RETURN(std::vector<ContainerSummary> fetched, engine_->ListContainers(options));
    list = std::make_shared<const std::vector<ContainerSummary>>(std::move(fetched));
  }
  std::vector<ContainerSummary> out;
  for (const ContainerSummary& c : *list) {
    if (filter_here) {
      // As the engine does: without show_all only running (incl. paused and
      // restarting) containers; label filters all must match.
      const std::string& state = c.state;
      if (!r.show_all && state != "running" && state != "paused" && state != "restarting") continue;
      if (!LabelsMatch(c.labels, r.label_filters)) continue;
    }
    out.push_back(c);
  }
  return out;
}

absl::StatusOr<ContainerDetails> DockerManager::InspectContainer(const std::string& id) {
  RETURN_IF_ERROR(ValidateContainerRef("id", id));
  return engine_->InspectContainer(id);
}

absl::StatusOr<std::string> DockerManager::OwnedContainer(const std::string& id,
                                                          const Owner& owner) {
  RETURN_IF_ERROR(ValidateContainerRef("id", id));
  if (!owner.enforced) return id;
  ASSIGN_OR_RETURN(ContainerDetails c, engine_->InspectContainer(id));
  if (auto it = c.labels.find(kOwnerLabel);
      it != c.labels.end() && it->second == owner.identity && !owner.identity.empty()) {
    return c.id;
  }
  return absl::NotFoundError(absl::StrCat("No such container: ", id));
}

absl::StatusOr<bool> DockerManager::Stop(const std::string& id, std::optional<int> timeout) {
  RETURN_IF_ERROR(ValidateContainerRef("id", id));
  if (timeout.has_value()) RETURN_IF_ERROR(ValidateStopTimeout("timeout_seconds", *timeout));
  auto res = engine_->StopContainer(id, timeout);
  if (list_cache_) list_cache_->Invalidate();
  return res;
}

absl::Status DockerManager::Remove(const std::string& id, bool force, bool remove_volumes) {
  RETURN_IF_ERROR(ValidateContainerRef("id", id));
  absl::Status s = engine_->RemoveContainer(id, force, remove_volumes);
  if (list_cache_) list_cache_->Invalidate();
  return s;
}

absl::StatusOr<int> DockerManager::Wait(const std::string& id, const std::string& condition,
                                        CancelToken* cancel) {
  RETURN_IF_ERROR(ValidateContainerRef("id", id));
  if (!condition.empty() && condition != "not-running" && condition != "next-exit" &&
      condition != "removed") {
    return absl::InvalidArgumentError(
        "condition: must be \"not-running\", \"next-exit\" or \"removed\"");
  }
  ASSIGN_OR_RETURN(WaitResult waited, engine_->WaitContainer(id, condition, cancel));
  if (!waited.error.empty()) {
    return absl::InternalError(absl::StrCat("waiting for ", id, ": ", waited.error));
  }
  return waited.exit_code;
}

}  // namespace dkd::core
