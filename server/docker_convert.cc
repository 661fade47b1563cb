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

std::string Str(const nlohmann::json& j, const char* key) {
  auto it = j.find(key);
  return (it != j.end() && it->is_string()) ? it->get<std::string>() : std::string();
}

void StringList(const nlohmann::json& j, const char* key,
                google::protobuf::RepeatedPtrField<std::string>* out) {
  auto it = j.find(key);
  if (it == j.end()) return;
  if (it->is_array()) {
    for (const auto& s : *it) {
      if (s.is_string()) out->Add(s.get<std::string>());
    }
  } else if (it->is_string()) {
    out->Add(it->get<std::string>());
  }
}

void EnvMap(const nlohmann::json& j, google::protobuf::Map<std::string, std::string>* out) {
  auto it = j.find("Env");
  if (it == j.end() || !it->is_array()) return;
  for (const auto& e : *it) {
    if (!e.is_string()) continue;
    const std::string s = e.get<std::string>();
    const size_t eq = s.find('=');
    (*out)[s.substr(0, eq)] = eq == std::string::npos ? "" : s.substr(eq + 1);
  }
}

void LabelMap(const nlohmann::json& j, google::protobuf::Map<std::string, std::string>* out) {
  auto it = j.find("Labels");
  if (it == j.end() || !it->is_object()) return;
  for (auto l = it->begin(); l != it->end(); ++l) {
    if (l.value().is_string()) (*out)[l.key()] = l.value().get<std::string>();
  }
}

