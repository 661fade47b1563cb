// Image references: parsing and normalisation, formatting, tags, digests and
// image ids.
#include "core/base/reference.h"

#include <string>
#include <vector>

#include "gmock/gmock.h"
#include "gtest/gtest.h"

namespace dkd::core {
namespace {

using ::testing::HasSubstr;

const std::string kSha256 = "sha256:" + std::string(64, 'a');

struct ValidCase {
  std::string input;
  std::string domain;
  std::string path;
  std::string tag;
  std::string digest;
  std::string familiar_name;
};

TEST(ParseImageReferenceTest, NormalisesValidReferences) {
  const ValidCase cases[] = {
      {"ubuntu", "docker.io", "library/ubuntu", "", "", "ubuntu"},
      {"ubuntu:22.04", "docker.io", "library/ubuntu", "22.04", "", "ubuntu"},
      {"docker.io/ubuntu", "docker.io", "library/ubuntu", "", "", "ubuntu"},
      {"index.docker.io/ubuntu", "docker.io", "library/ubuntu", "", "", "ubuntu"},
      {"docker.io/library/ubuntu:latest", "docker.io", "library/ubuntu", "latest", "", "ubuntu"},
      {"team/app:1", "docker.io", "team/app", "1", "", "team/app"},
      {"library/a/b", "docker.io", "library/a/b", "", "", "library/a/b"},
      {"localhost/app", "localhost", "app", "", "", "localhost/app"},
      {"localhost:5000/x", "localhost:5000", "x", "", "", "localhost:5000/x"},
      {"localhost:5000", "docker.io", "library/localhost", "5000", "", "localhost"},
      {"[::1]:5000/x:v1", "[::1]:5000", "x", "v1", "", "[::1]:5000/x"},
      {"[fe80::1]/x", "[fe80::1]", "x", "", "", "[fe80::1]/x"},
      {"127.0.0.1:5000/a/b/c", "127.0.0.1:5000", "a/b/c", "", "", "127.0.0.1:5000/a/b/c"},
      {"Registry.Example.com/app", "Registry.Example.com", "app", "", "",
       "Registry.Example.com/app"},
      {"MyHost/app", "MyHost", "app", "", "", "MyHost/app"},
      {"a-b.example/x--y/z__w.v_u", "a-b.example", "x--y/z__w.v_u", "", "",
       "a-b.example/x--y/z__w.v_u"},
      {"app@" + kSha256, "docker.io", "library/app", "", kSha256, "app"},
      {"app:1@" + kSha256, "docker.io", "library/app", "1", kSha256, "app"},
      {"app:_x", "docker.io", "library/app", "_x", "", "app"},
      {"app:" + std::string(128, 'T'), "docker.io", "library/app", std::string(128, 'T'), "",
       "app"},
      {"x/" + std::string(253, 'a'), "docker.io", "x/" + std::string(253, 'a'), "", "",
       "x/" + std::string(253, 'a')},
  };
  for (const ValidCase& c : cases) {
    auto ref = ParseImageReference(c.input);
    ASSERT_TRUE(ref.ok()) << c.input << ": " << ref.status();
    EXPECT_EQ(ref->domain, c.domain) << c.input;
    EXPECT_EQ(ref->path, c.path) << c.input;
    EXPECT_EQ(ref->tag, c.tag) << c.input;
    EXPECT_EQ(ref->digest, c.digest) << c.input;
    EXPECT_EQ(ref->FamiliarName(), c.familiar_name) << c.input;
  }
}

struct InvalidCase {
  std::string input;
  std::string rule;  // a substring the message must contain
};

TEST(ParseImageReferenceTest, RejectsInvalidReferencesNamingTheRule) {
  const InvalidCase cases[] = {
      {"", "must not be empty"},
      {"Ubuntu", "lowercase"},
      {"docker.io/Team/app", "lowercase"},
      {"app:", "invalid tag"},
      {"app:-x", "invalid tag"},
      {"app:.x", "invalid tag"},
      {"app:a/b", "domain"},
      {"app:" + std::string(129, 'a'), "invalid tag"},
      {"app:a$b", "invalid tag"},
      {"app@", "invalid digest"},
      {"app@sha256:abc", "invalid digest"},
      {"app@md5:" + std::string(32, 'a'), "invalid digest"},
      {"app@sha256:" + std::string(64, 'A'), "lowercase hex"},
      {"app@sha256:" + std::string(65, 'a'), "exactly 64"},
      {"/app", "component"},
      {"app/", "component"},
      {"a//b", "component"},
      {"-app", "component"},
      {"app-", "component"},
      {"a..b", "component"},
      {"a___b", "component"},
      {"a._b", "component"},
      {"a b", "component"},
      {"a\nfrom evil", "component"},
      {"exa_mple.com/x", "domain"},
      {"-bad.com/x", "domain"},
      {"host:port/x", "domain"},
      {"host:/x", "domain"},
      {"[::1/x", "domain"},
      {"[]:5000/x", "domain"},
      {"[::g]/x", "domain"},
      {"[::1]x/y", "domain"},
      {"localhost:5000/", "at least one component"},
      {"x/" + std::string(254, 'a'), "255"},
      {std::string(250, 'a'), "255"},  // library/ prefix makes the path 258 long
      {std::string(64, 'f'), "image id"},
      {"sha256:" + std::string(64, 'f'), "image id"},
      {std::string(2000, 'a'), "longer than"},
  };
  for (const InvalidCase& c : cases) {
    auto ref = ParseImageReference(c.input);
    ASSERT_FALSE(ref.ok()) << c.input << " parsed as " << ref->String();
    EXPECT_EQ(ref.status().code(), absl::StatusCode::kInvalidArgument) << c.input;
    EXPECT_THAT(std::string(ref.status().message()), HasSubstr(c.rule)) << c.input;
  }
}

TEST(ParseImageReferenceTest, EscapesControlCharactersInMessages) {
  auto ref = ParseImageReference("a\nb");
  ASSERT_FALSE(ref.ok());
  EXPECT_THAT(std::string(ref.status().message()), HasSubstr("a\\nb"));
  EXPECT_EQ(std::string(ref.status().message()).find('\n'), std::string::npos);
}

TEST(ImageReferenceTest, FormatsFullAndFamiliarStrings) {
  auto ref = ParseImageReference("ubuntu:22.04@" + kSha256);
  ASSERT_TRUE(ref.ok());
  EXPECT_EQ(ref->FullName(), "docker.io/library/ubuntu");
  EXPECT_EQ(ref->String(), "docker.io/library/ubuntu:22.04@" + kSha256);
  EXPECT_EQ(ref->FamiliarString(), "ubuntu:22.04@" + kSha256);

  auto local = ParseImageReference("localhost:5000/team/app:1");
  ASSERT_TRUE(local.ok());
  EXPECT_EQ(local->String(), "localhost:5000/team/app:1");
  EXPECT_EQ(local->FamiliarString(), "localhost:5000/team/app:1");
}

TEST(ImageReferenceTest, WithDefaultTagAddsLatestOnlyWhenUntaggedAndUndigested) {
  auto bare = ParseImageReference("app");
  ASSERT_TRUE(bare.ok());
  EXPECT_EQ(bare->WithDefaultTag().tag, "latest");
  EXPECT_EQ(bare->WithDefaultTag().FamiliarString(), "app:latest");
  EXPECT_EQ(bare->tag, "");  // the original is unchanged

  auto tagged = ParseImageReference("app:1");
  ASSERT_TRUE(tagged.ok());
  EXPECT_EQ(tagged->WithDefaultTag(), *tagged);

  auto digested = ParseImageReference("app@" + kSha256);
  ASSERT_TRUE(digested.ok());
  EXPECT_EQ(digested->WithDefaultTag().tag, "");
}

TEST(ImageReferenceTest, ParsingTheStringFormRoundTrips) {
  for (const char* input : {"ubuntu", "team/app:1", "localhost:5000/x", "[::1]:5000/a/b:v"}) {
    auto ref = ParseImageReference(input);
    ASSERT_TRUE(ref.ok()) << input;
    auto again = ParseImageReference(ref->String());
    ASSERT_TRUE(again.ok()) << ref->String();
    EXPECT_EQ(*again, *ref);
    auto familiar = ParseImageReference(ref->FamiliarString());
    ASSERT_TRUE(familiar.ok()) << ref->FamiliarString();
    EXPECT_EQ(*familiar, *ref);
  }
}

TEST(ValidateTagTest, AcceptsAndRejectsPerGrammar) {
  for (const std::string& tag :
       std::vector<std::string>{"latest", "1", "v1.2.3-rc_1", "_", "A" + std::string(127, '-')}) {
    EXPECT_TRUE(ValidateTag(tag).ok()) << tag;
  }
  for (const std::string& tag :
       std::vector<std::string>{"", ".", "-x", "a:b", "a b", "$(id)", std::string(129, 'a')}) {
    absl::Status s = ValidateTag(tag);
    EXPECT_EQ(s.code(), absl::StatusCode::kInvalidArgument) << tag;
    EXPECT_THAT(std::string(s.message()), HasSubstr("invalid tag")) << tag;
  }
}

TEST(ValidateDigestTest, RequiresKnownAlgorithmAndExactLowercaseHex) {
  EXPECT_TRUE(ValidateDigest(kSha256).ok());
  EXPECT_TRUE(ValidateDigest("sha384:" + std::string(96, '0')).ok());
  EXPECT_TRUE(ValidateDigest("sha512:" + std::string(128, 'f')).ok());
  for (const std::string& d : std::vector<std::string>{
           std::string(""), std::string("sha256"), std::string("sha256:"),
           "sha256:" + std::string(63, 'a'), "sha512:" + std::string(64, 'a'),
           "SHA256:" + std::string(64, 'a'), "sha256:" + std::string(63, 'a') + "g"}) {
    EXPECT_EQ(ValidateDigest(d).code(), absl::StatusCode::kInvalidArgument) << d;
  }
}

TEST(IsImageIdTest, RecognisesBareAndPrefixedIds) {
  EXPECT_TRUE(IsImageId(std::string(64, 'a')));
  EXPECT_TRUE(IsImageId("sha256:" + std::string(64, '0')));
  EXPECT_FALSE(IsImageId(std::string(63, 'a')));
  EXPECT_FALSE(IsImageId(std::string(64, 'A')));
  EXPECT_FALSE(IsImageId("sha512:" + std::string(64, 'a')));
  EXPECT_FALSE(IsImageId("ubuntu"));
}

}  // namespace
}  // namespace dkd::core
