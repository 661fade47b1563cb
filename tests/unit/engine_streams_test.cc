// Engine stream decoders: log frames, line splitting, JSON messages, the
// engine error map and URL encoding.
#include "core/engine/engine_streams.h"

#include <gtest/gtest.h>

#include <string>
#include <vector>

#include "core/engine/engine_client.h"

namespace dkd::core {
namespace {

std::string Frame(char stream, const std::string& payload) {
  std::string h(8, '\0');
  h[0] = stream;
  const uint32_t n = static_cast<uint32_t>(payload.size());
  h[4] = static_cast<char>(n >> 24);
  h[5] = static_cast<char>(n >> 16);
  h[6] = static_cast<char>(n >> 8);
  h[7] = static_cast<char>(n);
  return h + payload;
}

TEST(LogFrameDecoderTest, SplitsStreamsWhateverTheChunking) {
  const std::string wire = Frame(1, "out line\n") + Frame(2, "err line\n") + Frame(1, "more\n");
  for (size_t chunk : {size_t{1}, size_t{3}, size_t{8}, wire.size()}) {
    LogFrameDecoder d;
    std::string out, err;
    for (size_t off = 0; off < wire.size(); off += chunk) {
      ASSERT_TRUE(d.Feed(absl::string_view(wire).substr(off, chunk), [&](LogFrameDecoder::Stream s,
                                                                         absl::string_view p) {
                     (s == LogFrameDecoder::Stream::kStderr ? err : out).append(p.data(), p.size());
                     return true;
                   }).ok());
    }
    EXPECT_TRUE(d.Finish().ok());
    EXPECT_EQ(out, "out line\nmore\n") << chunk;
    EXPECT_EQ(err, "err line\n") << chunk;
  }
}

TEST(LogFrameDecoderTest, CorruptHeaderAndTruncationAreErrors) {
  LogFrameDecoder bad;
  std::string junk = "hello, not a frame";
  EXPECT_EQ(bad.Feed(junk, [](auto, auto) { return true; }).code(), absl::StatusCode::kInternal);
  LogFrameDecoder cut;
  std::string wire = Frame(1, "0123456789");
  ASSERT_TRUE(
      cut.Feed(absl::string_view(wire).substr(0, 12), [](auto, auto) { return true; }).ok());
  EXPECT_EQ(cut.Finish().code(), absl::StatusCode::kDataLoss);
}

TEST(LineSplitterTest, JoinsPartialLinesAndBoundsLongOnes) {
  LineSplitter s(/*max_line=*/8);
  std::vector<std::string> lines;
  auto sink = [&](absl::string_view l) {
    lines.emplace_back(l);
    return true;
  };
  s.Feed("ab", sink);
  s.Feed("c\nde", sink);
  s.Feed("f\n\n0123456789", sink);
  s.Finish(sink);
  EXPECT_EQ(lines, (std::vector<std::string>{"abc", "def", "0123456789"}));
}

TEST(JsonMessageTest, ReadsStreamProgressAuxAndErrors) {
  JsonMessage m;
  ASSERT_TRUE(ParseJsonMessage(R"({"stream":"Step 1/2 : FROM x\n"})", m).ok());
  EXPECT_EQ(m.stream, "Step 1/2 : FROM x\n");
  ASSERT_TRUE(ParseJsonMessage(
                  R"({"status":"Pushing","id":"abc","progressDetail":{"current":5,"total":10}})", m)
                  .ok());
  EXPECT_EQ(m.id, "abc");
  EXPECT_EQ(m.current, 5);
  EXPECT_EQ(m.total, 10);
  ASSERT_TRUE(ParseJsonMessage(R"({"aux":{"Tag":"1","Digest":"sha256:x","Size":5}})", m).ok());
  EXPECT_EQ(m.aux["Digest"], "sha256:x");
  ASSERT_TRUE(
      ParseJsonMessage(
          R"({"errorDetail":{"message":"unauthorized: authentication required"},"error":"x"})", m)
          .ok());
  EXPECT_EQ(m.error, "unauthorized: authentication required");
  EXPECT_FALSE(ParseJsonMessage("{not json", m).ok());
}

TEST(EngineErrorMapTest, MapsEachStatusOnceKeepingTheMessage) {
  struct Case {
    int http;
    absl::StatusCode code;
  } cases[] = {{400, absl::StatusCode::kInvalidArgument},
               {401, absl::StatusCode::kUnauthenticated},
               {403, absl::StatusCode::kPermissionDenied},
               {404, absl::StatusCode::kNotFound},
               {409, absl::StatusCode::kFailedPrecondition},
               {503, absl::StatusCode::kUnavailable},
               {500, absl::StatusCode::kInternal}};
  for (const auto& c : cases) {
    absl::Status s = StatusFromEngineHttp(c.http, R"({"message":"engine says no"})");
    EXPECT_EQ(s.code(), c.code) << c.http;
    EXPECT_NE(s.message().find("engine says no"), absl::string_view::npos);
  }
  EXPECT_EQ(StatusFromEngineHttp(
                409, R"({"message":"Conflict. The container name \"/x\" is already in use"})")
                .code(),
            absl::StatusCode::kAlreadyExists);
  // A registry the engine cannot reach is transient, not an engine bug.
  EXPECT_EQ(StatusFromEngineHttp(
                500, R"({"message":"Get \"https://r/v2/\": dial tcp: lookup r: no such host"})")
                .code(),
            absl::StatusCode::kUnavailable);
}

TEST(UrlEncodeTest, EscapesReservedCharacters) {
  EXPECT_EQ(UrlEncode("a b/c:d?e&f=g"), "a%20b%2Fc%3Ad%3Fe%26f%3Dg");
  EXPECT_EQ(UrlEncode("safe-._~AZ09"), "safe-._~AZ09");
}

}  // namespace
}  // namespace dkd::core
