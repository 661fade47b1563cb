// Hostile-input robustness: every parser that sees bytes from a remote caller
// or from the engine is fed random and mutated input. The property is simple:
// no crash, no hang, and an error is a Status, never an exception. Seeds are
// fixed, so a failure reproduces.
#include <gtest/gtest.h>

#include <random>
#include <string>
#include <vector>

#include "core/base/reference.h"
#include "core/base/validation.h"
#include "core/buildgen/dockerfile_linter.h"
#include "core/buildgen/dockerfile_optimizer.h"
#include "core/buildgen/dockerfile_parser.h"
#include "core/context/context_canon.h"
#include "core/context/dockerignore.h"
#include "core/engine/engine_streams.h"
#include "core/image/image_export_reader.h"
#include "core/policy/base_image_check.h"

namespace dkd::core {
namespace {

constexpr int kRounds = 3000;

// Random strings biased towards the characters that matter to each grammar.
class Mutator {
 public:
  explicit Mutator(uint32_t seed) : rng_(seed) {}
  std::string Random(const std::string& alphabet, size_t max_len) {
    std::uniform_int_distribution<size_t> len(0, max_len);
    std::uniform_int_distribution<size_t> pick(0, alphabet.size() - 1);
    std::string out(len(rng_), ' ');
    for (char& c : out) c = alphabet[pick(rng_)];
    return out;
  }
  // Flips, inserts and deletes bytes of `seed`.
  std::string Mutate(std::string s) {
    std::uniform_int_distribution<int> ops(1, 8);
    std::uniform_int_distribution<int> byte(0, 255);
    for (int n = ops(rng_); n > 0; --n) {
      std::uniform_int_distribution<size_t> at(0, s.size());
      const size_t i = at(rng_);
      switch (byte(rng_) % 3) {
        case 0:
          s.insert(s.begin() + static_cast<std::ptrdiff_t>(i), static_cast<char>(byte(rng_)));
          break;
        case 1:
          if (i < s.size()) s.erase(i, 1);
          break;
        default:
          if (i < s.size()) s[i] = static_cast<char>(byte(rng_));
      }
    }
    return s;
  }

 private:
  std::mt19937 rng_;
};

const char* kDockerfile =
    "# syntax=docker/dockerfile:1\n# escape=\\\\\nARG BASE=debian:12\nFROM ${BASE} AS build\n"
    "RUN apt-get update && apt-get install -y curl \\\n  && rm -rf /var/lib/apt/lists/*\n"
    "COPY --chown=1:1 [\"a b\", \"/c\"]\nENV A=1 B=\"two words\"\nRUN <<EOF\necho hi\nEOF\n"
    "FROM build\nHEALTHCHECK --interval=5s CMD [\"true\"]\nUSER 1000\nCMD [\"app\"]\n";

TEST(RobustnessTest, DockerfileParserLinterAndOptimizerSurviveAnyText) {
  Mutator m(1);
  const std::string alphabet = "FROMRUNCOPYARGENV \t\n\\\"'$`{}[]#=:-/.*&|;<>@AS";
  DockerfileLinter linter;
  for (int i = 0; i < kRounds; ++i) {
    const std::string text = i % 2 ? m.Random(alphabet, 200) : m.Mutate(kDockerfile);
    auto parsed = ParseDockerfile(text);
    LintResult lint = linter.Lint(text);
    auto optimized = OptimizeDockerfile(text);
    if (optimized.ok()) {
      EXPECT_TRUE(ParseDockerfile(optimized->dockerfile).ok()) << text;
    }
    (void)parsed;
    (void)lint;
    for (BuilderKind b : {BuilderKind::kClassic, BuilderKind::kBuildKit}) {
      (void)ReachableImages(text, {{"BASE", "x"}}, b);
    }
  }
}

TEST(RobustnessTest, ReferencesPortsVolumesAndIgnoreFilesSurviveAnyText) {
  Mutator m(2);
  for (int i = 0; i < kRounds; ++i) {
    const std::string ref = m.Random("abcAB019:/@._-[]sha256", 80);
    (void)ParseImageReference(ref);
    (void)ParsePublishSpec("p", m.Random("0123456789:.[]/tcpudp", 30));
    (void)ParseVolumeSpec("v", m.Random("/ab:.rowz-", 30));
    (void)ParseRestartPolicy("r", m.Random("on-failure:0123456789alwysn", 20));
    (void)ParseMemoryBytes("m", m.Random("0123456789.kmgtbiKMG ", 12));
    auto ignore = DockerIgnore::Parse(m.Random("*?[]!#/\\\n. ab", 120));
    if (ignore.ok()) (void)ignore->Excluded(m.Random("ab/.*", 20));
  }
}

TEST(RobustnessTest, EngineStreamDecodersSurviveAnyBytes) {
  Mutator m(3);
  for (int i = 0; i < kRounds; ++i) {
    const std::string bytes =
        m.Mutate(std::string("\x01\0\0\0\0\0\0\x05hello\x02\0\0\0\0\0\0\x01x", 20));
    LogFrameDecoder frames;
    (void)frames.Feed(bytes, [](auto, auto) { return true; });
    (void)frames.Finish();
    JsonMessage msg;
    (void)ParseJsonMessage(
        m.Mutate(
            R"({"stream":"x","progressDetail":{"current":1,"total":2},"errorDetail":{"code":1}})"),
        msg);
    LineSplitter lines(64);
    lines.Feed(m.Random("ab\n", 300), [](absl::string_view) { return true; });
  }
}

TEST(RobustnessTest, ImageExportReaderAndContextGateSurviveGarbage) {
  Mutator m(4);
  for (int i = 0; i < 300; ++i) {
    std::string bytes = m.Random(std::string("\0ustar0manifest.json{}[]/", 25), 4096);
    if (i % 3 == 0) bytes = std::string(512, '\0') + bytes;
    MemoryByteSource src(bytes);
    (void)ReadImageExport(src);
    size_t off = 0;
    CanonicalContext canon(
        [&](char* buf, size_t n) -> absl::StatusOr<size_t> {
          const size_t take = std::min(n, bytes.size() - off);
          std::copy_n(bytes.data() + off, take, buf);
          off += take;
          return take;
        },
        {},
        [](const std::string&, const std::string& text) {
          return CheckBaseImages(text, {}, {"registry.internal"}, BuilderKind::kClassic);
        });
    char buf[4096];
    for (auto got = canon.Read(buf, sizeof(buf)); got.ok() && *got > 0;
         got = canon.Read(buf, sizeof(buf))) {
    }
  }
}

}  // namespace
}  // namespace dkd::core
