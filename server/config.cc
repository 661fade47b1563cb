// DaemonConfig (config.h): parsing the JSON file section by section, and the
// flag overrides.
#include "server/config.h"

#include <openssl/sha.h>

#include <cmath>
#include <filesystem>
#include <fstream>
#include <set>
#include <sstream>

#include "absl/strings/ascii.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "absl/strings/str_split.h"
#include "core/base/status_macros.h"
#include "core/engine/engine_address.h"
#include "server/local_token.h"

namespace dkd::server {
namespace {

using nlohmann::json;

// Walks the document, naming every key it complains about by its dotted path
// and, when a flag set it, by the flag too.
class Reader {
 public:
  explicit Reader(const ConfigOverrides& overrides) : overrides_(overrides) {}

  absl::Status Error(const std::string& key, absl::string_view message) const {
    auto it = overrides_.flags.find(key);
    const std::string flag =
        it == overrides_.flags.end() ? "" : absl::StrCat(" (", it->second, ")");
    return absl::InvalidArgumentError(absl::StrCat("config key ", key, flag, ": ", message));
  }

  static std::string Key(const std::string& prefix, const std::string& name) {
    return prefix.empty() ? name : absl::StrCat(prefix, ".", name);
  }

  // InvalidArgument for keys of `obj` not in `allowed`.
  absl::Status OnlyKeys(const json& obj, const std::string& prefix,
                        const std::set<std::string>& allowed) const {
    for (const auto& [k, v] : obj.items()) {
      if (!allowed.count(k)) {
        return Error(Key(prefix, k),
                     absl::StrCat("unknown key; allowed here: ", absl::StrJoin(allowed, ", ")));
      }
    }
    return absl::OkStatus();
  }

  absl::StatusOr<const json*> Object(const json& obj, const std::string& prefix,
                                     const std::string& name) const {
    static const json kEmpty = json::object();
    auto it = obj.find(name);
    if (it == obj.end()) return &kEmpty;
    if (!it->is_object()) return Error(Key(prefix, name), "must be an object");
    return &*it;
  }

  absl::Status String(const json& obj, const std::string& prefix, const std::string& name,
                      std::string* out) const {
    auto it = obj.find(name);
    if (it == obj.end()) return absl::OkStatus();
    if (!it->is_string()) return Error(Key(prefix, name), "must be a string");
    *out = it->get<std::string>();
    return absl::OkStatus();
  }

  absl::Status Bool(const json& obj, const std::string& prefix, const std::string& name,
                    bool* out) const {
    auto it = obj.find(name);
    if (it == obj.end()) return absl::OkStatus();
    if (!it->is_boolean()) return Error(Key(prefix, name), "must be true or false");
    *out = it->get<bool>();
    return absl::OkStatus();
  }

  template <typename Int>
  absl::Status Integer(const json& obj, const std::string& prefix, const std::string& name,
                       int64_t min, int64_t max, Int* out) const {
    auto it = obj.find(name);
    if (it == obj.end()) return absl::OkStatus();
    if (!it->is_number_integer()) return Error(Key(prefix, name), "must be an integer");
    const int64_t v = it->get<int64_t>();
    if (v < min || v > max) {
      return Error(Key(prefix, name), absl::StrCat("must be between ", min, " and ", max));
    }
    *out = static_cast<Int>(v);
    return absl::OkStatus();
  }

  absl::Status Seconds(const json& obj, const std::string& prefix, const std::string& name,
                       double min, absl::Duration* out) const {
    auto it = obj.find(name);
    if (it == obj.end()) return absl::OkStatus();
    return SecondsValue(*it, Key(prefix, name), min, out);
  }

  absl::Status SecondsValue(const json& v, const std::string& key, double min,
                            absl::Duration* out) const {
    if (!v.is_number()) return Error(key, "must be a number of seconds");
    const double secs = v.get<double>();
    if (!std::isfinite(secs) || secs < min || secs > 86400 * 7) {
      return Error(key, absl::StrCat("must be between ", min, " and 604800 seconds"));
    }
    *out = absl::Seconds(secs);
    return absl::OkStatus();
  }

  absl::Status StringList(const json& obj, const std::string& prefix, const std::string& name,
                          std::vector<std::string>* out) const {
    auto it = obj.find(name);
    if (it == obj.end()) return absl::OkStatus();
    if (!it->is_array()) return Error(Key(prefix, name), "must be a list of strings");
    out->clear();
    for (size_t i = 0; i < it->size(); ++i) {
      if (!(*it)[i].is_string()) {
        return Error(absl::StrCat(Key(prefix, name), "[", i, "]"), "must be a string");
      }
      out->push_back((*it)[i].get<std::string>());
    }
    return absl::OkStatus();
  }

