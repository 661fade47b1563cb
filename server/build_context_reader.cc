// BuildContextReader: a BuildImage call's context chunks, counted as they arrive.
#include "server/build_context_reader.h"

#include <algorithm>
#include <utility>

#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"

namespace dkd::server {
namespace {

constexpr char kLimit[] = "limits.max_context_bytes";

}  // namespace

absl::Status ContextTooLargeError(int64_t max_bytes) {
  return absl::ResourceExhaustedError(
      absl::StrCat(kLimit, ": the build context exceeds ", max_bytes, " bytes"));
}

bool IsContextTooLarge(const absl::Status& status) {
  return status.code() == absl::StatusCode::kResourceExhausted &&
         absl::StartsWith(status.message(), kLimit);
}

BuildContextReader::BuildContextReader(NextMessage next, int64_t max_bytes, Metrics* metrics)
    : next_(std::move(next)), max_bytes_(max_bytes), metrics_(metrics) {}

absl::StatusOr<size_t> BuildContextReader::Read(char* buf, size_t len) {
  if (!failed_.ok()) return failed_;
  while (offset_ >= pending_.size()) {
    if (ended_) return size_t{0};
    dkd::v1::BuildImageRequest msg;
    if (!next_(&msg)) {
      ended_ = true;
      return size_t{0};
    }
    if (msg.has_spec()) {
      failed_ = absl::InvalidArgumentError("spec: only the first BuildImage message may carry it");
      return failed_;
    }
    pending_ = std::move(*msg.mutable_context_chunk());
    offset_ = 0;
    const auto size = static_cast<int64_t>(pending_.size());
    received_ += size;
    if (metrics_ != nullptr) metrics_->AddContextBytes(size);
    if (max_bytes_ > 0 && received_ > max_bytes_) {
      pending_.clear();
      failed_ = ContextTooLargeError(max_bytes_);
      return failed_;
    }
  }
  const size_t take = std::min(len, pending_.size() - offset_);
  std::copy_n(pending_.data() + offset_, take, buf);
  offset_ += take;
  return take;
}

}  // namespace dkd::server
