// BytePipe: a bounded, blocking byte queue that joins a push-style producer
// (a tar writer, an HTTP body callback) to a pull-style consumer on another
// thread. Memory is bounded by `capacity`, allocated at the first write, and
// a full pipe blocks the producer (back-pressure). Either side can end the
// pipe: the producer with a status the reader gets after the queued bytes,
// the reader by closing it, which fails every later write. Thread-safe.
#pragma once

#include <cstddef>
#include <memory>

#include "absl/base/thread_annotations.h"
#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/synchronization/mutex.h"

namespace dkd::core {

class BytePipe {
 public:
  explicit BytePipe(size_t capacity = 4 << 20);

  // Blocks while the pipe is full. Returns false once the reader has closed it.
  bool Write(const char* data, size_t len);
  // Ends the stream: OK = clean end of data, otherwise the error the reader
  // gets once it has read what was queued. Later calls are ignored.
  void CloseWrite(absl::Status status = absl::OkStatus());
  // Blocks until data, end or error. Returns bytes read, 0 at a clean end (or
  // for `len` 0); Cancelled once the reader has closed the pipe.
  absl::StatusOr<size_t> Read(char* buf, size_t len);
  // The reader gives up: queued bytes are dropped, pending and future writes
  // fail. Any thread may call it, also while another blocks in Read.
  void CloseRead();

 private:
  const size_t capacity_;
  absl::Mutex mu_;
  // A ring of capacity_ bytes: size_ of them queued from head_ on.
  std::unique_ptr<char[]> ring_ ABSL_GUARDED_BY(mu_);
  size_t head_ ABSL_GUARDED_BY(mu_) = 0;
  size_t size_ ABSL_GUARDED_BY(mu_) = 0;
  bool write_closed_ ABSL_GUARDED_BY(mu_) = false;
  bool read_closed_ ABSL_GUARDED_BY(mu_) = false;
  absl::Status write_status_ ABSL_GUARDED_BY(mu_);
};

}  // namespace dkd::core
