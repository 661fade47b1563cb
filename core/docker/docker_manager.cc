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

using internal::ContainerPath;
using internal::FiltersJson;
using internal::StringMap;
using internal::ValidateContainerRef;

// The engine's label filter: "key" (present) or "key=value" (equal).
bool LabelsMatch(const nlohmann::json& labels, const std::vector<std::string>& filters) {
  for (const auto& f : filters) {
    const size_t eq = f.find('=');
    const std::string key = f.substr(0, eq);
    auto it = labels.is_object() ? labels.find(key) : labels.end();
    if (!labels.is_object() || it == labels.end()) return false;
    if (eq != std::string::npos &&
        (!it->is_string() || it->get<std::string>() != f.substr(eq + 1))) {
      return false;
    }
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

DockerManager::DockerManager(std::shared_ptr<EngineClient> engine, RunPolicy policy)
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

absl::StatusOr<nlohmann::json> DockerManager::Info() {
  EngineRequest req;
  req.path = "/info";
  return engine_->CallJson(req);
}

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
  std::shared_ptr<const nlohmann::json> list;
  bool filter_here = false;
  if (list_cache_ && r.name_filters.empty() && r.status_filters.empty() && r.limit == 0) {
    ASSIGN_OR_RETURN(list, list_cache_->AllContainers());
    filter_here = true;
  } else {
    EngineRequest req;
    req.path = "/containers/json";
    if (r.show_all) req.query.emplace_back("all", "1");
    if (r.limit > 0) req.query.emplace_back("limit", std::to_string(r.limit));
    if (!filters.empty()) req.query.emplace_back("filters", FiltersJson(filters).dump());
    ASSIGN_OR_RETURN(EngineResponse res, engine_->Call(req));
    ASSIGN_OR_RETURN(nlohmann::json j, ParseContainerList(res.body));
    list = std::make_shared<const nlohmann::json>(std::move(j));
  }
  const nlohmann::json& j = *list;
  std::vector<ContainerSummary> out;
  if (!j.is_array()) return out;
  for (const auto& c : j) {
    if (filter_here) {
      // As the engine does: without show_all only running (incl. paused and
      // restarting) containers; label filters all must match.
      const std::string state = c.value("State", "");
      if (!r.show_all && state != "running" && state != "paused" && state != "restarting") continue;
      if (!LabelsMatch(c.contains("Labels") ? c["Labels"] : nlohmann::json(), r.label_filters)) {
        continue;
      }
    }
    ContainerSummary s;
    s.id = c.value("Id", "");
    if (auto names = c.find("Names"); names != c.end() && names->is_array() && !names->empty()) {
      s.name = (*names)[0].get<std::string>();
      if (absl::StartsWith(s.name, "/")) s.name = s.name.substr(1);
    }
    s.image = c.value("Image", "");
    s.image_id = c.value("ImageID", "");
    s.command = c.value("Command", "");
    s.created = c.value("Created", int64_t{0});
    s.state = c.value("State", "");
    s.status = c.value("Status", "");
    if (auto ports = c.find("Ports"); ports != c.end() && ports->is_array()) {
      for (const auto& p : *ports) {
        s.ports.push_back({p.value("PrivatePort", 0), p.value("Type", ""), p.value("IP", ""),
                           p.value("PublicPort", 0)});
      }
    }
    if (auto l = c.find("Labels"); l != c.end()) s.labels = StringMap(*l);
    if (auto ns = c.find("NetworkSettings"); ns != c.end() && ns->is_object()) {
      if (auto nets = ns->find("Networks"); nets != ns->end() && nets->is_object()) {
        for (auto it = nets->begin(); it != nets->end(); ++it) s.networks.push_back(it.key());
      }
    }
    out.push_back(std::move(s));
  }
  return out;
}

absl::StatusOr<nlohmann::json> DockerManager::InspectContainer(const std::string& id) {
  RETURN_IF_ERROR(ValidateContainerRef("id", id));
  EngineRequest req;
  req.path = ContainerPath(id, "/json");
  return engine_->CallJson(req);
}

absl::StatusOr<bool> DockerManager::Stop(const std::string& id, std::optional<int> timeout) {
  RETURN_IF_ERROR(ValidateContainerRef("id", id));
  if (timeout.has_value()) RETURN_IF_ERROR(ValidateStopTimeout("timeout_seconds", *timeout));
  EngineRequest req;
  req.method = "POST";
  req.path = ContainerPath(id, "/stop");
  if (timeout.has_value()) req.query.emplace_back("t", std::to_string(*timeout));
  // Silent for the stop grace (-1: no limit), then prompt (core/engine/engine_client.h).
  const int grace = timeout.value_or(10);
  req.read_timeout =
      grace < 0 ? absl::Hours(24 * 365) : absl::Seconds(grace) + engine_->response_timeout();
  auto res = engine_->Call(req);
  if (list_cache_) list_cache_->Invalidate();
  if (!res.ok()) return res.status();
  return res->status == 304;
}

absl::Status DockerManager::Remove(const std::string& id, bool force, bool remove_volumes) {
  RETURN_IF_ERROR(ValidateContainerRef("id", id));
  EngineRequest req;
  req.method = "DELETE";
  req.path = ContainerPath(id);
  if (force) req.query.emplace_back("force", "1");
  if (remove_volumes) req.query.emplace_back("v", "1");
  absl::Status s = engine_->Call(req).status();
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
  EngineRequest req;
  req.method = "POST";
  req.path = ContainerPath(id, "/wait");
  if (!condition.empty()) req.query.emplace_back("condition", condition);
  req.read_timeout = absl::Hours(24 * 365);
  std::string body;
  RETURN_IF_ERROR(engine_->Stream(
      req,
      [&body](absl::string_view d) {
        body.append(d.data(), d.size());
        return body.size() < (1 << 20);
      },
      cancel));
  auto j = nlohmann::json::parse(body, nullptr, false);
  if (j.is_discarded() || !j.is_object()) {
    return absl::InternalError("engine wait answer is not JSON");
  }
  if (auto err = j.find("Error"); err != j.end() && err->is_object()) {
    const std::string msg = err->value("Message", "");
    if (!msg.empty()) return absl::InternalError(absl::StrCat("waiting for ", id, ": ", msg));
  }
  return j.value("StatusCode", 0);
}

}  // namespace dkd::core
