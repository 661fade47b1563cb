// DockerManager: the spec's container and image lifecycle operations over a
// Docker Engine, as a plain C++ library (no gRPC).
//
// Every method validates its input before touching the engine and returns
// InvalidArgument naming the field and the rule; a rejected run creates
// nothing. Engine failures keep the engine's message (StatusFromEngineHttp);
// an errorDetail inside a 200 stream is an error too (StatusFromStreamError).
// An unreachable engine is Unavailable and the next call tries again, so the
// manager recovers by itself when the engine comes back. Streaming methods
// hand events to a callback as they arrive; the callback returning false, or
// the CancelToken firing, aborts the engine request. Thread-safe.
#pragma once

#include <cstdint>
#include <functional>
#include <map>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "core/context/context_store.h"
#include "core/docker/build_leftovers.h"
#include "core/docker/container_cache.h"
#include "core/engine/docker_engine.h"
#include "core/engine/engine_client.h"
#include "core/engine/engine_stream_loop.h"
#include "core/engine/registry_auth.h"
#include "core/policy/ownership.h"
#include "core/policy/run_policy.h"

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

// Push/pull progress, one per engine message.
struct Progress {
  std::string id;
  std::string status;
  int64_t current = 0;
  int64_t total = 0;
  std::string digest;  // Final event only.
  std::string tag;
  int64_t size = 0;
};
using ProgressCallback = std::function<bool(const Progress&)>;

// The build arg with which BuildKit's Dockerfile frontend prefixes every
// cache mount's id. With ownership on, dkd sets it to CacheMountNamespace of
// the caller's identity ("dkd-owner-" and 32 hex digits of its SHA-256).
inline constexpr char kCacheMountNamespaceArg[] = "BUILDKIT_CACHE_MOUNT_NS";
std::string CacheMountNamespace(const std::string& identity);

// Whether BuildRequest::Builder::kAuto runs BuildKit on the engine that
// answered `ping`, as Docker's CLI chooses since 23.0: a Linux engine
// (BuildKit has no Windows worker) speaking API 1.39 or later (BuildKit
// builds since Docker 18.09), unless its operator turned BuildKit off
// (Builder-Version: 1, from daemon.json's features.buildkit=false).
bool BuildKitByDefault(const EnginePing& ping);

struct BuildRequest {
  ContainerConfig config;
  std::vector<std::string> extra_tags;
  std::string target;
  bool no_cache = false;
  bool pull = true;  // The spec's default.
  bool push = false;
  RegistryAuth auth;
  // Set: build from this directory on the daemon host (checked against the
  // policy's context roots). Unset: the context tar comes from `context`.
  bool daemon_path = false;
  // Who builds: the result is labelled with the owner and may only take tags
  // the owner may write (core/policy/ownership.h).
  Owner owner;
  // limits.max_context_bytes (0 = none): counted on the decompressed,
  // canonical tar the engine receives, for streamed and daemon-local
  // contexts alike. Over it the build ends with ResourceExhausted.
  int64_t max_context_bytes = 0;

  // Which engine builder runs the build. kBuildKit runs
  // `POST /build?version=2` with a build session for credentials and
  // secrets; kAuto is BuildKit when the engine offers it
  // (BuildKitByDefault) and dkd can open build sessions, or when the
  // request has secrets; otherwise the classic builder.
  enum class Builder { kAuto, kBuildKit, kClassic };
  Builder builder = Builder::kAuto;
  // Secret bytes by id for `RUN --mount=type=secret` (BuildKit only).
  std::map<std::string, std::string> secrets;
  // The engine's target platform ("" = the engine's own).
  std::string platform;
  // Images whose layers may serve as cache.
  std::vector<std::string> cache_from;
};

