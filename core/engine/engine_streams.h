// Incremental decoders for the Docker Engine's streamed response bodies.
//
// The engine streams two framings: newline-delimited JSON messages (build,
// push, pull, events) and, for container logs and attach without a TTY, 8-byte
// headers [stream, 0, 0, 0, size(be32)] before each payload. Both decoders take
// bytes in whatever chunks the transport delivers and emit whole messages, so
// memory is bounded by the largest single message, never by the stream.
// Not thread-safe: one decoder per stream.
#pragma once

#include <cstdint>
#include <functional>
#include <string>

#include "absl/status/status.h"
#include "absl/strings/string_view.h"
#include "nlohmann/json.hpp"

namespace dkd::core {

// One decoded JSON message of a build/push/pull stream (docker's jsonmessage).
struct JsonMessage {
  std::string stream;  // Build output text ("stream").
  std::string status;  // Progress status ("status").
  std::string id;      // Layer id for progress.
  std::string progress;
  int64_t current = 0;
  int64_t total = 0;
  nlohmann::json aux;  // "aux" payload (image id, push digest), or null.
  // The members of an object "aux" that dkd reads: a build's image id, a
  // push's tag, digest and size.
  bool has_aux_id = false;
  // A string "aux": BuildKit's base64 progress message on a
  // "moby.buildkit.trace" line.
  std::string aux_text;
  std::string aux_id, aux_tag, aux_digest;
  int64_t aux_size = 0;
  std::string error;   // "error"/"errorDetail.message": the stream failed.
  int error_code = 0;  // "errorDetail.code", when given.
  nlohmann::json raw;  // The whole message.
};

// Parses one line of a JSON message stream. Malformed JSON -> Internal.
absl::Status ParseJsonMessage(absl::string_view line, JsonMessage& out);

// Splits a byte stream into lines and hands each non-empty one to `on_line`.
class LineSplitter {
 public:
  // `max_line` bounds memory: a longer line is delivered in pieces.
  explicit LineSplitter(size_t max_line = 1 << 20) : max_line_(max_line) {}
  // Feeds bytes; `on_line` returning false stops and makes Feed return false.
  bool Feed(absl::string_view data, const std::function<bool(absl::string_view)>& on_line);
  // Delivers a trailing line without newline, if any.
  bool Finish(const std::function<bool(absl::string_view)>& on_line);

 private:
  size_t max_line_;
  std::string pending_;
};

// Decodes the engine's multiplexed stdout/stderr framing.
class LogFrameDecoder {
 public:
  enum class Stream { kStdin = 0, kStdout = 1, kStderr = 2 };
  using Sink = std::function<bool(Stream stream, absl::string_view payload)>;

  // Feeds bytes; calls `sink` once per complete frame (large frames are
  // delivered in pieces of at most `max_piece` bytes). Returns Internal on a
  // corrupt header, Cancelled when the sink returns false.
  absl::Status Feed(absl::string_view data, const Sink& sink);
  // OK when the stream ended on a frame boundary, DataLoss otherwise.
  absl::Status Finish() const;

 private:
  static constexpr size_t kMaxPiece = 64 * 1024;
  char header_[8] = {};
  size_t header_len_ = 0;
  Stream stream_ = Stream::kStdout;
  uint64_t remaining_ = 0;  // Payload bytes left in the current frame.
};

}  // namespace dkd::core
