// BuildContextInterceptor: counts the build context bytes each BuildImage
// call receives, as the messages arrive, and enforces
// limits.max_context_bytes.
//
// The build handler reads the context lazily, so the count is taken where
// each message is deserialized. Once a build goes over the limit (or its
// BuildSpec.context_size_hint already does), the offending message is
// replaced by one the handler rejects, which aborts the engine request; the
// guarded handler then reports RESOURCE_EXHAUSTED naming the limit. It also
// records the build's target for the audit log. Thread-safe.
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
