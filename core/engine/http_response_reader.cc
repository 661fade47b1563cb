// HttpResponseReader (http_response_reader.h): status line and headers, chunked
// and length-bound bodies, and what a cut message means at EOF.
#include "core/engine/http_response_reader.h"

#include <algorithm>

#include "absl/strings/ascii.h"
#include "absl/strings/match.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_split.h"

namespace dkd::core {
namespace {

// Longest chunk-size or trailer line accepted.
constexpr size_t kMaxLine = 4096;

absl::Status Malformed(absl::string_view what) {
  return absl::InternalError(absl::StrCat("the Docker Engine sent a malformed response: ", what));
}

}  // namespace

std::string HttpResponseReader::Head::Header(absl::string_view name) const {
  for (const auto& [k, v] : headers) {
    if (absl::EqualsIgnoreCase(k, name)) return v;
  }
  return "";
}

absl::Status HttpResponseReader::ParseHead(absl::string_view text) {
  std::vector<absl::string_view> lines = absl::StrSplit(text, "\r\n");
  if (lines.empty()) return Malformed("no status line");
  const absl::string_view status_line = lines[0];
  // "HTTP/1.1 200 OK"
  if (!absl::StartsWith(status_line, "HTTP/1.")) return Malformed("no HTTP/1.x status line");
  std::vector<absl::string_view> parts = absl::StrSplit(status_line, absl::MaxSplits(' ', 2));
  int status = 0;
  if (parts.size() < 2 || parts[1].size() != 3 || !absl::SimpleAtoi(parts[1], &status)) {
    return Malformed("bad status code");
  }
  head_ = Head{};
  head_.status = status;
  for (size_t i = 1; i < lines.size(); ++i) {
    if (lines[i].empty()) continue;
    const size_t colon = lines[i].find(':');
    if (colon == absl::string_view::npos || colon == 0) return Malformed("bad header line");
    head_.headers.emplace_back(std::string(lines[i].substr(0, colon)),
                               std::string(absl::StripAsciiWhitespace(lines[i].substr(colon + 1))));
  }
  return absl::OkStatus();
}

absl::Status HttpResponseReader::Feed(absl::string_view data, const BodySink& on_body) {
  while (!data.empty() && state_ != State::kDone) {
    switch (state_) {
      case State::kHead: {
        const size_t before = pending_.size();
        pending_.append(data.data(), std::min(data.size(), kMaxHead + 4 - before));
        const size_t end = pending_.find("\r\n\r\n");
        if (end == std::string::npos) {
          if (pending_.size() > kMaxHead) return Malformed("headers longer than 64 KiB");
          data.remove_prefix(pending_.size() - before);
          break;
        }
        data.remove_prefix(end + 4 - before);
        absl::Status s = ParseHead(absl::string_view(pending_).substr(0, end));
        pending_.clear();
        if (!s.ok()) return s;
        const int st = head_.status;
        if (st >= 100 && st < 200 && st != 101) break;  // 100 Continue: the real head follows.
        const std::string te = absl::AsciiStrToLower(head_.Header("Transfer-Encoding"));
        const std::string cl = head_.Header("Content-Length");
        if (no_body_ || st == 204 || st == 304 || (st >= 100 && st < 200)) {
          state_ = State::kDone;
        } else if (absl::StrContains(te, "chunked")) {
          state_ = State::kChunkSize;
        } else if (!cl.empty()) {
          if (!absl::SimpleAtoi(cl, &remaining_)) return Malformed("bad Content-Length");
          state_ = remaining_ == 0 ? State::kDone : State::kFixed;
        } else {
          state_ = State::kToEof;
        }
        break;
      }
      case State::kFixed:
      case State::kChunkData: {
        const size_t n = static_cast<size_t>(std::min<uint64_t>(remaining_, data.size()));
        on_body(data.substr(0, n));
        data.remove_prefix(n);
        remaining_ -= n;
        if (remaining_ == 0) state_ = state_ == State::kFixed ? State::kDone : State::kChunkDataEnd;
        break;
      }
      case State::kToEof:
        on_body(data);
        data = {};
        break;
      case State::kChunkDataEnd:
      case State::kChunkSize:
      case State::kTrailer: {
        const size_t nl = data.find('\n');
        const size_t take = nl == absl::string_view::npos ? data.size() : nl + 1;
        pending_.append(data.data(), take);
        data.remove_prefix(take);
        if (pending_.size() > kMaxLine) return Malformed("chunk line too long");
        if (nl == absl::string_view::npos) break;
        absl::string_view line = pending_;
        line = absl::StripSuffix(absl::StripSuffix(line, "\n"), "\r");
        if (state_ == State::kChunkDataEnd) {
          if (!line.empty()) return Malformed("chunk not followed by CRLF");
          state_ = State::kChunkSize;
        } else if (state_ == State::kChunkSize) {
          const absl::string_view size_text =
              absl::StripAsciiWhitespace(line.substr(0, line.find(';')));
          uint64_t size = 0;
          if (size_text.empty() || size_text.size() > 15 ||
              !absl::SimpleHexAtoi(size_text, &size)) {
            return Malformed("bad chunk size");
          }
          remaining_ = size;
          state_ = size == 0 ? State::kTrailer : State::kChunkData;
        } else if (line.empty()) {
          state_ = State::kDone;  // End of the trailer section.
        }
        pending_.clear();
        break;
      }
      case State::kDone:
        break;
    }
  }
  return absl::OkStatus();
}

absl::Status HttpResponseReader::AtEof() {
  if (state_ == State::kDone || state_ == State::kToEof) {
    state_ = State::kDone;
    return absl::OkStatus();
  }
  return absl::DataLossError(state_ == State::kHead
                                 ? "the connection closed before the response headers"
                                 : "the connection closed in the middle of the response");
}

}  // namespace dkd::core
