// DockerManager conversions (docker_convert.h): proto to core and back, and the
// engine's JSON to detail messages.
#include "server/docker_convert.h"

#include "absl/strings/match.h"
#include "absl/strings/numbers.h"

namespace dkd::server {
namespace {

template <typename M>
std::map<std::string, std::string> ToMap(const M& m) {
  return std::map<std::string, std::string>(m.begin(), m.end());
}

template <typename R>
std::vector<std::string> ToVector(const R& r) {
  return std::vector<std::string>(r.begin(), r.end());
}

void EnvMap(const std::vector<std::string>& env,
            google::protobuf::Map<std::string, std::string>* out) {
  for (const std::string& s : env) {
    const size_t eq = s.find('=');
    (*out)[s.substr(0, eq)] = eq == std::string::npos ? "" : s.substr(eq + 1);
  }
}

void Add(const std::vector<std::string>& from,
         google::protobuf::RepeatedPtrField<std::string>* to) {
  for (const std::string& s : from) to->Add(std::string(s));
}

}  // namespace

core::ContainerConfig FromProto(const dkd::v1::ContainerConfig& p) {
  core::ContainerConfig c;
  c.image_name = p.image_name();
  c.tag = p.tag();
  c.dockerfile_path = p.dockerfile_path();
  c.build_context = p.build_context();
  c.build_args = ToMap(p.build_args());
  c.environment = ToMap(p.environment());
  c.ports = ToMap(p.ports());
  c.volumes = ToMap(p.volumes());
  c.networks = ToVector(p.networks());
  c.restart_policy = p.restart_policy();
  c.labels = ToMap(p.labels());
  return c;
}

core::RegistryAuth FromProto(const dkd::v1::RegistryAuth& p) {
  return {p.username(), p.password(), p.server_address(), p.identity_token(), p.registry_token()};
}

core::RunRequest FromProto(const dkd::v1::RunContainerRequest& p) {
  core::RunRequest r;
  r.config = FromProto(p.config());
  r.detach = p.detach();
  r.name = p.name();
  r.command = ToVector(p.command());
  r.entrypoint = ToVector(p.entrypoint());
  r.working_dir = p.working_dir();
  r.user = p.user();
  r.memory_bytes = p.memory_bytes();
  r.nano_cpus = p.nano_cpus();
  r.auto_remove = p.auto_remove();
  switch (p.pull_policy()) {
    case dkd::v1::RunContainerRequest::NEVER:
      r.pull_policy = core::RunRequest::PullPolicy::kNever;
      break;
    case dkd::v1::RunContainerRequest::ALWAYS:
      r.pull_policy = core::RunRequest::PullPolicy::kAlways;
      break;
    default:
      r.pull_policy = core::RunRequest::PullPolicy::kMissing;
  }
  r.auth = FromProto(p.auth());
  r.output_limit_bytes = p.output_limit_bytes();
  r.privileged = p.privileged();
  r.network_mode = p.network_mode();
  r.pid_mode = p.pid_mode();
  r.ipc_mode = p.ipc_mode();
  r.cap_add = ToVector(p.cap_add());
  r.cap_drop = ToVector(p.cap_drop());
  r.devices = ToVector(p.devices());
  r.timeout_seconds = p.timeout_seconds();
  return r;
}

core::BuildRequest FromProto(const dkd::v1::BuildSpec& p) {
  core::BuildRequest r;
  r.config = FromProto(p.config());
  r.extra_tags = ToVector(p.extra_tags());
  r.target = p.target();
  r.no_cache = p.no_cache();
  r.pull = !p.no_pull();
  r.push = p.push();
  r.auth = FromProto(p.auth());
  r.daemon_path = p.context_source() == dkd::v1::BuildSpec::DAEMON_PATH;
  switch (p.builder()) {
    case dkd::v1::BuildSpec::BUILDER_BUILDKIT:
      r.builder = core::BuildRequest::Builder::kBuildKit;
      break;
    case dkd::v1::BuildSpec::BUILDER_CLASSIC:
      r.builder = core::BuildRequest::Builder::kClassic;
      break;
    default:
      r.builder = core::BuildRequest::Builder::kAuto;
  }
  // A repeated id is a caller's mistake the map would hide.
  for (const auto& secret : p.secrets()) r.secrets.emplace(secret.id(), secret.data());
  r.platform = p.platform();
  r.cache_from = ToVector(p.cache_from());
  return r;
}

core::LogsRequest FromProto(const dkd::v1::ContainerLogsRequest& p) {
  core::LogsRequest r;
  r.id = p.id();
  r.follow = p.follow();
  if (p.has_tail()) r.tail = p.tail().value();
  r.timestamps = p.timestamps();
  r.since = p.since();
  r.until = p.until();
  r.stdout_stream = p.stdout();
  r.stderr_stream = p.stderr();
  if (!r.stdout_stream && !r.stderr_stream) r.stdout_stream = r.stderr_stream = true;
  return r;
}

core::EventsRequest FromProto(const dkd::v1::StreamEventsRequest& p) {
  core::EventsRequest r;
  r.since = p.since();
  r.until = p.until();
  r.filters.assign(p.filters().begin(), p.filters().end());
  return r;
}

void ToProto(const core::LogChunk& c, dkd::v1::LogEntry* p) {
  p->set_stream(c.stream == core::LogChunk::Stream::kStderr    ? dkd::v1::LogEntry::STDERR
                : c.stream == core::LogChunk::Stream::kConsole ? dkd::v1::LogEntry::CONSOLE
                                                               : dkd::v1::LogEntry::STDOUT);
  p->set_data(c.data);
  p->set_timestamp(c.timestamp);
}

void ToProto(const core::Progress& c, dkd::v1::ProgressEvent* p) {
  p->set_id(c.id);
  p->set_status(c.status);
  p->set_current(c.current);
  p->set_total(c.total);
  p->set_digest(c.digest);
  p->set_tag(c.tag);
  p->set_size(c.size);
}

void ToProto(const core::ContainerSummary& c, dkd::v1::ContainerSummary* p) {
  p->set_id(c.id);
  p->set_name(c.name);
  p->set_image(c.image);
  p->set_image_id(c.image_id);
  p->set_command(c.command);
  p->set_created(c.created);
  p->set_state(c.state);
  p->set_status(c.status);
  for (const auto& port : c.ports) {
    auto* m = p->add_ports();
    m->set_container_port(static_cast<uint32_t>(port.container_port));
    m->set_protocol(port.protocol);
    m->set_host_ip(port.host_ip);
    m->set_host_port(static_cast<uint32_t>(port.host_port));
  }
  for (const auto& [k, v] : c.labels) (*p->mutable_labels())[k] = v;
  for (const auto& n : c.networks) p->add_networks(n);
}

void ToProto(const core::ImageSummary& c, dkd::v1::ImageSummary* p) {
  p->set_id(c.id);
  for (const auto& t : c.repo_tags) p->add_repo_tags(t);
  for (const auto& d : c.repo_digests) p->add_repo_digests(d);
  p->set_size(c.size);
  p->set_created(c.created);
  for (const auto& [k, v] : c.labels) (*p->mutable_labels())[k] = v;
  p->set_parent_id(c.parent_id);
  p->set_containers(c.containers);
}

void ToProto(const core::EngineEvent& c, dkd::v1::EngineEvent* p) {
  p->set_type(c.type);
  p->set_action(c.action);
  p->set_actor_id(c.actor_id);
  for (const auto& [k, v] : c.attributes) (*p->mutable_attributes())[k] = v;
  p->set_scope(c.scope);
  p->set_time_nano(c.time_nano);
}

void ContainerDetailsFromJson(const core::ContainerDetails& c, dkd::v1::ContainerDetails* p) {
  p->set_id(c.id);
  p->set_name(c.name);
  p->set_image_id(c.image_id);
  p->set_created(c.created);
  p->set_restart_count(c.restart_count);
  if (c.state.has_value()) {
    const core::ContainerState& st = *c.state;
    auto* s = p->mutable_state();
    s->set_status(st.status);
    s->set_running(st.running);
    s->set_paused(st.paused);
    s->set_restarting(st.restarting);
    s->set_oom_killed(st.oom_killed);
    s->set_pid(st.pid);
    s->set_exit_code(st.exit_code);
    s->set_error(st.error);
    s->set_started_at(st.started_at);
    s->set_finished_at(st.finished_at);
    if (!st.health.empty()) s->set_health(st.health);
  }
  if (c.has_config) {
    p->set_image(c.image);
    Add(c.cmd, p->mutable_command());
    Add(c.entrypoint, p->mutable_entrypoint());
    EnvMap(c.env, p->mutable_environment());
    for (const auto& [k, v] : c.labels) (*p->mutable_labels())[k] = v;
    p->set_working_dir(c.working_dir);
    p->set_user(c.user);
  }
  p->set_memory_bytes(c.memory_bytes);
  p->set_nano_cpus(c.nano_cpus);
  if (!c.restart_policy.empty()) p->set_restart_policy(c.restart_policy);
  for (const core::ContainerMount& m : c.mounts) {
    auto* mp = p->add_mounts();
    mp->set_type(m.type);
    mp->set_source(m.source);
    mp->set_destination(m.destination);
    mp->set_name(m.name);
    mp->set_read_only(!m.rw.value_or(true));
  }
  Add(c.networks, p->mutable_networks());
  for (const core::PortMapping& port : c.ports) {
    auto* m = p->add_ports();
    m->set_container_port(static_cast<uint32_t>(port.container_port));
    m->set_protocol(port.protocol);
    if (!port.host_ip.empty()) m->set_host_ip(port.host_ip);
    if (port.host_port != 0) m->set_host_port(static_cast<uint32_t>(port.host_port));
  }
  p->set_raw_json(c.raw_json);
}

void ImageDetailsFromJson(const core::ImageDetails& c, dkd::v1::ImageDetails* p) {
  p->set_id(c.id);
  Add(c.repo_tags, p->mutable_repo_tags());
  Add(c.repo_digests, p->mutable_repo_digests());
  p->set_parent(c.parent);
  p->set_created(c.created);
  p->set_size(c.size);
  p->set_architecture(c.architecture);
  p->set_os(c.os);
  p->set_author(c.author);
  if (c.has_config) {
    p->set_user(c.user);
    Add(c.entrypoint, p->mutable_entrypoint());
    Add(c.cmd, p->mutable_cmd());
    EnvMap(c.env, p->mutable_environment());
    Add(c.exposed_ports, p->mutable_exposed_ports());
    Add(c.volumes, p->mutable_volumes());
    for (const auto& [k, v] : c.labels) (*p->mutable_labels())[k] = v;
    p->set_working_dir(c.working_dir);
  }
  Add(c.layers, p->mutable_layers());
  p->set_raw_json(c.raw_json);
}

void EngineInfoFromJson(const core::EngineInfo& c, dkd::v1::EngineInfo* p) {
  p->set_id(c.id);
  p->set_name(c.name);
  p->set_containers(c.containers);
  p->set_containers_running(c.containers_running);
  p->set_containers_paused(c.containers_paused);
  p->set_containers_stopped(c.containers_stopped);
  p->set_images(c.images);
  p->set_server_version(c.server_version);
  p->set_storage_driver(c.storage_driver);
  p->set_logging_driver(c.logging_driver);
  p->set_cgroup_driver(c.cgroup_driver);
  p->set_operating_system(c.operating_system);
  p->set_kernel_version(c.kernel_version);
  p->set_architecture(c.architecture);
  p->set_ncpu(c.ncpu);
  p->set_mem_total(c.mem_total);
  p->set_docker_root_dir(c.docker_root_dir);
  p->set_raw_json(c.raw_json);
}

}  // namespace dkd::server
