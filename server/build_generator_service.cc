// BuildGeneratorService: each BuildGenerator RPC, guarded, converted and delegated to core.
#include "server/build_generator_service.h"

#include <string>
#include <utility>

#include "core/buildgen/dockerfile_linter.h"
#include "core/buildgen/dockerfile_optimizer.h"
#include "server/build_generator_convert.h"

namespace dkd::server {

grpc::Status BuildGeneratorService::CreateMultiStageBuild(grpc::ServerContext* context,
                                                          const dkd::v1::BuildConfig* request,
                                                          dkd::v1::MultiStageBuild* response) {
  return gatekeeper_->Serve(context, "/dkd.v1.BuildGenerator/CreateMultiStageBuild", "",
                            [&](GuardedCall&) {
                              auto build = generator_.CreateMultiStageBuild(FromProto(*request));
                              if (!build.ok()) return build.status();
                              ToProto(*build, response);
                              return absl::OkStatus();
                            });
}

grpc::Status BuildGeneratorService::GenerateDockerfile(grpc::ServerContext* context,
                                                       const dkd::v1::BuildConfig* request,
                                                       dkd::v1::GeneratedDockerfile* response) {
  return gatekeeper_->Serve(context, "/dkd.v1.BuildGenerator/GenerateDockerfile", "",
                            [&](GuardedCall&) {
                              auto generated = generator_.GenerateDockerfile(FromProto(*request));
                              if (!generated.ok()) return generated.status();
                              response->set_dockerfile(std::move(generated->dockerfile));
                              response->set_dockerignore(std::move(generated->dockerignore));
                              ToProto(generated->build, response->mutable_build());
                              return absl::OkStatus();
                            });
}

grpc::Status BuildGeneratorService::GenerateBuildScript(grpc::ServerContext* context,
                                                        const dkd::v1::BuildScriptConfig* request,
                                                        dkd::v1::GeneratedBuildScript* response) {
  return gatekeeper_->Serve(context, "/dkd.v1.BuildGenerator/GenerateBuildScript", "",
                            [&](GuardedCall&) {
                              auto generated = generator_.GenerateBuildScript(FromProto(*request));
                              if (!generated.ok()) return generated.status();
                              ToProto(generated->script, response->mutable_script());
                              response->set_shell_script(std::move(generated->shell_script));
                              return absl::OkStatus();
                            });
}

grpc::Status BuildGeneratorService::LintDockerfile(grpc::ServerContext* context,
                                                   const dkd::v1::LintDockerfileRequest* request,
                                                   dkd::v1::LintDockerfileResponse* response) {
  return gatekeeper_->Serve(
      context, "/dkd.v1.BuildGenerator/LintDockerfile", "", [&](GuardedCall&) {
        const core::DockerfileLinter linter(LintOptionsFromProto(*request));
        core::LintResult result = linter.Lint(request->dockerfile());
        for (const auto& f : result.findings) ToProto(f, response->add_findings());
        response->set_error_count(result.error_count);
        response->set_warning_count(result.warning_count);
        if (!result.parse_error.empty()) {
          const std::string& name =
              request->filename().empty() ? "Dockerfile" : request->filename();
          response->set_parse_error(name + ": " + result.parse_error);
        }
        return absl::OkStatus();
      });
}

grpc::Status BuildGeneratorService::OptimizeDockerfile(
    grpc::ServerContext* context, const dkd::v1::OptimizeDockerfileRequest* request,
    dkd::v1::OptimizeDockerfileResponse* response) {
  return gatekeeper_->Serve(context, "/dkd.v1.BuildGenerator/OptimizeDockerfile", "",
                            [&](GuardedCall&) {
                              auto result = core::OptimizeDockerfile(request->dockerfile());
                              if (!result.ok()) return result.status();
                              response->set_dockerfile(std::move(result->dockerfile));
                              for (auto& c : result->changes) response->add_changes(std::move(c));
                              for (const auto& f : result->findings_before)
                                ToProto(f, response->add_findings_before());
                              for (const auto& f : result->findings_after)
                                ToProto(f, response->add_findings_after());
                              return absl::OkStatus();
                            });
}

}  // namespace dkd::server
