// ImageExport reading: turns the tar stream of `GET /images/{name}/get` (what
// `docker save` writes) into per-layer file lists, the image config and its
// history, without extracting anything to disk.
//
// Both export layouts are understood, with members in any order:
//   classic: `<id>/layer.tar`, `<id>/json`, `<config>.json`, `manifest.json`,
//            `repositories` (layer tars may be symlinks to other layer tars);
//   OCI:     `blobs/<alg>/<hex>` (layers, config, manifests), `index.json`,
//            `oci-layout`, usually with docker's `manifest.json` alongside.
// The stream is read once, sequentially. Each layer blob is read as a nested
// tar through its own libarchive reader fed from the outer one (gzip and other
// libarchive filters are detected), hashing the blob and its uncompressed tar
// with SHA-256 on the way so layers can be matched to the manifest, the OCI
// index, the config's rootfs.diff_ids or caller-supplied diff_ids, whichever
// is available (in that order of preference: caller, manifest.json,
// index.json, config).
//
// Memory bound: O(total entries across layers × (path + link length + ~48
// bytes)) for the path tables, plus every JSON member of at most
// `ReadOptions::max_json_bytes` (manifests, configs), plus a constant
// streaming cost (five 64 KiB buffers and the decompressor's state). File
// contents are never buffered, so image size does not matter, only the number
// of paths (capped by `ReadOptions::max_entries`).
//
// Paths are normalised like Go's path.Clean and made absolute ("/etc/passwd");
// whiteout entries carry the path they delete, not the `.wh.` name.
//
// Thread-safety: ReadImageExport is reentrant; concurrent calls must use
// distinct ByteSources. The result types are plain values.
#pragma once

#include <cstddef>
#include <cstdint>
#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"

namespace dkd::core {

// Pull-style byte source. Not required to be thread-safe.
class ByteSource {
 public:
  virtual ~ByteSource() = default;
  // Reads up to `len` bytes into `buf`. Returns the number of bytes read,
  // 0 only at end of stream, or an error that aborts the read.
  virtual absl::StatusOr<size_t> Read(char* buf, size_t len) = 0;
};

// A ByteSource over bytes held by the caller, which must outlive it.
class MemoryByteSource : public ByteSource {
 public:
  explicit MemoryByteSource(absl::string_view data) : data_(data) {}
  absl::StatusOr<size_t> Read(char* buf, size_t len) override;

 private:
  absl::string_view data_;
};

enum class LayerFileType { kRegular, kDirectory, kSymlink, kHardlink, kOther };

// One member of a layer tar.
struct LayerFile {
  std::string path;  // cleaned absolute path; for whiteouts the deleted path
  int64_t size = 0;  // size in the tar header (0 for dirs, links, whiteouts)
  LayerFileType type = LayerFileType::kRegular;
  std::string link_target;          // symlink or hardlink target, else empty
  bool is_whiteout = false;         // `.wh.<name>`: deletes `path` from lower layers
  bool is_opaque_whiteout = false;  // `.wh..wh..opq`: `path` is the opaque directory
};

// One layer, in image order (index 0 is the base layer).
struct ExportLayer {
  std::string blob_path;         // member name in the export, e.g. "blobs/sha256/ab…"
  std::string blob_digest;       // "sha256:<hex>" of the blob as stored (maybe compressed)
  std::string diff_id;           // "sha256:<hex>" of the uncompressed layer tar
  int64_t blob_bytes = 0;        // bytes of the blob as stored
  int64_t tar_bytes = 0;         // bytes of the uncompressed layer tar
  int64_t content_bytes = 0;     // Σ LayerFile::size (dive's layer size)
  std::vector<LayerFile> files;  // in tar order
  int history_index = -1;        // index into ImageExport::history, -1 if none maps
  std::string created_by;        // that history entry's created_by, else empty
};

// One entry of the config's `history`, oldest first.
struct HistoryEntry {
  std::string created;
  std::string created_by;
  std::string comment;
  bool empty_layer = false;
};

enum class ExportLayout { kClassic, kOci };

struct ImageExport {
  ExportLayout layout = ExportLayout::kClassic;
  std::vector<ExportLayer> layers;
  std::string config_json;  // raw config blob, empty if the export has none
  std::vector<HistoryEntry> history;
  std::vector<std::string> repo_tags;  // from manifest.json, if present
};

struct ReadOptions {
  // If not empty, the layer order: each "sha256:<hex>" (image inspect
  // RootFS.Layers) must match a layer's diff_id or blob digest.
  std::vector<std::string> expected_diff_ids;
  // Selects the image when the export holds several; empty means the first.
  std::string repo_tag;
  // JSON members larger than this are skipped (and missing if referenced).
  size_t max_json_bytes = 16u << 20;
  // Layer entries across the whole export; more is ResourceExhausted.
  size_t max_entries = 10'000'000;
  // Check each layer's diff_id against the config's rootfs.diff_ids.
  bool verify_diff_ids = true;
};

// Reads a whole export from `src`. Returns the layers in image order with
// history mapped the way dive maps it (the n-th non-empty history entry goes
// to the n-th layer). Errors: the source's own status if it fails;
// InvalidArgument if the stream is not a tar archive; DataLoss if it is
// truncated or corrupt, a referenced layer or config is absent or unreadable,
// no manifest/index/config gives the layer order, or a diff_id does not match;
// ResourceExhausted past `max_entries`.
absl::StatusOr<ImageExport> ReadImageExport(ByteSource& src, const ReadOptions& opts = {});

// Go's path.Clean, made absolute: "./a//b/../c" → "/a/c", "" or "." → "/".
std::string CleanLayerPath(absl::string_view name);

}  // namespace dkd::core
