// DockerEngine: what dkd asks the Docker Engine, as typed calls.
//
// Everything above core/engine/ reaches the engine through this interface:
// HttpDockerEngine (core/engine/http_docker_engine.h) speaks the engine's
// HTTP API, and tests use an in-memory fake (tests/support/fake_docker_engine.h).
// Engine JSON is decoded only behind it.
//
// Errors: the engine's HTTP errors map once (StatusFromEngineHttp: 404
// NotFound, 409 AlreadyExists or FailedPrecondition, ...), keeping the
// engine's message; an unreachable or silent engine is Unavailable and the
// next call tries again; a malformed answer is Internal.
//
// Liveness: calls the engine answers promptly are bounded by
// response_timeout(); follows, waits, builds, transfers and exports are bound
// by their own, longer silences (core/engine/engine_client.h).
//
// Streams: blocking forms hand each decoded item (a JSON message, a log
// frame, an event, a piece of body) to a callback on the calling thread; the
// callback returning false, or `cancel` firing, aborts the request (the
// engine abandons it) and the call ends with Cancelled. An error the engine
// reports inside a 200 stream is an item (JsonMessage::error), not a status.
//
// Async forms serve many open streams without a thread each: they attach
// their request to an AsyncCall (Cancel() ends it with Cancelled, Resume()
// undoes a pause), call their item callback on the engine's stream thread
// (it must not block; returning false pauses reading until Resume(), which
// back-pressures the engine instead of growing dkd's memory) and then
// `on_end` exactly once. A decoding error ends the stream with that error.
//
// Thread-safe: one engine serves every caller.
#pragma once

#include <functional>
#include <map>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"
#include "absl/time/time.h"
#include "core/engine/engine_client.h"
#include "core/engine/engine_stream_loop.h"
#include "core/engine/engine_streams.h"
#include "core/engine/engine_types.h"

namespace dkd::core {

class DockerEngine {
 public:
  using MessageCallback = std::function<bool(const JsonMessage& message)>;
  using FrameCallback = std::function<bool(const LogFrame& frame)>;
  using EventCallback = std::function<bool(const EngineEvent& event)>;
  using DataCallback = std::function<bool(absl::string_view data)>;
  // Pull-style request body: fills `buf`, returns the bytes written, 0 at
  // the end, or an error that aborts the request.
  using BodyReader = std::function<absl::StatusOr<size_t>(char* buf, size_t len)>;
  using EndCallback = std::function<void(absl::Status status)>;

  virtual ~DockerEngine() = default;

  // --- The engine itself ---
  // The bound on calls the engine answers promptly.
  virtual absl::Duration response_timeout() const = 0;
  // GET /_ping now, (re)negotiating the API version.
  virtual absl::Status Ping() = 0;
  virtual absl::StatusOr<EngineVersion> Version() = 0;
  // The negotiated API version, "" before a successful negotiation.
  virtual std::string ApiVersion() const = 0;
  // The last GET /_ping answer since the version was (re)negotiated, pinging
  // when there is none. Unavailable when the engine does not answer.
  virtual absl::StatusOr<EnginePing> LastPing() = 0;
  virtual absl::StatusOr<EngineInfo> Info() = 0;

  // --- Containers ---
  virtual absl::StatusOr<std::vector<ContainerSummary>> ListContainers(
      const ContainerListOptions& options) = 0;
  // `id`: an id, id prefix or name. NotFound when none matches.
  virtual absl::StatusOr<ContainerDetails> InspectContainer(const std::string& id) = 0;
  // Creates container `name` from `config` (the engine's create body, JSON
  // text). AlreadyExists when the name is taken.
  virtual absl::StatusOr<CreatedContainer> CreateContainer(const std::string& name,
                                                           const std::string& config) = 0;
  virtual absl::Status StartContainer(const std::string& id) = 0;
  // Stops `id` after `timeout_seconds` (unset: the engine's default; -1: no
  // limit). Returns true when it was already stopped.
  virtual absl::StatusOr<bool> StopContainer(const std::string& id,
                                             std::optional<int> timeout_seconds) = 0;
  virtual absl::Status RemoveContainer(const std::string& id, bool force, bool volumes) = 0;
  // Waits for `condition` ("" = the engine's default, "not-running",
  // "next-exit", "removed"); silent until it happens.
  virtual absl::StatusOr<WaitResult> WaitContainer(const std::string& id,
                                                   const std::string& condition,
                                                   CancelToken* cancel) = 0;
  // The output of a container; `tty` tells the framing (from its inspect):
  // console bytes for a TTY, demultiplexed frames otherwise. DataLoss when
  // the body ends inside a frame.
  virtual absl::Status ContainerLogs(const LogsOptions& options, bool tty,
                                     const FrameCallback& on_frame, CancelToken* cancel) = 0;

