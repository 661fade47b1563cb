// BuildGeneratorService: the BuildGenerator RPCs dkd registers with gRPC, over
// core::BuildGenerator, the Dockerfile linter and the Dockerfile optimizer.
// Each RPC is written once: a GuardedCall (Gatekeeper: authentication, the
// role from auth.cc's table, limits, request id, metrics), then convert ->
// call core -> convert back -> map status.
// No domain logic lives here; core's InvalidArgument messages, which name the
// offending field, reach the caller unchanged.
//
// Pure computation: no RPC touches the engine, so all of them work while the
// engine is down. Thread-safe.
#pragma once

#include "core/buildgen/build_generator.h"
#include "dkd/v1/build_generator.grpc.pb.h"
#include "server/gatekeeper.h"

namespace dkd::server {

class BuildGeneratorService final : public dkd::v1::BuildGenerator::Service {
 public:
  explicit BuildGeneratorService(Gatekeeper* gatekeeper) : gatekeeper_(gatekeeper) {}

  // INVALID_ARGUMENT naming the field on any invalid config value.
  grpc::Status CreateMultiStageBuild(grpc::ServerContext* context,
                                     const dkd::v1::BuildConfig* request,
                                     dkd::v1::MultiStageBuild* response) override;
  // The Dockerfile, its .dockerignore and the stages they came from.
  grpc::Status GenerateDockerfile(grpc::ServerContext* context, const dkd::v1::BuildConfig* request,
                                  dkd::v1::GeneratedDockerfile* response) override;
  // The build script and its bash text; INVALID_ARGUMENT naming the field.
  grpc::Status GenerateBuildScript(grpc::ServerContext* context,
                                   const dkd::v1::BuildScriptConfig* request,
                                   dkd::v1::GeneratedBuildScript* response) override;
  // Always OK: text that does not parse is reported in parse_error.
  grpc::Status LintDockerfile(grpc::ServerContext* context,
                              const dkd::v1::LintDockerfileRequest* request,
                              dkd::v1::LintDockerfileResponse* response) override;
  // INVALID_ARGUMENT when the text does not parse as a Dockerfile.
  grpc::Status OptimizeDockerfile(grpc::ServerContext* context,
                                  const dkd::v1::OptimizeDockerfileRequest* request,
                                  dkd::v1::OptimizeDockerfileResponse* response) override;

 private:
  core::BuildGenerator generator_;
  Gatekeeper* gatekeeper_;
};

}  // namespace dkd::server
