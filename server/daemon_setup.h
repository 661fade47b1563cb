// The steps of dkd's start-up and reload that need no running server: the
// gRPC listeners the configuration names, TLS credentials, the local token,
// the run policy actually enforced, and which changes a reload cannot apply.
// Free functions over plain values; thread-compatible.
#pragma once

#include <grpcpp/security/server_credentials.h>

#include <memory>
#include <string>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "core/engine/engine_address.h"
#include "core/policy/run_policy.h"
#include "server/config.h"
#include "server/listen_address.h"

namespace dkd::server {

// The gRPC listeners of a configuration, unix socket first.
struct GrpcListeners {
  std::vector<ListenAddress> addresses;
  // A plain-TCP listener on a non-loopback address (listen.insecure_tcp).
  bool insecure_remote = false;
};

// Parses listen.unix_socket and listen.tcp and checks that the TCP listener
// is allowed with the TLS and client authentication configured. The error
// names the key at fault.
absl::StatusOr<GrpcListeners> ParseGrpcListeners(const DaemonConfig& config);

// The run policy as configured, plus the engine's own socket and dkd's own
// files (its socket and the directory holding it and the local token, the
// token, the TLS key, the config, the audit log and the state directory),
// which no bind mount may expose whatever the roots say: each of them is a
// way to act as dkd.
core::RunPolicy EffectivePolicy(const DaemonConfig& config, const core::EngineAddress& engine,
                                const std::string& config_path);

// Server credentials for the TCP listener from tls.*. InvalidArgument naming
// the key whose file cannot be read.
absl::StatusOr<std::shared_ptr<grpc::ServerCredentials>> TlsCredentials(const TlsSettings& tls);

// Creates or loads the local token and puts its hash in `auth`.
absl::Status SetUpLocalToken(const DaemonConfig& config, AuthSettings* auth);

// A reload keeps the token dkd started with (the file is not re-read).
void KeepLocalToken(const AuthSettings& running, AuthSettings* reloaded);

// True when `reloaded` changes something only a restart applies: listeners,
// TLS, engine, HTTP or max_message_bytes.
bool NeedsRestart(const DaemonConfig& running, const DaemonConfig& reloaded);

// Writes `port` to `path` atomically (through a rename); "" writes nothing.
void WritePortFile(const std::string& path, int port);

}  // namespace dkd::server
