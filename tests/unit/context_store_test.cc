// ContextStore: walk order, implied directories, hard links, and BuildKit's
// file-sync filters (include, exclude with exceptions, follow paths through
// symlinks).
#include "core/context/context_store.h"

#include <gtest/gtest.h>

#include <cstring>
#include <string>
#include <vector>

#include "tests/support/string_source.h"
#include "tests/support/tar_craft.h"

namespace dkd::core {
namespace {

using namespace dkd::testing;  // NOLINT: test helpers

std::unique_ptr<ContextStore> Load(const std::string& tar) {
  auto store = LoadStore(tar, ::testing::TempDir());
  EXPECT_TRUE(store.ok()) << store.status();
  return store.ok() ? std::move(*store) : nullptr;
}

std::vector<std::string> Paths(const ContextStore& store, const std::vector<size_t>& picked) {
  std::vector<std::string> out;
  for (size_t i : picked) out.push_back(store.entries()[i].path);
  return out;
}

std::vector<std::string> Selected(const ContextStore& store, ContextFilter f) {
  auto picked = store.Select(f);
  EXPECT_TRUE(picked.ok()) << picked.status();
  return picked.ok() ? Paths(store, *picked) : std::vector<std::string>{};
}

std::string Content(const ContextStore& store, const std::string& path) {
  const ContextEntry* e = store.Find(path);
  if (e == nullptr) return "<missing>";
  std::string out(static_cast<size_t>(e->size), '\0');
  size_t got = 0;
  while (got < out.size()) {
    auto n = store.ReadAt(*e, static_cast<int64_t>(got), out.data() + got, out.size() - got);
    EXPECT_TRUE(n.ok());
    if (!n.ok() || *n == 0) break;
    got += *n;
  }
  return out;
}

TEST(ContextStoreTest, EntriesComeInBuildKitsWalkOrderWithImpliedParents) {
  // Out of order, with "a/b/c" implying "a" and "a/b", and "a-b" / "a.txt"
  // sorting after everything under "a" although '-' and '.' are below 'b'.
  auto store = Load(TarFile("a.txt", "1") + TarFile("a/b/c", "22") + TarFile("a-b", "3") +
                    TarDir("z") + TarFile("Dockerfile", "FROM x\n") + TarEnd());
  ASSERT_NE(store, nullptr);
  std::vector<std::string> paths;
  for (const ContextEntry& e : store->entries()) paths.push_back(e.path);
  EXPECT_EQ(paths,
            (std::vector<std::string>{"Dockerfile", "a", "a/b", "a/b/c", "a-b", "a.txt", "z"}));
  const ContextEntry* implied = store->Find("a/b");
  ASSERT_NE(implied, nullptr);
  EXPECT_EQ(implied->type, ContextEntry::Type::kDir);
  EXPECT_EQ(implied->mode, 0755u);
  EXPECT_EQ(GoFileMode(*implied), (1u << 31) | 0755u);
  EXPECT_EQ(Content(*store, "a/b/c"), "22");
  EXPECT_EQ(Content(*store, "a.txt"), "1");
  EXPECT_EQ(store->file_bytes(), 1u + 2u + 1u + 7u);
}

TEST(ContextStoreTest, AHardLinkBecomesAFileWithItsTargetsContent) {
  auto store = Load(TarFile("orig", "shared bytes") + TarHardlink("copy", "orig") + TarEnd());
  ASSERT_NE(store, nullptr);
  const ContextEntry* copy = store->Find("copy");
  ASSERT_NE(copy, nullptr);
  EXPECT_EQ(copy->type, ContextEntry::Type::kFile);
  EXPECT_EQ(Content(*store, "copy"), "shared bytes");
}

TEST(ContextStoreTest, SymlinksKeepTheirTargetAndGoModeBits) {
  auto store = Load(TarSymlink("link", "../outside") + TarEnd());
  ASSERT_NE(store, nullptr);
  const ContextEntry* link = store->Find("link");
  ASSERT_NE(link, nullptr);
  EXPECT_EQ(link->linkname, "../outside");
  EXPECT_EQ(GoFileMode(*link) & (1u << 27), 1u << 27);
}

TEST(ContextStoreTest, NoFilterSendsEverything) {
  auto store = Load(TarFile("a/x", "") + TarFile("b", "") + TarEnd());
  ASSERT_NE(store, nullptr);
  EXPECT_EQ(Selected(*store, {}), (std::vector<std::string>{"a", "a/x", "b"}));
}

TEST(ContextStoreTest, FollowPathsSendOnlyThoseFilesAndTheirParents) {
  // The Dockerfile frontend fetches its Dockerfile this way.
  auto store = Load(TarFile("Dockerfile", "FROM x\n") + TarFile("big/blob", "xxxx") +
                    TarFile("sub/Dockerfile", "FROM y\n") + TarEnd());
  ASSERT_NE(store, nullptr);
  ContextFilter f;
  f.follow_paths = {"sub/Dockerfile", "sub/Dockerfile.dockerignore"};
  EXPECT_EQ(Selected(*store, f), (std::vector<std::string>{"sub", "sub/Dockerfile"}));
  f.follow_paths = {".dockerignore"};
  EXPECT_TRUE(Selected(*store, f).empty());
}

TEST(ContextStoreTest, FollowPathsResolveSymlinksInsideTheContext) {
  auto store = Load(TarDir("real") + TarFile("real/f", "data") + TarSymlink("link", "real") +
                    TarSymlink("abs", "/real/f") + TarSymlink("up", "../../real") +
                    TarFile("other", "") + TarEnd());
  ASSERT_NE(store, nullptr);
  ContextFilter f;
  f.follow_paths = {"link/f"};
  EXPECT_EQ(Selected(*store, f), (std::vector<std::string>{"link", "real", "real/f"}));
  f.follow_paths = {"abs"};
  EXPECT_EQ(Selected(*store, f), (std::vector<std::string>{"abs", "real", "real/f"}));
  // ".." cannot climb out of the context: it stops at its root.
  f.follow_paths = {"up"};
  EXPECT_EQ(Selected(*store, f), (std::vector<std::string>{"real", "real/f", "up"}));
}

TEST(ContextStoreTest, AFollowPathLoopEnds) {
  auto store = Load(TarSymlink("a", "b") + TarSymlink("b", "a") + TarEnd());
  ASSERT_NE(store, nullptr);
  ContextFilter f;
  f.follow_paths = {"a/x"};
  EXPECT_EQ(Selected(*store, f), (std::vector<std::string>{"a", "b"}));
}

TEST(ContextStoreTest, WildcardFollowPathsAndIncludePatterns) {
  auto store = Load(TarFile("app/main.py", "") + TarFile("app/util.py", "") +
                    TarFile("app/notes.md", "") + TarFile("req.txt", "") + TarEnd());
  ASSERT_NE(store, nullptr);
  ContextFilter f;
  f.follow_paths = {"app/*.py"};
  EXPECT_EQ(Selected(*store, f), (std::vector<std::string>{"app", "app/main.py", "app/util.py"}));
  ContextFilter g;
  g.include_patterns = {"req.txt", "app"};
  EXPECT_EQ(Selected(*store, g), (std::vector<std::string>{"app", "app/main.py", "app/notes.md",
                                                           "app/util.py", "req.txt"}));
  // A follow path of the root sends everything.
  ContextFilter root;
  root.follow_paths = {"."};
  EXPECT_EQ(Selected(*store, root).size(), store->entries().size());
}

TEST(ContextStoreTest, ExcludePatternsWithExceptionsKeepTheExceptionsParents) {
  auto store = Load(TarFile("node_modules/a/index.js", "") + TarFile("node_modules/keep.js", "") +
                    TarFile("src/app.js", "") + TarFile("src/app.log", "") + TarEnd());
  ASSERT_NE(store, nullptr);
  ContextFilter f;
  f.exclude_patterns = {"node_modules", "!node_modules/keep.js", "**/*.log"};
  EXPECT_EQ(Selected(*store, f), (std::vector<std::string>{"node_modules", "node_modules/keep.js",
                                                           "src", "src/app.js"}));
}

TEST(ContextStoreTest, AMalformedPatternIsInvalidArgument) {
  auto store = Load(TarFile("a", "") + TarEnd());
  ASSERT_NE(store, nullptr);
  ContextFilter f;
  f.exclude_patterns = {"[unclosed"};
  EXPECT_EQ(store->Select(f).status().code(), absl::StatusCode::kInvalidArgument);
}

TEST(ContextStoreTest, ATruncatedTarAndAReadErrorAreErrors) {
  const std::string whole = TarFile("a", std::string(4096, 'x'));
  const std::string tar = whole.substr(0, whole.size() / 2);
  auto truncated = LoadStore(tar, ::testing::TempDir());
  EXPECT_EQ(truncated.status().code(), absl::StatusCode::kInvalidArgument) << truncated.status();
  auto failing = ContextStore::Load(
      [](char*, size_t) -> absl::StatusOr<size_t> {
        return absl::PermissionDeniedError("policy says no");
      },
      ::testing::TempDir());
  EXPECT_EQ(failing.status().code(), absl::StatusCode::kPermissionDenied);
  EXPECT_EQ(failing.status().message(), "policy says no");
}

TEST(ContextStoreTest, AMissingSpoolDirectoryIsNamed) {
  auto store = ContextStore::Load([](char*, size_t) -> absl::StatusOr<size_t> { return 0; },
                                  "/nonexistent/spool");
  EXPECT_EQ(store.status().code(), absl::StatusCode::kInternal);
  EXPECT_NE(store.status().message().find("/nonexistent/spool"), std::string::npos);
}

TEST(ContextStoreTest, WalkOrderPutsSlashFirst) {
  EXPECT_TRUE(WalkOrderLess("a/z", "a-b"));
  EXPECT_TRUE(WalkOrderLess("a", "a/b"));
  EXPECT_FALSE(WalkOrderLess("a.txt", "a/b"));
  EXPECT_TRUE(WalkOrderLess("A", "a"));
}

}  // namespace
}  // namespace dkd::core
