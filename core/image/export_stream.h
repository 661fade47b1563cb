// ExportStream: a bounded pipe between a push-style producer (the engine's
// response body, delivered by EngineClient::Stream on its own thread) and a
// pull-style ByteSource reader (ReadImageExport).
//
// The producer's bytes are gathered into chunks of `chunk_bytes`; at most
// `max_chunks` wait in the queue, so memory stays at about
// chunk_bytes × (max_chunks + 2) however large the stream is, and a slow
// reader slows the producer down (back-pressure). Errors travel both ways:
// Finish(error) makes Read return that error once the queued bytes are read;
// Close() makes every later Push return false, which ends the engine request.
//
// Thread-safety: one producer thread (Push, Finish) and one reader thread
// (Read); Close may be called from any thread.
#pragma once

#include <atomic>
#include <deque>
#include <string>

#include "absl/base/thread_annotations.h"
#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"
#include "absl/synchronization/mutex.h"
#include "core/engine/docker_engine.h"
#include "core/image/image_export_reader.h"

namespace dkd::core {

class ExportStream : public ByteSource {
 public:
  explicit ExportStream(size_t chunk_bytes = 1u << 20, size_t max_chunks = 4);

  // Producer: appends `data`, blocking while the queue is full. Returns false
  // once the reader has closed the stream.
  bool Push(absl::string_view data);
  // Producer: ends the stream with `status` (OK = clean end of data).
  void Finish(absl::Status status);

  // Reader: see ByteSource. Returns the producer's error after the bytes
  // queued before it.
  absl::StatusOr<size_t> Read(char* buf, size_t len) override;
  // The reader is done: drops queued bytes and unblocks the producer.
  void Close();

 private:
  bool Flush();  // producer: queues `filling_`

  const size_t chunk_bytes_;
  const size_t max_chunks_;
  std::string filling_;  // producer only
  std::string current_;  // reader only
  size_t pos_ = 0;       // reader only
  std::atomic<bool> reader_closed_{false};

  absl::Mutex mu_;
  std::deque<std::string> queue_ ABSL_GUARDED_BY(mu_);
  bool done_ ABSL_GUARDED_BY(mu_) = false;
  bool closed_ ABSL_GUARDED_BY(mu_) = false;
  absl::Status final_ ABSL_GUARDED_BY(mu_);
};

// Streams `GET /images/{image}/get` into ReadImageExport on a producer
// thread. Cancelling `cancel` aborts the engine request and returns
// Cancelled; a reader error (corrupt data) aborts the request too. Errors:
// the engine's (NotFound, Unavailable, ...) or ReadImageExport's.
absl::StatusOr<ImageExport> ReadEngineExport(DockerEngine& engine, const std::string& image,
                                             const ReadOptions& options, CancelToken* cancel);

}  // namespace dkd::core
