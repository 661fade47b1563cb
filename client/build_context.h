// BuildContext: a local directory made ready to be streamed as the context
// of a build, as `docker build PATH` does: `.dockerignore` honoured, the
// Dockerfile always sent, one that lives outside the directory sent along
// under a generated name. Packing is lazy and bounded in memory (see
// core::ContextPacker). Not thread-safe; Pack may be called more than once.
#pragma once

#include <string>

#include "absl/status/statusor.h"
#include "core/context/context_tar.h"

namespace dkd::client {

class BuildContext {
 public:
  // Prepares `context_dir` with the Dockerfile `dockerfile` (a path as the
  // user gave it, relative to the working directory; "" for
  // `<context_dir>/Dockerfile`). NotFound "Cannot locate specified
  // Dockerfile: …" when it is not a regular file; the packer's errors
  // (InvalidArgument for a missing directory or a bad `.dockerignore`,
  // PermissionDenied for an unreadable one) otherwise. Messages fit after
  // "unable to prepare context: ".
  static absl::StatusOr<BuildContext> Open(const std::string& context_dir,
                                           const std::string& dockerfile);

  // The name the engine must be given for the Dockerfile.
  const std::string& dockerfile_name() const { return packer_.dockerfile_name(); }

  // Writes the tar stream to `sink`; see core::ContextPacker::Pack.
  absl::StatusOr<core::ContextStats> Pack(const core::ContextSink& sink,
                                          const core::ContextProgress& progress) const {
    return packer_.Pack(sink, progress);
  }

 private:
  explicit BuildContext(core::ContextPacker packer) : packer_(std::move(packer)) {}
  core::ContextPacker packer_;
};

}  // namespace dkd::client
