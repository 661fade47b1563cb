// CanonicalContext: re-serializes a build context as the one tar the engine
// will receive, so that what dkd checks is exactly what the engine unpacks.
//
// The input is any tar the engine would accept (ustar, pax or GNU; plain or
// gzip, bzip2, xz or zstd compressed); the output is always a plain
// pax-restricted tar in which
//   - every path is normalized ("./", leading "/", doubled and trailing "/"
//     removed) and no path has a ".." component;
//   - each path appears once: a second entry for a path is InvalidArgument
//     naming it, whatever the header tricks used to spell it;
//   - no entry lies under a path that is not a directory (a symlink, file or
//     hard link), even when that directory was only implied by an earlier
//     entry;
//   - entries are regular files, directories, symlinks, or hard links to an
//     earlier regular file; devices, fifos and sockets are InvalidArgument;
//   - only path, type, mode, uid, gid, mtime (whole seconds), size and link
//     name are written: no xattrs, ACLs, owner names or other pax records.
// The Dockerfile (the requested path, "Dockerfile" by default; like the
// engine, "dockerfile" when "Dockerfile" is absent) must be a regular file of
// at most 4 MiB with no symlinked ancestor; it is handed to a check as soon as
// it is complete. The end-of-archive marker is released only after that check
// and every rule above passed for the whole input, so a refused build never
// gives the engine a complete tar. With a byte limit, both the decompressed
// input and the canonical output are counted; going over is ResourceExhausted
// naming limits.max_context_bytes.
//
// Memory is bounded (one block of input and its output at a time, plus one
// small record per path, for at most `max_entries` paths: more is
// ResourceExhausted). Not thread-safe: one CanonicalContext per build.
#pragma once

#include <cstdint>
#include <functional>
#include <map>
#include <memory>
#include <string>

#include "absl/status/status.h"
#include "absl/status/statusor.h"

namespace dkd::core {

// Reads up to `len` bytes of the caller's context into `buf`; 0 at the end.
using ContextSource = std::function<absl::StatusOr<size_t>(char* buf, size_t len)>;
// Decides on the Dockerfile (its path in the context and its text).
using DockerfileCheck =
    std::function<absl::Status(const std::string& path, const std::string& text)>;

struct CanonicalContextOptions {
  std::string dockerfile;  // As requested; "" means "Dockerfile".
  int64_t max_bytes = 0;   // 0 = unlimited.
  uint64_t max_dockerfile_bytes = 4 << 20;
  // Paths are remembered to refuse duplicates; this bounds that memory.
  size_t max_entries = 1000000;
};

// "a//b/./c/" -> "a/b/c"; leading "./" and "/" dropped. InvalidArgument when
// a component is "..".
absl::StatusOr<std::string> NormalizeContextPath(const std::string& path);

class CanonicalContext {
 public:
  CanonicalContext(ContextSource source, CanonicalContextOptions options, DockerfileCheck check);
  ~CanonicalContext();
  CanonicalContext(const CanonicalContext&) = delete;
  CanonicalContext& operator=(const CanonicalContext&) = delete;

  // Fills `buf` with up to `len` bytes of the canonical tar; 0 once it is
  // complete. An error refuses the build: the caller must stop sending and
  // every later call returns the same error.
  absl::StatusOr<size_t> Read(char* buf, size_t len);

  // The Dockerfile path the engine is told to use (normalized request).
  const std::string& requested_dockerfile() const { return requested_; }
  // The Dockerfile path that was checked (after the "dockerfile" fallback);
  // empty until found.
  const std::string& checked_dockerfile() const { return checked_; }
  uint64_t bytes_out() const { return bytes_out_; }

 private:
  struct Impl;
  enum class Kind { kDir, kImpliedDir, kFile, kOther };

  absl::Status Step();
  absl::Status Open();
  absl::Status NextEntry();
  absl::Status CopyData();
  absl::Status Finish();
  absl::Status AddPath(const std::string& path, Kind kind);
  absl::Status Decide(const std::string& path);
  absl::Status CheckLimit();

  ContextSource source_;
  const CanonicalContextOptions options_;
  DockerfileCheck check_;
  std::string requested_;
  std::string checked_;
  std::unique_ptr<Impl> impl_;
  absl::Status status_;
  std::string out_;
  size_t out_off_ = 0;
  uint64_t bytes_out_ = 0;
  bool done_ = false;
  bool decided_ = false;
  // Per path: what it is. Hard-link targets must be kFile.
  std::map<std::string, Kind> paths_;
  // The entry whose data is being copied, and the Dockerfile candidate text.
  int64_t data_left_ = 0;
  std::string capture_path_;
  std::string capture_;
  std::map<std::string, std::string> candidates_;  // path -> complete text
};

}  // namespace dkd::core
