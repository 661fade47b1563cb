// MalformedRequestInterceptor: INVALID_ARGUMENT for request bytes that do not parse.
#include "server/malformed_request_interceptor.h"

#include <google/protobuf/descriptor.h>
#include <grpcpp/server_context.h>

#include "absl/strings/str_cat.h"
#include "absl/strings/string_view.h"
#include "server/status_map.h"
#include "spdlog/spdlog.h"

namespace dkd::server {
namespace {

using grpc::experimental::InterceptionHookPoints;
using grpc::experimental::ServerRpcInfo;

class MalformedRequestInterceptor final : public grpc::experimental::Interceptor {
 public:
  MalformedRequestInterceptor(std::string method, std::string request_type, bool client_streams,
                              grpc::ServerContextBase* context)
      : method_(std::move(method)),
        request_type_(std::move(request_type)),
        client_streams_(client_streams),
        context_(context) {}

  void Intercept(grpc::experimental::InterceptorBatchMethods* methods) override {
    if (methods->QueryInterceptionHookPoint(InterceptionHookPoints::POST_RECV_MESSAGE)) {
      const bool got = methods->GetRecvMessage() != nullptr;
      if (!got && messages_ == 0) first_missing_ = true;
      if (got) ++messages_;
    }
    if (methods->QueryInterceptionHookPoint(InterceptionHookPoints::PRE_SEND_STATUS) &&
        first_missing_) {
      Rewrite(methods);
    }
    methods->Proceed();
  }

 private:
  void Rewrite(grpc::experimental::InterceptorBatchMethods* methods) {
    const grpc::Status sent = methods->GetSendStatus();
    if (!client_streams_) {
      spdlog::warn("{}: request from {} does not parse as {}", method_, context_->peer(),
                   request_type_);
      methods->ModifySendStatus(ToGrpcStatus(absl::InvalidArgumentError(
          absl::StrCat("request message does not parse as ", request_type_,
                       " (invalid protobuf wire data, or a string field that is not valid "
                       "UTF-8)"))));
      return;
    }
    if (sent.error_code() != grpc::StatusCode::INVALID_ARGUMENT &&
        sent.error_code() != grpc::StatusCode::INTERNAL) {
      return;
    }
    methods->ModifySendStatus(ToGrpcStatus(absl::InvalidArgumentError(
        absl::StrCat("the first request message is missing or does not parse as ", request_type_,
                     " (invalid protobuf wire data, or a string field that is not valid UTF-8)",
                     sent.error_message().empty() ? "" : ": ", sent.error_message()))));
  }

  const std::string method_;
  const std::string request_type_;
  const bool client_streams_;
  grpc::ServerContextBase* context_;
  int64_t messages_ = 0;
  bool first_missing_ = false;
};

}  // namespace

std::string RequestTypeOf(const char* full_method) {
  // "/pkg.Service/Method" -> "pkg.Service.Method".
  absl::string_view m(full_method == nullptr ? "" : full_method);
  if (m.empty() || m[0] != '/') return "";
  std::string name(m.substr(1));
  const size_t slash = name.find('/');
  if (slash == std::string::npos) return "";
  name[slash] = '.';
  const auto* method = google::protobuf::DescriptorPool::generated_pool()->FindMethodByName(name);
  return method == nullptr ? "" : method->input_type()->full_name();
}

grpc::experimental::Interceptor* MalformedRequestInterceptorFactory::CreateServerInterceptor(
    ServerRpcInfo* info) {
  std::string type = RequestTypeOf(info->method());
  if (type.empty()) return nullptr;  // Not a generated proto method: gRPC's own handling.
  const bool client_streams = info->type() == ServerRpcInfo::Type::CLIENT_STREAMING ||
                              info->type() == ServerRpcInfo::Type::BIDI_STREAMING;
  return new MalformedRequestInterceptor(info->method(), std::move(type), client_streams,
                                         info->server_context());
}

}  // namespace dkd::server
