// CheckBindNesting: binds inside or above another writable bind are refused;
// siblings, equal paths and read-only parents are not.
#include "core/policy/bind_nesting.h"

#include <gtest/gtest.h>

namespace dkd::core {
namespace {

HostBind Bind(const std::string& source, bool writable,
              const std::string& owner = "this container") {
  HostBind b;
  b.source = source;
  b.writable = writable;
  b.owner = owner;
  b.field = "config.volumes[\"" + source + "\"]";
  return b;
}

TEST(BindNestingTest, RefusesABindInsideAWritableBindOfTheSameContainer) {
  // The restart attack: /data is ROOT/alice, the container swaps /data/a for a
  // symlink to "/", and the next start mounts the host's root at /a.
  absl::Status s =
      CheckBindNesting({Bind("/srv/root/alice", true), Bind("/srv/root/alice/a", false)}, {});
  EXPECT_EQ(s.code(), absl::StatusCode::kPermissionDenied) << s;
  EXPECT_NE(s.message().find("/srv/root/alice/a"), absl::string_view::npos) << s;
}

TEST(BindNestingTest, RefusesABindInsideAnotherContainersWritableBind) {
  std::vector<HostBind> existing = {Bind("/srv/root/alice", true, "container web")};
  absl::Status s = CheckBindNesting({Bind("/srv/root/alice/x/y", true)}, existing);
  EXPECT_EQ(s.code(), absl::StatusCode::kPermissionDenied);
  EXPECT_NE(s.message().find("container web"), absl::string_view::npos) << s;
}

TEST(BindNestingTest, RefusesAWritableBindAboveAnotherContainersBind) {
  std::vector<HostBind> existing = {Bind("/srv/root/alice/a", false, "container db")};
  EXPECT_EQ(CheckBindNesting({Bind("/srv/root/alice", true)}, existing).code(),
            absl::StatusCode::kPermissionDenied);
  // Read-only above is fine: nothing can be swapped through it.
  EXPECT_TRUE(CheckBindNesting({Bind("/srv/root/alice", false)}, existing).ok());
}

TEST(BindNestingTest, AllowsSiblingsEqualPathsAndReadOnlyParents) {
  EXPECT_TRUE(
      CheckBindNesting({Bind("/srv/root/alice", true), Bind("/srv/root/bob", true)}, {}).ok());
  EXPECT_TRUE(CheckBindNesting({Bind("/srv/root/alice", true)},
                               {Bind("/srv/root/alice", true, "container web")})
                  .ok());
  EXPECT_TRUE(
      CheckBindNesting({Bind("/srv/root/alice", false), Bind("/srv/root/alice/a", false)}, {})
          .ok());
  // Component-wise: /srv/root/alice-2 is not inside /srv/root/alice.
  EXPECT_TRUE(
      CheckBindNesting({Bind("/srv/root/alice-2", false)}, {Bind("/srv/root/alice", true, "c")})
          .ok());
}

TEST(BindNestingTest, ReadsBindsAndVolumesFromTheContainerList) {
  nlohmann::json list = nlohmann::json::parse(R"([
    {"Id": "0123456789abcdef", "Names": ["/web"], "Mounts": [
      {"Type": "bind", "Source": "/srv/root/alice/", "RW": true},
      {"Type": "volume", "Source": "/var/lib/docker/volumes/v/_data", "RW": true},
      {"Type": "tmpfs", "Source": "", "RW": true}]},
    {"Id": "fedcba9876543210", "Names": [], "Mounts": [
      {"Type": "bind", "Source": "/srv/root/ro", "RW": false}]}
  ])");
  std::vector<HostBind> binds = BindsFromContainerList(list);
  ASSERT_EQ(binds.size(), 3u);
  EXPECT_EQ(binds[0].source, "/srv/root/alice");
  EXPECT_TRUE(binds[0].writable);
  EXPECT_EQ(binds[0].owner, "container web");
  EXPECT_EQ(binds[2].owner, "container fedcba987654");
  EXPECT_FALSE(binds[2].writable);
  EXPECT_TRUE(BindsFromContainerList(nlohmann::json::object()).empty());
}

TEST(BindNestingTest, AnotherOwnersContainerIsNotNamed) {
  HostBind theirs = Bind("/srv/root/alice", true, "container alices-web");
  theirs.owner_identity = "alice";
  absl::Status s = CheckBindNesting({Bind("/srv/root/alice/a", false)}, {theirs},
                                    Owner{"bob", /*enforced=*/true});
  EXPECT_EQ(s.code(), absl::StatusCode::kPermissionDenied);
  EXPECT_EQ(s.message().find("alices-web"), absl::string_view::npos) << s;
  EXPECT_NE(s.message().find("another container"), absl::string_view::npos) << s;
  s = CheckBindNesting({Bind("/srv/root/alice/a", false)}, {theirs},
                       Owner{"alice", /*enforced=*/true});
  EXPECT_NE(s.message().find("alices-web"), absl::string_view::npos) << s;
}

TEST(BindNestingTest, StrictlyInsideIsComponentWise) {
  EXPECT_TRUE(StrictlyInside("/a/b", "/a"));
  EXPECT_TRUE(StrictlyInside("/a", "/"));
  EXPECT_FALSE(StrictlyInside("/a", "/a"));
  EXPECT_FALSE(StrictlyInside("/ab", "/a"));
  EXPECT_FALSE(StrictlyInside("/a", "/a/b"));
}

}  // namespace
}  // namespace dkd::core
