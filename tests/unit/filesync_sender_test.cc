// ServeDiffCopy against an in-memory receiver that behaves as BuildKit's:
// STATs in walk order ending with an empty one, REQs by index (sent while
// STATs still arrive), DATA ending with an empty packet, FIN answered with
// FIN; plus the metadata BuildKit sends and the receiver's failures.
#include "server/filesync_sender.h"

#include <gtest/gtest.h>

#include <condition_variable>
#include <cstring>
#include <deque>
#include <map>
#include <mutex>
#include <string>
#include <vector>

#include "tests/support/string_source.h"
#include "tests/support/tar_craft.h"

namespace dkd::server {
namespace {

using fsutil::types::Packet;
using namespace dkd::testing;  // NOLINT: test helpers

std::unique_ptr<core::ContextStore> Load(const std::string& tar) {
  auto store = LoadStore(tar, ::testing::TempDir());
  EXPECT_TRUE(store.ok()) << store.status();
  return store.ok() ? std::move(*store) : nullptr;
}

// Asks for every file as soon as its STAT arrives, then FIN once every file
// it asked for has ended.
class Receiver final : public PacketStream {
 public:
  explicit Receiver(bool fail_after_stats = false) : fail_after_stats_(fail_after_stats) {}

  bool Write(const Packet& p) override {
    std::lock_guard<std::mutex> lock(mu_);
    if (finished_) {
      after_fin_.push_back(p);
      return true;
    }
    if (p.type() == Packet::PACKET_STAT) {
      if (!p.has_stat()) {
        stats_done_ = true;
        if (fail_after_stats_) {
          Packet err;
          err.set_type(Packet::PACKET_ERR);
          err.set_data("disk full");
          inbox_.push_back(err);
        }
      } else {
        const uint32_t id = next_id_++;
        paths_.push_back(p.stat().path());
        modes_.push_back(p.stat().mode());
        if ((p.stat().mode() & 0xffff0000u) == 0 && !fail_after_stats_) {  // A regular file.
          Packet req;
          req.set_type(Packet::PACKET_REQ);
          req.set_id(id);
          inbox_.push_back(req);
          open_.insert({id, ""});
        }
      }
    } else if (p.type() == Packet::PACKET_DATA) {
      auto it = open_.find(p.id());
      if (it == open_.end()) {
        protocol_errors_.push_back("DATA for an id not asked for");
      } else if (p.data().empty()) {
        contents_[paths_[p.id()]] = it->second;
        open_.erase(it);
      } else {
        it->second += p.data();
      }
    } else if (p.type() == Packet::PACKET_FIN) {
      finished_ = true;
    }
    if (stats_done_ && open_.empty() && !fin_sent_ && !fail_after_stats_) {
      Packet fin;
      fin.set_type(Packet::PACKET_FIN);
      inbox_.push_back(fin);
      fin_sent_ = true;
    }
    cv_.notify_all();
    return true;
  }

  bool Read(Packet* p) override {
    std::unique_lock<std::mutex> lock(mu_);
    cv_.wait(lock, [&] { return !inbox_.empty(); });
    *p = inbox_.front();
    inbox_.pop_front();
    return true;
  }

  std::vector<std::string> paths_;
  std::vector<uint32_t> modes_;
  std::map<std::string, std::string> contents_;
  std::vector<std::string> protocol_errors_;
  std::vector<Packet> after_fin_;
  bool finished_ = false;

