// HttpResponseReader: an incremental HTTP/1.1 response parser for engine
// streams read without a thread of their own (core/engine/engine_stream_loop.h).
//
// Takes the bytes of one response in whatever pieces the socket gives and
// hands out the status line and headers once, then the body as it arrives,
// de-chunked (Transfer-Encoding: chunked), bounded by Content-Length, or up
// to the end of the connection. Memory is bounded by the head (64 KiB), never
// by the body. Not thread-safe: one reader per response.
#pragma once

#include <cstdint>
#include <functional>
#include <string>
#include <utility>
#include <vector>

#include "absl/status/status.h"
#include "absl/strings/string_view.h"

namespace dkd::core {

class HttpResponseReader {
 public:
  struct Head {
    int status = 0;
    std::vector<std::pair<std::string, std::string>> headers;
    // The first header named `name` (case-insensitive), or "".
    std::string Header(absl::string_view name) const;
  };
  using BodySink = std::function<void(absl::string_view piece)>;

  // Most bytes of status line plus headers.
  static constexpr size_t kMaxHead = 64 * 1024;

  // `no_body`: the request was one whose response never has a body (HEAD).
  explicit HttpResponseReader(bool no_body = false) : no_body_(no_body) {}

  // Feeds bytes. Body pieces go to `on_body`; bytes after the end of the
  // message are ignored. Internal on a malformed head or chunk framing.
  absl::Status Feed(absl::string_view data, const BodySink& on_body);
  // The connection closed: OK when the message was complete (or its body
  // runs to the end of the connection); DataLoss when it was cut short.
  absl::Status AtEof();

  bool has_head() const { return state_ != State::kHead; }
  const Head& head() const { return head_; }
  // The whole message has arrived.
  bool complete() const { return state_ == State::kDone; }

 private:
  enum class State {
    kHead,
    kFixed,
    kChunkSize,
    kChunkData,
    kChunkDataEnd,
    kTrailer,
    kToEof,
    kDone
  };
  absl::Status ParseHead(absl::string_view head);

  const bool no_body_;
  State state_ = State::kHead;
  std::string pending_;  // Head bytes, or a partial chunk-size/trailer line.
  Head head_;
  uint64_t remaining_ = 0;  // Body bytes left (kFixed) or chunk bytes left.
};

}  // namespace dkd::core