// A BuildKit build session: the services the engine calls back during a
// build (registry credentials, secrets, the build context). Closed when
// destroyed.
class BuildSession {
 public:
  virtual ~BuildSession() = default;
  // The id the build names with `session=`.
  virtual const std::string& id() const = 0;
};
struct BuildSessionOptions {
  // Given by their registry host.
  std::vector<RegistryAuth> credentials;
  // Given by id.
  std::map<std::string, std::string> secrets;
  // The checked context, served as both the "context" and the "dockerfile"
  // directory of BuildKit's file sync.
  std::shared_ptr<const ContextStore> context;
};
// Opens a session that gives the engine what `options` holds, and nothing
// else.
using BuildSessionFactory =
    std::function<absl::StatusOr<std::unique_ptr<BuildSession>>(const BuildSessionOptions&)>;

struct BuildEvent {
  // kTrace: one BuildKit progress message, the engine's base64 `aux` of a
  // `moby.buildkit.trace` line in `text`, for the server to decode.
  enum class Kind { kLog, kStep, kPullProgress, kPushProgress, kTrace };
  Kind kind = Kind::kLog;
  std::string text;         // kLog, kTrace.
  int step = 0, total = 0;  // kStep.
  std::string instruction;  // kStep.
  Progress progress;        // k*Progress.
};
using BuildCallback = std::function<bool(const BuildEvent&)>;

struct BuildResult {
  std::string image_id;
  std::vector<std::string> tags;
  int64_t duration_ms = 0;
  int64_t context_bytes = 0;
  std::vector<std::string> pushed_digests;
  // The builder that ran it: kBuildKit or kClassic, never kAuto.
  BuildRequest::Builder builder = BuildRequest::Builder::kClassic;
};

// Pull-style reader of the build context tar: bytes read, 0 at the end.
using ContextReader = std::function<absl::StatusOr<size_t>(char* buf, size_t len)>;

struct RunRequest {
  enum class PullPolicy { kMissing, kNever, kAlways };
  ContainerConfig config;
  // Who runs: named volumes are created for (and only used by) the owner, and
  // a pull may not overwrite a tag the owner may not write.
  Owner owner;
  bool detach = false;
  std::string name;
  std::vector<std::string> command;
  std::vector<std::string> entrypoint;
  std::string working_dir;
  std::string user;
  int64_t memory_bytes = 0;
  int64_t nano_cpus = 0;
  bool auto_remove = false;
  PullPolicy pull_policy = PullPolicy::kMissing;
  RegistryAuth auth;
  int64_t output_limit_bytes = 0;  // 0 = 1 MiB.
  bool privileged = false;
  std::string network_mode;
  std::string pid_mode;
  std::string ipc_mode;
  std::vector<std::string> cap_add;
  std::vector<std::string> cap_drop;
  std::vector<std::string> devices;
  int timeout_seconds = 0;
};

struct RunResult {
  std::string id;
  std::string name;
  std::string status;
  int exit_code = 0;
  std::string stdout_data;
  std::string stderr_data;
  bool output_truncated = false;
  std::vector<std::string> warnings;
  bool pulled = false;
};

struct ListContainersRequest {
  bool show_all = false;
  std::vector<std::string> label_filters;
  std::vector<std::string> name_filters;
  std::vector<std::string> status_filters;
  int limit = 0;
};

struct LogsRequest {
  std::string id;
  bool follow = false;
  std::optional<int> tail;
  bool timestamps = false;
  int64_t since = 0, until = 0;
  bool stdout_stream = true, stderr_stream = true;
};

struct LogChunk {
  enum class Stream { kStdout, kStderr, kConsole };
  Stream stream = Stream::kStdout;
  std::string data;
  std::string timestamp;
};
using LogCallback = std::function<bool(const LogChunk&)>;

struct EventsRequest {
  int64_t since = 0, until = 0;
  std::vector<std::string> filters;  // "key=value".
};

using EventCallback = std::function<bool(const EngineEvent&)>;

struct ListImagesRequest {
  bool all = false;
  std::vector<std::string> label_filters;
  std::string reference;
  bool dangling = false;
};

struct ContainerSpec;

class DockerManager {
 public:
  DockerManager(std::shared_ptr<DockerEngine> engine, RunPolicy policy = {});
  ~DockerManager();

  // Serves unfiltered and label-filtered ListContainers from a list kept
  // fresh by engine events (see ContainerListCache); `max_age` bounds how old
  // the engine's human status text may be. Call once, before serving.
  void EnableListCache(absl::Duration max_age);

