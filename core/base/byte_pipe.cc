// BytePipe (byte_pipe.h): the bounded blocking write, read and the close of
// either side.
#include "core/base/byte_pipe.h"

#include <algorithm>

namespace dkd::core {

bool BytePipe::Write(const char* data, size_t len) {
  while (len > 0) {
    absl::MutexLock lock(&mu_);
    mu_.Await(absl::Condition(
        +[](BytePipe* p) ABSL_EXCLUSIVE_LOCKS_REQUIRED(p->mu_) {
          return p->read_closed_ || p->buf_.size() < p->capacity_;
        },
        this));
    if (read_closed_) return false;
    const size_t take = std::min(len, capacity_ - buf_.size());
    buf_.insert(buf_.end(), data, data + take);
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
  absl::MutexLock lock(&mu_);
  mu_.Await(absl::Condition(
      +[](BytePipe* p)
           ABSL_EXCLUSIVE_LOCKS_REQUIRED(p->mu_) { return !p->buf_.empty() || p->write_closed_; },
      this));
  if (buf_.empty()) {
    if (!write_status_.ok()) return write_status_;
    return size_t{0};
  }
  const size_t take = std::min(len, buf_.size());
  std::copy_n(buf_.begin(), take, out);
  buf_.erase(buf_.begin(), buf_.begin() + static_cast<std::ptrdiff_t>(take));
  return take;
}

void BytePipe::CloseRead() {
  absl::MutexLock lock(&mu_);
  read_closed_ = true;
  buf_.clear();
}

}  // namespace dkd::core
