// Attacks on the build gate (issue 9, items 3 and 5) against a real dkd and
// engine. dkd allows bases from the fixture registry and docker.io only, and
// limits contexts to 1 MiB. A "disallowed" image is made locally as
// 127.0.0.2:5999/evil:<pid> holding /evil-marker, so that each bypass, before
// the fix, really built from it: the engine needs no pull (no_pull is set)
// to use a local image, whatever registry its name points at.
//
// Run once against the unfixed dkd (FROM-only check on its own reading of the
// caller's tar, wire bytes counted), the engine built the image under the
// test's tag for: COPY --from (plain and with a quoted flag name), ONBUILD
// COPY --from, the heredoc and escaped-escape hidden FROMs, two Dockerfiles,
// a symlinked Dockerfile parent, two pax path records, a GNU prefix, a
// device entry, FROM and COPY --from by image id, ADD of a URL on the host's
// loopback (dkd's own /healthz), and the daemon-local context over the limit; every test here
// failed. (RUN --mount was refused by the classic builder itself, which has no --mount, and a
// compressed context was refused outright while base_registries was set; the gzip bomb is also sent
// to a dkd without base registries, where it used to pass.) Each test asserts the refusal, its code
// and message, and that the engine holds no image with the test's tag; allowed neighbours still
// build.
#include <gtest/gtest.h>
#include <unistd.h>

#include <fstream>
#include <functional>
#include <memory>
#include <string>
#include <utility>

#include "absl/strings/str_cat.h"
#include "dkd/v1/docker_manager.grpc.pb.h"
#include "tests/integration/security_helpers.h"
#include "tests/support/tar_craft.h"

namespace dkd::testing {
namespace {

class SecurityBuildTest : public ::testing::Test {
 protected:
  static void SetUpTestSuite() {
    registry_ = FixtureEnv("DKD_TEST_REGISTRY");
    base_ = FixtureEnv("DKD_TEST_BASE_IMAGE");
    ASSERT_FALSE(registry_.empty()) << "run with the fixtures' environment";
    evil_ = absl::StrCat("127.0.0.2:5999/evil:", getpid());
    dir_ = MakeTempDir();
    std::ofstream(dir_ + "/Dockerfile") << "FROM " << base_ << "\nRUN echo evil > /evil-marker\n";
    CommandResult b =
        RunCommand({"docker", "-H", TestEngineHost(), "build", "-q", "-t", evil_, dir_},
                   {{"DOCKER_BUILDKIT", "0"}});
    ASSERT_EQ(b.exit_code, 0) << b.err;
    CommandResult id = RunCommand(
        {"docker", "-H", TestEngineHost(), "image", "inspect", "--format", "{{.Id}}", evil_});
    ASSERT_EQ(id.exit_code, 0) << id.err;
    evil_id_ = id.out.substr(0, id.out.find('\n'));
    ASSERT_EQ(evil_id_.rfind("sha256:", 0), 0u) << evil_id_;
    RunCommand({"mkdir", "-p", dir_ + "/root/big"});
    std::ofstream(dir_ + "/root/big/Dockerfile") << "FROM " << base_ << "\n";
    std::ofstream(dir_ + "/root/big/blob") << std::string(2 << 20, 'b');
    auto d = StartDaemon({"",
                          {},
                          absl::StrCat(R"({"build": {"base_registries": [")", registry_,
                                       R"(", "docker.io"], "context_roots": [")", dir_,
                                       R"(/root"]}, "limits": {"max_context_bytes": 1048576}})")});
    ASSERT_TRUE(d.ok()) << d.status();
    daemon_ = d->release();
  }
  static void TearDownTestSuite() {
    delete daemon_;
    daemon_ = nullptr;
    RunCommand({"docker", "-H", TestEngineHost(), "rmi", "-f", evil_});
    RunCommand({"rm", "-rf", dir_});
  }

  struct Outcome {
    grpc::Status status;
    std::string log;
  };

