// EngineClient: HTTP/1.1 to the Docker Engine API over its unix socket or TCP
// (optionally TLS with client certificates).
//
// Every call opens its own connection, so concurrent callers never queue behind
// one another. The API version is negotiated with GET /_ping on first use (and
// again after the engine was unreachable) and every path is prefixed with it.
// Engine HTTP errors map to absl::Status in exactly one place
// (StatusFromEngineHttp), keeping the engine's message. Streams deliver the
// response body as it arrives; request bodies may be streamed (chunked).
// Thread-safe: one EngineClient is shared by all RPC handlers.
//
// Liveness: every read has an inactivity bound. Calls the engine answers
// promptly (ping, version, info, inspect, list, create, start, remove, connect,
// image inspect/remove...) leave EngineRequest::read_timeout unset and get the
// client's response timeout (engine_response_timeout_seconds, default 10 s): a
// hung engine (SIGSTOP, deadlock) fails them with Unavailable "the Docker
// Engine ... did not answer in N s" instead of holding the caller until its
// deadline. Calls the engine may legitimately leave silent set their own,
// longer bound: log follows, event streams and waits (silent until something
// happens), builds (a RUN step may print nothing for an hour), pushes and
// pulls (a large layer), exports (the engine prepares the tar first), and
// stop (silent for the stop grace; it adds the response timeout to it).
//
// File descriptors: a connection that cannot be opened because dkd (EMFILE)
// or the system (ENFILE) is out of descriptors is ResourceExhausted naming the
// limit (core/base/fd_limit.h), not Unavailable: the engine is fine.
#pragma once

#include <cstdint>
#include <functional>
#include <memory>
#include <optional>
#include <string>
#include <utility>
#include <vector>

#include "absl/base/thread_annotations.h"
#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"
#include "absl/synchronization/mutex.h"
#include "absl/time/time.h"
#include "core/engine/engine_address.h"
#include "core/engine/engine_types.h"
#include "nlohmann/json.hpp"

namespace httplib {
class ClientImpl;
}  // namespace httplib

namespace dkd::core {

// Lets another thread abort an in-flight engine request (for example when the
// gRPC caller goes away). Cancel() is idempotent and thread-safe.
class CancelToken {
 public:
  void Cancel();
  bool IsCancelled() const;
  // Installs the hook that aborts the current I/O; runs it at once if the token
  // is already cancelled. The hook runs at most once, under the token's lock.
  void SetHook(std::function<void()> hook);
  void ClearHook();

 private:
  mutable absl::Mutex mu_;
  bool cancelled_ ABSL_GUARDED_BY(mu_) = false;
  std::function<void()> hook_ ABSL_GUARDED_BY(mu_);
};

struct EngineRequest {
  std::string method = "GET";
  // API path without the version prefix, e.g. "/containers/json".
  std::string path;
  std::vector<std::pair<std::string, std::string>> query;
  std::vector<std::pair<std::string, std::string>> headers;
  // Whole request body (JSON), or empty.
  std::string body;
  std::string content_type = "application/json";
  // Streamed request body, sent chunked: fills the buffer, returns the byte
  // count, 0 at the end, or an error that aborts the request.
  std::function<absl::StatusOr<size_t>(char* buf, size_t len)> body_reader;
  // Longest silence tolerated while reading the response. Unset: the
  // client's response timeout, for calls the engine answers promptly. Set it
  // only for calls that are legitimately quiet (see the header comment).
  std::optional<absl::Duration> read_timeout;
  // Called with the HTTP status as soon as the response headers arrive
  // (before any body), e.g. to learn that a stream is established.
  std::function<void(int status)> on_headers;
};

struct EngineResponse {
  int status = 0;
  std::string body;
};

// Maps an engine HTTP status and error body to a Status, keeping the engine's
// message: 400 InvalidArgument, 401 Unauthenticated, 403 PermissionDenied,
// 404 NotFound, 409 AlreadyExists (name in use) or FailedPrecondition,
// 503 Unavailable, other 5xx Internal.
absl::Status StatusFromEngineHttp(int http_status, absl::string_view body);

// An API version's numbers: "1.41" -> {1, 41}; unparsable -> {0, 0}.
std::pair<int, int> ParseApiVersion(absl::string_view v);

// Percent-encodes a query component.
std::string UrlEncode(absl::string_view s);

class EngineClient {
 public:
  // The newest API version dkd is written against.
  static constexpr absl::string_view kMaxApiVersion = "1.41";
  // The default inactivity bound for calls the engine answers promptly.
  static constexpr absl::Duration kDefaultResponseTimeout = absl::Seconds(10);

