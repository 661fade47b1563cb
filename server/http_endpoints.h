// HttpEndpoints: dkd's plain-HTTP side port (cpp-httplib), loopback by
// default, apart from the gRPC listeners:
//   GET /healthz  200 "ok" while the process serves
//   GET /readyz   200 when the engine answers and dkd is not shutting down,
//                 else 503
//   GET /metrics  Prometheus text format
// The port is bound without SO_REUSEPORT, so a second dkd cannot share it.
// Serves on its own thread; Stop() joins it. Thread-safe.
#pragma once

#include <atomic>
#include <functional>
#include <memory>
#include <string>
#include <thread>

#include "absl/status/statusor.h"

namespace httplib {
class Server;
}

namespace dkd::server {

class HttpEndpoints {
 public:
  HttpEndpoints(std::function<bool()> ready, std::function<std::string()> metrics);
  ~HttpEndpoints();

  // Binds `address` ("host:port", port 0 = any) and starts serving; returns
  // the bound port. FailedPrecondition when it cannot bind.
  absl::StatusOr<int> Start(const std::string& address);
  // From now on /readyz answers 503, so load balancers stop sending calls
  // during the shutdown grace.
  void BeginShutdown() { shutting_down_ = true; }
  void Stop();

 private:
  std::function<bool()> ready_;
  std::atomic<bool> shutting_down_{false};
  std::function<std::string()> metrics_;
  std::unique_ptr<httplib::Server> server_;
  std::thread thread_;
};

}  // namespace dkd::server