  // Streams `tar` as the context of a build tagged `tag` (or builds the
  // daemon-local `context`), without pulling.
  static Outcome Build(const std::string& tag, const std::string& tar,
                       const std::string& dockerfile = "", const std::string& context = "",
                       const std::function<void(dkd::v1::BuildSpec*)>& edit = nullptr) {
    auto stub = dkd::v1::DockerManager::NewStub(PlainChannel(daemon_->unix_target()));
    grpc::ClientContext ctx;
    ctx.set_deadline(std::chrono::system_clock::now() + std::chrono::seconds(60));
    auto stream = stub->BuildImage(&ctx);
    dkd::v1::BuildImageRequest first;
    auto* spec = first.mutable_spec();
    spec->mutable_config()->set_image_name(tag);
    spec->mutable_config()->set_tag("1");
    spec->mutable_config()->set_dockerfile_path(dockerfile);
    spec->set_no_pull(true);
    if (!context.empty()) {
      spec->set_context_source(dkd::v1::BuildSpec::DAEMON_PATH);
      spec->mutable_config()->set_build_context(context);
    }
    if (edit) edit(spec);
    stream->Write(first);
    for (size_t off = 0; context.empty() && off < tar.size(); off += 64 * 1024) {
      dkd::v1::BuildImageRequest chunk;
      chunk.set_context_chunk(tar.substr(off, 64 * 1024));
      if (!stream->Write(chunk)) break;
    }
    stream->WritesDone();
    Outcome o;
    dkd::v1::BuildEvent e;
    while (stream->Read(&e)) {
      if (e.has_log()) o.log += e.log().text();
    }
    o.status = stream->Finish();
    return o;
  }

  static bool ImageExists(const std::string& tag) {
    return RunCommand({"docker", "-H", TestEngineHost(), "image", "inspect", tag + ":1"})
               .exit_code == 0;
  }
  static std::string Tag(const std::string& name) {
    return absl::StrCat("dkdsec-", name, "-", getpid());
  }

  // Asserts the build is refused with `code` and a message containing
  // `says`, and that the engine built nothing under the tag.
  static void ExpectRefused(const std::string& name, const std::string& tar, grpc::StatusCode code,
                            const std::string& says, const std::string& dockerfile = "",
                            const std::string& context = "") {
    const std::string tag = Tag(name);
    Outcome o = Build(tag, tar, dockerfile, context);
    EXPECT_EQ(o.status.error_code(), code) << name << ": " << o.status.error_message() << "\n"
                                           << o.log;
    EXPECT_NE(o.status.error_message().find(says), std::string::npos)
        << name << ": " << o.status.error_message();
    EXPECT_FALSE(ImageExists(tag)) << name << ": the engine built it";
    RunCommand({"docker", "-H", TestEngineHost(), "rmi", "-f", tag + ":1"});
  }

  static inline DaemonProcess* daemon_ = nullptr;
  static inline std::string registry_, base_, evil_, evil_id_, dir_;
};

std::string Context(const std::string& dockerfile) {
  return TarFile("Dockerfile", dockerfile) + TarEnd();
}

// Also a non-ASCII file name: the canonical tar keeps names byte for byte.
TEST_F(SecurityBuildTest, AllowedNeighbourBuildsWithCopyFromAStageAndAnAllowedImage) {
  const std::string tag = Tag("allowed");
  Outcome o =
      Build(tag, TarFile("./Dockerfile", "FROM " + base_ + " AS one\nRUN echo 1 > /one\n" +
                                             "FROM " + base_ + "\nCOPY --from=ONE /one /one\n" +
                                             "COPY --from=" + base_ + " /bin/true /t\n" +
                                             "COPY caf\xC3\xA9.txt /c\nRUN grep -q a /c\n") +
                     TarFile("caf\xC3\xA9.txt", "a") + TarEnd());
  EXPECT_TRUE(o.status.ok()) << o.status.error_message() << o.log;
  EXPECT_TRUE(ImageExists(tag));
  RunCommand({"docker", "-H", TestEngineHost(), "rmi", "-f", tag + ":1"});
}

TEST_F(SecurityBuildTest, CopyFromADisallowedImageIsRefused) {
  ExpectRefused("copyfrom",
                Context("FROM " + base_ + "\nCOPY --from=" + evil_ + " /evil-marker /m\n"),
                grpc::StatusCode::PERMISSION_DENIED, "build.base_registries");
  // The builder unquotes flags: dkd reads them the same way.
  ExpectRefused("copyfromquoted",
                Context("FROM " + base_ + "\nCOPY --\"from\"=" + evil_ + " /evil-marker /m\n"),
                grpc::StatusCode::PERMISSION_DENIED, "build.base_registries");
}

TEST_F(SecurityBuildTest, MountFromAndOnbuildCopyFromAreRefused) {
  ExpectRefused("mountfrom",
                Context("FROM " + base_ + "\nRUN --mount=type=bind,from=" + evil_ +
                        ",target=/m cat /m/evil-marker\n"),
                grpc::StatusCode::PERMISSION_DENIED, "--mount from");
  ExpectRefused("onbuild", Context("FROM " + base_ + "\nONBUILD COPY --from=" + evil_ + " / /x\n"),
                grpc::StatusCode::PERMISSION_DENIED, "ONBUILD COPY --from");
}