  explicit EngineClient(EngineAddress address,
                        absl::Duration response_timeout = kDefaultResponseTimeout);
  ~EngineClient();

  const EngineAddress& address() const { return address_; }
  // The inactivity bound of requests that leave read_timeout unset (and of
  // Ping()).
  absl::Duration response_timeout() const { return response_timeout_; }

  // Negotiates the API version if not yet done. Unavailable when the engine
  // does not answer (within the response timeout).
  absl::Status Negotiate();
  // GET /_ping now, (re)negotiating the API version. Unavailable when the
  // engine does not answer within the response timeout; ResourceExhausted
  // when dkd has no descriptor left to connect with.
  absl::Status Ping();
  // The negotiated version, or "" before a successful negotiation.
  std::string ApiVersion() const;
  // The last /_ping answer since the version was (re)negotiated; pings when
  // there is none (the version may come from a stream's headers instead).
  absl::StatusOr<EnginePing> LastPing();

  // The request line target of `request`: the versioned path and query.
  std::string RequestTarget(const EngineRequest& request) const { return Target(request, true); }
  // Adopts the API version from a /_ping answer's Api-Version header (the
  // engine's, capped at kMaxApiVersion) unless one is negotiated already.
  void AdoptApiVersion(absl::string_view api_version_header);
  // Forgets the negotiated version and idle connections: the engine was
  // unreachable, and may come back as another version.
  void ForgetApiVersion();

  // GET /version after negotiation.
  absl::StatusOr<EngineVersion> Version();

  // Sends a request and reads the whole response. 2xx and 304 are returned;
  // every other status becomes an error (StatusFromEngineHttp).
  absl::StatusOr<EngineResponse> Call(const EngineRequest& request);
  // Call() and parse the body as JSON (null for an empty body).
  absl::StatusOr<nlohmann::json> CallJson(const EngineRequest& request);

  // Sends a request and hands the 2xx response body to `on_data` as it
  // arrives. `on_data` returning false ends the stream with Cancelled. When
  // `cancel` is given, cancelling it aborts the connection, which makes the
  // engine abandon the request (a build stops). Non-2xx -> mapped error.
  absl::Status Stream(const EngineRequest& request,
                      const std::function<bool(absl::string_view)>& on_data,
                      CancelToken* cancel = nullptr);

 private:
  struct Exchange;
  absl::Status Send(const EngineRequest& request, bool versioned, Exchange& exchange,
                    const std::function<bool(absl::string_view)>* on_data, CancelToken* cancel);
  std::string Target(const EngineRequest& request, bool versioned) const;

  const EngineAddress address_;
  const absl::Duration response_timeout_;
  // Unary calls reuse idle keep-alive connections; each call holds its own
  // connection while it runs, so concurrent calls never queue behind one.
  std::unique_ptr<httplib::ClientImpl> TakeIdle(absl::Duration read_timeout);
  void ReturnIdle(std::unique_ptr<httplib::ClientImpl> client);

  mutable absl::Mutex mu_;
  std::string api_version_ ABSL_GUARDED_BY(mu_);
  // From the last /_ping; cleared with the version.
  bool pinged_ ABSL_GUARDED_BY(mu_) = false;
  std::string os_type_ ABSL_GUARDED_BY(mu_);
  std::string builder_version_ ABSL_GUARDED_BY(mu_);
  std::vector<std::unique_ptr<httplib::ClientImpl>> idle_ ABSL_GUARDED_BY(mu_);
};

}  // namespace dkd::core