  DockerEngine& engine() { return *engine_; }
  // Records the step containers of each build (core/docker/build_leftovers.h).
  // Call once, before serving.
  // How BuildKit builds get their session; without one, BuildKit builds are
  // FailedPrecondition. Set once, before serving.
  void SetBuildSessionFactory(BuildSessionFactory factory) { build_sessions_ = std::move(factory); }
  // Serves BuildKit builds' contexts through the session's file sync,
  // spooled in `dir` while the engine may fetch from them (an anonymous file,
  // at most limits.max_context_bytes per build). Unset (""), BuildKit builds
  // get the context tar as the request body.
  void SetContextSpoolDir(std::string dir) { context_spool_dir_ = std::move(dir); }
  void SetBuildLeftovers(std::shared_ptr<BuildLeftovers> leftovers) {
    build_leftovers_ = std::move(leftovers);
  }
  // Replaces the policy (e.g. on config reload); later calls see the new one.
  void SetPolicy(RunPolicy policy);
  RunPolicy policy() const;

  absl::StatusOr<PingResult> Ping();
  absl::StatusOr<EngineInfo> Info();

  // Builds an image. `context` supplies the tar unless request.daemon_path.
  // Failure of a step -> FailedPrecondition naming the step, after its logs.
  absl::StatusOr<BuildResult> Build(const BuildRequest& request, const ContextReader& context,
                                    const BuildCallback& on_event, CancelToken* cancel);
  // Pushes `image` (tag defaults to latest); returns the final progress
  // event, which carries the digest.
  absl::StatusOr<Progress> Push(const std::string& image, const RegistryAuth& auth,
                                const ProgressCallback& on_progress, CancelToken* cancel);
  // With an enforced `owner`, a tag held by another identity's image is not
  // overwritten (PermissionDenied).
  absl::StatusOr<Progress> Pull(const std::string& image, const RegistryAuth& auth,
                                const std::string& platform, const ProgressCallback& on_progress,
                                CancelToken* cancel, const Owner& owner = {});

  absl::StatusOr<RunResult> Run(const RunRequest& request, CancelToken* cancel);
  absl::StatusOr<int> Wait(const std::string& id, const std::string& condition,
                           CancelToken* cancel);
  absl::StatusOr<std::vector<ContainerSummary>> ListContainers(const ListContainersRequest& r);
  // The engine's inspect answer.
  absl::StatusOr<ContainerDetails> InspectContainer(const std::string& id);
  // Ownership (core/policy/ownership.h): the full id of the container `id`
  // names when `owner` may act on it. An enforced owner may act only on a
  // container labelled with its identity; another's is NotFound, worded like
  // a missing one, so its existence is not revealed. Unenforced: `id` as
  // given, without asking the engine. Callers act on the returned id, never
  // on `id` again: a name re-pointed between the check and the act cannot
  // redirect it.
  absl::StatusOr<std::string> OwnedContainer(const std::string& id, const Owner& owner);
  // Returns true when the container was already stopped.
  absl::StatusOr<bool> Stop(const std::string& id, std::optional<int> timeout_seconds);
  absl::Status Remove(const std::string& id, bool force, bool remove_volumes);
  absl::Status Logs(const LogsRequest& request, const LogCallback& on_chunk, CancelToken* cancel);
  absl::Status Events(const EventsRequest& request, const EventCallback& on_event,
                      CancelToken* cancel);

