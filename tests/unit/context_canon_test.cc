// CanonicalContext: well-formed contexts rewritten entry for entry, and
// ambiguous or hostile tar entries refused.
#include "core/context/context_canon.h"

#include <gtest/gtest.h>
#include <sys/resource.h>

#include <map>
#include <string>
#include <vector>

#include "absl/strings/numbers.h"
#include "tests/support/tar_craft.h"

namespace dkd::core {
namespace {

using namespace dkd::testing;  // NOLINT: test helpers

struct Entry {
  char type = 0;
  std::string link;
  std::string data;
};

// Reads a canonical tar strictly: plain ustar headers, pax records limited
// to path/linkpath/size, nothing else. Fails the test on anything more.
std::map<std::string, Entry> ReadCanonical(const std::string& tar, bool* complete) {
  std::map<std::string, Entry> out;
  *complete = false;
  size_t off = 0;
  std::string pax_path, pax_link;
  while (off + 512 <= tar.size()) {
    const char* h = tar.data() + off;
    if (std::string(h, 512) == std::string(512, '\0')) {
      *complete = off + 1024 <= tar.size() &&
                  tar.compare(off, 1024, std::string(1024, '\0')) == 0 && off + 1024 == tar.size();
      break;
    }
    EXPECT_EQ(std::string(h + 257, 8), std::string("ustar\0"
                                                   "00",
                                                   8))
        << "not plain ustar";
    uint64_t size = 0;
    for (int i = 124; i < 136 && h[i] >= '0' && h[i] <= '7'; ++i) size = size * 8 + (h[i] - '0');
    const std::string data = tar.substr(off + 512, size);
    off += 512 + ((size + 511) / 512) * 512;
    if (h[156] == 'x') {
      size_t p = 0;
      while (p < data.size()) {
        const size_t sp = data.find(' ', p);
        size_t len = 0;
        EXPECT_TRUE(absl::SimpleAtoi(data.substr(p, sp - p), &len));
        const std::string rec = data.substr(sp + 1, len - (sp - p) - 2);
        const std::string key = rec.substr(0, rec.find('='));
        EXPECT_TRUE(key == "path" || key == "linkpath" || key == "size" || key == "hdrcharset")
            << "pax record " << key;
        if (key == "path") pax_path = rec.substr(5);
        if (key == "linkpath") pax_link = rec.substr(9);
        p += len;
      }
      continue;
    }
    EXPECT_EQ(std::string(h + 265, 64), std::string(64, '\0')) << "owner names written";
    std::string name = std::string(h + 345, strnlen(h + 345, 155));
    if (!name.empty()) name += "/";
    name += std::string(h, strnlen(h, 100));
    if (!pax_path.empty()) name = std::exchange(pax_path, "");
    Entry e;
    e.type = h[156];
    e.link = pax_link.empty() ? std::string(h + 157, strnlen(h + 157, 100))
                              : std::exchange(pax_link, "");
    e.data = data;
    EXPECT_EQ(out.count(name), 0u) << "duplicate " << name;
    out[name] = e;
  }
  return out;
}

struct Result {
  absl::Status status;
  std::string out;
  std::string checked_path, checked_text;
  int checks = 0;
};

Result Canon(const std::string& input, CanonicalContextOptions opts = {},
             absl::Status verdict = absl::OkStatus(), size_t chunk = 700) {
  Result r;
  size_t off = 0;
  CanonicalContext canon(
      [&](char* buf, size_t n) -> absl::StatusOr<size_t> {
        const size_t take = std::min({n, chunk, input.size() - off});
        std::copy_n(input.data() + off, take, buf);
        off += take;
        return take;
      },
      opts,
      [&](const std::string& path, const std::string& text) {
        ++r.checks;
        r.checked_path = path;
        r.checked_text = text;
        return verdict;
      });
  char buf[1000];
  while (true) {
    auto got = canon.Read(buf, sizeof(buf));
    if (!got.ok()) {
      r.status = got.status();
      break;
    }
    if (*got == 0) break;
    r.out.append(buf, *got);
  }
  return r;
}

bool Contains(const absl::Status& s, const std::string& text) {
  return std::string(s.message()).find(text) != std::string::npos;
}

TEST(CanonicalContextTest, RewritesAWellFormedContextEntryForEntry) {
  const std::string in = TarDir("src/") + TarFile("src/a.txt", "aaa") +
                         TarFile("Dockerfile", "FROM x\n") + TarSymlink("ln", "src/a.txt") +
                         TarHardlink("hl", "src/a.txt") + TarEnd();
  Result r = Canon(in);
  ASSERT_TRUE(r.status.ok()) << r.status;
  EXPECT_EQ(r.checks, 1);
  EXPECT_EQ(r.checked_path, "Dockerfile");
  EXPECT_EQ(r.checked_text, "FROM x\n");
  bool complete = false;
  auto entries = ReadCanonical(r.out, &complete);
  EXPECT_TRUE(complete);
  ASSERT_EQ(entries.size(), 5u);
  EXPECT_EQ(entries["src/a.txt"].data, "aaa");
  EXPECT_EQ(entries["src/"].type, '5');
  EXPECT_EQ(entries["ln"].type, '2');
  EXPECT_EQ(entries["ln"].link, "src/a.txt");
  EXPECT_EQ(entries["hl"].type, '1');
  EXPECT_EQ(entries["Dockerfile"].data, "FROM x\n");
}

TEST(CanonicalContextTest, NormalizesPaths) {
  const std::string in = TarFile("./Dockerfile", "FROM x\n") + TarFile("/abs", "1") +
                         TarFile("a//b", "2") + TarDir("./d/") + TarEnd();
  Result r = Canon(in);
  ASSERT_TRUE(r.status.ok()) << r.status;
  bool complete = false;
  auto entries = ReadCanonical(r.out, &complete);
  EXPECT_TRUE(entries.count("Dockerfile"));
  EXPECT_TRUE(entries.count("abs"));
  EXPECT_TRUE(entries.count("a/b"));
  EXPECT_TRUE(entries.count("d/"));
}

TEST(CanonicalContextTest, RefusesTwoEntriesForOnePathNamingIt) {
  // The old gate decided on the first Dockerfile; the engine used the last.
  for (const std::string& second : {std::string("Dockerfile"), std::string("./Dockerfile"),
                                    std::string("/Dockerfile"), std::string(".//Dockerfile")}) {
    const std::string in =
        TarFile("Dockerfile", "FROM allowed/x\n") + TarFile(second, "FROM evil/x\n") + TarEnd();
    Result r = Canon(in);
    EXPECT_EQ(r.status.code(), absl::StatusCode::kInvalidArgument) << second;
    EXPECT_TRUE(Contains(r.status, "\"Dockerfile\"")) << r.status;
    EXPECT_TRUE(Contains(r.status, "more than once")) << r.status;
  }
}

TEST(CanonicalContextTest, ChecksTheDockerfileTheOutputCarriesWhateverThePaxRecordsSay) {
  // Two path records: dkd and the engine could read different names. Now
  // the engine reads dkd's output, which has one unambiguous name.
  const std::string in = TarPax({{"path", "Dockerfile"}, {"path", "other"}}) +
                         TarFile("ignored", "FROM evil/x\n") +
                         TarFile("Dockerfile.real", "FROM ok/x\n") + TarEnd();
  CanonicalContextOptions opts;
  Result r = Canon(in, opts);
  bool complete = false;
  auto entries = ReadCanonical(r.out, &complete);
  if (r.status.ok()) {
    ASSERT_TRUE(entries.count("Dockerfile")) << "checked a Dockerfile the output lacks";
    EXPECT_EQ(entries["Dockerfile"].data, r.checked_text);
  } else {
    EXPECT_FALSE(complete);
  }
  // Same trick on the Dockerfile's own name, followed by a plain Dockerfile:
  // one of the two must be refused as a duplicate or the check sees the one
  // the output holds.
  const std::string in2 = TarPax({{"path", "other"}, {"path", "Dockerfile"}}) +
                          TarFile("x", "FROM ok/x\n") + TarFile("Dockerfile", "FROM evil/x\n") +
                          TarEnd();
  Result r2 = Canon(in2);
  EXPECT_EQ(r2.status.code(), absl::StatusCode::kInvalidArgument) << r2.status;
  EXPECT_TRUE(Contains(r2.status, "more than once")) << r2.status;
}

TEST(CanonicalContextTest, GnuPrefixBytesDoNotChangeWhatIsChecked) {
  // GNU headers use the ustar prefix field for other data: a reader that
  // joins it would see "evil/Dockerfile", one that does not sees
  // "Dockerfile". The output states one name in plain ustar.
  TarHeader h = Hdr("Dockerfile", '0');
  h.gnu = true;
  h.prefix = "evil";
  const std::string df = "FROM ok/x\n";
  const std::string in = TarEntry(h, df) + TarEnd();
  Result r = Canon(in, {}, absl::OkStatus());
  bool complete = false;
  auto entries = ReadCanonical(r.out, &complete);
  if (r.status.ok()) {
    ASSERT_TRUE(entries.count(r.checked_path));
    EXPECT_EQ(entries[r.checked_path].data, r.checked_text);
    EXPECT_EQ(entries.size(), 1u);
  } else {
    EXPECT_EQ(r.status.code(), absl::StatusCode::kInvalidArgument);
  }
}

TEST(CanonicalContextTest, RefusesADockerfileThatIsNotARegularFile) {
  const std::vector<std::string> inputs = {
      TarFile("real", "FROM evil/x\n") + TarSymlink("Dockerfile", "real") + TarEnd(),
      TarFile("real", "FROM evil/x\n") + TarHardlink("Dockerfile", "real") + TarEnd(),
      TarDir("Dockerfile/") + TarEnd(),
  };
  for (const auto& in : inputs) {
    Result r = Canon(in);
    EXPECT_EQ(r.status.code(), absl::StatusCode::kInvalidArgument) << r.status;
    EXPECT_TRUE(Contains(r.status, "regular file")) << r.status;
    EXPECT_EQ(r.checks, 0);
  }
}

TEST(CanonicalContextTest, RefusesEntriesUnderASymlinkOrFile) {
  CanonicalContextOptions opts;
  opts.dockerfile = "sub/Dockerfile";
  // A symlinked parent of the Dockerfile.
  Result r =
      Canon(TarSymlink("sub", "/etc") + TarFile("sub/Dockerfile", "FROM x\n") + TarEnd(), opts);
  EXPECT_EQ(r.status.code(), absl::StatusCode::kInvalidArgument);
  EXPECT_TRUE(Contains(r.status, "not a directory")) << r.status;
  // Any entry under a file.
  r = Canon(TarFile("Dockerfile", "FROM x\n") + TarFile("f", "1") + TarFile("f/g", "2") + TarEnd());
  EXPECT_EQ(r.status.code(), absl::StatusCode::kInvalidArgument);
}

TEST(CanonicalContextTest, RefusesASymlinkOverADirectoryOnlyImpliedEarlier) {
  CanonicalContextOptions opts;
  opts.dockerfile = "sub/Dockerfile";
  Result r = Canon(
      TarFile("sub/Dockerfile", "FROM x\n") + TarSymlink("sub", "/elsewhere") + TarEnd(), opts);
  EXPECT_EQ(r.status.code(), absl::StatusCode::kInvalidArgument) << r.status;
  EXPECT_TRUE(Contains(r.status, "\"sub\"")) << r.status;
  // A directory entry after its children is fine.
  r = Canon(TarFile("sub/Dockerfile", "FROM x\n") + TarDir("sub/") + TarEnd(), opts);
  EXPECT_TRUE(r.status.ok()) << r.status;
}

TEST(CanonicalContextTest, RefusesDevicesFifosAndDotDot) {
  for (char type : {'3', '4', '6'}) {
    Result r = Canon(TarFile("Dockerfile", "FROM x\n") + TarEntry(Hdr("dev", type)) + TarEnd());
    EXPECT_EQ(r.status.code(), absl::StatusCode::kInvalidArgument) << type;
    EXPECT_TRUE(Contains(r.status, "device")) << r.status;
  }
  Result r = Canon(TarFile("Dockerfile", "FROM x\n") + TarFile("a/../../etc/x", "1") + TarEnd());
  EXPECT_EQ(r.status.code(), absl::StatusCode::kInvalidArgument);
  EXPECT_TRUE(Contains(r.status, "..")) << r.status;
}

TEST(CanonicalContextTest, HardLinksOnlyToEarlierRegularFiles) {
  EXPECT_TRUE(Canon(TarFile("Dockerfile", "FROM x\n") + TarFile("a", "1") +
                    TarHardlink("b", "./a") + TarEnd())
                  .status.ok());
  for (const std::string& in :
       {TarFile("Dockerfile", "FROM x\n") + TarHardlink("b", "a") + TarFile("a", "1") + TarEnd(),
        TarFile("Dockerfile", "FROM x\n") + TarDir("d/") + TarHardlink("b", "d") + TarEnd(),
        TarFile("Dockerfile", "FROM x\n") + TarSymlink("s", "x") + TarHardlink("b", "s") +
            TarEnd()}) {
    Result r = Canon(in);
    EXPECT_EQ(r.status.code(), absl::StatusCode::kInvalidArgument) << r.status;
    EXPECT_TRUE(Contains(r.status, "hard link")) << r.status;
  }
}

TEST(CanonicalContextTest, WritesNoOwnerNamesXattrsOrOtherPaxRecords) {
  const std::string in = TarPax({{"SCHILY.xattr.security.capability", "xyz"},
                                 {"uname", "root"},
                                 {"LIBARCHIVE.creationtime", "1"}}) +
                         TarFile("Dockerfile", "FROM x\n") + TarEnd();
  Result r = Canon(in);
  ASSERT_TRUE(r.status.ok()) << r.status;
  bool complete = false;
  auto entries = ReadCanonical(r.out, &complete);  // Fails on any other record.
  EXPECT_TRUE(complete);
  EXPECT_EQ(r.out.find("xattr"), std::string::npos);
  EXPECT_EQ(r.out.find("root"), std::string::npos);
}

TEST(CanonicalContextTest, AcceptsCompressedInputAndAlwaysSendsPlainTar) {
  const std::string tar = TarFile("Dockerfile", "FROM x\n") + TarFile("a", "1") + TarEnd();
  for (auto filter : {archive_write_add_filter_gzip, archive_write_add_filter_bzip2,
                      archive_write_add_filter_xz}) {
    Result r = Canon(Compress(tar, filter));
    ASSERT_TRUE(r.status.ok()) << r.status;
    bool complete = false;
    auto entries = ReadCanonical(r.out, &complete);
    EXPECT_TRUE(complete);
    EXPECT_EQ(entries.size(), 2u);
  }
}

TEST(CanonicalContextTest, LimitCountsDecompressedBytesSoAGzipBombStops) {
  // 64 MiB of zeros compress to ~64 KiB; the limit is 1 MiB.
  const std::string tar =
      TarFile("Dockerfile", "FROM x\n") + TarFile("bomb", std::string(64 << 20, '\0')) + TarEnd();
  const std::string gz = Compress(tar);
  ASSERT_LT(gz.size(), 1u << 20);
  CanonicalContextOptions opts;
  opts.max_bytes = 1 << 20;
  Result r = Canon(gz, opts, absl::OkStatus(), 64 * 1024);
  EXPECT_EQ(r.status.code(), absl::StatusCode::kResourceExhausted) << r.status;
  EXPECT_TRUE(Contains(r.status, "limits.max_context_bytes")) << r.status;
  EXPECT_LE(r.out.size(), (1u << 20) + (256u << 10)) << "stopped near the limit";
  // Under the limit the same context passes.
  opts.max_bytes = 80 << 20;
  EXPECT_TRUE(Canon(gz, opts, absl::OkStatus(), 64 * 1024).status.ok());
}

TEST(CanonicalContextTest, WithholdsTheEndMarkerFromARefusedBuild) {
  const std::string in =
      TarFile("a", std::string(3000, 'a')) + TarFile("Dockerfile", "FROM x\n") + TarEnd();
  Result r = Canon(in, {}, absl::PermissionDeniedError("no"));
  EXPECT_EQ(r.status.code(), absl::StatusCode::kPermissionDenied);
  bool complete = true;
  ReadCanonical(r.out, &complete);
  EXPECT_FALSE(complete);
  EXPECT_EQ(r.out.find(std::string(1024, '\0'), 3000), std::string::npos);
  // No Dockerfile at all: refused at the end, still without the marker.
  r = Canon(TarFile("a", "1") + TarEnd());
  EXPECT_EQ(r.status.code(), absl::StatusCode::kInvalidArgument);
  EXPECT_TRUE(Contains(r.status, "no Dockerfile")) << r.status;
  ReadCanonical(r.out, &complete);
  EXPECT_FALSE(complete);
}

TEST(CanonicalContextTest, FallsBackToLowercaseDockerfileAsTheEngineDoes) {
  Result r = Canon(TarFile("dockerfile", "FROM lower\n") + TarEnd());
  ASSERT_TRUE(r.status.ok()) << r.status;
  EXPECT_EQ(r.checked_path, "dockerfile");
  r = Canon(TarFile("dockerfile", "FROM lower\n") + TarFile("Dockerfile", "FROM upper\n") +
            TarEnd());
  ASSERT_TRUE(r.status.ok()) << r.status;
  EXPECT_EQ(r.checked_path, "Dockerfile");
  EXPECT_EQ(r.checked_text, "FROM upper\n");
  // A "Dockerfile" directory is not absent: no fallback past it.
  r = Canon(TarFile("Dockerfile/x", "1") + TarFile("dockerfile", "FROM lower\n") + TarEnd());
  EXPECT_EQ(r.status.code(), absl::StatusCode::kInvalidArgument) << r.status;
  EXPECT_EQ(r.checks, 0);
  CanonicalContextOptions opts;
  opts.dockerfile = "sub/Dockerfile";
  r = Canon(TarFile("sub/dockerfile", "FROM lower\n") + TarEnd(), opts);
  EXPECT_EQ(r.status.code(), absl::StatusCode::kInvalidArgument) << "no fallback for other paths";
}

TEST(CanonicalContextTest, CapsTheNumberOfEntriesItMustRemember) {
  CanonicalContextOptions opts;
  opts.max_entries = 3;
  EXPECT_TRUE(
      Canon(TarFile("Dockerfile", "FROM x\n") + TarFile("a/b", "1") + TarEnd(), opts).status.ok());
  Result r = Canon(
      TarFile("Dockerfile", "FROM x\n") + TarFile("a/b", "1") + TarFile("c", "2") + TarEnd(), opts);
  EXPECT_EQ(r.status.code(), absl::StatusCode::kResourceExhausted) << r.status;
}

TEST(CanonicalContextTest, CapsTheDockerfileSize) {
  Result r = Canon(TarFile("Dockerfile", std::string((4 << 20) + 1, '#')) + TarEnd());
  EXPECT_EQ(r.status.code(), absl::StatusCode::kInvalidArgument);
  EXPECT_TRUE(Contains(r.status, "larger than")) << r.status;
}

TEST(CanonicalContextTest, StreamsALargeContextInBoundedMemory) {
  // 512 MiB of file data generated on the fly; peak RSS must not follow it.
  const uint64_t kSize = 512ull << 20;
  const std::string head = TarFile("Dockerfile", "FROM x\n") + TarBlock(Hdr("big", '0', kSize));
  uint64_t sent = 0;
  const uint64_t total = head.size() + kSize + 1024;
  CanonicalContext canon(
      [&](char* buf, size_t n) -> absl::StatusOr<size_t> {
        size_t i = 0;
        for (; i < n && sent < total; ++i, ++sent) {
          buf[i] = sent < head.size() ? head[sent] : (sent < head.size() + kSize ? 'x' : '\0');
        }
        return i;
      },
      {}, nullptr);
  struct rusage before {};
  getrusage(RUSAGE_SELF, &before);
  std::vector<char> buf(64 * 1024);
  uint64_t out = 0;
  for (auto got = canon.Read(buf.data(), buf.size()); got.ok() && *got > 0;
       got = canon.Read(buf.data(), buf.size())) {
    out += *got;
  }
  struct rusage after {};
  getrusage(RUSAGE_SELF, &after);
  EXPECT_GT(out, kSize);
  EXPECT_LT(after.ru_maxrss - before.ru_maxrss, 32 * 1024) << "KiB of growth";
}

}  // namespace
}  // namespace dkd::core

namespace dkd::core {
namespace {

TEST(CanonicalContextTest, KeepsNonAsciiNamesByteForByte) {
  const std::string cafe = "caf\xC3\xA9.txt";
  const std::string long_name = "d/" + std::string(120, 'u') + "\xC3\xBC.txt";
  const std::string in = TarFile("Dockerfile", "FROM x\n") + TarFile(cafe, "1") +
                         TarPax({{"path", long_name}}) + TarFile("ignored", "2") +
                         TarFile("\xFF\xFE.bin", "3") + TarEnd();
  Result r = Canon(in);
  ASSERT_TRUE(r.status.ok()) << r.status;
  bool complete = false;
  auto entries = ReadCanonical(r.out, &complete);
  EXPECT_TRUE(complete);
  EXPECT_EQ(entries[cafe].data, "1");
  EXPECT_EQ(entries[long_name].data, "2");
  EXPECT_EQ(entries["\xFF\xFE.bin"].data, "3") << "not UTF-8: still the same bytes";
}

}  // namespace
}  // namespace dkd::core