TEST_F(SecurityBuildTest, AFromHiddenFromDkdsParserIsSeen) {
  // The classic builder has no heredocs: the FROM after `<<EOF` is a stage,
  // and the delimiter line joins the continuation before it.
  ExpectRefused("heredoc",
                Context("FROM " + base_ + "\nRUN [\"true\", \"<<EOF\"]\nFROM " + evil_ +
                        "\nRUN cat /evil-marker && echo \\\nEOF\n"),
                grpc::StatusCode::PERMISSION_DENIED, "line 3");
  // An escaped escape ends the line.
  ExpectRefused(
      "escapedescape",
      Context("FROM " + base_ + "\nRUN echo \\\\\nFROM " + evil_ + "\nRUN cat /evil-marker\n"),
      grpc::StatusCode::PERMISSION_DENIED, "line 3");
}

TEST_F(SecurityBuildTest, TwoDockerfilesOrASymlinkedOneAreRefused) {
  ExpectRefused("twodockerfiles",
                TarFile("Dockerfile", "FROM " + base_ + "\n") +
                    TarFile("./Dockerfile", "FROM " + evil_ + "\nRUN cat /evil-marker\n") +
                    TarEnd(),
                grpc::StatusCode::INVALID_ARGUMENT, "more than once");
  ExpectRefused(
      "symlinkdockerfile",
      TarFile("real", "FROM " + evil_ + "\n") + TarSymlink("Dockerfile", "real") + TarEnd(),
      grpc::StatusCode::INVALID_ARGUMENT, "regular file");
  ExpectRefused("symlinkparent",
                TarFile("real/Dockerfile", "FROM " + evil_ + "\n") + TarSymlink("sub", "real") +
                    TarFile("sub/Dockerfile", "FROM " + base_ + "\n") + TarEnd(),
                grpc::StatusCode::INVALID_ARGUMENT, "not a directory", "sub/Dockerfile");
}

TEST_F(SecurityBuildTest, TarHeaderTricksCannotSplitWhatDkdAndTheEngineRead) {
  // Two pax path records: the old gate took the first ("Dockerfile"), the
  // engine the last, and then used the plain Dockerfile that follows.
  ExpectRefused("paxpaths",
                TarPax({{"path", "Dockerfile"}, {"path", "zzz"}}) +
                    TarFile("ignored", "FROM " + base_ + "\n") +
                    TarFile("Dockerfile", "FROM " + evil_ + "\nRUN cat /evil-marker\n") + TarEnd(),
                grpc::StatusCode::PERMISSION_DENIED, "build.base_registries");
  // A GNU header with bytes in the ustar prefix field: the old gate read
  // "x/Dockerfile", the engine "Dockerfile".
  TarHeader gnu = Hdr("Dockerfile", '0');
  gnu.gnu = true;
  gnu.prefix = "x";
  ExpectRefused("gnuprefix",
                TarFile("Dockerfile", "FROM " + base_ + "\n") +
                    TarEntry(gnu, "FROM " + evil_ + "\nRUN cat /evil-marker\n") + TarEnd(),
                grpc::StatusCode::INVALID_ARGUMENT, "more than once");
  ExpectRefused(
      "device",
      TarFile("Dockerfile", "FROM " + base_ + "\n") + TarEntry(Hdr("null", '3')) + TarEnd(),
      grpc::StatusCode::INVALID_ARGUMENT, "device");
}

TEST_F(SecurityBuildTest, ImagesNamedByIdAreRefusedEvenWithTheDefaultRegistryAllowed) {
  const std::string hex = evil_id_.substr(7);
  // For COPY --from, an all-digit prefix reads as a stage index (refused as
  // such, as the engine does); take one long enough to hold a hex letter.
  size_t n = 12;
  while (n < hex.size() && hex.substr(0, n).find_first_of("abcdef") == std::string::npos) ++n;
  const std::string prefix = hex.substr(0, n);
  for (const std::string& ref : {hex, hex.substr(0, 12), prefix, evil_id_}) {
    ExpectRefused("byid", Context("FROM " + ref + "\nRUN cat /evil-marker\n"),
                  grpc::StatusCode::INVALID_ARGUMENT, "by id");
  }
  ExpectRefused("copybyid",
                Context("FROM " + base_ + "\nCOPY --from=" + prefix + " /evil-marker /m\n"),
                grpc::StatusCode::INVALID_ARGUMENT, "by id");
  ExpectRefused("copybydigits",
                Context("FROM " + base_ + "\nCOPY --from=805024026907 /evil-marker /m\n"),
                grpc::StatusCode::INVALID_ARGUMENT, "no earlier build stage");
}