  // Logs and Events without a thread per stream, for servers holding many
  // open follows (core/engine/engine_stream_loop.h). Bad input is returned at once
  // and nothing is called. Otherwise `on_end` is called exactly once, after
  // the last item; `on_chunk` / `on_event` return false to pause reading
  // until the returned call's Resume() (not to stop: Cancel() stops, and
  // ends with Cancelled). Callbacks run on the stream loop's thread and must
  // not block. With an enforced `reader`, a container another identity owns
  // is NotFound, as if absent.
  using AsyncLogCallback = std::function<bool(LogChunk chunk)>;
  using AsyncEventCallback = std::function<bool(EngineEvent event)>;
  using EndCallback = std::function<void(absl::Status status)>;
  absl::StatusOr<std::shared_ptr<AsyncCall>> LogsAsync(const LogsRequest& request,
                                                       const Owner& reader,
                                                       AsyncLogCallback on_chunk,
                                                       EndCallback on_end);
  absl::StatusOr<std::shared_ptr<AsyncCall>> EventsAsync(const EventsRequest& request,
                                                         AsyncEventCallback on_event,
                                                         EndCallback on_end);
  // Push and Pull without a thread per transfer, with the async contract
  // above. `on_end` gets the final event (with the digest; a pull's also
  // names the tag) or why there is none. Checks that need the engine (a
  // pull's tag ownership) run before they return.
  using AsyncProgressCallback = std::function<bool(const Progress& progress)>;
  using ProgressEndCallback = std::function<void(absl::StatusOr<Progress> last)>;
  absl::StatusOr<std::shared_ptr<AsyncCall>> PushAsync(const std::string& image,
                                                       const RegistryAuth& auth,
                                                       AsyncProgressCallback on_progress,
                                                       ProgressEndCallback on_end);
  absl::StatusOr<std::shared_ptr<AsyncCall>> PullAsync(
      const std::string& image, const RegistryAuth& auth, const std::string& platform,
      const Owner& owner, AsyncProgressCallback on_progress, ProgressEndCallback on_end);

  absl::StatusOr<std::vector<ImageSummary>> ListImages(const ListImagesRequest& request);
  absl::StatusOr<ImageDetails> InspectImage(const std::string& image);
  absl::StatusOr<RemoveImageResult> RemoveImage(const std::string& image, bool force,
                                                bool no_prune);

 private:
  // The engine request of a push of `image`, after its checks.
  absl::StatusOr<PushOptions> PushRequest(const std::string& image, const RegistryAuth& auth);
  struct PreparedPull {
    PullOptions request;
    std::unique_ptr<TagReservations::Hold> hold;  // The tag, reserved for the pull.
    std::string tag;                              // "" for a digest pull.
  };
  absl::StatusOr<PreparedPull> PreparePull(const std::string& image, const RegistryAuth& auth,
                                           const std::string& platform, const Owner& owner);
  absl::StatusOr<std::string> PushOne(const std::string& ref, const RegistryAuth& auth,
                                      const ProgressCallback& on_progress, CancelToken* cancel,
                                      Progress* last);
  absl::Status EnsureImage(const RunRequest& request, const std::string& ref, bool* pulled,
                           CancelToken* cancel);
  absl::StatusOr<std::string> CreateContainer(const RunRequest& request, const std::string& ref,
                                              const nlohmann::json& body,
                                              std::vector<std::string>* warnings);
  absl::Status CollectOutput(const std::string& id, int64_t limit, RunResult* result);
  // The engine's answer for a network name, id or id prefix; NotFound if none.
  absl::StatusOr<NetworkDetails> InspectNetwork(const std::string& name);
  // The bind-nesting rule against every container the engine has. Call with
  // binds_mu_ held, through the create.
  absl::Status CheckBindsAgainstEngine(const ContainerSpec& spec, const Owner& owner);

  std::shared_ptr<DockerEngine> engine_;
  std::unique_ptr<ContainerListCache> list_cache_;
  std::shared_ptr<BuildLeftovers> build_leftovers_;
  BuildSessionFactory build_sessions_;
  std::string context_spool_dir_;
  TagReservations tags_being_written_;
  // Serializes bind-mount checks with their creates (see Run).
  std::mutex binds_mu_;
  mutable absl::Mutex mu_;
  RunPolicy policy_ ABSL_GUARDED_BY(mu_);
};

// Maps an errorDetail message from a 200 stream to a status: registry auth
// failures -> Unauthenticated / PermissionDenied, missing images -> NotFound,
// anything else -> `fallback`. Keeps the message.
absl::Status StatusFromStreamError(const std::string& message, absl::StatusCode fallback);

}  // namespace dkd::core
