// ContextStore: a checked build context held on the daemon for BuildKit's
// file-sync protocol, so that the engine fetches only the files a build uses
// and fetches them from what dkd checked.
//
// It is loaded from the plain tar a CanonicalContext writes (every path
// normalized and unique, only files, directories, symlinks and hard links to
// earlier files). File contents go to an anonymous spool file (O_TMPFILE, so
// nothing is left behind if the daemon dies); the entries stay in memory, a
// small record each. Entries are kept in the order BuildKit's receiver
// requires: depth first, each directory's names in byte order, every parent
// before its children. A directory that the tar only implies gets an entry of
// its own (mode 0755, owner 0:0, mtime 0), as the engine creates it when it
// unpacks such a tar; a hard link becomes a regular file with its target's
// content.
//
// Select applies a file-sync request's filters with BuildKit's semantics:
// include patterns and follow paths (symlinks along a follow path are
// resolved inside the context and their targets included) choose what is
// sent, exclude patterns (`.dockerignore` syntax, `!` exceptions) leave
// things out, and the parents of everything sent are sent too.
//
// Immutable once loaded: its const methods are safe from several threads.
#pragma once

#include <cstdint>
#include <memory>
#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "core/context/context_canon.h"

namespace dkd::core {

struct ContextEntry {
  enum class Type { kDir, kFile, kSymlink };
  std::string path;  // Relative, `/`-separated, never empty.
  Type type = Type::kFile;
  uint32_t mode = 0;  // Permission, setuid, setgid and sticky bits (07777).
  uint32_t uid = 0, gid = 0;
  int64_t mtime = 0;     // Seconds since the epoch.
  int64_t size = 0;      // Content bytes of a file; 0 otherwise.
  std::string linkname;  // A symlink's target, as written.
  int64_t offset = 0;    // Where a file's content starts in the spool.
};

struct ContextFilter {
  std::vector<std::string> include_patterns;
  std::vector<std::string> exclude_patterns;
  std::vector<std::string> follow_paths;
};

class ContextStore {
 public:
  // Reads the tar to its end. `spool_dir` holds the anonymous spool file.
  // InvalidArgument for a tar this class does not accept (a device, a hard
  // link to something not yet seen); Internal when the spool cannot be
  // written (the message names the directory).
  static absl::StatusOr<std::unique_ptr<ContextStore>> Load(const ContextSource& read,
                                                            const std::string& spool_dir);
  ~ContextStore();
  ContextStore(const ContextStore&) = delete;
  ContextStore& operator=(const ContextStore&) = delete;

  // Every entry, in walk order.
  const std::vector<ContextEntry>& entries() const { return entries_; }
  // The entry at `path` (normalized), or null.
  const ContextEntry* Find(const std::string& path) const;
  // Indices into entries() of what a request with `filter` receives, in walk
  // order. InvalidArgument for a malformed pattern.
  absl::StatusOr<std::vector<size_t>> Select(const ContextFilter& filter) const;
  // Reads up to `len` bytes of a file entry's content from `offset`; 0 at
  // its end.
  absl::StatusOr<size_t> ReadAt(const ContextEntry& entry, int64_t offset, char* buf,
                                size_t len) const;
  uint64_t file_bytes() const { return file_bytes_; }

 private:
  ContextStore() = default;
  // The paths a follow path reaches once symlinks along it are resolved.
  void ResolveFollowPath(const std::string& path, int depth,
                         std::vector<std::string>* resolved) const;

  int fd_ = -1;
  std::vector<ContextEntry> entries_;
  uint64_t file_bytes_ = 0;
};

// Go's os.FileMode bits for an entry, as BuildKit's file-sync Stat carries them.
uint32_t GoFileMode(const ContextEntry& entry);

// True if `a` comes before `b` in BuildKit's walk order (byte order with `/`
// lowest, so a directory's children follow it directly).
bool WalkOrderLess(const std::string& a, const std::string& b);

}  // namespace dkd::core
