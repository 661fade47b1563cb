// ContextPacker: the tar it writes, `.dockerignore` and external Dockerfiles,
// chunking, cancellation and unreadable files.
#include "core/context/context_tar.h"

#include <archive.h>
#include <archive_entry.h>
#include <fcntl.h>
#include <ftw.h>
#include <locale.h>
#include <stdlib.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <regex>
#include <string>
#include <vector>

#include "gmock/gmock.h"
#include "gtest/gtest.h"

namespace dkd::core {
namespace {

using ::testing::ElementsAre;
using ::testing::HasSubstr;

constexpr time_t kMtime = 1600000000;

// A directory under /tmp removed, with everything in it, at scope exit.
class TempTree {
 public:
  TempTree() {
    char tmpl[] = "/tmp/dkdctx.XXXXXX";
    const char* made = ::mkdtemp(tmpl);
    EXPECT_NE(made, nullptr);
    root_ = made != nullptr ? made : "";
  }
  ~TempTree() {
    if (!root_.empty()) {
      ::nftw(
          root_.c_str(),
          [](const char* p, const struct stat*, int, struct FTW*) { return ::remove(p); }, 16,
          FTW_DEPTH | FTW_PHYS);
    }
  }
  const std::string& root() const { return root_; }
  std::string Path(const std::string& rel) const { return root_ + "/" + rel; }

  void Dir(const std::string& rel, mode_t mode = 0755) const {
    ASSERT_EQ(::mkdir(Path(rel).c_str(), 0700), 0) << rel;
    ASSERT_EQ(::chmod(Path(rel).c_str(), mode), 0);
    Touch(rel);
  }
  void File(const std::string& rel, const std::string& content, mode_t mode = 0644) const {
    const int fd = ::open(Path(rel).c_str(), O_WRONLY | O_CREAT | O_TRUNC, 0600);
    ASSERT_GE(fd, 0) << rel;
    ASSERT_EQ(::write(fd, content.data(), content.size()), static_cast<ssize_t>(content.size()));
    ::close(fd);
    ASSERT_EQ(::chmod(Path(rel).c_str(), mode), 0);
    Touch(rel);
  }
  void Link(const std::string& rel, const std::string& target) const {
    ASSERT_EQ(::symlink(target.c_str(), Path(rel).c_str()), 0) << rel;
    Touch(rel);
  }
  void Touch(const std::string& rel) const {
    const struct timespec times[2] = {{kMtime, 0}, {kMtime, 123456789}};
    ASSERT_EQ(::utimensat(AT_FDCWD, Path(rel).c_str(), times, AT_SYMLINK_NOFOLLOW), 0);
  }

