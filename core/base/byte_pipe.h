// BytePipe: a bounded, blocking byte queue that joins a push-style producer
// (a tar writer, an HTTP body callback) to a pull-style consumer on another
// thread. Memory is bounded by `capacity`. Either side can end the pipe with a
// status; the other side sees it. Thread-safe.
#pragma once

#include <cstddef>
#include <deque>
#include <string>

#include "absl/base/thread_annotations.h"
#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/synchronization/mutex.h"

namespace dkd::core {

class BytePipe {
 public:
  explicit BytePipe(size_t capacity = 4 << 20) : capacity_(capacity) {}

  // Blocks while the pipe is full. Returns false once the reader has closed it.
  bool Write(const char* data, size_t len);
  // Ends the stream: OK = clean end of data, otherwise the error the reader gets.
  void CloseWrite(absl::Status status = absl::OkStatus());
  // Blocks until data, end or error. Returns bytes read, 0 at a clean end.
  absl::StatusOr<size_t> Read(char* buf, size_t len);
  // The reader gives up; pending and future writes fail.
  void CloseRead();

 private:
  const size_t capacity_;
  absl::Mutex mu_;
  std::deque<char> buf_ ABSL_GUARDED_BY(mu_);
  bool write_closed_ ABSL_GUARDED_BY(mu_) = false;
  bool read_closed_ ABSL_GUARDED_BY(mu_) = false;
  absl::Status write_status_ ABSL_GUARDED_BY(mu_);
};

}  // namespace dkd::core
