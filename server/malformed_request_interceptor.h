// MalformedRequestInterceptor: a request message that does not parse as its
// proto type (invalid wire data, a string field that is not UTF-8) ends the
// call with INVALID_ARGUMENT naming the type, instead of gRPC's INTERNAL with
// an empty message.
//
// For unary and server-streaming RPCs gRPC parses the request before any
// handler runs; a failure shows as POST_RECV_MESSAGE with no message, no
// handler runs (so nothing is authorized or reaches the engine), and the
// status is rewritten at PRE_SEND_STATUS.
//
// For client-streaming and bidi RPCs, gRPC 1.51 reports a message that does
// not parse exactly like the end of the stream (CallOpRecvMessage::FinishOp
// returns false in both cases), so the two cannot be told apart here. When
// the first read of such a stream yields nothing and the handler refuses the
// call with INVALID_ARGUMENT or INTERNAL, the message says that the first
// message was missing or did not parse. Thread-safe (one instance per call).
#pragma once

#include <grpcpp/support/server_interceptor.h>

#include <string>

namespace dkd::server {

class MalformedRequestInterceptorFactory final
    : public grpc::experimental::ServerInterceptorFactoryInterface {
 public:
  grpc::experimental::Interceptor* CreateServerInterceptor(
      grpc::experimental::ServerRpcInfo* info) override;
};

// "dkd.v1.RunContainerRequest" for "/dkd.v1.DockerManager/RunContainer";
// "" when the method is not in the generated descriptor pool.
std::string RequestTypeOf(const char* full_method);

}  // namespace dkd::server