 private:
  std::string root_;
};

struct Member {
  std::string name;
  mode_t type = 0;
  mode_t perm = 0;
  int64_t uid = -1, gid = -1;
  time_t mtime = 0;
  std::string symlink, hardlink, content;
};

// Reads a tar back with libarchive, under a UTF-8 locale for this thread so
// that UTF-8 pax names convert cleanly.
std::vector<Member> ReadTar(const std::string& tar) {
  std::vector<Member> out;
  const locale_t utf8 = ::newlocale(LC_CTYPE_MASK, "C.UTF-8", nullptr);
  EXPECT_NE(utf8, nullptr);
  const locale_t previous = ::uselocale(utf8);
  archive* a = archive_read_new();
  archive_read_support_format_tar(a);
  EXPECT_EQ(archive_read_open_memory(a, tar.data(), tar.size()), ARCHIVE_OK);
  archive_entry* e = nullptr;
  int r;
  while ((r = archive_read_next_header(a, &e)) == ARCHIVE_OK) {
    Member m;
    m.name = archive_entry_pathname(e);
    m.type = archive_entry_filetype(e);
    m.perm = archive_entry_perm(e);
    m.uid = archive_entry_uid(e);
    m.gid = archive_entry_gid(e);
    m.mtime = archive_entry_mtime(e);
    if (archive_entry_symlink(e) != nullptr) m.symlink = archive_entry_symlink(e);
    if (archive_entry_hardlink(e) != nullptr) m.hardlink = archive_entry_hardlink(e);
    char buf[4096];
    la_ssize_t n;
    while ((n = archive_read_data(a, buf, sizeof buf)) > 0) m.content.append(buf, n);
    out.push_back(std::move(m));
  }
  EXPECT_EQ(r, ARCHIVE_EOF) << archive_error_string(a);
  archive_read_free(a);
  ::uselocale(previous);
  ::freelocale(utf8);
  return out;
}

std::vector<std::string> Names(const std::vector<Member>& members) {
  std::vector<std::string> names;
  for (const Member& m : members) names.push_back(m.name);
  return names;
}

const Member* Find(const std::vector<Member>& members, const std::string& name) {
  for (const Member& m : members) {
    if (m.name == name) return &m;
  }
  return nullptr;
}

// Packs `root` into a string, recording the size of every chunk.
absl::StatusOr<ContextStats> PackTo(const ContextPacker& packer, std::string* tar,
                                    std::vector<size_t>* chunks = nullptr) {
  return packer.Pack([tar, chunks](const char* data, size_t len) {
    tar->append(data, len);
    if (chunks != nullptr) chunks->push_back(len);
    return true;
  });
}

std::vector<Member> PackAndRead(const std::string& root, ContextPackOptions options = {}) {
  absl::StatusOr<ContextPacker> packer = ContextPacker::Create(root, std::move(options));
  EXPECT_TRUE(packer.ok()) << packer.status();
  if (!packer.ok()) return {};
  std::string tar;
  absl::StatusOr<ContextStats> stats = PackTo(*packer, &tar);
  EXPECT_TRUE(stats.ok()) << stats.status();
  return ReadTar(tar);
}

TEST(ContextPackerTest, WritesSortedTreeWithModesTimesAndLinks) {
  TempTree t;
  t.File("Dockerfile", "FROM scratch\n");
  t.Dir("a", 0750);
  t.File("a/b.txt", "bee", 0640);
  t.File("a-c", "", 0600);
  t.File("exec.sh", "#!/bin/sh\n", 04755);
  t.Link("link", "a/b.txt");
  t.Link("dangling", "../nowhere");
  t.Dir("z");
  t.Dir("z/empty", 0700);
  t.Touch("a");
  t.Touch("z");

  const std::vector<Member> m = PackAndRead(t.root());
  // Depth first, each directory in byte order, as the Engine's walk does.
  ASSERT_THAT(Names(m), ElementsAre("Dockerfile", "a/", "a/b.txt", "a-c", "dangling", "exec.sh",
                                    "link", "z/", "z/empty/"));
  for (const Member& x : m) {
    EXPECT_EQ(x.uid, 0) << x.name;
    EXPECT_EQ(x.gid, 0) << x.name;
    EXPECT_EQ(x.mtime, kMtime) << x.name;
  }
  EXPECT_EQ(m[1].type, AE_IFDIR);
  EXPECT_EQ(m[1].perm, 0750);
  EXPECT_EQ(m[2].type, AE_IFREG);
  EXPECT_EQ(m[2].perm, 0640);
  EXPECT_EQ(m[2].content, "bee");
  EXPECT_EQ(m[3].content, "");
  EXPECT_EQ(m[4].type, AE_IFLNK);
  EXPECT_EQ(m[4].symlink, "../nowhere");  // stored as is, never followed
  EXPECT_EQ(m[5].perm, 04755);
  EXPECT_EQ(m[6].symlink, "a/b.txt");
  EXPECT_EQ(m[8].perm, 0700);
}

TEST(ContextPackerTest, HonoursDockerignoreWithExceptions) {
  TempTree t;
  t.File(".dockerignore",
         "# build junk\n*.log\nsecret\n!secret/keep.txt\nnode_modules\n"
         "Dockerfile\n.dockerignore\n**/*.tmp\n");
  t.File("Dockerfile", "FROM scratch\n");
  t.File("app.log", "x");
  t.File("main.c", "int main;");
  t.Dir("secret");
  t.File("secret/keep.txt", "kept");
  t.File("secret/key.pem", "nope");
  t.Dir("node_modules");
  t.File("node_modules/huge.js", "x");
  t.Dir("src");
  t.File("src/a.tmp", "x");
  t.File("src/a.c", "x");

  ContextPackOptions options;
  // An excluded directory with no exception below it is never even opened.
  options.open_file = [](const std::string& path) {
    if (path.find("node_modules") != std::string::npos) {
      errno = EACCES;
      return -1;
    }
    return ::open(path.c_str(), O_RDONLY | O_CLOEXEC);
  };
  const std::vector<Member> m = PackAndRead(t.root(), options);
  // The Dockerfile and .dockerignore are sent although excluded; the
  // exception re-includes one file of an excluded directory, but not the
  // directory entry itself.
  ASSERT_THAT(Names(m), ElementsAre(".dockerignore", "Dockerfile", "main.c", "secret/keep.txt",
                                    "src/", "src/a.c"));
  EXPECT_EQ(Find(m, "secret/keep.txt")->content, "kept");
}

TEST(ContextPackerTest, KeepsDockerfileInsideAnExcludedDirectory) {
  TempTree t;
  t.File(".dockerignore", "build\n");
  t.Dir("build");
  t.File("build/Dockerfile", "FROM scratch\n");
  t.File("build/other", "x");
  ContextPackOptions options;
  options.dockerfile = "build/Dockerfile";
  absl::StatusOr<ContextPacker> packer = ContextPacker::Create(t.root(), options);
  ASSERT_TRUE(packer.ok()) << packer.status();
  EXPECT_EQ(packer->dockerfile_name(), "build/Dockerfile");
  std::string tar;
  ASSERT_TRUE(PackTo(*packer, &tar).ok());
  EXPECT_THAT(Names(ReadTar(tar)), ElementsAre(".dockerignore", "build/Dockerfile"));
}

TEST(ContextPackerTest, AddsExternalDockerfileAndNamesItInDockerignore) {
  TempTree t;
  t.File(".dockerignore", "Dockerfile\n*.md", 0640);
  t.File("Dockerfile", "FROM in-context\n");
  t.File("app", "x");
  absl::StatusOr<ContextPacker> packer = ContextPacker::Create(t.root());
  ASSERT_TRUE(packer.ok()) << packer.status();
  const std::string name = packer->AddExternalDockerfile("FROM outside\n");
  EXPECT_TRUE(std::regex_match(name, std::regex(R"(\.dockerfile\.[0-9a-f]{20})"))) << name;
  EXPECT_EQ(packer->dockerfile_name(), name);

  std::string tar;
  absl::StatusOr<ContextStats> stats = PackTo(*packer, &tar);
  ASSERT_TRUE(stats.ok()) << stats.status();
  const std::vector<Member> m = ReadTar(tar);
  // The in-context Dockerfile is no longer kept, so the ignore rule holds.
  ASSERT_THAT(Names(m), ElementsAre(".dockerignore", "app", name));
  EXPECT_EQ(m[0].content, "Dockerfile\n*.md\n" + name + "\n");
  EXPECT_EQ(m[0].perm, 0640);
  EXPECT_EQ(m[2].content, "FROM outside\n");
  EXPECT_EQ(m[2].perm, 0600);
  EXPECT_EQ(m[2].uid, 0);
  EXPECT_EQ(stats->files, 3u);
}

TEST(ContextPackerTest, ExternalDockerfileWithoutDockerignoreAddsOne) {
  TempTree t;
  t.File("app", "x");
  absl::StatusOr<ContextPacker> packer = ContextPacker::Create(t.root());
  ASSERT_TRUE(packer.ok()) << packer.status();
  const std::string name = packer->AddExternalDockerfile("FROM outside\n");
  std::string tar;
  ASSERT_TRUE(PackTo(*packer, &tar).ok());
  const std::vector<Member> m = ReadTar(tar);
  ASSERT_THAT(Names(m), ElementsAre("app", name, ".dockerignore"));
  EXPECT_EQ(m[2].content, ".dockerignore\n" + name + "\n");
}

TEST(ContextPackerTest, BoundsChunksAndReportsProgress) {
  TempTree t;
  std::string big(300 * 1024 + 7, '\0');
  for (size_t i = 0; i < big.size(); ++i) big[i] = static_cast<char>(i * 31 + 7);
  t.File("big.bin", big);
  t.File("small", "s");
  ContextPackOptions options;
  options.chunk_size = 4096;
  absl::StatusOr<ContextPacker> packer = ContextPacker::Create(t.root(), options);
  ASSERT_TRUE(packer.ok()) << packer.status();

  std::string tar;
  std::vector<size_t> chunks;
  std::vector<ContextStats> reports;
  absl::StatusOr<ContextStats> stats = packer->Pack(
      [&](const char* data, size_t len) {
        tar.append(data, len);
        chunks.push_back(len);
        return true;
      },
      [&](const ContextStats& s) { reports.push_back(s); });
  ASSERT_TRUE(stats.ok()) << stats.status();
  ASSERT_GT(chunks.size(), 70u);
  for (size_t len : chunks) EXPECT_LE(len, 4096u);
  EXPECT_EQ(stats->tar_bytes, tar.size());
  EXPECT_EQ(stats->files, 2u);
  EXPECT_EQ(stats->entries, 2u);
  EXPECT_EQ(stats->file_bytes, big.size() + 1);
  ASSERT_EQ(reports.size(), chunks.size() + 1);
  for (size_t i = 1; i < reports.size(); ++i) {
    EXPECT_GE(reports[i].tar_bytes, reports[i - 1].tar_bytes);
  }
  EXPECT_EQ(reports.back().tar_bytes, tar.size());
  const std::vector<Member> m = ReadTar(tar);
  ASSERT_THAT(Names(m), ElementsAre("big.bin", "small"));
  EXPECT_TRUE(m[0].content == big);

  // The same tree gives the same bytes every time.
  std::string again;
  ASSERT_TRUE(PackTo(*packer, &again).ok());
  EXPECT_TRUE(again == tar);
}

// A sink that refuses more data cancels the pack at once, which also shows
// the stream is produced as it goes: a 1 GiB file costs three chunks.
TEST(ContextPackerTest, SinkReturningFalseCancels) {
  TempTree t;
  t.File("huge", "");
  ASSERT_EQ(::truncate(t.Path("huge").c_str(), 1LL << 30), 0);
  absl::StatusOr<ContextPacker> packer = ContextPacker::Create(t.root());
  ASSERT_TRUE(packer.ok()) << packer.status();
  int calls = 0;
  absl::StatusOr<ContextStats> stats = packer->Pack([&calls](const char*, size_t len) {
    EXPECT_LE(len, 64u * 1024);
    return ++calls < 3;
  });
  EXPECT_EQ(stats.status().code(), absl::StatusCode::kCancelled) << stats.status();
  EXPECT_EQ(calls, 3);
}

TEST(ContextPackerTest, UnreadableFileFailsBeforeSendingAndNamesIt) {
  TempTree t;
  t.File("Dockerfile", "FROM scratch\n");
  t.File("secret.txt", "x");
  ContextPackOptions options;
  options.open_file = [](const std::string& path) {
    if (path.find("secret.txt") != std::string::npos) {
      errno = EACCES;
      return -1;
    }
    return ::open(path.c_str(), O_RDONLY | O_CLOEXEC);
  };
  for (bool check_first : {true, false}) {
    options.check_readable_first = check_first;
    absl::StatusOr<ContextPacker> packer = ContextPacker::Create(t.root(), options);
    ASSERT_TRUE(packer.ok()) << packer.status();
    std::string tar;
    absl::StatusOr<ContextStats> stats = PackTo(*packer, &tar);
    EXPECT_EQ(stats.status().code(), absl::StatusCode::kPermissionDenied);
    EXPECT_THAT(stats.status().message(), HasSubstr(t.Path("secret.txt")));
    if (check_first) {
      EXPECT_TRUE(tar.empty());
    }
  }
}

TEST(ContextPackerTest, UnreadableFileOnDiskIsReported) {
  if (::geteuid() == 0) GTEST_SKIP() << "root reads files whatever their mode";
  TempTree t;
  t.File("locked", "x", 0000);
  absl::StatusOr<ContextPacker> packer = ContextPacker::Create(t.root());
  ASSERT_TRUE(packer.ok()) << packer.status();
  std::string tar;
  absl::StatusOr<ContextStats> stats = PackTo(*packer, &tar);
  EXPECT_EQ(stats.status().code(), absl::StatusCode::kPermissionDenied);
  EXPECT_THAT(stats.status().message(), HasSubstr(t.Path("locked")));
}

TEST(ContextPackerTest, SkipsFifosAndSockets) {
  TempTree t;
  t.File("keep", "k");
  ASSERT_EQ(::mkfifo(t.Path("fifo").c_str(), 0644), 0);
  const int sock = ::socket(AF_UNIX, SOCK_STREAM, 0);
  ASSERT_GE(sock, 0);
  struct sockaddr_un addr = {};
  addr.sun_family = AF_UNIX;
  std::strncpy(addr.sun_path, t.Path("sock").c_str(), sizeof addr.sun_path - 1);
  ASSERT_EQ(::bind(sock, reinterpret_cast<sockaddr*>(&addr), sizeof addr), 0);
  EXPECT_THAT(Names(PackAndRead(t.root())), ElementsAre("keep"));
  ::close(sock);
}

TEST(ContextPackerTest, StoresSecondHardLinkAsLink) {
  TempTree t;
  t.File("a", "shared");
  ASSERT_EQ(::link(t.Path("a").c_str(), t.Path("b").c_str()), 0);
  const std::vector<Member> m = PackAndRead(t.root());
  ASSERT_THAT(Names(m), ElementsAre("a", "b"));
  EXPECT_EQ(m[0].content, "shared");
  EXPECT_EQ(m[1].hardlink, "a");
}

TEST(ContextPackerTest, KeepsLongAndNonAsciiNames) {
  TempTree t;
  const std::string long_name(180, 'n');
  t.Dir("\xC3\xBC");  // "ü"
  t.File("\xC3\xBC/" + long_name, "deep");
  t.File("raw\xFF", "bytes");  // not UTF-8: sent byte for byte
  const std::vector<Member> m = PackAndRead(t.root());
  ASSERT_THAT(Names(m), ElementsAre("raw\xFF", "\xC3\xBC/", "\xC3\xBC/" + long_name));
  EXPECT_EQ(m[2].content, "deep");
}

TEST(ContextPackerTest, CreateRejectsBadContexts) {
  TempTree t;
  t.File("file", "x");
  EXPECT_EQ(ContextPacker::Create(t.Path("missing")).status().code(),
            absl::StatusCode::kInvalidArgument);
  EXPECT_EQ(ContextPacker::Create(t.Path("file")).status().code(),
            absl::StatusCode::kInvalidArgument);
  t.File(".dockerignore", "ok\n[broken\n");
  absl::Status s = ContextPacker::Create(t.root()).status();
  EXPECT_EQ(s.code(), absl::StatusCode::kInvalidArgument);
  EXPECT_THAT(s.message(), HasSubstr("line 2"));
}

// A directory swapped for a symbolic link while the walk runs (by a
// container writing the context through a bind, say) must not lead the walk
// outside the context: the packer may run as root for a caller who cannot
// read what lies outside.
TEST(ContextPackerTest, DirectorySwappedForASymlinkMidWalkIsNotFollowed) {
  TempTree outside;
  outside.File("secret", "HOST-ONLY-SECRET");
  TempTree t;
  t.File("Dockerfile", "FROM scratch\n");
  t.Dir("sub");
  t.File("sub/secret", "inside");
  ContextPackOptions options;
  options.chunk_size = 512;
  options.check_readable_first = false;
  absl::StatusOr<ContextPacker> packer = ContextPacker::Create(t.root(), options);
  ASSERT_TRUE(packer.ok()) << packer.status();
  std::string tar;
  bool swapped = false;
  absl::StatusOr<ContextStats> stats = packer->Pack([&](const char* data, size_t len) {
    tar.append(data, len);
    // Once "sub/" has been sent (its lstat said directory), swap it.
    if (!swapped && tar.find("sub/") != std::string::npos) {
      swapped = true;
      EXPECT_EQ(::rename(t.Path("sub").c_str(), t.Path("sub.real").c_str()), 0);
      EXPECT_EQ(::symlink(outside.root().c_str(), t.Path("sub").c_str()), 0);
    }
    return true;
  });
  ASSERT_TRUE(swapped);
  EXPECT_EQ(tar.find("HOST-ONLY-SECRET"), std::string::npos) << "the walk followed the link";
  EXPECT_EQ(stats.status().code(), absl::StatusCode::kAborted) << stats.status();
}

TEST(ContextPackerTest, DockerignoreThatIsASymlinkIsRefusedWithoutReadingIt) {
  TempTree outside;
  outside.File("shadow", "root:$6$SECRETHASH[abc:19000:0:99999:7:::\n");
  TempTree t;
  t.File("Dockerfile", "FROM scratch\n");
  t.Link(".dockerignore", outside.Path("shadow"));
  absl::StatusOr<ContextPacker> packer = ContextPacker::Create(t.root());
  EXPECT_EQ(packer.status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_THAT(std::string(packer.status().message()), HasSubstr("symbolic link"));
  EXPECT_THAT(std::string(packer.status().message()), ::testing::Not(HasSubstr("SECRETHASH")));
}

}  // namespace
}  // namespace dkd::core
