// ReadImageExport: classic and OCI layouts, diff-id checks, symlinked layers,
// and the error for each kind of broken export.
#include "core/image/image_export_reader.h"

#include <archive.h>
#include <archive_entry.h>
#include <sys/resource.h>

#include <cstdio>
#include <cstring>
#include <string>
#include <vector>

#include "absl/status/status.h"
#include "core/image/layer_efficiency.h"
#include "gtest/gtest.h"
#include "nlohmann/json.hpp"

namespace dkd::core {
namespace {

using nlohmann::json;
constexpr int64_t kMiB = 1 << 20;

// Writes a tar into memory.
class TarWriter {
 public:
  TarWriter() : a_(archive_write_new()) {
    archive_write_set_format_pax_restricted(a_);
    archive_write_open(a_, &out_, nullptr, &TarWriter::Append, nullptr);
  }
  ~TarWriter() { archive_write_free(a_); }

  TarWriter& File(const std::string& path, const std::string& data) {
    Header(path, AE_IFREG, static_cast<int64_t>(data.size()), nullptr);
    archive_write_data(a_, data.data(), data.size());
    return *this;
  }
  TarWriter& Zeros(const std::string& path, int64_t size) {
    Header(path, AE_IFREG, size, nullptr);
    std::string chunk(64 * 1024, '\0');
    for (int64_t left = size; left > 0; left -= static_cast<int64_t>(chunk.size())) {
      archive_write_data(a_, chunk.data(), std::min<int64_t>(left, chunk.size()));
    }
    return *this;
  }
  TarWriter& Dir(const std::string& path) { return Header(path, AE_IFDIR, 0, nullptr); }
  TarWriter& Symlink(const std::string& path, const std::string& target) {
    return Header(path, AE_IFLNK, 0, target.c_str());
  }
  std::string Finish() {
    archive_write_close(a_);
    return out_;
  }

 private:
  TarWriter& Header(const std::string& path, unsigned type, int64_t size, const char* link) {
    archive_entry* e = archive_entry_new();
    archive_entry_set_pathname(e, path.c_str());
    archive_entry_set_filetype(e, type);
    archive_entry_set_perm(e, type == AE_IFDIR ? 0755 : 0644);
    archive_entry_set_size(e, size);
    if (link != nullptr) archive_entry_set_symlink(e, link);
    archive_write_header(a_, e);
    archive_entry_free(e);
    return *this;
  }
  static la_ssize_t Append(archive*, void* out, const void* buf, size_t n) {
    static_cast<std::string*>(out)->append(static_cast<const char*>(buf), n);
    return static_cast<la_ssize_t>(n);
  }

