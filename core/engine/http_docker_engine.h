// HttpDockerEngine: DockerEngine over the engine's HTTP API (EngineClient for
// blocking calls, one EngineStreamLoop thread for the async forms).
//
// Request shapes (paths, queries, headers, bodies) are those of the Docker
// Engine API v1.41, with the version negotiated by EngineClient. Bodies are
// decoded by core/engine/engine_json.h and the stream decoders of
// core/engine/engine_streams.h. Thread-safe.
#pragma once

#include <memory>
#include <string>
#include <vector>

#include "absl/base/thread_annotations.h"
#include "absl/synchronization/mutex.h"
#include "core/engine/docker_engine.h"
#include "core/engine/engine_client.h"
#include "core/engine/engine_stream_loop.h"

namespace dkd::core {

class HttpDockerEngine final : public DockerEngine {
 public:
  explicit HttpDockerEngine(std::shared_ptr<EngineClient> client);
  ~HttpDockerEngine() override;

  // The transport, for the health monitor and for tests.
  EngineClient& client() { return *client_; }
  // The loop that serves the async forms (started on first use).
  EngineStreamLoop& stream_loop();

  absl::Duration response_timeout() const override;
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

  // The engine requests behind the calls above (exposed for tests that pin
  // their shapes).
  static EngineRequest LogsRequest(const LogsOptions& options);
  static EngineRequest EventsRequest(const EventsOptions& options);
  static EngineRequest BuildRequest(const BuildOptions& options);
  static EngineRequest PushRequest(const PushOptions& options);
  static EngineRequest PullRequest(const PullOptions& options);

 private:
  absl::Status Messages(const EngineRequest& request, const MessageCallback& on_message,
                        CancelToken* cancel);
  void StartMessages(const std::shared_ptr<AsyncCall>& call, EngineRequest request,
                     std::function<bool(const JsonMessage& message)> on_message,
                     EndCallback on_end);

  const std::shared_ptr<EngineClient> client_;
  absl::Mutex mu_;
  // Destroyed first, while the client it uses lives.
  std::unique_ptr<EngineStreamLoop> loop_ ABSL_GUARDED_BY(mu_);
};

// "/containers/<id><suffix>", the id percent-encoded and without a leading "/".
std::string ContainerApiPath(const std::string& id, absl::string_view suffix = "");

}  // namespace dkd::core
