// Ownership beyond containers, attacked by a second identity through a real
// dkd and engine: reading another identity's named volume, re-tagging an
// image another identity runs (or the shared base everyone builds FROM) by
// build or by pull, claiming another identity through labels, and learning
// another owner's container id from a name clash.
#include <gtest/gtest.h>
#include <unistd.h>

#include "absl/strings/str_cat.h"
#include "absl/strings/strip.h"
#include "absl/time/clock.h"
#include "core/docker/docker_manager.h"
#include "dkd/v1/docker_manager.grpc.pb.h"
#include "gmock/gmock.h"
#include "tests/integration/security_helpers.h"

namespace dkd::testing {
namespace {

using dkd::v1::DockerManager;
using grpc::StatusCode;

class OwnershipAttackTest : public ::testing::Test {
 protected:
  static void SetUpTestSuite() {
    base_ = new std::string(FixtureEnv("DKD_TEST_BASE_IMAGE"));
    ASSERT_FALSE(base_->empty()) << "fixtures not up: run scripts/fixtures.sh up";
    auto d = StartDaemon({"",
                          {},
                          TokenConfig({{"alice", "build"}, {"bob", "build"}, {"boss", "admin"}},
                                      "own", R"("ownership":{"enabled":true})")});
    ASSERT_TRUE(d.ok()) << d.status();
    dkd_ = d->release();
    stub_ = DockerManager::NewStub(PlainChannel(dkd_->tcp_target())).release();
  }
  static void TearDownTestSuite() {
    delete stub_;
    delete dkd_;
    delete base_;
  }
  void SetUp() override { ASSERT_NE(stub_, nullptr) << "dkd did not start"; }
  void TearDown() override {
    for (const std::string& id : containers_) Docker({"rm", "-f", id});
    for (const std::string& v : volumes_) Docker({"volume", "rm", "-f", v});
    for (const std::string& i : images_) Docker({"rmi", "-f", i});
  }

  static void As(grpc::ClientContext* ctx, const std::string& who) {
    ctx->AddMetadata("authorization", "Bearer " + TokenFor(who, "own"));
  }
  static dkd::v1::RunContainerRequest Request(const std::vector<std::string>& command) {
    dkd::v1::RunContainerRequest r;
    r.mutable_config()->set_image_name(base_->substr(0, base_->rfind(':')));
    r.mutable_config()->set_tag(base_->substr(base_->rfind(':') + 1));
    for (const auto& c : command) r.add_command(c);
    r.set_pull_policy(dkd::v1::RunContainerRequest::NEVER);
    return r;
  }
  grpc::Status Run(const std::string& who, const dkd::v1::RunContainerRequest& r,
                   dkd::v1::RunContainerResponse* out = nullptr) {
    grpc::ClientContext ctx;
    As(&ctx, who);
    dkd::v1::RunContainerResponse resp;
    grpc::Status s = stub_->RunContainer(&ctx, r, &resp);
    if (s.ok() && !resp.id().empty()) containers_.push_back(resp.id());
    if (out != nullptr) *out = resp;
    return s;
  }
  // `dkctl build` as `who` of a context whose file /owner holds `marker`.
  CommandResult Build(const std::string& who, const std::vector<std::string>& tags,
                      const std::string& marker, const std::vector<std::string>& extra = {}) {
    const std::string dir = MakeTempDir();
    std::ofstream(dir + "/Dockerfile")
        << "FROM " << *base_ << "\nLABEL dkd.owner=alice\nCOPY owner /owner\n";
    std::ofstream(dir + "/owner") << marker << "\n";
    std::vector<std::string> args = {"--token", TokenFor(who, "own"), "build", "--pull=false"};
    for (const auto& t : tags) {
      args.push_back("-t");
      args.push_back(t);
      images_.push_back(t);
    }
    args.insert(args.end(), extra.begin(), extra.end());
    args.push_back(dir);
    CommandResult r = Dkctl(dkd_->tcp_host(), args);
    RunCommand({"rm", "-rf", dir});
    return r;
  }
  std::string ImageId(const std::string& ref) {
    return Docker({"image", "inspect", "-f", "{{.Id}}", ref});
  }

