// DkdClient (dkd_client.h): connecting, the deadline, token and retries of each
// call, and one method per RPC over the stub interfaces.
#include "client/dkd_client.h"

#include <grpcpp/grpcpp.h>

#include <algorithm>
#include <thread>
#include <utility>

#include "absl/strings/str_cat.h"

namespace dkd::client {
namespace {

namespace pb = ::dkd::v1;

constexpr std::chrono::milliseconds kGeneratorTimeout = std::chrono::seconds(60);

// Attaches a call's context to a canceller for the length of the call.
class CancelScope {
 public:
  CancelScope(CallCanceller* cancel, grpc::ClientContext* context) : cancel_(cancel) {
    if (cancel_ != nullptr) cancel_->Attach(context);
  }
  ~CancelScope() {
    if (cancel_ != nullptr) cancel_->Detach();
  }
  CancelScope(const CancelScope&) = delete;
  CancelScope& operator=(const CancelScope&) = delete;

 private:
  CallCanceller* const cancel_;
};

absl::Status Cancelled() { return absl::CancelledError("cancelled"); }

}  // namespace

absl::StatusOr<std::unique_ptr<DkdClient>> DkdClient::Connect(absl::string_view host) {
  return Connect(host, DefaultConnectOptions());
}

absl::StatusOr<std::unique_ptr<DkdClient>> DkdClient::Connect(absl::string_view host,
                                                              const ConnectOptions& options) {
  auto connection = ResolveConnection(host, options);
  if (!connection.ok()) return connection.status();
  grpc::ChannelArguments args;
  args.SetMaxReceiveMessageSize(64 * 1024 * 1024);
  auto channel = grpc::CreateCustomChannel(connection->target, connection->credentials, args);
  Options client_options;
  client_options.token = connection->token;
  auto client = std::make_unique<DkdClient>(
      pb::DockerManager::NewStub(channel), pb::BuildGenerator::NewStub(channel),
      pb::ImageOptimizer::NewStub(channel), std::move(client_options));
  client->target_ = connection->target;
  client->auth_hint_ = std::move(connection->auth_hint);
  return client;
}

DkdClient::DkdClient(std::unique_ptr<pb::DockerManager::StubInterface> docker,
                     std::unique_ptr<pb::BuildGenerator::StubInterface> generator,
                     std::unique_ptr<pb::ImageOptimizer::StubInterface> optimizer, Options options)
    : docker_(std::move(docker)),
      generator_(std::move(generator)),
      optimizer_(std::move(optimizer)),
      options_(std::move(options)) {}

void DkdClient::Prepare(grpc::ClientContext& context,
                        std::optional<std::chrono::milliseconds> timeout) const {
  if (timeout) context.set_deadline(std::chrono::system_clock::now() + *timeout);
  // Metadata rather than call credentials, so the token also goes over the
  // unix socket and plain loopback TCP.
  if (!options_.token.empty()) context.AddMetadata("authorization", "Bearer " + options_.token);
}

template <typename Stub, typename Request, typename Response>
absl::StatusOr<Response> DkdClient::Unary(Stub& stub,
                                          grpc::Status (Stub::*method)(grpc::ClientContext*,
                                                                       const Request&, Response*),
                                          const Request& request, const CallSpec& spec) {
  const RetryPolicy& retry = options_.retry;
  const int attempts = spec.idempotent ? std::max(1, retry.max_attempts) : 1;
  std::chrono::milliseconds backoff = retry.initial_backoff;
  for (int attempt = 1;; ++attempt) {
    grpc::ClientContext context;
    Prepare(context, spec.timeout);
    Response response;
    absl::Status status = FromGrpcStatus((stub.*method)(&context, request, &response));
    if (status.ok()) return response;
    if (attempt >= attempts || !RetryPolicy::Retryable(status)) return status;
    if (retry.sleep) {
      retry.sleep(backoff);
    } else {
      std::this_thread::sleep_for(backoff);
    }
    backoff *= 2;
  }
}

template <typename Response, typename Open>
absl::Status DkdClient::ReadStream(const Open& open,
                                   const std::function<void(const Response&)>& on_message,
                                   CallCanceller* cancel) {
  if (cancel != nullptr && cancel->cancelled()) return Cancelled();
  grpc::ClientContext context;
  Prepare(context, std::nullopt);
  CancelScope scope(cancel, &context);
  std::unique_ptr<grpc::ClientReaderInterface<Response>> reader = open(&context);
  Response message;
  while (reader->Read(&message)) {
    if (on_message) on_message(message);
  }
  return FromGrpcStatus(reader->Finish());
}

// --- DockerManager ---

absl::StatusOr<pb::PingResponse> DkdClient::Ping(std::chrono::milliseconds timeout) {
  return Unary(*docker_, &pb::DockerManager::StubInterface::Ping, pb::PingRequest(),
               {/*idempotent=*/true, timeout});
}

absl::StatusOr<pb::EngineInfo> DkdClient::GetEngineInfo() {
  return Unary(*docker_, &pb::DockerManager::StubInterface::GetEngineInfo,
               pb::GetEngineInfoRequest(), {/*idempotent=*/true, std::nullopt});
}

absl::StatusOr<pb::ListContainersResponse> DkdClient::ListContainers(
    const pb::ListContainersRequest& request) {
  return Unary(*docker_, &pb::DockerManager::StubInterface::ListContainers, request,
               {/*idempotent=*/true, std::nullopt});
}

absl::StatusOr<pb::ContainerDetails> DkdClient::InspectContainer(const std::string& id) {
  pb::InspectContainerRequest request;
  request.set_id(id);
  return Unary(*docker_, &pb::DockerManager::StubInterface::InspectContainer, request,
               {/*idempotent=*/true, std::nullopt});
}

absl::StatusOr<pb::ListImagesResponse> DkdClient::ListImages(const pb::ListImagesRequest& request) {
  return Unary(*docker_, &pb::DockerManager::StubInterface::ListImages, request,
               {/*idempotent=*/true, std::nullopt});
}

absl::StatusOr<pb::ImageDetails> DkdClient::InspectImage(const std::string& image) {
  pb::InspectImageRequest request;
  request.set_image(image);
  return Unary(*docker_, &pb::DockerManager::StubInterface::InspectImage, request,
               {/*idempotent=*/true, std::nullopt});
}

absl::StatusOr<pb::RunContainerResponse> DkdClient::RunContainer(
    const pb::RunContainerRequest& request) {
  return Unary(*docker_, &pb::DockerManager::StubInterface::RunContainer, request, {});
}

absl::StatusOr<pb::WaitContainerResponse> DkdClient::WaitContainer(const std::string& id) {
  pb::WaitContainerRequest request;
  request.set_id(id);
  return Unary(*docker_, &pb::DockerManager::StubInterface::WaitContainer, request, {});
}

absl::Status DkdClient::StopContainer(const std::string& id, std::optional<int> timeout_seconds) {
  pb::StopContainerRequest request;
  request.set_id(id);
  if (timeout_seconds) request.mutable_timeout_seconds()->set_value(*timeout_seconds);
  return Unary(*docker_, &pb::DockerManager::StubInterface::StopContainer, request, {}).status();
}

absl::Status DkdClient::RemoveContainer(const std::string& id,
                                        const RemoveContainerOptions& options) {
  pb::RemoveContainerRequest request;
  request.set_id(id);
  request.set_force(options.force);
  request.set_remove_volumes(options.remove_volumes);
  return Unary(*docker_, &pb::DockerManager::StubInterface::RemoveContainer, request, {}).status();
}

absl::StatusOr<pb::RemoveImageResponse> DkdClient::RemoveImage(const std::string& image,
                                                               const RemoveImageOptions& options) {
  pb::RemoveImageRequest request;
  request.set_image(image);
  request.set_force(options.force);
  request.set_no_prune(options.no_prune);
  return Unary(*docker_, &pb::DockerManager::StubInterface::RemoveImage, request, {});
}

absl::StatusOr<pb::BuildResult> DkdClient::BuildImage(pb::BuildSpec spec,
                                                      const BuildContext& context,
                                                      const BuildCallbacks& callbacks,
                                                      CallCanceller* cancel) {
  if (cancel != nullptr && cancel->cancelled()) return Cancelled();
  spec.set_context_source(pb::BuildSpec::STREAMED);
  spec.mutable_config()->set_dockerfile_path(context.dockerfile_name());
  grpc::ClientContext call;
  Prepare(call, std::nullopt);
  CancelScope scope(cancel, &call);
  auto stream = docker_->BuildImage(&call);
  pb::BuildImageRequest first;
  *first.mutable_spec() = std::move(spec);
  if (!stream->Write(first)) return FromGrpcStatus(stream->Finish());

  // Events are read on their own thread while the context is being sent.
  pb::BuildResult result;
  std::thread reader([&] {
    pb::BuildEvent e;
    while (stream->Read(&e)) {
      if (e.has_result()) result = e.result();
      if (callbacks.on_event) callbacks.on_event(e);
    }
  });
  auto stats = context.Pack(
      [&](const char* data, size_t len) {
        pb::BuildImageRequest chunk;
        chunk.set_context_chunk(data, len);
        return stream->Write(chunk);
      },
      callbacks.on_context);
  if (callbacks.on_context_done) callbacks.on_context_done();
  stream->WritesDone();
  reader.join();
  absl::Status status = FromGrpcStatus(stream->Finish());
  if (!stats.ok() && status.ok()) {
    return LocalError(stats.status().code(),
                      absl::StrCat("error sending the build context: ", stats.status().message()));
  }
  if (!status.ok()) return status;
  return result;
}

absl::StatusOr<std::string> DkdClient::PushImage(const std::string& image,
                                                 const pb::RegistryAuth& auth,
                                                 const ProgressCallback& on_progress,
                                                 CallCanceller* cancel) {
  pb::PushImageRequest request;
  request.set_image(image);
  *request.mutable_auth() = auth;
  std::string digest;
  absl::Status s = ReadStream<pb::ProgressEvent>(
      [&](grpc::ClientContext* c) { return docker_->PushImage(c, request); },
      [&](const pb::ProgressEvent& e) {
        if (!e.digest().empty()) digest = e.digest();
        if (on_progress) on_progress(e);
      },
      cancel);
  if (!s.ok()) return s;
  return digest;
}

absl::Status DkdClient::PullImage(const std::string& image, const std::string& platform,
                                  const pb::RegistryAuth& auth, const ProgressCallback& on_progress,
                                  CallCanceller* cancel) {
  pb::PullImageRequest request;
  request.set_image(image);
  request.set_platform(platform);
  *request.mutable_auth() = auth;
  return ReadStream<pb::ProgressEvent>(
      [&](grpc::ClientContext* c) { return docker_->PullImage(c, request); }, on_progress, cancel);
}

absl::Status DkdClient::ContainerLogs(const pb::ContainerLogsRequest& request,
                                      const std::function<void(const pb::LogEntry&)>& on_entry,
                                      CallCanceller* cancel) {
  return ReadStream<pb::LogEntry>(
      [&](grpc::ClientContext* c) { return docker_->ContainerLogs(c, request); }, on_entry, cancel);
}

absl::Status DkdClient::StreamEvents(const pb::StreamEventsRequest& request,
                                     const std::function<void(const pb::EngineEvent&)>& on_event,
                                     CallCanceller* cancel) {
  return ReadStream<pb::EngineEvent>(
      [&](grpc::ClientContext* c) { return docker_->StreamEvents(c, request); }, on_event, cancel);
}

// --- BuildGenerator ---

absl::StatusOr<pb::MultiStageBuild> DkdClient::CreateMultiStageBuild(
    const pb::BuildConfig& config) {
  return Unary(*generator_, &pb::BuildGenerator::StubInterface::CreateMultiStageBuild, config,
               {/*idempotent=*/true, kGeneratorTimeout});
}

absl::StatusOr<pb::GeneratedDockerfile> DkdClient::GenerateDockerfile(
    const pb::BuildConfig& config) {
  return Unary(*generator_, &pb::BuildGenerator::StubInterface::GenerateDockerfile, config,
               {/*idempotent=*/true, kGeneratorTimeout});
}

absl::StatusOr<pb::GeneratedBuildScript> DkdClient::GenerateBuildScript(
    const pb::BuildScriptConfig& config) {
  return Unary(*generator_, &pb::BuildGenerator::StubInterface::GenerateBuildScript, config,
               {/*idempotent=*/true, kGeneratorTimeout});
}

absl::StatusOr<pb::LintDockerfileResponse> DkdClient::LintDockerfile(
    const pb::LintDockerfileRequest& request) {
  return Unary(*generator_, &pb::BuildGenerator::StubInterface::LintDockerfile, request,
               {/*idempotent=*/true, kGeneratorTimeout});
}

absl::StatusOr<pb::OptimizeDockerfileResponse> DkdClient::OptimizeDockerfile(
    const pb::OptimizeDockerfileRequest& request) {
  return Unary(*generator_, &pb::BuildGenerator::StubInterface::OptimizeDockerfile, request,
               {/*idempotent=*/true, kGeneratorTimeout});
}

// --- ImageOptimizer ---

absl::StatusOr<pb::ImageAnalysis> DkdClient::AnalyzeImage(const pb::AnalyzeImageRequest& request) {
  return Unary(*optimizer_, &pb::ImageOptimizer::StubInterface::AnalyzeImage, request,
               {/*idempotent=*/true, std::nullopt});
}

absl::StatusOr<pb::SuggestOptimizationsResponse> DkdClient::SuggestOptimizations(
    const pb::AnalyzeImageRequest& request) {
  return Unary(*optimizer_, &pb::ImageOptimizer::StubInterface::SuggestOptimizations, request,
               {/*idempotent=*/true, std::nullopt});
}

absl::StatusOr<pb::ImageComparison> DkdClient::CompareImages(
    const pb::CompareImagesRequest& request) {
  return Unary(*optimizer_, &pb::ImageOptimizer::StubInterface::CompareImages, request,
               {/*idempotent=*/true, std::nullopt});
}

absl::StatusOr<pb::OptimizationReport> DkdClient::GetOptimizationReport(
    const pb::AnalyzeImageRequest& request) {
  return Unary(*optimizer_, &pb::ImageOptimizer::StubInterface::GetOptimizationReport, request,
               {/*idempotent=*/true, std::nullopt});
}

}  // namespace dkd::client
