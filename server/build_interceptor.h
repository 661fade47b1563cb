// BuildContextInterceptor: sees each BuildImage message as it is
// deserialized. It records the build's target for the audit log, counts wire
// bytes for the metrics, and refuses early a build whose
// BuildSpec.context_size_hint is already over limits.max_context_bytes: the
// next message is replaced by one the handler rejects, which aborts the
// engine request, and the guarded handler reports RESOURCE_EXHAUSTED naming
// the limit. The limit itself is enforced by the core build, which counts the
// decompressed canonical tar the engine receives (a small gzip that inflates
// past the limit is stopped there). Thread-safe.
#pragma once

#include <grpcpp/support/server_interceptor.h>

#include "server/gatekeeper.h"

namespace dkd::server {

class BuildContextInterceptorFactory final
    : public grpc::experimental::ServerInterceptorFactoryInterface {
 public:
  explicit BuildContextInterceptorFactory(Gatekeeper* gatekeeper) : gatekeeper_(gatekeeper) {}
  grpc::experimental::Interceptor* CreateServerInterceptor(
      grpc::experimental::ServerRpcInfo* info) override;

 private:
  Gatekeeper* gatekeeper_;
};

}  // namespace dkd::server
