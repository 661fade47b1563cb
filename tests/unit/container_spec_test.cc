// BuildContainerSpec: the engine body for every field, each bad field named,
// policy allowances, networks and ephemeral ports; registry auth encoding.
#include "core/docker/container_spec.h"

#include <gtest/gtest.h>

#include <functional>
#include <set>

#include "absl/strings/escaping.h"
#include "core/engine/registry_auth.h"

namespace dkd::core {
namespace {

RunRequest Valid() {
  RunRequest r;
  r.config.image_name = "registry.local:5000/team/app";
  r.config.tag = "1.2";
  r.detach = true;
  return r;
}

TEST(ContainerSpecTest, BuildsTheEngineBodyForEveryField) {
  RunRequest r = Valid();
  r.config.environment = {{"A", "1"}};
  r.config.ports = {{"8080/tcp", "127.0.0.1:18080"}, {"53/udp", ""}};
  r.config.volumes = {{"cache", "/cache:ro"}};
  r.config.networks = {"front", "back"};
  r.config.restart_policy = "on-failure:3";
  r.config.labels = {{"team", "x"}};
  r.command = {"serve"};
  r.entrypoint = {"/bin/app"};
  r.working_dir = "/srv";
  r.user = "1000:1000";
  r.memory_bytes = 64 << 20;
  r.nano_cpus = 1500000000;
  auto spec = BuildContainerSpec(r, RunPolicy{});
  ASSERT_TRUE(spec.ok()) << spec.status();
  const auto& b = spec->create_body;
  EXPECT_EQ(b["Image"], "registry.local:5000/team/app:1.2");
  EXPECT_EQ(b["Env"], nlohmann::json({"A=1"}));
  EXPECT_EQ(b["HostConfig"]["PortBindings"]["8080/tcp"][0]["HostPort"], "18080");
  EXPECT_EQ(b["HostConfig"]["PortBindings"]["8080/tcp"][0]["HostIp"], "127.0.0.1");
  EXPECT_EQ(b["HostConfig"]["PortBindings"]["53/udp"][0]["HostPort"], "");
  EXPECT_EQ(b["HostConfig"]["Mounts"][0]["Type"], "volume");
  EXPECT_EQ(b["HostConfig"]["Mounts"][0]["ReadOnly"], true);
  EXPECT_EQ(b["HostConfig"]["NetworkMode"], "front");
  EXPECT_EQ(spec->extra_networks, std::vector<std::string>({"back"}));
  EXPECT_EQ(b["HostConfig"]["RestartPolicy"]["Name"], "on-failure");
  EXPECT_EQ(b["HostConfig"]["RestartPolicy"]["MaximumRetryCount"], 3);
  EXPECT_EQ(b["Labels"]["team"], "x");
  EXPECT_EQ(b["Cmd"], nlohmann::json({"serve"}));
  EXPECT_EQ(b["Entrypoint"], nlohmann::json({"/bin/app"}));
  EXPECT_EQ(b["WorkingDir"], "/srv");
  EXPECT_EQ(b["User"], "1000:1000");
  EXPECT_EQ(b["HostConfig"]["Memory"], 64 << 20);
  EXPECT_EQ(b["HostConfig"]["NanoCpus"], 1500000000);
}

struct Bad {
  const char* field;
  std::function<void(RunRequest&)> mutate;
  absl::StatusCode code;
};

TEST(ContainerSpecTest, EveryBadFieldIsNamedWithItsRule) {
  const std::vector<Bad> cases = {
      {"config.image_name", [](RunRequest& r) { r.config.image_name = ""; },
       absl::StatusCode::kInvalidArgument},
      {"config.image_name", [](RunRequest& r) { r.config.image_name = "a b"; },
       absl::StatusCode::kInvalidArgument},
      {"config.tag", [](RunRequest& r) { r.config.tag = "-bad"; },
       absl::StatusCode::kInvalidArgument},
      {"config.tag", [](RunRequest& r) { r.config.image_name = "app:2"; },
       absl::StatusCode::kInvalidArgument},
      {"config.environment",
       [](RunRequest& r) {
         r.config.environment = {{"", "x"}};
       },
       absl::StatusCode::kInvalidArgument},
      {"config.environment",
       [](RunRequest& r) {
         r.config.environment = {{"K", std::string("a\0b", 3)}};
       },
       absl::StatusCode::kInvalidArgument},
      {"config.labels",
       [](RunRequest& r) {
         r.config.labels = {{"", "x"}};
       },
       absl::StatusCode::kInvalidArgument},
      {"config.ports",
       [](RunRequest& r) {
         r.config.ports = {{"0/tcp", ""}};
       },
       absl::StatusCode::kInvalidArgument},
      {"config.ports",
       [](RunRequest& r) {
         r.config.ports = {{"80/icmp", ""}};
       },
       absl::StatusCode::kInvalidArgument},
      {"config.ports",
       [](RunRequest& r) {
         r.config.ports = {{"80", "1.2.3:80"}};
       },
       absl::StatusCode::kInvalidArgument},
      {"config.volumes",
       [](RunRequest& r) {
         r.config.volumes = {{"v", "/"}};
       },
       absl::StatusCode::kInvalidArgument},
      {"config.volumes",
       [](RunRequest& r) {
         r.config.volumes = {{"/srv/data", "/d"}};
       },
       absl::StatusCode::kPermissionDenied},
      {"config.volumes",
       [](RunRequest& r) {
         r.config.volumes = {{"/run", "/r"}};
       },
       absl::StatusCode::kPermissionDenied},
      {"config.restart_policy", [](RunRequest& r) { r.config.restart_policy = "on-failure:x"; },
       absl::StatusCode::kInvalidArgument},
      {"auto_remove",
       [](RunRequest& r) {
         r.auto_remove = true;
         r.config.restart_policy = "always";
       },
       absl::StatusCode::kInvalidArgument},
      {"config.networks", [](RunRequest& r) { r.config.networks = {"a b"}; },
       absl::StatusCode::kInvalidArgument},
      {"name", [](RunRequest& r) { r.name = "/"; }, absl::StatusCode::kInvalidArgument},
      {"working_dir", [](RunRequest& r) { r.working_dir = "x"; },
       absl::StatusCode::kInvalidArgument},
      {"user", [](RunRequest& r) { r.user = "a b"; }, absl::StatusCode::kInvalidArgument},
      {"memory_bytes", [](RunRequest& r) { r.memory_bytes = -1; },
       absl::StatusCode::kInvalidArgument},
      {"nano_cpus", [](RunRequest& r) { r.nano_cpus = -1; }, absl::StatusCode::kInvalidArgument},
      {"privileged", [](RunRequest& r) { r.privileged = true; },
       absl::StatusCode::kPermissionDenied},
      {"network_mode", [](RunRequest& r) { r.network_mode = "host"; },
       absl::StatusCode::kPermissionDenied},
      // The networks list reaches the same engine option as network_mode.
      {"config.networks[0]", [](RunRequest& r) { r.config.networks = {"host"}; },
       absl::StatusCode::kPermissionDenied},
      {"config.networks[0]", [](RunRequest& r) { r.config.networks = {"container:web"}; },
       absl::StatusCode::kPermissionDenied},
      {"network_mode", [](RunRequest& r) { r.network_mode = "container:web"; },
       absl::StatusCode::kPermissionDenied},
      {"config.networks[1]",
       [](RunRequest& r) {
         r.config.networks = {"front", "host"};
       },
       absl::StatusCode::kPermissionDenied},
      {"config.networks[1]",
       [](RunRequest& r) {
         r.config.networks = {"front", "none"};
       },
       absl::StatusCode::kInvalidArgument},
      {"pid_mode", [](RunRequest& r) { r.pid_mode = "host"; }, absl::StatusCode::kPermissionDenied},
      {"ipc_mode", [](RunRequest& r) { r.ipc_mode = "host"; }, absl::StatusCode::kPermissionDenied},
      {"cap_add", [](RunRequest& r) { r.cap_add = {"SYS_ADMIN"}; },
       absl::StatusCode::kPermissionDenied},
      {"cap_drop", [](RunRequest& r) { r.cap_drop = {"NET RAW"}; },
       absl::StatusCode::kInvalidArgument},
      {"device", [](RunRequest& r) { r.devices = {"/dev/kmsg"}; },
       absl::StatusCode::kPermissionDenied},
  };
  for (const auto& c : cases) {
    RunRequest r = Valid();
    c.mutate(r);
    auto spec = BuildContainerSpec(r, RunPolicy{});
    EXPECT_EQ(spec.status().code(), c.code) << c.field << ": " << spec.status();
    EXPECT_NE(spec.status().message().find(c.field), absl::string_view::npos)
        << c.field << ": " << spec.status();
  }
}

TEST(ContainerSpecTest, PolicyAllowancesOpenOnlyWhatTheyName) {
  RunPolicy p;
  p.allow_privileged = true;
  p.min_host_port = 20000;
  p.max_host_port = 30000;
  RunRequest r = Valid();
  r.privileged = true;
  EXPECT_TRUE(BuildContainerSpec(r, p).ok());
  r.config.ports = {{"80/tcp", "8080"}};
  EXPECT_EQ(BuildContainerSpec(r, p).status().code(), absl::StatusCode::kPermissionDenied);
  r.config.ports = {{"80/tcp", "25000"}};
  EXPECT_TRUE(BuildContainerSpec(r, p).ok());
}

nlohmann::json Network(const std::string& id, const std::string& name, const std::string& driver) {
  return {{"Id", id}, {"Name", name}, {"Driver", driver}};
}

TEST(ContainerSpecTest, NetworksResolvedByTheEngineAreJudgedByDriverAndPinnedById) {
  const std::string host_id(64, 'a');
  const std::string front_id(64, 'b');
  auto resolve = [&](const std::string& name) -> absl::StatusOr<nlohmann::json> {
    // The engine matches an id prefix too: "aaaa" reaches the host network.
    if (name == "aaaa" || name == "myhost") return Network(host_id, "host", "host");
    if (name == "front") return Network(front_id, "front", "bridge");
    if (name == "nothing") return Network(std::string(64, 'c'), "none", "null");
    return absl::NotFoundError("no such network");
  };
  for (auto set : std::vector<std::function<void(RunRequest&)>>{
           [](RunRequest& r) { r.config.networks = {"aaaa"}; },
           [](RunRequest& r) { r.network_mode = "aaaa"; },
           [](RunRequest& r) {
             r.config.networks = {"front", "myhost"};
           },
       }) {
    RunRequest r = Valid();
    set(r);
    auto spec = BuildContainerSpec(r, RunPolicy{});
    ASSERT_TRUE(spec.ok()) << spec.status();
    absl::Status s = PinNetworks(&*spec, RunPolicy{}, resolve);
    EXPECT_EQ(s.code(), absl::StatusCode::kPermissionDenied) << s;
    EXPECT_NE(s.message().find("run.allow_host_network"), absl::string_view::npos) << s;
  }
  RunRequest r = Valid();
  r.config.networks = {"front", "nothing"};
  auto spec = BuildContainerSpec(r, RunPolicy{});
  ASSERT_TRUE(spec.ok());
  EXPECT_EQ(PinNetworks(&*spec, RunPolicy{}, resolve).code(), absl::StatusCode::kInvalidArgument);

  r.config.networks = {"front"};
  spec = BuildContainerSpec(r, RunPolicy{});
  ASSERT_TRUE(spec.ok());
  ASSERT_TRUE(PinNetworks(&*spec, RunPolicy{}, resolve).ok());
  EXPECT_EQ(spec->create_body["HostConfig"]["NetworkMode"], front_id);
  EXPECT_TRUE(spec->create_body["NetworkingConfig"]["EndpointsConfig"].contains(front_id));

  r.config.networks = {"missing"};
  spec = BuildContainerSpec(r, RunPolicy{});
  ASSERT_TRUE(spec.ok());
  absl::Status missing = PinNetworks(&*spec, RunPolicy{}, resolve);
  EXPECT_EQ(missing.code(), absl::StatusCode::kNotFound);
  EXPECT_NE(missing.message().find("config.networks[0]"), absl::string_view::npos);

  RunPolicy allow;
  allow.allow_host_network = true;
  r.config.networks = {"aaaa"};
  spec = BuildContainerSpec(r, allow);
  ASSERT_TRUE(spec.ok());
  ASSERT_TRUE(PinNetworks(&*spec, allow, resolve).ok());
  EXPECT_EQ(spec->create_body["HostConfig"]["NetworkMode"], "host");
}

TEST(ContainerSpecTest, EphemeralPortsArePickedInsideARestrictedRange) {
  RunPolicy p;
  p.min_host_port = 41000;
  p.max_host_port = 41009;
  RunRequest r = Valid();
  r.config.ports = {{"80/tcp", "127.0.0.1:"}, {"81/tcp", ""}, {"53/udp", "0"}};
  auto spec = BuildContainerSpec(r, p);
  ASSERT_TRUE(spec.ok()) << spec.status();
  ASSERT_EQ(spec->ephemeral_ports.size(), 3u);
  ASSERT_TRUE(PickEphemeralPorts(&*spec, p, {}).ok());
  std::set<std::string> picked;
  for (const char* key : {"80/tcp", "81/tcp", "53/udp"}) {
    const std::string port =
        spec->create_body["HostConfig"]["PortBindings"][key][0]["HostPort"].get<std::string>();
    ASSERT_FALSE(port.empty()) << key;
    EXPECT_GE(std::stoi(port), 41000) << key;
    EXPECT_LE(std::stoi(port), 41009) << key;
    picked.insert(port);
  }
  EXPECT_EQ(picked.size(), 3u) << "each ephemeral binding gets its own port";
  // With every port of the range to avoid, nothing is left.
  std::set<int> all;
  for (int i = 41000; i <= 41009; ++i) all.insert(i);
  EXPECT_EQ(PickEphemeralPorts(&*spec, p, all).code(), absl::StatusCode::kResourceExhausted);
  // An unrestricted range leaves the choice to the engine.
  spec = BuildContainerSpec(r, RunPolicy{});
  ASSERT_TRUE(PickEphemeralPorts(&*spec, RunPolicy{}, {}).ok());
  EXPECT_EQ(spec->create_body["HostConfig"]["PortBindings"]["81/tcp"][0]["HostPort"], "");
}

TEST(ContainerSpecTest, DefaultNameIsImageAndTimestamp) {
  auto ref = ConfigImageReference(Valid().config);
  ASSERT_TRUE(ref.ok());
  EXPECT_EQ(DefaultContainerName(*ref, absl::FromUnixSeconds(1700000000)), "app_20231114_221320");
}

TEST(RegistryAuthTest, EncodesPaddedUrlSafeJsonAndRedacts) {
  RegistryAuth a{"user", "p@ss/word?", "reg:5000", "", ""};
  std::string header = EncodeRegistryAuthHeader(a);
  EXPECT_EQ(header.size() % 4, 0u);
  std::string json;
  ASSERT_TRUE(absl::WebSafeBase64Unescape(header, &json));
  auto j = nlohmann::json::parse(json);
  EXPECT_EQ(j["username"], "user");
  EXPECT_EQ(j["password"], "p@ss/word?");
  EXPECT_EQ(j["serveraddress"], "reg:5000");
  EXPECT_EQ(EncodeRegistryAuthHeader(RegistryAuth{}), "e30=");
  EXPECT_EQ(RedactSecrets("denied for p@ss/word? at reg", a), "denied for *** at reg");
}

}  // namespace
}  // namespace dkd::core
