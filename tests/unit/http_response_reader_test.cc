// HttpResponseReader: dechunking at any split, length-bound and bodyless
// answers, headers, malformed framing and cut messages.
#include "core/engine/http_response_reader.h"

#include <string>

#include "gtest/gtest.h"

namespace dkd::core {
namespace {

struct Parsed {
  absl::Status status;
  int code = 0;
  std::string body;
  bool complete = false;
};

// Feeds `wire` in pieces of `step` bytes, then EOF when `eof`.
Parsed Parse(const std::string& wire, size_t step, bool eof = true) {
  HttpResponseReader r;
  Parsed p;
  for (size_t i = 0; i < wire.size() && p.status.ok(); i += step) {
    p.status = r.Feed(absl::string_view(wire).substr(i, step),
                      [&](absl::string_view piece) { p.body.append(piece.data(), piece.size()); });
  }
  if (p.status.ok() && eof && !r.complete()) p.status = r.AtEof();
  p.code = r.has_head() ? r.head().status : 0;
  p.complete = r.complete();
  return p;
}

TEST(HttpResponseReaderTest, DechunksWhateverTheSplit) {
  const std::string wire =
      "HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\nApi-Version: 1.41\r\n\r\n"
      "5\r\nhello\r\n1;ext=1\r\n \r\nA\r\n0123456789\r\n0\r\nTrailer: x\r\n\r\n"
      "GARBAGE AFTER THE MESSAGE";
  for (size_t step = 1; step <= wire.size(); ++step) {
    Parsed p = Parse(wire, step, /*eof=*/false);
    ASSERT_TRUE(p.status.ok()) << step << ": " << p.status;
    EXPECT_EQ(p.code, 200);
    EXPECT_EQ(p.body, "hello 0123456789") << step;
    EXPECT_TRUE(p.complete) << step;
  }
}

TEST(HttpResponseReaderTest, ContentLengthToEofAndBodylessAnswers) {
  Parsed fixed = Parse("HTTP/1.1 404 Not Found\r\nContent-Length: 3\r\n\r\nabcdef", 2, false);
  EXPECT_TRUE(fixed.complete);
  EXPECT_EQ(fixed.code, 404);
  EXPECT_EQ(fixed.body, "abc");

  Parsed to_eof = Parse("HTTP/1.0 200 OK\r\n\r\nall of it", 3);
  EXPECT_TRUE(to_eof.status.ok()) << to_eof.status;
  EXPECT_EQ(to_eof.body, "all of it");

  Parsed no_content = Parse("HTTP/1.1 204 No Content\r\n\r\n", 7, false);
  EXPECT_TRUE(no_content.complete);
  EXPECT_EQ(no_content.body, "");

  Parsed cont = Parse(
      "HTTP/1.1 100 Continue\r\n\r\nHTTP/1.1 201 Created\r\nContent-Length: 2\r\n\r\nok", 5, false);
  EXPECT_EQ(cont.code, 201);
  EXPECT_EQ(cont.body, "ok");

  HttpResponseReader head_only(/*no_body=*/true);
  ASSERT_TRUE(head_only.Feed("HTTP/1.1 200 OK\r\nContent-Length: 9\r\n\r\n", [](auto) {}).ok());
  EXPECT_TRUE(head_only.complete());
}

TEST(HttpResponseReaderTest, HeadersAreCaseInsensitive) {
  HttpResponseReader r;
  ASSERT_TRUE(r.Feed("HTTP/1.1 200 OK\r\napi-version:   1.40  \r\n\r\n", [](auto) {}).ok());
  EXPECT_EQ(r.head().Header("Api-Version"), "1.40");
  EXPECT_EQ(r.head().Header("Missing"), "");
}

TEST(HttpResponseReaderTest, MalformedFramingIsAnError) {
  EXPECT_EQ(Parse("HTTP/1.1 2x0 OK\r\n\r\n", 4).status.code(), absl::StatusCode::kInternal);
  EXPECT_EQ(Parse("SSH-2.0-OpenSSH\r\n\r\n", 4).status.code(), absl::StatusCode::kInternal);
  EXPECT_EQ(Parse("HTTP/1.1 200 OK\r\nno colon here\r\n\r\n", 4).status.code(),
            absl::StatusCode::kInternal);
  const std::string chunked = "HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n";
  EXPECT_EQ(Parse(chunked + "zz\r\n", 3).status.code(), absl::StatusCode::kInternal);
  EXPECT_EQ(Parse(chunked + "3\r\nabcX\r\n", 3).status.code(), absl::StatusCode::kInternal);
  EXPECT_EQ(Parse(chunked + "ffffffffffffffffff\r\n", 3).status.code(),
            absl::StatusCode::kInternal);
  EXPECT_EQ(Parse(chunked + std::string(5000, '1'), 100).status.code(),
            absl::StatusCode::kInternal);
  EXPECT_EQ(Parse("HTTP/1.1 200 OK\r\n" + std::string(70 * 1024, 'a'), 1000).status.code(),
            absl::StatusCode::kInternal);
}

TEST(HttpResponseReaderTest, ACutMessageIsDataLossAtEof) {
  EXPECT_EQ(Parse("HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n5\r\nhel", 4).status.code(),
            absl::StatusCode::kDataLoss);
  EXPECT_EQ(Parse("HTTP/1.1 200 OK\r\nContent-Length: 10\r\n\r\nshort", 4).status.code(),
            absl::StatusCode::kDataLoss);
  EXPECT_EQ(Parse("HTTP/1.1 200", 4).status.code(), absl::StatusCode::kDataLoss);
}

}  // namespace
}  // namespace dkd::core
