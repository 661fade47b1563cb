// ToGrpcStatus: every code and message carried over unchanged.
#include "server/status_map.h"

#include <gtest/gtest.h>

namespace dkd::server {
namespace {

TEST(StatusMapTest, OkMapsToOk) { EXPECT_TRUE(ToGrpcStatus(absl::OkStatus()).ok()); }

TEST(StatusMapTest, KeepsCodeAndMessageForEveryCode) {
  const absl::Status cases[] = {
      absl::CancelledError("c"),          absl::UnknownError("u"),
      absl::InvalidArgumentError("i"),    absl::DeadlineExceededError("d"),
      absl::NotFoundError("n"),           absl::AlreadyExistsError("a"),
      absl::PermissionDeniedError("p"),   absl::ResourceExhaustedError("r"),
      absl::FailedPreconditionError("f"), absl::AbortedError("ab"),
      absl::OutOfRangeError("o"),         absl::UnimplementedError("un"),
      absl::InternalError("in"),          absl::UnavailableError("ua"),
      absl::DataLossError("dl"),          absl::UnauthenticatedError("ue"),
  };
  for (const auto& s : cases) {
    grpc::Status g = ToGrpcStatus(s);
    EXPECT_EQ(static_cast<int>(g.error_code()), static_cast<int>(s.code())) << s;
    EXPECT_EQ(g.error_message(), std::string(s.message()));
  }
}

}  // namespace
}  // namespace dkd::server
