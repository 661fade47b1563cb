// Container specs (container_spec.h): the create body built field by field
// under the run policy, networks pinned and ephemeral host ports picked.
#include "core/docker/container_spec.h"

#include <algorithm>

#include "absl/strings/ascii.h"
#include "absl/strings/escaping.h"
#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_split.h"
#include "absl/time/time.h"
#include "core/base/status_macros.h"
#include "core/base/validation.h"
#include "core/context/context_path.h"
#include "core/engine/engine_json.h"
#include "core/policy/host_ports.h"
#include "core/policy/network_policy.h"

namespace dkd::core {
namespace {

std::string Field(const char* map, const std::string& key) {
  return absl::StrCat("config.", map, "[\"", absl::CHexEscape(key), "\"]");
}

absl::Status Deny(const std::string& what, const std::string& key) {
  return absl::PermissionDeniedError(
      absl::StrCat("policy: ", what, " is not allowed on this host (enable with ", key, ")"));
}

absl::Status CheckNamespaceMode(const std::string& field, const std::string& mode, bool allowed,
                                const std::string& key) {
  if (mode.empty()) return absl::OkStatus();
  if (mode == "host" || absl::StartsWith(mode, "container:")) {
    if (!allowed) return Deny(absl::StrCat(field, "=", mode), key);
    return absl::OkStatus();
  }
  if (mode == "private" || mode == "shareable" || mode == "none") return absl::OkStatus();
  return absl::InvalidArgumentError(
      absl::StrCat(field, ": must be \"\", \"host\", \"private\", \"shareable\" or \"none\""));
}

// Writes spec.networks into the create body: the first as NetworkMode (and,
// when it is a network rather than a mode, the endpoint to create), the rest
// as networks to connect after create.
void SetNetworks(ContainerSpec& spec, nlohmann::json* body, nlohmann::json* host) {
  body->erase("NetworkingConfig");
  host->erase("NetworkMode");
  spec.extra_networks.clear();
  if (spec.networks.empty()) return;
  const std::string& first = spec.networks[0].name;
  (*host)["NetworkMode"] = first;
  if (spec.networks[0].field != "network_mode") {
    (*body)["NetworkingConfig"] = {{"EndpointsConfig", {{first, nlohmann::json::object()}}}};
  }
  for (size_t i = 1; i < spec.networks.size(); ++i) {
    spec.extra_networks.push_back(spec.networks[i].name);
  }
}

}  // namespace

absl::StatusOr<ImageReference> ConfigImageReference(const ContainerConfig& config) {
  if (config.image_name.empty()) {
    return absl::InvalidArgumentError(
        "config.image_name: required (e.g. \"app\" or \"reg:5000/app\")");
  }
  ASSIGN_OR_RETURN(ImageReference ref, ParseImageField("config.image_name", config.image_name));
  if (!config.tag.empty()) {
    if (absl::Status s = ValidateTag(config.tag); !s.ok()) {
      return absl::InvalidArgumentError(absl::StrCat("config.tag: ", s.message()));
    }
    if (!ref.tag.empty() && ref.tag != config.tag) {
      return absl::InvalidArgumentError(absl::StrCat(
          "config.tag: image_name already carries tag \"", ref.tag, "\"; give it in one place"));
    }
    if (ref.digest.empty()) ref.tag = config.tag;
  }
  return ref.WithDefaultTag();
}

std::string DefaultContainerName(const ImageReference& image, absl::Time now) {
  std::string base = image.path;
  if (size_t slash = base.rfind('/'); slash != std::string::npos) base = base.substr(slash + 1);
  for (char& c : base) {
    if (!absl::ascii_isalnum(static_cast<unsigned char>(c)) && c != '_' && c != '.' && c != '-') {
      c = '_';
    }
  }
  if (base.empty() || !absl::ascii_isalnum(static_cast<unsigned char>(base[0]))) {
    base = "c" + base;
  }
  return absl::StrCat(base, "_", absl::FormatTime("%Y%m%d_%H%M%S", now, absl::UTCTimeZone()));
}

absl::StatusOr<ContainerSpec> BuildContainerSpec(const RunRequest& r, const RunPolicy& policy) {
  ContainerSpec spec;
  ASSIGN_OR_RETURN(spec.image, ConfigImageReference(r.config));
  spec.image_ref = spec.image.FamiliarString();
  nlohmann::json body = nlohmann::json::object();
  nlohmann::json host = nlohmann::json::object();
  body["Image"] = spec.image_ref;

  if (!r.name.empty()) RETURN_IF_ERROR(ValidateContainerName("name", r.name));

  nlohmann::json env = nlohmann::json::array();
  for (const auto& [k, v] : r.config.environment) {
    RETURN_IF_ERROR(ValidateEnvKey(Field("environment", k), k));
    RETURN_IF_ERROR(ValidateEnvValue(Field("environment", k), v));
    env.push_back(absl::StrCat(k, "=", v));
  }
  if (!env.empty()) body["Env"] = env;

  nlohmann::json labels = nlohmann::json::object();
  for (const auto& [k, v] : r.config.labels) {
    RETURN_IF_ERROR(ValidateLabelKey(Field("labels", k), k));
    RETURN_IF_ERROR(ValidateLabelValue(Field("labels", k), v));
    labels[k] = v;
  }
  body["Labels"] = labels;

  nlohmann::json exposed = nlohmann::json::object();
  nlohmann::json bindings = nlohmann::json::object();
  for (const auto& [k, v] : r.config.ports) {
    ASSIGN_OR_RETURN(PortBinding p, ParsePortMapping(Field("ports", k), k, v));
    if (p.host_port != 0 &&
        (p.host_port < policy.min_host_port || p.host_port > policy.max_host_port)) {
      return absl::PermissionDeniedError(
          absl::StrCat("policy: ", Field("ports", k), ": host port ", p.host_port,
                       " is outside the allowed range ", policy.min_host_port, "-",
                       policy.max_host_port, " (run.published_ports)"));
    }
    exposed[p.PortKey()] = nlohmann::json::object();
    if (p.host_port == 0) {
      spec.ephemeral_ports.push_back(
          {p.PortKey(), bindings[p.PortKey()].size(), p.host_ip, p.protocol});
    }
    bindings[p.PortKey()].push_back(
        {{"HostIp", p.host_ip}, {"HostPort", p.host_port == 0 ? "" : std::to_string(p.host_port)}});
  }
  if (!exposed.empty()) {
    body["ExposedPorts"] = exposed;
    host["PortBindings"] = bindings;
  }

  nlohmann::json mounts = nlohmann::json::array();
  for (const auto& [src, dst] : r.config.volumes) {
    ASSIGN_OR_RETURN(VolumeMount m, ParseVolumeMapping(Field("volumes", src), src, dst));
    std::string source = m.source;
    if (m.is_bind) {
      auto resolved = ResolveBindMountSource(m.source, policy.bind_roots, policy.forbidden_paths);
      if (!resolved.ok()) {
        return absl::Status(resolved.status().code(),
                            absl::StrCat(Field("volumes", src), ": ", resolved.status().message()));
      }
      source = *resolved;
      HostBind bind;
      bind.source = source;
      bind.writable = !m.read_only;
      bind.owner = "this container";
      bind.field = Field("volumes", src);
      spec.binds.push_back(std::move(bind));
    }
    if (!m.is_bind) spec.volumes.emplace_back(Field("volumes", src), source);
    mounts.push_back({{"Type", m.is_bind ? "bind" : "volume"},
                      {"Source", source},
                      {"Target", m.target},
                      {"ReadOnly", m.read_only}});
  }
  if (!mounts.empty()) host["Mounts"] = mounts;

  ASSIGN_OR_RETURN(RestartPolicy restart,
                   ParseRestartPolicy("config.restart_policy", r.config.restart_policy));
  host["RestartPolicy"] = {{"Name", restart.name == "no" ? "" : restart.name},
                           {"MaximumRetryCount", restart.max_retry}};
  if (r.auto_remove && restart.name != "no") {
    return absl::InvalidArgumentError(
        "auto_remove: cannot be combined with config.restart_policy other than \"no\"");
  }
  // Attached runs collect output before removing, so the engine must not
  // remove the container on exit; detached runs let the engine do it.
  if (r.auto_remove && r.detach) host["AutoRemove"] = true;
  spec.remove_after = r.auto_remove && !r.detach;

  // Every network name, wherever it is given, goes through one check.
  if (!r.network_mode.empty()) {
    ASSIGN_OR_RETURN(NetworkNameKind kind,
                     CheckNetworkName("network_mode", r.network_mode, policy));
    spec.networks.push_back({"network_mode", r.network_mode, kind == NetworkNameKind::kLookup});
  }
  for (size_t i = 0; i < r.config.networks.size(); ++i) {
    const std::string field = absl::StrCat("config.networks[", i, "]");
    ASSIGN_OR_RETURN(NetworkNameKind kind, CheckNetworkName(field, r.config.networks[i], policy));
    if (i == 0 && !r.network_mode.empty()) {
      if (r.network_mode != r.config.networks[0]) {
        return absl::InvalidArgumentError(
            "network_mode: conflicts with config.networks[0]; give the network in one place");
      }
      continue;
    }
    spec.networks.push_back({field, r.config.networks[i], kind == NetworkNameKind::kLookup});
  }
  for (size_t i = 1; i < spec.networks.size(); ++i) {
    const std::string& n = spec.networks[i].name;
    if (n == "none" || n == "host" || absl::StartsWith(n, "container:")) {
      return absl::InvalidArgumentError(absl::StrCat(
          spec.networks[i].field, ": \"", n,
          "\" is a network mode, not a network; it can only be the first or only network"));
    }
  }
  SetNetworks(spec, &body, &host);

  RETURN_IF_ERROR(
      CheckNamespaceMode("pid_mode", r.pid_mode, policy.allow_host_pid, "run.allow_host_pid"));
  RETURN_IF_ERROR(
      CheckNamespaceMode("ipc_mode", r.ipc_mode, policy.allow_host_ipc, "run.allow_host_ipc"));
  if (!r.pid_mode.empty()) host["PidMode"] = r.pid_mode;
  if (!r.ipc_mode.empty()) host["IpcMode"] = r.ipc_mode;
  if (r.privileged) {
    if (!policy.allow_privileged) return Deny("privileged mode", "run.allow_privileged");
    host["Privileged"] = true;
  }
  for (size_t i = 0; i < r.cap_add.size(); ++i) {
    if (!policy.allow_cap_add)
      return Deny(absl::StrCat("cap_add ", r.cap_add[i]), "run.allow_cap_add");
  }
  if (!r.cap_add.empty()) host["CapAdd"] = r.cap_add;
  for (size_t i = 0; i < r.cap_drop.size(); ++i) {
    const std::string& c = r.cap_drop[i];
    if (c.empty() || !std::all_of(c.begin(), c.end(), [](char ch) {
          return absl::ascii_isalnum(static_cast<unsigned char>(ch)) || ch == '_';
        })) {
      return absl::InvalidArgumentError(
          absl::StrCat("cap_drop[", i, "]: must be a capability name like NET_RAW or ALL"));
    }
  }
  if (!r.cap_drop.empty()) host["CapDrop"] = r.cap_drop;
  if (!r.devices.empty()) {
    if (!policy.allow_devices) return Deny("device access", "run.allow_devices");
    nlohmann::json devs = nlohmann::json::array();
    for (const auto& d : r.devices) {
      std::vector<std::string> parts = absl::StrSplit(d, ':');
      if (parts.empty() || parts[0].empty() || parts[0][0] != '/' || parts.size() > 3) {
        return absl::InvalidArgumentError("devices: expected /dev/host[:/dev/container[:rwm]]");
      }
      devs.push_back({{"PathOnHost", parts[0]},
                      {"PathInContainer", parts.size() > 1 ? parts[1] : parts[0]},
                      {"CgroupPermissions", parts.size() > 2 ? parts[2] : "rwm"}});
    }
    host["Devices"] = devs;
  }

  if (!r.command.empty()) body["Cmd"] = r.command;
  if (!r.entrypoint.empty()) body["Entrypoint"] = r.entrypoint;
  if (!r.working_dir.empty()) {
    RETURN_IF_ERROR(ValidateWorkingDir("working_dir", r.working_dir));
    body["WorkingDir"] = r.working_dir;
  }
  if (!r.user.empty()) {
    RETURN_IF_ERROR(ValidateUser("user", r.user));
    body["User"] = r.user;
  }
  if (r.memory_bytes < 0 || (r.memory_bytes > 0 && r.memory_bytes < 6 * 1024 * 1024)) {
    return absl::InvalidArgumentError("memory_bytes: must be 0 (no limit) or at least 6 MiB");
  }
  if (r.nano_cpus < 0) return absl::InvalidArgumentError("nano_cpus: must not be negative");
  if (r.memory_bytes > 0) host["Memory"] = r.memory_bytes;
  if (r.nano_cpus > 0) host["NanoCpus"] = r.nano_cpus;
  if (r.output_limit_bytes < 0) {
    return absl::InvalidArgumentError("output_limit_bytes: must not be negative");
  }
  if (r.timeout_seconds < 0)
    return absl::InvalidArgumentError("timeout_seconds: must not be negative");
  body["AttachStdout"] = !r.detach;
  body["AttachStderr"] = !r.detach;
  body["HostConfig"] = host;
  spec.create_body = std::move(body);
  return spec;
}

absl::Status PinNetworks(
    ContainerSpec* spec, const RunPolicy& policy,
    const std::function<absl::StatusOr<nlohmann::json>(const std::string&)>& resolve) {
  return PinResolvedNetworks(spec, policy,
                             [&resolve](const std::string& name) -> absl::StatusOr<NetworkDetails> {
                               ASSIGN_OR_RETURN(nlohmann::json j, resolve(name));
                               return DecodeNetwork(j);
                             });
}

absl::Status PinResolvedNetworks(
    ContainerSpec* spec, const RunPolicy& policy,
    const std::function<absl::StatusOr<NetworkDetails>(const std::string&)>& resolve) {
  bool changed = false;
  for (ContainerSpec::Network& n : spec->networks) {
    if (!n.lookup) continue;
    auto inspected = resolve(n.name);
    if (!inspected.ok()) {
      return absl::Status(
          inspected.status().code(),
          absl::StrCat(n.field, ": network \"", n.name, "\": ", inspected.status().message()));
    }
    ASSIGN_OR_RETURN(n.name, ResolvedNetwork(n.field, n.name, *inspected, policy));
    n.lookup = false;
    changed = true;
  }
  if (!changed) return absl::OkStatus();
  for (size_t i = 1; i < spec->networks.size(); ++i) {
    const std::string& n = spec->networks[i].name;
    if (n == "none" || n == "host") {
      return absl::InvalidArgumentError(absl::StrCat(
          spec->networks[i].field, ": network \"", n,
          "\" is a network mode, not a network; it can only be the first or only network"));
    }
  }
  nlohmann::json& host = spec->create_body["HostConfig"];
  SetNetworks(*spec, &spec->create_body, &host);
  return absl::OkStatus();
}

absl::Status PickEphemeralPorts(ContainerSpec* spec, const RunPolicy& policy,
                                const std::set<int>& avoid) {
  if (PortRangeUnrestricted(policy.min_host_port, policy.max_host_port)) return absl::OkStatus();
  std::set<int> taken = avoid;
  nlohmann::json& bindings = spec->create_body["HostConfig"]["PortBindings"];
  for (const ContainerSpec::EphemeralPort& p : spec->ephemeral_ports) {
    ASSIGN_OR_RETURN(int port, PickHostPort(p.host_ip, p.protocol, policy.min_host_port,
                                            policy.max_host_port, taken));
    taken.insert(port);
    bindings[p.key][p.index]["HostPort"] = std::to_string(port);
  }
  return absl::OkStatus();
}

}  // namespace dkd::core
