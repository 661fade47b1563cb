// ContainerListCache (container_cache.h): the cached list, the event watcher
// that keeps it fresh, and invalidation.
#include "core/docker/container_cache.h"

#include <utility>

#include "core/engine/engine_streams.h"
#include "spdlog/spdlog.h"

namespace dkd::core {

absl::StatusOr<nlohmann::json> ParseContainerList(const std::string& body) {
  // Depths: 0 the array, 1 a container, 2 its keys, 3 NetworkSettings' keys,
  // 4 network names, 5 an endpoint's keys.
  nlohmann::json::parser_callback_t keep = [](int depth, nlohmann::json::parse_event_t event,
                                              nlohmann::json& parsed) {
    if (event != nlohmann::json::parse_event_t::key) return true;
    if (depth == 5) return false;
    if (depth != 2) return true;
    const auto& key = parsed.get_ref<const std::string&>();
    return key != "HostConfig" && key != "Mounts";
  };
  auto j = nlohmann::json::parse(body, keep, /*allow_exceptions=*/false);
  if (j.is_discarded() || !j.is_array()) {
    return absl::InternalError("engine returned a malformed container list");
  }
  return j;
}

ContainerListCache::ContainerListCache(std::shared_ptr<EngineClient> engine, absl::Duration max_age)
    : engine_(std::move(engine)), max_age_(max_age) {}

ContainerListCache::~ContainerListCache() { Stop(); }

void ContainerListCache::Start() {
  absl::MutexLock lock(&mu_);
  if (thread_.joinable() || max_age_ <= absl::ZeroDuration()) return;
  stopping_ = false;
  thread_ = std::thread([this] { FollowEvents(); });
}

void ContainerListCache::Stop() {
  {
    absl::MutexLock lock(&mu_);
    stopping_ = true;
    if (events_cancel_ != nullptr) events_cancel_->Cancel();
  }
  if (thread_.joinable()) thread_.join();
}

void ContainerListCache::Invalidate() {
  absl::MutexLock lock(&mu_);
  ++generation_;
  list_.reset();
}

bool ContainerListCache::watching() const {
  absl::MutexLock lock(&mu_);
  return watching_;
}

void ContainerListCache::FollowEvents() {
  while (true) {
    CancelToken cancel;
    {
      absl::MutexLock lock(&mu_);
      if (stopping_) break;
      events_cancel_ = &cancel;
    }
    EngineRequest req;
    req.path = "/events";
    req.query.emplace_back("filters", R"({"type":["container"]})");
    // The engine flushes the response headers before it subscribes; asking
    // for events since a second ago replays anything that falls in that gap.
    req.query.emplace_back("since", std::to_string(absl::ToUnixSeconds(absl::Now()) - 1));
    req.read_timeout = absl::Hours(24 * 365);
    req.on_headers = [this](int status) {
      absl::MutexLock lock(&mu_);
      watching_ = status == 200;
      ++generation_;
      list_.reset();
    };
    absl::Status s = engine_->Stream(
        req,
        [&](absl::string_view) {
          absl::MutexLock lock(&mu_);
          // Any byte of an event means the list may have changed.
          ++generation_;
          list_.reset();
          return !stopping_;
        },
        &cancel);
    {
      absl::MutexLock lock(&mu_);
      events_cancel_ = nullptr;
      watching_ = false;
      ++generation_;
      list_.reset();
      if (stopping_) break;
      // Wait before reconnecting (or until Stop()).
      mu_.AwaitWithTimeout(absl::Condition(&stopping_), absl::Seconds(1));
      if (stopping_) break;
    }
    if (!s.ok()) spdlog::debug("container event stream ended: {}", std::string(s.message()));
  }
}

absl::StatusOr<std::shared_ptr<const nlohmann::json>> ContainerListCache::AllContainers() {
  uint64_t generation;
  {
    absl::MutexLock lock(&mu_);
    if (list_ && watching_ && absl::Now() - fetched_ < max_age_) return list_;
    generation = generation_;
  }
  EngineRequest req;
  req.path = "/containers/json";
  req.query.emplace_back("all", "1");
  auto res = engine_->Call(req);
  if (!res.ok()) return res.status();
  auto j = ParseContainerList(res->body);
  if (!j.ok()) return j.status();
  auto list = std::make_shared<const nlohmann::json>(std::move(*j));
  absl::MutexLock lock(&mu_);
  // Keep it only if no event arrived while it was being fetched.
  if (generation == generation_ && watching_) {
    list_ = list;
    fetched_ = absl::Now();
  }
  return list;
}

}  // namespace dkd::core
