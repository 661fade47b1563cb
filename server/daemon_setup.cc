// The start-up steps that need no server (daemon_setup.h): listeners, TLS
// credentials, the local token, the effective policy, what a reload cannot change.
#include "server/daemon_setup.h"

#include <grpcpp/security/server_credentials.h>

#include <cstdio>
#include <filesystem>
#include <fstream>
#include <sstream>
#include <system_error>

#include "server/local_token.h"

namespace dkd::server {
namespace {

bool ReadFile(const std::string& path, std::string* out) {
  std::ifstream in(path);
  if (!in) return false;
  std::stringstream ss;
  ss << in.rdbuf();
  *out = ss.str();
  return true;
}

}  // namespace

absl::StatusOr<GrpcListeners> ParseGrpcListeners(const DaemonConfig& config) {
  GrpcListeners listeners;
  if (!config.unix_socket.empty()) {
    auto a = ParseListenAddress("listen.unix_socket", config.unix_socket);
    if (!a.ok()) return a.status();
    if (!a->is_unix) {
      return absl::InvalidArgumentError("listen.unix_socket must be a unix socket path");
    }
    listeners.addresses.push_back(*a);
  }
  if (!config.tcp.empty()) {
    auto a = ParseListenAddress("listen.tcp", config.tcp);
    if (!a.ok()) return a.status();
    if (a->is_unix) return absl::InvalidArgumentError("listen.tcp must be host:port");
    const bool client_auth = !config.tls.client_ca.empty() || !config.security.auth.tokens.empty();
    if (absl::Status s =
            CheckTcpListenerAllowed(*a, config.tls.enabled(), client_auth, config.insecure_tcp);
        !s.ok()) {
      return s;
    }
    listeners.insecure_remote = !IsLoopbackHost(a->host) && !config.tls.enabled();
    listeners.addresses.push_back(*a);
  }
  return listeners;
}

core::RunPolicy EffectivePolicy(const DaemonConfig& config, const core::EngineAddress& engine,
                                const std::string& config_path) {
  core::RunPolicy policy = config.security.policy;
  if (engine.scheme == core::EngineAddress::Scheme::kUnix && !engine.socket_path.empty()) {
    policy.forbidden_paths.push_back(engine.socket_path);
  }
  auto forbid = [&policy](const std::string& path) {
    if (path.empty()) return;
    std::error_code ec;
    const std::filesystem::path absolute = std::filesystem::absolute(path, ec);
    if (!ec) policy.forbidden_paths.push_back(absolute.lexically_normal().string());
  };
  forbid(config.unix_socket);
  if (const size_t slash = config.unix_socket.rfind('/'); slash != std::string::npos && slash > 0) {
    forbid(config.unix_socket.substr(0, slash));
  }
  forbid(config.security.auth.local_token_file);
  forbid(config.tls.key);
  forbid(config_path);
  forbid(config.audit_file);
  forbid(config.state_dir);
  return policy;
}

absl::StatusOr<std::shared_ptr<grpc::ServerCredentials>> TlsCredentials(const TlsSettings& tls) {
  grpc::SslServerCredentialsOptions::PemKeyCertPair pair;
  if (!ReadFile(tls.key, &pair.private_key)) {
    return absl::InvalidArgumentError("config key tls.key: cannot read " + tls.key);
  }
  if (!ReadFile(tls.cert, &pair.cert_chain)) {
    return absl::InvalidArgumentError("config key tls.cert: cannot read " + tls.cert);
  }
  grpc_ssl_client_certificate_request_type request = GRPC_SSL_DONT_REQUEST_CLIENT_CERTIFICATE;
  grpc::SslServerCredentialsOptions options(request);
  if (!tls.client_ca.empty()) {
    if (!ReadFile(tls.client_ca, &options.pem_root_certs)) {
      return absl::InvalidArgumentError("config key tls.client_ca: cannot read " + tls.client_ca);
    }
    options.client_certificate_request =
        tls.require_client_cert ? GRPC_SSL_REQUEST_AND_REQUIRE_CLIENT_CERTIFICATE_AND_VERIFY
                                : GRPC_SSL_REQUEST_CLIENT_CERTIFICATE_AND_VERIFY;
  }
  options.pem_key_cert_pairs.push_back(std::move(pair));
  return grpc::SslServerCredentials(options);
}

absl::Status SetUpLocalToken(const DaemonConfig& config, AuthSettings* auth) {
  auto gid = ResolveSocketGroup(config.unix_socket_group);
  if (!gid.ok()) return gid.status();
  auto token = LoadOrCreateLocalToken(auth->local_token_file, *gid);
  if (!token.ok()) return token.status();
  const std::string hash = Sha256Hex(*token);
  for (size_t i = 0; i < auth->local_token_sha256.size(); ++i) {
    auth->local_token_sha256[i] =
        static_cast<unsigned char>(std::stoi(hash.substr(i * 2, 2), nullptr, 16));
  }
  auth->has_local_token = true;
  return absl::OkStatus();
}

void KeepLocalToken(const AuthSettings& running, AuthSettings* reloaded) {
  reloaded->local_token_file = running.local_token_file;
  reloaded->has_local_token = running.has_local_token;
  reloaded->local_token_sha256 = running.local_token_sha256;
}

bool NeedsRestart(const DaemonConfig& running, const DaemonConfig& reloaded) {
  return reloaded.unix_socket != running.unix_socket || reloaded.tcp != running.tcp ||
         reloaded.tls.cert != running.tls.cert || reloaded.tls.client_ca != running.tls.client_ca ||
         reloaded.http_listen != running.http_listen || reloaded.engine != running.engine ||
         reloaded.security.limits.max_message_bytes != running.security.limits.max_message_bytes;
}

void WritePortFile(const std::string& path, int port) {
  if (path.empty()) return;
  const std::string tmp = path + ".tmp";
  std::ofstream(tmp) << port << "\n";
  std::rename(tmp.c_str(), path.c_str());
}

}  // namespace dkd::server
