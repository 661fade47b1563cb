// Decoders from the Docker Engine's JSON answers to typed values.
#include "core/engine/engine_json.h"

#include <utility>

#include "absl/strings/match.h"
#include "absl/strings/numbers.h"

namespace dkd::core {
namespace {

using nlohmann::json;

std::string Str(const json& j, const char* key) {
  if (!j.is_object()) return "";
  auto it = j.find(key);
  return (it != j.end() && it->is_string()) ? it->get<std::string>() : std::string();
}

template <typename T>
T Num(const json& j, const char* key, T fallback = 0) {
  if (!j.is_object()) return fallback;
  auto it = j.find(key);
  return (it != j.end() && it->is_number()) ? it->get<T>() : fallback;
}

bool Bool(const json& j, const char* key, bool fallback = false) {
  if (!j.is_object()) return fallback;
  auto it = j.find(key);
  return (it != j.end() && it->is_boolean()) ? it->get<bool>() : fallback;
}

const json& Member(const json& j, const char* key) {
  static const json kNull;
  if (!j.is_object()) return kNull;
  auto it = j.find(key);
  return it != j.end() ? *it : kNull;
}

// An array of strings (non-strings skipped); a lone string is one element.
std::vector<std::string> Strings(const json& j) {
  std::vector<std::string> out;
  if (j.is_array()) {
    for (const auto& s : j) {
      if (s.is_string()) out.push_back(s.get<std::string>());
    }
  } else if (j.is_string()) {
    out.push_back(j.get<std::string>());
  }
  return out;
}

std::vector<std::string> Keys(const json& j) {
  std::vector<std::string> out;
  if (!j.is_object()) return out;
  for (auto it = j.begin(); it != j.end(); ++it) out.push_back(it.key());
  return out;
}

std::string WithoutSlash(std::string name) {
  if (absl::StartsWith(name, "/")) name = name.substr(1);
  return name;
}

std::vector<ContainerMount> Mounts(const json& j) {
  std::vector<ContainerMount> out;
  if (!j.is_array()) return out;
  for (const auto& m : j) {
    if (!m.is_object()) continue;
    ContainerMount mount;
    mount.type = Str(m, "Type");
    mount.source = Str(m, "Source");
    mount.destination = Str(m, "Destination");
    mount.name = Str(m, "Name");
    if (auto rw = m.find("RW"); rw != m.end() && rw->is_boolean()) mount.rw = rw->get<bool>();
    out.push_back(std::move(mount));
  }
  return out;
}

std::vector<std::string> NetworkNames(const json& settings) {
  return Keys(Member(settings, "Networks"));
}

ContainerSummary SummaryOf(const json& c) {
  ContainerSummary s;
  s.id = Str(c, "Id");
  if (const json& names = Member(c, "Names");
      names.is_array() && !names.empty() && names[0].is_string()) {
    s.name = WithoutSlash(names[0].get<std::string>());
  }
  s.image = Str(c, "Image");
  s.image_id = Str(c, "ImageID");
  s.command = Str(c, "Command");
  s.created = Num<int64_t>(c, "Created");
  s.state = Str(c, "State");
  s.status = Str(c, "Status");
  if (const json& ports = Member(c, "Ports"); ports.is_array()) {
    for (const auto& p : ports) {
      s.ports.push_back(
          {Num<int>(p, "PrivatePort"), Str(p, "Type"), Str(p, "IP"), Num<int>(p, "PublicPort")});
    }
  }
  s.labels = StringMembers(Member(c, "Labels"));
  s.networks = NetworkNames(Member(c, "NetworkSettings"));
  s.mounts = Mounts(Member(c, "Mounts"));
  return s;
}

}  // namespace

std::map<std::string, std::string> StringMembers(const json& j) {
  std::map<std::string, std::string> out;
  if (!j.is_object()) return out;
  for (auto it = j.begin(); it != j.end(); ++it) {
    if (it.value().is_string()) out[it.key()] = it.value().get<std::string>();
  }
  return out;
}

std::string EncodeFilters(const EngineFilters& filters) {
  json j = json::object();
  for (const auto& [k, vs] : filters) {
    if (!vs.empty()) j[k] = vs;
  }
  return j.dump();
}

absl::StatusOr<EngineInfo> DecodeEngineInfo(const json& j) {
  if (!j.is_object()) return absl::InternalError("engine info answer is not a JSON object");
  EngineInfo i;
  i.id = Str(j, "ID");
  i.name = Str(j, "Name");
  i.containers = Num<int64_t>(j, "Containers");
  i.containers_running = Num<int64_t>(j, "ContainersRunning");
  i.containers_paused = Num<int64_t>(j, "ContainersPaused");
  i.containers_stopped = Num<int64_t>(j, "ContainersStopped");
  i.images = Num<int64_t>(j, "Images");
  i.server_version = Str(j, "ServerVersion");
  i.storage_driver = Str(j, "Driver");
  i.logging_driver = Str(j, "LoggingDriver");
  i.cgroup_driver = Str(j, "CgroupDriver");
  i.operating_system = Str(j, "OperatingSystem");
  i.kernel_version = Str(j, "KernelVersion");
  i.architecture = Str(j, "Architecture");
  i.ncpu = Num<int64_t>(j, "NCPU");
  i.mem_total = Num<int64_t>(j, "MemTotal");
  i.docker_root_dir = Str(j, "DockerRootDir");
  i.raw_json = j.dump();
  return i;
}

absl::StatusOr<std::vector<ContainerSummary>> DecodeContainerList(absl::string_view body,
                                                                  bool mounts) {
  // Depths: 0 the array, 1 a container, 2 its keys, 3 NetworkSettings' keys,
  // 4 network names, 5 an endpoint's keys.
  json::parser_callback_t keep = [mounts](int depth, json::parse_event_t event, json& parsed) {
    if (mounts || event != json::parse_event_t::key) return true;
    if (depth == 5) return false;
    if (depth != 2) return true;
    const auto& key = parsed.get_ref<const std::string&>();
    return key != "HostConfig" && key != "Mounts";
  };
  auto j = json::parse(body.begin(), body.end(), keep, /*allow_exceptions=*/false);
  if (j.is_discarded() || !j.is_array()) {
    return absl::InternalError("engine returned a malformed container list");
  }
  return DecodeContainerList(j);
}

std::vector<ContainerSummary> DecodeContainerList(const json& j) {
  std::vector<ContainerSummary> out;
  if (!j.is_array()) return out;
  for (const auto& c : j) {
    if (c.is_object()) out.push_back(SummaryOf(c));
  }
  return out;
}

absl::StatusOr<ContainerDetails> DecodeContainerDetails(const json& j) {
  if (!j.is_object()) {
    return absl::InternalError("engine returned malformed JSON for the container inspect");
  }
  ContainerDetails d;
  d.id = Str(j, "Id");
  d.name = WithoutSlash(Str(j, "Name"));
  d.image_id = Str(j, "Image");
  d.created = Str(j, "Created");
  d.restart_count = Num<int>(j, "RestartCount");
  if (const json& st = Member(j, "State"); st.is_object()) {
    ContainerState s;
    s.status = Str(st, "Status");
    s.running = Bool(st, "Running");
    s.paused = Bool(st, "Paused");
    s.restarting = Bool(st, "Restarting");
    s.oom_killed = Bool(st, "OOMKilled");
    s.pid = Num<int>(st, "Pid");
    s.exit_code = Num<int>(st, "ExitCode");
    s.error = Str(st, "Error");
    s.started_at = Str(st, "StartedAt");
    s.finished_at = Str(st, "FinishedAt");
    s.health = Str(Member(st, "Health"), "Status");
    d.state = std::move(s);
  }
  if (const json& cfg = Member(j, "Config"); cfg.is_object()) {
    d.has_config = true;
    d.image = Str(cfg, "Image");
    d.cmd = Strings(Member(cfg, "Cmd"));
    d.entrypoint = Strings(Member(cfg, "Entrypoint"));
    d.env = Strings(Member(cfg, "Env"));
    d.labels = StringMembers(Member(cfg, "Labels"));
    d.working_dir = Str(cfg, "WorkingDir");
    d.user = Str(cfg, "User");
    d.tty = Bool(cfg, "Tty");
  }
  if (const json& hc = Member(j, "HostConfig"); hc.is_object()) {
    d.memory_bytes = Num<int64_t>(hc, "Memory");
    d.nano_cpus = Num<int64_t>(hc, "NanoCpus");
    if (const json& rp = Member(hc, "RestartPolicy"); rp.is_object()) {
      std::string policy = Str(rp, "Name");
      const int retries = Num<int>(rp, "MaximumRetryCount");
      if (policy.empty()) policy = "no";
      if (policy == "on-failure" && retries > 0) policy += ":" + std::to_string(retries);
      d.restart_policy = policy;
    }
  }
  d.mounts = Mounts(Member(j, "Mounts"));
  if (const json& ns = Member(j, "NetworkSettings"); ns.is_object()) {
    d.networks = NetworkNames(ns);
    if (const json& ports = Member(ns, "Ports"); ports.is_object()) {
      for (auto it = ports.begin(); it != ports.end(); ++it) {
        const std::string key = it.key();
        const size_t slash = key.find('/');
        int cport = 0;
        if (!absl::SimpleAtoi(key.substr(0, slash), &cport)) continue;
        const std::string proto = slash == std::string::npos ? "tcp" : key.substr(slash + 1);
        if (!it.value().is_array() || it.value().empty()) {
          d.ports.push_back({cport, proto, "", 0});
          continue;
        }
        for (const auto& b : it.value()) {
          int hport = 0;
          if (!absl::SimpleAtoi(Str(b, "HostPort"), &hport)) hport = 0;
          d.ports.push_back({cport, proto, Str(b, "HostIp"), hport});
        }
      }
    }
  }
  d.raw_json = j.dump();
  return d;
}

CreatedContainer DecodeCreatedContainer(const json& j) {
  CreatedContainer c;
  c.id = Str(j, "Id");
  if (const json& w = Member(j, "Warnings"); w.is_array()) {
    for (const auto& s : w) {
      if (s.is_string()) c.warnings.push_back(s.get<std::string>());
    }
  }
  return c;
}

absl::StatusOr<WaitResult> DecodeWaitResult(absl::string_view body) {
  auto j = json::parse(body.begin(), body.end(), nullptr, false);
  if (j.is_discarded() || !j.is_object()) {
    return absl::InternalError("engine wait answer is not JSON");
  }
  WaitResult w;
  w.exit_code = Num<int>(j, "StatusCode");
  w.error = Str(Member(j, "Error"), "Message");
  return w;
}

std::vector<ImageSummary> DecodeImageList(const json& j) {
  std::vector<ImageSummary> out;
  if (!j.is_array()) return out;
  for (const auto& i : j) {
    if (!i.is_object()) continue;
    ImageSummary s;
    s.id = Str(i, "Id");
    s.parent_id = Str(i, "ParentId");
    for (const std::string& t : Strings(Member(i, "RepoTags"))) {
      if (t != "<none>:<none>" && t != "<none>@<none>") s.repo_tags.push_back(t);
    }
    for (const std::string& t : Strings(Member(i, "RepoDigests"))) {
      if (t != "<none>:<none>" && t != "<none>@<none>") s.repo_digests.push_back(t);
    }
    s.size = Num<int64_t>(i, "Size");
    s.created = Num<int64_t>(i, "Created");
    s.containers = Num<int64_t>(i, "Containers", -1);
    s.labels = StringMembers(Member(i, "Labels"));
    out.push_back(std::move(s));
  }
  return out;
}

absl::StatusOr<ImageDetails> DecodeImageDetails(const json& j) {
  if (!j.is_object()) return absl::InternalError("image inspect answer is not a JSON object");
  ImageDetails d;
  d.id = Str(j, "Id");
  d.repo_tags = Strings(Member(j, "RepoTags"));
  d.repo_digests = Strings(Member(j, "RepoDigests"));
  d.parent = Str(j, "Parent");
  d.created = Str(j, "Created");
  d.size = Num<int64_t>(j, "Size");
  d.architecture = Str(j, "Architecture");
  d.os = Str(j, "Os");
  d.author = Str(j, "Author");
  if (const json& cfg = Member(j, "Config"); cfg.is_object()) {
    d.has_config = true;
    d.user = Str(cfg, "User");
    d.entrypoint = Strings(Member(cfg, "Entrypoint"));
    d.cmd = Strings(Member(cfg, "Cmd"));
    d.env = Strings(Member(cfg, "Env"));
    d.exposed_ports = Keys(Member(cfg, "ExposedPorts"));
    d.volumes = Keys(Member(cfg, "Volumes"));
    d.labels = StringMembers(Member(cfg, "Labels"));
    d.working_dir = Str(cfg, "WorkingDir");
    d.healthcheck = Strings(Member(Member(cfg, "Healthcheck"), "Test"));
  }
  d.layers = Strings(Member(Member(j, "RootFS"), "Layers"));
  d.raw_json = j.dump();
  return d;
}

std::vector<ImageHistoryEntry> DecodeImageHistory(const json& j) {
  std::vector<ImageHistoryEntry> out;
  if (!j.is_array()) return out;
  for (const auto& h : j) {
    if (!h.is_object()) continue;
    ImageHistoryEntry e;
    e.id = Str(h, "Id");
    e.created = Num<int64_t>(h, "Created");
    e.created_by = Str(h, "CreatedBy");
    e.comment = Str(h, "Comment");
    e.size = Num<int64_t>(h, "Size");
    e.tags = Strings(Member(h, "Tags"));
    out.push_back(std::move(e));
  }
  return out;
}

RemoveImageResult DecodeRemoveImage(const json& j) {
  RemoveImageResult out;
  if (!j.is_array()) return out;
  for (const auto& e : j) {
    if (!e.is_object()) continue;
    if (e.contains("Untagged")) out.untagged.push_back(Str(e, "Untagged"));
    if (e.contains("Deleted")) out.deleted.push_back(Str(e, "Deleted"));
  }
  return out;
}

NetworkDetails DecodeNetwork(const json& j) {
  return NetworkDetails{Str(j, "Id"), Str(j, "Name"), Str(j, "Driver")};
}

VolumeDetails DecodeVolume(const json& j) {
  return VolumeDetails{Str(j, "Name"), Str(j, "Driver"), StringMembers(Member(j, "Labels"))};
}

absl::StatusOr<EngineEvent> DecodeEvent(absl::string_view line) {
  auto j = json::parse(line.begin(), line.end(), nullptr, false);
  if (j.is_discarded() || !j.is_object()) {
    return absl::InternalError("engine sent a malformed event");
  }
  EngineEvent e;
  e.type = Str(j, "Type");
  e.action = Str(j, "Action");
  e.scope = Str(j, "scope");
  e.time_nano = Num<int64_t>(j, "timeNano");
  if (const json& a = Member(j, "Actor"); a.is_object()) {
    e.actor_id = Str(a, "ID");
    e.attributes = StringMembers(Member(a, "Attributes"));
  }
  return e;
}

}  // namespace dkd::core
