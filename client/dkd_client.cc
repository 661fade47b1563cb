#include "client/dkd_client.h"

#include <grpcpp/grpcpp.h>

#include <cstdlib>

#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/strip.h"

namespace dkd::client {

std::string DefaultHost() {
  const char* env = std::getenv("DKD_HOST");
  if (env != nullptr && *env != '\0') return env;
  return "unix:///run/dkd/dkd.sock";
}

absl::StatusOr<std::string> GrpcTarget(absl::string_view host) {
  if (absl::ConsumePrefix(&host, "unix://") || absl::StartsWith(host, "/")) {
    if (host.empty() || host.front() != '/') {
      return absl::InvalidArgumentError("--host: unix:// needs an absolute socket path");
    }
    return absl::StrCat("unix:", host);
  }
  absl::ConsumePrefix(&host, "tcp://");
  if (host.empty() || host.find(':') == absl::string_view::npos) {
    return absl::InvalidArgumentError(
        absl::StrCat("--host: expected unix:///path or tcp://host:port, got \"", host, "\""));
  }
  return std::string(host);
}

absl::Status FromGrpcStatus(const grpc::Status& status) {
  if (status.ok()) return absl::OkStatus();
  return absl::Status(static_cast<absl::StatusCode>(status.error_code()), status.error_message());
}

absl::StatusOr<std::unique_ptr<DkdClient>> DkdClient::Connect(absl::string_view host) {
  auto target = GrpcTarget(host);
  if (!target.ok()) return target.status();
  grpc::ChannelArguments args;
  args.SetMaxReceiveMessageSize(64 * 1024 * 1024);
  auto channel = grpc::CreateCustomChannel(*target, grpc::InsecureChannelCredentials(), args);
  auto client = std::make_unique<DkdClient>(channel, dkd::v1::DockerManager::NewStub(channel),
                                            dkd::v1::BuildGenerator::NewStub(channel),
                                            dkd::v1::ImageOptimizer::NewStub(channel));
  client->target_ = *target;
  return client;
}

DkdClient::DkdClient(std::shared_ptr<grpc::Channel> channel,
                     std::unique_ptr<dkd::v1::DockerManager::StubInterface> docker,
                     std::unique_ptr<dkd::v1::BuildGenerator::StubInterface> generator,
                     std::unique_ptr<dkd::v1::ImageOptimizer::StubInterface> optimizer)
    : channel_(std::move(channel)),
      docker_(std::move(docker)),
      generator_(std::move(generator)),
      optimizer_(std::move(optimizer)) {}

absl::StatusOr<dkd::v1::PingResponse> DkdClient::Ping(std::chrono::milliseconds timeout) {
  grpc::ClientContext ctx;
  ctx.set_deadline(std::chrono::system_clock::now() + timeout);
  dkd::v1::PingRequest req;
  dkd::v1::PingResponse resp;
  grpc::Status s = docker_->Ping(&ctx, req, &resp);
  if (!s.ok()) return FromGrpcStatus(s);
  return resp;
}

}  // namespace dkd::client
