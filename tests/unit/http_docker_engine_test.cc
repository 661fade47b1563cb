// HttpDockerEngine: the engine requests behind the typed calls (paths,
// queries, headers) and the decoding of the engine's answers.
#include "core/engine/http_docker_engine.h"

#include <memory>
#include <string>
#include <utility>
#include <vector>

#include "core/engine/engine_json.h"
#include "gtest/gtest.h"
#include "tests/unit/fake_engine.h"

namespace dkd::core {
namespace {

using testing::FakeEngine;
using testing::FakeResponse;
using testing::Json;

using Query = std::vector<std::pair<std::string, std::string>>;

TEST(HttpDockerEngineRequestTest, LogsAskForBothStreamsWhenNeitherIsChosen) {
  LogsOptions o;
  o.id = "/web";
  o.stdout_stream = false;
  o.stderr_stream = false;
  o.follow = true;
  o.tail = 5;
  o.since = 7;
  EngineRequest r = HttpDockerEngine::LogsRequest(o);
  EXPECT_EQ(r.path, "/containers/web/logs");
  EXPECT_EQ(
      r.query,
      (Query{{"stdout", "1"}, {"stderr", "1"}, {"follow", "1"}, {"tail", "5"}, {"since", "7"}}));
  ASSERT_TRUE(r.read_timeout.has_value());
  EXPECT_GT(*r.read_timeout, absl::Hours(24));
}

TEST(HttpDockerEngineRequestTest, EventsCarryTimesAndFiltersAsTheEngineExpects) {
  EventsOptions o;
  o.since = 10;
  o.filters["type"] = {"container"};
  o.filters["empty"] = {};
  EngineRequest r = HttpDockerEngine::EventsRequest(o);
  EXPECT_EQ(r.path, "/events");
  EXPECT_EQ(r.query, (Query{{"since", "10"}, {"filters", R"({"type":["container"]})"}}));
}

TEST(HttpDockerEngineRequestTest, BuildUsesTheClassicBuilderWithTheCheckedDockerfileLast) {
  BuildOptions o;
  o.tags = {"app:1", "app:latest"};
  o.build_args = {{"V", "2"}};
  o.labels = {{"dkd.owner", "alice"}};
  o.pull = true;
  o.dockerfile = "Dockerfile";
  o.registry_config = "e30=";
  EngineRequest r = HttpDockerEngine::BuildRequest(o);
  EXPECT_EQ(r.method, "POST");
  EXPECT_EQ(r.path, "/build");
  EXPECT_EQ(r.query, (Query{{"t", "app:1"},
                            {"t", "app:latest"},
                            {"buildargs", R"({"V":"2"})"},
                            {"labels", R"({"dkd.owner":"alice"})"},
                            {"pull", "1"},
                            {"rm", "1"},
                            {"forcerm", "1"},
                            {"dockerfile", "Dockerfile"}}));
  EXPECT_EQ(r.headers, (Query{{"X-Registry-Config", "e30="}}));
  EXPECT_EQ(r.content_type, "application/x-tar");
}

TEST(HttpDockerEngineRequestTest, PushAndPullNameTheRepositoryAndCarryTheAuthHeader) {
  PushOptions push{"reg:5000/app", "1", "auth"};
  EngineRequest p = HttpDockerEngine::PushRequest(push);
  EXPECT_EQ(p.path, "/images/reg%3A5000%2Fapp/push");
  EXPECT_EQ(p.query, (Query{{"tag", "1"}}));
  EXPECT_EQ(p.headers, (Query{{"X-Registry-Auth", "auth"}}));
  PullOptions pull{"base", "3", "linux/arm64", "auth"};
  EngineRequest q = HttpDockerEngine::PullRequest(pull);
  EXPECT_EQ(q.path, "/images/create");
  EXPECT_EQ(q.query, (Query{{"fromImage", "base"}, {"tag", "3"}, {"platform", "linux/arm64"}}));
}

TEST(HttpDockerEngineTest, ListInspectStopAndRemoveHitTheEnginePaths) {
  FakeEngine fake([](const std::string& method, const std::string& target) -> FakeResponse {
    if (target.rfind("/v1.41/containers/json", 0) == 0) {
      return Json(R"([{"Id":"abc","Names":["/web"],"State":"running","Labels":{"a":"b","n":1},
                      "Ports":[{"PrivatePort":80,"PublicPort":8080,"Type":"tcp","IP":"0.0.0.0"}],
                      "NetworkSettings":{"Networks":{"bridge":{}}},
                      "Mounts":[{"Type":"bind","Source":"/srv","RW":true}]}])");
    }
    if (target == "/v1.41/containers/web/json") {
      return Json(R"({"Id":"abc","Name":"/web","State":{"Status":"running","Running":true},
                     "Config":{"Tty":true,"Labels":{"dkd.owner":"alice"}},
                     "HostConfig":{"RestartPolicy":{"Name":"on-failure","MaximumRetryCount":3}},
                     "NetworkSettings":{"Ports":{"80/tcp":[{"HostIp":"","HostPort":"8080"}],
                                                 "443/tcp":null}}})");
    }
    if (method == "POST" && target == "/v1.41/containers/web/stop?t=3") {
      FakeResponse r;
      r.status = 304;
      return r;
    }
    if (method == "DELETE" && target == "/v1.41/containers/web?force=1&v=1") {
      FakeResponse r;
      r.status = 204;
      return r;
    }
    return FakeResponse{404, R"({"message":"No such container: x"})"};
  });
  HttpDockerEngine engine(std::make_shared<EngineClient>(fake.address(), absl::Seconds(5)));
  ContainerListOptions list;
  list.all = true;
  list.filters["label"] = {"a=b"};
  auto listed = engine.ListContainers(list);
  ASSERT_TRUE(listed.ok()) << listed.status();
  ASSERT_EQ(listed->size(), 1u);
  EXPECT_EQ((*listed)[0].name, "web");
  EXPECT_EQ((*listed)[0].labels, (std::map<std::string, std::string>{{"a", "b"}}));
  EXPECT_EQ((*listed)[0].ports[0].host_port, 8080);
  EXPECT_EQ((*listed)[0].networks, std::vector<std::string>{"bridge"});
  EXPECT_TRUE((*listed)[0].mounts.empty());  // Not asked for.
  list.mounts = true;
  EXPECT_EQ((*engine.ListContainers(list))[0].mounts[0].source, "/srv");

  auto details = engine.InspectContainer("web");
  ASSERT_TRUE(details.ok()) << details.status();
  EXPECT_EQ(details->name, "web");
  EXPECT_TRUE(details->tty);
  EXPECT_TRUE(details->state->running);
  EXPECT_EQ(details->restart_policy, "on-failure:3");
  EXPECT_EQ(details->labels.at("dkd.owner"), "alice");
  ASSERT_EQ(details->ports.size(), 2u);
  EXPECT_EQ(details->ports[0].container_port, 443);
  EXPECT_EQ(details->ports[0].host_port, 0);
  EXPECT_EQ(details->ports[1].host_port, 8080);

  auto stopped = engine.StopContainer("web", 3);
  ASSERT_TRUE(stopped.ok()) << stopped.status();
  EXPECT_TRUE(*stopped);
  EXPECT_TRUE(engine.RemoveContainer("web", true, true).ok());
  auto missing = engine.InspectContainer("x");
  EXPECT_EQ(missing.status().code(), absl::StatusCode::kNotFound);
  EXPECT_EQ(missing.status().message(), "No such container: x");

  std::vector<std::string> targets;
  for (const std::string& r : fake.requests()) {
    if (r != "GET /_ping") targets.push_back(r);
  }
  EXPECT_EQ(targets[0],
            "GET /v1.41/containers/json?all=1&filters=%7B%22label%22%3A%5B%22a%3Db%22%5D%7D");
}

