// FakeDockerEngine: an in-memory DockerEngine for unit tests, with fault
// injection (an engine that is down, an operation that answers HTTP 500, a
// stream that breaks mid-way, slow streams).
//
// It holds containers, images (with history), networks, volumes, an event
// log, container output and a "registry" that pulls fetch from. Operations
// keep the engine's contracts: names and id prefixes resolve, missing
// objects are NotFound and taken names AlreadyExists with the engine's
// messages (mapped by StatusFromEngineHttp), containers emit events, follows
// stay open until cancelled, a callback returning false stops a blocking
// stream (Cancelled) and pauses an async one until Resume().
//
// Every call is recorded by operation name (the DockerEngine method name;
// async forms record their blocking form's name) so tests can assert that
// validation stopped a request before it reached the engine. Deterministic:
// ids come from a counter, times from a fixed clock that advances one second
// per object. Thread-safe; async streams run on threads the fake joins when
// destroyed.
#pragma once

#include <atomic>
#include <cstdint>
#include <map>
#include <memory>
#include <optional>
#include <string>
#include <thread>
#include <vector>

#include "absl/base/thread_annotations.h"
#include "absl/status/status.h"
#include "absl/synchronization/mutex.h"
#include "absl/time/time.h"
#include "core/engine/docker_engine.h"

namespace dkd::core::testing {

class FakeDockerEngine final : public DockerEngine {
 public:
  FakeDockerEngine();
  // Ends every open stream with Unavailable and joins the async threads.
  ~FakeDockerEngine() override;

  // --- State ---
  struct ContainerSetup {
    std::string name;
    std::string image = "busybox:latest";
    std::string image_id;  // "" = the image's id if the fake has it, else a made-up one.
    std::map<std::string, std::string> labels;
    bool running = true;
    int exit_code = 0;
    bool tty = false;
    std::vector<LogFrame> output;
    std::vector<ContainerMount> mounts;
    std::string created;  // RFC 3339; "" = the fake's clock.
  };
  // Returns the new container's id (64 hex digits).
  std::string AddContainer(const ContainerSetup& setup);
  // Adds an image (its id: details.id, or a made-up one when empty) under its
  // details.repo_tags. `history` newest first, as the engine answers.
  std::string AddImage(ImageDetails details, std::vector<ImageHistoryEntry> history = {});
  // What a pull of `ref` ("name:tag") finds; absent: manifest unknown.
  void AddRegistryImage(const std::string& ref, ImageDetails details,
                        std::vector<ImageHistoryEntry> history = {});
  void AddNetwork(const NetworkDetails& network);
  void AddVolume(const VolumeDetails& volume);
  // Appends container output (and wakes its followers).
  void AppendOutput(const std::string& id, const LogFrame& frame);
  // Appends an event to the log (and wakes followers).
  void EmitEvent(EngineEvent event);
  // A container started from `image` exits at once with `exit_code`,
  // having printed `output`.
  void SetExitOnStart(const std::string& image, int exit_code, std::vector<LogFrame> output);
  // The messages a build prints (the default: one step, then the image id).
  void SetBuildOutput(std::vector<JsonMessage> messages);
  // The options of every build asked for, and the ids of cancelled builds.
  std::vector<BuildOptions> Builds() const {
    absl::MutexLock lock(&mu_);
    return builds_;
  }
  std::vector<std::string> CancelledBuilds() const {
    absl::MutexLock lock(&mu_);
    return cancelled_builds_;
  }

  std::optional<ContainerDetails> FindContainer(const std::string& id_or_name) const;
  std::optional<ImageDetails> FindImage(const std::string& ref) const;
  std::optional<VolumeDetails> FindVolume(const std::string& name) const;
  size_t container_count() const;
  // The create bodies the engine received, in order.
  std::vector<std::string> create_bodies() const;

  // --- Faults ---
  // The next `calls` calls fail with Unavailable, as a stopped engine would.
  void FailNextCalls(int calls);
  // Every call fails with Unavailable from now until SetDown(false).
  void SetDown(bool down);
  // Operation `op` answers HTTP `http_status` with `message` (mapped by
  // StatusFromEngineHttp) `times` times (-1: until ClearFaults).
  void FailOperation(const std::string& op, int http_status, const std::string& message,
                     int times = -1);
  // Streams of operation `op` deliver `items` items, then the connection
  // drops (Unavailable).
  void BreakStreamAfter(const std::string& op, int items);
  // A pause before each streamed item.
  void SetItemDelay(absl::Duration delay);
  void ClearFaults();
  // What LastPing() answers (default: API 1.41, linux, no builder stated).
  void SetPing(EnginePing ping);

