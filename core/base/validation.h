// Validation of the values a client sends for builds and container runs.
//
// Each function checks one kind of value before anything reaches the engine.
// The caller passes `field`, the name the client knows the value by (for
// example `config.ports["8080/tcp"]`); every error is InvalidArgument and its
// message starts with that field, then names the rule broken. Offending values
// are quoted C-escaped, so a newline in input never splits a log line.
// Functions that parse return a typed result in the form the engine's API
// expects; they accept what the docker CLI accepts where the two overlap.
//
// Decisions where docker leaves room:
//  - A host port of 0 or an empty host port both mean "the engine picks an
//    ephemeral port". A container port is always 1-65535. Port ranges are
//    refused. IPv6 host addresses are written in brackets and returned without.
//  - Bind sources and container targets are absolute, have no ".." component,
//    and are returned cleaned ("//a/./b/" -> "/a/b"). Mount modes are ro / rw.
//  - Memory "0" and CPUs "0" mean "no limit", as in the engine.
//
// All functions are pure and thread-safe.
#pragma once

#include <cstddef>
#include <cstdint>
#include <string>
#include <string_view>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "core/base/reference.h"
#include "core/base/strings.h"

namespace dkd::core {

// A build secret's bytes at most (BuildKit's own limit, checked before a
// build starts).
inline constexpr size_t kMaxBuildSecretBytes = 500 * 1024;

// Returns "/"-rooted `path` without empty or "." components and without a
// trailing slash. InvalidArgument `<what> "<path>" <rule>` for a relative
// path, control characters or a ".." component; the path is quoted up to
// `max_shown` bytes (see Quote).
absl::StatusOr<std::string> CleanAbsolutePath(std::string_view what, std::string_view path,
                                              size_t max_shown = kQuoteMaxShown);

// One published port: container_port/protocol reachable at host_ip:host_port.
struct PortBinding {
  int container_port = 0;  // 1-65535
  std::string protocol;    // "tcp", "udp" or "sctp"
  std::string host_ip;     // "" = all interfaces; IPv6 without brackets
  int host_port = 0;       // 0 = ephemeral, chosen by the engine

  // The engine's key for ExposedPorts / PortBindings: "8080/tcp".
  std::string PortKey() const;
};

// Parses one entry of ContainerConfig.ports: `container_port` is "8080",
// "8080/tcp", "53/udp" or "9/sctp" (tcp by default, any case); `host` is "18080",
// "127.0.0.1:18080", "[::1]:18080", "127.0.0.1:" or "" (ephemeral).
absl::StatusOr<PortBinding> ParsePortMapping(std::string_view field,
                                             std::string_view container_port,
                                             std::string_view host);

// Parses a docker CLI `-p` value: "[ip:][host]:container[/proto]" or
// "container[/proto]" (ephemeral host port on all interfaces).
absl::StatusOr<PortBinding> ParsePublishSpec(std::string_view field, std::string_view spec);

// A bind mount (`is_bind`, `source` an absolute host path) or a named volume.
struct VolumeMount {
  std::string source;  // cleaned absolute host path, or a volume name
  std::string target;  // cleaned absolute path inside the container, never "/"
  bool read_only = false;
  bool is_bind = false;
};

// Parses one entry of ContainerConfig.volumes: `source` is a host path or a
// volume name ([a-zA-Z0-9][a-zA-Z0-9_.-]+); `target` is "/path", "/path:ro"
// or "/path:rw". Host policy (allowed roots, the engine socket) is not checked
// here; see CheckBindMountSource.
absl::StatusOr<VolumeMount> ParseVolumeMapping(std::string_view field, std::string_view source,
                                               std::string_view target);

// Parses a docker CLI `-v` value: "source:target[:ro|:rw]".
absl::StatusOr<VolumeMount> ParseVolumeSpec(std::string_view field, std::string_view spec);

// A container restart policy as the engine's HostConfig.RestartPolicy.
struct RestartPolicy {
  std::string name;   // "no", "always", "unless-stopped" or "on-failure"
  int max_retry = 0;  // only for on-failure; 0 = retry forever
};

// Parses "no" (also ""), "always", "unless-stopped", "on-failure" or
// "on-failure:N" with N a non-negative integer.
absl::StatusOr<RestartPolicy> ParseRestartPolicy(std::string_view field, std::string_view spec);

struct KeyValue {
  std::string key;
  std::string value;
};

// An environment variable name: non-empty, no '=', no control characters.
absl::Status ValidateEnvKey(std::string_view field, std::string_view key);
// An environment value: anything but NUL.
absl::Status ValidateEnvValue(std::string_view field, std::string_view value);
// Parses a CLI `-e KEY=VALUE` (the value may be empty; a bare KEY is refused).
absl::StatusOr<KeyValue> ParseEnvAssignment(std::string_view field, std::string_view text);
// A build argument name: the rules of ValidateEnvKey.
absl::Status ValidateBuildArgKey(std::string_view field, std::string_view key);

// A label key: 1-1024 characters, no control characters.
absl::Status ValidateLabelKey(std::string_view field, std::string_view key);
// A label value: anything but NUL.
absl::Status ValidateLabelValue(std::string_view field, std::string_view value);
// Parses a CLI `--label key=value`; a bare "key" gives an empty value.
absl::StatusOr<KeyValue> ParseLabelAssignment(std::string_view field, std::string_view text);

// A container name: /?[a-zA-Z0-9][a-zA-Z0-9_.-]+, at most 255 characters.
absl::Status ValidateContainerName(std::string_view field, std::string_view name);
// A network name or id: [a-zA-Z0-9][a-zA-Z0-9_.-]*, at most 255 characters.
absl::Status ValidateNetworkName(std::string_view field, std::string_view name);

// Parses a memory size as docker does: a decimal number, an optional space and
// an optional binary unit b, k, m, g, t, p (also "kb", "KiB", …):
// "512m" -> 536870912. Returns bytes; "0" means no limit.
absl::StatusOr<int64_t> ParseMemoryBytes(std::string_view field, std::string_view text);

// Parses a CPU count such as "1.5" into NanoCPUs (1500000000). At most nine
// decimal places and at most 1,000,000 CPUs; "0" means no limit.
absl::StatusOr<int64_t> ParseNanoCpus(std::string_view field, std::string_view text);

// A user: "name", "uid", "uid:gid" or "name:group"; no whitespace or control
// characters; numeric ids below 2^32 - 1.
absl::Status ValidateUser(std::string_view field, std::string_view user);

// A working directory inside the container: absolute, no control characters.
absl::Status ValidateWorkingDir(std::string_view field, std::string_view dir);

// Seconds the engine waits after SIGTERM before SIGKILL: 0 to 2^31 - 1, or -1
// to wait without limit.
absl::Status ValidateStopTimeout(std::string_view field, int64_t seconds);

// ParseImageReference with the field named in the error message.
absl::StatusOr<ImageReference> ParseImageField(std::string_view field, std::string_view text);

}  // namespace dkd::core
