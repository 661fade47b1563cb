// Connect options (connect_options.h): the default host, TLS files, tokens and
// the local token, resolved into how DkdClient connects.
#include "client/connect_options.h"

#include <arpa/inet.h>
#include <netinet/in.h>
#include <sys/stat.h>

#include <cerrno>
#include <cstdlib>
#include <cstring>
#include <fstream>
#include <sstream>
#include <vector>

#include "absl/strings/ascii.h"
#include "absl/strings/match.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/strip.h"

namespace dkd::client {

std::string DefaultHost() {
  const char* env = std::getenv("DKD_HOST");
  if (env != nullptr && *env != '\0') return env;
  return "unix:///run/dkd/dkd.sock";
}

absl::StatusOr<std::string> GrpcTarget(absl::string_view host) {
  if (absl::ConsumePrefix(&host, "unix://") || absl::StartsWith(host, "/")) {
    if (host.empty() || host.front() != '/') {
      return absl::InvalidArgumentError("--host: unix:// needs an absolute socket path");
    }
    return absl::StrCat("unix:", host);
  }
  absl::ConsumePrefix(&host, "tcp://");
  if (host.empty() || host.find(':') == absl::string_view::npos) {
    return absl::InvalidArgumentError(
        absl::StrCat("--host: expected unix:///path or tcp://host:port, got \"", host, "\""));
  }
  return std::string(host);
}

namespace {

std::string Env(const char* name) {
  const char* v = std::getenv(name);
  return v == nullptr ? "" : v;
}

absl::StatusOr<std::string> ReadPem(const std::string& flag, const std::string& path) {
  std::ifstream in(path);
  if (!in) return absl::InvalidArgumentError(absl::StrCat(flag, ": cannot read ", path));
  std::stringstream ss;
  ss << in.rdbuf();
  return ss.str();
}

// The uid owning each listening TCP socket on `port` (/proc/net/tcp and
// tcp6, as this process's network namespace sees them).
std::vector<uid_t> ListenerUids(int port) {
  std::vector<uid_t> uids;
  for (const char* table : {"/proc/net/tcp", "/proc/net/tcp6"}) {
    std::ifstream in(table);
    std::string line;
    std::getline(in, line);  // Header.
    while (std::getline(in, line)) {
      std::istringstream fields(line);
      std::string slot, local, remote, state, queues, timer, retransmits, uid;
      if (!(fields >> slot >> local >> remote >> state >> queues >> timer >> retransmits >> uid)) {
        continue;
      }
      const size_t colon = local.rfind(':');
      unsigned local_port = 0, owner = 0;
      if (state != "0A" || colon == std::string::npos ||
          !absl::SimpleHexAtoi(local.substr(colon + 1), &local_port) ||
          static_cast<int>(local_port) != port || !absl::SimpleAtoi(uid, &owner)) {
        continue;
      }
      uids.push_back(static_cast<uid_t>(owner));
    }
  }
  return uids;
}

// OK when everything listening on the target's port belongs to the owner of
// the token file, i.e. is dkd: a local user squatting the port must not be
// handed the token. Else the reason, for the hint.
absl::Status CheckListenerOwner(absl::string_view target, const std::string& token_file) {
  struct stat st {};
  if (stat(token_file.c_str(), &st) != 0) return absl::OkStatus();  // Reading it will fail.
  int port = 0;
  if (!absl::SimpleAtoi(target.substr(target.rfind(':') + 1), &port)) {
    return absl::InvalidArgumentError("no port in the address");
  }
  const std::vector<uid_t> uids = ListenerUids(port);
  if (uids.empty()) {
    return absl::FailedPreconditionError(absl::StrCat("nothing listens on port ", port));
  }
  for (uid_t uid : uids) {
    if (uid != st.st_uid) {
      return absl::PermissionDeniedError(
          absl::StrCat("port ", port, " is held by uid ", uid, ", not by dkd (uid ", st.st_uid,
                       ", owner of ", token_file, "), so dkctl did not send it the local token"));
    }
  }
  return absl::OkStatus();
}

// Reads dkd's local token for a loopback connection. On failure returns ""
// and sets `hint` to what the user can do.
std::string ReadLocalToken(const std::string& path, std::string* hint) {
  errno = 0;
  std::ifstream in(path);
  if (!in) {
    const int err = errno;
    if (err == ENOENT) {
      *hint = absl::StrCat(
          "dkctl sent no credentials: there is no local token at ", path,
          " (dkd keeps it next to its unix socket; DKD_TOKEN_FILE names another path), or pass "
          "--token or DKD_TOKEN.");
      return "";
    }
    *hint = absl::StrCat(
        "dkctl sent no credentials: cannot read dkd's local token ", path, " (",
        err == 0 ? "unreadable" : std::strerror(err),
        "). It is readable by root and the group of dkd's unix socket: use the unix socket "
        "(-H unix:///run/dkd/dkd.sock), ask to join that group, pass --token or DKD_TOKEN, or "
        "name another file with DKD_TOKEN_FILE.");
    return "";
  }
  std::stringstream ss;
  ss << in.rdbuf();
  std::string token(absl::StripAsciiWhitespace(ss.str()));
  if (token.empty()) *hint = absl::StrCat("dkctl sent no credentials: ", path, " is empty.");
  return token;
}

}  // namespace

bool IsLoopbackTarget(absl::string_view target) {
  if (absl::StartsWith(target, "unix:")) return false;
  absl::string_view host = target;
  const size_t colon = host.rfind(':');
  if (colon == absl::string_view::npos) return false;
  host = host.substr(0, colon);
  if (host.empty()) return false;
  if (host == "localhost") return true;
  // Address literals only: a name such as "127.0.0.1.example.com" is not
  // loopback and must never receive the local token.
  const std::string literal(absl::StripSuffix(absl::StripPrefix(host, "["), "]"));
  in_addr v4{};
  if (host.front() != '[' && inet_pton(AF_INET, literal.c_str(), &v4) == 1) {
    return (ntohl(v4.s_addr) >> 24) == 127;
  }
  in6_addr v6{};
  if (host.front() == '[' && host.back() == ']' && inet_pton(AF_INET6, literal.c_str(), &v6) == 1) {
    if (IN6_IS_ADDR_LOOPBACK(&v6)) return true;
    return IN6_IS_ADDR_V4MAPPED(&v6) && v6.s6_addr[12] == 127;
  }
  return false;
}

ConnectOptions DefaultConnectOptions() {
  ConnectOptions o;
  o.token = Env("DKD_TOKEN");
  if (!Env("DKD_TOKEN_FILE").empty()) o.local_token_file = Env("DKD_TOKEN_FILE");
  o.tls_ca = Env("DKD_TLS_CA");
  o.tls_cert = Env("DKD_TLS_CERT");
  o.tls_key = Env("DKD_TLS_KEY");
  o.tls = Env("DKD_TLS") == "1";
  return o;
}

absl::StatusOr<Connection> ResolveConnection(absl::string_view host,
                                             const ConnectOptions& options) {
  auto target = GrpcTarget(host);
  if (!target.ok()) return target.status();
  Connection c;
  c.target = *target;
  c.credentials = grpc::InsecureChannelCredentials();
  if (options.UsesTls()) {
    if (absl::StartsWith(c.target, "unix:")) {
      return absl::InvalidArgumentError("--tls: dkd's unix socket does not speak TLS");
    }
    if (options.tls_cert.empty() != options.tls_key.empty()) {
      return absl::InvalidArgumentError("--tlscert and --tlskey must be given together");
    }
    grpc::SslCredentialsOptions ssl;
    if (!options.tls_ca.empty()) {
      auto ca = ReadPem("--tlscacert", options.tls_ca);
      if (!ca.ok()) return ca.status();
      ssl.pem_root_certs = *ca;
    }
    if (!options.tls_cert.empty()) {
      auto cert = ReadPem("--tlscert", options.tls_cert);
      if (!cert.ok()) return cert.status();
      auto key = ReadPem("--tlskey", options.tls_key);
      if (!key.ok()) return key.status();
      ssl.pem_cert_chain = *cert;
      ssl.pem_private_key = *key;
    }
    c.credentials = grpc::SslCredentials(ssl);
  }
  c.token = options.token;
  if (c.token.empty() && !options.UsesTls() && !options.local_token_file.empty() &&
      IsLoopbackTarget(c.target)) {
    if (absl::Status owner = CheckListenerOwner(c.target, options.local_token_file); !owner.ok()) {
      c.auth_hint = absl::StrCat("dkctl sent no credentials: ", owner.message(), ".");
    } else {
      c.token = ReadLocalToken(options.local_token_file, &c.auth_hint);
    }
  }
  return c;
}

}  // namespace dkd::client