  archive* a_;
  std::string out_;
};

json History(std::vector<std::pair<std::string, bool>> steps) {
  json h = json::array();
  for (const auto& [created_by, empty] : steps) {
    json e = {{"created_by", created_by}};
    if (empty) e["empty_layer"] = true;
    h.push_back(e);
  }
  return h;
}

std::string BaseLayer() {
  return TarWriter().Dir("etc/").File("etc/base.txt", std::string(1000, 'b')).Finish();
}

// Classic `docker save`: 10 MiB added by layer 1, deleted by layer 2.
std::string ClassicExport() {
  std::string big = TarWriter().Dir("data/").Zeros("data/big.bin", 10 * kMiB).Finish();
  std::string rm = TarWriter().Dir("data/").File("data/.wh.big.bin", "").Finish();
  json config = {{"history", History({{"ADD base.tar /", false},
                                      {"ENV X=1", true},
                                      {"COPY big.bin /data/", false},
                                      {"RUN rm /data/big.bin", false}})}};
  json manifest = json::array({{{"Config", "c0ffee.json"},
                                {"RepoTags", {"app:1"}},
                                {"Layers", {"l0/layer.tar", "l1/layer.tar", "l2/layer.tar"}}}});
  return TarWriter()
      .File("manifest.json", manifest.dump())
      .File("c0ffee.json", config.dump())
      .File("repositories", R"({"app":{"1":"l2"}})")
      .Dir("l0/")
      .File("l0/json", "{}")
      .File("l0/layer.tar", BaseLayer())
      .Dir("l1/")
      .File("l1/layer.tar", big)
      .Dir("l2/")
      .File("l2/layer.tar", rm)
      .Finish();
}

TEST(ImageExportReaderTest, ReadsClassicLayoutWithHistoryAndWhiteout) {
  std::string tar = ClassicExport();
  MemoryByteSource src(tar);
  absl::StatusOr<ImageExport> img = ReadImageExport(src);
  ASSERT_TRUE(img.ok()) << img.status();
  EXPECT_EQ(img->layout, ExportLayout::kClassic);
  EXPECT_EQ(img->repo_tags, std::vector<std::string>{"app:1"});
  ASSERT_EQ(img->layers.size(), 3u);
  EXPECT_EQ(img->layers[0].created_by, "ADD base.tar /");
  EXPECT_EQ(img->layers[1].created_by, "COPY big.bin /data/");  // empty_layer skipped
  EXPECT_EQ(img->layers[1].history_index, 2);
  EXPECT_EQ(img->layers[2].created_by, "RUN rm /data/big.bin");
  EXPECT_EQ(img->layers[1].content_bytes, 10 * kMiB);
  EXPECT_EQ(img->layers[1].diff_id, img->layers[1].blob_digest);  // uncompressed
  const LayerFile& wh = img->layers[2].files.at(1);
  EXPECT_EQ(wh.path, "/data/big.bin");
  EXPECT_TRUE(wh.is_whiteout);
  EXPECT_EQ(img->layers[0].files.at(0).type, LayerFileType::kDirectory);
  EXPECT_EQ(img->layers[0].files.at(0).path, "/etc");

  EfficiencyReport r = AnalyzeLayerEfficiency(img->layers);
  // /etc/base.txt 1000/1000; /data/big.bin 10485760 + 0 cumulative, min 0.
  // efficiency = 1000 / 10486760 ≈ 0.0000953583, wasted = 10485760,
  // user size = 10485760 (layers 1 and 2), user wasted = 1.0.
  EXPECT_DOUBLE_EQ(r.efficiency, 1000.0 / 10486760.0);
  EXPECT_EQ(r.wasted_bytes, 10485760);
  EXPECT_EQ(r.user_size_bytes, 10485760);
  EXPECT_DOUBLE_EQ(r.user_wasted_percent, 1.0);
  EXPECT_EQ(r.top_wasted.at(0).blame_created_by, "COPY big.bin /data/");
  auto ci = EvaluateCiRules(r);
  ASSERT_TRUE(ci.ok());
  EXPECT_EQ((*ci)[0].status, CiRuleStatus::kFailed);
  EXPECT_EQ((*ci)[1].status, CiRuleStatus::kDisabled);
  EXPECT_EQ((*ci)[2].status, CiRuleStatus::kFailed);
}

std::string AppLayer() {
  return TarWriter().Dir("app/").File("app/main.py", std::string(300, 'p')).Finish();
}

// gzip of exactly `data`, as a registry or containerd stores a layer.
std::string Gzip(const std::string& data) {
  std::string out;
  archive* a = archive_write_new();
  archive_write_set_format_raw(a);
  archive_write_add_filter_gzip(a);
  archive_write_set_bytes_in_last_block(a, 1);
  archive_write_open(
      a, &out, nullptr,
      [](archive*, void* o, const void* buf, size_t n) -> la_ssize_t {
        static_cast<std::string*>(o)->append(static_cast<const char*>(buf), n);
        return static_cast<la_ssize_t>(n);
      },
      nullptr);
  archive_entry* e = archive_entry_new();
  archive_entry_set_filetype(e, AE_IFREG);
  archive_write_header(a, e);
  archive_write_data(a, data.data(), data.size());
  archive_entry_free(e);
  archive_write_free(a);
  return out;
}

std::string Blob(const std::string& hex) { return "blobs/sha256/" + hex; }

std::string Digest(const std::string& hex) { return "sha256:" + hex; }

// OCI layout with every blob before index.json/manifest.json, layer blobs in
// reverse order, and layer 1 gzip-compressed.
std::string OciExport(bool with_docker_manifest, json config = json::object()) {
  std::string gz = Gzip(AppLayer());
  std::string l0 = BaseLayer();
  std::string h0(64, '0'), h1(64, '1'), hc(64, 'c'), hm(64, 'm');
  json oci_manifest = {{"schemaVersion", 2},
                       {"config", {{"digest", Digest(hc)}}},
                       {"layers", {{{"digest", Digest(h0)}}, {{"digest", Digest(h1)}}}}};
  json index = {{"schemaVersion", 2}, {"manifests", {{{"digest", Digest(hm)}}}}};
  config["history"] = History({{"FROM base", false}, {"COPY app /app", false}});
  TarWriter w;
  w.Dir("blobs/").Dir("blobs/sha256/");
  w.File(Blob(h1), gz)
      .File(Blob(hc), config.dump())
      .File(Blob(h0), l0)
      .File(Blob(hm), oci_manifest.dump());
  w.File("oci-layout", R"({"imageLayoutVersion":"1.0.0"})").File("index.json", index.dump());
  if (with_docker_manifest) {
    json m = json::array(
        {{{"Config", Blob(hc)}, {"RepoTags", {"app:2"}}, {"Layers", {Blob(h0), Blob(h1)}}}});
    w.File("manifest.json", m.dump());
  }
  return w.Finish();
}

// diff_id of a layer tar, read back as a one-layer classic export.
std::string DiffIdOf(const std::string& layer_tar) {
  json m = json::array({{{"Config", "c.json"}, {"Layers", {"x/layer.tar"}}}});
  std::string tar = TarWriter()
                        .File("c.json", "{}")
                        .File("x/layer.tar", layer_tar)
                        .File("manifest.json", m.dump())
                        .Finish();
  MemoryByteSource src(tar);
  return ReadImageExport(src)->layers.at(0).diff_id;
}

void ExpectOciLayers(const ImageExport& img) {
  EXPECT_EQ(img.layout, ExportLayout::kOci);
  ASSERT_EQ(img.layers.size(), 2u);
  EXPECT_EQ(img.layers[0].blob_path, Blob(std::string(64, '0')));
  EXPECT_EQ(img.layers[0].created_by, "FROM base");
  EXPECT_EQ(img.layers[1].created_by, "COPY app /app");
  EXPECT_EQ(img.layers[1].files.at(1).path, "/app/main.py");
  EXPECT_EQ(img.layers[1].content_bytes, 300);
  // Layer 1 is gzip: its blob digest differs from its diff_id, which equals
  // the digest of the same tar uncompressed.
  EXPECT_NE(img.layers[1].blob_digest, img.layers[1].diff_id);
  EXPECT_EQ(img.layers[1].diff_id, DiffIdOf(AppLayer()));
  EXPECT_EQ(img.layers[1].tar_bytes, static_cast<int64_t>(AppLayer().size()));
  EXPECT_LT(img.layers[1].blob_bytes, img.layers[1].tar_bytes);
}

TEST(ImageExportReaderTest, ReadsOciLayoutWhenDockerManifestComesAfterBlobs) {
  std::string tar = OciExport(true);
  MemoryByteSource src(tar);
  absl::StatusOr<ImageExport> img = ReadImageExport(src);
  ASSERT_TRUE(img.ok()) << img.status();
  EXPECT_EQ(img->repo_tags, std::vector<std::string>{"app:2"});
  ExpectOciLayers(*img);
}

TEST(ImageExportReaderTest, ReadsOciLayoutWhenOnlyIndexComesAfterBlobs) {
  std::string tar = OciExport(false);
  MemoryByteSource src(tar);
  absl::StatusOr<ImageExport> img = ReadImageExport(src);
  ASSERT_TRUE(img.ok()) << img.status();
  ExpectOciLayers(*img);
}

TEST(ImageExportReaderTest, VerifiesConfigDiffIds) {
  std::string d0 = DiffIdOf(BaseLayer()), d1 = DiffIdOf(AppLayer());
  json good = {{"rootfs", {{"type", "layers"}, {"diff_ids", {d0, d1}}}}};
  std::string tar = OciExport(false, good);
  MemoryByteSource src(tar);
  ASSERT_TRUE(ReadImageExport(src).ok());

  json bad = {{"rootfs", {{"type", "layers"}, {"diff_ids", {d1, d0}}}}};
  std::string tar2 = OciExport(false, bad);
  MemoryByteSource src2(tar2);
  EXPECT_EQ(ReadImageExport(src2).status().code(), absl::StatusCode::kDataLoss);
}

TEST(ImageExportReaderTest, OrdersLayersByExpectedDiffIds) {
  std::string tar = OciExport(false);
  MemoryByteSource src(tar);
  ReadOptions opts;
  opts.expected_diff_ids = {DiffIdOf(AppLayer()), DiffIdOf(BaseLayer())};
  absl::StatusOr<ImageExport> img = ReadImageExport(src, opts);
  ASSERT_TRUE(img.ok()) << img.status();
  ASSERT_EQ(img->layers.size(), 2u);
  EXPECT_EQ(img->layers[0].diff_id, opts.expected_diff_ids[0]);
  EXPECT_EQ(img->layers[1].diff_id, opts.expected_diff_ids[1]);
}

TEST(ImageExportReaderTest, FollowsSymlinkedLayerTars) {
  json m = json::array({{{"Config", "c.json"}, {"Layers", {"a/layer.tar", "b/layer.tar"}}}});
  std::string tar = TarWriter()
                        .File("manifest.json", m.dump())
                        .File("c.json", "{}")
                        .Symlink("b/layer.tar", "../a/layer.tar")
                        .File("a/layer.tar", AppLayer())
                        .Finish();
  MemoryByteSource src(tar);
  absl::StatusOr<ImageExport> img = ReadImageExport(src);
  ASSERT_TRUE(img.ok()) << img.status();
  ASSERT_EQ(img->layers.size(), 2u);
  EXPECT_EQ(img->layers[1].files.size(), 2u);
  EXPECT_EQ(img->layers[0].diff_id, img->layers[1].diff_id);
}

TEST(ImageExportReaderTest, ReturnsDataLossWhenStreamTruncated) {
  std::string tar = ClassicExport();
  // Cut in the middle of the 10 MiB layer.
  MemoryByteSource src(absl::string_view(tar).substr(0, tar.size() / 2));
  absl::StatusOr<ImageExport> img = ReadImageExport(src);
  EXPECT_EQ(img.status().code(), absl::StatusCode::kDataLoss) << img.status();
}

TEST(ImageExportReaderTest, ReturnsInvalidArgumentWhenNotATar) {
  std::string junk(4096, 'x');
  MemoryByteSource src(junk);
  absl::StatusOr<ImageExport> img = ReadImageExport(src);
  EXPECT_EQ(img.status().code(), absl::StatusCode::kInvalidArgument) << img.status();
}

TEST(ImageExportReaderTest, ReturnsDataLossWhenManifestNamesMissingLayer) {
  json m = json::array({{{"Config", "c.json"}, {"Layers", {"a/layer.tar", "gone/layer.tar"}}}});
  std::string tar = TarWriter()
                        .File("a/layer.tar", AppLayer())
                        .File("c.json", "{}")
                        .File("manifest.json", m.dump())
                        .Finish();
  MemoryByteSource src(tar);
  absl::StatusOr<ImageExport> img = ReadImageExport(src);
  EXPECT_EQ(img.status().code(), absl::StatusCode::kDataLoss);
  EXPECT_NE(img.status().message().find("gone/layer.tar"), std::string::npos) << img.status();
}

TEST(ImageExportReaderTest, ReturnsDataLossWhenLayerIsNotATar) {
  json m = json::array({{{"Config", "c.json"}, {"Layers", {"a/layer.tar"}}}});
  std::string tar = TarWriter()
                        .File("a/layer.tar", std::string(3000, 'z'))
                        .File("c.json", "{}")
                        .File("manifest.json", m.dump())
                        .Finish();
  MemoryByteSource src(tar);
  EXPECT_EQ(ReadImageExport(src).status().code(), absl::StatusCode::kDataLoss);
}

TEST(ImageExportReaderTest, ReturnsDataLossWhenNoManifestOrConfig) {
  std::string tar = TarWriter().File("a/layer.tar", AppLayer()).Finish();
  MemoryByteSource src(tar);
  EXPECT_EQ(ReadImageExport(src).status().code(), absl::StatusCode::kDataLoss);
  MemoryByteSource empty("");
  EXPECT_EQ(ReadImageExport(empty).status().code(), absl::StatusCode::kDataLoss);
}

// Fails with Unavailable after `limit` bytes, like a dropped engine connection.
class FailingSource : public ByteSource {
 public:
  FailingSource(absl::string_view data, size_t limit) : inner_(data.substr(0, limit)) {}
  absl::StatusOr<size_t> Read(char* buf, size_t len) override {
    absl::StatusOr<size_t> n = inner_.Read(buf, len);
    if (n.ok() && *n == 0) return absl::UnavailableError("engine connection reset");
    return n;
  }

