// DaemonConfig: everything dkd is configured with, from a JSON file and flags.
//
// The file is optional; flags override the keys they name (see
// daemon_options.h). Every key is validated at start and on reload: an
// unknown key, a wrong type or a bad value is InvalidArgument naming the key
// (and the flag, when a flag set it), so a typo never silently weakens the
// security posture. deploy/dkd.example.json documents every key.
//
// Plain values; thread-compatible. The parts that may change on SIGHUP
// (tokens, roles, run policy, ownership, limits) are grouped in
// SecuritySettings so they can be swapped as one snapshot.
#pragma once

#include <array>
#include <cstdint>
#include <map>
#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"
#include "absl/time/time.h"
#include "core/base/digest.h"
#include "core/policy/run_policy.h"
#include "nlohmann/json.hpp"

namespace dkd::server {

// Roles are ordered: each includes the ones before it.
enum class Role { kNone = 0, kRead = 1, kBuild = 2, kAdmin = 3 };

const char* RoleName(Role role);
// "none", "read", "build", "admin".
absl::StatusOr<Role> ParseRole(absl::string_view name);

// A bearer token, stored as the SHA-256 of the token text.
struct TokenEntry {
  std::string identity;
  std::array<unsigned char, 32> sha256{};
};

struct AuthSettings {
  std::vector<TokenEntry> tokens;
  // Identity (token identity, certificate CN or SAN) -> role.
  std::map<std::string, Role> roles;
  // Role of callers on the unix socket that present no token.
  Role unix_socket_role = Role::kAdmin;
  // Role of callers on plain TCP that present no credentials. None unless
  // the operator opts in (auth.anonymous_role; logged loudly): a TCP port
  // cannot tell one local user from another.
  Role anonymous_role = Role::kNone;
  // auth.local_token_file (local_token.h); "" = no local token.
  std::string local_token_file;
  // SHA-256 of the local token, when dkd has one. Presented from loopback or
  // the unix socket, it gives identity "unix" and unix_socket_role.
  bool has_local_token = false;
  std::array<unsigned char, 32> local_token_sha256{};
};

struct LimitsSettings {
  int64_t max_message_bytes = 16 * 1024 * 1024;
  int64_t max_context_bytes = 0;  // 0 = unlimited.
  int max_concurrent_builds = 4;
  int max_streams_per_identity = 128;
  // Calls of any kind in progress per identity (streams included).
  int max_calls_per_identity = 256;
  // Unary calls that arrive without a deadline get this one (0 = none).
  absl::Duration unary_deadline = absl::Minutes(10);
  // Per-RPC overrides by method name ("RunContainer"), streams included.
  std::map<std::string, absl::Duration> deadlines;
};

// The reloadable part of the configuration.
struct SecuritySettings {
  AuthSettings auth;
  core::RunPolicy policy;
  bool ownership = false;
  LimitsSettings limits;
};

struct TlsSettings {
  std::string cert;       // PEM server certificate chain.
  std::string key;        // PEM private key.
  std::string client_ca;  // PEM CA bundle client certificates are verified against.
  // With client_ca: refuse the handshake without a valid client certificate.
  // Off: a certificate is verified when given, and tokens may be used instead.
  bool require_client_cert = true;
  bool enabled() const { return !cert.empty(); }
};

struct DaemonConfig {
  std::string engine;
  std::string unix_socket = "/run/dkd/dkd.sock";
  std::string unix_socket_group;  // Group name or numeric gid; "" keeps dkd's.
  std::string tcp = "127.0.0.1:7575";
  bool insecure_tcp = false;
  std::string port_file;
  TlsSettings tls;
  SecuritySettings security;
  std::string audit_file;  // "" = audit lines go to the daemon log.
  std::string http_listen = "127.0.0.1:7576";
  std::string http_port_file;
  std::string log_level = "info";
  std::string log_format = "text";
  absl::Duration health_interval = absl::Seconds(2);
  // Inactivity bound of engine calls that should answer promptly, and of the
  // health ping (core/engine/engine_client.h).
  absl::Duration engine_response_timeout = absl::Seconds(10);
  // Where dkd keeps its small state (step containers of interrupted builds);
  // "" = the unix socket's directory, or nothing persisted without one.
  std::string state_dir;
  absl::Duration shutdown_grace = absl::Seconds(10);
  // Longest age of the event-refreshed container list `ps` is served from
  // (core::ContainerListCache); zero disables it.
  absl::Duration list_cache_max_age = absl::Seconds(1);
};

// Flag-provided overrides: a JSON object with the same shape as the file, and
// for each dotted key the flag that set it (for error messages).
struct ConfigOverrides {
  nlohmann::json values = nlohmann::json::object();
  std::map<std::string, std::string> flags;
  // Sets `dotted_key` to `value`, remembering `flag`.
  void Set(const std::string& dotted_key, nlohmann::json value, const std::string& flag);
};

// Reads `path` ("" = no file), applies `overrides`, validates every key.
absl::StatusOr<DaemonConfig> LoadConfig(const std::string& path, const ConfigOverrides& overrides);

// Parses and validates an already-read config document (for tests).
absl::StatusOr<DaemonConfig> ParseConfig(const nlohmann::json& doc,
                                         const ConfigOverrides& overrides);

// Lowercase hex SHA-256 of `text` (what auth.tokens[].sha256 holds).
using core::Sha256Hex;

}  // namespace dkd::server
