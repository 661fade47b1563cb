// BuildKitSession: the gRPC services dkd serves to the engine for one
// BuildKit build — registry credentials (moby.filesync.v1.Auth), secrets
// (moby.buildkit.secrets.v1.Secrets) and the checked build context
// (moby.filesync.v1.FileSync) — over a hijacked `POST /session`.
//
// The engine dials the session like a gRPC client over h2c on the hijacked
// connection; dkd serves it with a gRPC server of the session's own, so a
// session only ever knows its own build's credentials and secrets. A build
// names it with `session=<id>`; ids are random and chosen by dkd, never by a
// caller. Credentials are given only for the registry host they were given
// for; a secret only by its id. Neither is ever logged. The session also
// serves grpc.health.v1 (BuildKit drops a session whose health check fails).
// Close() (or the destructor) ends it. Thread-safe.
#pragma once

#include <map>
#include <memory>
#include <string>

#include "absl/status/statusor.h"
#include "core/docker/docker_manager.h"
#include "core/engine/engine_client.h"
#include "core/engine/registry_auth.h"

namespace grpc {
class Server;
}  // namespace grpc

namespace dkd::server {

struct BuildKitSessionOptions {
  // Credentials by registry host ("127.0.0.1:5000", "docker.io"); a
  // server_address with a scheme or path is reduced to its host.
  std::vector<core::RegistryAuth> credentials;
  // Secret bytes by id (`RUN --mount=type=secret,id=...`).
  std::map<std::string, std::string> secrets;
  // The checked build context (moby.filesync.v1.FileSync), or none.
  std::shared_ptr<const core::ContextStore> context;
  // Shown by the engine as the session's name.
  std::string name = "dkd";
};

// The registry host of a server address as BuildKit asks for it: no scheme,
// no path; Docker Hub's spellings are all "docker.io".
std::string RegistryHostOf(absl::string_view server_address);

class BuildKitSession final : public core::BuildSession {
 public:
  // Opens the session on `engine` and starts serving it.
  static absl::StatusOr<std::unique_ptr<BuildKitSession>> Start(core::EngineClient& engine,
                                                                BuildKitSessionOptions options);
  ~BuildKitSession() override;
  BuildKitSession(const BuildKitSession&) = delete;
  BuildKitSession& operator=(const BuildKitSession&) = delete;

  // The id a build passes as `session=`.
  const std::string& id() const override { return id_; }
  // Stops serving and closes the connection. Idempotent.
  void Close();

  class Services;

 private:
  BuildKitSession(std::string id, std::unique_ptr<Services> services);

  const std::string id_;
  std::unique_ptr<Services> services_;
  std::unique_ptr<grpc::Server> server_;
};

// The factory DockerManager opens BuildKit sessions with, on `engine`.
core::BuildSessionFactory BuildKitSessionFactory(std::shared_ptr<core::EngineClient> engine);

}  // namespace dkd::server