 private:
  MemoryByteSource inner_;
};

TEST(ImageExportReaderTest, PropagatesSourceErrorWhenReadFails) {
  std::string tar = ClassicExport();
  for (size_t limit : {size_t{0}, size_t{700}, tar.size() / 2}) {
    FailingSource src(tar, limit);
    absl::StatusOr<ImageExport> img = ReadImageExport(src);
    EXPECT_EQ(img.status().code(), absl::StatusCode::kUnavailable) << limit << img.status();
  }
}

TEST(ImageExportReaderTest, ReturnsResourceExhaustedPastEntryLimit) {
  std::string tar = ClassicExport();
  MemoryByteSource src(tar);
  ReadOptions opts;
  opts.max_entries = 3;
  EXPECT_EQ(ReadImageExport(src, opts).status().code(), absl::StatusCode::kResourceExhausted);
}

// A ustar header, built by hand so a huge stream needs no memory.
std::string UstarHeader(const std::string& name, uint64_t size) {
  std::string h(512, '\0');
  name.copy(h.data(), 100);
  std::snprintf(&h[100], 8, "%07o", 0644);
  std::snprintf(&h[124], 12, "%011llo", static_cast<unsigned long long>(size));
  h[156] = '0';
  std::memcpy(&h[257],
              "ustar\0"
              "00",
              8);
  std::memset(&h[148], ' ', 8);
  unsigned sum = 0;
  for (unsigned char ch : h) sum += ch;
  std::snprintf(&h[148], 8, "%06o", sum);
  return h;
}

// Serves pieces in order; a piece is either bytes or a run of zeros.
class PiecesSource : public ByteSource {
 public:
  void Bytes(std::string b) { pieces_.push_back({std::move(b), 0}); }
  void Zeros(uint64_t n) { pieces_.push_back({"", n}); }
  absl::StatusOr<size_t> Read(char* buf, size_t len) override {
    while (next_ < pieces_.size()) {
      Piece& p = pieces_[next_];
      size_t left = p.zeros > 0 ? p.zeros - pos_ : p.bytes.size() - pos_;
      if (left == 0) {
        ++next_;
        pos_ = 0;
        continue;
      }
      size_t n = std::min(left, len);
      if (p.zeros > 0) {
        std::memset(buf, 0, n);
      } else {
        std::memcpy(buf, p.bytes.data() + pos_, n);
      }
      pos_ += n;
      return n;
    }
    return 0;
  }

