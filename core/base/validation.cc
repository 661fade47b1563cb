// Validation (validation.h): the parsers and checks for ports, mounts, restart
// policies, env, labels, names, memory and CPU values.
#include "core/base/validation.h"

#include <arpa/inet.h>

#include <cstdint>
#include <limits>
#include <string>
#include <string_view>
#include <vector>

#include "absl/strings/ascii.h"
#include "absl/strings/str_cat.h"
#include "core/base/status_macros.h"
#include "core/base/strings.h"

namespace dkd::core {
namespace {

absl::Status Invalid(std::string_view field, std::string_view rule) {
  return absl::InvalidArgumentError(absl::StrCat(Sv(field), ": ", Sv(rule)));
}

// "<field>: <what> "<value>" <rule>".
absl::Status Bad(std::string_view field, std::string_view what, std::string_view value,
                 std::string_view rule) {
  return Invalid(field, absl::StrCat(Sv(what), " ", Quote(value), " ", Sv(rule)));
}

bool IsDigit(char c) { return c >= '0' && c <= '9'; }
bool IsAlnum(char c) { return absl::ascii_isalnum(static_cast<unsigned char>(c)); }
bool IsControl(char c) { return static_cast<unsigned char>(c) < 0x20 || c == 0x7f; }

bool HasControl(std::string_view s) {
  for (char c : s) {
    if (IsControl(c)) return true;
  }
  return false;
}

bool AllDigits(std::string_view s) {
  if (s.empty()) return false;
  for (char c : s) {
    if (!IsDigit(c)) return false;
  }
  return true;
}

// [a-zA-Z0-9] followed by [a-zA-Z0-9_.-]; `min_length` counts the first char.
bool IsSimpleName(std::string_view s, size_t min_length) {
  if (s.size() < min_length || s.empty() || !IsAlnum(s.front())) return false;
  for (char c : s) {
    if (!IsAlnum(c) && c != '_' && c != '.' && c != '-') return false;
  }
  return true;
}

// Parses a port number 1-65535, or 0 when `allow_zero`. `what` names it.
absl::StatusOr<int> ParsePort(std::string_view field, std::string_view what, std::string_view text,
                              bool allow_zero) {
  if (text.find('-') != std::string_view::npos) {
    return Bad(field, what, text, "is a range; port ranges are not supported");
  }
  int port = -1;
  if (AllDigits(text) && text.size() <= 5) {
    port = 0;
    for (char c : text) port = port * 10 + (c - '0');
  }
  if (port > 65535 || port < (allow_zero ? 0 : 1)) {
    return Invalid(field, absl::StrCat(Sv(what), " ", Quote(text), " must be a number from ",
                                       allow_zero ? "0" : "1", " to 65535"));
  }
  return port;
}

// "8080", "8080/tcp", "53/udp", "9/sctp" -> port and lowercase protocol.
absl::Status ParseContainerPort(std::string_view field, std::string_view text, PortBinding* out) {
  std::string_view port = text;
  out->protocol = "tcp";
  size_t slash = text.find('/');
  if (slash != std::string_view::npos) {
    port = text.substr(0, slash);
    out->protocol = absl::AsciiStrToLower(Sv(text.substr(slash + 1)));
    if (out->protocol != "tcp" && out->protocol != "udp" && out->protocol != "sctp") {
      return Bad(field, "protocol", text.substr(slash + 1), "must be tcp, udp or sctp");
    }
  }
  ASSIGN_OR_RETURN(out->container_port, ParsePort(field, "container port", port, false));
  return absl::OkStatus();
}

// "", "18080", "0", "127.0.0.1:18080", "127.0.0.1:", "[::1]:18080", "[::1]:".
absl::Status ParseHostAddress(std::string_view field, std::string_view text, PortBinding* out) {
  std::string_view ip;
  std::string_view port = text;
  bool v6 = false;
  if (!text.empty() && text.front() == '[') {
    size_t close = text.find(']');
    if (close == std::string_view::npos) {
      return Bad(field, "host address", text, "is missing ']'");
    }
    ip = text.substr(1, close - 1);
    port = text.substr(close + 1);
    if (!port.empty() && port.front() != ':') {
      return Bad(field, "host address", text, "needs ':' after ']'");
    }
    if (!port.empty()) port.remove_prefix(1);
    v6 = true;
  } else if (size_t colon = text.find(':'); colon != std::string_view::npos) {
    if (text.find(':', colon + 1) != std::string_view::npos) {
      return Bad(field, "host address", text,
                 "has several ':'; write IPv6 addresses in brackets, as [::1]:8080");
    }
    ip = text.substr(0, colon);
    port = text.substr(colon + 1);
  }
  if (!ip.empty() || v6) {
    std::string ip_str(ip);
    unsigned char buf[16];
    if (inet_pton(v6 ? AF_INET6 : AF_INET, ip_str.c_str(), buf) != 1) {
      return Invalid(field, absl::StrCat("host IP ", Quote(ip), " is not a valid ",
                                         v6 ? "IPv6" : "IPv4", " address"));
    }
    out->host_ip = std::move(ip_str);
  }
  out->host_port = 0;
  if (!port.empty()) {
    ASSIGN_OR_RETURN(out->host_port, ParsePort(field, "host port", port, true));
  }
  return absl::OkStatus();
}

// CleanAbsolutePath, its message prefixed with `field`.
absl::StatusOr<std::string> CleanFieldPath(std::string_view field, std::string_view what,
                                           std::string_view path) {
  absl::StatusOr<std::string> clean = CleanAbsolutePath(what, path);
  if (!clean.ok()) {
    return absl::InvalidArgumentError(absl::StrCat(Sv(field), ": ", clean.status().message()));
  }
  return clean;
}

// Mode suffix of a mount target: "ro" or "rw".
absl::Status ParseMountMode(std::string_view field, std::string_view mode, VolumeMount* out) {
  if (mode != "ro" && mode != "rw") {
    return Bad(field, "mount mode", mode, "must be ro or rw");
  }
  out->read_only = mode == "ro";
  return absl::OkStatus();
}

absl::Status ParseMountSource(std::string_view field, std::string_view source, VolumeMount* out) {
  out->is_bind = !source.empty() && source.front() == '/';
  if (out->is_bind) {
    ASSIGN_OR_RETURN(out->source, CleanFieldPath(field, "bind source", source));
    return absl::OkStatus();
  }
  if (!source.empty() && (source.front() == '.' || source.front() == '~')) {
    return Bad(field, "bind source", source, "must be an absolute host path");
  }
  if (!IsSimpleName(source, 2)) {
    return Bad(
        field, "volume name", source,
        "must match [a-zA-Z0-9][a-zA-Z0-9_.-]+ (or give an absolute host path for a bind mount)");
  }
  out->source = std::string(source);
  return absl::OkStatus();
}

absl::Status ParseMountTarget(std::string_view field, std::string_view target, VolumeMount* out) {
  if (target.find(':') != std::string_view::npos) {
    return Bad(field, "container path", target, "must not contain ':'");
  }
  ASSIGN_OR_RETURN(out->target, CleanFieldPath(field, "container path", target));
  if (out->target == "/") {
    return Invalid(field, "container path must not be '/'");
  }
  return absl::OkStatus();
}

// Shared by env keys and build-arg keys.
absl::Status ValidateVariableName(std::string_view field, std::string_view what,
                                  std::string_view key) {
  if (key.empty()) return Invalid(field, absl::StrCat(Sv(what), " must not be empty"));
  if (key.find('=') != std::string_view::npos) {
    return Bad(field, what, key, "must not contain '='");
  }
  if (HasControl(key)) {
    return Bad(field, what, key, "must not contain control characters");
  }
  return absl::OkStatus();
}

absl::Status RejectNul(std::string_view field, std::string_view what, std::string_view value) {
  if (value.find('\0') == std::string_view::npos) return absl::OkStatus();
  return Invalid(field, absl::StrCat(Sv(what), " must not contain NUL characters"));
}

}  // namespace

absl::StatusOr<std::string> CleanAbsolutePath(std::string_view what, std::string_view path,
                                              size_t max_shown) {
  auto bad = [&](std::string_view rule) {
    return absl::InvalidArgumentError(
        absl::StrCat(Sv(what), " ", Quote(path, max_shown), " ", Sv(rule)));
  };
  if (path.empty() || path.front() != '/') return bad("must be an absolute path");
  if (HasControl(path)) return bad("must not contain control characters");
  std::string clean;
  size_t i = 0;
  while (i < path.size()) {
    size_t end = path.find('/', i);
    if (end == std::string_view::npos) end = path.size();
    std::string_view part = path.substr(i, end - i);
    if (part == "..") return bad("must not contain '..' components");
    if (!part.empty() && part != ".") absl::StrAppend(&clean, "/", Sv(part));
    i = end + 1;
  }
  return clean.empty() ? std::string("/") : clean;
}

std::string PortBinding::PortKey() const { return absl::StrCat(container_port, "/", protocol); }

absl::StatusOr<PortBinding> ParsePortMapping(std::string_view field,
                                             std::string_view container_port,
                                             std::string_view host) {
  PortBinding binding;
  RETURN_IF_ERROR(ParseContainerPort(field, container_port, &binding));
  RETURN_IF_ERROR(ParseHostAddress(field, host, &binding));
  return binding;
}

absl::StatusOr<PortBinding> ParsePublishSpec(std::string_view field, std::string_view spec) {
  if (spec.empty()) return Invalid(field, "port mapping must not be empty");
  std::string_view host;
  std::string_view container = spec;
  size_t close = spec.rfind(']');
  size_t colon = spec.rfind(':');
  if (colon != std::string_view::npos && (close == std::string_view::npos || colon > close)) {
    host = spec.substr(0, colon);
    container = spec.substr(colon + 1);
  } else if (close != std::string_view::npos) {
    return Bad(field, "port mapping", spec, "must be [ip:][host_port:]container_port[/protocol]");
  }
  return ParsePortMapping(field, container, host);
}

absl::StatusOr<VolumeMount> ParseVolumeMapping(std::string_view field, std::string_view source,
                                               std::string_view target) {
  VolumeMount mount;
  RETURN_IF_ERROR(ParseMountSource(field, source, &mount));
  size_t colon = target.rfind(':');
  if (colon != std::string_view::npos) {
    RETURN_IF_ERROR(ParseMountMode(field, target.substr(colon + 1), &mount));
    target = target.substr(0, colon);
  }
  RETURN_IF_ERROR(ParseMountTarget(field, target, &mount));
  return mount;
}

absl::StatusOr<VolumeMount> ParseVolumeSpec(std::string_view field, std::string_view spec) {
  size_t colon = spec.find(':');
  if (colon == std::string_view::npos) {
    return Bad(field, "volume", spec,
               "must be source:target[:ro|rw]; anonymous volumes are not supported");
  }
  return ParseVolumeMapping(field, spec.substr(0, colon), spec.substr(colon + 1));
}

absl::StatusOr<RestartPolicy> ParseRestartPolicy(std::string_view field, std::string_view spec) {
  RestartPolicy policy;
  std::string_view name = spec;
  std::string_view count;
  size_t colon = spec.find(':');
  if (colon != std::string_view::npos) {
    name = spec.substr(0, colon);
    count = spec.substr(colon + 1);
  }
  if (name.empty() && colon == std::string_view::npos) name = "no";
  if (name != "no" && name != "always" && name != "unless-stopped" && name != "on-failure") {
    return Bad(field, "restart policy", spec,
               "must be no, always, unless-stopped, on-failure or on-failure:N");
  }
  policy.name = std::string(name);
  if (colon == std::string_view::npos) return policy;
  if (name != "on-failure") {
    return Bad(field, "restart policy", spec, "has a retry count, which only on-failure allows");
  }
  if (!AllDigits(count) || count.size() > 9) {
    return Bad(field, "restart policy", spec,
               "has a retry count that is not an integer from 0 to 999999999");
  }
  for (char c : count) policy.max_retry = policy.max_retry * 10 + (c - '0');
  return policy;
}

absl::Status ValidateEnvKey(std::string_view field, std::string_view key) {
  return ValidateVariableName(field, "environment variable name", key);
}

absl::Status ValidateEnvValue(std::string_view field, std::string_view value) {
  return RejectNul(field, "environment variable value", value);
}

absl::StatusOr<KeyValue> ParseEnvAssignment(std::string_view field, std::string_view text) {
  size_t eq = text.find('=');
  if (eq == std::string_view::npos) {
    return Bad(field, "environment entry", text, "must be KEY=VALUE");
  }
  KeyValue kv{std::string(text.substr(0, eq)), std::string(text.substr(eq + 1))};
  RETURN_IF_ERROR(ValidateEnvKey(field, kv.key));
  RETURN_IF_ERROR(ValidateEnvValue(field, kv.value));
  return kv;
}

absl::Status ValidateBuildArgKey(std::string_view field, std::string_view key) {
  return ValidateVariableName(field, "build argument name", key);
}

absl::Status ValidateLabelKey(std::string_view field, std::string_view key) {
  constexpr size_t kMaxLabelKey = 1024;
  if (key.empty()) return Invalid(field, "label key must not be empty");
  if (key.size() > kMaxLabelKey) {
    return Invalid(field,
                   absl::StrCat("label key must not be longer than ", kMaxLabelKey, " characters"));
  }
  if (HasControl(key)) {
    return Bad(field, "label key", key, "must not contain control characters");
  }
  return absl::OkStatus();
}

absl::Status ValidateLabelValue(std::string_view field, std::string_view value) {
  return RejectNul(field, "label value", value);
}

absl::StatusOr<KeyValue> ParseLabelAssignment(std::string_view field, std::string_view text) {
  size_t eq = text.find('=');
  KeyValue kv{std::string(text.substr(0, eq)),
              eq == std::string_view::npos ? std::string() : std::string(text.substr(eq + 1))};
  RETURN_IF_ERROR(ValidateLabelKey(field, kv.key));
  RETURN_IF_ERROR(ValidateLabelValue(field, kv.value));
  return kv;
}

absl::Status ValidateContainerName(std::string_view field, std::string_view name) {
  std::string_view bare = name;
  if (!bare.empty() && bare.front() == '/') bare.remove_prefix(1);
  if (name.size() > 255 || !IsSimpleName(bare, 2)) {
    return Bad(field, "container name", name,
               "must match /?[a-zA-Z0-9][a-zA-Z0-9_.-]+ and be at most 255 characters");
  }
  return absl::OkStatus();
}

absl::Status ValidateNetworkName(std::string_view field, std::string_view name) {
  if (name.size() > 255 || !IsSimpleName(name, 1)) {
    return Bad(field, "network name", name,
               "must match [a-zA-Z0-9][a-zA-Z0-9_.-]* and be at most 255 characters");
  }
  return absl::OkStatus();
}

absl::StatusOr<int64_t> ParseMemoryBytes(std::string_view field, std::string_view text) {
  auto bad = [&](std::string_view rule) { return Bad(field, "memory size", text, rule); };
  // A decimal number: digits, optionally "." and more digits.
  size_t i = 0;
  long double number = 0;
  while (i < text.size() && IsDigit(text[i])) number = number * 10 + (text[i++] - '0');
  if (i == 0 || i > 20) return bad("must be a number with an optional unit b, k, m, g, t or p");
  if (i < text.size() && text[i] == '.') {
    size_t start = ++i;
    long double scale = 1;
    while (i < text.size() && IsDigit(text[i]) && i - start < 20) {
      scale /= 10;
      number += scale * (text[i++] - '0');
    }
    if (i == start) return bad("must have digits after '.'");
  }
  std::string unit = absl::AsciiStrToLower(Sv(text.substr(i)));
  if (!unit.empty() && unit.front() == ' ') unit.erase(0, 1);
  long double multiplier = 1;
  const std::string_view kUnits = "kmgtp";
  if (!unit.empty() && kUnits.find(unit.front()) != std::string_view::npos) {
    for (size_t k = 0; k <= kUnits.find(unit.front()); ++k) multiplier *= 1024;
    unit.erase(0, 1);
    if (!unit.empty() && unit.front() == 'i') unit.erase(0, 1);
  }
  if (unit != "" && unit != "b") return bad("has an unknown unit; use b, k, m, g, t or p");
  long double bytes = number * multiplier;
  if (bytes >= 9223372036854775807.0L) return bad("is too large");
  return static_cast<int64_t>(bytes);
}

absl::StatusOr<int64_t> ParseNanoCpus(std::string_view field, std::string_view text) {
  constexpr int64_t kMaxCpus = 1000000;
  size_t dot = text.find('.');
  std::string_view whole = text.substr(0, dot);
  std::string_view fraction = dot == std::string_view::npos ? "" : text.substr(dot + 1);
  if (!AllDigits(whole) || (dot != std::string_view::npos && !AllDigits(fraction))) {
    return Bad(field, "CPU count", text, "must be a decimal number");
  }
  if (fraction.size() > 9) {
    return Bad(field, "CPU count", text, "must have at most nine decimal places");
  }
  int64_t cpus = 0;
  for (char c : whole) {
    cpus = cpus * 10 + (c - '0');
    if (cpus > kMaxCpus) break;
  }
  int64_t nanos = 0;
  for (size_t k = 0; k < 9; ++k) nanos = nanos * 10 + (k < fraction.size() ? fraction[k] - '0' : 0);
  if (cpus > kMaxCpus || (cpus == kMaxCpus && nanos > 0)) {
    return Invalid(field, absl::StrCat("CPU count ", Quote(text), " must be at most ", kMaxCpus));
  }
  return cpus * 1000000000 + nanos;
}

absl::Status ValidateUser(std::string_view field, std::string_view user) {
  auto bad = [&](std::string_view rule) { return Bad(field, "user", user, rule); };
  if (user.empty()) return bad("must not be empty");
  size_t colon = user.find(':');
  std::vector<std::string_view> parts = {user.substr(0, colon)};
  if (colon != std::string_view::npos) parts.push_back(user.substr(colon + 1));
  for (std::string_view part : parts) {
    if (part.empty()) return bad("must be name, uid, uid:gid or name:group");
    for (char c : part) {
      if (IsControl(c) || c == ' ' || c == ':') {
        return bad(
            "must be name, uid, uid:gid or name:group, without spaces or control "
            "characters");
      }
    }
    uint64_t id = 0;
    for (size_t k = 0; AllDigits(part) && k < part.size(); ++k) {
      id = id * 10 + (part[k] - '0');
      if (id >= 0xffffffffULL) return bad("has a numeric id that is not below 4294967295");
    }
  }
  return absl::OkStatus();
}

absl::Status ValidateWorkingDir(std::string_view field, std::string_view dir) {
  if (dir.empty() || dir.front() != '/') {
    return Bad(field, "working directory", dir, "must be an absolute path");
  }
  if (HasControl(dir)) {
    return Bad(field, "working directory", dir, "must not contain control characters");
  }
  return absl::OkStatus();
}

absl::Status ValidateStopTimeout(std::string_view field, int64_t seconds) {
  if (seconds < -1 || seconds > std::numeric_limits<int32_t>::max()) {
    return Invalid(field, absl::StrCat("stop timeout ", seconds,
                                       " must be -1 (no limit) or from 0 to 2147483647 seconds"));
  }
  return absl::OkStatus();
}

absl::StatusOr<ImageReference> ParseImageField(std::string_view field, std::string_view text) {
  absl::StatusOr<ImageReference> ref = ParseImageReference(text);
  if (!ref.ok()) return Invalid(field, std::string(ref.status().message()));
  return ref;
}

}  // namespace dkd::core
