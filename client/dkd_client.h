// DkdClient: the typed C++ client for dkd.
//
// One method per RPC that callers use. Unary calls return absl::StatusOr or
// absl::Status; streams deliver each message to a callback and return the
// final status. Every grpc::ClientContext is made here: deadlines, the bearer
// token, and cancellation through a CallCanceller. gRPC statuses become
// absl::Status once (FromGrpcStatus). Idempotent unary calls are retried on
// UNAVAILABLE per RetryPolicy; calls that change state and streams never are.
//
// Written against the stubs' StubInterface so tests inject the generated
// gMock stubs. Thread-safe: the stubs and channel may be shared by threads,
// and methods keep no state between calls.
#pragma once

#include <chrono>
#include <functional>
#include <memory>
#include <optional>
#include <string>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"
#include "client/build_context.h"
#include "client/call_canceller.h"
#include "client/connect_options.h"
#include "client/retry_policy.h"
#include "client/rpc_status.h"
#include "dkd/v1/build_generator.grpc.pb.h"
#include "dkd/v1/docker_manager.grpc.pb.h"
#include "dkd/v1/image_optimizer.grpc.pb.h"

namespace dkd::client {

class DkdClient {
 public:
  struct Options {
    std::string token;  // Sent as `authorization: Bearer <token>`; "" for none.
    RetryPolicy retry;
  };

  // Connects lazily to `host` (see GrpcTarget) with DefaultConnectOptions().
  static absl::StatusOr<std::unique_ptr<DkdClient>> Connect(absl::string_view host);
  // InvalidArgument naming the file when a TLS file cannot be read.
  static absl::StatusOr<std::unique_ptr<DkdClient>> Connect(absl::string_view host,
                                                            const ConnectOptions& options);

  DkdClient(std::unique_ptr<dkd::v1::DockerManager::StubInterface> docker,
            std::unique_ptr<dkd::v1::BuildGenerator::StubInterface> generator,
            std::unique_ptr<dkd::v1::ImageOptimizer::StubInterface> optimizer,
            Options options = {});

  const std::string& target() const { return target_; }
  // Why no local token was sent to a loopback dkd ("" when one was, or none
  // was needed): worth showing the user next to an UNAUTHENTICATED error.
  const std::string& auth_hint() const { return auth_hint_; }

  // --- DockerManager: reads (retried) ---

  // dkd's and the engine's versions. Each attempt gives up after `timeout`.
  absl::StatusOr<dkd::v1::PingResponse> Ping(
      std::chrono::milliseconds timeout = std::chrono::seconds(10));
  absl::StatusOr<dkd::v1::EngineInfo> GetEngineInfo();
  absl::StatusOr<dkd::v1::ListContainersResponse> ListContainers(
      const dkd::v1::ListContainersRequest& request);
  // NotFound when no container has that name or id.
  absl::StatusOr<dkd::v1::ContainerDetails> InspectContainer(const std::string& id);
  absl::StatusOr<dkd::v1::ListImagesResponse> ListImages(const dkd::v1::ListImagesRequest& request);
  // NotFound when no image has that reference or id.
  absl::StatusOr<dkd::v1::ImageDetails> InspectImage(const std::string& image);

  // --- DockerManager: changes (never retried) ---

  absl::StatusOr<dkd::v1::RunContainerResponse> RunContainer(
      const dkd::v1::RunContainerRequest& request);
  // Blocks until the container exits.
  absl::StatusOr<dkd::v1::WaitContainerResponse> WaitContainer(const std::string& id);
  // `timeout_seconds` unset: the container's own stop timeout.
  absl::Status StopContainer(const std::string& id, std::optional<int> timeout_seconds);
  struct RemoveContainerOptions {
    bool force = false;           // Kill it first if it runs.
    bool remove_volumes = false;  // Its anonymous volumes too.
  };
  absl::Status RemoveContainer(const std::string& id, const RemoveContainerOptions& options);
  struct RemoveImageOptions {
    bool force = false;
    bool no_prune = false;  // Keep untagged parents.
  };
  absl::StatusOr<dkd::v1::RemoveImageResponse> RemoveImage(const std::string& image,
                                                           const RemoveImageOptions& options);

  // --- DockerManager: streams (never retried) ---
  // Callbacks run on the calling thread unless said otherwise. `cancel` may be
  // null; a cancelled call returns Cancelled.

