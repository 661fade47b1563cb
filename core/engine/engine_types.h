// Typed values of what dkd asks the Docker Engine and what it answers: the
// fields dkd reads, decoded once behind the engine interface
// (core/engine/docker_engine.h), so no code above it parses engine JSON.
//
// Plain values; thread-compatible.
#pragma once

#include <cstdint>
#include <functional>
#include <map>
#include <optional>
#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"

namespace dkd::core {

struct EngineVersion {
  std::string version;
  std::string api_version;  // Highest the engine speaks.
  std::string min_api_version;
  std::string os;
  std::string arch;
  std::string kernel_version;
  std::string git_commit;
};

// What GET /_ping said beyond the API version: which builders the engine
// offers. Docker's CLI reads the same two headers to choose its builder.
struct EnginePing {
  std::string api_version;  // The negotiated version.
  std::string os_type;      // Ostype: "linux", "windows"; "" if unsaid.
  // Builder-Version: "2" (BuildKit), "1" (the operator turned BuildKit off
  // with daemon.json's features.buildkit=false), "" = no preference stated.
  std::string builder_version;
};

// GET /info.
struct EngineInfo {
  std::string id, name;
  int64_t containers = 0, containers_running = 0, containers_paused = 0, containers_stopped = 0;
  int64_t images = 0;
  std::string server_version, storage_driver, logging_driver, cgroup_driver;
  std::string operating_system, kernel_version, architecture;
  int64_t ncpu = 0, mem_total = 0;
  std::string docker_root_dir;
  std::string raw_json;  // The engine's whole answer, re-serialized.
};

// A published (or exposed) port of a container.
struct PortMapping {
  int container_port = 0;
  std::string protocol;
  std::string host_ip;
  int host_port = 0;
};

// A mount of a container. `rw` unset: the engine did not say.
struct ContainerMount {
  std::string type, source, destination, name;
  std::optional<bool> rw;
};

// One entry of GET /containers/json.
struct ContainerSummary {
  std::string id;
  std::string name;  // The first name, without its leading "/".
  std::string image, image_id, command, state, status;
  int64_t created = 0;
  std::vector<PortMapping> ports;
  std::map<std::string, std::string> labels;
  std::vector<std::string> networks;
  // Filled only when asked for (ContainerListOptions::mounts).
  std::vector<ContainerMount> mounts;
};

struct ContainerState {
  std::string status;
  bool running = false, paused = false, restarting = false, oom_killed = false;
  int pid = 0, exit_code = 0;
  std::string error, started_at, finished_at;
  std::string health;  // State.Health.Status, "" without a health check.
};

// GET /containers/{id}/json.
struct ContainerDetails {
  std::string id;
  std::string name;      // Without its leading "/".
  std::string image_id;  // "Image": the image id it was created from.
  std::string created;   // RFC 3339.
  int restart_count = 0;
  std::optional<ContainerState> state;
  // Config (has_config false when the answer had none).
  bool has_config = false;
  std::string image;  // Config.Image: what the caller asked for.
  std::vector<std::string> cmd, entrypoint;
  std::vector<std::string> env;  // "KEY=value" as the engine lists them.
  std::map<std::string, std::string> labels;
  std::string working_dir, user;
  bool tty = false;
  // HostConfig.
  int64_t memory_bytes = 0, nano_cpus = 0;
  // "no", "always", "on-failure:3", ...; "" when the answer had no RestartPolicy.
  std::string restart_policy;
  std::vector<ContainerMount> mounts;
  std::vector<std::string> networks;
  // NetworkSettings.Ports: one entry per binding, or one without host side
  // for an exposed port that is not published.
  std::vector<PortMapping> ports;
  std::string raw_json;  // The engine's whole answer, re-serialized.
};

// The answer to a container create.
struct CreatedContainer {
  std::string id;
  std::vector<std::string> warnings;
};

// One entry of GET /images/json. "<none>:<none>" and "<none>@<none>" are
// left out of the tags and digests.
struct ImageSummary {
  std::string id, parent_id;
  std::vector<std::string> repo_tags, repo_digests;
  int64_t size = 0, created = 0, containers = -1;
  std::map<std::string, std::string> labels;
};

// GET /images/{name}/json. Tags and digests as the engine lists them.
struct ImageDetails {
  std::string id;
  std::vector<std::string> repo_tags, repo_digests;
  std::string parent, created;
  int64_t size = 0;
  std::string architecture, os, author;
  // Config (has_config false when the answer had none).
  bool has_config = false;
  std::string user;
  std::vector<std::string> entrypoint, cmd;
  std::vector<std::string> env;  // "KEY=value".
  std::vector<std::string> exposed_ports, volumes;
  std::map<std::string, std::string> labels;
  std::string working_dir;
  std::vector<std::string> healthcheck;  // Healthcheck.Test, empty without one.
  std::vector<std::string> layers;       // RootFS.Layers: the diff ids, oldest first.
  std::string raw_json;                  // The engine's whole answer, re-serialized.
};

// One entry of GET /images/{name}/history (newest first).
struct ImageHistoryEntry {
  std::string id;  // "sha256:..." for a local image, "<missing>" otherwise.
  int64_t created = 0;
  std::string created_by, comment;
  int64_t size = 0;
  std::vector<std::string> tags;
};

struct RemoveImageResult {
  std::vector<std::string> untagged, deleted;
};

// GET /networks/{name}.
struct NetworkDetails {
  std::string id, name, driver;
};

// GET /volumes/{name}, POST /volumes/create.
struct VolumeDetails {
  std::string name, driver;
  std::map<std::string, std::string> labels;
};

// One line of GET /events.
struct EngineEvent {
  std::string type, action, actor_id, scope;
  std::map<std::string, std::string> attributes;
  int64_t time_nano = 0;
};

// One piece of container output: a demultiplexed frame, or for a TTY
// container the console bytes as they came.
struct LogFrame {
  enum class Stream { kStdout, kStderr, kConsole };
  Stream stream = Stream::kStdout;
  std::string data;
};

// The engine's answer to a wait.
struct WaitResult {
  int exit_code = 0;
  std::string error;  // Error.Message, "" when none.
};

// The engine's `filters` query: key -> accepted values. Keys without values
// are left out.
using EngineFilters = std::map<std::string, std::vector<std::string>>;

struct ContainerListOptions {
  bool all = false;
  int limit = 0;  // 0 = no limit.
  EngineFilters filters;
  // Also decode every container's Mounts (the full parse; without it the
  // list skips HostConfig, Mounts and endpoint details).
  bool mounts = false;
};

struct ImageListOptions {
  bool all = false;
  EngineFilters filters;
};

struct LogsOptions {
  std::string id;
  bool stdout_stream = true, stderr_stream = true;
  bool follow = false, timestamps = false;
  std::optional<int> tail;  // Unset: all.
  int64_t since = 0, until = 0;
};

struct EventsOptions {
  int64_t since = 0, until = 0;
  EngineFilters filters;
};

// POST /build: the classic builder, with the context tar as the body.
struct BuildOptions {
  std::vector<std::string> tags;
  std::map<std::string, std::string> build_args;
  std::map<std::string, std::string> labels;
  std::string target;
  bool no_cache = false, pull = false;
  std::string dockerfile;       // Path inside the context.
  std::string registry_config;  // X-Registry-Config header value.
  // BuildKit (`version=2`): the build's id (for cancelling it) and its
  // session. Classic when `buildkit` is false.
  bool buildkit = false;
  std::string build_id;
  std::string session_id;
  // BuildKit fetches the context and the Dockerfile from the session's file
  // sync (`remote=client-session`); the request has no body.
  bool context_from_session = false;
  std::string platform;  // "" = the engine's own.
  std::vector<std::string> cache_from;
};

struct PushOptions {
  std::string name;         // Repository, familiar form.
  std::string tag;          //
  std::string auth_header;  // X-Registry-Auth header value.
};

struct PullOptions {
  std::string from_image;  // Repository, familiar form.
  std::string tag;         // Tag or digest.
  std::string platform;    // "" = the engine's.
  std::string auth_header;
};

}  // namespace dkd::core