void KeysOf(const nlohmann::json& j, const char* key,
            google::protobuf::RepeatedPtrField<std::string>* out) {
  auto it = j.find(key);
  if (it == j.end() || !it->is_object()) return;
  for (auto k = it->begin(); k != it->end(); ++k) out->Add(std::string(k.key()));
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

void ContainerDetailsFromJson(const nlohmann::json& j, dkd::v1::ContainerDetails* p) {
  p->set_id(Str(j, "Id"));
  std::string name = Str(j, "Name");
  if (absl::StartsWith(name, "/")) name = name.substr(1);
  p->set_name(name);
  p->set_image_id(Str(j, "Image"));
  p->set_created(Str(j, "Created"));
  p->set_restart_count(j.value("RestartCount", 0));
  if (auto st = j.find("State"); st != j.end() && st->is_object()) {
    auto* s = p->mutable_state();
    s->set_status(Str(*st, "Status"));
    s->set_running(st->value("Running", false));
    s->set_paused(st->value("Paused", false));
    s->set_restarting(st->value("Restarting", false));
    s->set_oom_killed(st->value("OOMKilled", false));
    s->set_pid(st->value("Pid", 0));
    s->set_exit_code(st->value("ExitCode", 0));
    s->set_error(Str(*st, "Error"));
    s->set_started_at(Str(*st, "StartedAt"));
    s->set_finished_at(Str(*st, "FinishedAt"));
    if (auto h = st->find("Health"); h != st->end() && h->is_object())
      s->set_health(Str(*h, "Status"));
  }
  if (auto cfg = j.find("Config"); cfg != j.end() && cfg->is_object()) {
    p->set_image(Str(*cfg, "Image"));
    StringList(*cfg, "Cmd", p->mutable_command());
    StringList(*cfg, "Entrypoint", p->mutable_entrypoint());
    EnvMap(*cfg, p->mutable_environment());
    LabelMap(*cfg, p->mutable_labels());
    p->set_working_dir(Str(*cfg, "WorkingDir"));
    p->set_user(Str(*cfg, "User"));
  }
  if (auto hc = j.find("HostConfig"); hc != j.end() && hc->is_object()) {
    p->set_memory_bytes(hc->value("Memory", int64_t{0}));
    p->set_nano_cpus(hc->value("NanoCpus", int64_t{0}));
    if (auto rp = hc->find("RestartPolicy"); rp != hc->end() && rp->is_object()) {
      std::string policy = Str(*rp, "Name");
      const int retries = rp->value("MaximumRetryCount", 0);
      if (policy.empty()) policy = "no";
      if (policy == "on-failure" && retries > 0) policy += ":" + std::to_string(retries);
      p->set_restart_policy(policy);
    }
  }
  if (auto ms = j.find("Mounts"); ms != j.end() && ms->is_array()) {
    for (const auto& m : *ms) {
      auto* mp = p->add_mounts();
      mp->set_type(Str(m, "Type"));
      mp->set_source(Str(m, "Source"));
      mp->set_destination(Str(m, "Destination"));
      mp->set_name(Str(m, "Name"));
      mp->set_read_only(!m.value("RW", true));
    }
  }
  if (auto ns = j.find("NetworkSettings"); ns != j.end() && ns->is_object()) {
    if (auto nets = ns->find("Networks"); nets != ns->end() && nets->is_object()) {
      for (auto n = nets->begin(); n != nets->end(); ++n) p->add_networks(n.key());
    }
    if (auto ports = ns->find("Ports"); ports != ns->end() && ports->is_object()) {
      for (auto it = ports->begin(); it != ports->end(); ++it) {
        const std::string key = it.key();
        const size_t slash = key.find('/');
        int cport = 0;
        if (!absl::SimpleAtoi(key.substr(0, slash), &cport)) continue;
        const std::string proto = slash == std::string::npos ? "tcp" : key.substr(slash + 1);
        if (!it.value().is_array() || it.value().empty()) {
          auto* m = p->add_ports();
          m->set_container_port(static_cast<uint32_t>(cport));
          m->set_protocol(proto);
          continue;
        }
        for (const auto& b : it.value()) {
          auto* m = p->add_ports();
          m->set_container_port(static_cast<uint32_t>(cport));
          m->set_protocol(proto);
          m->set_host_ip(Str(b, "HostIp"));
          int hport = 0;
          if (absl::SimpleAtoi(Str(b, "HostPort"), &hport))
            m->set_host_port(static_cast<uint32_t>(hport));
        }
      }
    }
  }
  p->set_raw_json(j.dump());
}

void ImageDetailsFromJson(const nlohmann::json& j, dkd::v1::ImageDetails* p) {
  p->set_id(Str(j, "Id"));
  StringList(j, "RepoTags", p->mutable_repo_tags());
  StringList(j, "RepoDigests", p->mutable_repo_digests());
  p->set_parent(Str(j, "Parent"));
  p->set_created(Str(j, "Created"));
  p->set_size(j.value("Size", int64_t{0}));
  p->set_architecture(Str(j, "Architecture"));
  p->set_os(Str(j, "Os"));
  p->set_author(Str(j, "Author"));
  if (auto cfg = j.find("Config"); cfg != j.end() && cfg->is_object()) {
    p->set_user(Str(*cfg, "User"));
    StringList(*cfg, "Entrypoint", p->mutable_entrypoint());
    StringList(*cfg, "Cmd", p->mutable_cmd());
    EnvMap(*cfg, p->mutable_environment());
    KeysOf(*cfg, "ExposedPorts", p->mutable_exposed_ports());
    KeysOf(*cfg, "Volumes", p->mutable_volumes());
    LabelMap(*cfg, p->mutable_labels());
    p->set_working_dir(Str(*cfg, "WorkingDir"));
  }
  if (auto rootfs = j.find("RootFS"); rootfs != j.end() && rootfs->is_object()) {
    StringList(*rootfs, "Layers", p->mutable_layers());
  }
  p->set_raw_json(j.dump());
}

void EngineInfoFromJson(const nlohmann::json& j, dkd::v1::EngineInfo* p) {
  p->set_id(Str(j, "ID"));
  p->set_name(Str(j, "Name"));
  p->set_containers(j.value("Containers", int64_t{0}));
  p->set_containers_running(j.value("ContainersRunning", int64_t{0}));
  p->set_containers_paused(j.value("ContainersPaused", int64_t{0}));
  p->set_containers_stopped(j.value("ContainersStopped", int64_t{0}));
  p->set_images(j.value("Images", int64_t{0}));
  p->set_server_version(Str(j, "ServerVersion"));
  p->set_storage_driver(Str(j, "Driver"));
  p->set_logging_driver(Str(j, "LoggingDriver"));
  p->set_cgroup_driver(Str(j, "CgroupDriver"));
  p->set_operating_system(Str(j, "OperatingSystem"));
  p->set_kernel_version(Str(j, "KernelVersion"));
  p->set_architecture(Str(j, "Architecture"));
  p->set_ncpu(j.value("NCPU", int64_t{0}));
  p->set_mem_total(j.value("MemTotal", int64_t{0}));
  p->set_docker_root_dir(Str(j, "DockerRootDir"));
  p->set_raw_json(j.dump());
}

}  // namespace dkd::server
