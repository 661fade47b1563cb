// ReadImageExport (image_export_reader.h): the classic and OCI layouts of an
// image export read in one pass, layers checked against the config's diff ids.
#include "core/image/image_export_reader.h"

#include <archive.h>
#include <archive_entry.h>
#include <openssl/evp.h>

#include <algorithm>
#include <cerrno>
#include <cstring>
#include <map>
#include <memory>
#include <optional>
#include <utility>

#include "absl/container/flat_hash_map.h"
#include "absl/status/status.h"
#include "absl/strings/escaping.h"
#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "absl/strings/str_split.h"
#include "core/base/status_macros.h"
#include "nlohmann/json.hpp"

namespace dkd::core {
namespace {

using nlohmann::json;
constexpr size_t kChunk = 64 * 1024;
constexpr absl::string_view kWhiteout = ".wh.";
constexpr absl::string_view kMetaWhiteout = ".wh..wh..";
constexpr absl::string_view kOpaque = ".wh..wh..opq";

class Sha256 {
 public:
  Sha256() : ctx_(EVP_MD_CTX_new()) { EVP_DigestInit_ex(ctx_, EVP_sha256(), nullptr); }
  ~Sha256() { EVP_MD_CTX_free(ctx_); }
  Sha256(const Sha256&) = delete;
  Sha256& operator=(const Sha256&) = delete;
  void Update(const void* p, size_t n) { EVP_DigestUpdate(ctx_, p, n); }
  std::string Digest() {
    unsigned char md[EVP_MAX_MD_SIZE];
    unsigned int len = 0;
    EVP_DigestFinal_ex(ctx_, md, &len);
    return "sha256:" + absl::BytesToHexString(absl::string_view(reinterpret_cast<char*>(md), len));
  }

