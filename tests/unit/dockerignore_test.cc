// DockerIgnore: pattern matching like the engine, parse rules, the walk form,
// re-inclusion, and CleanPath against Go's path.Clean.
#include "core/context/dockerignore.h"

#include <string>
#include <vector>

#include "gmock/gmock.h"
#include "gtest/gtest.h"

namespace dkd::core {
namespace {

using ::testing::ElementsAre;
using ::testing::HasSubstr;

DockerIgnore MustParse(const std::string& text) {
  absl::StatusOr<DockerIgnore> ig = DockerIgnore::Parse(text);
  EXPECT_TRUE(ig.ok()) << ig.status() << " for:\n" << text;
  return ig.ok() ? *std::move(ig) : DockerIgnore();
}

struct MatchCase {
  std::string pattern;
  std::string path;
  bool excluded;
};

// Single-pattern expectations of the Engine's pattern matcher, including its
// odd corners: `**` needs no slash around it, a pattern ending in `**` is a
// plain prefix test, one starting with `**` a plain suffix test, and regular
// expression characters in names are literal.
TEST(DockerIgnoreTest, SinglePatternsMatchLikeTheEngine) {
  const MatchCase cases[] = {
      {"**", "file", true},
      {"**", "file/", true},
      {"**/", "file", true},
      {"**", "dir/file", true},
      {"**/**", "dir/file", true},
      {"dir/**", "dir/file", true},
      {"dir/**", "dir/dir2/file", true},
      {"**/dir", "dir", true},
      {"**/dir", "dir/file", true},  // a matched directory takes its contents
      {"**/dir2/*", "dir/dir2/file", true},
      {"**/dir2/**", "dir/dir2/dir3/file", true},
      {"**file", "file", true},
      {"**file", "dir/file", true},
      {"**file", "dir/dir/file", true},
      {"**file", "dir/myfile", true},  // plain suffix test
      {"**/file", "dir/dir/file", true},
      {"**/file*", "dir/dir/file.txt", true},
      {"**/file*txt", "dir/dir/file.txt", true},
      {"**/file*.txt*", "dir/dir/file.txt", true},
      {"**/**/*.txt", "dir/dir/file.txt", true},
      {"**/**/*.txt2", "dir/dir/file.txt", false},
      {"**/*.txt", "file.txt", true},
      {"**/**/*.txt", "file.txt", true},
      {"a**/*.txt", "a/file.txt", true},
      {"a**/*.txt", "a/dir/dir/file.txt", true},
      {"a**b", "ab", true},
      {"a**b", "ax/b", true},
      {"a**b", "axb", false},  // `**` inside a name must end on a `/`
      {"a/*.txt", "a/dir/file.txt", false},
      {"a/*.txt", "a/file.txt", true},
      {"a/*.txt**", "a/file.txt", true},
      {"a[b-d]e", "ae", false},
      {"a[b-d]e", "ace", true},
      {"a[b-d]e", "aae", false},
      {"a[^b-d]e", "aze", true},
      {"a[^b-d]e", "ace", false},
      {"a[xyz]e", "aye", true},
      {"a[\\]]e", "a]e", true},
      {"[é]", "é", true},  // classes and `?` work on characters, not bytes
      {"?", "é", true},
      {".*", ".foo", true},
      {".*", "foo", false},
      {"abc.def", "abcdef", false},
      {"abc.def", "abc.def", true},
      {"abc.def", "abcZdef", false},
      {"abc?def", "abcZdef", true},
      {"abc?def", "abcdef", false},
      {"abc?def", "abc/def", false},  // `?` is not `/`
      {"*", "a/b", true},             // through the parent `a`
      {"a/*", "a/b/c", true},
      {"*/b", "a/b", true},
      {"*/b", "b", false},
      {"a\\\\", "a\\", true},
      {"a\\*b", "a*b", true},
      {"a\\*b", "axb", false},
      {"\\[x\\]", "[x]", true},
      {"**/foo/bar", "foo/bar", true},
      {"**/foo/bar", "dir/dir2/foo/bar", true},
      {"abc/**", "abc", false},  // prefix `abc/` only
      {"abc/**", "abc/def/ghi", true},
      {"**/.foo", ".foo", true},
      {"**/.foo", "bar.foo", false},
      {"a(b)c/def", "a(b)c/def", true},
      {"a(b)c/def", "a(b)c/xyz", false},
      {"a.|)$(}+{bc", "a.|)$(}+{bc", true},
      {"dist/*.whl", "dist/proxy.py-2.4.0rc3.dev36+g08acad9-py3-none-any.whl", true},
      {"docs", "docs/README.md", true},
      {"docs/", "docs/README.md", true},  // cleaned to `docs`
      {"docs", "docsy", false},
      {"/docs", "docs", true},  // leading `/` stripped
      {"./docs/../src//x/", "src/x/y", true},
      {"*.go", ".", false},  // the context root is never excluded
  };
  for (const MatchCase& c : cases) {
    const DockerIgnore ig = MustParse(c.pattern);
    EXPECT_EQ(ig.Excluded(c.path), c.excluded) << "pattern=" << c.pattern << " path=" << c.path;
  }
}

struct MultiCase {
  std::string text;
  std::string path;
  bool excluded;
};

// The last matching pattern wins; an exception re-includes a path, even one
// inside an excluded directory, and a later pattern can exclude it again.
TEST(DockerIgnoreTest, LastMatchingPatternWins) {
  const MultiCase cases[] = {
      {"*.go\n!fileutils.go", "fileutils.go", false},
      {"!fileutils.go\n*.go", "fileutils.go", true},
      {"docs\n!docs/README.md", "docs/README.md", false},
      {"docs\n!docs/README.md", "docs/other.md", true},
      {"docs/\n!docs/README.md", "docs/README.md", false},
      {"docs/*\n!docs/README.md", "docs/README.md", false},
      {"**\n!util/docker/web", "util/docker/web/foo", false},
      {"**\n!util/docker/web\nutil/docker/web/foo", "util/docker/web/foo", true},
      {"**\n!dist/*.whl", "dist/proxy.py-2.4.0rc3.dev36+g08acad9-py3-none-any.whl", false},
      {"*\n!keep\n", "keep/sub/file", false},
      {"*\n!keep\n", "other", true},
      {"*.md\n!README*.md\nREADME-secret.md", "README-secret.md", true},
      {"*.md\n!README*.md\nREADME-secret.md", "README.md", false},
      {"a\n!a/b\na/b/c", "a/b/c/d", true},
      {"a\n!a/b\na/b/c", "a/b/x", false},
  };
  for (const MultiCase& c : cases) {
    const DockerIgnore ig = MustParse(c.text);
    EXPECT_EQ(ig.Excluded(c.path), c.excluded) << "rules=" << c.text << " path=" << c.path;
  }
}

// The CLI's reader: a BOM is dropped, `#` starts a comment only in column 0,
// whitespace is trimmed (also after `!`), blank lines go, patterns are
// cleaned and made relative, CRLF line ends are accepted.
TEST(DockerIgnoreTest, ParseAppliesTheReaderRules) {
  const DockerIgnore ig = MustParse(
      "\xEF\xBB\xBFtest1\n/test2\n/a/file/here\n\nlastfile\n# this is a comment\n"
      "! /inverted/abs/path\n  # not a comment\n\t spaced \t\r\n"
      "dir/./sub//x/../y/\n../up\n/\n");
  EXPECT_THAT(ig.Patterns(),
              ElementsAre("test1", "test2", "a/file/here", "lastfile", "!inverted/abs/path",
                          "# not a comment", "spaced", "dir/sub/y", "../up", "/"));
  EXPECT_TRUE(ig.HasExceptions());
  EXPECT_FALSE(MustParse("a\nb").HasExceptions());
  EXPECT_TRUE(MustParse("# only a comment\n\n   \n").empty());
  EXPECT_TRUE(ig.Excluded("# not a comment"));
  EXPECT_TRUE(ig.Excluded("spaced"));
  EXPECT_FALSE(ig.Excluded("test3"));
}

TEST(DockerIgnoreTest, ParseRejectsMalformedPatterns) {
  const std::string bad[] = {"!",   "! ",  "a\n!\n", "[",    "a[", "[]",
                             "[^]", "a\\", "[-a]",   "[a-]", "[a"};
  for (const std::string& text : bad) {
    absl::StatusOr<DockerIgnore> ig = DockerIgnore::Parse(text);
    EXPECT_EQ(ig.status().code(), absl::StatusCode::kInvalidArgument) << text;
  }
  EXPECT_THAT(DockerIgnore::Parse("ok\n[x").status().message(), HasSubstr("line 2"));
  EXPECT_THAT(DockerIgnore::Parse("!").status().message(), HasSubstr("illegal exclusion"));
}

TEST(DockerIgnoreTest, FromPatternsCleansLikeParse) {
  absl::StatusOr<DockerIgnore> ig = DockerIgnore::FromPatterns({" /a/b/ ", "", "! c/./d"});
  ASSERT_TRUE(ig.ok()) << ig.status();
  EXPECT_THAT(ig->Patterns(), ElementsAre("a/b", "!c/d"));
  EXPECT_FALSE(DockerIgnore::FromPatterns({"!"}).ok());
}

// A walk that carries each directory's results down must agree with the
// direct answer for every path.
TEST(DockerIgnoreTest, WalkFormAgreesWithDirectForm) {
  const std::string rule_sets[] = {
      "docs\n!docs/README.md",
      "**\n!util/docker/web\nutil/docker/web/foo",
      "*\n!keep",
      "a\n!a/b\na/b/c",
      "**/*.txt\n!b/**\nb/c/x.txt",
      "!a\na",
  };
  const std::vector<std::string> tree = {"a",
                                         "a/b",
                                         "a/b/c",
                                         "a/b/c/d",
                                         "a/x.txt",
                                         "b",
                                         "b/c",
                                         "b/c/x.txt",
                                         "b/y.txt",
                                         "docs",
                                         "docs/README.md",
                                         "docs/z",
                                         "keep",
                                         "keep/k",
                                         "util",
                                         "util/docker",
                                         "util/docker/web",
                                         "util/docker/web/foo",
                                         "util/docker/web/bar"};
  for (const std::string& rules : rule_sets) {
    const DockerIgnore ig = MustParse(rules);
    for (const std::string& path : tree) {
      // Replay the chain of ancestors, as a walker would.
      DockerIgnore::MatchState state;
      bool walked = false;
      for (size_t k = 0; k != std::string::npos;) {
        k = path.find('/', k + 1);
        walked = ig.ExcludedInWalk(path.substr(0, k), state, &state);
      }
      EXPECT_EQ(walked, ig.Excluded(path)) << "rules=" << rules << " path=" << path;
    }
  }
}

// An excluded directory must still be entered when an exception names
// something below it; only the literal text of exceptions counts.
TEST(DockerIgnoreTest, MustDescendOnlyForLiteralExceptionsBelow) {
  const DockerIgnore ig = MustParse("docs\nvendor\n!docs/README.md\n!*/keep\n!vendor");
  EXPECT_TRUE(ig.MustDescend("docs"));
  EXPECT_TRUE(ig.MustDescend("vendor"));
  EXPECT_FALSE(ig.MustDescend("doc"));
  EXPECT_FALSE(ig.MustDescend("src"));  // `!*/keep` is not expanded
  EXPECT_FALSE(MustParse("docs").MustDescend("docs"));
}

// The CLI appends `!Dockerfile` and `!.dockerignore` when they are excluded,
// so they still reach the Engine.
TEST(DockerIgnoreTest, KeepPathReincludesOnlyWhenExcluded) {
  DockerIgnore ig = MustParse("*\n");
  ig.KeepPath(".dockerignore");
  ig.KeepPath("build/Dockerfile");
  ig.KeepPath("odd[1].txt");
  EXPECT_THAT(ig.Patterns(),
              ElementsAre("*", "!.dockerignore", "!build/Dockerfile", "!odd\\[1\\].txt"));
  EXPECT_FALSE(ig.Excluded(".dockerignore"));
  EXPECT_FALSE(ig.Excluded("build/Dockerfile"));
  EXPECT_TRUE(ig.Excluded("build/other"));
  EXPECT_FALSE(ig.Excluded("odd[1].txt"));
  EXPECT_TRUE(ig.MustDescend("build"));

  DockerIgnore untouched = MustParse("*.md\n");
  untouched.KeepPath("Dockerfile");
  EXPECT_THAT(untouched.Patterns(), ElementsAre("*.md"));
}

TEST(CleanPathTest, MatchesGoPathClean) {
  const std::pair<std::string, std::string> cases[] = {
      {"", "."},
      {".", "."},
      {"a/", "a"},
      {"a//b", "a/b"},
      {"a/./b", "a/b"},
      {"a/../b", "b"},
      {"a/b/..", "a"},
      {"../a", "../a"},
      {"a/../..", ".."},
      {"/..", "/"},
      {"/a/../../b", "/b"},
      {"//a//", "/a"},
      {"./", "."},
      {"a/b/../../..", ".."},
      {"...", "..."},
      {"a/.b", "a/.b"},
  };
  for (const auto& [in, want] : cases) EXPECT_EQ(CleanPath(in), want) << in;
}

}  // namespace
}  // namespace dkd::core
