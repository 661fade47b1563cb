#include "core/image/export_stream.h"

#include <algorithm>
#include <cstring>
#include <thread>
#include <utility>

#include "absl/strings/str_cat.h"

namespace dkd::core {

ExportStream::ExportStream(size_t chunk_bytes, size_t max_chunks)
    : chunk_bytes_(std::max<size_t>(chunk_bytes, 1)), max_chunks_(std::max<size_t>(max_chunks, 1)) {
  filling_.reserve(chunk_bytes_);
}

bool ExportStream::Flush() {
  absl::MutexLock lock(&mu_);
  mu_.Await(absl::Condition(
      +[](ExportStream* s) ABSL_EXCLUSIVE_LOCKS_REQUIRED(s->mu_) {
        return s->closed_ || s->queue_.size() < s->max_chunks_;
      },
      this));
  if (closed_) return false;
  queue_.push_back(std::move(filling_));
  filling_ = std::string();
  filling_.reserve(chunk_bytes_);
  return true;
}

bool ExportStream::Push(absl::string_view data) {
  while (!data.empty()) {
    const size_t n = std::min(data.size(), chunk_bytes_ - filling_.size());
    filling_.append(data.data(), n);
    data.remove_prefix(n);
    if (filling_.size() >= chunk_bytes_ && !Flush()) return false;
  }
  return !reader_closed_.load(std::memory_order_relaxed);
}

void ExportStream::Finish(absl::Status status) {
  if (!filling_.empty()) Flush();
  absl::MutexLock lock(&mu_);
  done_ = true;
  final_ = std::move(status);
}

absl::StatusOr<size_t> ExportStream::Read(char* buf, size_t len) {
  if (len == 0) return 0;
  if (reader_closed_.load(std::memory_order_relaxed)) {
    return absl::CancelledError("image export stream closed");
  }
  if (pos_ == current_.size()) {
    absl::MutexLock lock(&mu_);
    mu_.Await(absl::Condition(
        +[](ExportStream* s) ABSL_EXCLUSIVE_LOCKS_REQUIRED(s->mu_) {
          return s->closed_ || s->done_ || !s->queue_.empty();
        },
        this));
    if (closed_) return absl::CancelledError("image export stream closed");
    if (queue_.empty()) {
      if (!final_.ok()) return final_;
      return 0;
    }
    current_ = std::move(queue_.front());
    queue_.pop_front();
    pos_ = 0;
  }
  const size_t n = std::min(len, current_.size() - pos_);
  std::memcpy(buf, current_.data() + pos_, n);
  pos_ += n;
  return n;
}

void ExportStream::Close() {
  reader_closed_.store(true, std::memory_order_relaxed);
  absl::MutexLock lock(&mu_);
  closed_ = true;
  queue_.clear();
}

absl::StatusOr<ImageExport> ReadEngineExport(DockerEngine& engine, const std::string& image,
                                             const ReadOptions& options, CancelToken* cancel) {
  ExportStream stream;
  CancelToken engine_cancel;
  if (cancel != nullptr) {
    cancel->SetHook([&] {
      engine_cancel.Cancel();
      stream.Close();
    });
  }
  std::thread producer([&] {
    absl::Status s = engine.ExportImage(
        image, [&](absl::string_view data) { return stream.Push(data); }, &engine_cancel);
    stream.Finish(std::move(s));
  });
  absl::StatusOr<ImageExport> result = ReadImageExport(stream, options);
  // Whatever the reader did not consume is not needed: end the transfer.
  stream.Close();
  if (!result.ok()) engine_cancel.Cancel();
  producer.join();
  if (cancel != nullptr) {
    cancel->ClearHook();
    if (cancel->IsCancelled()) return absl::CancelledError("image analysis cancelled");
  }
  return result;
}

}  // namespace dkd::core
