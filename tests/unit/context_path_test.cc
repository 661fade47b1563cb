// Host-path policy: context directories and bind sources under the roots, and
// the engine socket refused whatever the roots.
#include "core/context/context_path.h"

#include <stdlib.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

#include <filesystem>
#include <fstream>
#include <string>
#include <vector>

#include "gmock/gmock.h"
#include "gtest/gtest.h"

namespace dkd::core {
namespace {

using ::testing::HasSubstr;

// A scratch tree under a fresh temporary directory, removed afterwards:
//   roots/ctx/            allowed root
//   roots/ctx/app/        a context directory
//   roots/ctx/file.txt    not a directory
//   roots/ctx/inner    -> app                       (link that stays inside)
//   roots/ctx/escape   -> ../../outside             (link that escapes)
//   roots/ctx/dangling -> ../../outside/missing     (target does not exist)
//   roots/ctx/sock     -> ../../run/docker.sock     (link to the engine socket)
//   roots/ctx/hard.sock   a hard link to run/docker.sock
//   roots/ctx-evil/       sibling whose name has the root as a prefix
//   rootlink           -> roots                     (roots reached through a link)
//   outside/
//   run/docker.sock       a real unix socket
//   varrun             -> run                       (like /var/run -> /run)
class ContextPathTest : public ::testing::Test {
 protected:
  void SetUp() override {
    char tmpl[] = "/tmp/dkdcp.XXXXXX";
    ASSERT_NE(mkdtemp(tmpl), nullptr);
    char* real = realpath(tmpl, nullptr);
    ASSERT_NE(real, nullptr);
    dir_ = real;
    free(real);
    for (const char* d : {"roots/ctx/app", "roots/ctx-evil", "outside", "run"}) {
      ASSERT_TRUE(std::filesystem::create_directories(P(d), ec_)) << d;
    }
    std::ofstream(P("roots/ctx/file.txt")) << "x";
    MakeSocket(P("run/docker.sock"));
    Link("app", "roots/ctx/inner");
    Link("../../outside", "roots/ctx/escape");
    Link("../../outside/missing", "roots/ctx/dangling");
    Link("../../run/docker.sock", "roots/ctx/sock");
    Link("roots", "rootlink");
    Link("run", "varrun");
    ASSERT_EQ(link(P("run/docker.sock").c_str(), P("roots/ctx/hard.sock").c_str()), 0);
    root_ = P("roots/ctx");
    socket_ = P("run/docker.sock");
  }

  void TearDown() override {
    if (fd_ >= 0) close(fd_);
    std::filesystem::remove_all(dir_, ec_);
  }

  std::string P(const std::string& rel) const { return dir_ + "/" + rel; }

  void Link(const std::string& target, const std::string& rel) {
    ASSERT_EQ(symlink(target.c_str(), P(rel).c_str()), 0) << rel;
  }

  void MakeSocket(const std::string& path) {
    fd_ = socket(AF_UNIX, SOCK_STREAM, 0);
    ASSERT_GE(fd_, 0);
    sockaddr_un addr{};
    addr.sun_family = AF_UNIX;
    ASSERT_LT(path.size(), sizeof(addr.sun_path));
    path.copy(addr.sun_path, path.size());
    ASSERT_EQ(bind(fd_, reinterpret_cast<sockaddr*>(&addr), sizeof(addr)), 0);
  }

