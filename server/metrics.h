// Metrics: dkd's Prometheus metrics (prometheus-cpp types), rendered in the
// text exposition format for /metrics.
//
//   dkd_grpc_requests_total{method,code}        finished RPCs
//   dkd_grpc_request_errors_total{method}       finished RPCs with a non-OK code
//   dkd_grpc_request_duration_seconds{method}   RPC latency histogram
//   dkd_grpc_streams_in_flight                  open streaming RPCs
//   dkd_builds_active / dkd_builds_queued       builds running / waiting for a slot
//   dkd_build_context_bytes_total               build context bytes received
//   dkd_engine_request_duration_seconds{operation}  engine call latency
//   dkd_engine_errors_total{operation}          failed engine calls
//   dkd_engine_up                               1 while the engine answers
//   dkd_auth_failures_total{reason}             unauthenticated / permission_denied
//   dkd_limit_rejections_total{limit}           calls refused by a limit
//
// Engine calls are timed where dkd makes them: the health ping, and each
// engine-bound RPC as a whole. Thread-safe.
#pragma once

#include <prometheus/counter.h>
#include <prometheus/family.h>
#include <prometheus/gauge.h>
#include <prometheus/histogram.h>
#include <prometheus/registry.h>

#include <memory>
#include <string>

namespace dkd::server {

class Metrics {
 public:
  Metrics();

  void RecordRpc(const std::string& method, const std::string& code, double seconds);
  void RecordEngineCall(const std::string& operation, bool ok, double seconds);
  void RecordAuthFailure(const std::string& reason);
  void RecordLimitRejection(const std::string& limit);
  void AddContextBytes(int64_t bytes);
  void SetEngineUp(bool up);
  prometheus::Gauge& streams_in_flight() { return *streams_in_flight_; }
  prometheus::Gauge& builds_active() { return *builds_active_; }
  prometheus::Gauge& builds_queued() { return *builds_queued_; }

  // The text exposition format of every metric.
  std::string Render() const;

 private:
  std::shared_ptr<prometheus::Registry> registry_;
  prometheus::Family<prometheus::Counter>* requests_;
  prometheus::Family<prometheus::Counter>* errors_;
  prometheus::Family<prometheus::Histogram>* latency_;
  prometheus::Family<prometheus::Histogram>* engine_latency_;
  prometheus::Family<prometheus::Counter>* engine_errors_;
  prometheus::Family<prometheus::Counter>* auth_failures_;
  prometheus::Family<prometheus::Counter>* limit_rejections_;
  prometheus::Counter* context_bytes_;
  prometheus::Gauge* streams_in_flight_;
  prometheus::Gauge* builds_active_;
  prometheus::Gauge* builds_queued_;
  prometheus::Gauge* engine_up_;
};

}  // namespace dkd::server
