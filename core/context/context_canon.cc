// CanonicalContext (context_canon.h): reading the client's tar entry by entry,
// checking each, and writing the one plain tar the engine receives.
#include "core/context/context_canon.h"

#include <archive.h>
#include <archive_entry.h>

#include <utility>
#include <vector>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "absl/strings/str_split.h"

namespace dkd::core {
namespace {

constexpr size_t kChunk = 64 * 1024;

std::string Quoted(const std::string& s) { return absl::StrCat("\"", s, "\""); }

absl::Status EntryError(const std::string& path, absl::string_view rule) {
  return absl::InvalidArgumentError(absl::StrCat("build context entry ", Quoted(path), ": ", rule));
}

}  // namespace

absl::StatusOr<std::string> NormalizeContextPath(const std::string& path) {
  std::vector<absl::string_view> parts;
  for (absl::string_view part : absl::StrSplit(path, '/')) {
    if (part.empty() || part == ".") continue;
    if (part == "..") {
      return absl::InvalidArgumentError(
          absl::StrCat("path ", Quoted(path), " has a \"..\" component"));
    }
    parts.push_back(part);
  }
  return absl::StrJoin(parts, "/");
}

struct CanonicalContext::Impl {
  struct archive* in = nullptr;
  struct archive* out = nullptr;
  std::vector<char> inbuf = std::vector<char>(kChunk);
  std::vector<char> data = std::vector<char>(kChunk);
  absl::Status source_status;
  bool discard = false;  // Set on refusal: nothing more is appended.
  ~Impl() {
    discard = true;
    if (in != nullptr) archive_read_free(in);
    if (out != nullptr) archive_write_free(out);
  }
};

CanonicalContext::CanonicalContext(ContextSource source, CanonicalContextOptions options,
                                   DockerfileCheck check)
    : source_(std::move(source)), options_(std::move(options)), check_(std::move(check)) {
  auto norm =
      NormalizeContextPath(options_.dockerfile.empty() ? "Dockerfile" : options_.dockerfile);
  if (!norm.ok() || norm->empty()) {
    status_ = absl::InvalidArgumentError(
        "config.dockerfile_path: must name a file inside the build context (no \"..\")");
  } else {
    requested_ = *norm;
  }
}

CanonicalContext::~CanonicalContext() { impl_.reset(); }

absl::StatusOr<size_t> CanonicalContext::Read(char* buf, size_t len) {
  if (!status_.ok()) return status_;
  while (out_off_ >= out_.size()) {
    out_.clear();
    out_off_ = 0;
    if (done_) return size_t{0};
    absl::Status s = impl_ == nullptr ? Open() : Step();
    if (!s.ok()) {
      status_ = s;
      out_.clear();
      if (impl_ != nullptr) impl_->discard = true;
      return s;
    }
  }
  const size_t take = std::min(len, out_.size() - out_off_);
  std::copy_n(out_.data() + out_off_, take, buf);
  out_off_ += take;
  return take;
}

absl::Status CanonicalContext::Open() {
  impl_ = std::make_unique<Impl>();
  impl_->in = archive_read_new();
  impl_->out = archive_write_new();
  if (impl_->in == nullptr || impl_->out == nullptr)
    return absl::InternalError("libarchive: out of memory");
  // The compressions the engine itself accepts; the output is always plain.
  archive_read_support_filter_gzip(impl_->in);
  archive_read_support_filter_bzip2(impl_->in);
  archive_read_support_filter_xz(impl_->in);
  archive_read_support_filter_zstd(impl_->in);
  archive_read_support_format_tar(impl_->in);
  auto reader = [](struct archive* a, void* client, const void** buf) -> la_ssize_t {
    auto* self = static_cast<CanonicalContext*>(client);
    if (self->impl_ == nullptr) return -1;  // Being torn down.
    auto got = self->source_(self->impl_->inbuf.data(), self->impl_->inbuf.size());
    if (!got.ok()) {
      self->impl_->source_status = got.status();
      archive_set_error(a, EIO, "reading the build context failed");
      return -1;
    }
    *buf = self->impl_->inbuf.data();
    return static_cast<la_ssize_t>(*got);
  };
  auto writer = [](struct archive*, void* client, const void* buf, size_t n) -> la_ssize_t {
    auto* self = static_cast<CanonicalContext*>(client);
    // Nothing is kept once refused or while being torn down (libarchive
    // would write the end marker then).
    if (self->impl_ != nullptr && !self->impl_->discard) {
      self->out_.append(static_cast<const char*>(buf), n);
      self->bytes_out_ += n;
    }
    return static_cast<la_ssize_t>(n);
  };
  // Restricted pax: a plain ustar header unless an entry needs more. The
  // first entry must be plain: BuildKit's frontend takes an uploaded context
  // for a tar only if its first header parses from the first 1 KiB, and a pax
  // extension before it (as "hdrcharset=BINARY" would put before every
  // entry) makes it read the whole tar as a Dockerfile. Names stay bytes, as
  // Go's archive/tar reads them: dkd never sets a locale, so a name with
  // bytes over 0x7f fails the conversion from "C" and libarchive writes it
  // unconverted in a pax header marked binary (ARCHIVE_WARN, accepted below).
  if (archive_write_set_format_pax_restricted(impl_->out) != ARCHIVE_OK ||
      archive_write_set_bytes_per_block(impl_->out, 0) != ARCHIVE_OK ||
      archive_write_open(impl_->out, this, nullptr, writer, nullptr) != ARCHIVE_OK) {
    return absl::InternalError(absl::StrCat("libarchive: cannot start the context tar: ",
                                            archive_error_string(impl_->out)));
  }
  if (archive_read_open(impl_->in, this, nullptr, reader, nullptr) != ARCHIVE_OK) {
    if (!impl_->source_status.ok()) return impl_->source_status;
    return absl::InvalidArgumentError(
        absl::StrCat("the build context is not a tar archive (plain, gzip, bzip2, xz or zstd): ",
                     archive_error_string(impl_->in)));
  }
  return absl::OkStatus();
}

absl::Status CanonicalContext::Step() { return data_left_ > 0 ? CopyData() : NextEntry(); }

absl::Status CanonicalContext::CheckLimit() {
  if (options_.max_bytes <= 0) return absl::OkStatus();
  const uint64_t max = static_cast<uint64_t>(options_.max_bytes);
  const int64_t in = archive_filter_bytes(impl_->in, 0);
  if (bytes_out_ > max || (in > 0 && static_cast<uint64_t>(in) > max)) {
    return absl::ResourceExhaustedError(
        absl::StrCat("limits.max_context_bytes: the build context exceeds ", options_.max_bytes,
                     " bytes (counted decompressed, as the engine receives it)"));
  }
  return absl::OkStatus();
}

absl::Status CanonicalContext::AddPath(const std::string& path, Kind kind) {
  for (size_t slash = path.find('/'); slash != std::string::npos;
       slash = path.find('/', slash + 1)) {
    const std::string parent = path.substr(0, slash);
    if (paths_.size() >= options_.max_entries) {
      return absl::ResourceExhaustedError(
          absl::StrCat("the build context has more than ", options_.max_entries, " entries"));
    }
    auto [it, inserted] = paths_.emplace(parent, Kind::kImpliedDir);
    if (!inserted && it->second != Kind::kDir && it->second != Kind::kImpliedDir) {
      return EntryError(path, absl::StrCat("lies under ", Quoted(parent),
                                           ", which is not a directory (a symlink or file)"));
    }
  }
  if (paths_.size() >= options_.max_entries) {
    return absl::ResourceExhaustedError(
        absl::StrCat("the build context has more than ", options_.max_entries, " entries"));
  }
  auto [it, inserted] = paths_.emplace(path, kind);
  if (inserted) return absl::OkStatus();
  if (it->second == Kind::kImpliedDir && kind == Kind::kDir) {
    it->second = Kind::kDir;
    return absl::OkStatus();
  }
  if (it->second == Kind::kImpliedDir) {
    return EntryError(path, "is a directory of earlier entries and cannot be a file or symlink");
  }
  return EntryError(path, "appears more than once; a build context holds one entry per path");
}

absl::Status CanonicalContext::NextEntry() {
  struct archive_entry* e = nullptr;
  const int r = archive_read_next_header(impl_->in, &e);
  if (r == ARCHIVE_EOF) return Finish();
  if (!impl_->source_status.ok()) return impl_->source_status;
  if (r < ARCHIVE_WARN) {
    return absl::InvalidArgumentError(absl::StrCat("the build context is not a valid tar archive: ",
                                                   archive_error_string(impl_->in)));
  }
  if (absl::Status s = CheckLimit(); !s.ok()) return s;
  const char* raw = archive_entry_pathname(e);
  if (raw == nullptr || *raw == 0) {
    return absl::InvalidArgumentError("the build context has an entry without a readable name");
  }
  auto norm = NormalizeContextPath(raw);
  if (!norm.ok()) return EntryError(raw, "has a \"..\" component");
  const std::string path = *norm;
  const char* hardlink = archive_entry_hardlink(e);
  const mode_t type = archive_entry_filetype(e);
  Kind kind;
  std::string link_target;
  if (hardlink != nullptr) {
    auto target = NormalizeContextPath(hardlink);
    if (!target.ok() || target->empty())
      return EntryError(path, "is a hard link outside the context");
    auto t = paths_.find(*target);
    if (t == paths_.end() || t->second != Kind::kFile) {
      return EntryError(path, absl::StrCat("is a hard link to ", Quoted(*target),
                                           ", which is not an earlier regular file"));
    }
    link_target = *target;
    kind = Kind::kOther;
  } else if (type == AE_IFREG) {
    kind = Kind::kFile;
  } else if (type == AE_IFDIR) {
    kind = Kind::kDir;
  } else if (type == AE_IFLNK) {
    if (archive_entry_symlink(e) == nullptr)
      return EntryError(path, "is a symlink without a target");
    kind = Kind::kOther;
  } else {
    return EntryError(path,
                      "is a device, fifo or socket; only regular files, directories, symlinks and "
                      "hard links may be in a build context");
  }
  if (path.empty()) {
    if (kind != Kind::kDir) return EntryError(raw, "names the context root but is not a directory");
    return absl::OkStatus();  // The root itself: nothing to write.
  }
  if (absl::Status s = AddPath(path, kind); !s.ok()) return s;

  const bool candidate = path == requested_ || (requested_ == "Dockerfile" && path == "dockerfile");
  if (candidate && (kind != Kind::kFile)) {
    return absl::InvalidArgumentError(absl::StrCat(
        "the Dockerfile ", Quoted(path),
        " must be a regular file in the build context, not a symlink, hard link or directory"));
  }
  const int64_t size = kind == Kind::kFile ? archive_entry_size(e) : 0;
  if (size < 0) return EntryError(path, "has no size");
  if (candidate && static_cast<uint64_t>(size) > options_.max_dockerfile_bytes) {
    return absl::InvalidArgumentError(absl::StrCat("the Dockerfile ", Quoted(path),
                                                   " is larger than ",
                                                   options_.max_dockerfile_bytes, " bytes"));
  }

  struct archive_entry* o = archive_entry_new();
  if (o == nullptr) return absl::InternalError("libarchive: out of memory");
  archive_entry_set_pathname(o, path.c_str());
  archive_entry_set_perm(o, archive_entry_perm(e) & 07777);
  archive_entry_set_uid(o, archive_entry_uid(e));
  archive_entry_set_gid(o, archive_entry_gid(e));
  archive_entry_set_mtime(o, archive_entry_mtime(e), 0);
  if (!link_target.empty()) {
    archive_entry_set_filetype(o, AE_IFREG);
    archive_entry_set_hardlink(o, link_target.c_str());
    archive_entry_set_size(o, 0);
  } else if (kind == Kind::kDir) {
    archive_entry_set_filetype(o, AE_IFDIR);
  } else if (kind == Kind::kFile) {
    archive_entry_set_filetype(o, AE_IFREG);
    archive_entry_set_size(o, size);
  } else {
    archive_entry_set_filetype(o, AE_IFLNK);
    archive_entry_set_symlink(o, archive_entry_symlink(e));
  }
  const int w = archive_write_header(impl_->out, o);
  archive_entry_free(o);
  if (w != ARCHIVE_OK && w != ARCHIVE_WARN) {
    return EntryError(path, absl::StrCat("cannot be written: ", archive_error_string(impl_->out)));
  }
  data_left_ = size;
  capture_path_ = candidate ? path : "";
  capture_.clear();
  if (candidate && size == 0) {
    candidates_[path] = "";
    if (path == requested_) return Decide(path);
  }
  return CheckLimit();
}

absl::Status CanonicalContext::CopyData() {
  const la_ssize_t n = archive_read_data(impl_->in, impl_->data.data(),
                                         std::min<size_t>(impl_->data.size(), data_left_));
  if (!impl_->source_status.ok()) return impl_->source_status;
  if (n < 0) {
    return absl::InvalidArgumentError(absl::StrCat("the build context is not a valid tar archive: ",
                                                   archive_error_string(impl_->in)));
  }
  if (n == 0) return absl::InvalidArgumentError("the build context tar ends inside an entry");
  if (archive_write_data(impl_->out, impl_->data.data(), static_cast<size_t>(n)) != n) {
    return absl::InternalError(
        absl::StrCat("libarchive: writing the context failed: ", archive_error_string(impl_->out)));
  }
  data_left_ -= n;
  if (!capture_path_.empty()) capture_.append(impl_->data.data(), static_cast<size_t>(n));
  if (data_left_ == 0 && !capture_path_.empty()) {
    candidates_[capture_path_] = std::move(capture_);
    capture_.clear();
    const std::string path = std::exchange(capture_path_, "");
    if (path == requested_) {
      if (absl::Status s = Decide(path); !s.ok()) return s;
    }
  }
  return CheckLimit();
}

absl::Status CanonicalContext::Decide(const std::string& path) {
  decided_ = true;
  checked_ = path;
  absl::Status s = check_ ? check_(path, candidates_[path]) : absl::OkStatus();
  candidates_.clear();
  return s;
}

absl::Status CanonicalContext::Finish() {
  if (!decided_) {
    std::string path;
    if (candidates_.count(requested_)) {
      path = requested_;
    } else if (paths_.count(requested_)) {
      return absl::InvalidArgumentError(absl::StrCat("the Dockerfile ", Quoted(requested_),
                                                     " must be a regular file, not a directory"));
    } else if (requested_ == "Dockerfile" && candidates_.count("dockerfile")) {
      path = "dockerfile";  // The engine's own fallback.
    } else {
      return absl::InvalidArgumentError(absl::StrCat(
          "config.dockerfile_path: the build context has no Dockerfile at ", Quoted(requested_)));
    }
    if (absl::Status s = Decide(path); !s.ok()) return s;
  }
  if (archive_write_close(impl_->out) != ARCHIVE_OK) {
    return absl::InternalError(absl::StrCat("libarchive: finishing the context failed: ",
                                            archive_error_string(impl_->out)));
  }
  done_ = true;
  return CheckLimit();
}

}  // namespace dkd::core
