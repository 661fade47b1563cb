#include "core/base_image_check.h"

#include <archive.h>
#include <archive_entry.h>
#include <gtest/gtest.h>

#include <string>
#include <vector>

namespace dkd::core {
namespace {

// A pax tar, in memory, of (name, content) pairs in order.
std::string MakeTar(const std::vector<std::pair<std::string, std::string>>& files) {
  std::string out;
  archive* a = archive_write_new();
  archive_write_set_format_pax_restricted(a);
  archive_write_open(
      a, &out, nullptr,
      [](archive*, void* ctx, const void* buf, size_t n) -> la_ssize_t {
        static_cast<std::string*>(ctx)->append(static_cast<const char*>(buf), n);
        return static_cast<la_ssize_t>(n);
      },
      nullptr);
  for (const auto& [name, content] : files) {
    archive_entry* e = archive_entry_new();
    archive_entry_set_pathname(e, name.c_str());
    archive_entry_set_size(e, static_cast<la_int64_t>(content.size()));
    archive_entry_set_filetype(e, AE_IFREG);
    archive_entry_set_perm(e, 0644);
    archive_write_header(a, e);
    archive_write_data(a, content.data(), content.size());
    archive_entry_free(e);
  }
  archive_write_close(a);
  archive_write_free(a);
  return out;
}

const std::vector<std::string> kAllowed = {"registry.internal:5000"};

TEST(CheckBaseImagesTest, AllowsListedRegistryStagesAndScratch) {
  EXPECT_TRUE(CheckBaseImages("FROM registry.internal:5000/base:1 AS build\n"
                              "FROM build AS test\nFROM scratch\nCOPY --from=build /a /a\n",
                              {}, kAllowed)
                  .ok());
  EXPECT_TRUE(CheckBaseImages("FROM python:3\n", {}, {}).ok()) << "no list: everything allowed";
}

TEST(CheckBaseImagesTest, RefusesOtherRegistriesNamingLineAndImage) {
  absl::Status s =
      CheckBaseImages("FROM registry.internal:5000/a\nFROM python:3.12\n", {}, kAllowed);
  EXPECT_EQ(s.code(), absl::StatusCode::kPermissionDenied);
  EXPECT_NE(s.message().find("line 2"), absl::string_view::npos) << s;
  EXPECT_NE(s.message().find("docker.io"), absl::string_view::npos) << s;
  EXPECT_NE(s.message().find("build.base_registries"), absl::string_view::npos) << s;
}

TEST(CheckBaseImagesTest, ExpandsGlobalArgsAndBuildArgsOverride) {
  const std::string df = "ARG BASE=registry.internal:5000/base\nFROM ${BASE}:1\n";
  EXPECT_TRUE(CheckBaseImages(df, {}, kAllowed).ok());
  EXPECT_EQ(CheckBaseImages(df, {{"BASE", "evil.example/base"}}, kAllowed).code(),
            absl::StatusCode::kPermissionDenied);
}

TEST(BaseImageGateTest, PassesEveryByteWhenAllowed) {
  const std::string tar = MakeTar({{"a.txt", "aaa"},
                                   {"Dockerfile", "FROM registry.internal:5000/base\n"},
                                   {"z.txt", std::string(5000, 'z')}});
  BaseImageGate gate("Dockerfile", {}, kAllowed);
  std::string out;
  for (size_t off = 0; off < tar.size(); off += 700) {
    ASSERT_TRUE(gate.Feed(tar.data() + off, std::min<size_t>(700, tar.size() - off)).ok());
    gate.TakeReady(&out);
  }
  ASSERT_TRUE(gate.Finish().ok());
  gate.TakeReady(&out);
  EXPECT_EQ(out, tar);
}

TEST(BaseImageGateTest, HoldsTheEndMarkerUntilTheDockerfileIsJudged) {
  // The Dockerfile is the last entry: refusal comes before the end marker
  // (the tar's zero blocks) is ever released.
  const std::string tar = MakeTar({{"a.txt", "aaa"}, {"./Dockerfile", "FROM busybox\n"}});
  BaseImageGate gate("Dockerfile", {}, kAllowed);
  absl::Status s = gate.Feed(tar.data(), tar.size());
  EXPECT_EQ(s.code(), absl::StatusCode::kPermissionDenied) << s;
  std::string out;
  gate.TakeReady(&out);
  EXPECT_LT(out.size(), tar.size());
  EXPECT_EQ(out.find(std::string(1024, '\0'), out.size() > 1024 ? out.size() - 1024 : 0),
            std::string::npos);
}

TEST(BaseImageGateTest, MissingDockerfileIsRefusedAtTheEnd) {
  const std::string tar = MakeTar({{"a.txt", "aaa"}});
  BaseImageGate gate("Dockerfile", {}, kAllowed);
  ASSERT_TRUE(gate.Feed(tar.data(), tar.size()).ok());
  std::string out;
  gate.TakeReady(&out);
  EXPECT_LT(out.size(), tar.size()) << "end marker must be held";
  EXPECT_EQ(gate.Finish().code(), absl::StatusCode::kFailedPrecondition);
}

TEST(BaseImageGateTest, FindsDockerfileUnderALongPaxName) {
  const std::string dir(120, 'd');
  const std::string name = dir + "/Dockerfile.prod";
  const std::string tar = MakeTar({{name, "FROM registry.internal:5000/x\n"}});
  BaseImageGate gate(name, {}, kAllowed);
  ASSERT_TRUE(gate.Feed(tar.data(), tar.size()).ok());
  ASSERT_TRUE(gate.Finish().ok());
  std::string out;
  gate.TakeReady(&out);
  EXPECT_EQ(out, tar);
}

TEST(BaseImageGateTest, RefusesCompressedContexts) {
  const std::string gz("\x1f\x8b\x08\x00\x00\x00\x00\x00", 8);
  BaseImageGate gate("Dockerfile", {}, kAllowed);
  EXPECT_EQ(gate.Feed(gz.data(), gz.size()).code(), absl::StatusCode::kFailedPrecondition);
}

}  // namespace
}  // namespace dkd::core
