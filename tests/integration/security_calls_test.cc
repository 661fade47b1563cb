// Calls themselves as an attack surface, against a real dkd and engine:
// request bytes that do not parse as the request type.
#include <gtest/gtest.h>

#include "dkd/v1/build_generator.grpc.pb.h"
#include "dkd/v1/docker_manager.grpc.pb.h"
#include "tests/integration/security_helpers.h"

namespace dkd::testing {
namespace {

using grpc::StatusCode;

// A length-delimited field `number` holding `bytes`, on the wire.
std::string LengthDelimited(int number, const std::string& bytes) {
  std::string out;
  out.push_back(static_cast<char>((number << 3) | 2));
  out.push_back(static_cast<char>(bytes.size()));
  return out + bytes;
}

int FieldNumber(const google::protobuf::Descriptor* d, const char* name) {
  return d->FindFieldByName(name)->number();
}

struct Garbage {
  std::string what;
  std::string bytes;
};

// Bytes that no proto3 message parses: an end-group tag with no start, a
// truncated varint, a length past the end, and (per message type) a string
// field holding invalid UTF-8.
std::vector<Garbage> GarbageFor(const google::protobuf::Descriptor* d, const char* string_field) {
  std::vector<Garbage> g = {{"stray end-group tag", "\x0c"},
                            {"truncated varint", std::string("\x08\xff\xff", 3)},
                            {"length past the end", std::string("\x0a\x7f", 2) + "abc"}};
  if (string_field != nullptr) {
    g.push_back({"invalid UTF-8 in a string field",
                 LengthDelimited(FieldNumber(d, string_field), "\xff\xfe")});
  }
  return g;
}

TEST(MalformedRequestTest, EveryKindOfRpcSaysInvalidArgumentNamingTheRequestType) {
  auto d = StartDaemon({"", {}, ""});
  ASSERT_TRUE(d.ok()) << d.status();
  auto channel = PlainChannel((*d)->unix_target());
  struct Rpc {
    std::string method;
    const google::protobuf::Descriptor* type;
    const char* string_field;
  };
  const std::vector<Rpc> rpcs = {
      // Unary.
      {"/dkd.v1.DockerManager/RunContainer", dkd::v1::RunContainerRequest::descriptor(), "name"},
      {"/dkd.v1.DockerManager/InspectContainer", dkd::v1::InspectContainerRequest::descriptor(),
       "id"},
      {"/dkd.v1.BuildGenerator/LintDockerfile", dkd::v1::LintDockerfileRequest::descriptor(),
       "dockerfile"},
      // Server streams.
      {"/dkd.v1.DockerManager/ContainerLogs", dkd::v1::ContainerLogsRequest::descriptor(), "id"},
      {"/dkd.v1.DockerManager/PullImage", dkd::v1::PullImageRequest::descriptor(), "image"},
  };
  for (const Rpc& rpc : rpcs) {
    for (const Garbage& g : GarbageFor(rpc.type, rpc.string_field)) {
      grpc::Status s = CallWithPayload(channel, rpc.method, g.bytes);
      EXPECT_EQ(s.error_code(), StatusCode::INVALID_ARGUMENT) << rpc.method << ", " << g.what;
      EXPECT_NE(s.error_message().find("does not parse as " + rpc.type->full_name()),
                std::string::npos)
          << rpc.method << ", " << g.what << ": " << s.error_message();
    }
  }
  // Bidi: the build stream whose first message is garbage.
  for (const Garbage& g : GarbageFor(dkd::v1::BuildImageRequest::descriptor(), nullptr)) {
    grpc::Status s = CallWithPayload(channel, "/dkd.v1.DockerManager/BuildImage", g.bytes);
    EXPECT_EQ(s.error_code(), StatusCode::INVALID_ARGUMENT) << g.what;
    EXPECT_NE(s.error_message().find("does not parse as dkd.v1.BuildImageRequest"),
              std::string::npos)
        << g.what << ": " << s.error_message();
  }
  // Allowed neighbours on the same channel: valid bytes still work, and the
  // valid-but-empty request fails validation, naming the field.
  dkd::v1::InspectContainerRequest inspect;
  inspect.set_id("dkd-no-such-container-" + std::to_string(getpid()));
  grpc::Status s = CallWithPayload(channel, "/dkd.v1.DockerManager/InspectContainer",
                                   inspect.SerializeAsString());
  EXPECT_EQ(s.error_code(), StatusCode::NOT_FOUND) << s.error_message();
  s = CallByName(channel, "/dkd.v1.DockerManager/RunContainer");
  EXPECT_EQ(s.error_code(), StatusCode::INVALID_ARGUMENT);
  EXPECT_EQ(s.error_message().find("does not parse"), std::string::npos) << s.error_message();
  EXPECT_TRUE(CallByName(channel, "/dkd.v1.DockerManager/Ping").ok()) << "dkd is still up";
}

TEST(MalformedRequestTest, GarbageNeverSkipsAuthentication) {
  // An anonymous TCP caller: its garbage is refused without running any
  // handler, and a valid request from it is still UNAUTHENTICATED.
  auto d = StartDaemon({"", {}, ""});
  ASSERT_TRUE(d.ok()) << d.status();
  auto tcp = PlainChannel((*d)->tcp_target());
  grpc::Status s = CallWithPayload(tcp, "/dkd.v1.DockerManager/RunContainer", "\x0c");
  EXPECT_EQ(s.error_code(), StatusCode::INVALID_ARGUMENT) << s.error_message();
  EXPECT_EQ(CallByName(tcp, "/dkd.v1.DockerManager/RunContainer").error_code(),
            StatusCode::UNAUTHENTICATED);
  // Only the valid request reached the guarded handler (one debug line per call).
  const std::string log = (*d)->Log();
  size_t calls = 0;
  for (size_t at = log.find("RunContainer identity="); at != std::string::npos;
       at = log.find("RunContainer identity=", at + 1)) {
    ++calls;
  }
  EXPECT_EQ(calls, 1u) << log;
}

}  // namespace
}  // namespace dkd::testing