  // --- Images ---
  virtual absl::StatusOr<std::vector<ImageSummary>> ListImages(const ImageListOptions& options) = 0;
  // `image`: a reference, id or id prefix. NotFound when none matches.
  virtual absl::StatusOr<ImageDetails> InspectImage(const std::string& image) = 0;
  virtual absl::StatusOr<std::vector<ImageHistoryEntry>> ImageHistory(const std::string& image) = 0;
  virtual absl::StatusOr<RemoveImageResult> RemoveImage(const std::string& image, bool force,
                                                        bool no_prune) = 0;
  // Points `repo`:`tag` at `image`.
  virtual absl::Status TagImage(const std::string& image, const std::string& repo,
                                const std::string& tag) = 0;
  // Builds from the context tar `context` (classic builder, or BuildKit when
  // options.buildkit); each message of the build output goes to `on_message`.
  virtual absl::Status Build(const BuildOptions& options, const BodyReader& context,
                             const MessageCallback& on_message, CancelToken* cancel) = 0;
  // Asks the engine to stop the BuildKit build `build_id` (best effort; the
  // build's connection closing stops it too).
  virtual absl::Status CancelBuild(const std::string& build_id) = 0;
  virtual absl::Status Push(const PushOptions& options, const MessageCallback& on_message,
                            CancelToken* cancel) = 0;
  virtual absl::Status Pull(const PullOptions& options, const MessageCallback& on_message,
                            CancelToken* cancel) = 0;
  // GET /images/{image}/get: the image's tar, as it arrives.
  virtual absl::Status ExportImage(const std::string& image, const DataCallback& on_data,
                                   CancelToken* cancel) = 0;

  // --- Networks and volumes ---
  // `name`: a network name, id or id prefix. NotFound when none matches.
  virtual absl::StatusOr<NetworkDetails> InspectNetwork(const std::string& name) = 0;
  virtual absl::Status ConnectNetwork(const std::string& network, const std::string& container) = 0;
  virtual absl::StatusOr<VolumeDetails> InspectVolume(const std::string& name) = 0;
  // Returns the existing volume when `name` exists already.
  virtual absl::StatusOr<VolumeDetails> CreateVolume(
      const std::string& name, const std::map<std::string, std::string>& labels) = 0;

  // --- Events ---
  // Follows the engine's events. `on_open` (may be empty) runs once the
  // engine has accepted the stream, before any event.
  virtual absl::Status Events(const EventsOptions& options, const std::function<void()>& on_open,
                              const EventCallback& on_event, CancelToken* cancel) = 0;

  // --- Async forms (see the header comment) ---
  // A call to attach async requests to. Chained requests (an inspect, then
  // the logs it decides) share one.
  virtual std::shared_ptr<AsyncCall> NewAsyncCall() = 0;
  virtual void InspectContainerAsync(
      const std::shared_ptr<AsyncCall>& call, const std::string& id,
      std::function<void(absl::StatusOr<ContainerDetails>)> done) = 0;
  virtual void ContainerLogsAsync(const std::shared_ptr<AsyncCall>& call,
                                  const LogsOptions& options, bool tty,
                                  std::function<bool(LogFrame frame)> on_frame,
                                  EndCallback on_end) = 0;
  virtual void EventsAsync(const std::shared_ptr<AsyncCall>& call, const EventsOptions& options,
                           std::function<bool(EngineEvent event)> on_event, EndCallback on_end) = 0;
  virtual void PushAsync(const std::shared_ptr<AsyncCall>& call, const PushOptions& options,
                         std::function<bool(const JsonMessage& message)> on_message,
                         EndCallback on_end) = 0;
  virtual void PullAsync(const std::shared_ptr<AsyncCall>& call, const PullOptions& options,
                         std::function<bool(const JsonMessage& message)> on_message,
                         EndCallback on_end) = 0;
};

}  // namespace dkd::core
