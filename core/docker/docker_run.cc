// DockerManager::Run and its steps: image presence, create, connect, start,
// and for attached runs wait and collect output. A failure after create
// removes the container, so a failed run leaves nothing behind.
#include <mutex>
#include <set>
#include <thread>
#include <utility>

#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "core/base/status_macros.h"
#include "core/docker/container_spec.h"
#include "core/docker/docker_manager.h"
#include "core/engine/engine_streams.h"
#include "core/policy/host_ports.h"
#include "core/policy/ownership.h"
#include "spdlog/spdlog.h"

namespace dkd::core {
namespace {
constexpr int64_t kDefaultOutputLimit = 1 << 20;
constexpr int kMaxNameAttempts = 50;
constexpr int kMaxPortAttempts = 5;
}  // namespace

absl::Status DockerManager::EnsureImage(const RunRequest& r, const std::string& ref, bool* pulled,
                                        CancelToken* cancel) {
  *pulled = false;
  if (r.pull_policy != RunRequest::PullPolicy::kAlways) {
    auto found = engine_->InspectImage(ref);
    if (found.ok()) return absl::OkStatus();
    if (found.status().code() != absl::StatusCode::kNotFound) return found.status();
    if (r.pull_policy == RunRequest::PullPolicy::kNever) {
      return absl::NotFoundError(absl::StrCat("image ", ref,
                                              " is not present locally and pull_policy is NEVER; "
                                              "pull it first (dkctl pull ",
                                              ref, ")"));
    }
  }
  auto pulled_result = Pull(ref, r.auth, "", nullptr, cancel, r.owner);
  if (!pulled_result.ok()) {
    return absl::Status(
        pulled_result.status().code(),
        absl::StrCat("image ", ref, " is not present locally and pulling it failed: ",
                     pulled_result.status().message()));
  }
  *pulled = true;
  return absl::OkStatus();
}

absl::StatusOr<std::string> DockerManager::CreateContainer(const RunRequest& r,
                                                           const std::string& ref,
                                                           const nlohmann::json& body,
                                                           std::vector<std::string>* warnings) {
  auto image = ConfigImageReference(r.config);
  std::string base = r.name;
  const bool generated = base.empty();
  if (generated) base = DefaultContainerName(*image, absl::Now());
  for (int attempt = 1; attempt <= kMaxNameAttempts; ++attempt) {
    const std::string name = attempt == 1 ? base : absl::StrCat(base, "_", attempt);
    auto res = engine_->CreateContainer(name, body.dump());
    if (res.ok()) {
      warnings->insert(warnings->end(), res->warnings.begin(), res->warnings.end());
      return res->id;
    }
    if (!generated && res.status().code() == absl::StatusCode::kAlreadyExists && r.owner.enforced) {
      // The engine's message names the holder's id, which may be another owner's.
      return absl::AlreadyExistsError(absl::StrCat("name: the container name \"", name,
                                                   "\" is already in use; choose another name"));
    }
    if (!generated || res.status().code() != absl::StatusCode::kAlreadyExists) {
      return res.status();
    }
  }
  return absl::AlreadyExistsError(absl::StrCat("no free container name found for ", base));
}

absl::Status DockerManager::CollectOutput(const std::string& id, int64_t limit, RunResult* out) {
  LogsRequest logs;
  logs.id = id;
  return Logs(
      logs,
      [&](const LogChunk& c) {
        std::string& dst =
            c.stream == LogChunk::Stream::kStderr ? out->stderr_data : out->stdout_data;
        const int64_t room = limit - static_cast<int64_t>(dst.size());
        if (room <= 0) {
          out->output_truncated = true;
          return true;
        }
        if (static_cast<int64_t>(c.data.size()) > room) out->output_truncated = true;
        dst.append(c.data, 0, static_cast<size_t>(std::min<int64_t>(room, c.data.size())));
        return true;
      },
      nullptr);
}

// Whether a start failure is the engine finding a published host port taken.
bool PortTaken(const absl::Status& s) {
  return absl::StrContains(s.message(), "port is already allocated") ||
         absl::StrContains(s.message(), "address already in use");
}

absl::StatusOr<NetworkDetails> DockerManager::InspectNetwork(const std::string& name) {
  auto res = engine_->InspectNetwork(name);
  if (!res.ok() && res.status().code() == absl::StatusCode::kNotFound) {
    return absl::NotFoundError("no such network; create it first or list them with the engine");
  }
  return res;
}

absl::Status DockerManager::CheckBindsAgainstEngine(const ContainerSpec& spec, const Owner& owner) {
  ContainerListOptions options;
  options.all = true;
  options.mounts = true;
  ASSIGN_OR_RETURN(std::vector<ContainerSummary> list, engine_->ListContainers(options));
  return CheckBindNesting(spec.binds, BindsFromContainers(list), owner);
}

absl::StatusOr<RunResult> DockerManager::Run(const RunRequest& r, CancelToken* cancel) {
  RunPolicy pol = policy();
  pol.bind_roots = BindRootsFor(pol, r.owner.identity, r.owner.enforced);
  ASSIGN_OR_RETURN(ContainerSpec spec, BuildContainerSpec(r, pol));
  RETURN_IF_ERROR(PinResolvedNetworks(
      &spec, pol, [this](const std::string& name) { return InspectNetwork(name); }));
  RunResult result;
  RETURN_IF_ERROR(EnsureImage(r, spec.image_ref, &result.pulled, cancel));
  for (const auto& [field, name] : spec.volumes) {
    RETURN_IF_ERROR(EnsureVolume(*engine_, field, name, r.owner));
  }

  // From create on, a failure removes what was created.
  auto undo = [&](absl::Status s) -> absl::Status {
    absl::Status removed = Remove(result.id, /*force=*/true, /*remove_volumes=*/true);
    if (!removed.ok() && removed.code() != absl::StatusCode::kNotFound) {
      spdlog::warn("could not remove container {} after a failed run: {}", result.id,
                   std::string(removed.message()));
    }
    return s;
  };
  std::set<int> refused_ports;
  for (int attempt = 1;; ++attempt) {
    RETURN_IF_ERROR(PickEphemeralPorts(&spec, pol, refused_ports));
    {
      // Bind-mount layouts are checked against every container and created
      // under one lock, so concurrent runs cannot together build a layout
      // that each alone would be refused (core/policy/bind_nesting.h).
      std::unique_lock<std::mutex> binds_lock(binds_mu_, std::defer_lock);
      if (!spec.binds.empty()) {
        binds_lock.lock();
        RETURN_IF_ERROR(CheckBindsAgainstEngine(spec, r.owner));
      }
      ASSIGN_OR_RETURN(result.id,
                       CreateContainer(r, spec.image_ref, spec.create_body, &result.warnings));
    }
    if (list_cache_) list_cache_->Invalidate();
    absl::Status connected = absl::OkStatus();
    for (const std::string& net : spec.extra_networks) {
      if (absl::Status s = engine_->ConnectNetwork(net, result.id); !s.ok()) {
        connected =
            absl::Status(s.code(), absl::StrCat("connecting network ", net, ": ", s.message()));
        break;
      }
    }
    if (!connected.ok()) return undo(connected);
    absl::Status started = engine_->StartContainer(result.id);
    if (started.ok()) break;
    // A port dkd picked was taken before the engine bound it: pick again.
    if (!spec.ephemeral_ports.empty() && PortTaken(started) && attempt < kMaxPortAttempts &&
        !PortRangeUnrestricted(pol.min_host_port, pol.max_host_port)) {
      (void)undo(absl::OkStatus());
      for (const auto& p : spec.ephemeral_ports) {
        refused_ports.insert(
            std::stoi(spec.create_body["HostConfig"]["PortBindings"][p.key][p.index]["HostPort"]
                          .get<std::string>()));
      }
      result.warnings.clear();
      continue;
    }
    return undo(started);
  }
  if (list_cache_) list_cache_->Invalidate();

  auto inspect = InspectContainer(result.id);
  if (inspect.ok()) {
    result.name = inspect->name;
    if (inspect->state.has_value()) result.status = inspect->state->status;
  } else if (!r.detach || inspect.status().code() != absl::StatusCode::kNotFound) {
    return undo(inspect.status());
  }
  if (r.detach) return result;

  // Attached: wait for exit (bounded by timeout_seconds), then collect output.
  CancelToken wait_cancel;
  std::thread timer;
  absl::Mutex timer_mu;
  bool done = false;
  if (r.timeout_seconds > 0) {
    timer = std::thread([&] {
      absl::MutexLock lock(&timer_mu);
      if (!timer_mu.AwaitWithTimeout(absl::Condition(&done), absl::Seconds(r.timeout_seconds))) {
        wait_cancel.Cancel();
      }
    });
  }
  CancelToken* effective = r.timeout_seconds > 0 ? &wait_cancel : cancel;
  absl::StatusOr<int> code = Wait(result.id, "", effective);
  if (r.timeout_seconds > 0) {
    {
      absl::MutexLock lock(&timer_mu);
      done = true;
    }
    timer.join();
  }
  if (!code.ok()) {
    if (wait_cancel.IsCancelled()) {
      (void)Stop(result.id, 0);
      if (spec.remove_after) (void)undo(absl::OkStatus());
      return absl::DeadlineExceededError(absl::StrCat("container ", result.name,
                                                      " did not exit within ", r.timeout_seconds,
                                                      "s; it was stopped"));
    }
    return code.status();
  }
  result.exit_code = *code;
  result.status = "exited";
  const int64_t limit = r.output_limit_bytes > 0 ? r.output_limit_bytes : kDefaultOutputLimit;
  absl::Status collected = CollectOutput(result.id, limit, &result);
  if (spec.remove_after) (void)undo(absl::OkStatus());
  RETURN_IF_ERROR(collected);
  return result;
}

}  // namespace dkd::core