  std::string dir_;
  std::string root_;
  std::string socket_;
  int fd_ = -1;
  std::error_code ec_;
};

TEST_F(ContextPathTest, ContextIsRefusedWhenNoRootsAreConfigured) {
  auto r = ResolveContextDirectory(root_ + "/app", {});
  EXPECT_EQ(r.status().code(), absl::StatusCode::kPermissionDenied);
  EXPECT_THAT(std::string(r.status().message()), HasSubstr("disabled"));
  EXPECT_THAT(std::string(r.status().message()), HasSubstr("build.context_roots"));
}

TEST_F(ContextPathTest, ContextResolvesDirectoriesUnderARoot) {
  const std::vector<std::string> roots = {root_};
  struct Case {
    std::string requested, want;
  };
  const Case cases[] = {
      {root_ + "/app", root_ + "/app"},        {root_, root_},
      {root_ + "//./app/", root_ + "/app"},    {root_ + "/inner", root_ + "/app"},
      {P("rootlink/ctx/app"), root_ + "/app"},
  };
  for (const Case& c : cases) {
    auto r = ResolveContextDirectory(c.requested, roots);
    ASSERT_TRUE(r.ok()) << c.requested << ": " << r.status();
    EXPECT_EQ(*r, c.want);
  }
  // A root named through a symlink, a trailing slash, or next to a missing root still works.
  for (const std::string& root : {P("rootlink/ctx"), root_ + "/", root_ + "/./"}) {
    auto r = ResolveContextDirectory(root_ + "/app", {P("nope"), root});
    ASSERT_TRUE(r.ok()) << root << ": " << r.status();
    EXPECT_EQ(*r, root_ + "/app");
  }
}

TEST_F(ContextPathTest, ContextRefusesBadPathsWithTheRightCode) {
  const std::vector<std::string> roots = {root_};
  struct Case {
    std::string requested;
    absl::StatusCode code;
    std::string rule;
  };
  const Case cases[] = {
      {"", absl::StatusCode::kInvalidArgument, "must not be empty"},
      {"roots/ctx/app", absl::StatusCode::kInvalidArgument, "absolute"},
      {root_ + "/app/../app", absl::StatusCode::kInvalidArgument, "'..'"},
      {root_ + "/../ctx/app", absl::StatusCode::kInvalidArgument, "'..'"},
      {root_ + "/a\nb", absl::StatusCode::kInvalidArgument, "control"},
      {root_ + "/escape", absl::StatusCode::kPermissionDenied, "outside"},
      {root_ + "/escape/x", absl::StatusCode::kPermissionDenied, "outside"},
      {P("roots/ctx-evil"), absl::StatusCode::kPermissionDenied, "outside"},
      {P("outside"), absl::StatusCode::kPermissionDenied, "outside"},
      {P("outside/missing"), absl::StatusCode::kPermissionDenied, "outside"},
      {"/", absl::StatusCode::kPermissionDenied, "outside"},
      {root_ + "/dangling", absl::StatusCode::kPermissionDenied, "dangling"},
      {root_ + "/missing", absl::StatusCode::kNotFound, "does not exist"},
      {root_ + "/file.txt", absl::StatusCode::kFailedPrecondition, "not a directory"},
      {root_ + "/file.txt/x", absl::StatusCode::kNotFound, "does not exist"},
      {root_ + "/sock", absl::StatusCode::kPermissionDenied, "outside"},
  };
  for (const Case& c : cases) {
    auto r = ResolveContextDirectory(c.requested, roots);
    ASSERT_FALSE(r.ok()) << c.requested << " resolved to " << *r;
    EXPECT_EQ(r.status().code(), c.code) << c.requested << ": " << r.status();
    EXPECT_THAT(std::string(r.status().message()), HasSubstr(c.rule)) << c.requested;
  }
  auto none = ResolveContextDirectory(root_ + "/app", {P("nope"), "relative"});
  EXPECT_EQ(none.status().code(), absl::StatusCode::kFailedPrecondition);
}

TEST_F(ContextPathTest, BindSourceUnderRootIsResolved) {
  const std::vector<std::string> roots = {root_};
  const std::vector<std::string> forbidden = {socket_};
  struct Case {
    std::string requested, want;
  };
  const Case cases[] = {
      {root_ + "/app", root_ + "/app"},           {root_ + "/inner", root_ + "/app"},
      {root_ + "/file.txt", root_ + "/file.txt"}, {root_ + "/new/dir", root_ + "/new/dir"},
      {P("rootlink/ctx/new"), root_ + "/new"},
  };
  for (const Case& c : cases) {
    auto r = ResolveBindMountSource(c.requested, roots, forbidden);
    ASSERT_TRUE(r.ok()) << c.requested << ": " << r.status();
    EXPECT_EQ(*r, c.want);
    EXPECT_TRUE(CheckBindMountSource(c.requested, roots, forbidden).ok());
  }
}

TEST_F(ContextPathTest, BindSourceOutsideRootsIsRefused) {
  const std::vector<std::string> roots = {root_};
  const std::vector<std::string> forbidden = {socket_};
  struct Case {
    std::string requested;
    absl::StatusCode code;
    std::string rule;
  };
  const Case cases[] = {
      {"", absl::StatusCode::kInvalidArgument, "must not be empty"},
      {"data", absl::StatusCode::kInvalidArgument, "absolute"},
      {root_ + "/../ctx-evil", absl::StatusCode::kInvalidArgument, "'..'"},
      {root_ + "/escape", absl::StatusCode::kPermissionDenied, "outside the allowed host roots"},
      {root_ + "/escape/new", absl::StatusCode::kPermissionDenied,
       "outside the allowed host roots"},
      {P("roots/ctx-evil"), absl::StatusCode::kPermissionDenied, "outside the allowed host roots"},
      {P("outside/new"), absl::StatusCode::kPermissionDenied, "outside the allowed host roots"},
      {root_ + "/dangling", absl::StatusCode::kPermissionDenied, "dangling"},
      {root_ + "/dangling/x", absl::StatusCode::kPermissionDenied, "dangling"},
  };
  for (const Case& c : cases) {
    absl::Status s = CheckBindMountSource(c.requested, roots, forbidden);
    EXPECT_EQ(s.code(), c.code) << c.requested << ": " << s;
    EXPECT_THAT(std::string(s.message()), HasSubstr(c.rule)) << c.requested;
  }
  absl::Status disabled = CheckBindMountSource(root_ + "/app", {}, forbidden);
  EXPECT_EQ(disabled.code(), absl::StatusCode::kPermissionDenied);
  EXPECT_THAT(std::string(disabled.message()), HasSubstr("disabled"));
}

TEST_F(ContextPathTest, EngineSocketIsNeverMountableWhateverTheRoots) {
  for (const std::vector<std::string>& roots :
       {std::vector<std::string>{"/"}, std::vector<std::string>{dir_},
        std::vector<std::string>{root_}}) {
    // The forbidden path may be configured through its alias as well.
    for (const std::string& forbidden : {socket_, P("varrun/docker.sock")}) {
      for (const std::string& source : {socket_, P("run"), P("run/"), dir_, std::string("/"),
                                        P("varrun"), P("varrun/docker.sock"), root_ + "/sock",
                                        root_ + "/hard.sock", P("run/docker.sock/x")}) {
        absl::Status s = CheckBindMountSource(source, roots, {forbidden});
        EXPECT_EQ(s.code(), absl::StatusCode::kPermissionDenied)
            << source << " (forbidden " << forbidden << ", root " << roots[0] << "): " << s;
        EXPECT_THAT(std::string(s.message()), HasSubstr("may never be mounted")) << source;
      }
    }
  }
  // Paths beside the socket stay mountable when a root allows them.
  EXPECT_TRUE(CheckBindMountSource(P("outside"), {dir_}, {socket_}).ok());
  EXPECT_TRUE(CheckBindMountSource(root_ + "/app", {"/"}, {socket_}).ok());
}

}  // namespace
}  // namespace dkd::core