  // --- Observations ---
  std::vector<std::string> calls() const;
  int CallCount(const std::string& op) const;
  void ClearCalls();
  // Follows and async streams open now.
  int open_streams() const;

  // --- DockerEngine ---
  absl::Duration response_timeout() const override { return absl::Seconds(10); }
  absl::Status Ping() override;
  absl::StatusOr<EngineVersion> Version() override;
  std::string ApiVersion() const override;
  absl::StatusOr<EnginePing> LastPing() override;
  absl::StatusOr<EngineInfo> Info() override;
  absl::StatusOr<std::vector<ContainerSummary>> ListContainers(
      const ContainerListOptions& options) override;
  absl::StatusOr<ContainerDetails> InspectContainer(const std::string& id) override;
  absl::StatusOr<CreatedContainer> CreateContainer(const std::string& name,
                                                   const std::string& config) override;
  absl::Status StartContainer(const std::string& id) override;
  absl::StatusOr<bool> StopContainer(const std::string& id,
                                     std::optional<int> timeout_seconds) override;
  absl::Status RemoveContainer(const std::string& id, bool force, bool volumes) override;
  absl::StatusOr<WaitResult> WaitContainer(const std::string& id, const std::string& condition,
                                           CancelToken* cancel) override;
  absl::Status ContainerLogs(const LogsOptions& options, bool tty, const FrameCallback& on_frame,
                             CancelToken* cancel) override;
  absl::StatusOr<std::vector<ImageSummary>> ListImages(const ImageListOptions& options) override;
  absl::StatusOr<ImageDetails> InspectImage(const std::string& image) override;
  absl::StatusOr<std::vector<ImageHistoryEntry>> ImageHistory(const std::string& image) override;
  absl::StatusOr<RemoveImageResult> RemoveImage(const std::string& image, bool force,
                                                bool no_prune) override;
  absl::Status TagImage(const std::string& image, const std::string& repo,
                        const std::string& tag) override;
  absl::Status CancelBuild(const std::string& build_id) override;
  absl::Status Build(const BuildOptions& options, const BodyReader& context,
                     const MessageCallback& on_message, CancelToken* cancel) override;
  absl::Status Push(const PushOptions& options, const MessageCallback& on_message,
                    CancelToken* cancel) override;
  absl::Status Pull(const PullOptions& options, const MessageCallback& on_message,
                    CancelToken* cancel) override;
  absl::Status ExportImage(const std::string& image, const DataCallback& on_data,
                           CancelToken* cancel) override;
  absl::StatusOr<NetworkDetails> InspectNetwork(const std::string& name) override;
  absl::Status ConnectNetwork(const std::string& network, const std::string& container) override;
  absl::StatusOr<VolumeDetails> InspectVolume(const std::string& name) override;
  absl::StatusOr<VolumeDetails> CreateVolume(
      const std::string& name, const std::map<std::string, std::string>& labels) override;
  absl::Status Events(const EventsOptions& options, const std::function<void()>& on_open,
                      const EventCallback& on_event, CancelToken* cancel) override;
  std::shared_ptr<AsyncCall> NewAsyncCall() override;
  void InspectContainerAsync(const std::shared_ptr<AsyncCall>& call, const std::string& id,
                             std::function<void(absl::StatusOr<ContainerDetails>)> done) override;
  void ContainerLogsAsync(const std::shared_ptr<AsyncCall>& call, const LogsOptions& options,
                          bool tty, std::function<bool(LogFrame frame)> on_frame,
                          EndCallback on_end) override;
  void EventsAsync(const std::shared_ptr<AsyncCall>& call, const EventsOptions& options,
                   std::function<bool(EngineEvent event)> on_event, EndCallback on_end) override;
  void PushAsync(const std::shared_ptr<AsyncCall>& call, const PushOptions& options,
                 std::function<bool(const JsonMessage& message)> on_message,
                 EndCallback on_end) override;
  void PullAsync(const std::shared_ptr<AsyncCall>& call, const PullOptions& options,
                 std::function<bool(const JsonMessage& message)> on_message,
                 EndCallback on_end) override;

 private:
  struct Container {
    ContainerDetails details;
    std::vector<LogFrame> output;
  };
  struct Image {
    ImageDetails details;
    std::vector<ImageHistoryEntry> history;
  };
  struct Fault {
    int http_status = 500;
    std::string message;
    int times = -1;
  };
  // The state of one open stream, shared with its cancel hooks.
  struct StreamState;
  // One item of a stream: delivers itself, false when the consumer wants no more.
  using Item = std::function<bool()>;

