// ImageOptimizer against the real engine: images with known content are
// built from the fixture's base image, and dkd's figures are checked against
// values computed by hand from that content.
//
// B below is the base layer's content (Σ regular-file sizes in its tar, as
// GNU tar lists them). With dive's definitions:
//   written then deleted:  /big 10 MiB in layer 1, whiteout in layer 2
//     wasted = 10485760; efficiency = B / (B + 10485760); user size 10485760
//   written four times:    /big 4, 10, 2, 6 MiB in layers 1-4
//     wasted = 22 MiB = 23068672; efficiency = (B + 2 MiB) / (B + 22 MiB);
//     blamed layer 2 (the largest copy later replaced); replaced bytes 16 MiB
//   apt-like caches:       2048000 + 102400 bytes of lists, 1024000 of cache
//     apt suggestion measured at 3174400 bytes; nothing wasted
#include <grpcpp/grpcpp.h>
#include <gtest/gtest.h>

#include <cstdio>
#include <cstdlib>
#include <fstream>
#include <memory>
#include <string>
#include <vector>

#include "absl/strings/match.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/strip.h"
#include "dkd/v1/image_optimizer.grpc.pb.h"
#include "nlohmann/json.hpp"
#include "tests/support/daemon_fixture.h"

namespace dkd::testing {
namespace {

namespace pb = ::dkd::v1;

constexpr int64_t kMiB = 1 << 20;
constexpr const char* kDeleted = "dkd-io-test:deleted";
constexpr const char* kRewritten = "dkd-io-test:rewritten";
constexpr const char* kApt = "dkd-io-test:apt";
constexpr const char* kDdBig10 = "/bin/sh -c dd if=/dev/zero of=/big bs=1M count=10";

std::vector<std::string> Docker(std::vector<std::string> args) {
  args.insert(args.begin(), {"docker", "-H", TestEngineHost()});
  return args;
}

std::string Trim(const std::string& s) { return std::string(absl::StripAsciiWhitespace(s)); }

// Builds `tag` from a Dockerfile whose first line is FROM the base image.
// Returns "" or what went wrong.
std::string Build(const std::string& tag, const std::string& body) {
  char dir_template[] = "/tmp/dkd-io-XXXXXX";
  if (mkdtemp(dir_template) == nullptr) return "mkdtemp failed";
  const std::string dir = dir_template;
  std::ofstream(dir + "/Dockerfile") << "FROM " << FixtureEnv("DKD_TEST_BASE_IMAGE") << "\n"
                                     << body;
  CommandResult r = RunCommand(Docker({"build", "--pull=false", "-q", "-t", tag, dir}),
                               {{"DOCKER_BUILDKIT", "0"}});
  RunCommand({"rm", "-rf", dir});
  return r.exit_code == 0 ? "" : absl::StrCat("docker build ", tag, ": ", r.err);
}

class ImageOptimizerIntegrationTest : public ::testing::Test {
 protected:
  // Failures here are reported by every test (SetUp), so a missing fixture
  // fails loudly instead of skipping.
  static void SetUpTestSuite() { setup_error_ = Prepare(); }
  static std::string Prepare() {
    if (FixtureEnv("DKD_TEST_BASE_IMAGE").empty()) {
      return "DKD_TEST_BASE_IMAGE is unset: run scripts/fixtures.sh up and eval its env first";
    }
    auto d = DaemonProcess::Start({});
    if (!d.ok()) return std::string(d.status().message());
    daemon_ = d->release();
    for (const std::string& err :
         {Build(kDeleted, "RUN dd if=/dev/zero of=/big bs=1M count=10\nRUN rm /big\n"),
          Build(kRewritten,
                "RUN dd if=/dev/zero of=/big bs=1M count=4\n"
                "RUN dd if=/dev/zero of=/big bs=1M count=10\n"
                "RUN dd if=/dev/zero of=/big bs=1M count=2\n"
                "RUN dd if=/dev/zero of=/big bs=1M count=6\n"),
          Build(kApt,
                "RUN mkdir -p /var/lib/apt/lists/partial /var/cache/apt/archives && "
                "dd if=/dev/zero of=/var/lib/apt/lists/deb.debian.org_dists_bookworm_main_Packages "
                "bs=1K count=2000 && "
                "dd if=/dev/zero of=/var/lib/apt/lists/deb.debian.org_dists_bookworm_InRelease "
                "bs=1K count=100 && "
                "dd if=/dev/zero of=/var/cache/apt/pkgcache.bin bs=1K count=1000\n"
                "USER nobody\n"
                "HEALTHCHECK CMD true\n")}) {
      if (!err.empty()) return err;
    }
    // B: Σ regular-file sizes in the base layer, listed by GNU tar.
    CommandResult b =
        RunCommand({"sh", "-c",
                    absl::StrCat("docker -H '", TestEngineHost(), "' save '",
                                 FixtureEnv("DKD_TEST_BASE_IMAGE"),
                                 "' | tar -xOf - --wildcards '*/layer.tar' | tar -tvf - | "
                                 "awk '$1 ~ /^-/ {s += $3} END {print s}'")});
    if (b.exit_code != 0 || !absl::SimpleAtoi(Trim(b.out), &base_bytes_) || base_bytes_ <= 0) {
      return absl::StrCat("measuring the base layer failed: ", b.out, b.err);
    }
    return "";
  }
  void SetUp() override {
    if (!setup_error_.empty()) FAIL() << setup_error_;
  }
  static void TearDownTestSuite() {
    RunCommand(Docker({"rmi", "-f", kDeleted, kRewritten, kApt}));
    delete daemon_;
    daemon_ = nullptr;
  }