TEST(EngineJsonTest, ImageListDropsNoneTagsAndHistoryKeepsEngineOrder) {
  auto images = DecodeImageList(nlohmann::json::parse(
      R"([{"Id":"sha256:1","RepoTags":["<none>:<none>"],"RepoDigests":["<none>@<none>"]},
          {"Id":"sha256:2","RepoTags":["a:1"],"Size":5}])"));
  ASSERT_EQ(images.size(), 2u);
  EXPECT_TRUE(images[0].repo_tags.empty());
  EXPECT_TRUE(images[0].repo_digests.empty());
  EXPECT_EQ(images[0].containers, -1);
  EXPECT_EQ(images[1].size, 5);
  auto history = DecodeImageHistory(nlohmann::json::parse(
      R"([{"Id":"sha256:2","CreatedBy":"CMD x","Size":0},{"Id":"<missing>","Size":9}])"));
  ASSERT_EQ(history.size(), 2u);
  EXPECT_EQ(history[0].created_by, "CMD x");
  EXPECT_EQ(history[1].size, 9);
}

TEST(EngineJsonTest, MalformedAnswersAreInternalNotCrashes) {
  EXPECT_EQ(DecodeContainerDetails(nlohmann::json::array()).status().code(),
            absl::StatusCode::kInternal);
  EXPECT_EQ(DecodeImageDetails(nlohmann::json("x")).status().code(), absl::StatusCode::kInternal);
  EXPECT_EQ(DecodeEvent("{not json").status().code(), absl::StatusCode::kInternal);
  EXPECT_EQ(DecodeWaitResult("").status().code(), absl::StatusCode::kInternal);
  EXPECT_EQ(DecodeContainerList("{}", false).status().code(), absl::StatusCode::kInternal);
  // Mistyped members read as empty.
  auto d = DecodeContainerDetails(nlohmann::json::parse(R"({"Id":5,"State":{"Running":"yes"}})"));
  ASSERT_TRUE(d.ok());
  EXPECT_EQ(d->id, "");
  EXPECT_FALSE(d->state->running);
}

}  // namespace
}  // namespace dkd::core
