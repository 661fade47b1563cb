// The build context limit where the context's bytes are read
// (BuildContextReader), and a BuildSpec.context_size_hint over it refused by
// a real Daemon, with no engine, right after the spec is read.
#include <grpcpp/grpcpp.h>
#include <gtest/gtest.h>
#include <stdlib.h>

#include <deque>
#include <filesystem>
#include <fstream>
#include <memory>
#include <string>
#include <vector>

#include "absl/strings/numbers.h"
#include "dkd/v1/docker_manager.grpc.pb.h"
#include "server/build_context_reader.h"
#include "server/config.h"
#include "server/daemon.h"
#include "server/daemon_options.h"
#include "server/metrics.h"

namespace dkd::server {
namespace {

// The messages a BuildImage call sends after its spec.
class Messages {
 public:
  void Chunk(const std::string& bytes) {
    dkd::v1::BuildImageRequest m;
    m.set_context_chunk(bytes);
    queue_.push_back(m);
  }
  void Spec() {
    dkd::v1::BuildImageRequest m;
    m.mutable_spec();
    queue_.push_back(m);
  }
  BuildContextReader::NextMessage Next() {
    return [this](dkd::v1::BuildImageRequest* msg) {
      if (queue_.empty()) return false;
      *msg = queue_.front();
      queue_.pop_front();
      ++taken_;
      return true;
    };
  }
  int taken() const { return taken_; }

 private:
  std::deque<dkd::v1::BuildImageRequest> queue_;
  int taken_ = 0;
};

// Reads `reader` to its end or first error, `step` bytes at a time.
absl::Status ReadAll(BuildContextReader& reader, std::string* out, size_t step = 7) {
  std::vector<char> buf(step);
  while (true) {
    auto n = reader.Read(buf.data(), buf.size());
    if (!n.ok()) return n.status();
    if (*n == 0) return absl::OkStatus();
    out->append(buf.data(), *n);
  }
}

double ContextBytesMetric(const Metrics& metrics) {
  const std::string text = metrics.Render();
  const std::string name = "dkd_build_context_bytes_total ";
  const size_t at = text.find("\n" + name);
  if (at == std::string::npos) return -1;
  const size_t from = at + 1 + name.size();
  double v = -1;
  if (!absl::SimpleAtod(text.substr(from, text.find('\n', from) - from), &v)) return -1;
  return v;
}

TEST(BuildContextReaderTest, PassesChunksOnInOrderAndCountsThem) {
  Messages m;
  m.Chunk("hello ");
  m.Chunk("");
  m.Chunk("build context");
  Metrics metrics;
  BuildContextReader reader(m.Next(), 100, &metrics);
  std::string got;
  ASSERT_TRUE(ReadAll(reader, &got).ok());
  EXPECT_EQ(got, "hello build context");
  EXPECT_EQ(reader.received(), 19);
  EXPECT_EQ(ContextBytesMetric(metrics), 19) << metrics.Render();
  // The end stays the end.
  char c;
  EXPECT_EQ(*reader.Read(&c, 1), 0u);
}

TEST(BuildContextReaderTest, ExactlyTheLimitIsAllowed) {
  Messages m;
  m.Chunk(std::string(60, 'a'));
  m.Chunk(std::string(40, 'b'));
  BuildContextReader reader(m.Next(), 100, nullptr);
  std::string got;
  EXPECT_TRUE(ReadAll(reader, &got).ok());
  EXPECT_EQ(got.size(), 100u);
}

TEST(BuildContextReaderTest, TheChunkThatCrossesTheLimitIsRefusedBeforeAnyOfItIsHandedOn) {
  Messages m;
  m.Chunk(std::string(60, 'a'));
  m.Chunk(std::string(41, 'b'));
  m.Chunk(std::string(10, 'c'));
  Metrics metrics;
  BuildContextReader reader(m.Next(), 100, &metrics);
  std::string got;
  absl::Status s = ReadAll(reader, &got);
  EXPECT_EQ(s.code(), absl::StatusCode::kResourceExhausted) << s;
  EXPECT_EQ(std::string(s.message()),
            "limits.max_context_bytes: the build context exceeds 100 bytes");
  EXPECT_TRUE(IsContextTooLarge(s));
  EXPECT_EQ(got, std::string(60, 'a'));  // Nothing of the crossing chunk.
  EXPECT_EQ(m.taken(), 2);               // Nothing read past it.
  EXPECT_EQ(ContextBytesMetric(metrics), 101);
  // Every later read fails the same way: the build cannot mistake it for an end.
  char c;
  EXPECT_EQ(reader.Read(&c, 1).status(), s);
  EXPECT_EQ(m.taken(), 2);
}

TEST(BuildContextReaderTest, NoLimitReadsEverything) {
  Messages m;
  for (int i = 0; i < 100; ++i) m.Chunk(std::string(1000, 'x'));
  BuildContextReader reader(m.Next(), 0, nullptr);
  std::string got;
  EXPECT_TRUE(ReadAll(reader, &got, 4096).ok());
  EXPECT_EQ(got.size(), 100000u);
}

TEST(BuildContextReaderTest, ASecondSpecIsInvalidArgument) {
  Messages m;
  m.Chunk("abc");
  m.Spec();
  m.Chunk("def");
  BuildContextReader reader(m.Next(), 0, nullptr);
  std::string got;
  absl::Status s = ReadAll(reader, &got);
  EXPECT_EQ(s.code(), absl::StatusCode::kInvalidArgument) << s;
  EXPECT_NE(std::string(s.message()).find("spec: only the first BuildImage message"),
            std::string::npos);
  EXPECT_EQ(got, "abc");
  EXPECT_FALSE(IsContextTooLarge(s));
}

TEST(BuildContextReaderTest, TheCoresOwnLimitMessageIsRecognized) {
  EXPECT_TRUE(IsContextTooLarge(absl::ResourceExhaustedError(
      "limits.max_context_bytes: the build context exceeds 5 bytes (counted decompressed, as "
      "the engine receives it)")));
  EXPECT_FALSE(IsContextTooLarge(absl::ResourceExhaustedError("limits.max_calls_per_identity")));
  EXPECT_FALSE(IsContextTooLarge(absl::InvalidArgumentError("limits.max_context_bytes")));
}

// A Daemon on its own unix socket whose engine socket does not exist.
class DaemonBuildLimitTest : public ::testing::Test {
 protected:
  void SetUp() override {
    char tmpl[] = "/tmp/dkdbl.XXXXXX";
    dir_ = mkdtemp(tmpl);
    const std::string path = dir_ + "/dkd.json";
    std::ofstream(path) << R"({"engine": "unix://)" << dir_ << R"(/no-engine.sock",
        "listen": {"unix_socket": ")"
                        << dir_ << R"(/d.sock", "tcp": "", "unix_socket_role": "build"},
        "http": {"listen": ""}, "shutdown_grace_seconds": 0,
        "limits": {"max_context_bytes": 1000}})";
    auto config = LoadConfig(path, ConfigOverrides());
    ASSERT_TRUE(config.ok()) << config.status();
    DaemonOptions options;
    options.config_path = path;
    auto daemon = Daemon::Start(options, *std::move(config));
    ASSERT_TRUE(daemon.ok()) << daemon.status();
    daemon_ = *std::move(daemon);
  }
  void TearDown() override {
    daemon_.reset();
    std::error_code ec;
    std::filesystem::remove_all(dir_, ec);
  }