 private:
  EVP_MD_CTX* ctx_;
};

struct ArchiveFree {
  void operator()(archive* a) const { archive_read_free(a); }
};
using ArchivePtr = std::unique_ptr<archive, ArchiveFree>;

std::string ArchiveError(archive* a) {
  const char* e = archive_error_string(a);
  return e != nullptr ? e : "unknown archive error";
}

// Outer stage: the export stream itself.
struct SourceStage {
  explicit SourceStage(ByteSource* s) : src(s) {}
  ByteSource* src;
  std::vector<char> buf = std::vector<char>(kChunk);
  absl::Status status;
};

la_ssize_t ReadSource(archive* a, void* data, const void** out) {
  auto* s = static_cast<SourceStage*>(data);
  absl::StatusOr<size_t> n = s->src->Read(s->buf.data(), s->buf.size());
  if (!n.ok()) {
    s->status = n.status();
    archive_set_error(a, EIO, "%s", std::string(n.status().message()).c_str());
    return -1;
  }
  *out = s->buf.data();
  return static_cast<la_ssize_t>(*n);
}

// Pulls bytes from `from` (current entry data), optionally after a prefix
// already read, counting and hashing them.
struct HashStage {
  explicit HashStage(archive* f, std::string head = {}) : from(f), prefix(std::move(head)) {}
  archive* from;
  std::string prefix;
  size_t prefix_pos = 0;
  Sha256 sha;
  bool hash = true;  // Off when the stage's bytes are known to equal another's.
  int64_t bytes = 0;
  bool failed = false;
  std::string error;  // set when `from` fails
  std::vector<char> buf = std::vector<char>(kChunk);
};

la_ssize_t ReadHashed(archive* a, void* data, const void** out) {
  auto* s = static_cast<HashStage*>(data);
  if (s->prefix_pos < s->prefix.size()) {
    size_t n = s->prefix.size() - s->prefix_pos;
    *out = s->prefix.data() + s->prefix_pos;
    if (s->hash) s->sha.Update(*out, n);
    s->bytes += static_cast<int64_t>(n);
    s->prefix_pos = s->prefix.size();
    return static_cast<la_ssize_t>(n);
  }
  la_ssize_t n = archive_read_data(s->from, s->buf.data(), s->buf.size());
  if (n < 0) {
    s->failed = true;
    s->error = ArchiveError(s->from);
    archive_set_error(a, EIO, "%s", s->error.c_str());
    return -1;
  }
  if (s->hash) s->sha.Update(s->buf.data(), static_cast<size_t>(n));
  s->bytes += n;
  *out = s->buf.data();
  return n;
}

// Reads the rest of a stage's input so its hash and count cover every byte.
absl::Status Drain(HashStage& s, archive* self) {
  const void* p;
  for (;;) {
    la_ssize_t n = ReadHashed(self, &s, &p);
    if (n == 0) return absl::OkStatus();
    if (n < 0) return absl::DataLossError(s.error);
  }
}

LayerFile MakeLayerFile(archive_entry* e) {
  const char* raw = archive_entry_pathname(e);
  std::string path = CleanLayerPath(raw != nullptr ? raw : "");
  LayerFile f;
  size_t slash = path.rfind('/');
  absl::string_view base = absl::string_view(path).substr(slash + 1);
  std::string dir = slash == 0 ? "/" : path.substr(0, slash);
  if (base == kOpaque) {
    f.is_opaque_whiteout = true;
    path = dir;
  } else if (absl::StartsWith(base, kWhiteout) && !absl::StartsWith(base, kMetaWhiteout)) {
    f.is_whiteout = true;
    path = absl::StrCat(dir == "/" ? "" : dir, "/", base.substr(kWhiteout.size()));
  }
  f.path = std::move(path);
  f.size = archive_entry_size_is_set(e) ? archive_entry_size(e) : 0;
  const char* hard = archive_entry_hardlink(e);
  const char* sym = archive_entry_symlink(e);
  const unsigned type = archive_entry_filetype(e);
  f.type = hard != nullptr    ? LayerFileType::kHardlink
           : type == AE_IFDIR ? LayerFileType::kDirectory
           : type == AE_IFLNK ? LayerFileType::kSymlink
           : type == AE_IFREG ? LayerFileType::kRegular
                              : LayerFileType::kOther;
  if (hard != nullptr || sym != nullptr) f.link_target = hard != nullptr ? hard : sym;
  return f;
}

// Streams the rest of `blob` as a (possibly compressed) layer tar:
// outer entry → decompressor (raw format) → tar reader, filling `layer`.
absl::Status StreamLayer(HashStage& blob, size_t* entries_left, ExportLayer& layer) {
  ArchivePtr dec(archive_read_new());
  archive_read_support_filter_all(dec.get());
  archive_read_support_format_raw(dec.get());
  archive_read_support_format_empty(dec.get());
  archive_entry* e = nullptr;
  int rc = archive_read_open(dec.get(), &blob, nullptr, ReadHashed, nullptr);
  if (rc == ARCHIVE_OK) rc = archive_read_next_header(dec.get(), &e);
  if (rc == ARCHIVE_EOF) {  // an empty blob: an empty layer
    layer.diff_id = Sha256().Digest();
    return Drain(blob, blob.from);
  }
  if (rc < ARCHIVE_WARN) return absl::DataLossError(ArchiveError(dec.get()));
  HashStage diff(dec.get());
  // An uncompressed blob is its own diff: hash it once (its digest is the
  // diff id), which halves the hashing of a classic `docker save`.
  const bool uncompressed = archive_filter_count(dec.get()) <= 1 ||
                            archive_filter_code(dec.get(), 0) == ARCHIVE_FILTER_NONE;
  diff.hash = !uncompressed;
  ArchivePtr tar(archive_read_new());
  archive_read_support_format_tar(tar.get());
  archive_read_support_format_empty(tar.get());
  if (archive_read_open(tar.get(), &diff, nullptr, ReadHashed, nullptr) != ARCHIVE_OK) {
    return absl::DataLossError(ArchiveError(tar.get()));
  }
  while ((rc = archive_read_next_header(tar.get(), &e)) != ARCHIVE_EOF) {
    if (rc < ARCHIVE_WARN || archive_read_data_skip(tar.get()) < ARCHIVE_WARN) {
      return absl::DataLossError(ArchiveError(tar.get()));
    }
    LayerFile f = MakeLayerFile(e);
    if (f.path == "/" && !f.is_opaque_whiteout) continue;
    if (*entries_left == 0) {
      return absl::ResourceExhaustedError("image export has too many layer entries");
    }
    --*entries_left;
    layer.content_bytes += f.size;
    layer.files.push_back(std::move(f));
  }
  RETURN_IF_ERROR(Drain(diff, dec.get()));
  RETURN_IF_ERROR(Drain(blob, blob.from));
  layer.diff_id =
      uncompressed ? "" : diff.sha.Digest();  // "" = the blob digest, set by the caller.
  layer.tar_bytes = diff.bytes;
  return absl::OkStatus();
}

// Result of reading one candidate layer blob.
struct BlobRead {
  absl::Status fatal;      // the export stream itself failed
  absl::Status not_layer;  // the blob is not a (compressed) tar
  ExportLayer layer;
};

// Reads the current entry of `outer`, whose first bytes are `prefix`.
BlobRead ReadLayerBlob(archive* outer, std::string prefix, size_t* entries_left) {
  BlobRead r;
  HashStage blob(outer, std::move(prefix));
  absl::Status s = StreamLayer(blob, entries_left, r.layer);
  if (!s.ok()) {
    (blob.failed || absl::IsResourceExhausted(s) ? r.fatal : r.not_layer) = s;
    return r;
  }
  r.layer.blob_digest = blob.sha.Digest();
  if (r.layer.diff_id.empty()) r.layer.diff_id = r.layer.blob_digest;
  r.layer.blob_bytes = blob.bytes;
  return r;
}

std::optional<json> ParseJson(const std::string& s) {
  json j = json::parse(s, nullptr, false);
  if (j.is_discarded()) return std::nullopt;
  return j;
}

std::string Str(const json& j, const char* key) {
  auto it = j.find(key);
  return it != j.end() && it->is_string() ? it->get<std::string>() : std::string();
}

// Typed accessors that never throw: a missing or mistyped member reads as
// empty.
json ArrayAt(const json& j, const char* key) {
  auto it = j.find(key);
  return it != j.end() && it->is_array() ? *it : json::array();
}

json ObjectAt(const json& j, const char* key) {
  auto it = j.find(key);
  return it != j.end() && it->is_object() ? *it : json::object();
}

bool BoolAt(const json& j, const char* key) {
  auto it = j.find(key);
  return it != j.end() && it->is_boolean() && it->get<bool>();
}

std::string BlobPathOf(absl::string_view digest) {
  std::pair<std::string, std::string> p = absl::StrSplit(digest, absl::MaxSplits(':', 1));
  return absl::StrCat("blobs/", p.first, "/", p.second);
}

// Everything gathered in the single pass, before the order is known.
struct Collected {
  std::vector<ExportLayer> layers;
  absl::flat_hash_map<std::string, size_t> by_path;
  absl::flat_hash_map<std::string, std::string> links;  // symlink member → target member
  absl::flat_hash_map<std::string, std::string> json_files;
  absl::flat_hash_map<std::string, std::string> unreadable;  // member → reason
  bool saw_blobs = false;
};

std::string ResolveLink(const Collected& c, std::string path) {
  for (int hops = 0; hops < 8; ++hops) {
    auto it = c.links.find(path);
    if (it == c.links.end()) break;
    path = it->second;
  }
  return path;
}

absl::StatusOr<size_t> LayerAt(const Collected& c, const std::string& member) {
  std::string path = ResolveLink(c, CleanLayerPath(member).substr(1));
  auto it = c.by_path.find(path);
  if (it != c.by_path.end()) return it->second;
  auto bad = c.unreadable.find(path);
  return absl::DataLossError(absl::StrCat(
      "layer '", member, "' is ",
      bad == c.unreadable.end() ? "not in the image export" : "unreadable: " + bad->second));
}

absl::StatusOr<json> JsonAt(const Collected& c, const std::string& member) {
  auto it = c.json_files.find(member);
  if (it == c.json_files.end()) {
    return absl::DataLossError(absl::StrCat("'", member, "' is not in the image export"));
  }
  std::optional<json> j = ParseJson(it->second);
  if (!j.has_value() || !j->is_object()) {
    return absl::DataLossError(absl::StrCat("'", member, "' is not a JSON object"));
  }
  return *std::move(j);
}

// Picks the image from an OCI index (following nested indexes) and returns
// its manifest.
absl::StatusOr<json> OciManifest(const Collected& c, json index, const std::string& tag) {
  for (int depth = 0; depth < 4; ++depth) {
    auto ms = index.find("manifests");
    if (ms == index.end() || !ms->is_array() || ms->empty()) {
      return absl::DataLossError("OCI index lists no manifests");
    }
    const json* pick = &(*ms)[0];
    for (const json& m : *ms) {
      json ann = ObjectAt(m, "annotations");
      if (!tag.empty() && (Str(ann, "io.containerd.image.name") == tag ||
                           Str(ann, "org.opencontainers.image.ref.name") == tag)) {
        pick = &m;
      }
    }
    ASSIGN_OR_RETURN(json next, JsonAt(c, BlobPathOf(Str(*pick, "digest"))));
    if (!next.contains("manifests")) return next;
    index = std::move(next);
  }
  return absl::DataLossError("OCI index nesting is too deep");
}

absl::Status SinglePass(ByteSource& src, const ReadOptions& opts, Collected& c) {
  SourceStage stage{&src};
  ArchivePtr outer(archive_read_new());
  archive_read_support_filter_all(outer.get());
  archive_read_support_format_tar(outer.get());
  archive_read_support_format_empty(outer.get());
  auto fail = [&](absl::string_view what) -> absl::Status {
    if (!stage.status.ok()) return stage.status;
    return absl::DataLossError(
        absl::StrCat("image export: ", what, ": ", ArchiveError(outer.get())));
  };
  if (archive_read_open(outer.get(), &stage, nullptr, ReadSource, nullptr) != ARCHIVE_OK) {
    if (!stage.status.ok()) return stage.status;
    return absl::InvalidArgumentError(
        absl::StrCat("image export is not a tar archive: ", ArchiveError(outer.get())));
  }
  size_t entries_left = opts.max_entries;
  archive_entry* e = nullptr;
  for (bool first = true;; first = false) {
    int rc = archive_read_next_header(outer.get(), &e);
    if (rc == ARCHIVE_EOF) break;
    if (rc < ARCHIVE_WARN) {
      if (first && stage.status.ok()) {
        return absl::InvalidArgumentError(
            absl::StrCat("image export is not a tar archive: ", ArchiveError(outer.get())));
      }
      return fail("truncated or corrupt");
    }
    const char* raw = archive_entry_pathname(e);
    std::string name = CleanLayerPath(raw != nullptr ? raw : "").substr(1);
    bool is_layer_name = absl::EndsWith(name, ".tar") || absl::EndsWith(name, ".tar.gz") ||
                         absl::EndsWith(name, ".tgz");
    bool is_blob = absl::StartsWith(name, "blobs/");
    c.saw_blobs |= is_blob;
    if (archive_entry_filetype(e) == AE_IFLNK && is_layer_name) {
      const char* target = archive_entry_symlink(e);
      std::string dir = name.find('/') == std::string::npos ? "" : name.substr(0, name.rfind('/'));
      c.links[name] = CleanLayerPath(absl::StrCat(dir, "/", target ? target : "")).substr(1);
      continue;
    }
    if (archive_entry_filetype(e) != AE_IFREG) continue;
    bool is_json = absl::EndsWith(name, ".json") || is_blob;
    if (!is_json && !is_layer_name) continue;
    // Peek at the first bytes: blobs are sniffed, '{' or '[' means JSON.
    std::string head(kChunk, '\0');
    la_ssize_t n = archive_read_data(outer.get(), head.data(), head.size());
    if (n < 0) return fail(absl::StrCat("reading '", name, "'"));
    head.resize(static_cast<size_t>(n));
    size_t lead = head.find_first_not_of(" \t\r\n");
    bool looks_json = lead != std::string::npos && (head[lead] == '{' || head[lead] == '[');
    if (!is_layer_name && (!is_blob || looks_json)) {
      std::string body = std::move(head);
      bool too_big = false;
      std::vector<char> buf(kChunk);
      while ((n = archive_read_data(outer.get(), buf.data(), buf.size())) > 0) {
        too_big = too_big || body.size() + static_cast<size_t>(n) > opts.max_json_bytes;
        if (!too_big) body.append(buf.data(), static_cast<size_t>(n));
      }
      if (n < 0) return fail(absl::StrCat("reading '", name, "'"));
      if (too_big || body.size() > opts.max_json_bytes) {
        c.unreadable[name] = "larger than the JSON size limit";
      } else {
        c.json_files[name] = std::move(body);
      }
      continue;
    }
    BlobRead blob = ReadLayerBlob(outer.get(), std::move(head), &entries_left);
    if (!blob.fatal.ok()) {
      if (!stage.status.ok()) return stage.status;
      if (absl::IsResourceExhausted(blob.fatal)) return blob.fatal;
      return absl::DataLossError(
          absl::StrCat("image export: reading layer '", name, "': ", blob.fatal.message()));
    }
    if (!blob.not_layer.ok()) {
      if (!is_blob) {
        return absl::DataLossError(absl::StrCat("image export: layer '", name,
                                                "' is not a tar: ", blob.not_layer.message()));
      }
      c.unreadable[name] = std::string(blob.not_layer.message());
      continue;
    }
    blob.layer.blob_path = name;
    c.by_path[name] = c.layers.size();
    c.layers.push_back(std::move(blob.layer));
  }
  return absl::OkStatus();
}

// Finds the layer order and the config, from the best source available.
absl::Status Resolve(const Collected& c, const ReadOptions& opts, ImageExport& out,
                     std::vector<size_t>& order) {
  std::string config_path;
  std::vector<std::string> members;
  if (c.json_files.contains("manifest.json")) {
    std::optional<json> m = ParseJson(c.json_files.at("manifest.json"));
    if (!m.has_value() || !m->is_array() || m->empty() || !(*m)[0].is_object()) {
      return absl::DataLossError("manifest.json is not a non-empty JSON array of objects");
    }
    const json* pick = &(*m)[0];
    for (const json& img : *m) {
      json tags = ArrayAt(img, "RepoTags");
      if (!opts.repo_tag.empty() &&
          std::find(tags.begin(), tags.end(), opts.repo_tag) != tags.end()) {
        pick = &img;
      }
    }
    config_path = Str(*pick, "Config");
    for (const json& l : ArrayAt(*pick, "Layers")) {
      if (l.is_string()) members.push_back(l.get<std::string>());
    }
    for (const json& t : ArrayAt(*pick, "RepoTags")) {
      if (t.is_string()) out.repo_tags.push_back(t.get<std::string>());
    }
  } else if (c.json_files.contains("index.json")) {
    ASSIGN_OR_RETURN(json index, JsonAt(c, "index.json"));
    ASSIGN_OR_RETURN(json manifest, OciManifest(c, std::move(index), opts.repo_tag));
    config_path = BlobPathOf(Str(ObjectAt(manifest, "config"), "digest"));
    for (const json& l : ArrayAt(manifest, "layers")) {
      if (l.is_object()) members.push_back(BlobPathOf(Str(l, "digest")));
    }
  } else {
    for (const auto& [path, body] : c.json_files) {
      std::optional<json> j = ParseJson(body);
      if (j.has_value() && j->is_object() && j->contains("rootfs")) config_path = path;
    }
    if (config_path.empty() && opts.expected_diff_ids.empty()) {
      return absl::DataLossError("image export has no manifest.json, index.json or image config");
    }
  }
  json config = json::object();
  if (!config_path.empty()) {
    ASSIGN_OR_RETURN(config, JsonAt(c, config_path));
    out.config_json = c.json_files.at(config_path);
  }
  std::vector<std::string> config_diff_ids;
  for (const json& d : ArrayAt(ObjectAt(config, "rootfs"), "diff_ids")) {
    if (d.is_string()) config_diff_ids.push_back(d.get<std::string>());
  }
  std::vector<std::string> ids = opts.expected_diff_ids;
  if (ids.empty() && members.empty()) ids = config_diff_ids;
  for (const std::string& id : ids) {
    auto it = std::find_if(c.layers.begin(), c.layers.end(), [&](const ExportLayer& l) {
      return l.diff_id == id || l.blob_digest == id;
    });
    if (it == c.layers.end()) {
      return absl::DataLossError(absl::StrCat("layer ", id, " is not in the image export"));
    }
    order.push_back(static_cast<size_t>(it - c.layers.begin()));
  }
  if (ids.empty()) {
    for (const std::string& member : members) {
      ASSIGN_OR_RETURN(size_t idx, LayerAt(c, member));
      order.push_back(idx);
    }
  }
  if (opts.verify_diff_ids && !config_diff_ids.empty()) {
    if (config_diff_ids.size() != order.size()) {
      return absl::DataLossError(absl::StrCat("image config lists ", config_diff_ids.size(),
                                              " layers, the export has ", order.size()));
    }
    for (size_t i = 0; i < order.size(); ++i) {
      if (c.layers[order[i]].diff_id != config_diff_ids[i]) {
        return absl::DataLossError(absl::StrCat("layer ", i, " has diff_id ",
                                                c.layers[order[i]].diff_id,
                                                ", the image config says ", config_diff_ids[i]));
      }
    }
  }
  for (const json& h : ArrayAt(config, "history")) {
    if (!h.is_object()) continue;
    out.history.push_back(
        {Str(h, "created"), Str(h, "created_by"), Str(h, "comment"), BoolAt(h, "empty_layer")});
  }
  return absl::OkStatus();
}

}  // namespace

absl::StatusOr<size_t> MemoryByteSource::Read(char* buf, size_t len) {
  size_t n = std::min(len, data_.size());
  std::memcpy(buf, data_.data(), n);
  data_.remove_prefix(n);
  return n;
}

std::string CleanLayerPath(absl::string_view name) {
  std::vector<absl::string_view> parts;
  for (absl::string_view p : absl::StrSplit(name, '/', absl::SkipEmpty())) {
    if (p == ".") continue;
    if (p == "..") {
      if (!parts.empty()) parts.pop_back();
      continue;
    }
    parts.push_back(p);
  }
  return absl::StrCat("/", absl::StrJoin(parts, "/"));
}

absl::StatusOr<ImageExport> ReadImageExport(ByteSource& src, const ReadOptions& opts) {
  Collected c;
  RETURN_IF_ERROR(SinglePass(src, opts, c));
  ImageExport out;
  out.layout = c.saw_blobs ? ExportLayout::kOci : ExportLayout::kClassic;
  std::vector<size_t> order;
  RETURN_IF_ERROR(Resolve(c, opts, out, order));
  // A blob used twice in the order (identical layers) is copied.
  std::vector<int> uses(c.layers.size(), 0);
  for (size_t idx : order) ++uses[idx];
  for (size_t idx : order) {
    if (--uses[idx] == 0) {
      out.layers.push_back(std::move(c.layers[idx]));
    } else {
      out.layers.push_back(c.layers[idx]);
    }
  }
  // dive's mapping: the n-th history entry that is not empty_layer → n-th layer.
  size_t h = 0;
  for (ExportLayer& layer : out.layers) {
    while (h < out.history.size() && out.history[h].empty_layer) ++h;
    if (h == out.history.size()) break;
    layer.history_index = static_cast<int>(h);
    layer.created_by = out.history[h].created_by;
    ++h;
  }
  return out;
}

}  // namespace dkd::core
