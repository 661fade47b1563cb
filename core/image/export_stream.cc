// ExportStream (export_stream.h): the engine's image export body, read as it streams
#include "core/image/export_stream.h"

#include <algorithm>
#include <thread>
#include <utility>

#include "absl/strings/str_cat.h"

namespace dkd::core {

ExportStream::ExportStream(size_t chunk_bytes, size_t max_chunks)
    : pipe_(std::max<size_t>(chunk_bytes, 1) * std::max<size_t>(max_chunks, 1)) {}

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
