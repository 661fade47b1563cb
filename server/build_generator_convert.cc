// BuildGenerator conversions (build_generator_convert.h): proto to core and
// back, field by field.
#include "server/build_generator_convert.h"

#include <map>
#include <string>

namespace dkd::server {
namespace {

template <typename Repeated>
std::vector<std::string> Strings(const Repeated& r) {
  return std::vector<std::string>(r.begin(), r.end());
}

template <typename ProtoMap>
std::map<std::string, std::string> Map(const ProtoMap& m) {
  return std::map<std::string, std::string>(m.begin(), m.end());
}

template <typename ProtoMap>
void CopyMap(const std::map<std::string, std::string>& from, ProtoMap* to) {
  for (const auto& [k, v] : from) (*to)[k] = v;
}

template <typename Repeated>
void CopyStrings(const std::vector<std::string>& from, Repeated* to) {
  for (const auto& s : from) to->Add(std::string(s));
}

}  // namespace

core::BuildConfig FromProto(const dkd::v1::BuildConfig& p) {
  core::BuildConfig c;
  c.build_type = p.build_type();
  c.base_image = p.base_image();
  c.runtime_base_image = p.runtime_base_image();
  c.build_commands = Strings(p.build_commands());
  c.runtime_commands = Strings(p.runtime_commands());
  c.metadata = Map(p.metadata());
  c.language_version = p.language_version();
  c.package_manager = p.package_manager();
  c.entrypoint = Strings(p.entrypoint());
  c.command = Strings(p.command());
  c.port = p.port();
  c.health_check = Strings(p.health_check());
  c.extra_packages = Strings(p.extra_packages());
  c.environment = Map(p.environment());
  c.labels = Map(p.labels());
  c.build_args = Map(p.build_args());
  c.user = p.user();
  c.working_directory = p.working_directory();
  c.use_buildkit_cache = p.use_buildkit_cache();
  c.syntax = p.syntax();
  c.main = p.main();
  return c;
}

core::BuildScript FromProto(const dkd::v1::BuildScriptConfig& p) {
  core::BuildScript c;
  c.name = p.name();
  c.dockerfile_path = p.dockerfile_path();
  c.context_path = p.context_path();
  c.build_args = Map(p.build_args());
  c.tags = Strings(p.tags());
  c.push_targets = Strings(p.push_targets());
  c.dependencies = Strings(p.dependencies());
  c.target = p.target();
  c.no_cache = p.no_cache();
  c.pull = p.pull();
  c.labels = Map(p.labels());
  return c;
}

core::LintOptions LintOptionsFromProto(const dkd::v1::LintDockerfileRequest& p) {
  core::LintOptions o;
  o.ignore_rules = Strings(p.ignore_rules());
  o.trusted_registries = Strings(p.trusted_registries());
  return o;
}

void ToProto(const core::BuildConfig& c, dkd::v1::BuildConfig* p) {
  p->set_build_type(c.build_type);
  p->set_base_image(c.base_image);
  p->set_runtime_base_image(c.runtime_base_image);
  CopyStrings(c.build_commands, p->mutable_build_commands());
  CopyStrings(c.runtime_commands, p->mutable_runtime_commands());
  CopyMap(c.metadata, p->mutable_metadata());
  p->set_language_version(c.language_version);
  p->set_package_manager(c.package_manager);
  CopyStrings(c.entrypoint, p->mutable_entrypoint());
  CopyStrings(c.command, p->mutable_command());
  p->set_port(c.port);
  CopyStrings(c.health_check, p->mutable_health_check());
  CopyStrings(c.extra_packages, p->mutable_extra_packages());
  CopyMap(c.environment, p->mutable_environment());
  CopyMap(c.labels, p->mutable_labels());
  CopyMap(c.build_args, p->mutable_build_args());
  p->set_user(c.user);
  p->set_working_directory(c.working_directory);
  p->set_use_buildkit_cache(c.use_buildkit_cache);
  p->set_syntax(c.syntax);
  p->set_main(c.main);
}

void ToProto(const core::CopyCommand& c, dkd::v1::CopyCommand* p) {
  CopyStrings(c.sources, p->mutable_sources());
  p->set_destination(c.destination);
  p->set_from_stage(c.from_stage);
  p->set_chown(c.chown);
}

void ToProto(const core::BuildStage& c, dkd::v1::BuildStage* p) {
  p->set_name(c.name);
  p->set_base_image(c.base_image);
  for (const auto& i : c.commands) {
    auto* out = p->add_commands();
    if (i.run) {
      out->set_run(*i.run);
    } else if (i.copy) {
      ToProto(*i.copy, out->mutable_copy());
    }
  }
  for (const auto& cc : c.copy_commands) ToProto(cc, p->add_copy_commands());
  CopyMap(c.labels, p->mutable_labels());
  CopyMap(c.environment, p->mutable_environment());
  p->set_working_directory(c.working_directory);
  p->set_user(c.user);
  CopyMap(c.args, p->mutable_args());
  for (uint32_t port : c.expose_ports) p->add_expose_ports(port);
  CopyStrings(c.entrypoint, p->mutable_entrypoint());
  CopyStrings(c.cmd, p->mutable_cmd());
  if (!c.health_check.test.empty()) {
    auto* h = p->mutable_health_check();
    CopyStrings(c.health_check.test, h->mutable_test());
    h->set_interval_seconds(c.health_check.interval_seconds);
    h->set_timeout_seconds(c.health_check.timeout_seconds);
    h->set_start_period_seconds(c.health_check.start_period_seconds);
    h->set_retries(c.health_check.retries);
  }
  CopyStrings(c.setup_commands, p->mutable_setup_commands());
  CopyStrings(c.run_mounts, p->mutable_run_mounts());
}

void ToProto(const core::MultiStageBuild& c, dkd::v1::MultiStageBuild* p) {
  for (const auto& s : c.stages) ToProto(s, p->add_stages());
  p->set_final_stage(c.final_stage);
  CopyMap(c.metadata, p->mutable_metadata());
  CopyMap(c.global_args, p->mutable_global_args());
  CopyMap(c.directives, p->mutable_directives());
}

void ToProto(const core::BuildScript& c, dkd::v1::BuildScript* p) {
  p->set_name(c.name);
  p->set_dockerfile_path(c.dockerfile_path);
  p->set_context_path(c.context_path);
  CopyMap(c.build_args, p->mutable_build_args());
  CopyStrings(c.tags, p->mutable_tags());
  CopyStrings(c.push_targets, p->mutable_push_targets());
  CopyStrings(c.dependencies, p->mutable_dependencies());
  p->set_target(c.target);
  p->set_no_cache(c.no_cache);
  p->set_pull(c.pull);
  CopyMap(c.labels, p->mutable_labels());
}

dkd::v1::Severity ToProto(core::LintSeverity s) {
  switch (s) {
    case core::LintSeverity::kError:
      return dkd::v1::SEVERITY_ERROR;
    case core::LintSeverity::kWarning:
      return dkd::v1::SEVERITY_WARNING;
    case core::LintSeverity::kInfo:
      return dkd::v1::SEVERITY_INFO;
    case core::LintSeverity::kStyle:
      return dkd::v1::SEVERITY_STYLE;
  }
  return dkd::v1::SEVERITY_UNSPECIFIED;
}

void ToProto(const core::LintFinding& c, dkd::v1::LintFinding* p) {
  p->set_rule(c.rule);
  p->set_line(c.line);
  p->set_severity(ToProto(c.severity));
  p->set_message(c.message);
}

}  // namespace dkd::server