  absl::Status AbsoluteDirs(const json& obj, const std::string& prefix, const std::string& name,
                            std::vector<std::string>* out) const {
    RETURN_IF_ERROR(StringList(obj, prefix, name, out));
    for (size_t i = 0; i < out->size(); ++i) {
      const std::string& d = (*out)[i];
      if (d.empty() || d[0] != '/') {
        return Error(absl::StrCat(Key(prefix, name), "[", i, "]"), "must be an absolute directory");
      }
    }
    return absl::OkStatus();
  }

 private:
  const ConfigOverrides& overrides_;
};

absl::Status ParseRun(const Reader& r, const json& run, core::RunPolicy* p) {
  RETURN_IF_ERROR(r.OnlyKeys(run, "run",
                             {"bind_roots", "allow_privileged", "allow_host_network",
                              "allow_host_pid", "allow_host_ipc", "allow_cap_add", "allow_devices",
                              "published_ports", "forbidden_paths", "bind_roots_per_identity"}));
  RETURN_IF_ERROR(r.AbsoluteDirs(run, "run", "bind_roots", &p->bind_roots));
  std::vector<std::string> extra_forbidden;
  RETURN_IF_ERROR(r.AbsoluteDirs(run, "run", "forbidden_paths", &extra_forbidden));
  // Extra forbidden paths add to the built-in ones; they can never remove them.
  p->forbidden_paths.insert(p->forbidden_paths.end(), extra_forbidden.begin(),
                            extra_forbidden.end());
  RETURN_IF_ERROR(r.Bool(run, "run", "bind_roots_per_identity", &p->bind_roots_per_identity));
  RETURN_IF_ERROR(r.Bool(run, "run", "allow_privileged", &p->allow_privileged));
  RETURN_IF_ERROR(r.Bool(run, "run", "allow_host_network", &p->allow_host_network));
  RETURN_IF_ERROR(r.Bool(run, "run", "allow_host_pid", &p->allow_host_pid));
  RETURN_IF_ERROR(r.Bool(run, "run", "allow_host_ipc", &p->allow_host_ipc));
  RETURN_IF_ERROR(r.Bool(run, "run", "allow_cap_add", &p->allow_cap_add));
  RETURN_IF_ERROR(r.Bool(run, "run", "allow_devices", &p->allow_devices));
  std::string ports;
  RETURN_IF_ERROR(r.String(run, "run", "published_ports", &ports));
  if (!ports.empty()) {
    std::vector<std::string> parts = absl::StrSplit(ports, '-');
    int lo = 0, hi = 0;
    if (parts.size() != 2 || !absl::SimpleAtoi(parts[0], &lo) || !absl::SimpleAtoi(parts[1], &hi) ||
        lo < 0 || hi > 65535 || lo > hi) {
      return r.Error(
          "run.published_ports",
          absl::StrCat("must be a range \"LOW-HIGH\" within 0-65535, got \"", ports, "\""));
    }
    p->min_host_port = lo;
    p->max_host_port = hi;
  }
  return absl::OkStatus();
}

absl::Status ParseAuth(const Reader& r, const json& auth, AuthSettings* a, bool* local_token_set) {
  RETURN_IF_ERROR(
      r.OnlyKeys(auth, "auth", {"tokens", "roles", "anonymous_role", "local_token_file"}));
  if (auth.contains("local_token_file")) {
    RETURN_IF_ERROR(r.String(auth, "auth", "local_token_file", &a->local_token_file));
    if (!a->local_token_file.empty() && a->local_token_file[0] != '/') {
      return r.Error("auth.local_token_file", "must be an absolute path (or \"\" for none)");
    }
    *local_token_set = true;
  }
  if (auto it = auth.find("tokens"); it != auth.end()) {
    if (!it->is_array()) return r.Error("auth.tokens", "must be a list of {identity, sha256}");
    for (size_t i = 0; i < it->size(); ++i) {
      const std::string key = absl::StrCat("auth.tokens[", i, "]");
      const json& t = (*it)[i];
      if (!t.is_object()) return r.Error(key, "must be an object {identity, sha256}");
      RETURN_IF_ERROR(r.OnlyKeys(t, key, {"identity", "sha256"}));
      TokenEntry e;
      std::string hex;
      RETURN_IF_ERROR(r.String(t, key, "identity", &e.identity));
      RETURN_IF_ERROR(r.String(t, key, "sha256", &hex));
      if (e.identity.empty()) return r.Error(key + ".identity", "must not be empty");
      hex = absl::AsciiStrToLower(hex);
      if (hex.size() != 64 || hex.find_first_not_of("0123456789abcdef") != std::string::npos) {
        return r.Error(key + ".sha256",
                       "must be the 64-hex-digit SHA-256 of the token (never the token itself; "
                       "e.g. printf %s TOKEN | sha256sum)");
      }
      for (size_t b = 0; b < 32; ++b) {
        e.sha256[b] = static_cast<unsigned char>(std::stoi(hex.substr(b * 2, 2), nullptr, 16));
      }
      a->tokens.push_back(std::move(e));
    }
  }
  if (auto it = auth.find("roles"); it != auth.end()) {
    if (!it->is_object()) return r.Error("auth.roles", "must be an object {identity: role}");
    for (const auto& [identity, role] : it->items()) {
      const std::string key = absl::StrCat("auth.roles.", identity);
      if (!role.is_string()) return r.Error(key, "must be one of none, read, build, admin");
      auto parsed = ParseRole(role.get<std::string>());
      if (!parsed.ok()) return r.Error(key, parsed.status().message());
      a->roles[identity] = *parsed;
    }
  }
  if (auth.contains("anonymous_role")) {
    std::string role;
    RETURN_IF_ERROR(r.String(auth, "auth", "anonymous_role", &role));
    auto parsed = ParseRole(role);
    if (!parsed.ok()) return r.Error("auth.anonymous_role", parsed.status().message());
    a->anonymous_role = *parsed;
  }
  return absl::OkStatus();
}

absl::Status ParseLimits(const Reader& r, const json& l, LimitsSettings* out) {
  RETURN_IF_ERROR(r.OnlyKeys(l, "limits",
                             {"max_message_bytes", "max_context_bytes", "max_concurrent_builds",
                              "max_streams_per_identity", "max_calls_per_identity",
                              "unary_deadline_seconds", "deadlines"}));
  RETURN_IF_ERROR(
      r.Integer(l, "limits", "max_message_bytes", 4096, int64_t{1} << 30, &out->max_message_bytes));
  RETURN_IF_ERROR(
      r.Integer(l, "limits", "max_context_bytes", 0, int64_t{1} << 50, &out->max_context_bytes));
  RETURN_IF_ERROR(
      r.Integer(l, "limits", "max_concurrent_builds", 1, 1024, &out->max_concurrent_builds));
  RETURN_IF_ERROR(r.Integer(l, "limits", "max_streams_per_identity", 1, 100000,
                            &out->max_streams_per_identity));
  RETURN_IF_ERROR(
      r.Integer(l, "limits", "max_calls_per_identity", 1, 100000, &out->max_calls_per_identity));
  RETURN_IF_ERROR(r.Seconds(l, "limits", "unary_deadline_seconds", 0, &out->unary_deadline));
  if (auto it = l.find("deadlines"); it != l.end()) {
    if (!it->is_object()) return r.Error("limits.deadlines", "must be an object {RPC: seconds}");
    for (const auto& [rpc, secs] : it->items()) {
      absl::Duration d;
      RETURN_IF_ERROR(r.SecondsValue(secs, absl::StrCat("limits.deadlines.", rpc), 0, &d));
      out->deadlines[rpc] = d;
    }
  }
  return absl::OkStatus();
}

}  // namespace

const char* RoleName(Role role) {
  switch (role) {
    case Role::kNone:
      return "none";
    case Role::kRead:
      return "read";
    case Role::kBuild:
      return "build";
    case Role::kAdmin:
      return "admin";
  }
  return "none";
}

absl::StatusOr<Role> ParseRole(absl::string_view name) {
  for (Role r : {Role::kNone, Role::kRead, Role::kBuild, Role::kAdmin}) {
    if (name == RoleName(r)) return r;
  }
  return absl::InvalidArgumentError(
      absl::StrCat("must be one of none, read, build, admin; got \"", name, "\""));
}

void ConfigOverrides::Set(const std::string& dotted_key, nlohmann::json value,
                          const std::string& flag) {
  json* node = &values;
  std::vector<std::string> parts = absl::StrSplit(dotted_key, '.');
  for (size_t i = 0; i + 1 < parts.size(); ++i) node = &(*node)[parts[i]];
  (*node)[parts.back()] = std::move(value);
  flags[dotted_key] = flag;
}

absl::StatusOr<DaemonConfig> LoadConfig(const std::string& path, const ConfigOverrides& overrides) {
  json doc = json::object();
  if (!path.empty()) {
    std::ifstream in(path);
    if (!in)
      return absl::InvalidArgumentError(absl::StrCat("config file ", path, ": cannot read it"));
    std::stringstream ss;
    ss << in.rdbuf();
    doc = json::parse(ss.str(), nullptr, /*allow_exceptions=*/false, /*ignore_comments=*/true);
    if (doc.is_discarded()) {
      return absl::InvalidArgumentError(absl::StrCat("config file ", path, ": not valid JSON"));
    }
    if (!doc.is_object()) {
      return absl::InvalidArgumentError(
          absl::StrCat("config file ", path, ": must hold an object"));
    }
  }
  auto config = ParseConfig(doc, overrides);
  if (!config.ok() && !path.empty()) {
    return absl::InvalidArgumentError(absl::StrCat(path, ": ", config.status().message()));
  }
  return config;
}

absl::StatusOr<DaemonConfig> ParseConfig(const nlohmann::json& file_doc,
                                         const ConfigOverrides& overrides) {
  json doc = file_doc;
  doc.merge_patch(overrides.values);
  const Reader r(overrides);
  DaemonConfig c;
  c.engine = core::DefaultEngineHost();
  RETURN_IF_ERROR(
      r.OnlyKeys(doc, "",
                 {"engine", "listen", "tls", "auth", "run", "push", "build", "ownership", "limits",
                  "audit", "http", "log", "health_interval_seconds", "shutdown_grace_seconds",
                  "list_cache_max_age_seconds", "engine_response_timeout_seconds", "state_dir"}));
  RETURN_IF_ERROR(r.String(doc, "", "engine", &c.engine));
  if (auto a = core::ParseEngineAddress(c.engine); !a.ok()) {
    return r.Error("engine", a.status().message());
  }

  ASSIGN_OR_RETURN(const json* listen, r.Object(doc, "", "listen"));
  RETURN_IF_ERROR(r.OnlyKeys(*listen, "listen",
                             {"unix_socket", "unix_socket_group", "unix_socket_role", "tcp",
                              "insecure_tcp", "port_file"}));
  RETURN_IF_ERROR(r.String(*listen, "listen", "unix_socket", &c.unix_socket));
  RETURN_IF_ERROR(r.String(*listen, "listen", "unix_socket_group", &c.unix_socket_group));
  RETURN_IF_ERROR(r.String(*listen, "listen", "tcp", &c.tcp));
  RETURN_IF_ERROR(r.Bool(*listen, "listen", "insecure_tcp", &c.insecure_tcp));
  RETURN_IF_ERROR(r.String(*listen, "listen", "port_file", &c.port_file));
  if (listen->contains("unix_socket_role")) {
    std::string role;
    RETURN_IF_ERROR(r.String(*listen, "listen", "unix_socket_role", &role));
    auto parsed = ParseRole(role);
    if (!parsed.ok()) return r.Error("listen.unix_socket_role", parsed.status().message());
    c.security.auth.unix_socket_role = *parsed;
  }
  if (c.unix_socket.empty() && c.tcp.empty()) {
    return r.Error("listen", "unix_socket and tcp are both empty: dkd needs at least one listener");
  }

  ASSIGN_OR_RETURN(const json* tls, r.Object(doc, "", "tls"));
  RETURN_IF_ERROR(r.OnlyKeys(*tls, "tls", {"cert", "key", "client_ca", "require_client_cert"}));
  RETURN_IF_ERROR(r.String(*tls, "tls", "cert", &c.tls.cert));
  RETURN_IF_ERROR(r.String(*tls, "tls", "key", &c.tls.key));
  RETURN_IF_ERROR(r.String(*tls, "tls", "client_ca", &c.tls.client_ca));
  RETURN_IF_ERROR(r.Bool(*tls, "tls", "require_client_cert", &c.tls.require_client_cert));
  if (c.tls.cert.empty() != c.tls.key.empty()) {
    return r.Error(c.tls.cert.empty() ? "tls.cert" : "tls.key",
                   "tls.cert and tls.key must be given together");
  }
  if (!c.tls.client_ca.empty() && c.tls.cert.empty()) {
    return r.Error("tls.client_ca", "needs tls.cert and tls.key");
  }
  for (const auto& [key, file] :
       {std::pair<const char*, const std::string*>{"tls.cert", &c.tls.cert},
        {"tls.key", &c.tls.key},
        {"tls.client_ca", &c.tls.client_ca}}) {
    if (!file->empty() && !std::ifstream(*file)) {
      return r.Error(key, absl::StrCat("cannot read ", *file));
    }
  }

  ASSIGN_OR_RETURN(const json* auth, r.Object(doc, "", "auth"));
  bool local_token_set = false;
  RETURN_IF_ERROR(ParseAuth(r, *auth, &c.security.auth, &local_token_set));
  if (!local_token_set) c.security.auth.local_token_file = DefaultLocalTokenFile(c.unix_socket);

  ASSIGN_OR_RETURN(const json* run, r.Object(doc, "", "run"));
  RETURN_IF_ERROR(ParseRun(r, *run, &c.security.policy));
  ASSIGN_OR_RETURN(const json* push, r.Object(doc, "", "push"));
  RETURN_IF_ERROR(r.OnlyKeys(*push, "push", {"registries"}));
  RETURN_IF_ERROR(r.StringList(*push, "push", "registries", &c.security.policy.push_registries));
  ASSIGN_OR_RETURN(const json* build, r.Object(doc, "", "build"));
  RETURN_IF_ERROR(
      r.OnlyKeys(*build, "build", {"context_roots", "base_registries", "allow_remote_add"}));
  RETURN_IF_ERROR(
      r.AbsoluteDirs(*build, "build", "context_roots", &c.security.policy.context_roots));
  RETURN_IF_ERROR(
      r.StringList(*build, "build", "base_registries", &c.security.policy.base_registries));
  RETURN_IF_ERROR(r.Bool(*build, "build", "allow_remote_add", &c.security.policy.allow_remote_add));

  ASSIGN_OR_RETURN(const json* ownership, r.Object(doc, "", "ownership"));
  RETURN_IF_ERROR(r.OnlyKeys(*ownership, "ownership", {"enabled"}));
  RETURN_IF_ERROR(r.Bool(*ownership, "ownership", "enabled", &c.security.ownership));

  ASSIGN_OR_RETURN(const json* limits, r.Object(doc, "", "limits"));
  RETURN_IF_ERROR(ParseLimits(r, *limits, &c.security.limits));

  ASSIGN_OR_RETURN(const json* audit, r.Object(doc, "", "audit"));
  RETURN_IF_ERROR(r.OnlyKeys(*audit, "audit", {"file"}));
  RETURN_IF_ERROR(r.String(*audit, "audit", "file", &c.audit_file));
  if (!c.audit_file.empty() && c.audit_file[0] != '/') {
    return r.Error("audit.file", "must be an absolute path");
  }

  ASSIGN_OR_RETURN(const json* http, r.Object(doc, "", "http"));
  RETURN_IF_ERROR(r.OnlyKeys(*http, "http", {"listen", "port_file"}));
  RETURN_IF_ERROR(r.String(*http, "http", "listen", &c.http_listen));
  RETURN_IF_ERROR(r.String(*http, "http", "port_file", &c.http_port_file));

  ASSIGN_OR_RETURN(const json* log, r.Object(doc, "", "log"));
  RETURN_IF_ERROR(r.OnlyKeys(*log, "log", {"level", "format"}));
  RETURN_IF_ERROR(r.String(*log, "log", "level", &c.log_level));
  RETURN_IF_ERROR(r.String(*log, "log", "format", &c.log_format));
  static const std::set<std::string> kLevels = {"trace", "debug", "info", "warn", "error"};
  if (!kLevels.count(c.log_level)) {
    return r.Error(
        "log.level",
        absl::StrCat("must be one of trace, debug, info, warn, error; got \"", c.log_level, "\""));
  }
  if (c.log_format != "text" && c.log_format != "json") {
    return r.Error("log.format", absl::StrCat("must be text or json; got \"", c.log_format, "\""));
  }

  RETURN_IF_ERROR(r.Seconds(doc, "", "health_interval_seconds", 0.01, &c.health_interval));
  RETURN_IF_ERROR(r.Seconds(doc, "", "shutdown_grace_seconds", 0, &c.shutdown_grace));
  RETURN_IF_ERROR(r.Seconds(doc, "", "list_cache_max_age_seconds", 0, &c.list_cache_max_age));
  RETURN_IF_ERROR(
      r.Seconds(doc, "", "engine_response_timeout_seconds", 0.1, &c.engine_response_timeout));
  RETURN_IF_ERROR(r.String(doc, "", "state_dir", &c.state_dir));
  if (!c.state_dir.empty() && c.state_dir[0] != '/') {
    return r.Error("state_dir", "must be an absolute path");
  }
  if (c.state_dir.empty() && !c.unix_socket.empty()) {
    c.state_dir = std::filesystem::path(c.unix_socket).parent_path().string();
  }
  if (c.list_cache_max_age > absl::Seconds(60)) {
    return r.Error("list_cache_max_age_seconds", "must be at most 60");
  }
  return c;
}

}  // namespace dkd::server