TEST_F(SecurityBuildTest, AddCannotFetchFromTheHostsLoopback) {
  // The classic builder downloads ADD URLs in the engine's own (host)
  // network namespace: here dkd's health endpoint on the host's 127.0.0.1.
  const std::string url = absl::StrCat("http://127.0.0.1:", daemon_->http_port(), "/healthz");
  ExpectRefused("addurl", Context("FROM " + base_ + "\nADD " + url + " /h\n"),
                grpc::StatusCode::PERMISSION_DENIED, "build.allow_remote_add");
  ExpectRefused("addurlquoted", Context("FROM " + base_ + "\nADD [\"" + url + "\", \"/h\"]\n"),
                grpc::StatusCode::PERMISSION_DENIED, "build.allow_remote_add");
  // A local ADD still works.
  const std::string tag = Tag("addlocal");
  Outcome o = Build(tag, TarFile("Dockerfile", "FROM " + base_ + "\nADD a.txt /a\n") +
                             TarFile("a.txt", "a") + TarEnd());
  EXPECT_TRUE(o.status.ok()) << o.status.error_message() << o.log;
  RunCommand({"docker", "-H", TestEngineHost(), "rmi", "-f", tag + ":1"});
}

TEST_F(SecurityBuildTest, RunFieldsInTheBuildSpecDoNotReachTheBuild) {
  // The spec's ContainerConfig also has run fields (networks, volumes,
  // ports); a build sends none of them to the engine. The RUN step would fail
  // in the host's network namespace (docker0 visible) or with the host's
  // root mounted.
  const std::string tag = Tag("runfields");
  Outcome o = Build(
      tag,
      Context("FROM " + base_ + "\nRUN ! grep -q docker0 /proc/net/dev && test ! -e /host/etc\n"),
      "", "", [](dkd::v1::BuildSpec* spec) {
        spec->mutable_config()->add_networks("host");
        (*spec->mutable_config()->mutable_volumes())["/"] = "/host";
        (*spec->mutable_config()->mutable_ports())["80"] = "127.0.0.1:";
      });
  EXPECT_TRUE(o.status.ok()) << o.status.error_message() << o.log;
  EXPECT_TRUE(ImageExists(tag));
  RunCommand({"docker", "-H", TestEngineHost(), "rmi", "-f", tag + ":1"});
}

TEST_F(SecurityBuildTest, TheContextLimitCountsDecompressedAndDaemonLocalBytes) {
  // ~64 KiB of gzip that inflates to 64 MiB, under a 1 MiB limit.
  const std::string gz = Compress(TarFile("Dockerfile", "FROM " + base_ + "\n") +
                                  TarFile("bomb", std::string(64 << 20, '\0')) + TarEnd());
  ASSERT_LT(gz.size(), 1u << 20);
  ExpectRefused("gzipbomb", gz, grpc::StatusCode::RESOURCE_EXHAUSTED, "limits.max_context_bytes");
  {
    // The same without base registries (no gate at all before the fix).
    auto plain = StartDaemon({"", {}, R"({"limits": {"max_context_bytes": 1048576}})"});
    ASSERT_TRUE(plain.ok()) << plain.status();
    DaemonProcess* gated = std::exchange(daemon_, plain->get());
    ExpectRefused("gzipbombnogate", gz, grpc::StatusCode::RESOURCE_EXHAUSTED,
                  "limits.max_context_bytes");
    daemon_ = gated;
  }
  ExpectRefused("daemonlocal", "", grpc::StatusCode::RESOURCE_EXHAUSTED, "limits.max_context_bytes",
                "", dir_ + "/root/big");
  // A small gzip context under the limit still builds.
  const std::string tag = Tag("smallgzip");
  Outcome o = Build(tag, Compress(Context("FROM " + base_ + "\n")));
  EXPECT_TRUE(o.status.ok()) << o.status.error_message() << o.log;
  EXPECT_TRUE(ImageExists(tag));
  RunCommand({"docker", "-H", TestEngineHost(), "rmi", "-f", tag + ":1"});
}

}  // namespace
}  // namespace dkd::testing
