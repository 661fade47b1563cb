// BytePipe: the bounded queue, a ring buffer under one mutex.
#include "core/base/byte_pipe.h"

#include <algorithm>
#include <cstring>
#include <utility>

namespace dkd::core {

BytePipe::BytePipe(size_t capacity) : capacity_(std::max<size_t>(capacity, 1)) {}

bool BytePipe::Write(const char* data, size_t len) {
  absl::MutexLock lock(&mu_);
  if (len == 0) return !read_closed_;
  while (len > 0) {
    mu_.Await(absl::Condition(
        +[](BytePipe* p) ABSL_EXCLUSIVE_LOCKS_REQUIRED(p->mu_) {
          return p->read_closed_ || p->size_ < p->capacity_;
        },
        this));
    if (read_closed_) return false;
    if (ring_ == nullptr) ring_.reset(new char[capacity_]);  // Left uninitialized.
    const size_t take = std::min(len, capacity_ - size_);
    // The free space starts after the queued bytes and may wrap around.
    const size_t tail = (head_ + size_) % capacity_;
    const size_t first = std::min(take, capacity_ - tail);
    std::memcpy(ring_.get() + tail, data, first);
    if (take > first) std::memcpy(ring_.get(), data + first, take - first);
    size_ += take;
    data += take;
    len -= take;
  }
  return true;
}

void BytePipe::CloseWrite(absl::Status status) {
  absl::MutexLock lock(&mu_);
  if (write_closed_) return;
  write_closed_ = true;
  write_status_ = std::move(status);
}

absl::StatusOr<size_t> BytePipe::Read(char* out, size_t len) {
  if (len == 0) return size_t{0};
  absl::MutexLock lock(&mu_);
  mu_.Await(absl::Condition(
      +[](BytePipe* p) ABSL_EXCLUSIVE_LOCKS_REQUIRED(p->mu_) {
        return p->size_ > 0 || p->write_closed_ || p->read_closed_;
      },
      this));
  if (read_closed_) return absl::CancelledError("byte pipe closed by its reader");
  if (size_ == 0) {
    if (!write_status_.ok()) return write_status_;
    return size_t{0};
  }
  const size_t take = std::min(len, size_);
  const size_t first = std::min(take, capacity_ - head_);
  std::memcpy(out, ring_.get() + head_, first);
  if (take > first) std::memcpy(out + first, ring_.get(), take - first);
  head_ = (head_ + take) % capacity_;
  size_ -= take;
  if (size_ == 0) head_ = 0;
  return take;
}

void BytePipe::CloseRead() {
  absl::MutexLock lock(&mu_);
  read_closed_ = true;
  ring_.reset();
  head_ = 0;
  size_ = 0;
}

}  // namespace dkd::core
