// RunPolicy: what a container run (and a build or push) may do on this host.
//
// The engine socket is root on the host, so the defaults are strict: no bind
// mounts (named volumes only), never the engine socket whatever the roots, no
// privileged mode, no host network/PID/IPC namespaces, no added capabilities
// or devices, any published port. Operators widen it in the config. Checks
// work on typed fields before the engine is touched and return
// PermissionDenied naming the rule and the config key that would allow it.
// Plain value; thread-compatible.
#pragma once

#include <string>
#include <vector>

#include "absl/status/status.h"

namespace dkd::core {

struct RunPolicy {
  // Host directories under which bind mounts are allowed (run.bind_roots).
  std::vector<std::string> bind_roots;
  // run.bind_roots_per_identity: with ownership enforced, a caller may bind
  // only from <root>/<identity> under each root, so no identity can read,
  // write or block another's directories through a bind.
  bool bind_roots_per_identity = false;
  // Paths that can never be mounted, nor any parent of them.
  std::vector<std::string> forbidden_paths = {"/var/run/docker.sock", "/run/docker.sock",
                                              "/var/run/docker", "/run/containerd",
                                              "/var/run/containerd"};
  bool allow_privileged = false;    // run.allow_privileged
  bool allow_host_network = false;  // run.allow_host_network
  bool allow_host_pid = false;      // run.allow_host_pid
  bool allow_host_ipc = false;      // run.allow_host_ipc
  bool allow_cap_add = false;       // run.allow_cap_add
  bool allow_devices = false;       // run.allow_devices
  int min_host_port = 0;            // run.published_ports (0-65535 = any)
  int max_host_port = 65535;
  // Registries pushes may go to (push.registries); empty = any.
  std::vector<std::string> push_registries;
  // Registries FROM images may come from (build.base_registries); empty = any.
  std::vector<std::string> base_registries;
  // Host directories under which daemon-local build contexts are allowed.
  std::vector<std::string> context_roots;
  // ADD from a URL: the engine fetches it from the host's network namespace
  // (build.allow_remote_add).
  bool allow_remote_add = false;
};

// The bind roots `identity` may use: `policy.bind_roots` as they are, or, with
// bind_roots_per_identity and an enforced owner, <root>/<identity> for each
// root (none when the identity is not a plain name usable as a directory).
std::vector<std::string> BindRootsFor(const RunPolicy& policy, const std::string& identity,
                                      bool enforced);

// PermissionDenied unless `registry` (a reference's domain) is in `allowed`
// (empty allows all). `what` is "push" or "build base image"; `key` the config key.
absl::Status CheckRegistryAllowed(const std::vector<std::string>& allowed,
                                  const std::string& registry, const std::string& what,
                                  const std::string& key);

}  // namespace dkd::core
