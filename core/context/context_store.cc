// ContextStore (context_store.h): the tar loader, the spool file and the
// file-sync filters.
#include "core/context/context_store.h"

#include <archive.h>
#include <archive_entry.h>
#include <fcntl.h>
#include <fnmatch.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstring>
#include <map>
#include <set>
#include <utility>

#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "absl/strings/str_split.h"
#include "core/base/status_macros.h"
#include "core/context/dockerignore.h"

namespace dkd::core {

namespace {

constexpr uint32_t kGoModeDir = 1u << 31;
constexpr uint32_t kGoModeSymlink = 1u << 27;
constexpr uint32_t kGoModeSetuid = 1u << 23;
constexpr uint32_t kGoModeSetgid = 1u << 22;
constexpr uint32_t kGoModeSticky = 1u << 20;

// Go's path.Clean for `/`-separated paths, relative ones staying relative
// ("" and "." are "."), and ".." at the top of an absolute path dropped.
std::string CleanSlashPath(absl::string_view p) {
  const bool rooted = absl::StartsWith(p, "/");
  std::vector<absl::string_view> out;
  for (absl::string_view part : absl::StrSplit(p, '/', absl::SkipEmpty())) {
    if (part == ".") continue;
    if (part == "..") {
      if (!out.empty() && out.back() != "..") {
        out.pop_back();
      } else if (!rooted) {
        out.push_back(part);
      }
      continue;
    }
    out.push_back(part);
  }
  std::string joined = absl::StrJoin(out, "/");
  if (rooted) return absl::StrCat("/", joined);
  return joined.empty() ? "." : joined;
}

// A path inside the context, as entries name them: "" for the root.
std::string InContext(absl::string_view p) {
  std::string c = CleanSlashPath(absl::StrCat("/", p));
  return c == "/" ? "" : c.substr(1);
}

std::string DirOf(const std::string& p) {
  const size_t slash = p.rfind('/');
  return slash == std::string::npos ? "" : p.substr(0, slash);
}

bool HasWildcard(absl::string_view s) {
  return s.find_first_of("*?[\\") != absl::string_view::npos;
}

struct ArchiveReader {
  struct archive* a = nullptr;
  ~ArchiveReader() {
    if (a != nullptr) archive_read_free(a);
  }
};

struct ReadState {
  const ContextSource* read;
  std::string buf;
  absl::Status status;
};

absl::Status WriteAll(int fd, const char* data, size_t n, const std::string& dir) {
  while (n > 0) {
    const ssize_t w = ::write(fd, data, n);
    if (w < 0) {
      if (errno == EINTR) continue;
      return absl::InternalError(
          absl::StrCat("writing the build context spool in ", dir, ": ", std::strerror(errno)));
    }
    data += w;
    n -= static_cast<size_t>(w);
  }
  return absl::OkStatus();
}

int OpenSpool(const std::string& dir) {
  int fd = ::open(dir.c_str(), O_TMPFILE | O_RDWR | O_CLOEXEC, 0600);
  if (fd >= 0 || (errno != EOPNOTSUPP && errno != EISDIR && errno != EINVAL)) return fd;
  // A file system without O_TMPFILE: a named file, unlinked at once.
  std::string name = absl::StrCat(dir, "/.dkd-context-XXXXXX");
  fd = ::mkostemp(name.data(), O_CLOEXEC);
  if (fd >= 0) ::unlink(name.c_str());
  return fd;
}

}  // namespace

bool WalkOrderLess(const std::string& a, const std::string& b) {
  const size_t n = std::min(a.size(), b.size());
  for (size_t i = 0; i < n; ++i) {
    if (a[i] == b[i]) continue;
    if (a[i] == '/') return true;
    if (b[i] == '/') return false;
    return static_cast<unsigned char>(a[i]) < static_cast<unsigned char>(b[i]);
  }
  return a.size() < b.size();
}

uint32_t GoFileMode(const ContextEntry& e) {
  uint32_t m = e.mode & 0777;
  if (e.mode & S_ISUID) m |= kGoModeSetuid;
  if (e.mode & S_ISGID) m |= kGoModeSetgid;
  if (e.mode & S_ISVTX) m |= kGoModeSticky;
  if (e.type == ContextEntry::Type::kDir) m |= kGoModeDir;
  if (e.type == ContextEntry::Type::kSymlink) m |= kGoModeSymlink;
  return m;
}

ContextStore::~ContextStore() {
  if (fd_ >= 0) ::close(fd_);
}

absl::StatusOr<std::unique_ptr<ContextStore>> ContextStore::Load(const ContextSource& read,
                                                                 const std::string& spool_dir) {
  std::unique_ptr<ContextStore> store(new ContextStore());
  store->fd_ = OpenSpool(spool_dir);
  if (store->fd_ < 0) {
    return absl::InternalError(absl::StrCat("cannot create the build context spool in ", spool_dir,
                                            ": ", std::strerror(errno)));
  }
  ReadState state{&read, std::string(256 * 1024, '\0'), absl::OkStatus()};
  ArchiveReader in;
  in.a = archive_read_new();
  archive_read_support_format_tar(in.a);
  auto reader = [](struct archive* a, void* client, const void** buf) -> la_ssize_t {
    auto* st = static_cast<ReadState*>(client);
    auto got = (*st->read)(st->buf.data(), st->buf.size());
    if (!got.ok()) {
      st->status = got.status();
      archive_set_error(a, EIO, "reading the build context failed");
      return -1;
    }
    *buf = st->buf.data();
    return static_cast<la_ssize_t>(*got);
  };
  auto fail = [&](const std::string& what) -> absl::Status {
    if (!state.status.ok()) return state.status;
    return absl::InvalidArgumentError(
        absl::StrCat("build context: ", what, ": ", archive_error_string(in.a)));
  };
  if (archive_read_open(in.a, &state, nullptr, reader, nullptr) != ARCHIVE_OK) {
    return fail("not a tar");
  }
  std::map<std::string, size_t> by_path;  // Path -> index in entries_.
  std::string data(1 << 20, '\0');
  int64_t spooled = 0;
  for (;;) {
    struct archive_entry* e = nullptr;
    const int r = archive_read_next_header(in.a, &e);
    if (r == ARCHIVE_EOF) break;
    if (r != ARCHIVE_OK && r != ARCHIVE_WARN) return fail("reading an entry");
    ContextEntry entry;
    entry.path = InContext(archive_entry_pathname(e) ? archive_entry_pathname(e) : "");
    entry.mode = archive_entry_perm(e) & 07777;
    entry.uid = static_cast<uint32_t>(archive_entry_uid(e));
    entry.gid = static_cast<uint32_t>(archive_entry_gid(e));
    entry.mtime = archive_entry_mtime(e);
    const char* hardlink = archive_entry_hardlink(e);
    const mode_t type = archive_entry_filetype(e);
    if (hardlink != nullptr) {
      auto target = by_path.find(InContext(hardlink));
      if (target == by_path.end() ||
          store->entries_[target->second].type != ContextEntry::Type::kFile) {
        return absl::InvalidArgumentError(absl::StrCat("build context: ", entry.path,
                                                       ": hard link to a path that is not an "
                                                       "earlier regular file"));
      }
      entry.type = ContextEntry::Type::kFile;
      entry.size = store->entries_[target->second].size;
      entry.offset = store->entries_[target->second].offset;
    } else if (type == AE_IFDIR) {
      entry.type = ContextEntry::Type::kDir;
    } else if (type == AE_IFLNK) {
      entry.type = ContextEntry::Type::kSymlink;
      entry.linkname = archive_entry_symlink(e) ? archive_entry_symlink(e) : "";
    } else if (type == AE_IFREG) {
      entry.type = ContextEntry::Type::kFile;
      entry.offset = spooled;
      for (;;) {
        const la_ssize_t n = archive_read_data(in.a, data.data(), data.size());
        if (n < 0) return fail(absl::StrCat("reading ", entry.path));
        if (n == 0) break;
        RETURN_IF_ERROR(WriteAll(store->fd_, data.data(), static_cast<size_t>(n), spool_dir));
        spooled += n;
      }
      entry.size = spooled - entry.offset;
      store->file_bytes_ += static_cast<uint64_t>(entry.size);
    } else {
      return absl::InvalidArgumentError(
          absl::StrCat("build context: ", entry.path, ": not a file, directory or symlink"));
    }
    if (entry.path.empty()) continue;  // The root itself is never sent.
    if (by_path.count(entry.path) != 0) {
      return absl::InvalidArgumentError(
          absl::StrCat("build context: ", entry.path, " appears twice"));
    }
    by_path.emplace(entry.path, store->entries_.size());
    store->entries_.push_back(std::move(entry));
  }
  // Directories the tar only implies.
  std::vector<ContextEntry> implied;
  std::set<std::string> implied_paths;
  for (const ContextEntry& e : store->entries_) {
    for (std::string dir = DirOf(e.path); !dir.empty(); dir = DirOf(dir)) {
      auto it = by_path.find(dir);
      if (it != by_path.end()) {
        if (store->entries_[it->second].type != ContextEntry::Type::kDir) {
          return absl::InvalidArgumentError(absl::StrCat("build context: ", e.path, " lies under ",
                                                         dir, ", which is not a directory"));
        }
        break;
      }
      if (!implied_paths.insert(dir).second) break;
      ContextEntry d;
      d.path = dir;
      d.type = ContextEntry::Type::kDir;
      d.mode = 0755;
      implied.push_back(std::move(d));
    }
  }
  for (ContextEntry& d : implied) store->entries_.push_back(std::move(d));
  std::sort(
      store->entries_.begin(), store->entries_.end(),
      [](const ContextEntry& a, const ContextEntry& b) { return WalkOrderLess(a.path, b.path); });
  return store;
}

const ContextEntry* ContextStore::Find(const std::string& path) const {
  auto it = std::lower_bound(
      entries_.begin(), entries_.end(), path,
      [](const ContextEntry& e, const std::string& p) { return WalkOrderLess(e.path, p); });
  if (it == entries_.end() || it->path != path) return nullptr;
  return &*it;
}

absl::StatusOr<size_t> ContextStore::ReadAt(const ContextEntry& entry, int64_t offset, char* buf,
                                            size_t len) const {
  if (entry.type != ContextEntry::Type::kFile || offset >= entry.size) return 0;
  len = static_cast<size_t>(std::min<int64_t>(static_cast<int64_t>(len), entry.size - offset));
  for (;;) {
    const ssize_t n = ::pread(fd_, buf, len, entry.offset + offset);
    if (n < 0 && errno == EINTR) continue;
    if (n < 0) {
      return absl::InternalError(
          absl::StrCat("reading the build context spool: ", std::strerror(errno)));
    }
    if (n == 0) {
      return absl::InternalError(absl::StrCat("the build context spool ends inside ", entry.path));
    }
    return static_cast<size_t>(n);
  }
}

void ContextStore::ResolveFollowPath(const std::string& path, int depth,
                                     std::vector<std::string>* resolved) const {
  // BuildKit's resolver: walk the path's elements; where one is a symlink
  // (or a wildcard matching symlinks), keep the link's own path and go on
  // from its target, inside the context.
  if (depth > 64) return;
  std::string rest = CleanSlashPath(path);
  if (rest == ".") rest.clear();
  while (absl::StartsWith(rest, "/")) rest.erase(0, 1);
  std::string current;
  for (;;) {
    const size_t slash = rest.find('/');
    const std::string part = rest.substr(0, slash);
    rest = slash == std::string::npos ? "" : rest.substr(slash + 1);
    current = current.empty() ? part : absl::StrCat(current, "/", part);
    // Symlinks this element names (one, or any a wildcard matches).
    std::vector<const ContextEntry*> links;
    if (HasWildcard(part)) {
      const std::string dir = DirOf(current);
      for (const ContextEntry& e : entries_) {
        if (DirOf(e.path) != dir || e.type != ContextEntry::Type::kSymlink) continue;
        const std::string base = e.path.substr(dir.empty() ? 0 : dir.size() + 1);
        if (::fnmatch(part.c_str(), base.c_str(), FNM_PATHNAME) == 0) links.push_back(&e);
      }
    } else if (const ContextEntry* e = Find(current);
               e != nullptr && e->type == ContextEntry::Type::kSymlink) {
      links.push_back(e);
    }
    const bool seen = std::find(resolved->begin(), resolved->end(), current) != resolved->end();
    if ((rest.empty() || !links.empty()) && seen) return;
    if (!links.empty()) {
      resolved->push_back(current);
      for (const ContextEntry* link : links) {
        const std::string target = absl::StartsWith(link->linkname, "/")
                                       ? link->linkname
                                       : absl::StrCat("/", DirOf(link->path), "/", link->linkname);
        std::string next = InContext(target);
        if (!rest.empty()) next = next.empty() ? rest : absl::StrCat(next, "/", rest);
        ResolveFollowPath(next, depth + 1, resolved);
      }
      return;
    }
    if (rest.empty()) {
      resolved->push_back(current);  // "" is the root: everything.
      return;
    }
  }
}

absl::StatusOr<std::vector<size_t>> ContextStore::Select(const ContextFilter& filter) const {
  std::vector<std::string> includes = filter.include_patterns;
  for (const std::string& p : filter.follow_paths) ResolveFollowPath(p, 0, &includes);
  const bool filtered_in = (!filter.include_patterns.empty() || !filter.follow_paths.empty()) &&
                           std::none_of(includes.begin(), includes.end(), [](const std::string& p) {
                             return p.empty() || p == "." || p == "/";
                           });
  auto include = DockerIgnore::FromPatterns(includes);
  if (!include.ok()) {
    return absl::InvalidArgumentError(
        absl::StrCat("include patterns: ", include.status().message()));
  }
  auto exclude = DockerIgnore::FromPatterns(filter.exclude_patterns);
  if (!exclude.ok()) {
    return absl::InvalidArgumentError(
        absl::StrCat("exclude patterns: ", exclude.status().message()));
  }
  std::vector<size_t> out;
  // The directories on the path to the current entry, and whether each has
  // been sent.
  std::vector<std::pair<size_t, bool>> parents;
  for (size_t i = 0; i < entries_.size(); ++i) {
    const ContextEntry& e = entries_[i];
    while (!parents.empty() &&
           !absl::StartsWith(e.path, absl::StrCat(entries_[parents.back().first].path, "/"))) {
      parents.pop_back();
    }
    // A follow path that resolved to nothing (a missing file) includes
    // nothing; with no include rules at all, everything is in.
    bool in = !filtered_in || (!includes.empty() && include->Excluded(e.path));
    if (in && exclude->Excluded(e.path)) in = false;
    if (in) {
      for (auto& [index, sent] : parents) {
        if (!sent) {
          out.push_back(index);
          sent = true;
        }
      }
      out.push_back(i);
    }
    if (e.type == ContextEntry::Type::kDir) parents.emplace_back(i, in);
  }
  return out;
}

}  // namespace dkd::core
