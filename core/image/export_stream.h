// ExportStream: the ByteSource face of a BytePipe, between a push-style
// producer (the engine's response body, delivered by DockerEngine::ExportImage
// on its own thread) and a pull-style reader (ReadImageExport).
//
// At most chunk_bytes × max_chunks bytes wait in the pipe however large the
// stream is, and a slow reader slows the producer down (back-pressure).
// Errors travel both ways: Finish(error) makes Read return that error once
// the queued bytes are read; Close() makes every later Push return false,
// which ends the engine request.
//
// Thread-safety: one producer thread (Push, Finish) and one reader thread
// (Read); Close may be called from any thread.
#pragma once

#include <cstddef>
#include <string>
#include <utility>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"
#include "core/base/byte_pipe.h"
#include "core/engine/docker_engine.h"
#include "core/image/image_export_reader.h"

namespace dkd::core {

class ExportStream : public ByteSource {
 public:
  explicit ExportStream(size_t chunk_bytes = 1u << 20, size_t max_chunks = 4);

  // Producer: appends `data`, blocking while the pipe is full. Returns false
  // once the reader has closed the stream.
  bool Push(absl::string_view data) { return pipe_.Write(data.data(), data.size()); }
  // Producer: ends the stream with `status` (OK = clean end of data).
  void Finish(absl::Status status) { pipe_.CloseWrite(std::move(status)); }

  // Reader: see ByteSource. Returns the producer's error after the bytes
  // queued before it, Cancelled once the stream is closed.
  absl::StatusOr<size_t> Read(char* buf, size_t len) override { return pipe_.Read(buf, len); }
  // The reader is done: drops queued bytes and unblocks the producer.
  void Close() { pipe_.CloseRead(); }

 private:
  BytePipe pipe_;
};

// Streams `GET /images/{image}/get` into ReadImageExport on a producer
// thread. Cancelling `cancel` aborts the engine request and returns
// Cancelled; a reader error (corrupt data) aborts the request too. Errors:
// the engine's (NotFound, Unavailable, ...) or ReadImageExport's.
absl::StatusOr<ImageExport> ReadEngineExport(DockerEngine& engine, const std::string& image,
                                             const ReadOptions& options, CancelToken* cancel);

}  // namespace dkd::core
