// HttpEndpoints (http_endpoints.h): the side port's routes, start and stop.
#include "server/http_endpoints.h"

#include <httplib.h>
#include <sys/socket.h>

#include "absl/strings/str_cat.h"
#include "server/listen_address.h"

namespace dkd::server {

HttpEndpoints::HttpEndpoints(std::function<bool()> ready, std::function<std::string()> metrics)
    : ready_(std::move(ready)),
      metrics_(std::move(metrics)),
      server_(std::make_unique<httplib::Server>()) {}

HttpEndpoints::~HttpEndpoints() { Stop(); }

absl::StatusOr<int> HttpEndpoints::Start(const std::string& address) {
  auto a = ParseListenAddress("http.listen", address);
  if (!a.ok()) return a.status();
  if (a->is_unix) return absl::InvalidArgumentError("http.listen: must be host:port");
  server_->Get("/healthz", [](const httplib::Request&, httplib::Response& res) {
    res.set_content("ok\n", "text/plain");
  });
  server_->Get("/readyz", [this](const httplib::Request&, httplib::Response& res) {
    if (shutting_down_) {
      res.status = 503;
      res.set_content("shutting down\n", "text/plain");
      return;
    }
    const bool ready = ready_();
    res.status = ready ? 200 : 503;
    res.set_content(ready ? "ready\n" : "engine unreachable\n", "text/plain");
  });
  server_->Get("/metrics", [this](const httplib::Request&, httplib::Response& res) {
    res.set_content(metrics_(), "text/plain; version=0.0.4; charset=utf-8");
  });
  // cpp-httplib's default sets SO_REUSEPORT, which lets a second process
  // bind the same port and take half the requests.
  server_->set_socket_options([](int sock) {
    const int one = 1;
    setsockopt(sock, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one));
  });
  int port = a->port;
  if (port == 0) {
    port = server_->bind_to_any_port(a->host);
  } else if (!server_->bind_to_port(a->host, port)) {
    port = -1;
  }
  if (port <= 0) {
    return absl::FailedPreconditionError(
        absl::StrCat("http.listen: cannot listen on ", address, " (address in use?)"));
  }
  thread_ = std::thread([this] { server_->listen_after_bind(); });
  return port;
}

void HttpEndpoints::Stop() {
  if (thread_.joinable()) {
    server_->stop();
    thread_.join();
  }
}

}  // namespace dkd::server
