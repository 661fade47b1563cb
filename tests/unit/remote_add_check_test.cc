// CheckNoRemoteSources: ADD that may fetch a URL is refused; local ADD and any
// COPY are allowed.
#include "core/policy/remote_add_check.h"

#include <gtest/gtest.h>

#include <string>

namespace dkd::core {
namespace {

TEST(CheckNoRemoteSourcesTest, RefusesAddThatMayFetchAUrl) {
  const std::string base = "FROM registry.internal:5000/base\n";
  for (const std::string& line :
       {std::string("ADD http://127.0.0.1:7576/metrics /m\n"),
        std::string("ADD [\"https://example.com/x\", \"/d\"]\n"),
        std::string("ADD --chown=1 \"http://example.com/x\" /d\n"), std::string("ADD $URL /d\n"),
        std::string("ADD h\\ttp://example.com/x /d\n"), std::string("add a ftp://x/y /d\n"),
        std::string("ONBUILD ADD http://example.com/x /d\n")}) {
    absl::Status s = CheckNoRemoteSources(base + line, BuilderKind::kClassic);
    EXPECT_EQ(s.code(), absl::StatusCode::kPermissionDenied) << line;
    EXPECT_NE(std::string(s.message()).find("build.allow_remote_add"), std::string::npos) << s;
    EXPECT_NE(std::string(s.message()).find("line 2"), std::string::npos) << s;
  }
  EXPECT_EQ(
      CheckNoRemoteSources(base + "ADD git@github.com:a/b /d\n", BuilderKind::kBuildKit).code(),
      absl::StatusCode::kPermissionDenied);
}

TEST(CheckNoRemoteSourcesTest, AllowsLocalAddAndAnyCopy) {
  EXPECT_TRUE(CheckNoRemoteSources("FROM a\nADD app.tar.gz /opt/\nADD [\"a b\", \"/c\"]\n"
                                   "COPY http://example.com/x /d\n",
                                   BuilderKind::kClassic)
                  .ok());
}

}  // namespace
}  // namespace dkd::core