  // Sends a spec with `hint` and no context; the call's status.
  grpc::Status BuildWithHint(int64_t hint) {
    auto stub = dkd::v1::DockerManager::NewStub(
        grpc::CreateChannel("unix://" + dir_ + "/d.sock", grpc::InsecureChannelCredentials()));
    grpc::ClientContext context;
    context.set_deadline(std::chrono::system_clock::now() + std::chrono::seconds(30));
    auto stream = stub->BuildImage(&context);
    dkd::v1::BuildImageRequest first;
    first.mutable_spec()->mutable_config()->set_image_name("limit-test");
    first.mutable_spec()->set_context_size_hint(hint);
    stream->Write(first);
    stream->WritesDone();
    dkd::v1::BuildEvent event;
    while (stream->Read(&event)) {
    }
    return stream->Finish();
  }

  std::string dir_;
  std::unique_ptr<Daemon> daemon_;
};

TEST_F(DaemonBuildLimitTest, AHintOverTheLimitIsRefusedRightAfterTheSpec) {
  grpc::Status s = BuildWithHint(1001);
  EXPECT_EQ(s.error_code(), grpc::StatusCode::RESOURCE_EXHAUSTED) << s.error_message();
  EXPECT_EQ(s.error_message(), "limits.max_context_bytes: the build context exceeds 1000 bytes");
}

TEST_F(DaemonBuildLimitTest, AHintWithinTheLimitGoesOnToTheBuild) {
  // The build then needs the engine, which is down here: not the limit.
  grpc::Status s = BuildWithHint(1000);
  EXPECT_NE(s.error_code(), grpc::StatusCode::RESOURCE_EXHAUSTED) << s.error_message();
  EXPECT_NE(s.error_code(), grpc::StatusCode::OK);
}

}  // namespace
}  // namespace dkd::server