  std::vector<std::string> containers_, volumes_, images_;
  static std::string* base_;
  static DaemonProcess* dkd_;
  static DockerManager::Stub* stub_;
};
std::string* OwnershipAttackTest::base_ = nullptr;
DaemonProcess* OwnershipAttackTest::dkd_ = nullptr;
DockerManager::Stub* OwnershipAttackTest::stub_ = nullptr;

TEST_F(OwnershipAttackTest, AnotherIdentityCannotMountANamedVolume) {
  const std::string vol = absl::StrCat("dkdsec-vol-", getpid());
  volumes_.push_back(vol);
  auto write = Request({"sh", "-c", "echo alice-secret > /v/s"});
  write.set_auto_remove(true);
  (*write.mutable_config()->mutable_volumes())[vol] = "/v";
  ASSERT_TRUE(Run("alice", write).ok());
  EXPECT_EQ(Docker({"volume", "inspect", "-f", "{{index .Labels \"dkd.owner\"}}", vol}), "alice");

  auto read = Request({"cat", "/v/s"});
  read.set_auto_remove(true);
  (*read.mutable_config()->mutable_volumes())[vol] = "/v:ro";
  dkd::v1::RunContainerResponse out;
  grpc::Status s = Run("bob", read, &out);
  EXPECT_EQ(s.error_code(), StatusCode::PERMISSION_DENIED) << s.error_message() << out.stdout();
  EXPECT_EQ(out.stdout().find("alice-secret"), std::string::npos);
  EXPECT_NE(s.error_message().find(vol), std::string::npos) << s.error_message();

  // A volume nobody owns (made on the engine directly) is not a caller's either.
  const std::string loose = absl::StrCat("dkdsec-loose-", getpid());
  volumes_.push_back(loose);
  Docker({"volume", "create", loose});
  auto loose_read = Request({"true"});
  loose_read.set_auto_remove(true);
  (*loose_read.mutable_config()->mutable_volumes())[loose] = "/v";
  EXPECT_EQ(Run("bob", loose_read).error_code(), StatusCode::PERMISSION_DENIED);

  // Neighbours: the owner reads it back, an admin may use it, bob gets his own.
  ASSERT_TRUE(Run("alice", read, &out).ok());
  EXPECT_EQ(out.stdout(), "alice-secret\n");
  EXPECT_TRUE(Run("boss", read, &out).ok());
  const std::string bobs = absl::StrCat("dkdsec-bobvol-", getpid());
  volumes_.push_back(bobs);
  auto own = Request({"true"});
  own.set_auto_remove(true);
  (*own.mutable_config()->mutable_volumes())[bobs] = "/v";
  EXPECT_TRUE(Run("bob", own).ok());
}

TEST_F(OwnershipAttackTest, AnotherIdentityCannotRetagWhatSomeoneRunsOrBuildsFrom) {
  const std::string tag = absl::StrCat("dkdsec-own-", getpid(), ":1");
  CommandResult r = Build("alice", {tag}, "alice");
  ASSERT_EQ(r.exit_code, 0) << r.err;
  const std::string alices = ImageId(tag);
  ASSERT_FALSE(alices.empty());
  // The Dockerfile's LABEL dkd.owner=alice could not claim anything: dkd's wins.
  EXPECT_EQ(Docker({"image", "inspect", "-f", "{{index .Config.Labels \"dkd.owner\"}}", tag}),
            "alice");

  r = Build("bob", {tag}, "bob");
  EXPECT_NE(r.exit_code, 0);
  EXPECT_NE(r.err.find("ownership"), std::string::npos) << r.err;
  r = Build("bob", {absl::StrCat("dkdsec-bob-", getpid(), ":1"), tag}, "bob");
  EXPECT_NE(r.exit_code, 0) << "an extra tag is a tag too";
  r = Build("bob", {absl::StrCat("dkdsec-bob-", getpid(), ":2")}, "bob",
            {"--label", "dkd.owner=alice"});
  EXPECT_EQ(r.exit_code, 0) << r.err;
  EXPECT_EQ(Docker({"image", "inspect", "-f", "{{index .Config.Labels \"dkd.owner\"}}",
                    absl::StrCat("dkdsec-bob-", getpid(), ":2")}),
            "bob")
      << "a --label cannot claim another identity";
  EXPECT_EQ(ImageId(tag), alices) << "bob's build moved alice's tag";

  // The shared base image everybody builds FROM is nobody's to overwrite.
  const std::string base_id = ImageId(*base_);
  images_.erase(std::remove(images_.begin(), images_.end(), *base_), images_.end());
  r = Build("bob", {*base_}, "bob");
  images_.pop_back();
  EXPECT_NE(r.exit_code, 0);
  EXPECT_EQ(ImageId(*base_), base_id) << "the shared base tag was replaced";

  // Neighbour: the owner rebuilds her own tag.
  r = Build("alice", {tag}, "alice-2");
  EXPECT_EQ(r.exit_code, 0) << r.err;
}

TEST_F(OwnershipAttackTest, APullCannotOverwriteAnotherIdentitysTag) {
  const std::string registry = FixtureEnv("DKD_TEST_REGISTRY");
  ASSERT_FALSE(registry.empty());
  const std::string tag = absl::StrCat(registry, "/dkdsec-pull-", getpid(), ":1");
  // What the registry holds under the name is not alice's local build.
  Docker({"tag", *base_, tag});
  ASSERT_EQ(RunCommand({"docker", "-H", TestEngineHost(), "push", tag}).exit_code, 0);
  Docker({"rmi", tag});
  CommandResult built = Build("alice", {tag}, "alice");
  ASSERT_EQ(built.exit_code, 0) << built.err;
  const std::string alices = ImageId(tag);

  auto pull = [&](const std::string& who) {
    grpc::ClientContext ctx;
    As(&ctx, who);
    dkd::v1::PullImageRequest req;
    req.set_image(tag);
    auto reader = stub_->PullImage(&ctx, req);
    dkd::v1::ProgressEvent e;
    while (reader->Read(&e)) {
    }
    return reader->Finish();
  };
  grpc::Status s = pull("bob");
  EXPECT_EQ(s.error_code(), StatusCode::PERMISSION_DENIED) << s.error_message();
  EXPECT_EQ(ImageId(tag), alices) << "bob's pull moved alice's tag";
  // Neighbour: the owner may refresh her tag from the registry.
  s = pull("alice");
  EXPECT_TRUE(s.ok()) << s.error_message();
  EXPECT_EQ(ImageId(tag), ImageId(*base_));
}

// A build with pull on makes the engine re-pull its FROM image, which moves
// that tag to what the registry holds under the name.
TEST_F(OwnershipAttackTest, ABuildsImplicitPullCannotOverwriteAnotherIdentitysTag) {
  const std::string registry = FixtureEnv("DKD_TEST_REGISTRY");
  ASSERT_FALSE(registry.empty());
  const std::string tag = absl::StrCat(registry, "/dkdsec-base-", getpid(), ":1");
  Docker({"tag", *base_, tag});
  ASSERT_EQ(RunCommand({"docker", "-H", TestEngineHost(), "push", tag}).exit_code, 0);
  Docker({"rmi", tag});
  CommandResult built = Build("alice", {tag}, "alice-local");
  ASSERT_EQ(built.exit_code, 0) << built.err;
  const std::string alices = ImageId(tag);

  const std::string dir = MakeTempDir();
  std::ofstream(dir + "/Dockerfile") << "FROM " << tag << "\nRUN true\n";
  const std::string bobs = absl::StrCat("dkdsec-bobfrom-", getpid(), ":1");
  images_.push_back(bobs);
  CommandResult r =
      Dkctl(dkd_->tcp_host(), {"--token", TokenFor("bob", "own"), "build", "-t", bobs, dir});
  EXPECT_NE(r.exit_code, 0);
  EXPECT_NE(r.err.find("--pull=false"), std::string::npos) << r.err;
  EXPECT_EQ(ImageId(tag), alices) << "bob's build pulled over alice's tag";
  // Neighbour: without the pull bob builds on alice's image as it is.
  r = Dkctl(dkd_->tcp_host(),
            {"--token", TokenFor("bob", "own"), "build", "--pull=false", "-t", bobs, dir});
  EXPECT_EQ(r.exit_code, 0) << r.err;
  EXPECT_EQ(ImageId(tag), alices);
  RunCommand({"rm", "-rf", dir});
}

TEST_F(OwnershipAttackTest, ANameClashDoesNotEchoAnotherOwnersId) {
  const std::string name = absl::StrCat("dkdsec-name-", getpid());
  auto r = Request({"sleep", "60"});
  r.set_detach(true);
  r.set_name(name);
  dkd::v1::RunContainerResponse alices;
  ASSERT_TRUE(Run("alice", r, &alices).ok());
  grpc::Status s = Run("bob", r);
  EXPECT_EQ(s.error_code(), StatusCode::ALREADY_EXISTS) << s.error_message();
  EXPECT_EQ(s.error_message().find(alices.id().substr(0, 12)), std::string::npos)
      << s.error_message();
  EXPECT_NE(s.error_message().find(name), std::string::npos) << s.error_message();
}

// Bind directories are the operator's, not the callers': with
// run.bind_roots_per_identity each identity binds only from its own subtree,
// so it can neither read another's files nor block its binds.
TEST(BindRootsPerIdentityTest, AnIdentityBindsOnlyFromItsOwnDirectory) {
  const std::string base = FixtureEnv("DKD_TEST_BASE_IMAGE");
  ASSERT_FALSE(base.empty());
  const std::string root = MakeTempDir();
  RunCommand({"mkdir", "-p", root + "/alice/data", root + "/bob/secret"});
  std::ofstream(root + "/bob/secret/s") << "bobsecret\n";
  auto d = StartDaemon(
      {"",
       {},
       TokenConfig({{"alice", "build"}, {"bob", "build"}}, "pid",
                   absl::StrCat(R"("ownership":{"enabled":true},"run":{"bind_roots":[")", root,
                                R"("],"bind_roots_per_identity":true})"))});
  ASSERT_TRUE(d.ok()) << d.status();
  auto stub = DockerManager::NewStub(PlainChannel((*d)->tcp_target()));
  auto run = [&](const std::string& source, dkd::v1::RunContainerResponse* out) {
    dkd::v1::RunContainerRequest r;
    r.mutable_config()->set_image_name(base.substr(0, base.rfind(':')));
    r.mutable_config()->set_tag(base.substr(base.rfind(':') + 1));
    r.add_command("sh");
    r.add_command("-c");
    r.add_command("cat /m/secret/s 2>/dev/null; ls /m");
    r.set_auto_remove(true);
    r.set_pull_policy(dkd::v1::RunContainerRequest::NEVER);
    (*r.mutable_config()->mutable_volumes())[source] = "/m:ro";
    grpc::ClientContext ctx;
    ctx.AddMetadata("authorization", "Bearer " + TokenFor("alice", "pid"));
    return stub->RunContainer(&ctx, r, out);
  };
  dkd::v1::RunContainerResponse out;
  for (const std::string& source : {root + "/bob", root + "/bob/secret", root}) {
    grpc::Status s = run(source, &out);
    EXPECT_EQ(s.error_code(), StatusCode::PERMISSION_DENIED) << source << ": " << s.error_message();
    EXPECT_EQ(out.stdout().find("bobsecret"), std::string::npos);
  }
  grpc::Status s = run(root + "/alice/data", &out);
  EXPECT_TRUE(s.ok()) << s.error_message();
  RunCommand({"rm", "-rf", root});
}

// BuildKit cache mounts persist on the engine by id. Two identities using the
// same id must not share one: bob can neither read alice's cached file nor
// plant one she reads, and neither can pick the namespace or a frontend image
// that would write the cache ids itself.
TEST_F(OwnershipAttackTest, CacheMountsOfTwoIdentitiesNeverShareACache) {
  const std::string id = absl::StrCat("pkgs-", getpid(), "-", absl::ToUnixMicros(absl::Now()));
  auto build = [&](const std::string& who, const std::string& marker,
                   const std::vector<std::string>& extra = {}, const std::string& first_line = "") {
    const std::string dir = MakeTempDir();
    std::ofstream(dir + "/Dockerfile")
        << first_line << "FROM " << *base_ << "\nARG MARK\nRUN --mount=type=cache,id=" << id
        << ",target=/cache echo \"seen:$(ls /cache | tr '\\n' ' ')\"; touch /cache/$MARK\n";
    const std::string tag = absl::StrCat("dkdsec-cache-", who, "-", getpid(), ":", marker);
    images_.push_back(tag);
    std::vector<std::string> args = {
        "--token", TokenFor(who, "own"), "build", "--builder", "buildkit",    "--progress",
        "plain",   "--pull=false",       "-t",    tag,         "--build-arg", "MARK=" + marker};
    args.insert(args.end(), extra.begin(), extra.end());
    args.push_back(dir);
    CommandResult r = Dkctl(dkd_->tcp_host(), args);
    RunCommand({"rm", "-rf", dir});
    return r;
  };
  CommandResult a1 = build("alice", "from-alice");
  ASSERT_EQ(a1.exit_code, 0) << a1.err;
  CommandResult b1 = build("bob", "from-bob");
  ASSERT_EQ(b1.exit_code, 0) << b1.err;
  EXPECT_THAT(b1.err, ::testing::HasSubstr("seen:"));
  EXPECT_THAT(b1.err, ::testing::Not(::testing::HasSubstr("from-alice")))
      << "bob read alice's cache mount";
  CommandResult a2 = build("alice", "again");
  ASSERT_EQ(a2.exit_code, 0) << a2.err;
  EXPECT_THAT(a2.err, ::testing::HasSubstr("from-alice")) << "alice's own cache is kept";
  EXPECT_THAT(a2.err, ::testing::Not(::testing::HasSubstr("from-bob")))
      << "bob planted a file in alice's cache mount";

  CommandResult chosen =
      build("bob", "ns",
            {"--build-arg", "BUILDKIT_CACHE_MOUNT_NS=" + dkd::core::CacheMountNamespace("alice")});
  EXPECT_NE(chosen.exit_code, 0);
  EXPECT_THAT(chosen.err, ::testing::HasSubstr("BUILDKIT_CACHE_MOUNT_NS"));
  CommandResult frontend = build("bob", "fe", {}, "# syntax=" + *base_ + "\n");
  EXPECT_NE(frontend.exit_code, 0);
  EXPECT_THAT(frontend.err, ::testing::HasSubstr("frontend"));
  CommandResult frontend_arg = build("bob", "fe2", {"--build-arg", "BUILDKIT_SYNTAX=" + *base_});
  EXPECT_NE(frontend_arg.exit_code, 0);
  EXPECT_THAT(frontend_arg.err, ::testing::HasSubstr("frontend"));
}

}  // namespace
}  // namespace dkd::testing