 private:
  const bool fail_after_stats_;
  std::mutex mu_;
  std::condition_variable cv_;
  std::deque<Packet> inbox_;
  std::map<uint32_t, std::string> open_;
  uint32_t next_id_ = 0;
  bool stats_done_ = false;
  bool fin_sent_ = false;
};

TEST(FileSyncSenderTest, SendsTheSelectionAndEveryRequestedFileThenAnswersFin) {
  const std::string big(1 << 20, 'b');  // More than one DATA packet.
  auto store = Load(TarFile("Dockerfile", "FROM x\n") + TarFile("dir/big", big) +
                    TarSymlink("dir/link", "big") + TarFile("empty", "") + TarEnd());
  ASSERT_NE(store, nullptr);
  auto all = store->Select({});
  ASSERT_TRUE(all.ok());
  Receiver r;
  ASSERT_TRUE(ServeDiffCopy(*store, *all, r).ok());
  EXPECT_EQ(r.paths_,
            (std::vector<std::string>{"Dockerfile", "dir", "dir/big", "dir/link", "empty"}));
  EXPECT_EQ(r.modes_[1], (1u << 31) | 0755u);
  EXPECT_EQ(r.modes_[3] & (1u << 27), 1u << 27);
  EXPECT_EQ(r.contents_.at("Dockerfile"), "FROM x\n");
  EXPECT_EQ(r.contents_.at("dir/big"), big);
  EXPECT_EQ(r.contents_.at("empty"), "");
  EXPECT_TRUE(r.protocol_errors_.empty());
  EXPECT_TRUE(r.finished_);
  EXPECT_TRUE(r.after_fin_.empty());
}

TEST(FileSyncSenderTest, TheReceiversErrorEndsTheCallWithItsText) {
  auto store = Load(TarFile("a", "1") + TarEnd());
  ASSERT_NE(store, nullptr);
  auto all = store->Select({});
  Receiver r(/*fail_after_stats=*/true);
  absl::Status s = ServeDiffCopy(*store, *all, r);
  EXPECT_EQ(s.code(), absl::StatusCode::kAborted);
  EXPECT_NE(s.message().find("disk full"), std::string::npos) << s;
}

// A receiver that asks for what it was not offered.
class Prober final : public PacketStream {
 public:
  explicit Prober(uint32_t id) : id_(id) {}
  bool Write(const Packet&) override { return true; }
  bool Read(Packet* p) override {
    p->set_type(Packet::PACKET_REQ);
    p->set_id(id_);
    return true;
  }

 private:
  uint32_t id_;
};

TEST(FileSyncSenderTest, ARequestForADirectoryOrAnUnsentIdIsRefused) {
  auto store = Load(TarFile("dir/f", "secret") + TarFile("other", "x") + TarEnd());
  ASSERT_NE(store, nullptr);
  core::ContextFilter f;
  f.follow_paths = {"dir/f"};
  auto picked = store->Select(f);  // "dir", "dir/f": ids 0 and 1.
  ASSERT_TRUE(picked.ok());
  ASSERT_EQ(picked->size(), 2u);
  Prober dir(0), unsent(2);
  EXPECT_EQ(ServeDiffCopy(*store, *picked, dir).code(), absl::StatusCode::kInvalidArgument);
  EXPECT_EQ(ServeDiffCopy(*store, *picked, unsent).code(), absl::StatusCode::kInvalidArgument);
}

class Vanishing final : public PacketStream {
 public:
  bool Write(const Packet&) override { return writes_left_-- > 0; }
  bool Read(Packet*) override { return false; }

 private:
  int writes_left_ = 1;
};

TEST(FileSyncSenderTest, AReceiverThatGoesAwayIsUnavailable) {
  auto store = Load(TarFile("a", "1") + TarFile("b", "2") + TarEnd());
  ASSERT_NE(store, nullptr);
  auto all = store->Select({});
  Vanishing v;
  EXPECT_EQ(ServeDiffCopy(*store, *all, v).code(), absl::StatusCode::kUnavailable);
}

TEST(FileSyncSenderTest, MetadataIsReadAsBuildKitEncodesIt) {
  FileSyncRequest r = ParseFileSyncMetadata({{"dir-name", "context"},
                                             {"followpaths", "a%20b"},
                                             {"followpaths", "c"},
                                             {"followpaths-encoded", "1"},
                                             {"exclude-patterns", "x%20y"},
                                             {"include-patterns", "src"}});
  EXPECT_EQ(r.dir_name, "context");
  EXPECT_EQ(r.filter.follow_paths, (std::vector<std::string>{"a b", "c"}));
  // Not marked encoded: taken as it is.
  EXPECT_EQ(r.filter.exclude_patterns, (std::vector<std::string>{"x%20y"}));
  EXPECT_EQ(r.filter.include_patterns, (std::vector<std::string>{"src"}));
}

}  // namespace
}  // namespace dkd::server
