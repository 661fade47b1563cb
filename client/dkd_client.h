// DkdClient: a typed C++ client for dkd over the generated gRPC stubs.
//
// Written against the stubs' StubInterface so tests can inject gMock stubs.
// gRPC statuses are mapped back to absl::Status once, here. Thread-safe: the
// stubs and channel may be shared by many threads.
#pragma once

#include <chrono>
#include <memory>
#include <string>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"
#include "dkd/v1/build_generator.grpc.pb.h"
#include "dkd/v1/docker_manager.grpc.pb.h"
#include "dkd/v1/image_optimizer.grpc.pb.h"

namespace dkd::client {

// The default dkd address: $DKD_HOST, else unix:///run/dkd/dkd.sock.
std::string DefaultHost();

// Turns a DKD_HOST-style address ("unix:///path", "/path", "tcp://h:p",
// "h:p") into a gRPC target. InvalidArgument on anything else.
absl::StatusOr<std::string> GrpcTarget(absl::string_view host);

// grpc::Status -> absl::Status with the same code and message.
absl::Status FromGrpcStatus(const grpc::Status& status);

// How to reach a dkd that wants TLS or a token. Like docker's flags: any TLS
// file (or `tls`) turns TLS on; the server certificate is always verified,
// against `tls_ca` or else the system roots.
struct ConnectOptions {
  bool tls = false;
  std::string tls_ca;    // PEM file: CA that signed dkd's certificate.
  std::string tls_cert;  // PEM file: client certificate (mutual TLS).
  std::string tls_key;   // PEM file: its key.
  std::string token;     // Bearer token, sent as `authorization` metadata.
  // dkd's local token file, read when `token` is empty, TLS is off and the
  // host is a loopback TCP address (tcp://127.0.0.1, localhost, [::1]): it
  // gives such callers the unix socket's role, if they may read it.
  std::string local_token_file = kDefaultLocalTokenFile;
  bool UsesTls() const { return tls || !tls_ca.empty() || !tls_cert.empty() || !tls_key.empty(); }
  static constexpr const char* kDefaultLocalTokenFile = "/run/dkd/local-token";
};

// True when the gRPC `target` ("127.0.0.1:7575") is a loopback TCP address.
bool IsLoopbackTarget(absl::string_view target);

// The options Connect(host) uses: those set by SetDefaultConnectOptions, else
// from the environment: DKD_TOKEN, DKD_TOKEN_FILE, DKD_TLS_CA, DKD_TLS_CERT,
// DKD_TLS_KEY and DKD_TLS=1.
ConnectOptions DefaultConnectOptions();
void SetDefaultConnectOptions(const ConnectOptions& options);

class DkdClient {
 public:
  // Connects lazily to `host` (see GrpcTarget) with DefaultConnectOptions().
  static absl::StatusOr<std::unique_ptr<DkdClient>> Connect(absl::string_view host);
  // InvalidArgument naming the file when a TLS file cannot be read.
  static absl::StatusOr<std::unique_ptr<DkdClient>> Connect(absl::string_view host,
                                                            const ConnectOptions& options);

  DkdClient(std::shared_ptr<grpc::Channel> channel,
            std::unique_ptr<dkd::v1::DockerManager::StubInterface> docker,
            std::unique_ptr<dkd::v1::BuildGenerator::StubInterface> generator,
            std::unique_ptr<dkd::v1::ImageOptimizer::StubInterface> optimizer);

  // Unavailable with a hint when dkd cannot be reached within `timeout`.
  absl::StatusOr<dkd::v1::PingResponse> Ping(
      std::chrono::milliseconds timeout = std::chrono::seconds(10));

  dkd::v1::DockerManager::StubInterface& docker() { return *docker_; }
  dkd::v1::BuildGenerator::StubInterface& generator() { return *generator_; }
  dkd::v1::ImageOptimizer::StubInterface& optimizer() { return *optimizer_; }
  const std::string& target() const { return target_; }
  // Why no local token was sent to a loopback dkd ("" when one was, or none
  // was needed): worth showing the user next to an UNAUTHENTICATED error.
  const std::string& auth_hint() const { return auth_hint_; }

 private:
  std::shared_ptr<grpc::Channel> channel_;
  std::unique_ptr<dkd::v1::DockerManager::StubInterface> docker_;
  std::unique_ptr<dkd::v1::BuildGenerator::StubInterface> generator_;
  std::unique_ptr<dkd::v1::ImageOptimizer::StubInterface> optimizer_;
  std::string target_;
  std::string auth_hint_;
};

}  // namespace dkd::client
