// Validation: ports, publish and volume specs, restart policies, env, labels,
// names, memory and CPU values.
#include "core/base/validation.h"

#include <cstdint>
#include <string>
#include <vector>

#include "gmock/gmock.h"
#include "gtest/gtest.h"

namespace dkd::core {
namespace {

using ::testing::HasSubstr;
using ::testing::StartsWith;

constexpr char kField[] = "config.field[\"x\"]";

// An invalid input and a substring naming the rule its message must contain.
struct Bad {
  std::string input;
  std::string rule;
};

void ExpectInvalid(const absl::Status& status, const std::string& input, const std::string& rule) {
  EXPECT_EQ(status.code(), absl::StatusCode::kInvalidArgument) << "input: " << input;
  std::string message(status.message());
  EXPECT_THAT(message, StartsWith(std::string(kField) + ": ")) << "input: " << input;
  EXPECT_THAT(message, HasSubstr(rule)) << "input: " << input;
  EXPECT_EQ(message.find('\n'), std::string::npos) << "input: " << input;
}

struct PortCase {
  std::string key;
  std::string host;
  int container_port;
  std::string protocol;
  std::string host_ip;
  int host_port;
};

TEST(ParsePortMappingTest, ParsesValidMappings) {
  const PortCase cases[] = {
      {"8080/tcp", "18080", 8080, "tcp", "", 18080},
      {"8080", "18080", 8080, "tcp", "", 18080},
      {"53/udp", "53", 53, "udp", "", 53},
      {"9/SCTP", "", 9, "sctp", "", 0},
      {"80", "", 80, "tcp", "", 0},
      {"80", "0", 80, "tcp", "", 0},
      {"65535", "1", 65535, "tcp", "", 1},
      {"80", "127.0.0.1:18080", 80, "tcp", "127.0.0.1", 18080},
      {"80", "127.0.0.1:", 80, "tcp", "127.0.0.1", 0},
      {"80", "[::1]:18080", 80, "tcp", "::1", 18080},
      {"80", "[::1]:", 80, "tcp", "::1", 0},
      {"80", "[::]", 80, "tcp", "::", 0},
  };
  for (const PortCase& c : cases) {
    auto p = ParsePortMapping(kField, c.key, c.host);
    ASSERT_TRUE(p.ok()) << c.key << " -> " << c.host << ": " << p.status();
    EXPECT_EQ(p->container_port, c.container_port) << c.key;
    EXPECT_EQ(p->protocol, c.protocol) << c.key;
    EXPECT_EQ(p->host_ip, c.host_ip) << c.host;
    EXPECT_EQ(p->host_port, c.host_port) << c.host;
  }
  EXPECT_EQ(ParsePortMapping(kField, "53/udp", "")->PortKey(), "53/udp");
}

TEST(ParsePortMappingTest, RejectsInvalidMappings) {
  const Bad keys[] = {
      {"", "container port"},
      {"0", "container port"},
      {"65536", "from 1 to 65535"},
      {"http", "container port"},
      {"-1", "ranges"},
      {"8000-8010/tcp", "ranges"},
      {"80/icmp", "tcp, udp or sctp"},
      {"80/", "tcp, udp or sctp"},
      {"+80", "container port"},
      {"123456", "container port"},
  };
  for (const Bad& c : keys)
    ExpectInvalid(ParsePortMapping(kField, c.input, "1").status(), c.input, c.rule);
  const Bad hosts[] = {
      {"65536", "host port"},       {"x", "host port"},         {"18080-18090", "ranges"},
      {"127.0.0.1", "host port"},   {"::1:80", "brackets"},     {"[::1:80", "']'"},
      {"[::1]80", "':' after ']'"}, {"[127.0.0.1]:80", "IPv6"}, {"300.0.0.1:80", "IPv4"},
      {"localhost:80", "IPv4"},     {"1.2.3.4:-1", "ranges"},
  };
  for (const Bad& c : hosts)
    ExpectInvalid(ParsePortMapping(kField, "80", c.input).status(), c.input, c.rule);
}

TEST(ParsePublishSpecTest, ParsesDockerCliForms) {
  const std::pair<std::string, PortCase> cases[] = {
      {"80", {"", "", 80, "tcp", "", 0}},
      {"53/udp", {"", "", 53, "udp", "", 0}},
      {"8080:80", {"", "", 80, "tcp", "", 8080}},
      {"8080:80/udp", {"", "", 80, "udp", "", 8080}},
      {"127.0.0.1:8080:80", {"", "", 80, "tcp", "127.0.0.1", 8080}},
      {"127.0.0.1::80", {"", "", 80, "tcp", "127.0.0.1", 0}},
      {"[::1]:8080:80/tcp", {"", "", 80, "tcp", "::1", 8080}},
  };
  for (const auto& [spec, want] : cases) {
    auto p = ParsePublishSpec(kField, spec);
    ASSERT_TRUE(p.ok()) << spec << ": " << p.status();
    EXPECT_EQ(p->container_port, want.container_port) << spec;
    EXPECT_EQ(p->protocol, want.protocol) << spec;
    EXPECT_EQ(p->host_ip, want.host_ip) << spec;
    EXPECT_EQ(p->host_port, want.host_port) << spec;
  }
  const Bad bad[] = {
      {"", "must not be empty"},
      {"8000-8010:80", "ranges"},
      {"8080:80-81", "ranges"},
      {"[::1]", "[ip:][host_port:]"},
      {"a:b:c:80", "brackets"},
      {"8080:0", "container port"},
      {"8080:80/tcp/x", "tcp, udp or sctp"},
  };
  for (const Bad& c : bad)
    ExpectInvalid(ParsePublishSpec(kField, c.input).status(), c.input, c.rule);
}

TEST(ParseVolumeMappingTest, ParsesBindsAndNamedVolumes) {
  struct Case {
    std::string source, target, want_source, want_target;
    bool read_only, is_bind;
  };
  const Case cases[] = {
      {"/srv/data", "/data", "/srv/data", "/data", false, true},
      {"/srv/data/", "/data:ro", "/srv/data", "/data", true, true},
      {"//srv/./data", "/data/./x/:rw", "/srv/data", "/data/x", false, true},
      {"/", "/host:ro", "/", "/host", true, true},  // policy, not syntax, refuses "/"
      {"cache", "/var/cache:ro", "cache", "/var/cache", true, false},
      {"my_vol.1-x", "/v", "my_vol.1-x", "/v", false, false},
  };
  for (const Case& c : cases) {
    auto m = ParseVolumeMapping(kField, c.source, c.target);
    ASSERT_TRUE(m.ok()) << c.source << " -> " << c.target << ": " << m.status();
    EXPECT_EQ(m->source, c.want_source);
    EXPECT_EQ(m->target, c.want_target);
    EXPECT_EQ(m->read_only, c.read_only) << c.source;
    EXPECT_EQ(m->is_bind, c.is_bind) << c.source;
  }
}

TEST(ParseVolumeMappingTest, RejectsInvalidMappings) {
  const Bad sources[] = {
      {"", "volume name"},
      {"x", "volume name"},
      {"-vol", "volume name"},
      {"a/b", "volume name"},
      {"vol$", "volume name"},
      {"./data", "absolute host path"},
      {"~/data", "absolute host path"},
      {"/srv/../etc", "'..'"},
      {"/srv/\n", "control"},
  };
  for (const Bad& c : sources) {
    ExpectInvalid(ParseVolumeMapping(kField, c.input, "/data").status(), c.input, c.rule);
  }
  const Bad targets[] = {
      {"", "absolute"},         {"data", "absolute"},
      {"/", "must not be '/'"}, {"//./", "must not be '/'"},
      {"/a/../b", "'..'"},      {"/..", "'..'"},
      {"/data:rx", "ro or rw"}, {"/data:", "ro or rw"},
      {"/a:b:ro", "':'"},       {":ro", "absolute"},
      {"/a\tb", "control"},
  };
  for (const Bad& c : targets) {
    ExpectInvalid(ParseVolumeMapping(kField, "/srv", c.input).status(), c.input, c.rule);
  }
}

TEST(ParseVolumeSpecTest, ParsesDockerCliForms) {
  auto bind = ParseVolumeSpec(kField, "/srv/data:/data:ro");
  ASSERT_TRUE(bind.ok()) << bind.status();
  EXPECT_EQ(bind->source, "/srv/data");
  EXPECT_EQ(bind->target, "/data");
  EXPECT_TRUE(bind->read_only);
  EXPECT_TRUE(bind->is_bind);
  auto named = ParseVolumeSpec(kField, "cache:/cache");
  ASSERT_TRUE(named.ok()) << named.status();
  EXPECT_FALSE(named->is_bind);
  EXPECT_FALSE(named->read_only);
  const Bad bad[] = {
      {"/data", "anonymous"},   {"", "anonymous"},      {"vol:/b:ro:x", "ro or rw"},
      {"vol:/b:z", "ro or rw"}, {"/a:/b:ro:rw", "':'"}, {":/b", "volume name"},
  };
  for (const Bad& c : bad)
    ExpectInvalid(ParseVolumeSpec(kField, c.input).status(), c.input, c.rule);
}

TEST(ParseRestartPolicyTest, ParsesEachPolicy) {
  const std::pair<std::string, RestartPolicy> cases[] = {
      {"", {"no", 0}},
      {"no", {"no", 0}},
      {"always", {"always", 0}},
      {"unless-stopped", {"unless-stopped", 0}},
      {"on-failure", {"on-failure", 0}},
      {"on-failure:0", {"on-failure", 0}},
      {"on-failure:5", {"on-failure", 5}},
      {"on-failure:999999999", {"on-failure", 999999999}},
  };
  for (const auto& [spec, want] : cases) {
    auto p = ParseRestartPolicy(kField, spec);
    ASSERT_TRUE(p.ok()) << spec << ": " << p.status();
    EXPECT_EQ(p->name, want.name) << spec;
    EXPECT_EQ(p->max_retry, want.max_retry) << spec;
  }
  const Bad bad[] = {
      {"never", "must be no, always"},        {"Always", "must be no, always"},
      {"on-failure:", "retry count"},         {"on-failure:-1", "retry count"},
      {"on-failure:x", "retry count"},        {"on-failure:1000000000", "retry count"},
      {"always:3", "only on-failure allows"}, {"no:1", "only on-failure allows"},
      {":3", "must be no, always"},
  };
  for (const Bad& c : bad)
    ExpectInvalid(ParseRestartPolicy(kField, c.input).status(), c.input, c.rule);
}

TEST(EnvTest, ValidatesKeysValuesAndAssignments) {
  for (const char* key : {"PATH", "a", "my var", "X_1", "ünï"}) {
    EXPECT_TRUE(ValidateEnvKey(kField, key).ok()) << key;
    EXPECT_TRUE(ValidateBuildArgKey(kField, key).ok()) << key;
  }
  const Bad bad_keys[] = {{"", "must not be empty"},
                          {"A=B", "'='"},
                          {"A\nB", "control"},
                          {std::string("A\0B", 3), "control"},
                          {"\x7f", "control"}};
  for (const Bad& c : bad_keys) {
    ExpectInvalid(ValidateEnvKey(kField, c.input), c.input, c.rule);
    ExpectInvalid(ValidateBuildArgKey(kField, c.input), c.input, c.rule);
  }
  EXPECT_THAT(std::string(ValidateEnvKey(kField, "").message()), HasSubstr("environment"));
  EXPECT_THAT(std::string(ValidateBuildArgKey(kField, "").message()), HasSubstr("build argument"));

  EXPECT_TRUE(ValidateEnvValue(kField, "multi\nline\tvalue=ok").ok());
  ExpectInvalid(ValidateEnvValue(kField, std::string("a\0b", 3)), "NUL", "NUL");

  auto kv = ParseEnvAssignment(kField, "A=b=c");
  ASSERT_TRUE(kv.ok());
  EXPECT_EQ(kv->key, "A");
  EXPECT_EQ(kv->value, "b=c");
  EXPECT_EQ(ParseEnvAssignment(kField, "EMPTY=")->value, "");
  const Bad bad_assignments[] = {
      {"A", "KEY=VALUE"}, {"=x", "must not be empty"}, {std::string("A=\0", 3), "NUL"}};
  for (const Bad& c : bad_assignments) {
    ExpectInvalid(ParseEnvAssignment(kField, c.input).status(), c.input, c.rule);
  }
}

TEST(LabelTest, ValidatesKeysValuesAndAssignments) {
  for (const std::string& key :
       std::vector<std::string>{"com.example.team", "a", "x y", std::string(1024, 'k')}) {
    EXPECT_TRUE(ValidateLabelKey(kField, key).ok()) << key;
  }
  const Bad bad_keys[] = {
      {"", "must not be empty"}, {std::string(1025, 'k'), "1024"}, {"a\rb", "control"}};
  for (const Bad& c : bad_keys) ExpectInvalid(ValidateLabelKey(kField, c.input), c.input, c.rule);
  EXPECT_TRUE(ValidateLabelValue(kField, "any\nvalue").ok());
  ExpectInvalid(ValidateLabelValue(kField, std::string("\0", 1)), "NUL", "NUL");

  auto kv = ParseLabelAssignment(kField, "team=web=1");
  ASSERT_TRUE(kv.ok());
  EXPECT_EQ(kv->key, "team");
  EXPECT_EQ(kv->value, "web=1");
  auto bare = ParseLabelAssignment(kField, "flag");
  ASSERT_TRUE(bare.ok());
  EXPECT_EQ(bare->key, "flag");
  EXPECT_EQ(bare->value, "");
  ExpectInvalid(ParseLabelAssignment(kField, "=v").status(), "=v", "must not be empty");
}

TEST(NameTest, ValidatesContainerAndNetworkNames) {
  for (const std::string& name :
       std::vector<std::string>{"web", "/web", "a1", "my_app.v2-x", std::string(255, 'a')}) {
    EXPECT_TRUE(ValidateContainerName(kField, name).ok()) << name;
  }
  for (const std::string& name : std::vector<std::string>{
           "", "a", "/", "/a", "-web", "_web", "we b", "web/1", "web:1", std::string(256, 'a')}) {
    ExpectInvalid(ValidateContainerName(kField, name), name, "container name");
  }
  for (const std::string& name :
       std::vector<std::string>{"bridge", "h", "my-net_1.x", std::string(255, 'n')}) {
    EXPECT_TRUE(ValidateNetworkName(kField, name).ok()) << name;
  }
  for (const std::string& name :
       std::vector<std::string>{"", "-net", "my net", "a/b", std::string(256, 'n')}) {
    ExpectInvalid(ValidateNetworkName(kField, name), name, "network name");
  }
}

TEST(ParseMemoryBytesTest, ParsesDockerUnits) {
  const std::pair<std::string, int64_t> cases[] = {
      {"0", 0},          {"1024", 1024},      {"10b", 10},           {"1k", 1024},
      {"1KB", 1024},     {"1KiB", 1024},      {"512m", 512LL << 20}, {"512 MB", 512LL << 20},
      {"1g", 1LL << 30}, {"1.5g", 3LL << 29}, {"2t", 2LL << 40},     {"1p", 1LL << 50},
      {"0.5k", 512},
  };
  for (const auto& [text, want] : cases) {
    auto bytes = ParseMemoryBytes(kField, text);
    ASSERT_TRUE(bytes.ok()) << text << ": " << bytes.status();
    EXPECT_EQ(*bytes, want) << text;
  }
  const Bad bad[] = {
      {"", "must be a number"},    {"m", "must be a number"},
      {"-1m", "must be a number"}, {"1x", "unknown unit"},
      {"1mm", "unknown unit"},     {"1  m", "unknown unit"},
      {"1.m", "digits after"},     {"1.2.3", "unknown unit"},
      {"9000000p", "too large"},   {"99999999999999999999999", "must be a number"},
  };
  for (const Bad& c : bad)
    ExpectInvalid(ParseMemoryBytes(kField, c.input).status(), c.input, c.rule);
}

TEST(ParseNanoCpusTest, ParsesDecimalCpuCounts) {
  const std::pair<std::string, int64_t> cases[] = {
      {"0", 0},
      {"1", 1000000000},
      {"1.5", 1500000000},
      {"0.25", 250000000},
      {"0.000000001", 1},
      {"1000000", 1000000000000000},
  };
  for (const auto& [text, want] : cases) {
    auto nanos = ParseNanoCpus(kField, text);
    ASSERT_TRUE(nanos.ok()) << text << ": " << nanos.status();
    EXPECT_EQ(*nanos, want) << text;
  }
  const Bad bad[] = {
      {"", "decimal number"},   {"-1", "decimal number"},  {".5", "decimal number"},
      {"1.", "decimal number"}, {"1e3", "decimal number"}, {"1.5.1", "decimal number"},
      {"0.0000000001", "nine"}, {"1000000.1", "at most"},  {"99999999999999999999", "at most"},
  };
  for (const Bad& c : bad) ExpectInvalid(ParseNanoCpus(kField, c.input).status(), c.input, c.rule);
}

TEST(ValidateUserTest, AcceptsUserAndGroupForms) {
  for (const char* user : {"root", "1000", "1000:1000", "app:staff", "nobody:65534", "svc$"}) {
    EXPECT_TRUE(ValidateUser(kField, user).ok()) << user;
  }
  const Bad bad[] = {
      {"", "must not be empty"},
      {":", "uid:gid"},
      {"a:", "uid:gid"},
      {":b", "uid:gid"},
      {"a:b:c", "uid:gid"},
      {"a b", "spaces"},
      {"a\nb", "control"},
      {"4294967295", "numeric id"},
      {"1:99999999999", "numeric id"},
  };
  for (const Bad& c : bad) ExpectInvalid(ValidateUser(kField, c.input), c.input, c.rule);
}

TEST(ValidateWorkingDirTest, RequiresAbsolutePathWithoutControlCharacters) {
  for (const char* dir : {"/", "/app", "/srv/my app"})
    EXPECT_TRUE(ValidateWorkingDir(kField, dir).ok()) << dir;
  const Bad bad[] = {{"", "absolute"}, {"app", "absolute"}, {"/app\nRUN x", "control"}};
  for (const Bad& c : bad) ExpectInvalid(ValidateWorkingDir(kField, c.input), c.input, c.rule);
}

TEST(ValidateStopTimeoutTest, AllowsMinusOneThroughInt32Max) {
  for (int64_t s : {int64_t{-1}, int64_t{0}, int64_t{10}, int64_t{2147483647}}) {
    EXPECT_TRUE(ValidateStopTimeout(kField, s).ok()) << s;
  }
  for (int64_t s : {int64_t{-2}, int64_t{2147483648}}) {
    ExpectInvalid(ValidateStopTimeout(kField, s), std::to_string(s), "stop timeout");
  }
}

TEST(ParseImageFieldTest, PrefixesReferenceErrorsWithTheField) {
  auto ok = ParseImageField(kField, "app:1");
  ASSERT_TRUE(ok.ok());
  EXPECT_EQ(ok->FullName(), "docker.io/library/app");
  ExpectInvalid(ParseImageField(kField, "App").status(), "App", "lowercase");
}

}  // namespace
}  // namespace dkd::core