  // Streams `context` to dkd and builds it per `spec` (its Dockerfile name
  // is taken from the context). `on_event` gets every build event, on a
  // reader thread, while the context is still being sent; `on_context` the
  // totals after every chunk sent, and `on_context_done` is called once the
  // last one was (or packing stopped), before the build's end is awaited.
  // Returns the result event's content, dkd's
  // error, or a LocalError "error sending the build context: …" when the
  // context could not be read while dkd had nothing to object.
  struct BuildCallbacks {
    std::function<void(const dkd::v1::BuildEvent&)> on_event;
    std::function<void(const core::ContextStats&)> on_context;
    std::function<void()> on_context_done;
  };
  absl::StatusOr<dkd::v1::BuildResult> BuildImage(dkd::v1::BuildSpec spec,
                                                  const BuildContext& context,
                                                  const BuildCallbacks& callbacks,
                                                  CallCanceller* cancel = nullptr);
  using ProgressCallback = std::function<void(const dkd::v1::ProgressEvent&)>;
  // Returns the digest pushed (the last one reported; "" if none was).
  absl::StatusOr<std::string> PushImage(const std::string& image, const dkd::v1::RegistryAuth& auth,
                                        const ProgressCallback& on_progress,
                                        CallCanceller* cancel = nullptr);
  // `platform` "" for the engine's own.
  absl::Status PullImage(const std::string& image, const std::string& platform,
                         const dkd::v1::RegistryAuth& auth, const ProgressCallback& on_progress,
                         CallCanceller* cancel = nullptr);
  absl::Status ContainerLogs(const dkd::v1::ContainerLogsRequest& request,
                             const std::function<void(const dkd::v1::LogEntry&)>& on_entry,
                             CallCanceller* cancel = nullptr);
  absl::Status StreamEvents(const dkd::v1::StreamEventsRequest& request,
                            const std::function<void(const dkd::v1::EngineEvent&)>& on_event,
                            CallCanceller* cancel = nullptr);

  // --- BuildGenerator (pure computations: retried; 60 s per attempt) ---

  absl::StatusOr<dkd::v1::MultiStageBuild> CreateMultiStageBuild(
      const dkd::v1::BuildConfig& config);
  absl::StatusOr<dkd::v1::GeneratedDockerfile> GenerateDockerfile(
      const dkd::v1::BuildConfig& config);
  absl::StatusOr<dkd::v1::GeneratedBuildScript> GenerateBuildScript(
      const dkd::v1::BuildScriptConfig& config);
  absl::StatusOr<dkd::v1::LintDockerfileResponse> LintDockerfile(
      const dkd::v1::LintDockerfileRequest& request);
  absl::StatusOr<dkd::v1::OptimizeDockerfileResponse> OptimizeDockerfile(
      const dkd::v1::OptimizeDockerfileRequest& request);

  // --- ImageOptimizer (reads: retried) ---

  absl::StatusOr<dkd::v1::ImageAnalysis> AnalyzeImage(const dkd::v1::AnalyzeImageRequest& request);
  absl::StatusOr<dkd::v1::SuggestOptimizationsResponse> SuggestOptimizations(
      const dkd::v1::AnalyzeImageRequest& request);
  absl::StatusOr<dkd::v1::ImageComparison> CompareImages(
      const dkd::v1::CompareImagesRequest& request);
  absl::StatusOr<dkd::v1::OptimizationReport> GetOptimizationReport(
      const dkd::v1::AnalyzeImageRequest& request);

 private:
  // How one unary call is made.
  struct CallSpec {
    bool idempotent = false;
    std::optional<std::chrono::milliseconds> timeout;
  };
  template <typename Stub, typename Request, typename Response>
  absl::StatusOr<Response> Unary(Stub& stub,
                                 grpc::Status (Stub::*method)(grpc::ClientContext*, const Request&,
                                                              Response*),
                                 const Request& request, const CallSpec& spec);
  template <typename Response, typename Open>
  absl::Status ReadStream(const Open& open, const std::function<void(const Response&)>& on_message,
                          CallCanceller* cancel);
  // Sets the deadline (if any) and the token on a new call's context.
  void Prepare(grpc::ClientContext& context,
               std::optional<std::chrono::milliseconds> timeout) const;

  std::unique_ptr<dkd::v1::DockerManager::StubInterface> docker_;
  std::unique_ptr<dkd::v1::BuildGenerator::StubInterface> generator_;
  std::unique_ptr<dkd::v1::ImageOptimizer::StubInterface> optimizer_;
  Options options_;
  std::string target_;
  std::string auth_hint_;
};

}  // namespace dkd::client