 private:
  struct Piece {
    std::string bytes;
    uint64_t zeros;
  };
  std::vector<Piece> pieces_;
  size_t next_ = 0;
  size_t pos_ = 0;
};

long PeakRssKiB() {
  rusage u{};
  getrusage(RUSAGE_SELF, &u);
  return u.ru_maxrss;
}

TEST(ImageExportReaderTest, StreamsLargeLayerInBoundedMemory) {
  constexpr uint64_t kBig = 256ull << 20;
  json m = json::array({{{"Config", "c.json"}, {"Layers", {"l/layer.tar"}}}});
  std::string manifest = m.dump();
  PiecesSource src;
  src.Bytes(UstarHeader("l/layer.tar", 512 + kBig + 1024));
  src.Bytes(UstarHeader("big.bin", kBig));
  src.Zeros(kBig + 1024);
  src.Bytes(UstarHeader("c.json", 2) + "{}" + std::string(510, '\0'));
  src.Bytes(UstarHeader("manifest.json", manifest.size()) + manifest);
  src.Zeros(512 - manifest.size() % 512 + 1024);
  long before = PeakRssKiB();
  absl::StatusOr<ImageExport> img = ReadImageExport(src);
  ASSERT_TRUE(img.ok()) << img.status();
  EXPECT_EQ(img->layers.at(0).content_bytes, static_cast<int64_t>(kBig));
  EXPECT_EQ(img->layers.at(0).tar_bytes, static_cast<int64_t>(512 + kBig + 1024));
  EXPECT_LT(PeakRssKiB() - before, 16 * 1024) << "the layer was buffered";
}

TEST(CleanLayerPathTest, CleansLikeGoPathClean) {
  EXPECT_EQ(CleanLayerPath("./a//b/../c/"), "/a/c");
  EXPECT_EQ(CleanLayerPath("."), "/");
  EXPECT_EQ(CleanLayerPath(""), "/");
  EXPECT_EQ(CleanLayerPath("../../x"), "/x");
}

}  // namespace
}  // namespace dkd::core
