// Engine stream decoders (engine_streams.h): JSON messages, line splitting and
// the multiplexed log frames.
#include "core/engine/engine_streams.h"

#include <algorithm>

#include "absl/strings/str_cat.h"

namespace dkd::core {

absl::Status ParseJsonMessage(absl::string_view line, JsonMessage& out) {
  out = JsonMessage{};
  out.raw = nlohmann::json::parse(line.begin(), line.end(), nullptr, false);
  if (out.raw.is_discarded() || !out.raw.is_object()) {
    return absl::InternalError(
        absl::StrCat("engine sent a malformed stream message: ", line.substr(0, 200)));
  }
  const auto& j = out.raw;
  auto str = [&j](const char* key) -> std::string {
    auto it = j.find(key);
    return (it != j.end() && it->is_string()) ? it->get<std::string>() : std::string();
  };
  out.stream = str("stream");
  out.status = str("status");
  out.id = str("id");
  out.progress = str("progress");
  if (auto it = j.find("progressDetail"); it != j.end() && it->is_object()) {
    out.current = it->value("current", int64_t{0});
    out.total = it->value("total", int64_t{0});
  }
  if (auto it = j.find("aux"); it != j.end()) {
    out.aux = *it;
    if (it->is_string()) out.aux_text = it->get<std::string>();
    if (it->is_object()) {
      auto member = [&it](const char* key) -> std::string {
        auto m = it->find(key);
        return (m != it->end() && m->is_string()) ? m->get<std::string>() : std::string();
      };
      out.has_aux_id = it->contains("ID");
      out.aux_id = member("ID");
      out.aux_tag = member("Tag");
      out.aux_digest = member("Digest");
      if (auto size = it->find("Size"); size != it->end() && size->is_number()) {
        out.aux_size = size->get<int64_t>();
      }
    }
  }
  if (auto it = j.find("errorDetail"); it != j.end() && it->is_object()) {
    out.error = it->value("message", std::string());
    out.error_code = it->value("code", 0);
  }
  if (out.error.empty()) out.error = str("error");
  return absl::OkStatus();
}

bool LineSplitter::Feed(absl::string_view data,
                        const std::function<bool(absl::string_view)>& on_line) {
  while (!data.empty()) {
    const size_t nl = data.find('\n');
    if (nl == absl::string_view::npos) {
      pending_.append(data.data(), data.size());
      if (pending_.size() >= max_line_) {
        std::string piece;
        piece.swap(pending_);
        if (!on_line(piece)) return false;
      }
      return true;
    }
    absl::string_view line = data.substr(0, nl);
    data.remove_prefix(nl + 1);
    if (!pending_.empty()) {
      pending_.append(line.data(), line.size());
      std::string whole;
      whole.swap(pending_);
      if (!whole.empty() && !on_line(whole)) return false;
    } else if (!line.empty() && !on_line(line)) {
      return false;
    }
  }
  return true;
}

bool LineSplitter::Finish(const std::function<bool(absl::string_view)>& on_line) {
  if (pending_.empty()) return true;
  std::string last;
  last.swap(pending_);
  return on_line(last);
}

absl::Status LogFrameDecoder::Feed(absl::string_view data, const Sink& sink) {
  while (!data.empty()) {
    if (remaining_ == 0) {
      const size_t take = std::min(sizeof(header_) - header_len_, data.size());
      std::copy_n(data.data(), take, header_ + header_len_);
      header_len_ += take;
      data.remove_prefix(take);
      if (header_len_ < sizeof(header_)) return absl::OkStatus();
      header_len_ = 0;
      const auto kind = static_cast<unsigned char>(header_[0]);
      if (kind > 2 || header_[1] != 0 || header_[2] != 0 || header_[3] != 0) {
        return absl::InternalError("engine log stream: corrupt frame header");
      }
      stream_ = static_cast<Stream>(kind);
      remaining_ = (uint64_t{static_cast<unsigned char>(header_[4])} << 24) |
                   (uint64_t{static_cast<unsigned char>(header_[5])} << 16) |
                   (uint64_t{static_cast<unsigned char>(header_[6])} << 8) |
                   uint64_t{static_cast<unsigned char>(header_[7])};
      continue;
    }
    const size_t take =
        static_cast<size_t>(std::min<uint64_t>({remaining_, data.size(), uint64_t{kMaxPiece}}));
    if (!sink(stream_, data.substr(0, take))) return absl::CancelledError("log sink stopped");
    remaining_ -= take;
    data.remove_prefix(take);
  }
  return absl::OkStatus();
}

absl::Status LogFrameDecoder::Finish() const {
  if (header_len_ != 0 || remaining_ != 0) {
    return absl::DataLossError("engine log stream ended inside a frame");
  }
  return absl::OkStatus();
}

}  // namespace dkd::core
