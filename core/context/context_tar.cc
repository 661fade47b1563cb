// ContextPacker (context_tar.h): walking the context directory and streaming
// its tar in bounded chunks, `.dockerignore` and external Dockerfile included.
#include "core/context/context_tar.h"

#include <archive.h>
#include <archive_entry.h>
#include <dirent.h>
#include <fcntl.h>
#include <limits.h>
#include <locale.h>
#include <stdlib.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <ctime>
#include <map>
#include <memory>
#include <random>
#include <utility>
#include <vector>

#include "absl/status/status.h"
#include "absl/strings/str_cat.h"

namespace dkd::core {
namespace {

constexpr size_t kMaxDockerignoreSize = 8 << 20;
constexpr size_t kReadBufferSize = 64 * 1024;

// Closes a descriptor on scope exit.
class Fd {
 public:
  explicit Fd(int fd) : fd_(fd) {}
  ~Fd() {
    if (fd_ >= 0) ::close(fd_);
  }
  Fd(const Fd&) = delete;
  Fd& operator=(const Fd&) = delete;
  int get() const { return fd_; }

 private:
  int fd_;
};

absl::Status ErrnoError(int err, const char* what, const std::string& path) {
  return absl::ErrnoToStatus(err, absl::StrCat(what, " '", path, "'"));
}

// Opens the directory at absolute `path` one component at a time, refusing a
// symbolic link anywhere on the way, so the descriptor is the directory that
// path names now, not wherever a link swapped in after a realpath() leads.
int OpenDirNoFollow(const std::string& path) {
  int fd = ::open("/", O_RDONLY | O_DIRECTORY | O_CLOEXEC);
  if (fd < 0) return -1;
  size_t pos = 0;
  while (pos < path.size()) {
    while (pos < path.size() && path[pos] == '/') ++pos;
    if (pos >= path.size()) break;
    size_t end = path.find('/', pos);
    if (end == std::string::npos) end = path.size();
    const std::string part = path.substr(pos, end - pos);
    pos = end;
    const int next = ::openat(fd, part.c_str(), O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
    const int err = errno;
    ::close(fd);
    if (next < 0) {
      errno = err;
      return -1;
    }
    fd = next;
  }
  return fd;
}

// One entry found by the walk. Everything is reached through `dir_fd`, the
// open parent directory, never by path: a directory swapped for a symbolic
// link while the walk runs cannot lead it outside the context.
struct WalkEntry {
  std::string rel;  // relative to the context root, `/`-separated
  std::string abs;  // for messages and the open_file test hook only
  std::string name;
  int dir_fd = -1;
  struct stat st;
};

int OpenEntry(const ContextPackOptions& options, const WalkEntry& e) {
  if (options.open_file) return options.open_file(e.abs);
  // O_NONBLOCK: a path swapped for a fifo after lstat must not hang the walk.
  return ::openat(e.dir_fd, e.name.c_str(), O_RDONLY | O_NOFOLLOW | O_CLOEXEC | O_NONBLOCK);
}

using Visitor = std::function<absl::Status(const WalkEntry&)>;

// Depth-first walk in byte order, applying the ignore rules the way the
// Engine's archiver does: an excluded file is dropped; an excluded directory
// is dropped wholesale unless an exception may re-include something below
// it, in which case only its own entry is dropped. `dir_fd` is the open
// directory `abs_dir` names; the walk does not close it.
absl::Status WalkDir(int dir_fd, const std::string& abs_dir, const std::string& rel_dir,
                     const DockerIgnore& ignore, const DockerIgnore::MatchState& parent,
                     const Visitor& visit) {
  std::vector<std::string> names;
  {
    const int list_fd = ::dup(dir_fd);
    if (list_fd < 0) return ErrnoError(errno, "can't read directory", abs_dir);
    DIR* dir = ::fdopendir(list_fd);
    if (dir == nullptr) {
      const int err = errno;
      ::close(list_fd);
      return ErrnoError(err, "can't read directory", abs_dir);
    }
    ::rewinddir(dir);
    errno = 0;
    while (const struct dirent* d = ::readdir(dir)) {
      const std::string name = d->d_name;
      if (name != "." && name != "..") names.push_back(name);
    }
    const int err = errno;
    ::closedir(dir);
    if (err != 0) return ErrnoError(err, "can't read directory", abs_dir);
  }
  std::sort(names.begin(), names.end());
  for (const std::string& name : names) {
    WalkEntry e;
    e.rel = rel_dir.empty() ? name : absl::StrCat(rel_dir, "/", name);
    e.abs = absl::StrCat(abs_dir, "/", name);
    e.name = name;
    e.dir_fd = dir_fd;
    if (::fstatat(dir_fd, name.c_str(), &e.st, AT_SYMLINK_NOFOLLOW) != 0) {
      if (errno == ENOENT) continue;  // removed since the directory was read
      return ErrnoError(errno, "can't stat", e.abs);
    }
    const bool is_dir = S_ISDIR(e.st.st_mode);
    auto descend = [&](const DockerIgnore::MatchState& state) -> absl::Status {
      Fd sub(::openat(dir_fd, name.c_str(), O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC));
      struct stat now;
      if (sub.get() < 0 || ::fstat(sub.get(), &now) != 0 || now.st_dev != e.st.st_dev ||
          now.st_ino != e.st.st_ino) {
        return absl::AbortedError(
            absl::StrCat("'", e.abs, "' changed while the context was being sent"));
      }
      return WalkDir(sub.get(), e.abs, e.rel, ignore, state, visit);
    };
    DockerIgnore::MatchState state;
    if (ignore.ExcludedInWalk(e.rel, parent, &state)) {
      if (is_dir && ignore.MustDescend(e.rel)) {
        if (absl::Status s = descend(state); !s.ok()) return s;
      }
      continue;
    }
    if (absl::Status s = visit(e); !s.ok()) return s;
    if (is_dir) {
      if (absl::Status s = descend(state); !s.ok()) return s;
    }
  }
  return absl::OkStatus();
}

// Walks the context rooted at the absolute, symlink-free `root`.
absl::Status WalkContext(const std::string& root, const DockerIgnore& ignore,
                         const Visitor& visit) {
  Fd fd(OpenDirNoFollow(root));
  if (fd.get() < 0) return ErrnoError(errno, "can't open the context directory", root);
  return WalkDir(fd.get(), root, "", ignore, {}, visit);
}

// State of one Pack call, shared with libarchive's write callback.
struct PackRun {
  archive* a = nullptr;
  const ContextSink* sink = nullptr;
  const ContextProgress* progress = nullptr;
  size_t chunk_size = 0;
  ContextStats stats;
  bool cancelled = false;  // the sink said stop
  bool stopped = false;    // no more output, for whatever reason
  std::map<std::pair<dev_t, ino_t>, std::string> links;
  std::vector<char> buffer;

  ~PackRun() {
    stopped = true;  // an abandoned stream must not get a tar trailer
    if (a != nullptr) archive_write_free(a);
  }

  absl::Status ArchiveError(const std::string& what) const {
    if (cancelled) return absl::CancelledError("build context upload cancelled");
    const char* msg = archive_error_string(a);
    return absl::InternalError(absl::StrCat(what, ": ", msg != nullptr ? msg : "tar error"));
  }
};

la_ssize_t WriteToSink(archive* a, void* data, const void* buf, size_t len) {
  auto* run = static_cast<PackRun*>(data);
  if (run->stopped) {
    archive_set_error(a, ECANCELED, "output stopped");
    return -1;
  }
  const char* p = static_cast<const char*>(buf);
  for (size_t left = len; left > 0;) {
    const size_t n = std::min(left, run->chunk_size);
    if (!(*run->sink)(p, n)) {
      run->cancelled = run->stopped = true;
      archive_set_error(a, ECANCELED, "cancelled by the receiver");
      return -1;
    }
    p += n;
    left -= n;
    run->stats.tar_bytes += n;
    if (*run->progress) (*run->progress)(run->stats);
  }
  return static_cast<la_ssize_t>(len);
}

// Switches the calling thread (only) to a UTF-8 character type for its
// lifetime, so libarchive records UTF-8 names in pax headers as UTF-8 rather
// than falling back to `hdrcharset=BINARY` records under the "C" locale.
class ScopedUtf8Locale {
 public:
  ScopedUtf8Locale() : utf8_(::newlocale(LC_CTYPE_MASK, "C.UTF-8", nullptr)) {
    if (utf8_ != nullptr) previous_ = ::uselocale(utf8_);
  }
  ~ScopedUtf8Locale() {
    if (utf8_ == nullptr) return;
    ::uselocale(previous_);
    ::freelocale(utf8_);
  }
  ScopedUtf8Locale(const ScopedUtf8Locale&) = delete;
  ScopedUtf8Locale& operator=(const ScopedUtf8Locale&) = delete;

 private:
  locale_t utf8_;
  locale_t previous_ = nullptr;
};

using EntryPtr = std::unique_ptr<archive_entry, decltype(&archive_entry_free)>;

// A header with the ownership and timestamps the CLI uses: uid/gid 0, no
// owner names, whole-second mtime, no atime or ctime.
EntryPtr NewEntry(const std::string& path, mode_t mode, time_t mtime) {
  EntryPtr e(archive_entry_new(), &archive_entry_free);
  archive_entry_copy_pathname(e.get(), path.c_str());
  archive_entry_set_mode(e.get(), mode);
  archive_entry_set_uid(e.get(), 0);
  archive_entry_set_gid(e.get(), 0);
  archive_entry_set_mtime(e.get(), mtime, 0);
  archive_entry_set_size(e.get(), 0);
  return e;
}

absl::Status WriteHeader(PackRun& run, archive_entry* e) {
  if (archive_write_header(run.a, e) < ARCHIVE_WARN) {
    return run.ArchiveError(absl::StrCat("writing header for '", archive_entry_pathname(e), "'"));
  }
  ++run.stats.entries;
  return absl::OkStatus();
}

absl::Status WriteMemoryFile(PackRun& run, const std::string& name, mode_t perm, time_t mtime,
                             std::string_view content) {
  EntryPtr e = NewEntry(name, AE_IFREG | perm, mtime);
  archive_entry_set_size(e.get(), static_cast<la_int64_t>(content.size()));
  if (absl::Status s = WriteHeader(run, e.get()); !s.ok()) return s;
  ++run.stats.files;
  if (!content.empty() && archive_write_data(run.a, content.data(), content.size()) < 0) {
    return run.ArchiveError(absl::StrCat("writing '", name, "'"));
  }
  run.stats.file_bytes += content.size();
  return absl::OkStatus();
}

absl::Status WriteRegularFile(PackRun& run, const ContextPackOptions& options,
                              const WalkEntry& entry) {
  const std::pair<dev_t, ino_t> key(entry.st.st_dev, entry.st.st_ino);
  if (entry.st.st_nlink > 1) {
    if (auto it = run.links.find(key); it != run.links.end()) {
      EntryPtr e = NewEntry(entry.rel, AE_IFREG | (entry.st.st_mode & 07777), entry.st.st_mtime);
      archive_entry_copy_hardlink(e.get(), it->second.c_str());
      return WriteHeader(run, e.get());
    }
  }
  Fd fd(OpenEntry(options, entry));
  if (fd.get() < 0) return ErrnoError(errno, "no permission to read from", entry.abs);
  struct stat st;
  if (::fstat(fd.get(), &st) != 0) return ErrnoError(errno, "can't stat", entry.abs);
  if (!S_ISREG(st.st_mode) || st.st_dev != entry.st.st_dev || st.st_ino != entry.st.st_ino) {
    return absl::AbortedError(absl::StrCat("'", entry.abs, "' changed"));
  }
  EntryPtr e = NewEntry(entry.rel, AE_IFREG | (st.st_mode & 07777), st.st_mtime);
  archive_entry_set_size(e.get(), static_cast<la_int64_t>(st.st_size));
  if (absl::Status s = WriteHeader(run, e.get()); !s.ok()) return s;
  ++run.stats.files;
  // Exactly st_size bytes are sent: a file that grows is cut at its size
  // when opened, one that shrinks can no longer fill its header.
  for (uint64_t left = static_cast<uint64_t>(st.st_size); left > 0;) {
    const size_t want = static_cast<size_t>(std::min<uint64_t>(left, run.buffer.size()));
    const ssize_t n = ::read(fd.get(), run.buffer.data(), want);
    if (n < 0 && errno == EINTR) continue;
    if (n < 0) return ErrnoError(errno, "error reading", entry.abs);
    if (n == 0) {
      return absl::AbortedError(absl::StrCat("'", entry.abs, "' shrank while being sent"));
    }
    if (archive_write_data(run.a, run.buffer.data(), static_cast<size_t>(n)) < 0) {
      return run.ArchiveError(absl::StrCat("writing '", entry.rel, "'"));
    }
    left -= static_cast<uint64_t>(n);
    run.stats.file_bytes += static_cast<uint64_t>(n);
  }
  if (st.st_nlink > 1) run.links.emplace(key, entry.rel);
  return absl::OkStatus();
}

absl::Status CheckReadable(const ContextPackOptions& options, const WalkEntry& entry) {
  if (!S_ISREG(entry.st.st_mode)) return absl::OkStatus();
  Fd fd(OpenEntry(options, entry));
  if (fd.get() < 0) return ErrnoError(errno, "no permission to read from", entry.abs);
  return absl::OkStatus();
}

}  // namespace

std::string RandomDockerfileName() {
  std::random_device rd;
  std::string name = ".dockerfile.";
  static constexpr char kHex[] = "0123456789abcdef";
  for (int i = 0; i < 20; ++i) name += kHex[rd() % 16];
  return name;
}

absl::StatusOr<ContextPacker> ContextPacker::Create(const std::string& context_dir,
                                                    ContextPackOptions options) {
  ContextPacker packer;
  char resolved[PATH_MAX];
  if (::realpath(context_dir.c_str(), resolved) == nullptr) {
    return absl::InvalidArgumentError(
        absl::StrCat("unable to evaluate symlinks in context path '", context_dir, "'"));
  }
  packer.root_ = resolved;
  struct stat st;
  if (::stat(packer.root_.c_str(), &st) != 0 || !S_ISDIR(st.st_mode)) {
    return absl::InvalidArgumentError(
        absl::StrCat("context must be a directory: '", packer.root_, "'"));
  }
  options.chunk_size = std::max<size_t>(options.chunk_size, 512);
  packer.options_ = std::move(options);

  const std::string ignore_path = packer.root_ + "/.dockerignore";
  Fd root_fd(OpenDirNoFollow(packer.root_));
  if (root_fd.get() < 0) return ErrnoError(errno, "can't open the context directory", packer.root_);
  // Never through a symbolic link: the packer may run with more rights than
  // whoever made the context, and the file's lines appear in error messages.
  Fd fd(::openat(root_fd.get(), ".dockerignore", O_RDONLY | O_NOFOLLOW | O_CLOEXEC | O_NONBLOCK));
  if (fd.get() < 0 && errno == ELOOP) {
    return absl::InvalidArgumentError(absl::StrCat(
        "'", ignore_path, "' is a symbolic link; it must be a regular file in the context"));
  }
  if (fd.get() < 0 && errno != ENOENT) return ErrnoError(errno, "can't read", ignore_path);
  if (fd.get() >= 0) {
    struct stat ist;
    if (::fstat(fd.get(), &ist) != 0 || !S_ISREG(ist.st_mode)) {
      return absl::InvalidArgumentError(absl::StrCat("'", ignore_path, "' must be a regular file"));
    }
    std::string text;
    char buf[8192];
    while (true) {
      const ssize_t n = ::read(fd.get(), buf, sizeof buf);
      if (n < 0 && errno == EINTR) continue;
      if (n < 0) return ErrnoError(errno, "can't read", ignore_path);
      if (n == 0) break;
      text.append(buf, static_cast<size_t>(n));
      if (text.size() > kMaxDockerignoreSize) {
        return absl::InvalidArgumentError(absl::StrCat("'", ignore_path, "' is too large"));
      }
    }
    absl::StatusOr<DockerIgnore> parsed = DockerIgnore::Parse(text);
    if (!parsed.ok()) return parsed.status();
    packer.base_ignore_ = *std::move(parsed);
    packer.dockerignore_text_ = std::move(text);
  }
  packer.ignore_ = packer.base_ignore_;
  packer.ignore_.KeepPath(".dockerignore");
  const std::string dockerfile = CleanPath(packer.options_.dockerfile);
  if (dockerfile != ".." && dockerfile.rfind("../", 0) != 0 && dockerfile[0] != '/') {
    packer.ignore_.KeepPath(dockerfile);
  }
  return packer;
}

std::string ContextPacker::AddExternalDockerfile(std::string content) {
  external_name_ = RandomDockerfileName();
  external_content_ = std::move(content);
  // Only `.dockerignore` is kept now; the in-context Dockerfile is not used.
  ignore_ = base_ignore_;
  ignore_.KeepPath(".dockerignore");
  return external_name_;
}

const std::string& ContextPacker::dockerfile_name() const {
  return external_content_ ? external_name_ : options_.dockerfile;
}

absl::StatusOr<ContextStats> ContextPacker::Pack(const ContextSink& sink,
                                                 const ContextProgress& progress) const {
  if (options_.check_readable_first) {
    const Visitor check = [this](const WalkEntry& e) { return CheckReadable(options_, e); };
    if (absl::Status s = WalkContext(root_, ignore_, check); !s.ok()) return s;
  }

  // Declared before `run` so that the writer is freed under the same locale.
  ScopedUtf8Locale locale;
  PackRun run;
  run.sink = &sink;
  run.progress = &progress;
  run.chunk_size = options_.chunk_size;
  run.buffer.resize(kReadBufferSize);
  run.a = archive_write_new();
  if (run.a == nullptr) return absl::ResourceExhaustedError("cannot allocate a tar writer");
  if (archive_write_set_format_pax_restricted(run.a) != ARCHIVE_OK ||
      archive_write_set_bytes_per_block(run.a, static_cast<int>(run.chunk_size)) != ARCHIVE_OK ||
      archive_write_set_bytes_in_last_block(run.a, 1) != ARCHIVE_OK ||
      archive_write_open(run.a, &run, nullptr, &WriteToSink, nullptr) != ARCHIVE_OK) {
    return run.ArchiveError("setting up the tar writer");
  }

  const time_t now = ::time(nullptr);
  const std::string ignore_append =
      external_content_ ? absl::StrCat("\n", external_name_, "\n") : std::string();
  bool sent_dockerignore = false;
  const Visitor write = [&](const WalkEntry& e) -> absl::Status {
    const mode_t perm = e.st.st_mode & 07777;
    if (e.rel == ".dockerignore" && external_content_ && !S_ISDIR(e.st.st_mode)) {
      // Sent as read at Create, plus the external Dockerfile's name.
      sent_dockerignore = true;
      const mode_t mode = S_ISREG(e.st.st_mode) ? perm : 0600;
      return WriteMemoryFile(run, e.rel, mode, e.st.st_mtime,
                             dockerignore_text_.value_or(".dockerignore") + ignore_append);
    }
    if (S_ISDIR(e.st.st_mode)) {
      EntryPtr entry = NewEntry(e.rel + "/", AE_IFDIR | perm, e.st.st_mtime);
      return WriteHeader(run, entry.get());
    }
    if (S_ISLNK(e.st.st_mode)) {
      std::string target(std::max<size_t>(static_cast<size_t>(e.st.st_size) + 1, PATH_MAX), '\0');
      ssize_t n = ::readlinkat(e.dir_fd, e.name.c_str(), target.data(), target.size());
      if (n < 0) return ErrnoError(errno, "can't read link", e.abs);
      target.resize(static_cast<size_t>(n));
      EntryPtr entry = NewEntry(e.rel, AE_IFLNK | perm, e.st.st_mtime);
      archive_entry_copy_symlink(entry.get(), target.c_str());
      return WriteHeader(run, entry.get());
    }
    if (S_ISREG(e.st.st_mode)) return WriteRegularFile(run, options_, e);
    return absl::OkStatus();  // sockets, devices and fifos are not sent
  };
  absl::Status status = WalkContext(root_, ignore_, write);
  if (status.ok() && external_content_) {
    status = WriteMemoryFile(run, external_name_, 0600, now, *external_content_);
    if (status.ok() && !sent_dockerignore) {
      status = WriteMemoryFile(run, ".dockerignore", 0600, now, ".dockerignore" + ignore_append);
    }
  }
  if (!status.ok()) return status;
  if (archive_write_close(run.a) != ARCHIVE_OK) return run.ArchiveError("finishing the tar stream");
  if (progress) progress(run.stats);
  return run.stats;
}

}  // namespace dkd::core