  // Records `op` and applies the faults; the error a faulted call returns.
  absl::Status Enter(const std::string& op);
  absl::Status EnterLocked(const std::string& op) ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);
  static absl::Status EngineError(int http_status, const std::string& message);
  std::string NextId() ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);
  std::string NextTime() ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);
  Container* ResolveContainer(const std::string& ref) ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);
  const Container* ResolveContainer(const std::string& ref) const
      ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);
  std::string ResolveImageId(const std::string& ref) const ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);
  void Emit(const std::string& type, const std::string& action, const std::string& id,
            std::map<std::string, std::string> attributes) ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);
  std::string InstallImage(ImageDetails details, std::vector<ImageHistoryEntry> history)
      ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);

  // Runs a stream of operation `op`: `next(index)` yields the next item, or
  // nothing when the stream waits for more (`follow`) or has ended. Applies
  // the break and delay faults, stops on cancellation or shutdown.
  absl::Status RunStream(const std::string& op, StreamState& state, bool follow,
                         const std::function<std::optional<Item>(size_t index)>& next);
  std::shared_ptr<StreamState> NewStream(CancelToken* cancel);
  // The state of an async call made by NewAsyncCall.
  std::shared_ptr<StreamState> StateOf(const AsyncCall* call);
  absl::Status PushStream(const PushOptions& o, const MessageCallback& on_message,
                          StreamState& state);
  absl::Status PullStream(const PullOptions& o, const MessageCallback& on_message,
                          StreamState& state);
  void EndStream(StreamState& state, CancelToken* cancel);
  // Runs `body` on a new thread the fake joins when destroyed.
  void Spawn(std::function<void()> body);

  std::vector<JsonMessage> PullMessages(const PullOptions& o, bool* found)
      ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);
  std::vector<JsonMessage> PushMessages(const PushOptions& o) ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);
  // Where a follow starts: the log's end, or the first event at or after
  // `since` (seconds) when given.
  size_t FirstEventSince(int64_t since) const ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);
  std::optional<Item> EventItem(const EventsOptions& o, size_t* cursor,
                                const std::function<bool(const EngineEvent&)>& deliver)
      ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);

  mutable absl::Mutex mu_;
  EnginePing ping_ ABSL_GUARDED_BY(mu_) = {"1.41", "linux", ""};
  uint64_t next_id_ ABSL_GUARDED_BY(mu_) = 1;
  int64_t clock_ ABSL_GUARDED_BY(mu_) = 1700000000;
  std::map<std::string, Container> containers_ ABSL_GUARDED_BY(mu_);  // By id.
  std::map<std::string, Image> images_ ABSL_GUARDED_BY(mu_);          // By id.
  std::map<std::string, Image> registry_ ABSL_GUARDED_BY(mu_);        // By "name:tag".
  std::map<std::string, NetworkDetails> networks_ ABSL_GUARDED_BY(mu_);
  std::map<std::string, VolumeDetails> volumes_ ABSL_GUARDED_BY(mu_);
  std::vector<EngineEvent> events_ ABSL_GUARDED_BY(mu_);
  std::map<std::string, std::pair<int, std::vector<LogFrame>>> exit_on_start_ ABSL_GUARDED_BY(mu_);
  std::vector<JsonMessage> build_output_ ABSL_GUARDED_BY(mu_);
  std::vector<BuildOptions> builds_ ABSL_GUARDED_BY(mu_);
  std::vector<std::string> cancelled_builds_ ABSL_GUARDED_BY(mu_);
  std::vector<std::string> create_bodies_ ABSL_GUARDED_BY(mu_);
  // Bumped on every change a follower may wait for.
  uint64_t version_ ABSL_GUARDED_BY(mu_) = 0;

  int fail_next_ ABSL_GUARDED_BY(mu_) = 0;
  bool down_ ABSL_GUARDED_BY(mu_) = false;
  std::map<std::string, Fault> faults_ ABSL_GUARDED_BY(mu_);
  std::map<std::string, int> break_after_ ABSL_GUARDED_BY(mu_);
  absl::Duration item_delay_ ABSL_GUARDED_BY(mu_) = absl::ZeroDuration();
  std::vector<std::string> calls_ ABSL_GUARDED_BY(mu_);
  int open_streams_ ABSL_GUARDED_BY(mu_) = 0;
  std::map<const AsyncCall*, std::shared_ptr<StreamState>> async_states_ ABSL_GUARDED_BY(mu_);
  bool shutting_down_ ABSL_GUARDED_BY(mu_) = false;

  absl::Mutex threads_mu_;
  std::vector<std::thread> threads_ ABSL_GUARDED_BY(threads_mu_);
};

}  // namespace dkd::core::testing
