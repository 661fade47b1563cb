// Metrics (metrics.h): the metric families, their recording calls, and the
// text rendering.
#include "server/metrics.h"

#include <prometheus/text_serializer.h>

#include <sstream>

namespace dkd::server {
namespace {

const prometheus::Histogram::BucketBoundaries& LatencyBuckets() {
  static const auto* kBuckets = new prometheus::Histogram::BucketBoundaries{
      0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60, 300, 1800};
  return *kBuckets;
}

}  // namespace

Metrics::Metrics() : registry_(std::make_shared<prometheus::Registry>()) {
  requests_ = &prometheus::BuildCounter()
                   .Name("dkd_grpc_requests_total")
                   .Help("Finished gRPC calls by method and status code")
                   .Register(*registry_);
  errors_ = &prometheus::BuildCounter()
                 .Name("dkd_grpc_request_errors_total")
                 .Help("Finished gRPC calls with a non-OK status, by method")
                 .Register(*registry_);
  latency_ = &prometheus::BuildHistogram()
                  .Name("dkd_grpc_request_duration_seconds")
                  .Help("gRPC call latency by method")
                  .Register(*registry_);
  engine_latency_ = &prometheus::BuildHistogram()
                         .Name("dkd_engine_request_duration_seconds")
                         .Help("Docker Engine call latency by operation")
                         .Register(*registry_);
  engine_errors_ = &prometheus::BuildCounter()
                        .Name("dkd_engine_errors_total")
                        .Help("Failed Docker Engine calls by operation")
                        .Register(*registry_);
  auth_failures_ = &prometheus::BuildCounter()
                        .Name("dkd_auth_failures_total")
                        .Help("Calls refused by authentication or authorization, by reason")
                        .Register(*registry_);
  limit_rejections_ = &prometheus::BuildCounter()
                           .Name("dkd_limit_rejections_total")
                           .Help("Calls refused by a configured limit, by limit")
                           .Register(*registry_);
  context_bytes_ = &prometheus::BuildCounter()
                        .Name("dkd_build_context_bytes_total")
                        .Help("Build context bytes received from clients")
                        .Register(*registry_)
                        .Add({});
  streams_in_flight_ = &prometheus::BuildGauge()
                            .Name("dkd_grpc_streams_in_flight")
                            .Help("Streaming gRPC calls currently open")
                            .Register(*registry_)
                            .Add({});
  builds_active_ = &prometheus::BuildGauge()
                        .Name("dkd_builds_active")
                        .Help("Builds currently running")
                        .Register(*registry_)
                        .Add({});
  builds_queued_ = &prometheus::BuildGauge()
                        .Name("dkd_builds_queued")
                        .Help("Builds waiting for a build slot")
                        .Register(*registry_)
                        .Add({});
  engine_up_ = &prometheus::BuildGauge()
                    .Name("dkd_engine_up")
                    .Help("1 while the Docker Engine answers its health ping")
                    .Register(*registry_)
                    .Add({});
}

void Metrics::RecordRpc(const std::string& method, const std::string& code, double seconds) {
  requests_->Add({{"method", method}, {"code", code}}).Increment();
  if (code != "OK") errors_->Add({{"method", method}}).Increment();
  latency_->Add({{"method", method}}, LatencyBuckets()).Observe(seconds);
}

void Metrics::RecordEngineCall(const std::string& operation, bool ok, double seconds) {
  engine_latency_->Add({{"operation", operation}}, LatencyBuckets()).Observe(seconds);
  if (!ok) engine_errors_->Add({{"operation", operation}}).Increment();
}

void Metrics::RecordAuthFailure(const std::string& reason) {
  auth_failures_->Add({{"reason", reason}}).Increment();
}

void Metrics::RecordLimitRejection(const std::string& limit) {
  limit_rejections_->Add({{"limit", limit}}).Increment();
}

void Metrics::AddContextBytes(int64_t bytes) {
  context_bytes_->Increment(static_cast<double>(bytes));
}

void Metrics::SetEngineUp(bool up) { engine_up_->Set(up ? 1 : 0); }

std::string Metrics::Render() const {
  std::ostringstream out;
  prometheus::TextSerializer().Serialize(out, registry_->Collect());
  return out.str();
}

}  // namespace dkd::server