  static std::unique_ptr<pb::ImageOptimizer::Stub> Stub() {
    return pb::ImageOptimizer::NewStub(
        grpc::CreateChannel(daemon_->unix_target(), grpc::InsecureChannelCredentials()));
  }
  static grpc::Status Analyze(const std::string& image, bool deep, pb::ImageAnalysis* out) {
    grpc::ClientContext ctx;
    pb::AnalyzeImageRequest req;
    req.set_image(image);
    req.set_deep(deep);
    return Stub()->AnalyzeImage(&ctx, req, out);
  }
  static const pb::OptimizationSuggestion* Find(const pb::ImageAnalysis& a,
                                                const std::string& text) {
    for (const auto& s : a.potential_optimizations()) {
      if (absl::StrContains(s.description(), text)) return &s;
    }
    return nullptr;
  }

  static DaemonProcess* daemon_;
  static int64_t base_bytes_;
  static std::string setup_error_;
};
DaemonProcess* ImageOptimizerIntegrationTest::daemon_ = nullptr;
std::string ImageOptimizerIntegrationTest::setup_error_;
int64_t ImageOptimizerIntegrationTest::base_bytes_ = 0;

TEST_F(ImageOptimizerIntegrationTest, FileWrittenThenDeletedIsWastedAndBlamed) {
  pb::ImageAnalysis a;
  grpc::Status s = Analyze(kDeleted, true, &a);
  ASSERT_TRUE(s.ok()) << s.error_message();
  const double b = static_cast<double>(base_bytes_);
  EXPECT_EQ(a.efficiency().wasted_bytes(), 10 * kMiB);
  EXPECT_DOUBLE_EQ(a.efficiency().efficiency(), b / (b + 10 * kMiB));
  EXPECT_EQ(a.efficiency().user_size_bytes(), 10 * kMiB);
  EXPECT_DOUBLE_EQ(a.efficiency().user_wasted_percent(), 1.0);
  ASSERT_GE(a.efficiency().top_wasted_size(), 1);
  const pb::WastedPath& w = a.efficiency().top_wasted(0);
  EXPECT_EQ(w.path(), "/big");
  EXPECT_EQ(w.wasted_bytes(), 10 * kMiB);
  EXPECT_EQ(w.occurrences(), 2);
  EXPECT_EQ(w.blamed_layer(), 1);
  EXPECT_EQ(w.blamed_created_by(), kDdBig10);
  const pb::OptimizationSuggestion* del = Find(a, "deleted by a later layer");
  ASSERT_NE(del, nullptr);
  EXPECT_DOUBLE_EQ(del->size_reduction_mb(), 10.48576);
  EXPECT_TRUE(del->size_measured());
  // Measured facts, not guesses.
  EXPECT_EQ(a.user(), "");
  EXPECT_NE(Find(a, "runs as root"), nullptr);
  EXPECT_EQ(a.layers_size(), 3);
  EXPECT_EQ(a.layers(2).created_by(), "/bin/sh -c rm /big");
  EXPECT_EQ(a.layers(1).size_bytes(), 10 * kMiB);
}

TEST_F(ImageOptimizerIntegrationTest, FileWrittenFourTimesBlamesTheLargestReplacedCopy) {
  pb::ImageAnalysis a;
  grpc::Status s = Analyze(kRewritten, true, &a);
  ASSERT_TRUE(s.ok()) << s.error_message();
  const double b = static_cast<double>(base_bytes_);
  EXPECT_EQ(a.efficiency().wasted_bytes(), 22 * kMiB);
  EXPECT_DOUBLE_EQ(a.efficiency().efficiency(), (b + 2 * kMiB) / (b + 22 * kMiB));
  EXPECT_EQ(a.efficiency().user_size_bytes(), 22 * kMiB);
  ASSERT_GE(a.efficiency().top_wasted_size(), 1);
  const pb::WastedPath& w = a.efficiency().top_wasted(0);
  EXPECT_EQ(w.path(), "/big");
  EXPECT_EQ(w.occurrences(), 4);
  EXPECT_EQ(w.blamed_layer(), 2);
  EXPECT_EQ(w.blamed_created_by(), kDdBig10);
  const pb::OptimizationSuggestion* rep = Find(a, "replaced by a later layer");
  ASSERT_NE(rep, nullptr);
  EXPECT_DOUBLE_EQ(rep->size_reduction_mb(), 16.777216);
}

TEST_F(ImageOptimizerIntegrationTest, AptLikeListsAreMeasured) {
  pb::ImageAnalysis a;
  grpc::Status s = Analyze(kApt, true, &a);
  ASSERT_TRUE(s.ok()) << s.error_message();
  const pb::OptimizationSuggestion* apt = Find(a, "apt package lists and cache");
  ASSERT_NE(apt, nullptr);
  EXPECT_TRUE(apt->size_measured());
  EXPECT_DOUBLE_EQ(apt->size_reduction_mb(), 3.1744);
  EXPECT_TRUE(absl::StrContains(apt->evidence(), "3174400 bytes from layer 1")) << apt->evidence();
  EXPECT_EQ(a.efficiency().wasted_bytes(), 0);
  EXPECT_DOUBLE_EQ(a.efficiency().efficiency(), 1.0);
  EXPECT_EQ(a.user(), "nobody");
  EXPECT_TRUE(a.has_health_check());
  EXPECT_EQ(Find(a, "runs as root"), nullptr);
  EXPECT_EQ(Find(a, "HEALTHCHECK"), nullptr);
}

TEST_F(ImageOptimizerIntegrationTest, BaseImageFoundByLayerPrefix) {
  pb::ImageAnalysis a;
  ASSERT_TRUE(Analyze(kDeleted, false, &a).ok());
  EXPECT_EQ(a.base_image_method(), pb::BASE_IMAGE_METHOD_LAYER_PREFIX);
  auto id = [](const std::string& image) {
    return Trim(RunCommand(Docker({"image", "inspect", "--format", "{{.Id}}", image})).out);
  };
  EXPECT_EQ(id(a.base_image()), id(FixtureEnv("DKD_TEST_BASE_IMAGE"))) << a.base_image();
  EXPECT_FALSE(a.has_efficiency());
  EXPECT_NEAR(a.size_mb(), static_cast<double>(a.size_bytes()) / 1e6, 1e-9);
}

TEST_F(ImageOptimizerIntegrationTest, CompareAndReport) {
  grpc::ClientContext ctx;
  pb::CompareImagesRequest req;
  req.set_image_a(FixtureEnv("DKD_TEST_BASE_IMAGE"));
  req.set_image_b(kDeleted);
  pb::ImageComparison c;
  grpc::Status s = Stub()->CompareImages(&ctx, req, &c);
  ASSERT_TRUE(s.ok()) << s.error_message();
  EXPECT_EQ(c.shared_layers(), 1);
  EXPECT_EQ(c.layer_count_difference(), 2);
  EXPECT_EQ(c.size_difference_bytes(), c.b().size_bytes() - c.a().size_bytes());

  grpc::ClientContext ctx2;
  pb::AnalyzeImageRequest rreq;
  rreq.set_image(kDeleted);
  rreq.set_deep(true);
  pb::OptimizationReport report;
  s = Stub()->GetOptimizationReport(&ctx2, rreq, &report);
  ASSERT_TRUE(s.ok()) << s.error_message();
  ASSERT_GE(report.implementation_plan_size(), 2);
  for (int i = 1; i < report.implementation_plan_size(); ++i) {
    const auto& prev = report.implementation_plan(i - 1).suggestion();
    const auto& cur = report.implementation_plan(i).suggestion();
    EXPECT_TRUE(prev.impact() > cur.impact() ||
                (prev.impact() == cur.impact() && prev.effort() <= cur.effort()));
    EXPECT_EQ(report.implementation_plan(i).order(), i + 1);
  }
}

TEST_F(ImageOptimizerIntegrationTest, SuggestionsAndOptimizeGroundedInAnImage) {
  grpc::ClientContext ctx;
  pb::AnalyzeImageRequest req;
  req.set_image(kDeleted);
  req.set_deep(true);
  pb::SuggestOptimizationsResponse suggestions;
  grpc::Status s = Stub()->SuggestOptimizations(&ctx, req, &suggestions);
  ASSERT_TRUE(s.ok()) << s.error_message();
  bool measured_delete = false;
  for (const auto& x : suggestions.suggestions()) {
    measured_delete |= x.size_measured() && x.size_reduction_mb() == 10.48576;
  }
  EXPECT_TRUE(measured_delete);

  grpc::ClientContext ctx2;
  pb::OptimizeImageRequest oreq;
  oreq.set_image(kDeleted);
  oreq.mutable_config()->set_build_type("node");
  oreq.mutable_config()->set_base_image("node:20");
  oreq.mutable_config()->add_runtime_commands("npm install");
  pb::OptimizeImageResponse resp;
  s = Stub()->OptimizeImage(&ctx2, oreq, &resp);
  ASSERT_TRUE(s.ok()) << s.error_message();
  EXPECT_EQ(resp.suggested_base_image(), "node:20-slim");
  EXPECT_EQ(resp.optimized_config().runtime_commands(0), "npm install && npm cache clean --force");
  bool root = false;
  for (const auto& x : resp.suggestions()) root |= x.category() == "security";
  EXPECT_TRUE(root);  // from the image's own config
}

TEST_F(ImageOptimizerIntegrationTest, MissingImageIsNotFoundAndBadNameInvalid) {
  pb::ImageAnalysis a;
  EXPECT_EQ(Analyze("dkd-io-test:no-such-tag", true, &a).error_code(), grpc::StatusCode::NOT_FOUND);
  grpc::Status s = Analyze("Bad Name", false, &a);
  EXPECT_EQ(s.error_code(), grpc::StatusCode::INVALID_ARGUMENT);
  EXPECT_TRUE(absl::StartsWith(s.error_message(), "image: ")) << s.error_message();
}

TEST_F(ImageOptimizerIntegrationTest, DkctlCiGateExitCodes) {
  const std::string host = daemon_->unix_host();
  CommandResult r = Dkctl(host, {"analyze", kDeleted, "--ci"});
  EXPECT_EQ(r.exit_code, 1) << r.out << r.err;
  EXPECT_TRUE(absl::StrContains(r.out, "FAIL: lowestEfficiency")) << r.out;
  EXPECT_TRUE(absl::StrContains(r.out, "Result:FAIL")) << r.out;

  r = Dkctl(host, {"analyze", kDeleted, "--ci", "--lowest-efficiency", "0.1",
                   "--highest-user-wasted-percent", "1.0", "--highest-wasted-bytes", "20MB"});
  EXPECT_EQ(r.exit_code, 0) << r.out << r.err;
  r = Dkctl(host, {"analyze", kDeleted, "--ci", "--lowest-efficiency=disabled",
                   "--highest-user-wasted-percent=off", "--highest-wasted-bytes", "10MB"});
  EXPECT_EQ(r.exit_code, 1) << r.out << r.err;
  EXPECT_TRUE(absl::StrContains(r.out, "FAIL: highestWastedBytes")) << r.out;
  r = Dkctl(host, {"analyze", kDeleted, "--ci", "--lowest-efficiency=disabled",
                   "--highest-user-wasted-percent=off", "--highest-wasted-bytes", "10MiB"});
  EXPECT_EQ(r.exit_code, 0) << r.out << r.err;
  r = Dkctl(host, {"analyze", FixtureEnv("DKD_TEST_BASE_IMAGE"), "--ci"});
  EXPECT_EQ(r.exit_code, 0) << r.out << r.err;
  r = Dkctl(host, {"analyze", kDeleted, "--ci", "--lowest-efficiency", "2"});
  EXPECT_EQ(r.exit_code, 125) << r.out << r.err;
}

TEST_F(ImageOptimizerIntegrationTest, DkctlJsonOutput) {
  CommandResult r = Dkctl(daemon_->unix_host(), {"analyze", kDeleted, "--ci", "--format", "json"});
  EXPECT_EQ(r.exit_code, 1) << r.err;
  auto j = nlohmann::json::parse(r.out, nullptr, false);
  ASSERT_FALSE(j.is_discarded()) << r.out;
  EXPECT_EQ(j["efficiency"]["wasted_bytes"], std::to_string(10 * kMiB));
  EXPECT_EQ(j["efficiency"]["top_wasted"][0]["blamed_created_by"], kDdBig10);
  EXPECT_EQ(j["ci"]["result"], "FAIL");
  EXPECT_EQ(j["image_name"], kDeleted);

  r = Dkctl(daemon_->unix_host(), {"report", kApt, "--format", "json"});
  ASSERT_EQ(r.exit_code, 0) << r.err;
  j = nlohmann::json::parse(r.out, nullptr, false);
  ASSERT_FALSE(j.is_discarded()) << r.out;
  EXPECT_TRUE(j["implementation_plan"].is_array());

  r = Dkctl(daemon_->unix_host(), {"compare", FixtureEnv("DKD_TEST_BASE_IMAGE"), kDeleted});
  ASSERT_EQ(r.exit_code, 0) << r.err;
  EXPECT_TRUE(absl::StrContains(r.out, "1 shared")) << r.out;
  r = Dkctl(daemon_->unix_host(), {"analyze", kDeleted});
  ASSERT_EQ(r.exit_code, 0) << r.err;
  EXPECT_TRUE(absl::StrContains(r.out, "10.5MB")) << r.out;
}

TEST(ImageOptimizerNoEngineTest, AnalysisUnavailableButConfigOptimizationWorks) {
  auto d = DaemonProcess::Start({"unix:///nonexistent/dkd-io/docker.sock", {}});
  ASSERT_TRUE(d.ok()) << d.status();
  auto stub = pb::ImageOptimizer::NewStub(
      grpc::CreateChannel((*d)->unix_target(), grpc::InsecureChannelCredentials()));
  {
    grpc::ClientContext ctx;
    pb::AnalyzeImageRequest req;
    req.set_image("busybox");
    pb::ImageAnalysis a;
    EXPECT_EQ(stub->AnalyzeImage(&ctx, req, &a).error_code(), grpc::StatusCode::UNAVAILABLE);
  }
  grpc::ClientContext ctx;
  pb::OptimizeImageRequest req;
  req.mutable_config()->set_build_type("python");
  req.mutable_config()->set_base_image("python:3.12");
  pb::OptimizeImageResponse resp;
  grpc::Status s = stub->OptimizeImage(&ctx, req, &resp);
  ASSERT_TRUE(s.ok()) << s.error_message();
  EXPECT_EQ(resp.suggested_base_image(), "python:3.12-slim");
  EXPECT_EQ(resp.optimized_config().runtime_base_image(), "python:3.12-slim");
  EXPECT_EQ(resp.optimized_config().base_image(), "python:3.12");
}

}  // namespace
}  // namespace dkd::testing
