// ContextPacker: turns a build-context directory into the tar stream the
// Engine expects, the way `docker build` does, without ever holding the
// archive in memory or on disk.
//
// Entries are written depth-first with each directory's names in byte order,
// under `/`-separated relative paths, in pax-restricted (ustar, with pax
// records only where needed) format. Regular files, directories and symlinks
// (never followed) keep their mode bits and whole-second mtime, with uid and
// gid 0 and no owner names; a file hard-linked to one already sent becomes a
// hard-link entry; sockets, devices and fifos are skipped. The context's
// `.dockerignore` is honoured, but the Dockerfile and `.dockerignore` are
// always sent, as the CLI does. Output goes to a sink in chunks of at most
// `chunk_size` bytes while the walk proceeds, so memory stays bounded
// whatever the size of the context.
//
// A ContextPacker is not safe for concurrent use; distinct packers are
// independent. Pack may be called more than once (each call walks afresh).
#pragma once

#include <cstddef>
#include <cstdint>
#include <functional>
#include <optional>
#include <string>

#include "absl/status/statusor.h"
#include "core/context/dockerignore.h"

namespace dkd::core {

// Receives consecutive pieces of the tar stream. Returning false cancels the
// pack, which then fails with Cancelled.
using ContextSink = std::function<bool(const char* data, size_t len)>;

// Totals so far (during a pack) or for the whole stream (at the end).
struct ContextStats {
  uint64_t entries = 0;     // tar members of any type
  uint64_t files = 0;       // regular files, including the extra Dockerfile
  uint64_t file_bytes = 0;  // content bytes of those files
  uint64_t tar_bytes = 0;   // bytes handed to the sink
};

// Called after every chunk handed to the sink, and once at the end.
using ContextProgress = std::function<void(const ContextStats&)>;

struct ContextPackOptions {
  // Path of the Dockerfile relative to the context, `/`-separated. It is sent
  // even if `.dockerignore` excludes it. Ignored once AddExternalDockerfile
  // has been called.
  std::string dockerfile = "Dockerfile";
  // Upper bound on the size of each piece handed to the sink (at least 512).
  size_t chunk_size = 64 * 1024;
  // Check that every file to be sent can be read before the first byte goes
  // to the sink, as `docker build` does, so a bad context sends nothing.
  bool check_readable_first = true;
  // Opens a regular file for reading and returns a descriptor, or -1 with
  // errno set. Defaults to open(2) with O_RDONLY | O_NOFOLLOW | O_CLOEXEC;
  // tests replace it to inject failures.
  std::function<int(const std::string& path)> open_file;
};

class ContextPacker {
 public:
  // Prepares to pack `context_dir` (symlinks in the path itself are
  // followed). Reads and parses `<context_dir>/.dockerignore` if present.
  // Returns InvalidArgument if the directory is missing or not a directory,
  // or if `.dockerignore` is malformed; PermissionDenied if it is unreadable.
  static absl::StatusOr<ContextPacker> Create(const std::string& context_dir,
                                              ContextPackOptions options = {});

  // Adds a Dockerfile that lives outside the context, held in memory, under a
  // fresh random name `.dockerfile.<20 hex digits>`, which is returned and is
  // what the Engine must be told to use. As the CLI does, that name is also
  // appended to the `.dockerignore` that is sent (one is added if the context
  // has none) so the Engine leaves the file out of the final build context.
  // Calling it again replaces the previous content and name.
  std::string AddExternalDockerfile(std::string content);

  // Walks the context and writes the tar stream to `sink`. Returns the
  // totals. Fails with Cancelled if the sink returned false; PermissionDenied
  // or NotFound naming the path if a file or directory cannot be read;
  // Aborted if a file changed size while being sent. `progress` may be null.
  absl::StatusOr<ContextStats> Pack(const ContextSink& sink,
                                    const ContextProgress& progress = nullptr) const;

  // The rules in force, including the exceptions that keep the Dockerfile
  // and `.dockerignore`.
  const DockerIgnore& ignore() const { return ignore_; }

  // The name the Engine should be given for the Dockerfile: the external
  // name if one was added, otherwise `options.dockerfile`.
  const std::string& dockerfile_name() const;

 private:
  ContextPacker() = default;

  std::string root_;
  ContextPackOptions options_;
  DockerIgnore ignore_;
  DockerIgnore base_ignore_;  // before the keep rules
  std::optional<std::string> dockerignore_text_;
  std::string external_name_;
  std::optional<std::string> external_content_;
};

// Returns a new `.dockerfile.<20 lowercase hex digits>` name.
std::string RandomDockerfileName();

}  // namespace dkd::core
