// EngineClient (engine_client.h): connections, API negotiation and the HTTP
// exchange.
#include "core/engine/engine_client.h"

#include <sys/socket.h>

#include <algorithm>
#include <cerrno>
#include <memory>

#include "absl/strings/ascii.h"
#include "absl/strings/match.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "absl/strings/str_split.h"
#include "core/base/fd_limit.h"
#include "core/base/status_macros.h"
#include "httplib.h"
#include "spdlog/spdlog.h"

namespace dkd::core {

// "1.41" -> {1, 41}; unparsable -> {0, 0}.
std::pair<int, int> ParseApiVersion(absl::string_view v) {
  std::pair<absl::string_view, absl::string_view> parts =
      absl::StrSplit(v, absl::MaxSplits('.', 1));
  int major = 0, minor = 0;
  if (!absl::SimpleAtoi(parts.first, &major) || !absl::SimpleAtoi(parts.second, &minor)) {
    return {0, 0};
  }
  return {major, minor};
}

namespace {

// Most bytes of an error body kept for the message.
constexpr size_t kMaxErrorBody = 64 * 1024;

std::string EngineMessage(absl::string_view body) {
  auto j = nlohmann::json::parse(body.begin(), body.end(), nullptr, false);
  if (!j.is_discarded() && j.is_object()) {
    if (auto it = j.find("message"); it != j.end() && it->is_string()) {
      return it->get<std::string>();
    }
  }
  return std::string(absl::StripAsciiWhitespace(body.substr(0, 2048)));
}

void SetReadTimeout(httplib::ClientImpl& cli, absl::Duration timeout) {
  // Sub-second bounds are kept (tests use them); at least 1 ms, at most a year.
  const int64_t usecs =
      std::clamp<int64_t>(absl::ToInt64Microseconds(timeout), 1000, 365LL * 24 * 3600 * 1000000);
  cli.set_read_timeout(static_cast<time_t>(usecs / 1000000), static_cast<time_t>(usecs % 1000000));
}

std::string SecondsText(absl::Duration d) {
  const double s = absl::ToDoubleSeconds(d);
  return s == static_cast<double>(static_cast<int64_t>(s)) ? absl::StrCat(static_cast<int64_t>(s))
                                                           : absl::StrFormat("%.1f", s);
}

std::unique_ptr<httplib::ClientImpl> MakeClient(const EngineAddress& a,
                                                absl::Duration read_timeout) {
  std::unique_ptr<httplib::ClientImpl> cli;
  if (a.scheme == EngineAddress::Scheme::kUnix) {
    cli = std::make_unique<httplib::ClientImpl>(a.socket_path, 80);
    cli->set_address_family(AF_UNIX);
  } else if (a.tls) {
    std::unique_ptr<httplib::SSLClient> ssl;
    if (!a.cert_dir.empty()) {
      ssl = std::make_unique<httplib::SSLClient>(a.host, a.port, a.cert_dir + "/cert.pem",
                                                 a.cert_dir + "/key.pem");
      ssl->set_ca_cert_path(a.cert_dir + "/ca.pem");
    } else {
      ssl = std::make_unique<httplib::SSLClient>(a.host, a.port);
    }
    ssl->enable_server_certificate_verification(a.tls_verify);
    cli = std::move(ssl);
  } else {
    cli = std::make_unique<httplib::ClientImpl>(a.host, a.port);
  }
  cli->set_connection_timeout(5, 0);
  SetReadTimeout(*cli, read_timeout);
  cli->set_write_timeout(300, 0);
  cli->set_keep_alive(false);
  return cli;
}

}  // namespace

void CancelToken::Cancel() {
  absl::MutexLock lock(&mu_);
  if (cancelled_) return;
  cancelled_ = true;
  if (hook_) {
    hook_();
    hook_ = nullptr;
  }
}

bool CancelToken::IsCancelled() const {
  absl::MutexLock lock(&mu_);
  return cancelled_;
}

void CancelToken::SetHook(std::function<void()> hook) {
  absl::MutexLock lock(&mu_);
  if (cancelled_) {
    hook();
    return;
  }
  hook_ = std::move(hook);
}

void CancelToken::ClearHook() {
  absl::MutexLock lock(&mu_);
  hook_ = nullptr;
}

absl::Status StatusFromEngineHttp(int http_status, absl::string_view body) {
  std::string msg = EngineMessage(body);
  if (msg.empty()) msg = absl::StrCat("engine answered HTTP ", http_status);
  switch (http_status) {
    case 400:
      return absl::InvalidArgumentError(msg);
    case 401:
      return absl::UnauthenticatedError(msg);
    case 403:
      return absl::PermissionDeniedError(msg);
    case 404:
      return absl::NotFoundError(msg);
    case 409:
      if (absl::StrContains(msg, "already in use") || absl::StrContains(msg, "already exists")) {
        return absl::AlreadyExistsError(msg);
      }
      return absl::FailedPreconditionError(msg);
    case 503:
      return absl::UnavailableError(msg);
    case 500:
      // The engine reports a registry it cannot reach as a 500; that is
      // transient, and callers should retry rather than treat it as a bug.
      for (const char* transient : {"dial tcp", "no such host", "connection refused", "i/o timeout",
                                    "TLS handshake timeout"}) {
        if (absl::StrContains(msg, transient)) return absl::UnavailableError(msg);
      }
      return absl::InternalError(absl::StrCat("engine error (HTTP 500): ", msg));
    default:
      return absl::InternalError(absl::StrCat("engine error (HTTP ", http_status, "): ", msg));
  }
}

std::string UrlEncode(absl::string_view s) {
  static constexpr char kHex[] = "0123456789ABCDEF";
  std::string out;
  out.reserve(s.size());
  for (unsigned char c : s) {
    if (absl::ascii_isalnum(c) || c == '-' || c == '_' || c == '.' || c == '~') {
      out.push_back(static_cast<char>(c));
    } else {
      out.push_back('%');
      out.push_back(kHex[c >> 4]);
      out.push_back(kHex[c & 15]);
    }
  }
  return out;
}

EngineClient::EngineClient(EngineAddress address, absl::Duration response_timeout)
    : address_(std::move(address)), response_timeout_(response_timeout) {}

EngineClient::~EngineClient() = default;

namespace {
constexpr size_t kMaxIdleConnections = 8;
}  // namespace

std::unique_ptr<httplib::ClientImpl> EngineClient::TakeIdle(absl::Duration read_timeout) {
  std::unique_ptr<httplib::ClientImpl> cli;
  {
    absl::MutexLock lock(&mu_);
    if (!idle_.empty()) {
      cli = std::move(idle_.back());
      idle_.pop_back();
    }
  }
  if (!cli) {
    cli = MakeClient(address_, read_timeout);
    cli->set_keep_alive(true);
  }
  SetReadTimeout(*cli, read_timeout);
  return cli;
}

void EngineClient::ReturnIdle(std::unique_ptr<httplib::ClientImpl> client) {
  absl::MutexLock lock(&mu_);
  if (idle_.size() < kMaxIdleConnections) idle_.push_back(std::move(client));
}

std::string EngineClient::ApiVersion() const {
  absl::MutexLock lock(&mu_);
  return api_version_;
}

struct EngineClient::Exchange {
  int status = 0;
  std::string api_version_header;
  std::string os_type_header, builder_version_header;
  std::string body;  // Whole body (unary) or error body (streams), bounded.
};

std::string EngineClient::Target(const EngineRequest& request, bool versioned) const {
  std::string target;
  if (versioned) {
    absl::MutexLock lock(&mu_);
    absl::StrAppend(&target, "/v", api_version_);
  }
  absl::StrAppend(&target, request.path);
  char sep = '?';
  for (const auto& [k, v] : request.query) {
    absl::StrAppend(&target, std::string(1, sep), UrlEncode(k), "=", UrlEncode(v));
    sep = '&';
  }
  return target;
}

absl::Status EngineClient::Send(const EngineRequest& request, bool versioned, Exchange& exchange,
                                const std::function<bool(absl::string_view)>* on_data,
                                CancelToken* cancel) {
  // Streams and cancellable calls get a connection of their own (cancelling
  // closes it); plain GETs reuse an idle keep-alive connection. Only GETs:
  // httplib would wait on a kept-alive connection for the body of a 204/304
  // (stop, remove) that never comes.
  const bool pooled = on_data == nullptr && cancel == nullptr && request.method == "GET";
  const absl::Duration read_timeout = request.read_timeout.value_or(response_timeout_);
  auto cli = pooled ? TakeIdle(read_timeout) : MakeClient(address_, read_timeout);
  httplib::Request req;
  req.method = request.method;
  req.path = Target(request, versioned);
  req.headers.emplace("Host", "docker");
  req.headers.emplace("User-Agent", "dkd");
  for (const auto& [k, v] : request.headers) req.headers.emplace(k, v);

  absl::Status body_status;
  if (request.body_reader) {
    req.headers.emplace("Content-Type", request.content_type);
    // httplib frames the body in chunks but leaves announcing it to the caller.
    req.headers.emplace("Transfer-Encoding", "chunked");
    req.is_chunked_content_provider_ = true;
    req.content_provider_ = [&](size_t, size_t, httplib::DataSink& sink) -> bool {
      char buf[64 * 1024];
      auto n = request.body_reader(buf, sizeof(buf));
      if (!n.ok()) {
        body_status = n.status();
        return false;
      }
      if (*n == 0) {
        sink.done();
        return true;
      }
      return sink.write(buf, *n);
    };
  } else if (!request.body.empty()) {
    req.headers.emplace("Content-Type", request.content_type);
    req.body = request.body;
  }

  bool sink_stopped = false;
  // When the engine last sent something: a read that fails a whole
  // read_timeout after it hit the inactivity bound (httplib reports both a
  // reset and a timeout as a read error).
  absl::Time last_data = absl::Now();
  req.response_handler = [&](const httplib::Response& res) {
    last_data = absl::Now();
    exchange.status = res.status;
    exchange.api_version_header = res.get_header_value("Api-Version");
    exchange.os_type_header = res.get_header_value("Ostype");
    exchange.builder_version_header = res.get_header_value("Builder-Version");
    if (request.on_headers) request.on_headers(res.status);
    return true;
  };
  req.content_receiver = [&](const char* data, size_t len, uint64_t, uint64_t) {
    last_data = absl::Now();
    const bool ok_status = exchange.status >= 200 && exchange.status < 300;
    if (on_data != nullptr && ok_status) {
      if (!(*on_data)(absl::string_view(data, len))) {
        sink_stopped = true;
        return false;
      }
      return true;
    }
    const size_t room = kMaxErrorBody - std::min(kMaxErrorBody, exchange.body.size());
    if (!ok_status || on_data == nullptr) {
      exchange.body.append(data, ok_status ? len : std::min(len, room));
    }
    return true;
  };

  if (cancel != nullptr) {
    httplib::ClientImpl* raw = cli.get();
    cancel->SetHook([raw] { raw->stop(); });
  }
  httplib::Response res;
  httplib::Error error = httplib::Error::Success;
  errno = 0;
  const bool sent = cli->send(req, res, error);
  const int send_errno = errno;
  if (cancel != nullptr) cancel->ClearHook();

  if (cancel != nullptr && cancel->IsCancelled()) {
    return absl::CancelledError("request cancelled by the caller");
  }
  if (!body_status.ok()) return body_status;
  if (sink_stopped) return absl::CancelledError("stream consumer stopped");
  if (!sent) {
    if (error == httplib::Error::Connection || error == httplib::Error::SSLConnection) {
      // No descriptor for the socket: dkd's limit, not the engine.
      const int fd_errno = IsFdExhaustion(send_errno) ? send_errno : ProbeFdExhaustion();
      if (fd_errno != 0) return FdExhaustedError(fd_errno, "connecting to the Docker Engine");
      ForgetApiVersion();  // Renegotiate when the engine is back.
      return absl::UnavailableError(absl::StrCat("Docker Engine is unreachable at ",
                                                 address_.ToString(), " (",
                                                 httplib::to_string(error), ")"));
    }
    if (error == httplib::Error::Read &&
        absl::Now() - last_data >= read_timeout - absl::Milliseconds(50)) {
      return absl::UnavailableError(
          absl::StrCat("the Docker Engine at ", address_.ToString(), " did not answer in ",
                       SecondsText(read_timeout), " s (", request.method, " ", request.path,
                       exchange.status == 0 ? "" : ", mid-response",
                       "); it may be hung or overloaded (engine_response_timeout_seconds)"));
    }
    if (error == httplib::Error::Read && exchange.status == 0) {
      return absl::UnavailableError(
          absl::StrCat("no answer from the Docker Engine at ", address_.ToString()));
    }
    return absl::UnavailableError(
        absl::StrCat("connection to the Docker Engine failed: ", httplib::to_string(error)));
  }
  if (exchange.status == 0) exchange.status = res.status;
  if (pooled && res.get_header_value("Connection") != "close") ReturnIdle(std::move(cli));
  return absl::OkStatus();
}

absl::Status EngineClient::Negotiate() {
  {
    absl::MutexLock lock(&mu_);
    if (!api_version_.empty()) return absl::OkStatus();
  }
  return Ping();
}

absl::Status EngineClient::Ping() {
  EngineRequest ping;
  ping.path = "/_ping";
  Exchange ex;
  absl::Status s = Send(ping, /*versioned=*/false, ex, nullptr, nullptr);
  if (!s.ok()) return s;
  if (ex.status != 200) {
    return absl::UnavailableError(absl::StrCat("Docker Engine at ", address_.ToString(),
                                               " answered /_ping with HTTP ", ex.status, ": ",
                                               EngineMessage(ex.body)));
  }
  AdoptApiVersion(ex.api_version_header);
  absl::MutexLock lock(&mu_);
  pinged_ = true;
  os_type_ = ex.os_type_header;
  builder_version_ = ex.builder_version_header;
  return absl::OkStatus();
}

absl::StatusOr<EnginePing> EngineClient::LastPing() {
  {
    absl::MutexLock lock(&mu_);
    if (pinged_ && !api_version_.empty()) {
      return EnginePing{api_version_, os_type_, builder_version_};
    }
  }
  RETURN_IF_ERROR(Ping());
  absl::MutexLock lock(&mu_);
  return EnginePing{api_version_, os_type_, builder_version_};
}

void EngineClient::AdoptApiVersion(absl::string_view api_version_header) {
  std::string chosen(kMaxApiVersion);
  if (!api_version_header.empty()) {
    auto engine = ParseApiVersion(api_version_header);
    if (engine != std::pair<int, int>{0, 0} && engine < ParseApiVersion(kMaxApiVersion)) {
      chosen = std::string(api_version_header);
    }
  }
  absl::MutexLock lock(&mu_);
  if (api_version_.empty()) {
    api_version_ = chosen;
    spdlog::info("engine {} speaks API {}; using {}", address_.ToString(),
                 api_version_header.empty() ? "?" : std::string(api_version_header), chosen);
  }
}

void EngineClient::ForgetApiVersion() {
  absl::MutexLock lock(&mu_);
  api_version_.clear();
  pinged_ = false;
  os_type_.clear();
  builder_version_.clear();
  idle_.clear();
}

absl::StatusOr<EngineResponse> EngineClient::Call(const EngineRequest& request) {
  if (absl::Status s = Negotiate(); !s.ok()) return s;
  Exchange ex;
  if (absl::Status s = Send(request, /*versioned=*/true, ex, nullptr, nullptr); !s.ok()) return s;
  if ((ex.status >= 200 && ex.status < 300) || ex.status == 304) {
    return EngineResponse{ex.status, std::move(ex.body)};
  }
  return StatusFromEngineHttp(ex.status, ex.body);
}

absl::StatusOr<nlohmann::json> EngineClient::CallJson(const EngineRequest& request) {
  auto res = Call(request);
  if (!res.ok()) return res.status();
  if (res->body.empty()) return nlohmann::json();
  auto j = nlohmann::json::parse(res->body, nullptr, false);
  if (j.is_discarded()) {
    return absl::InternalError(absl::StrCat("engine returned malformed JSON for ", request.path));
  }
  return j;
}

absl::Status EngineClient::Stream(const EngineRequest& request,
                                  const std::function<bool(absl::string_view)>& on_data,
                                  CancelToken* cancel) {
  if (absl::Status s = Negotiate(); !s.ok()) return s;
  Exchange ex;
  if (absl::Status s = Send(request, /*versioned=*/true, ex, &on_data, cancel); !s.ok()) return s;
  if (ex.status >= 200 && ex.status < 300) return absl::OkStatus();
  return StatusFromEngineHttp(ex.status, ex.body);
}

absl::StatusOr<EngineVersion> EngineClient::Version() {
  EngineRequest req;
  req.path = "/version";
  auto j = CallJson(req);
  if (!j.ok()) return j.status();
  if (!j->is_object()) return absl::InternalError("engine /version answer is not an object");
  EngineVersion v;
  v.version = j->value("Version", "");
  v.api_version = j->value("ApiVersion", "");
  v.min_api_version = j->value("MinAPIVersion", "");
  v.os = j->value("Os", "");
  v.arch = j->value("Arch", "");
  v.kernel_version = j->value("KernelVersion", "");
  v.git_commit = j->value("GitCommit", "");
  return v;
}

}  // namespace dkd::core
