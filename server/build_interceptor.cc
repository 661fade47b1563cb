// BuildContextInterceptor (build_interceptor.h): the per-message hook on
// BuildImage calls and its factory.
#include "server/build_interceptor.h"

#include <cstring>

#include "dkd/v1/docker_manager.pb.h"

namespace dkd::server {
namespace {

using grpc::experimental::InterceptionHookPoints;

class BuildContextInterceptor final : public grpc::experimental::Interceptor {
 public:
  BuildContextInterceptor(Gatekeeper* gatekeeper, grpc::ServerContextBase* context)
      : gatekeeper_(gatekeeper), context_(context) {}

  void Intercept(grpc::experimental::InterceptorBatchMethods* methods) override {
    if (methods->QueryInterceptionHookPoint(InterceptionHookPoints::POST_RECV_MESSAGE)) {
      auto* msg = static_cast<dkd::v1::BuildImageRequest*>(methods->GetRecvMessage());
      if (msg != nullptr) Account(msg);
    }
    methods->Proceed();
  }

 private:
  void Account(dkd::v1::BuildImageRequest* msg) {
    if (state_ == nullptr) state_ = gatekeeper_->FindBuild(context_);
    if (state_ == nullptr) return;
    if (msg->has_spec()) {
      const auto& config = msg->spec().config();
      absl::MutexLock lock(&state_->mu);
      state_->target = config.image_name() + (config.tag().empty() ? "" : ":" + config.tag());
      const int64_t hint = msg->spec().context_size_hint();
      if (state_->max_context_bytes > 0 && hint > state_->max_context_bytes) {
        state_->over_limit = true;
      }
    } else {
      // Wire bytes are only a metric: the limit itself is enforced by the
      // core build on the decompressed, canonical context.
      gatekeeper_->metrics().AddContextBytes(static_cast<int64_t>(msg->context_chunk().size()));
    }
    if (state_->over_limit && !msg->has_spec()) {
      // A second spec is a protocol error for the handler: it stops reading
      // and aborts the build. No byte past the limit reaches the engine.
      msg->Clear();
      msg->mutable_spec();
    }
  }

  Gatekeeper* gatekeeper_;
  grpc::ServerContextBase* context_;
  std::shared_ptr<BuildCallState> state_;
};

}  // namespace

grpc::experimental::Interceptor* BuildContextInterceptorFactory::CreateServerInterceptor(
    grpc::experimental::ServerRpcInfo* info) {
  if (std::strcmp(info->method(), "/dkd.v1.DockerManager/BuildImage") != 0) return nullptr;
  return new BuildContextInterceptor(gatekeeper_, info->server_context());
}

}  // namespace dkd::server
